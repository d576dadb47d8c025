"""REST service (FastAPI): ``POST /annotate``, ``POST /graph``, ``GET /health``, an HTML page at ``/``.

* The pipeline is loaded once per process, when the app starts (or passed in).
* ``POST /annotate`` takes one note ``{"id"?, "text"}`` and returns its record, or a batch
  ``{"notes": [...]}`` and returns ``{"results": [...]}``: the same records as the CLI's
  JSONL (``spacy_clinical_ner/io/resources/annotation.schema.json``). In a batch a bad
  note gets an error record and the others are annotated; a single bad note is answered
  with its error record and status 422 (empty text), 413 (too long) or 500 (the pipeline
  failed on it).
* Limits, all answered with a JSON ``{"detail": {"code", "message"}}``: request body
  bytes (413 ``request_too_large``), notes per request (413 ``too_many_notes``),
  characters per note (``too_long``), malformed bodies, invalid JSON or UTF-8 included
  (422 ``invalid_request``), a full request queue (503 ``busy``). The pipeline runs on at
  most ``max_chars`` characters at a time, so memory stays bounded by one note's worth
  whatever the batch.
* ``POST /graph`` takes a batch of notes (each with an optional ``patient_id`` and ``date``)
  and returns the knowledge graph of those notes (``spacy_clinical_ner.graph``): the JSON
  node/edge list (default), the patient view, its FHIR Bundle, Turtle, N-Triples or Cypher
  (``"format"``). Notes that fail are Note nodes with their error code.
* Bounded work: a request may hold at most ``max_request_chars`` characters in all its
  notes (413 ``too_much_work``), and a request not answered within ``timeout`` seconds
  gets 503 ``timeout`` (its notes are dropped from the queue if they have not started, so
  the requests behind it move on). The pipeline spends at most ``budget_s`` seconds on a
  note (``io.budget``): a note over it is stopped and gets an ``over_budget`` error record
  (413 for a single note), and the pipeline goes on with the next. ``GET /health`` says
  ``busy`` while the pipeline has been on one batch for more than ``busy_after`` seconds or
  requests are waiting, ``ok`` otherwise, with the queue length and the running batch's age.
* Host allow-list: a request whose ``Host`` header names another host gets 400
  ``host_not_allowed`` (a web page on another site cannot reach the service through DNS
  rebinding); the default allows the loopback names only (``localhost``, ``127.0.0.1``,
  ``::1``); ``*`` allows any, ``*.example.org`` a domain and its sub-domains.
* No page needs the internet: the OpenAPI schema is at ``/openapi.json`` (FastAPI's
  ``/docs`` page loads its scripts from a CDN, so it is off).
* Logs never contain note text: method, path, status, sizes and timings only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import threading
import time
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, Dict, List, Literal, Sequence, Tuple, Union

from ..errors import missing_extra

try:
    from fastapi import FastAPI, Request
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles
    from pydantic import BaseModel, ConfigDict, Field
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
except ModuleNotFoundError as err:  # pip install 'spacy-clinical-ner[serve]'
    raise missing_extra("the REST service (spacy_clinical_ner.serve)", err) from None

from ..about import __version__
from ..errors import Errors
from ..io.budget import DEFAULT_BUDGET_S, BudgetExceeded, deadline
from ..io.inputs import first_bad_char, json_too_deep
from ..io.records import doc_to_record, error_record

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_BODY_BYTES = 2_000_000
DEFAULT_MAX_NOTES = 64
DEFAULT_MAX_CHARS = 100_000
DEFAULT_MAX_REQUEST_CHARS = 400_000
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_BUSY_AFTER_S = 2.0
DEFAULT_LONG_CHARS = 20_000
WARM_UP_TEXT = "Patient denies fever. Takes aspirin 81 mg daily."
DEFAULT_ALLOWED_HOSTS = ("localhost", "127.0.0.1", "::1")
#: Environment variables read by ``create_app()`` when arguments are not given (used by
#: ``clinical-ner serve --workers N``, where each worker process builds its own app).
ENV = {
    "model": "CLINICAL_NER_MODEL",
    "code": "CLINICAL_NER_CODE",
    "max_body_bytes": "CLINICAL_NER_MAX_BODY_BYTES",
    "max_notes": "CLINICAL_NER_MAX_NOTES",
    "max_chars": "CLINICAL_NER_MAX_CHARS",
    "max_request_chars": "CLINICAL_NER_MAX_REQUEST_CHARS",
    "timeout": "CLINICAL_NER_TIMEOUT",
    "budget": "CLINICAL_NER_BUDGET",
    "long_chars": "CLINICAL_NER_LONG_CHARS",
    "allowed_hosts": "CLINICAL_NER_ALLOWED_HOSTS",
}


# ----------------------------------------------------------------------------- schema


class NoteIn(BaseModel):
    """One note."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"id": "n1", "text": "Patient denies fever. Takes lisinopril 10 mg daily."}]}
    )
    id: str | None = Field(None, description="Your id for the note (default: its position, '1', '2', ...)", max_length=512)
    text: str = Field(..., description="The note text")


class BatchIn(BaseModel):
    """Several notes, annotated together."""

    model_config = ConfigDict(extra="forbid")
    notes: List[NoteIn]


class GraphNoteIn(NoteIn):
    """A note of a graph request: the note, and whose it is."""

    patient_id: str | None = Field(None, description="Patient id (default: one patient per note)", max_length=512)
    date: str | None = Field(None, description="Note date, ISO 8601 (orders the patient view)", max_length=64)


class GraphIn(BaseModel):
    """Notes to annotate and put into one graph."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "notes": [
                        {"id": "v1", "patient_id": "p1", "date": "2024-01-10", "text": "Hypertension. Takes lisinopril 10 mg daily."},
                        {"id": "v2", "patient_id": "p1", "date": "2024-03-02", "text": "Denies chest pain. Mother has diabetes."},
                    ],
                    "format": "json",
                }
            ]
        },
    )
    notes: List[GraphNoteIn]
    format: Literal["json", "patients", "fhir", "turtle", "ntriples", "cypher"] = Field(
        "json",
        description="json: node/edge list; patients: patient view; fhir: its FHIR Bundle; turtle / ntriples: RDF; cypher: Neo4j script",
    )


class Cue(BaseModel):
    text: str | None
    start: int | None
    end: int | None
    category: str | None
    rule: str | None


class EntityOut(BaseModel):
    text: str
    label: str
    start: int = Field(..., description="character offset")
    end: int
    assertion: str | None = Field(
        ..., description="present / absent / possible / hypothetical / conditional / associated_with_someone_else"
    )
    is_negated: bool | None
    is_uncertain: bool | None
    is_historical: bool | None
    is_hypothetical: bool | None
    is_family: bool | None
    cue: Cue | None
    cues: List[Cue]
    cui: str | None = Field(..., description="deprecated alias of concept_id (not always a UMLS CUI)", deprecated=True)
    concept_id: str | None = Field(
        ..., description="concept id: a UMLS CUI or a prefixed source id such as DRUGBANK:DB01050 (null: not linked)"
    )
    concept_system: str | None = Field(..., description="URI of the concept's terminology, as in FHIR Coding.system (null: not linked)")
    concept_name: str | None
    candidates: List[Tuple[str, float]]
    confidence: float | None = Field(..., description="calibrated probability that the entity is right (null: not scored)")


class RelationOut(BaseModel):
    head: int = Field(..., description="index into entities")
    tail: int
    label: str
    typed_label: str = Field(..., description="MODIFY named by argument types (dosage_of, location_of, ...), otherwise the label")
    score: float


class AnnotationOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    text_length: int
    entities: List[EntityOut]
    relations: List[RelationOut]
    triples: List[Tuple[str, str, str]]
    error: None = None


class NoteError(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    error: NoteError


class BatchOut(BaseModel):
    results: List[Union[AnnotationOut, ErrorOut]]


class Problem(BaseModel):
    detail: NoteError


class Health(BaseModel):
    status: str = Field(..., description="loading / ok / busy (a batch running for more than busy_after seconds, or requests waiting)")
    model: str
    pipeline: List[str]
    version: str
    limits: Dict[str, Union[int, float]]
    queued: int = Field(0, description="requests waiting for the pipeline")
    running_s: float = Field(0.0, description="seconds the pipeline has been on its current batch (0: idle)")


# ----------------------------------------------------------------------------- limits


def problem(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"detail": {"code": code, "message": message}}, status_code=status)


class BodyLimitMiddleware:
    """Rejects request bodies over ``max_bytes`` with 413 before the app parses them.

    Checks ``Content-Length`` first, then counts the bytes actually received (a chunked
    request has no length); an accepted body is replayed to the app.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._reject(int(length), scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(size, scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, size: int, scope: Scope, receive: Receive, send: Send) -> None:
        logger.info("413 %s %s: body of %d bytes", scope["method"], scope["path"], size)
        response = problem(413, "request_too_large", Errors.E606.format(size=size, limit=self.max_bytes))
        await response(scope, receive, send)


def host_name(header: str) -> str:
    """The host of a ``Host`` header, without its port, lower-case: ``[::1]:8000`` -> ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):  # an IPv6 literal
        return header[1 : header.find("]")] if "]" in header else ""
    if header.count(":") == 1:
        header = header.split(":")[0]
    return header.rstrip(".")


def host_allowed(host: str, allowed: Tuple[str, ...]) -> bool:
    """``host`` is one of ``allowed`` (``*``: any; ``*.example.org``: that domain and its sub-domains)."""
    if not host:
        return "*" in allowed
    for pattern in allowed:
        if pattern == "*" or host == pattern:
            return True
        if pattern.startswith("*.") and (host == pattern[2:] or host.endswith(pattern[1:])):
            return True
    return False


class HostAllowListMiddleware:
    """Answers 400 ``host_not_allowed`` to a request whose ``Host`` is not in the allow-list."""

    def __init__(self, app: ASGIApp, allowed: Tuple[str, ...]):
        self.app = app
        self.allowed = tuple(host_name(h) if h != "*" and not h.startswith("*.") else h.lower() for h in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if not host_allowed(host_name(header), self.allowed):
                logger.info("400 %s: Host header not allowed", scope.get("path", ""))  # the header is not logged
                response = problem(400, "host_not_allowed", Errors.E634.format(allowed=", ".join(self.allowed)))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class RequestLogMiddleware:
    """Logs each HTTP request's method, path, status and time (never its body: note text).

    A pure ASGI middleware, not ``@app.middleware("http")``: Starlette's ``call_next`` raises
    "No response returned" (an ASGI traceback in the log) when a client disconnects mid-upload
    and the app rightly answers nothing; here that request is logged as a disconnect."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_and_note)
        took = 1000 * (time.perf_counter() - started)
        if status is None:
            logger.info("%s %s -> no response: the client disconnected after %.1f ms", scope["method"], scope["path"], took)
        else:
            logger.info("%s %s -> %d in %.1f ms", scope["method"], scope["path"], status, took)


# ----------------------------------------------------------------------------- app


class Annotator:
    """The loaded pipeline behind a micro-batcher, with a lane of its own for long requests.

    spaCy pipelines are not documented as thread-safe, so one thread runs the pipeline.
    Requests queue up while it works; it takes all waiting notes (up to ``batch_size``)
    into one ``nlp.pipe`` call, which is faster than one call per request. Use
    ``--workers`` (processes) to use more cores.

    Requests of ``long_chars`` characters or more go to the long lane instead (``LongLane``):
    a forked copy of this process with the same pipeline, fed by a thread of its own, so that
    one expensive note never holds up the short requests behind it, and a note over the
    budget is stopped by killing that copy (a fresh one is forked for the next).
    """

    def __init__(
        self,
        nlp,
        max_chars: int,
        batch_size: int = 16,
        max_queue: int = 1024,
        budget_s: float | None = DEFAULT_BUDGET_S,
        long_chars: int | None = None,
    ):
        from ..io.model import describe_pipeline

        self.nlp = nlp
        self.budget_s = budget_s or None  # seconds of pipeline work per note (None: no limit)
        self.max_chars = min(max_chars, nlp.max_length)
        self.batch_size = batch_size
        self.name = describe_pipeline(nlp)
        self.long_chars = long_chars or None  # None: one lane
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._long_queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._threads: List[threading.Thread] = []
        self._running: Dict[str, float] = {}  # lane -> perf_counter() when its current batch started
        self.long_lane = LongLane(self) if self.long_chars else None

    @property
    def queued(self) -> int:
        """Requests waiting for a pipeline lane."""
        return self._queue.qsize() + self._long_queue.qsize()

    @property
    def running_s(self) -> float:
        """Seconds the longest-running lane has been on its current batch (0.0 when idle)."""
        started = list(self._running.values())
        return 0.0 if not started else time.perf_counter() - min(started)

    def start(self) -> None:
        lanes = [("pipeline", self._queue, self.annotate, self.batch_size)]
        if self.long_lane is not None:
            self.long_lane.start()  # the fork, before the lanes' threads run
            lanes.append(("long", self._long_queue, self.long_lane.annotate, 1))
        for lane, jobs, run, batch_size in lanes:
            thread = threading.Thread(target=self._work, args=(lane, jobs, run, batch_size), name=f"clinical-ner-{lane}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for jobs in (self._queue, self._long_queue):
            jobs.put(None)
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads = []
        if self.long_lane is not None:
            self.long_lane.close()

    def is_long(self, notes: List[Tuple[str, str]]) -> bool:
        return self.long_lane is not None and sum(len(t) for _, t in notes if len(t) <= self.max_chars) >= self.long_chars

    async def submit(self, notes: List[Tuple[str, str]], timeout: float | None = None) -> List[Dict[str, Any]]:
        """Records of ``notes`` (id, text), annotated by a pipeline lane.

        ``asyncio.TimeoutError`` after ``timeout`` seconds: the request is cancelled, and its
        notes are dropped if the lane has not taken them yet."""
        long = self.is_long(notes)
        if not self._threads:  # not started (e.g. used outside the app): run here
            return await run_in_threadpool(self.long_lane.annotate if long else self.annotate, notes)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        (self._long_queue if long else self._queue).put_nowait((notes, future, loop))  # queue.Full: answered 503 by the app
        return await asyncio.wait_for(future, timeout)  # cancels the future on timeout

    def _work(self, lane: str, jobs_queue: queue.Queue, run, batch_size: int) -> None:
        while True:
            job = jobs_queue.get()
            if job is None:
                return
            jobs, size = [job], len(job[0])
            while size < batch_size:
                try:
                    more = jobs_queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    jobs_queue.put(None)  # stop after this batch
                    break
                jobs.append(more)
                size += len(more[0])
            jobs = [job for job in jobs if not job[1].done()]  # timed out or disconnected while waiting: dropped
            notes = [note for job_notes, _, _ in jobs for note in job_notes]
            self._running[lane] = time.perf_counter()
            try:
                records: List[Dict[str, Any]] = run(notes) if notes else []
                error = None
            except BaseException as err:  # never leave a request waiting
                records, error = [], err
            finally:
                self._running.pop(lane, None)
            start = 0
            for job_notes, future, loop in jobs:
                part = records[start : start + len(job_notes)]
                start += len(job_notes)
                loop.call_soon_threadsafe(_resolve, future, part, error)

    def check(self, note_id: str, text: str) -> Dict[str, Any] | None:
        if not text.strip():
            return error_record(note_id, "empty_text")
        if len(text) > self.max_chars:
            return error_record(note_id, "too_long", length=len(text), limit=self.max_chars)
        bad, why = first_bad_char(text)  # an unpaired \ud800 escape: no tokenizer takes it
        if bad >= 0:
            return error_record(note_id, "invalid_utf8", pos=bad, reason=why, encoding="utf-8")
        return None

    def annotate(self, notes: List[Tuple[str, str]]) -> List[Dict[str, Any]]:
        records: List[Dict[str, Any] | None] = [self.check(i, t) for i, t in notes]
        todo = [(t, k) for k, ((_, t), r) in enumerate(zip(notes, records, strict=True)) if r is None]
        with self._lock:
            for chunk in _chunks(todo, self.max_chars):
                try:
                    with deadline(self.budget_s * len(chunk) if self.budget_s else None):
                        for doc, k in self.nlp.pipe(chunk, as_tuples=True):
                            records[k] = doc_to_record(doc, notes[k][0])
                except BudgetExceeded:
                    # the notes not done yet, one at a time with the budget each (a note alone: it is over)
                    rest = [k for _, k in chunk if records[k] is None]
                    for k in rest:
                        records[k] = self._over_budget(*notes[k]) if len(rest) == 1 else self._one(*notes[k])
                except Exception:
                    # Redo the rest one at a time: only the note that fails gets an error record.
                    for k in (k for _, k in chunk if records[k] is None):
                        records[k] = self._one(*notes[k])
        return records  # type: ignore[return-value]

    def _over_budget(self, note_id: str, text: str) -> Dict[str, Any]:
        logger.warning("Note %r stopped: over the budget of %g s (%d characters)", note_id, self.budget_s, len(text))
        return error_record(note_id, "over_budget", budget=self.budget_s, length=len(text))

    def _one(self, note_id: str, text: str, budget: bool = True) -> Dict[str, Any]:
        try:
            with deadline(self.budget_s if budget else None):
                return doc_to_record(self.nlp(text), note_id)
        except BudgetExceeded:
            return self._over_budget(note_id, text)
        except Exception as err:
            logger.warning("Pipeline failed on note %r (%s)", note_id, type(err).__name__)
            return error_record(note_id, "pipeline_error", reason=f"{type(err).__name__}: {err}"[:1000])


class LongLane:
    """Long notes, one at a time, in a forked copy of the service process (``Annotator``).

    The copy shares the loaded pipeline with its parent (fork: nothing is loaded again) and
    runs it without the parent's lock or budget: the parent waits for each note at most the
    budget, then kills the copy (``over_budget`` record) and forks a fresh one for the next
    note. The copy ends with its parent (``io.batch.die_with_parent``).
    """

    def __init__(self, annotator: Annotator):
        self.annotator = annotator
        self._proc = None
        self._conn = None

    def _spawn(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        parent_end, child_end = context.Pipe()
        proc = context.Process(target=_long_lane_main, args=(self.annotator, child_end), name="clinical-ner-long-lane", daemon=True)
        proc.start()
        child_end.close()
        self._proc, self._conn = proc, parent_end

    def start(self) -> None:
        self._spawn()

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(timeout=10)
            self._conn.close()
            self._proc = self._conn = None

    def annotate(self, notes: List[Tuple[str, str]]) -> List[Dict[str, Any]]:
        records: List[Dict[str, Any]] = []
        for note_id, text in notes:
            record = self.annotator.check(note_id, text)
            records.append(record if record is not None else self._one(note_id, text))
        return records

    def _one(self, note_id: str, text: str) -> Dict[str, Any]:
        if self._proc is None or not self._proc.is_alive():
            self.close()
            self._spawn()
        try:
            self._conn.send((note_id, text))
            if self._conn.poll(self.annotator.budget_s):  # None: wait as long as it takes
                return self._conn.recv()
        except (EOFError, OSError) as err:  # the copy died (out of memory?)
            self.close()
            logger.warning("The long-note lane ended on note %r (%s)", note_id, type(err).__name__)
            return error_record(note_id, "pipeline_error", reason="the pipeline process ended on this note")
        self.close()  # over the budget: stop it where it is, and fork the next one now (it warms up meanwhile)
        self._spawn()
        return self.annotator._over_budget(note_id, text)


def _long_lane_main(annotator: Annotator, conn) -> None:
    """The forked copy's loop: (id, text) in, its record out."""
    from ..io.batch import die_with_parent

    die_with_parent()
    annotator._one("warm-up", WARM_UP_TEXT, budget=False)  # what components build on first use, built before a note waits
    while True:
        try:
            note_id, text = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        conn.send(annotator._one(note_id, text, budget=False))


def _chunks(todo: List[Tuple[str, int]], max_chars: int) -> List[List[Tuple[str, int]]]:
    """Consecutive notes grouped so that each ``nlp.pipe`` call gets at most ``max_chars``
    characters (a longer note alone): the pipeline's memory grows with the text of a batch."""
    chunks: List[List[Tuple[str, int]]] = []
    size = 0
    for item in todo:
        if not chunks or size + len(item[0]) > max_chars:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += len(item[0])
    return chunks


def _resolve(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():  # the client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def allowed_hosts(bind: str, given: Sequence[str]) -> List[str]:
    """The Host allow-list of ``serve --host bind --allowed-host ...``: ``given`` if any, else
    the loopback names and ``bind`` when it names one host (not ``0.0.0.0`` / ``::``)."""
    if given:
        return list(given)
    hosts = list(DEFAULT_ALLOWED_HOSTS)
    if bind not in ("0.0.0.0", "::", "") and host_name(bind) not in hosts:
        hosts.append(host_name(bind))
    if bind in ("0.0.0.0", "::"):
        logger.warning("Bound to %s: only requests for %s are answered; name the others with --allowed-host", bind, ", ".join(hosts))
    return hosts


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(ENV[name])
    return int(value) if value else default


def create_app(
    nlp=None,
    *,
    model: str | None = None,
    code_path: str | None = None,
    max_body_bytes: int | None = None,
    max_notes: int | None = None,
    max_chars: int | None = None,
    max_request_chars: int | None = None,
    timeout: float | None = None,
    budget_s: float | None = None,
    long_chars: int | None = None,
    busy_after: float = DEFAULT_BUSY_AFTER_S,
    allowed_hosts: Sequence[str] | None = None,
) -> FastAPI:
    """The ASGI app. Pass a loaded ``nlp``, or a ``model`` to load at startup (default:
    ``$CLINICAL_NER_MODEL``, else ``io.model.DEFAULT_MODEL``). Arguments not given are read
    from the ``CLINICAL_NER_*`` variables (``ENV``), else the ``DEFAULT_*`` values;
    ``allowed_hosts`` is a list of host names (``CLINICAL_NER_ALLOWED_HOSTS``: comma-separated)."""
    max_body_bytes = max_body_bytes or _env_int("max_body_bytes", DEFAULT_MAX_BODY_BYTES)
    max_notes = max_notes or _env_int("max_notes", DEFAULT_MAX_NOTES)
    max_chars = max_chars or _env_int("max_chars", DEFAULT_MAX_CHARS)
    max_request_chars = max_request_chars or _env_int("max_request_chars", DEFAULT_MAX_REQUEST_CHARS)
    timeout = timeout or float(os.environ.get(ENV["timeout"]) or DEFAULT_TIMEOUT_S)
    if budget_s is None:  # 0: no limit
        budget_s = float(os.environ.get(ENV["budget"]) or DEFAULT_BUDGET_S)
    if long_chars is None:  # 0: one lane
        long_chars = int(os.environ.get(ENV["long_chars"]) or DEFAULT_LONG_CHARS)
    if allowed_hosts is None:
        env_hosts = os.environ.get(ENV["allowed_hosts"])
        allowed_hosts = [h.strip() for h in env_hosts.split(",") if h.strip()] if env_hosts else list(DEFAULT_ALLOWED_HOSTS)
    model = model or os.environ.get(ENV["model"]) or None
    code_path = code_path or os.environ.get(ENV["code"]) or None
    state: Dict[str, Annotator] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if nlp is not None:
            annotator = Annotator(nlp, max_chars, budget_s=budget_s, long_chars=long_chars)
        else:
            from ..io.model import load_pipeline

            started = time.perf_counter()
            loaded = await run_in_threadpool(load_pipeline, model, code_path=code_path)
            annotator = Annotator(loaded, max_chars, budget_s=budget_s, long_chars=long_chars)
            logger.info("Pipeline %s loaded in %.1f s", annotator.name, time.perf_counter() - started)
        annotator.start()
        state["annotator"] = annotator
        yield
        state.clear()
        annotator.stop()

    app = FastAPI(
        title="spacy-clinical-ner",
        version=__version__,
        description="Clinical named entities with assertions (ConText), UMLS concepts and relations. "
        "Records follow the schema of `clinical-ner annotate` (annotation.schema.json).",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI loads from a CDN: the service must work offline (schema: /openapi.json)
        redoc_url=None,
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(HostAllowListMiddleware, allowed=tuple(allowed_hosts))
    app.add_middleware(RequestLogMiddleware)  # added last: runs first
    limits = {
        "max_body_bytes": max_body_bytes,
        "max_notes": max_notes,
        "max_chars": max_chars,
        "max_request_chars": max_request_chars,
        "timeout_s": timeout,
        "budget_s": budget_s,
        "long_chars": long_chars,
    }

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Name the fields; never echo the input (it is note text).
        where = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors()[:5])
        return problem(
            422, "invalid_request", f'Invalid request body ({where}). Send {{"text": ...}} or {{"notes": [{{"id": ..., "text": ...}}]}}.'
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400:  # FastAPI's "error parsing the body": not UTF-8, nested too deep
            if isinstance(exc.__cause__, RecursionError):  # valid JSON, deeper than the parser goes
                return problem(422, "invalid_request", json_too_deep())
            return problem(422, "invalid_request", 'The body is not valid JSON in UTF-8. Send {"text": ...} or {"notes": [...]}.')
        return await http_exception_handler(request, exc)

    @app.get("/health", response_model=Health, summary="Liveness and the loaded pipeline")
    async def health() -> Dict[str, Any]:
        annotator = state.get("annotator")
        if annotator is None:
            status, queued, running = "loading", 0, 0.0
        else:
            queued, running = annotator.queued, annotator.running_s
            status = "busy" if running > busy_after or queued else "ok"
        return {
            "status": status,
            "model": annotator.name if annotator else "",
            "pipeline": list(annotator.nlp.pipe_names) if annotator else [],
            "version": __version__,
            "limits": limits,
            "queued": queued,
            "running_s": round(running, 3),
        }

    @app.post(
        "/annotate",
        response_model=Union[AnnotationOut, BatchOut, ErrorOut],
        summary="Annotate one note or a batch",
        responses={
            400: {"model": Problem, "description": "Host header not in the allow-list"},
            413: {"model": Problem, "description": "Body, batch, note or total characters too large, or the note over the work budget"},
            422: {"model": Problem, "description": "Malformed body or empty note"},
            500: {"model": ErrorOut, "description": "The pipeline failed on the (single) note"},
            503: {"model": Problem, "description": "Busy: too many requests waiting, or no answer within the timeout"},
        },
    )
    async def annotate(body: Union[BatchIn, NoteIn]):
        annotator = state["annotator"]
        single = isinstance(body, NoteIn)
        notes = [body] if single else body.notes
        if len(notes) > max_notes:
            return problem(413, "too_many_notes", Errors.E607.format(count=len(notes), limit=max_notes))
        pairs = [(n.id or str(i), n.text) for i, n in enumerate(notes, start=1)]
        # work limit: notes over max_chars get their own too_long record and cost nothing
        work = sum(len(t) for _, t in pairs if len(t) <= annotator.max_chars)
        if work > max_request_chars:
            return problem(413, "too_much_work", Errors.E632.format(count=work, limit=max_request_chars))
        started = time.perf_counter()
        try:
            records = await annotator.submit(pairs, timeout=timeout)
        except queue.Full:
            return problem(503, "busy", "Too many requests are waiting for the pipeline; retry later.")
        except asyncio.TimeoutError:
            logger.warning("503 timeout: %d note(s) not answered in %.1f s", len(pairs), timeout)
            return problem(503, "timeout", Errors.E633.format(timeout=timeout))
        logger.info(
            "annotated %d note(s), %d characters, %d error(s) in %.1f ms",
            len(pairs),
            sum(len(t) for _, t in pairs),
            sum(1 for r in records if r.get("error")),
            1000 * (time.perf_counter() - started),
        )
        if single:
            record = records[0]
            if record.get("error"):
                # too long: 413; empty: 422; the pipeline failing on the note: 500
                status = {"too_long": 413, "over_budget": 413, "pipeline_error": 500}.get(record["error"]["code"], 422)
                return JSONResponse(record, status_code=status)
            return record
        return {"results": records}

    @app.post(
        "/graph",
        summary="The knowledge graph and patient view of a batch of notes",
        responses={
            200: {"description": "JSON (json, patients, fhir) or text (turtle, ntriples, cypher)"},
            413: {"model": Problem, "description": "Body or batch too large"},
            422: {"model": Problem, "description": "Malformed body"},
        },
    )
    async def graph(body: GraphIn):
        annotator = state["annotator"]
        if len(body.notes) > max_notes:
            return problem(413, "too_many_notes", Errors.E607.format(count=len(body.notes), limit=max_notes))
        pairs = [(n.id or str(i), n.text) for i, n in enumerate(body.notes, start=1)]
        try:
            records = await annotator.submit(pairs)
        except queue.Full:
            return problem(503, "busy", "Too many requests are waiting for the pipeline; retry later.")
        return await run_in_threadpool(_graph_response, records, body, annotator.name)

    static = resources.files(__package__).joinpath("static")
    index = static.joinpath("index.html").read_text(encoding="utf8")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(index, headers={"Content-Security-Policy": "default-src 'self'; style-src 'self'; script-src 'self'"})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    return app


def _graph_response(records: List[Dict[str, Any]], body: GraphIn, pipeline: str) -> Response:
    from ..graph.model import build_graph

    patients = {r["id"]: n.patient_id for r, n in zip(records, body.notes, strict=True) if n.patient_id}
    dates = {r["id"]: n.date for r, n in zip(records, body.notes, strict=True) if n.date}
    graph = build_graph(records, patients=patients, dates=dates, pipeline=pipeline)
    if body.format == "json":
        return JSONResponse(graph.to_dict())
    if body.format == "patients":
        from ..graph.patients import patients_json

        return JSONResponse(patients_json(graph))
    if body.format == "fhir":
        from ..graph.patients import patients_bundle, patients_bundle_dict

        patients_bundle(graph)  # validated with fhir.resources
        return JSONResponse(patients_bundle_dict(graph), media_type="application/fhir+json")
    if body.format == "cypher":
        from ..graph.neo4j import cypher_script

        return Response(cypher_script(graph), media_type="application/x-cypher-query; charset=utf-8")
    from ..graph.rdf import serialize

    if body.format == "turtle":
        return Response(serialize(graph, "turtle"), media_type="text/turtle; charset=utf-8")
    return Response(serialize(graph, "nt"), media_type="application/n-triples; charset=utf-8")


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (configured by the ``CLINICAL_NER_*`` variables)."""
    return create_app()


def openapi_json(app: FastAPI) -> str:
    return json.dumps(app.openapi(), indent=2)
