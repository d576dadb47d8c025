"""Batch annotation: notes in, one record per note out, in input order, nothing lost.

``annotate_notes`` streams notes through ``nlp.pipe`` (``n_process`` worker processes,
``batch_size`` notes per batch). If the pipeline raises, the notes that were in flight
are redone one at a time in this process, the note that fails gets a ``pipeline_error``
record, and streaming goes on. ``run_batch`` adds the output folder: an append-only
``annotations.jsonl`` (the record of what is done: an interrupted run resumes by
skipping the ids it holds, and tries the notes that got an error record again), and the
optional FHIR / BRAT / HTML files, which are written *before* the JSONL line so that a
note listed there is complete in every format. ``run.json`` names the pipeline, the input,
its read options and the formats: a run into a folder that holds another pipeline's, another
input's or other formats' results stops (E605 / E617 / E620) instead of mixing them.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.util
import os
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Deque, Dict, Iterable, Iterator, List, Sequence, Set, Tuple, Union

import numpy
from spacy.language import Language
from spacy.tokens import Doc

from ..errors import ClinicalNERError, Errors, Warnings
from .budget import DEFAULT_BUDGET_S, BudgetExceeded, deadline, shielded
from .inputs import Note, check_encoding, count_notes, read_notes
from .records import doc_to_record, dumps, error_record

logger = logging.getLogger(__name__)

JSONL_NAME = "annotations.jsonl"
MANIFEST_NAME = "run.json"
FORMATS = ("jsonl", "fhir", "brat", "html")
#: Consecutive pipeline failures (with no note annotated in between) after which
#: worker processes are given up and the rest runs in this process.
_MAX_POOL_FAILURES = 3
#: Component added (for the run only) when worker processes are used.
DROP_TENSOR = "clinical_ner_drop_tensor"


class _InputFailure(BaseException):
    """Carries an exception of the *input* through ``nlp.pipe`` (which is not a note failure:
    a missing column or an unreadable file stops the run with its own error)."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


@dataclass
class Result:
    """A note, its Doc (None when it failed) and its output record."""

    note: Note
    doc: Doc | None
    record: Dict[str, Any]


def _failed(note: Note) -> Result:
    logger.warning(Warnings.W602.format(input_id=note.id, source=note.source, code=note.error))
    return Result(note, None, error_record(note.id, note.error or "read_error", **note.details))


def _pipeline_error(note: Note, err: Exception) -> Result:
    # The log names the exception type only: messages may quote the note.
    logger.warning(Warnings.W602.format(input_id=note.id, source=note.source, code=f"pipeline_error ({type(err).__name__})"))
    reason = f"{type(err).__name__}: {err}"[:1000]
    return Result(note, None, error_record(note.id, "pipeline_error", reason=reason))


def _annotated(note: Note, doc: Doc) -> Result:
    try:
        return Result(note, doc, doc_to_record(doc, note.id))
    except Exception as err:  # e.g. a component wrote an attribute of the wrong type
        return _pipeline_error(note, err)


def _over_budget(note: Note, budget_s: float) -> Result:
    logger.warning(Warnings.W602.format(input_id=note.id, source=note.source, code=f"over_budget ({budget_s:g} s)"))
    return Result(note, None, error_record(note.id, "over_budget", budget=budget_s, length=len(note.text)))


def _annotate_one(nlp: Language, note: Note, budget_s: float | None = None) -> Result:
    try:
        with deadline(budget_s):
            doc = nlp(note.text)
    except BudgetExceeded:
        return _over_budget(note, budget_s or 0.0)
    except Exception as err:  # a bad note must not stop the run
        return _pipeline_error(note, err)
    return _annotated(note, doc)


def _within_budget(docs: Iterable[Any], budget_s: float | None, in_flight) -> Iterator[Any]:
    """``docs`` (an ``nlp.pipe`` stream), with :class:`BudgetExceeded` raised when the next one
    takes longer than ``budget_s`` times the notes in flight (``in_flight()``). Worker
    processes started meanwhile are killed first: the pipe's clean-up would wait for them."""
    if not budget_s:
        yield from docs
        return
    before = {p.pid for p in multiprocessing.active_children()}

    def kill_workers() -> None:
        for child in multiprocessing.active_children():
            if child.pid not in before:
                child.kill()

    stream = iter(docs)
    while True:
        try:
            with deadline(lambda: budget_s * max(1, in_flight()), on_expire=kill_workers):
                item = next(stream)
        except StopIteration:
            return
        yield item


@Language.component(DROP_TENSOR)
def drop_tensor(doc: Doc) -> Doc:
    """Empty ``doc.tensor`` (the tok2vec output, ~80% of a serialised Doc), which no output
    uses: worker processes send Docs back as bytes, and this makes them 5x smaller."""
    die_with_parent()  # a worker started with "spawn" (macOS, Windows) gets its watchdog here
    doc.tensor = numpy.zeros((0,), dtype="float32")
    return doc


#: Exit status of a worker process whose parent is gone.
EXIT_PARENT_GONE = 70
_watched_pid = 0


def die_with_parent(_: object = None) -> None:
    """In a worker process: exit as soon as the process that started it ends, even by SIGKILL
    (a thread waits on the parent's sentinel, and checks the parent id every second), and
    leave Ctrl-C to the parent, which stops its workers. Nothing in the main process."""
    global _watched_pid
    parent = multiprocessing.parent_process()
    if parent is None or _watched_pid == os.getpid():
        return
    _watched_pid = os.getpid()
    parent_pid = os.getppid()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its workers
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler, inherited by fork

    def watch() -> None:
        while True:
            gone = multiprocessing.connection.wait([parent.sentinel], timeout=1.0)
            if gone or os.getppid() != parent_pid:
                os._exit(EXIT_PARENT_GONE)

    threading.Thread(target=watch, name="clinical-ner-watchdog", daemon=True).start()


class _ForkHook:
    """Registered with ``multiprocessing.util.register_after_fork`` while a run uses worker
    processes: a forked worker starts its watchdog before it reads its first batch."""


class Interrupted(BaseException):
    """A run stopped by SIGTERM (SIGINT is ``KeyboardInterrupt``)."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum


@contextmanager
def _workers_stop_with_run() -> Iterator[None]:
    """While worker processes run: SIGINT and SIGTERM kill them at once (a worker may be on a
    long note, and the pipe's clean-up waits for it) and stop the run by ``KeyboardInterrupt`` /
    ``Interrupted`` in the main thread, so the output files are closed and the lock released."""
    hook = _ForkHook()
    multiprocessing.util.register_after_fork(hook, die_with_parent)
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {p.pid for p in multiprocessing.active_children()}

    def stop(signum, frame) -> None:
        for child in multiprocessing.active_children():
            if child.pid not in before:
                child.kill()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        del hook  # the after-fork registry holds it weakly: no more watchdogs


def annotate_notes(
    nlp: Language, notes: Iterable[Note], *, n_process: int = 1, batch_size: int = 16, budget_s: float | None = DEFAULT_BUDGET_S
) -> Iterator[Result]:
    """One ``Result`` per note, in input order (error notes included).

    ``budget_s``: seconds of pipeline work per note (``None``: no limit). When the stream makes
    no progress for ``budget_s`` times the notes in flight, those notes are redone one at a
    time with ``budget_s`` each: a note over it gets an ``over_budget`` record, the others
    are annotated, and the run goes on.

    With worker processes, they end with this process (SIGKILL included), and SIGINT /
    SIGTERM stop them at once: ``KeyboardInterrupt`` / ``Interrupted`` is raised here."""
    added = n_process != 1 and DROP_TENSOR not in nlp.pipe_names
    if added:
        nlp.add_pipe(DROP_TENSOR, last=True)
    try:
        if n_process == 1:
            yield from _annotate_notes(nlp, notes, n_process=n_process, batch_size=batch_size, budget_s=budget_s)
        else:
            with _workers_stop_with_run():
                yield from _annotate_notes(nlp, notes, n_process=n_process, batch_size=batch_size, budget_s=budget_s)
    finally:
        if added:
            nlp.remove_pipe(DROP_TENSOR)


def _annotate_notes(nlp: Language, notes: Iterable[Note], *, n_process: int, batch_size: int, budget_s: float | None) -> Iterator[Result]:
    source = iter(notes)
    # Read from ``source`` and not yet yielded, in input order. The sequence number travels
    # with the text as the pipe's context (worker processes return copies, not the objects).
    pending: Deque[Tuple[int, Note]] = deque()
    counter = 0
    exhausted = False
    failures = 0

    def feed() -> Iterator[Tuple[str, int]]:
        nonlocal exhausted, counter
        while True:
            try:
                with shielded():  # a budget exception inside the reader would end it: notes lost
                    note = next(source)
            except StopIteration:
                break
            except Exception as err:
                raise _InputFailure(err) from err
            counter += 1
            pending.append((counter, note))
            if note.error is None:
                yield note.text, counter
        exhausted = True

    try:
        while True:
            try:
                docs = nlp.pipe(feed(), as_tuples=True, n_process=n_process, batch_size=batch_size)
                for doc, seq in _within_budget(docs, budget_s, lambda: len(pending)):
                    while pending and pending[0][0] != seq:
                        yield _failed(pending.popleft()[1])
                    note = pending.popleft()[1]
                    failures = 0
                    yield _annotated(note, doc)
                while pending:
                    yield _failed(pending.popleft()[1])
                if exhausted:
                    return
            except BudgetExceeded:
                # not a pipeline failure: the notes in flight are timed one at a time
                logger.warning("No note done within the budget (%g s a note); redoing %d note(s) one at a time", budget_s, len(pending))
                todo = [note for _, note in pending if not note.error]
                while pending:
                    note = pending.popleft()[1]
                    if note.error:
                        yield _failed(note)
                    elif len(todo) == 1:  # it alone was in flight: no need to run it again
                        yield _over_budget(note, budget_s or 0.0)
                    else:
                        yield _annotate_one(nlp, note, budget_s)
                if exhausted:
                    return
            except Exception as err:
                failures += 1
                logger.warning("Pipeline failed on a batch (%s); redoing %d note(s) one at a time", type(err).__name__, len(pending))
                while pending:
                    note = pending.popleft()[1]
                    yield _failed(note) if note.error else _annotate_one(nlp, note, budget_s)
                if failures >= _MAX_POOL_FAILURES and n_process != 1:
                    logger.warning("Worker processes keep failing; going on in one process")
                    n_process = 1
                if exhausted:
                    return
    except _InputFailure as failure:
        raise failure.error from None


# --------------------------------------------------------------------------- output


class JsonlOutput:
    """Append-only JSONL; ``done_ids`` are the notes a previous run completed.

    A run killed while writing leaves at most one partial last line: it is cut off
    (that note is done again), so the file never holds a broken or duplicate record.
    """

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)
        self.done_ids: Set[str] = set()
        self._fh = None

    def open(self, resume: bool) -> JsonlOutput:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume and self.path.exists():
            self.done_ids = self._repair()
        else:
            self.path.write_bytes(b"")
        self._fh = self.path.open("a", encoding="utf8", newline="\n")
        return self

    def _repair(self) -> Set[str]:
        """Ids of the annotated notes. A partial or unreadable tail is cut off, and error records
        are taken out (their notes are tried again: the file may have been fixed since)."""
        done: Set[str] = set()
        kept: List[bytes] = []
        good_end = 0
        with self.path.open("rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break
                try:
                    record = json.loads(raw)
                    note_id = record["id"]
                except (ValueError, KeyError, TypeError):
                    break
                good_end += len(raw)
                if isinstance(record, dict) and record.get("error"):
                    continue
                done.add(note_id)
                kept.append(raw)
        size = self.path.stat().st_size
        if good_end < size:
            logger.warning("Cut %d byte(s) of an interrupted record off the end of %s", size - good_end, self.path)
        if sum(map(len, kept)) < size:
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            tmp.write_bytes(b"".join(kept))
            os.replace(tmp, self.path)
        return done

    def write(self, record: Dict[str, Any]) -> None:
        self._fh.write(dumps(record) + "\n")
        # Flushed per record: a killed run loses at most the note being written.
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


#: File names a note may not take: the HTML index, and names Windows reserves for devices.
RESERVED_NAMES = frozenset(["index", "con", "prn", "aux", "nul"] + [f"com{i}" for i in range(1, 10)] + [f"lpt{i}" for i in range(1, 10)])


def safe_filename(note_id: str) -> str:
    """A file name (without extension) for a note id; a different one for every id.

    An id that is a plain name (letters, digits, ``.``, ``_``, ``-``) is its own file name.
    Any other id – with '/', '\\', spaces or other characters, longer than 120 characters,
    empty, starting or ending with '.', or a reserved name (``index``, which is the HTML
    index, or a Windows device name such as ``con``) – gets its characters replaced by '_'
    and a hash of the id appended, so two ids that look alike after the replacement ("a/b",
    "a_b") never share a file, and no note is a hidden file or overwrites the index.
    """
    import hashlib
    import re

    safe = re.sub(r"[^A-Za-z0-9._-]", "_", note_id)[:120]
    if safe != note_id or not safe or safe[0] == "." or safe[-1] == "." or safe.split(".")[0].lower() in RESERVED_NAMES:
        base = safe.strip(".") or "note"
        if base.split(".")[0].lower() in RESERVED_NAMES:
            base = f"_{base}"  # "index" -> "_index-…": Windows reserves "con.txt" as well as "con"
        safe = f"{base}-{hashlib.sha1(note_id.encode('utf8', 'surrogatepass')).hexdigest()[:10]}"
    return safe


LOCK_NAME = ".lock"


class OutputLock:
    """An exclusive lock on an output folder for the length of a run (E630 when held).

    The operating system holds it (``flock`` / ``msvcrt.locking`` on ``<folder>/.lock``),
    so a run that is killed, even with SIGKILL, leaves no stale lock. The file names the
    holder (process id, host, start time) for the error message of a second run.
    """

    def __init__(self, folder: Union[str, Path]):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fh = None

    def acquire(self) -> OutputLock:
        import socket

        fh = open(self.path, "a+", encoding="utf8")  # noqa: SIM115 - held open for the run
        try:
            _lock_file(fh)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise ClinicalNERError(Errors.E630.format(path=self.folder, holder=holder)) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"process {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing the file releases the lock
            self._fh = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _lock_file(fh) -> None:
    """Lock ``fh`` exclusively without waiting; OSError when another process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def write_atomic(path: Path, data: str) -> None:
    """Write a whole file or nothing (a killed run leaves no half-written file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(data, encoding="utf8", newline="")
    os.replace(tmp, path)


class FileWriter(ABC):
    """Base of the per-note writers (FHIR, BRAT, HTML): one folder, one file per note."""

    name = ""

    def __init__(self, out_dir: Path):
        self.dir = Path(out_dir) / self.name
        self.dir.mkdir(parents=True, exist_ok=True)

    @abstractmethod
    def write(self, result: Result) -> None:
        """Write the output file(s) of one note."""

    def finish(self, jsonl_path: Path) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Called once at the end of a run (also a resumed one)."""


class FhirWriter(FileWriter):
    name = "fhir"

    def write(self, result: Result) -> None:
        from .fhir import bundle_json

        write_atomic(self.dir / f"{safe_filename(result.record['id'])}.json", bundle_json(result.record, result.note.text))


class BratWriter(FileWriter):
    name = "brat"

    def write(self, result: Result) -> None:
        if result.doc is None:
            return  # BRAT has no way to say "failed": the JSONL error record does
        from .brat import doc_to_brat

        text, ann = doc_to_brat(result.doc)
        stem = safe_filename(result.record["id"])
        write_atomic(self.dir / f"{stem}.txt", text)
        write_atomic(self.dir / f"{stem}.ann", ann)


class HtmlWriter(FileWriter):
    name = "html"

    def write(self, result: Result) -> None:
        if result.doc is None:
            return
        from .html import record_to_html

        write_atomic(self.dir / f"{safe_filename(result.record['id'])}.html", record_to_html(result.record, result.note.text))

    def finish(self, jsonl_path: Path) -> None:
        from .html import index_html

        records = []
        with jsonl_path.open(encoding="utf8") as fh:
            for line in fh:
                records.append(json.loads(line))
        write_atomic(self.dir / "index.html", index_html(records, safe_filename))


WRITERS = {"fhir": FhirWriter, "brat": BratWriter, "html": HtmlWriter}


def parse_formats(formats: Union[str, Sequence[str]]) -> List[str]:
    """``"jsonl,fhir"`` or ``["jsonl", "fhir"]`` -> validated list (JSONL is always written)."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    out = ["jsonl"]
    for item in (i.strip().lower() for i in items):
        if not item:
            continue
        if item not in FORMATS:
            raise ClinicalNERError(Errors.E604.format(value=item, options=", ".join(FORMATS)))
        if item not in out:
            out.append(item)
    if "fhir" in out and importlib.util.find_spec("fhir") is None:  # found before a pipeline is loaded or a file written
        raise ClinicalNERError(Errors.E619.format(what="--format fhir", module="fhir.resources", extra="fhir"))
    return out


def _manifest(nlp: Language, input_path: Path, formats: List[str], read_options: Dict[str, str]) -> Dict[str, Any]:
    from .model import describe_pipeline

    return {
        "model": describe_pipeline(nlp),
        "pipeline": list(nlp.pipe_names),
        "input": str(input_path.resolve()),
        "read_options": read_options,
        "formats": formats,
    }


def _check_resumable(manifest_path: Path, manifest: Dict[str, Any], output_dir: Path) -> None:
    """E605 / E617 / E620 when the earlier run in ``output_dir`` used another pipeline, other input or other formats."""
    try:
        previous = json.loads(manifest_path.read_text(encoding="utf8"))
        if not isinstance(previous, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError) as err:
        raise ClinicalNERError(Errors.E618.format(path=manifest_path, reason=f"{type(err).__name__}: {err}")) from None
    if previous.get("model") != manifest["model"] or previous.get("pipeline") != manifest["pipeline"]:
        raise ClinicalNERError(Errors.E605.format(path=output_dir, old=previous.get("model"), new=manifest["model"]))
    # run.json files from before read_options was kept name the input only
    old_input, old_options = previous.get("input"), previous.get("read_options", manifest["read_options"])
    if (old_input is not None and Path(old_input).resolve() != Path(manifest["input"])) or old_options != manifest["read_options"]:
        old = {"input": old_input, **old_options}
        raise ClinicalNERError(Errors.E617.format(path=output_dir, old=old, new={"input": manifest["input"], **manifest["read_options"]}))
    old_formats = previous.get("formats")
    if old_formats is not None and sorted(old_formats) != sorted(manifest["formats"]):
        raise ClinicalNERError(Errors.E620.format(path=output_dir, old=",".join(old_formats), new=",".join(manifest["formats"])))


def run_batch(
    nlp: Language,
    input_path: Union[str, Path],
    output_dir: Union[str, Path],
    *,
    formats: Union[str, Sequence[str]] = ("jsonl",),
    n_process: int = 1,
    batch_size: int = 16,
    id_field: str = "id",
    text_field: str = "text",
    glob: str = "**/*.txt",
    max_chars: int | None = None,
    encoding: str = "utf-8",
    overwrite: bool = False,
    progress: bool = True,
    budget_s: float | None = DEFAULT_BUDGET_S,
) -> Dict[str, Any]:
    """Annotate every note of ``input_path`` into ``output_dir``; returns the run summary.

    Re-running the same command after an interruption resumes it: notes already annotated in
    ``annotations.jsonl`` are skipped and those with an error record are tried again (their
    new records come at the end). ``overwrite=True`` starts again. The input is checked (it
    exists, its kind, encoding, folder listing, CSV header) before the output folder is touched.
    """
    input_path, output_dir = Path(input_path), Path(output_dir)
    formats = parse_formats(formats)
    encoding = check_encoding(encoding)
    limit = max_chars or nlp.max_length
    all_notes = read_notes(input_path, id_field=id_field, text_field=text_field, glob=glob, max_chars=limit, encoding=encoding)
    read_options = {"id_field": id_field, "text_field": text_field, "glob": glob, "encoding": encoding}
    manifest = _manifest(nlp, input_path, formats, read_options)
    output_dir.mkdir(parents=True, exist_ok=True)
    # one run per folder at a time: a second one would write every note again (E630)
    with OutputLock(output_dir):
        return _run_locked(
            nlp,
            input_path,
            output_dir,
            all_notes,
            manifest,
            formats,
            limit,
            n_process=n_process,
            batch_size=batch_size,
            glob=glob,
            overwrite=overwrite,
            progress=progress,
            budget_s=budget_s,
        )


def _run_locked(
    nlp: Language,
    input_path: Path,
    output_dir: Path,
    all_notes: Iterator[Note],
    manifest: Dict[str, Any],
    formats: List[str],
    limit: int,
    *,
    n_process: int,
    batch_size: int,
    glob: str,
    overwrite: bool,
    progress: bool,
    budget_s: float | None,
) -> Dict[str, Any]:
    manifest_path = output_dir / MANIFEST_NAME
    jsonl_path = output_dir / JSONL_NAME
    if not overwrite and manifest_path.exists() and jsonl_path.exists():
        _check_resumable(manifest_path, manifest, output_dir)
    write_atomic(manifest_path, json.dumps(dict(manifest, completed=False), indent=2))

    out = JsonlOutput(jsonl_path).open(resume=not overwrite)
    writers = [WRITERS[f](output_dir) for f in formats if f in WRITERS]
    if limit > nlp.max_length:  # spaCy's guard against running out of memory, raised on request
        logger.info("Raising the pipeline's max_length from %d to %d characters (--max-chars)", nlp.max_length, limit)
        nlp.max_length = limit
    if out.done_ids:
        logger.info("Resuming: %d note(s) already annotated in %s", len(out.done_ids), jsonl_path)

    counts: Dict[str, int] = {"annotated": 0, "errors": 0, "skipped": 0, "characters": 0, "words": 0}
    by_code: Dict[str, int] = {}

    def todo() -> Iterator[Note]:
        for note in all_notes:
            if note.id in out.done_ids:
                counts["skipped"] += 1
                if bar is not None:
                    bar.update(1)
            else:
                yield note

    notes = todo()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=count_notes(input_path, glob=glob), unit="note", desc="annotate", dynamic_ncols=True)
    start = time.perf_counter()
    try:
        for result in annotate_notes(nlp, notes, n_process=n_process, batch_size=batch_size, budget_s=budget_s):
            for writer in writers:
                writer.write(result)
            out.write(result.record)
            if result.doc is None:
                counts["errors"] += 1
                code = result.record["error"]["code"]
                by_code[code] = by_code.get(code, 0) + 1
            else:
                counts["annotated"] += 1
                counts["characters"] += len(result.doc.text)
                counts["words"] += len(result.doc)  # tokens, as in spaCy's words/second
            if bar is not None:
                bar.update(1)
    finally:
        out.close()
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    for writer in writers:
        writer.finish(jsonl_path)
    summary = dict(
        counts,
        error_codes=by_code,
        seconds=round(seconds, 3),
        words_per_second=round(counts["words"] / seconds, 1) if seconds else None,
        notes=counts["annotated"] + counts["errors"] + counts["skipped"],
    )
    write_atomic(manifest_path, json.dumps(dict(manifest, completed=True, last_run=summary), indent=2))
    return summary
