"""The service's page in a real headless Chromium (Debian's, /usr/bin/chromium: install it
with scripts/install_browser.sh), served by the real ``clinical-ner serve`` process."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
from conftest import SURFACE_CODE as CODE  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NOTE = "Patient denies fever. Reports severe chest pain.\nTakes lisinopril 10 mg <b>daily</b>."

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, comp):
    import httpx

    model = comp.save_pipeline(tmp_path_factory.mktemp("model") / "m")
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p))
    log = tmp_path_factory.mktemp("log") / "server.log"
    with open(log, "wb") as fh:
        # No --host: the default must be loopback.
        cmd = [sys.executable, "-m", "spacy_clinical_ner", "serve", "--model", str(model), "--code", str(CODE), "--port", str(port)]
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/health", timeout=2).json()["status"] == "ok":
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield {"url": url, "port": port, "pid": proc.pid, "log": log}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: run scripts/install_browser.sh (Debian's chromium; no browser is downloaded)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


def test_server_binds_loopback_only(server):
    import psutil

    listening = [c.laddr for c in psutil.Process(server["pid"]).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert listening and all(addr.ip == "127.0.0.1" for addr in listening)


def test_page_highlights_entities(server, browser):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(server["url"] + "/")
    # a locator, not wait_for_function: the page's CSP (script-src 'self') forbids eval
    page.wait_for_selector("#model-name:has-text('surface_test')")
    page.fill("#note", NOTE)
    page.click("#annotate")
    page.wait_for_selector("#result:not([hidden])")

    marks = page.locator("#text mark.ent")
    assert marks.count() == 5
    negated = page.locator("#text mark.ent.negated")
    assert negated.count() == 1
    assert negated.get_attribute("data-cui") == "C0015967"
    assert "Sign_symptom · C0015967" in negated.inner_text() and negated.inner_text().startswith("fever")
    # Negated entities look different: struck through, grey; present ones are not.
    style = page.evaluate("""() => {
        const s = (sel) => getComputedStyle(document.querySelector(sel));
        return {neg: [s('#text mark.negated').textDecorationLine, s('#text mark.negated').backgroundColor],
                pos: [s('#text mark[data-label="Medication"]').textDecorationLine, s('#text mark[data-label="Medication"]').backgroundColor]};
    }""")
    assert style["neg"][0] == "line-through" and style["pos"][0] == "none" and style["neg"][1] != style["pos"][1]
    # The text around the marks is the note, verbatim (markup in the note shown as text).
    assert page.locator("#text").evaluate("e => e.textContent").replace("Sign_symptom · C0015967", "").startswith("Patient denies fever")
    assert "<b>daily</b>" in page.locator("#text").inner_text()
    assert page.locator("#text b").count() == 0

    rows = page.locator("#entities tbody tr")
    assert rows.count() == 5
    assert "C0065374" in page.locator("#entities tbody").inner_text() and "Lisinopril" in page.locator("#entities tbody").inner_text()
    assert page.locator("#entities tbody tr.negated").count() == 1
    relations = [r.split("\t") for r in page.locator("#relations tbody").inner_text().strip().split("\n")]
    assert [r[:3] for r in relations] == [["severe", "MODIFY", "chest pain"], ["10 mg", "MODIFY", "lisinopril"]]
    assert "2 relations" in page.locator("#status").inner_text()
    assert errors == []
    page.close()


def test_page_offsets_after_emoji(server, browser):
    """The service counts code points, JavaScript's String.slice UTF-16 units: after an emoji the
    marks must still cover the entity's own text."""
    page = browser.new_page()
    page.goto(server["url"] + "/")
    page.wait_for_selector("#model-name:has-text('surface_test')")
    page.fill("#note", "😀😀 Patient denies fever 🤒 and severe chest pain.")
    page.click("#annotate")
    page.wait_for_selector("#result:not([hidden])")
    marks = page.locator("#text mark.ent")
    texts = [marks.nth(i).evaluate("e => e.firstChild.textContent") for i in range(marks.count())]
    assert texts == ["fever", "severe", "chest pain"]
    page.close()


def test_page_shows_errors(server, browser):
    page = browser.new_page()
    page.goto(server["url"] + "/")
    page.fill("#note", "   ")
    page.click("#annotate")
    page.wait_for_selector("#error:not([hidden])")
    assert "422" in page.locator("#error").inner_text() and "empty_text" in page.locator("#error").inner_text()
    page.close()
    # The server log has requests, no note text.
    log = server["log"].read_text()
    assert "POST /annotate" in log and "lisinopril" not in log and "fever" not in log
