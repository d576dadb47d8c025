"""REST service: /annotate (one note, a batch), /health, OpenAPI, limits with clear 4xx errors,
the pipeline loaded once, no note text in the logs, loopback by default."""

import inspect
import json
import logging

import pytest
from conftest import SURFACE_CODE as CODE  # noqa: E402
from fastapi.testclient import TestClient

from spacy_clinical_ner.io.records import doc_to_record, load_schema
from spacy_clinical_ner.serve.app import create_app

SECRET = "Zebediah Quokkaworth denies fever"  # must never reach a log
LOCAL = "http://localhost"  # the test client's default Host, "testserver", is not in the default allow-list


@pytest.fixture(scope="module")
def nlp(comp):
    return comp.build_pipeline(crash=True)


@pytest.fixture(scope="module")
def client(nlp):
    app = create_app(nlp, max_body_bytes=20_000, max_notes=5, max_chars=1_000)
    with TestClient(app, base_url=LOCAL) as c:
        yield c


@pytest.fixture(scope="module")
def validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema())


def test_health(client, nlp):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["pipeline"] == nlp.pipe_names
    assert body["limits"] == {
        "max_body_bytes": 20_000,
        "max_notes": 5,
        "max_chars": 1_000,
        "max_request_chars": 400_000,
        "timeout_s": 60.0,
        "budget_s": 60.0,
        "long_chars": 20_000,
    }
    assert body["queued"] == 0 and body["running_s"] == 0.0 and isinstance(body["limits"]["max_chars"], int)


def test_annotate_one(client, nlp, comp, validator):
    text = comp.NOTES["n1"]
    response = client.post("/annotate", json={"id": "n1", "text": text})
    assert response.status_code == 200
    record = response.json()
    validator.validate(record)
    assert record == doc_to_record(nlp(text), "n1")  # the CLI's record
    assert client.post("/annotate", json={"text": "No cough."}).json()["id"] == "1"


def test_annotate_batch_with_bad_notes(client, nlp, comp, validator):
    notes = [
        {"id": "a", "text": comp.NOTES["n2"]},
        {"id": "b", "text": " "},
        {"id": "c", "text": "fever " * 300},
        {"id": "d", "text": "CRASH_ME fever"},
        {"text": "Mild rash."},
    ]
    response = client.post("/annotate", json={"notes": notes})
    assert response.status_code == 200
    results = response.json()["results"]
    for rec in results:
        validator.validate(rec)
    assert [r["id"] for r in results] == ["a", "b", "c", "d", "5"]
    assert [(r["error"] or {}).get("code") for r in results] == [None, "empty_text", "too_long", "pipeline_error", None]
    assert results[0] == doc_to_record(nlp(comp.NOTES["n2"]), "a")


def test_single_bad_notes_are_4xx(client):
    response = client.post("/annotate", json={"id": "x", "text": "   "})
    assert response.status_code == 422 and response.json()["error"]["code"] == "empty_text"
    response = client.post("/annotate", json={"id": "x", "text": "fever " * 300})
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_long"


def test_limits(client):
    too_big = {"text": "fever " * 5_000}
    response = client.post("/annotate", json=too_big)
    assert response.status_code == 413
    assert response.json()["detail"]["code"] == "request_too_large" and "limit is 20000 bytes" in response.json()["detail"]["message"]

    def chunks():  # no Content-Length: the body is counted as it arrives
        for _ in range(30):
            yield b" " * 1_000

    response = client.post("/annotate", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["detail"]["code"] == "request_too_large"

    response = client.post("/annotate", json={"notes": [{"text": "fever"}] * 6})
    assert response.status_code == 413 and response.json()["detail"]["code"] == "too_many_notes"


def test_malformed_requests(client):
    for body in (b"{not json", json.dumps({"txt": SECRET}).encode(), json.dumps({"text": 5}).encode(), json.dumps({"notes": "x"}).encode()):
        response = client.post("/annotate", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422
        detail = response.json()["detail"]
        assert detail["code"] == "invalid_request" and SECRET not in detail["message"]
    assert client.get("/annotate").status_code == 405


def test_openapi_and_page(client):
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/annotate"]["post"]
    assert {"200", "413", "422"} <= set(post["responses"])
    assert "NoteIn" in json.dumps(post["requestBody"]) and "BatchIn" in json.dumps(post["requestBody"])
    assert "/health" in spec["paths"]
    page = client.get("/")
    assert page.status_code == 200 and "<textarea" in page.text and "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/app.js").status_code == 200


def test_no_note_text_in_logs(nlp, caplog):
    caplog.set_level(logging.DEBUG)
    app = create_app(nlp, max_chars=200)
    with TestClient(app, base_url=LOCAL) as c:
        c.post("/annotate", json={"text": SECRET})
        c.post("/annotate", json={"notes": [{"text": SECRET}, {"text": "CRASH_ME " + SECRET}, {"text": SECRET * 10}]})
        c.post("/annotate", json={"txt": SECRET})
    messages = [r.getMessage() for r in caplog.records]
    assert any("annotated 3 note(s)" in m for m in messages)
    assert not [m for m in messages if "Quokkaworth" in m]


def test_pipeline_loaded_once_from_model(tmp_path, comp, monkeypatch):
    import spacy_clinical_ner.io.model as model_module

    model_dir = comp.save_pipeline(tmp_path / "m")
    calls = []
    real = model_module.load_pipeline
    monkeypatch.setattr(model_module, "load_pipeline", lambda *a, **k: calls.append(a) or real(*a, **k))
    with TestClient(create_app(model=str(model_dir), code_path=str(CODE)), base_url=LOCAL) as c:
        assert c.get("/health").json()["pipeline"] == ["sentencizer", "entity_ruler", "surface_test_annotator"]
        for _ in range(3):
            assert c.post("/annotate", json={"text": "No fever."}).json()["entities"][0]["is_negated"] is True
    assert len(calls) == 1


def test_defaults_bind_loopback():
    from spacy_clinical_ner.cli.serve import serve_cli
    from spacy_clinical_ner.serve.app import DEFAULT_HOST

    assert DEFAULT_HOST == "127.0.0.1"
    assert inspect.signature(serve_cli).parameters["host"].default.default == "127.0.0.1"


def test_concurrent_requests_are_answered_correctly(client, nlp, comp):
    """Requests from many clients at once are batched together; each gets its own record."""
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"Visit {i}: " + (comp.NOTES["n1"] if i % 2 else comp.NOTES["n3"]) for i in range(24)]
    texts[7] = "CRASH_ME " + texts[7]

    def post(i):
        return client.post("/annotate", json={"id": f"c{i}", "text": texts[i]})

    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(post, range(len(texts))))
    for i, response in enumerate(responses):
        if i == 7:
            assert response.status_code == 500 and response.json()["error"]["code"] == "pipeline_error"
        else:
            assert response.status_code == 200 and response.json() == doc_to_record(nlp(texts[i]), f"c{i}")


def test_bodies_that_are_not_json_text_and_lone_surrogates(client):
    """Invalid UTF-8 and JSON nested too deep get the documented 422; an unpaired \\ud800 escape is the
    note's invalid_utf8 error (not a 500); nothing loads from the internet (no CDN /docs page)."""
    for body in (b'{"text": "caf\xff fever"}', b"[" * 10_000):
        response = client.post("/annotate", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422 and response.json()["detail"]["code"] == "invalid_request"
    # valid JSON nested deeper than the parser goes: its own message, not "not valid JSON"
    deep = b'{"text": "fever", "meta": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    response = client.post("/annotate", content=deep, headers={"Content-Type": "application/json"})
    detail = response.json()["detail"]
    assert response.status_code == 422 and detail["code"] == "invalid_request"
    assert "[E636]" in detail["message"] and "nested too deep" in detail["message"] and "not valid JSON" not in detail["message"]
    response = client.post(
        "/annotate", content=b'{"id": "s", "text": "fever \\ud800 and cough"}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_utf8"
    batch = json.dumps({"notes": [{"id": "ok", "text": "fever"}, {"id": "s", "text": "fever \ud800"}]})  # ASCII, escaped
    response = client.post("/annotate", content=batch.encode(), headers={"Content-Type": "application/json"})
    assert [r["error"]["code"] if r.get("error") else None for r in response.json()["results"]] == [None, "invalid_utf8"]
    assert client.get("/docs").status_code == 404


def test_batches_are_split_by_characters(nlp):
    """The pipeline sees at most max_chars characters per nlp.pipe call, whatever the batch."""
    from spacy_clinical_ner.serve.app import Annotator, _chunks

    todo = [("a" * 400, 0), ("b" * 400, 1), ("c" * 400, 2), ("d" * 1_500, 3), ("e" * 10, 4)]
    assert [[k for _, k in chunk] for chunk in _chunks(todo, 1_000)] == [[0, 1], [2], [3], [4]]
    annotator = Annotator(nlp, max_chars=1_000)
    records = annotator.annotate([("n1", "fever " * 100), ("n2", "No cough. " * 90), ("n3", "fever")])
    assert [r["id"] for r in records] == ["n1", "n2", "n3"] and not any(r.get("error") for r in records)


# ---------------------------------------------------------------------------- bounded work (issue 22)
def test_work_limit_per_request(nlp):
    app = create_app(nlp, max_chars=1_000, max_request_chars=2_500)
    with TestClient(app, base_url=LOCAL) as c:
        notes = [{"id": str(i), "text": "No fever. " * 90} for i in range(3)]  # 2,700 characters in all
        response = c.post("/annotate", json={"notes": notes})
        assert response.status_code == 413 and response.json()["detail"]["code"] == "too_much_work"
        assert "2700" in response.json()["detail"]["message"]
        # a note over max_chars costs nothing: it gets its own too_long record
        notes = [{"id": "a", "text": "No fever. " * 90}, {"id": "b", "text": "No fever. " * 90}, {"id": "c", "text": "x" * 5_000}]
        response = c.post("/annotate", json={"notes": notes})
        assert response.status_code == 200
        assert [(r["error"] or {}).get("code") for r in response.json()["results"]] == [None, None, "too_long"]


def test_timeout_and_health_busy(comp, tmp_path):
    """A request stuck behind a slow one gets 503 timeout (and is dropped from the queue), /health answers
    at once and says busy; once the slow one is done, health says ok again and requests are answered."""
    import threading
    import time

    gate = tmp_path / "gate"
    slow = comp.build_pipeline(gate_file=str(gate), gate_after=0)  # every doc waits for the gate file
    app = create_app(slow, timeout=0.5, busy_after=0.2)
    with TestClient(app, base_url=LOCAL) as c:
        assert c.get("/health").json()["status"] == "ok"
        first: dict = {}
        thread = threading.Thread(target=lambda: first.update(r=c.post("/annotate", json={"id": "slow", "text": "No fever."})))
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while c.get("/health").json()["running_s"] < 0.3 and time.monotonic() < deadline:
                time.sleep(0.05)
            started = time.perf_counter()
            health = c.get("/health").json()
            assert time.perf_counter() - started < 1.0 and health["status"] == "busy" and health["running_s"] >= 0.2, health
            response = c.post("/annotate", json={"id": "waiting", "text": "Mild cough."})
            assert response.status_code == 503 and response.json()["detail"]["code"] == "timeout"
            assert "0.5 s" in response.json()["detail"]["message"]
        finally:
            gate.touch()
            thread.join(timeout=30)
        assert first["r"].status_code == 503  # the slow one itself ran past the timeout
        throttle = slow.get_pipe("surface_test_throttle")
        seen = throttle.seen
        assert c.post("/annotate", json={"id": "after", "text": "No fever."}).status_code == 200
        assert throttle.seen == seen + 1  # the timed-out "waiting" note was dropped, never run
        health = c.get("/health").json()
        assert health["status"] == "ok" and health["queued"] == 0


def test_note_over_budget(comp):
    """A note the pipeline works on for longer than the budget is stopped (a component that would
    run 300 s): a single note gets 413 over_budget naming the limit, in a batch the others are
    annotated, and the service answers the next request at once."""
    stall = comp.build_pipeline(stall=True)
    app = create_app(stall, budget_s=0.5)
    with TestClient(app, base_url=LOCAL) as c:
        assert c.get("/health").json()["limits"]["budget_s"] == 0.5
        response = c.post("/annotate", json={"id": "s", "text": "fever STALL_ME"})
        assert response.status_code == 413
        error = response.json()["error"]
        assert error["code"] == "over_budget" and "budget of 0.5 s" in error["message"] and "--budget-s" in error["message"]
        notes = [{"id": "a", "text": "No fever."}, {"id": "s", "text": "STALL_ME"}, {"id": "b", "text": "Mild cough."}]
        results = c.post("/annotate", json={"notes": notes}).json()["results"]
        assert [(r["id"], (r.get("error") or {}).get("code")) for r in results] == [("a", None), ("s", "over_budget"), ("b", None)]
        assert results[0]["entities"] and results[2]["entities"]
        assert c.post("/annotate", json={"text": "No fever."}).status_code == 200
        assert c.get("/health").json()["status"] == "ok"


def test_long_requests_have_their_own_lane(comp, nlp):
    """A request of long_chars characters or more runs in the long lane (a forked copy of the
    pipeline): the same record as in-process; a long note stalled in it does not hold up short
    requests (answered while it runs), is stopped at the budget (413 over_budget) and the lane
    works again for the next long note."""
    import threading

    stall = comp.build_pipeline(stall=True)
    app = create_app(stall, budget_s=3.0, long_chars=2_000)
    long_text = "Patient denies fever. " * 120  # 2,640 characters
    with TestClient(app, base_url=LOCAL) as c:
        response = c.post("/annotate", json={"id": "long", "text": long_text})
        assert response.status_code == 200 and response.json() == doc_to_record(nlp(long_text), "long")
        done = []
        stalled: dict = {}

        def post_stalled():
            stalled["r"] = c.post("/annotate", json={"id": "stuck", "text": long_text + "STALL_ME"})
            done.append("stuck")

        thread = threading.Thread(target=post_stalled)
        thread.start()
        try:
            import time

            wait_until = time.monotonic() + 30
            while c.get("/health").json()["running_s"] < 0.5 and time.monotonic() < wait_until:
                time.sleep(0.05)  # the long note is in its lane
            short = c.post("/annotate", json={"id": "short", "text": "No cough."})
            done.append("short")
            assert short.status_code == 200 and short.json()["entities"]
        finally:
            thread.join(60)
        assert done == ["short", "stuck"]  # answered while the long one was stuck
        assert stalled["r"].status_code == 413 and stalled["r"].json()["error"]["code"] == "over_budget"
        again = c.post("/annotate", json={"id": "again", "text": long_text})
        assert again.status_code == 200 and again.json() == doc_to_record(nlp(long_text), "again")


def test_host_allow_list(nlp):
    from spacy_clinical_ner.serve.app import allowed_hosts, host_name

    assert host_name("[::1]:8000") == "::1" and host_name("LocalHost:80") == "localhost" and host_name("a.org.") == "a.org"
    default = create_app(nlp)
    for host in ("localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000"):
        with TestClient(default, base_url=f"http://{host}") as c:
            assert c.get("/health").status_code == 200, host
    for host in ("evil.example", "attacker.localhost.evil", "testserver", "127.0.0.1.nip.io"):
        with TestClient(default, base_url=f"http://{host}") as c:
            for response in (c.get("/health"), c.post("/annotate", json={"text": SECRET}), c.get("/")):
                assert response.status_code == 400 and response.json()["detail"]["code"] == "host_not_allowed", host
                assert "E634" in response.json()["detail"]["message"]
    app = create_app(nlp, allowed_hosts=["*.clinic.org", "ner.internal"])
    for host, status in (("a.clinic.org", 200), ("clinic.org", 200), ("ner.internal:9000", 200), ("xclinic.org", 400), ("localhost", 400)):
        with TestClient(app, base_url=f"http://{host}") as c:
            assert c.get("/health").status_code == status, host
    assert allowed_hosts("127.0.0.1", []) == ["localhost", "127.0.0.1", "::1"]
    assert allowed_hosts("10.0.0.5", []) == ["localhost", "127.0.0.1", "::1", "10.0.0.5"]
    assert allowed_hosts("0.0.0.0", ["ner.clinic.org"]) == ["ner.clinic.org"]


def test_client_disconnecting_mid_upload_logs_no_traceback(nlp, caplog):
    """A real server (uvicorn): clients that send part of a body (with a Content-Length, or chunked)
    and hang up get nothing and leave one INFO line, no "Exception in ASGI application" traceback
    (Starlette's ``call_next`` raised "No response returned"); the service goes on answering."""
    import socket
    import threading
    import time

    import httpx
    import uvicorn

    caplog.set_level(logging.INFO)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(nlp), host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        for header, part in ((b"Content-Length: 5000", b'{"text": "fev'), (b"Transfer-Encoding: chunked", b'd\r\n{"text": "fev\r\n')):
            with socket.create_connection(("127.0.0.1", port)) as conn:
                conn.sendall(
                    b"POST /annotate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" + header + b"\r\n\r\n" + part
                )
                time.sleep(0.2)
        # the service still answers (and by then has seen both disconnects)
        response = httpx.post(f"http://127.0.0.1:{port}/annotate", json={"text": "No fever."}, timeout=30)
        assert response.status_code == 200 and response.json()["entities"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sum("client disconnected" in r.getMessage() for r in caplog.records) < 2:
            time.sleep(0.05)
    finally:
        server.should_exit = True
        thread.join(30)
    assert sum("client disconnected" in r.getMessage() for r in caplog.records) == 2
    bad = [(r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert bad == []
