"""``clinical-ner annotate``: inputs, every bad-input case, all output formats, resume after a
really killed run."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spacy_clinical_ner.cli import load_commands
from spacy_clinical_ner.errors import ClinicalNERError
from spacy_clinical_ner.io.batch import JSONL_NAME, run_batch
from spacy_clinical_ner.io.records import doc_to_record, load_schema

REPO = Path(__file__).resolve().parents[1]
from conftest import SURFACE_CODE as CODE  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, comp):
    return comp.save_pipeline(tmp_path_factory.mktemp("model") / "surface_test")


@pytest.fixture(scope="module")
def nlp(model_dir):
    import spacy

    return spacy.load(model_dir)


@pytest.fixture(scope="module")
def validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema())


def read_jsonl(path):
    with open(path, encoding="utf8") as fh:
        return [json.loads(line) for line in fh]


def subprocess_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def write_jsonl(path, notes):
    with open(path, "w", encoding="utf8") as fh:
        for nid, text in notes:
            fh.write(json.dumps({"id": nid, "text": text}) + "\n")
    return path


def test_cli_all_formats_two_processes(tmp_path, model_dir, comp, nlp, validator):
    """The real command line (python -m), every format, 2 worker processes."""
    from fhir.resources.R4B.bundle import Bundle

    from spacy_clinical_ner.io.batch import safe_filename
    from spacy_clinical_ner.readers.brat import parse_ann

    notes = list(comp.NOTES.items()) + [("dir/with space", "Mild cough, no fever."), ("empty", "")]
    src = write_jsonl(tmp_path / "notes.jsonl", notes)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "spacy_clinical_ner", "annotate", str(src), str(out), "--model", str(model_dir), "--code", str(CODE)]
    cmd += ["--format", "jsonl,fhir,brat,html", "--n-process", "2", "--batch-size", "2", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "4 annotated, 1 error record(s) (empty_text 1)" in proc.stderr
    records = read_jsonl(out / JSONL_NAME)
    assert [r["id"] for r in records] == [nid for nid, _ in notes]  # input order, nothing lost
    for rec, (nid, text) in zip(records, notes, strict=True):
        validator.validate(rec)
        if text:
            assert rec == doc_to_record(nlp(text), nid)  # same as in-process annotation
            stem = safe_filename(nid)
            Bundle.model_validate_json((out / "fhir" / f"{stem}.json").read_text(encoding="utf8"))
            txt = (out / "brat" / f"{stem}.txt").read_text(encoding="utf8")
            assert txt == text
            bdoc = parse_ann((out / "brat" / f"{stem}.ann").read_text(encoding="utf8"), txt)
            assert len(bdoc.entities) == len(rec["entities"])
            assert (out / "html" / f"{stem}.html").exists()
        else:
            assert rec["error"]["code"] == "empty_text"
            bundle = Bundle.model_validate_json((out / "fhir" / "empty.json").read_text(encoding="utf8"))
            assert bundle.entry[0].resource.get_resource_type() == "OperationOutcome"
    assert "empty_text" in (out / "html" / "index.html").read_text(encoding="utf8")
    manifest = json.loads((out / "run.json").read_text(encoding="utf8"))
    assert manifest["completed"] and manifest["pipeline"] == nlp.pipe_names


def bad_jsonl(path: Path) -> Path:
    lines = [
        b'{"id": "ok1", "text": "Patient denies fever."}',
        b'{"id": "empty", "text": ""}',
        b'{"id": "blank", "text": "  \\n\\t "}',
        b'{"id": "notext", "body": "fever"}',
        b'{"id": "nulltext", "text": null}',
        b'["not", "an", "object"]',
        b'{"id": "broken", "text": "fever',
        b'{"id": "latin1", "text": "caf\xe9 au lait, no fever"}',
        b'{"id": "bad\xff", "text": "\xff\xfe not json',
        b'{"id": "long", "text": "' + b"cough " * 100 + b'"}',
        b'{"id": "ok1", "text": "Severe headache."}',
        b"",
        b'{"text": "Takes aspirin."}',
        b'{"id": 7, "text": "Takes metformin."}',
        b'{"id": "ok2", "text": "Chest x-ray without pneumonia."}',
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_bad_inputs_never_stop_or_vanish(tmp_path, nlp, validator):
    summary = run_batch(nlp, bad_jsonl(tmp_path / "bad.jsonl"), tmp_path / "out", max_chars=200, progress=False)
    records = read_jsonl(tmp_path / "out" / JSONL_NAME)
    for rec in records:
        validator.validate(rec)
    got = {r["id"]: (r["error"] or {}).get("code") for r in records}
    assert got == {
        "ok1": None,
        "empty": "empty_text",
        "blank": "empty_text",
        "notext": "missing_text",
        "nulltext": "missing_text",
        "bad.jsonl:6": "malformed_line",
        "bad.jsonl:7": "malformed_line",
        "latin1": "invalid_utf8",
        "bad.jsonl:9": "invalid_utf8",
        "long": "too_long",
        "ok1#2": None,  # a repeated id is renamed, not dropped
        "bad.jsonl:13": None,  # no id: file and line
        "7": None,
        "ok2": None,
    }
    assert [r["id"] for r in records][:3] == ["ok1", "empty", "blank"]  # input order
    assert summary["annotated"] == 5 and summary["errors"] == 9
    assert (
        "[E614] The note has 600 characters, the limit is 200: split it, or raise the limit (--max-chars)"
        == next(r for r in records if r["id"] == "long")["error"]["message"]
    )


def test_folder_input(tmp_path, nlp):
    src = tmp_path / "notes"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("No fever.\r\nSevere cough.", encoding="utf8", newline="")
    (src / "sub" / "b.txt").write_bytes("\ufeffTakes aspirin.".encode("utf8"))
    (src / "c.txt").write_bytes(b"caf\xe9 fever")
    (src / "d.txt").write_bytes(b"")
    (src / "ignored.md").write_text("fever", encoding="utf8")
    run_batch(nlp, src, tmp_path / "out", progress=False)
    records = {r["id"]: r for r in read_jsonl(tmp_path / "out" / JSONL_NAME)}
    assert set(records) == {"a", "sub/b", "c", "d"}
    assert records["c"]["error"]["code"] == "invalid_utf8" and "byte 3" in records["c"]["error"]["message"]
    assert records["d"]["error"]["code"] == "empty_text"
    a = records["a"]
    # offsets into the text as read: \r\n kept, no newline translation
    assert [(e["text"], e["start"]) for e in a["entities"]] == [("fever", 3), ("Severe", 11), ("cough", 18)]
    assert records["sub/b"]["entities"][0]["start"] == 6  # byte-order mark dropped


def test_encodings(tmp_path, nlp):
    """Windows exports (cp1252) with --encoding; UTF-16 .txt by its byte-order mark; the hint names the option."""
    src = tmp_path / "notes"
    src.mkdir()
    text = "Café patient: no fever. Temp 38°C."
    (src / "cp.txt").write_bytes(text.encode("cp1252"))
    (src / "u16.txt").write_bytes(text.encode("utf-16"))  # with a byte-order mark
    run_batch(nlp, src, tmp_path / "utf8", progress=False)
    records = {r["id"]: r for r in read_jsonl(tmp_path / "utf8" / JSONL_NAME)}
    assert records["u16"]["text_length"] == len(text) and records["u16"]["entities"][0]["start"] == text.index("fever")
    message = records["cp"]["error"]["message"]
    assert records["cp"]["error"]["code"] == "invalid_utf8" and "not valid utf-8 (byte 3" in message and "--encoding" in message
    run_batch(nlp, src, tmp_path / "cp1252", encoding="cp1252", progress=False)
    records = {r["id"]: r for r in read_jsonl(tmp_path / "cp1252" / JSONL_NAME)}
    assert not records["cp"]["error"] and records["cp"]["entities"][0]["start"] == text.index("fever")
    assert not records["u16"]["error"]  # the byte-order mark wins over --encoding
    jsonl = tmp_path / "cp.jsonl"
    jsonl.write_bytes(json.dumps({"id": "j", "text": text}, ensure_ascii=False).encode("cp1252") + b"\n")
    run_batch(nlp, jsonl, tmp_path / "jsonl", encoding="windows-1252", progress=False)
    assert read_jsonl(tmp_path / "jsonl" / JSONL_NAME)[0]["text_length"] == len(text)
    # a UTF-16 export without a byte-order mark, named by --encoding
    (tmp_path / "u16le.jsonl").write_bytes((json.dumps({"id": "u", "text": text}) + "\n").encode("utf-16-le"))
    run_batch(nlp, tmp_path / "u16le.jsonl", tmp_path / "u16", encoding="utf-16-le", progress=False)
    assert read_jsonl(tmp_path / "u16" / JSONL_NAME)[0]["entities"][0]["start"] == text.index("fever")
    with pytest.raises(ClinicalNERError, match="E609"):
        run_batch(nlp, src, tmp_path / "bad", encoding="klingon", progress=False)


def test_max_chars_above_the_pipeline_limit(tmp_path, nlp):
    src = write_jsonl(tmp_path / "in.jsonl", [("long", "Severe fever. " * 100)])
    nlp.max_length, default = 1000, nlp.max_length
    try:
        run_batch(nlp, src, tmp_path / "out", progress=False)
        assert read_jsonl(tmp_path / "out" / JSONL_NAME)[0]["error"]["code"] == "too_long"
        run_batch(nlp, src, tmp_path / "out2", max_chars=2000, progress=False)  # the user raises spaCy's guard
        assert len([e for e in read_jsonl(tmp_path / "out2" / JSONL_NAME)[0]["entities"] if e["text"] == "fever"]) == 100
    finally:
        nlp.max_length = default


def test_csv_input(tmp_path, nlp):
    src = tmp_path / "visits.csv"
    with open(src, "w", encoding="utf8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["dataset", "encounter_id", "note"])
        writer.writerow(["x", "D1", "CHIEF COMPLAINT\n\nSevere headache, no fever, " + "x" * 200_000])
        writer.writerow(["x", "D2", "Takes lisinopril 10 mg."])
        writer.writerow(["x", "D3"])
        writer.writerow(["x", "D4", ""])
    run_batch(nlp, src, tmp_path / "out", id_field="encounter_id", text_field="note", progress=False)
    records = {r["id"]: r for r in read_jsonl(tmp_path / "out" / JSONL_NAME)}
    assert set(records) == {"D1", "D2", "D3", "D4"}
    assert records["D1"]["text_length"] > 200_000  # longer than csv's default field limit
    assert records["D3"]["error"]["code"] == "malformed_line"
    assert records["D4"]["error"]["code"] == "empty_text"
    with pytest.raises(ClinicalNERError, match="E603"):
        run_batch(nlp, src, tmp_path / "out2", text_field="text", progress=False)


@pytest.mark.parametrize("n_process", [1, 2])
def test_pipeline_error_on_one_note(tmp_path, comp, n_process, validator):
    """A component that raises on one note: that note gets an error record, the rest go on."""
    nlp = comp.build_pipeline(crash=True)
    notes = [(f"n{i}", "Patient denies fever." if i != 5 else "fever CRASH_ME") for i in range(12)]
    run_batch(nlp, write_jsonl(tmp_path / "in.jsonl", notes), tmp_path / "out", n_process=n_process, batch_size=2, progress=False)
    records = read_jsonl(tmp_path / "out" / JSONL_NAME)
    assert [r["id"] for r in records] == [nid for nid, _ in notes]
    assert [r["id"] for r in records if r["error"]] == ["n5"]
    assert records[5]["error"]["code"] == "pipeline_error" and "ValueError" in records[5]["error"]["message"]
    assert all(len(r["entities"]) == 1 for r in records if not r["error"])
    for rec in records:
        validator.validate(rec)


@pytest.mark.parametrize("n_process", [1, 2])
def test_note_over_budget_gets_an_error_record(tmp_path, comp, n_process, validator):
    """A component that runs away on one note (300 s of work) is stopped by the per-note budget:
    that note gets an over_budget record, the others are annotated, no worker is left running.
    (Without the budget this test would take 300 s and then fail: no wall-clock assert needed.)"""
    import multiprocessing

    nlp = comp.build_pipeline(stall=True)
    notes = [(f"n{i}", "Patient denies fever." if i != 5 else "fever STALL_ME") for i in range(10)]
    src = write_jsonl(tmp_path / "in.jsonl", notes)
    summary = run_batch(nlp, src, tmp_path / "out", n_process=n_process, batch_size=2, progress=False, budget_s=0.5)
    records = read_jsonl(tmp_path / "out" / JSONL_NAME)
    assert [r["id"] for r in records] == [nid for nid, _ in notes]
    assert [r["id"] for r in records if r["error"]] == ["n5"]
    assert records[5]["error"]["code"] == "over_budget" and "budget of 0.5 s" in records[5]["error"]["message"]
    assert all(len(r["entities"]) == 1 for r in records if not r["error"])
    assert summary["error_codes"] == {"over_budget": 1} and summary["annotated"] == 9
    for rec in records:
        validator.validate(rec)
    assert not [p for p in multiprocessing.active_children() if p.is_alive()]


def test_cli_budget_exit_code(tmp_path, comp):
    """``annotate --budget-s``: the run finishes with exit code 1 (notes with an error record)."""
    model = comp.save_pipeline(tmp_path / "stall_model", stall=True)
    src = write_jsonl(tmp_path / "in.jsonl", [("a", "No fever."), ("b", "STALL_ME fever"), ("c", "Mild cough.")])
    args = ["annotate", str(src), str(tmp_path / "out"), "--model", str(model), "--code", str(CODE), "--no-progress", "--budget-s", "0.3"]
    result = CliRunner().invoke(load_commands(), args)
    assert result.exit_code == 1, result.output
    assert "over_budget 1" in result.output
    records = read_jsonl(tmp_path / "out" / JSONL_NAME)
    assert [(r["id"], (r["error"] or {}).get("code")) for r in records] == [("a", None), ("b", "over_budget"), ("c", None)]


def test_resume_after_truncated_line(tmp_path, nlp):
    notes = [(f"n{i}", f"Patient {i} denies fever.") for i in range(6)]
    src = write_jsonl(tmp_path / "in.jsonl", notes)
    out = tmp_path / "out"
    run_batch(nlp, src, out, progress=False)
    jsonl = out / JSONL_NAME
    full = jsonl.read_bytes()
    lines = full.splitlines(keepends=True)
    jsonl.write_bytes(b"".join(lines[:3]) + lines[3][:25])  # killed while writing n3
    summary = run_batch(nlp, src, out, progress=False)
    assert summary["skipped"] == 3 and summary["annotated"] == 3
    assert jsonl.read_bytes() == full


def test_resume_refuses_other_pipeline(tmp_path, nlp, comp):
    src = write_jsonl(tmp_path / "in.jsonl", [("a", "fever")])
    run_batch(nlp, src, tmp_path / "out", progress=False)
    other = comp.build_pipeline(crash=True)
    with pytest.raises(ClinicalNERError, match="E605"):
        run_batch(other, src, tmp_path / "out", progress=False)
    summary = run_batch(other, src, tmp_path / "out", overwrite=True, progress=False)
    assert summary["annotated"] == 1 and summary["skipped"] == 0


def test_cli_errors_are_clear(tmp_path, model_dir):
    runner = CliRunner()
    app = load_commands()
    src = write_jsonl(tmp_path / "in.jsonl", [("a", "fever")])
    result = runner.invoke(app, ["annotate", str(src), str(tmp_path / "out"), "--model", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "E601" in result.output
    result = runner.invoke(
        app, ["annotate", str(src), str(tmp_path / "out"), "--model", str(model_dir), "--code", str(CODE), "--format", "jsonl,pdf"]
    )
    assert result.exit_code == 2 and "E604" in result.output
    (tmp_path / "notes.docx").write_bytes(b"")
    result = runner.invoke(
        app, ["annotate", str(tmp_path / "notes.docx"), str(tmp_path / "out"), "--model", str(model_dir), "--code", str(CODE)]
    )
    assert result.exit_code == 2 and "E602" in result.output


def test_resume_after_kill(tmp_path, comp, nlp):
    """Kill -9 a real run mid-way; the re-run completes it: every note exactly once, identical records."""
    from spacy_clinical_ner.io.batch import safe_filename

    gate = tmp_path / "gate"  # the run waits before its 31st note until this file exists
    slow = comp.save_pipeline(tmp_path / "slow_model", gate_file=str(gate), gate_after=30)
    notes = [(f"note-{i:03d}", f"Visit {i}. Patient denies fever. Severe chest pain. Takes aspirin 81 mg.") for i in range(120)]
    src = write_jsonl(tmp_path / "in.jsonl", notes)
    out = tmp_path / "out"
    # The installed console script when there is one (python -m is tested above).
    script = Path(sys.executable).parent / "clinical-ner"
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "spacy_clinical_ner"]
    cmd = [*launcher, "annotate", str(src), str(out), "--model", str(slow), "--code", str(CODE)]
    cmd += ["--format", "jsonl,fhir", "--batch-size", "1", "--no-progress"]
    jsonl = out / JSONL_NAME
    proc = subprocess.Popen(cmd, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if jsonl.exists() and jsonl.read_bytes().count(b"\n") >= 30:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
    done_before = jsonl.read_bytes().count(b"\n")
    assert done_before == 30
    gate.touch()

    # The same command again (in this process, to save a second interpreter start-up).
    rerun = CliRunner().invoke(load_commands(), cmd[len(launcher) :])
    assert rerun.exit_code == 0, rerun.output
    records = read_jsonl(jsonl)
    assert [r["id"] for r in records] == [nid for nid, _ in notes]  # each exactly once, in order
    for rec, (nid, text) in zip(records, notes, strict=True):
        assert rec == doc_to_record(nlp(text), nid)
        assert (out / "fhir" / f"{safe_filename(nid)}.json").exists()
    assert not list((out / "fhir").glob(".*.tmp"))
    manifest = json.loads((out / "run.json").read_text(encoding="utf8"))
    assert manifest["last_run"]["skipped"] == done_before and manifest["completed"]


def test_resume_refuses_other_input_and_retries_errors(tmp_path, nlp):
    """A resumed run must be the same input with the same read options; its error records are tried again."""
    src = tmp_path / "notes"
    src.mkdir()
    (src / "a.txt").write_text("No fever.", encoding="utf8")
    (src / "b.txt").write_text("", encoding="utf8")
    out = tmp_path / "out"
    first = run_batch(nlp, src, out, progress=False)
    assert first["annotated"] == 1 and first["error_codes"] == {"empty_text": 1}
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.txt").write_text("Chest pain.", encoding="utf8")
    with pytest.raises(ClinicalNERError, match="E617"):  # same id 'a', another note: not 'already done'
        run_batch(nlp, other, out, progress=False)
    with pytest.raises(ClinicalNERError, match="E617"):
        run_batch(nlp, src, out, encoding="cp1252", progress=False)
    with pytest.raises(ClinicalNERError, match="E620"):  # done notes would lack the new formats
        run_batch(nlp, src, out, formats="jsonl,html,brat", progress=False)
    assert not (out / "html").exists() and not (out / "brat").exists()
    (src / "b.txt").write_text("Severe cough.", encoding="utf8")  # the bad note is fixed
    again = run_batch(nlp, src, out, progress=False)
    assert again["skipped"] == 1 and again["annotated"] == 1 and again["errors"] == 0
    records = read_jsonl(out / JSONL_NAME)
    assert [(r["id"], r["error"]) for r in records] == [("a", None), ("b", None)]  # the old error record is gone
    assert json.loads((out / "run.json").read_text(encoding="utf8"))["last_run"]["skipped"] == 1


def test_bad_input_leaves_earlier_output_alone(tmp_path, nlp):
    src = write_jsonl(tmp_path / "in.jsonl", [("a", "fever"), ("b", "cough")])
    out = tmp_path / "out"
    run_batch(nlp, src, out, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (tmp_path / "notes.json").write_text("{}", encoding="utf8")
    with pytest.raises(ClinicalNERError, match="E602"):
        run_batch(nlp, tmp_path / "notes.json", out, overwrite=True, progress=False)
    (tmp_path / "n.csv").write_text("id,note\n1,fever\n", encoding="utf8")
    for overwrite in (False, True):
        with pytest.raises(ClinicalNERError, match="E603"):
            run_batch(nlp, tmp_path / "n.csv", out, overwrite=overwrite, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClinicalNERError, match="No documents found"):
        run_batch(nlp, tmp_path / "empty", out, overwrite=True, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    (out / "run.json").write_text("{not json", encoding="utf8")
    with pytest.raises(ClinicalNERError, match="E618"):
        run_batch(nlp, src, out, progress=False)


def test_cli_output_folder_problems_are_clear(tmp_path, model_dir):
    src = write_jsonl(tmp_path / "in.jsonl", [("a", "fever")])
    (tmp_path / "afile").write_text("x", encoding="utf8")
    for out in (tmp_path / "afile", tmp_path / "afile" / "sub"):
        result = CliRunner().invoke(load_commands(), ["annotate", str(src), str(out), "--model", str(model_dir), "--code", str(CODE)])
        assert result.exit_code == 2 and result.output.startswith("Error:") and "afile" in result.output


def test_folder_listing_leaves_nothing_out(tmp_path, nlp):
    src = tmp_path / "notes"
    src.mkdir()
    real = tmp_path / "elsewhere"
    real.mkdir()
    (real / "linked.txt").write_text("Severe cough.", encoding="utf8")
    (src / "UPPER.TXT").write_text("No fever.", encoding="utf8")
    (src / "shared").symlink_to(real, target_is_directory=True)
    (src / "loop").symlink_to(src, target_is_directory=True)  # followed once, no endless walk
    (src / "broken.txt").symlink_to(tmp_path / "gone.txt")
    (src / "self.txt").symlink_to(src / "self.txt")  # file links that lead back to themselves: a loop, not a broken link
    (src / "ping.txt").symlink_to(src / "pong.txt")
    (src / "pong.txt").symlink_to(src / "ping.txt")
    run_batch(nlp, src, tmp_path / "out", progress=False)
    records = {r["id"]: r for r in read_jsonl(tmp_path / "out" / JSONL_NAME)}
    assert set(records) == {"UPPER", "shared/linked", "broken", "self", "ping", "pong"}
    assert records["broken"]["error"]["code"] == "read_error" and "broken symbolic link" in records["broken"]["error"]["message"]
    for loop in ("self", "ping", "pong"):
        error = records[loop]["error"]
        assert error["code"] == "read_error" and "symbolic link loop" in error["message"] and "broken" not in error["message"], loop
    assert not records["UPPER"]["error"] and not records["shared/linked"]["error"]


def test_invalid_text_is_caught_at_input(tmp_path, nlp):
    """A lone surrogate escape in JSONL; a UTF-8 byte-order mark under another --encoding; a stray CSV quote."""
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "s", "text": "fever \\ud800 and pain"}\n{"id": "ok", "text": "No fever."}\n', encoding="utf8")
    summary = run_batch(nlp, src, tmp_path / "out", progress=False)
    records = {r["id"]: r for r in read_jsonl(tmp_path / "out" / JSONL_NAME)}
    assert records["s"]["error"]["code"] == "invalid_utf8" and "U+D800" in records["s"]["error"]["message"]
    assert summary["annotated"] == 1 and not records["ok"]["error"]
    notes = tmp_path / "bom"
    notes.mkdir()
    (notes / "x.txt").write_bytes(b"\xef\xbb\xbfCaf\xc3\xa9 patient has fever.")
    run_batch(nlp, notes, tmp_path / "bom_out", encoding="cp1252", progress=False)
    record = read_jsonl(tmp_path / "bom_out" / JSONL_NAME)[0]
    assert record["text_length"] == len("Café patient has fever.")
    assert [e["start"] for e in record["entities"] if e["text"] == "fever"] == [len("Café patient has ")]
    bad = tmp_path / "bad.csv"
    bad.write_text('id,text\n1,"Fever."\n2,"unterminated, chest pain\n3,"Headache."\n4,"Nausea."\n', encoding="utf8")
    run_batch(nlp, bad, tmp_path / "csv_out", progress=False)
    records = read_jsonl(tmp_path / "csv_out" / JSONL_NAME)
    assert [r["id"] for r in records if not r["error"]] == ["1", "4"]
    malformed = [r for r in records if r["error"]]
    assert len(malformed) == 1 and malformed[0]["error"]["code"] == "malformed_line"
    assert "Line 3 of bad.csv" in malformed[0]["error"]["message"] and "to line 4" in malformed[0]["error"]["message"]


def test_cli_user_errors_are_one_line(tmp_path):
    """python -m spacy_clinical_ner: a user error anywhere is one Error: line and exit code 2, no traceback."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('not json\n{"id": "ok", "text_length": 3, "entities": [], "relations": []}\n', encoding="utf8")
    commands = {
        "show": ["show", str(bad)],
        "init-linker": ["init-linker", str(tmp_path), str(tmp_path / "out")],
        "build-kb": ["build-kb", str(tmp_path / "kb"), "--source", "bogus"],
        "convert-pubtator": ["convert-pubtator", str(bad), str(tmp_path / "out.spacy")],
    }
    for name, args in commands.items():
        proc = subprocess.run(
            [sys.executable, "-m", "spacy_clinical_ner", *args], capture_output=True, text=True, env=subprocess_env(), timeout=120
        )
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, (name, proc.stderr)
        assert [line for line in proc.stderr.splitlines() if line.startswith("Error:")], (name, proc.stderr)
        if name == "show":  # the good line is still shown, the bad one named
            assert "== ok: 0 entities" in proc.stdout and "line 1 of" in proc.stderr


# ---------------------------------------------------------------------------- failing clean (issue 22)
def _launcher():
    script = Path(sys.executable).parent / "clinical-ner"
    return [str(script)] if script.exists() else [sys.executable, "-m", "spacy_clinical_ner"]


def test_one_run_per_output_folder(tmp_path, comp):
    """A second run into a folder in use stops with E630 (exit 2) and writes nothing; a killed run leaves no lock."""
    gate = tmp_path / "gate"
    slow = comp.save_pipeline(tmp_path / "slow_model", gate_file=str(gate), gate_after=5)
    notes = [(f"n{i:02d}", f"Visit {i}. Patient denies fever.") for i in range(20)]
    src = write_jsonl(tmp_path / "in.jsonl", notes)
    out = tmp_path / "out"
    args = ["annotate", str(src), str(out), "--model", str(slow), "--code", str(CODE), "--batch-size", "1", "--no-progress"]
    proc = subprocess.Popen(
        [*_launcher(), *args], env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    jsonl = out / JSONL_NAME
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if jsonl.exists() and jsonl.read_bytes().count(b"\n") >= 5:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        before = jsonl.read_bytes()
        second = CliRunner().invoke(load_commands(), args)
        assert second.exit_code == 2, second.output
        assert "E630" in second.output and f"process {proc.pid}" in second.output
        assert jsonl.read_bytes() == before  # the second run wrote nothing
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
    gate.touch()
    third = CliRunner().invoke(load_commands(), args)  # the lock died with its process
    assert third.exit_code == 0, third.output
    assert [r["id"] for r in read_jsonl(jsonl)] == [nid for nid, _ in notes]  # every note exactly once


def test_lock_is_held_for_the_run(tmp_path, nlp):
    from spacy_clinical_ner.io.batch import OutputLock

    src = write_jsonl(tmp_path / "in.jsonl", [("a", "No fever.")])
    out = tmp_path / "out"
    out.mkdir()
    with OutputLock(out), pytest.raises(ClinicalNERError, match="E630"):
        run_batch(nlp, src, out, progress=False)
    assert not (out / JSONL_NAME).exists()
    run_batch(nlp, src, out, progress=False)  # released
    assert [r["id"] for r in read_jsonl(out / JSONL_NAME)] == ["a"]


def test_exit_codes(tmp_path, model_dir):
    app = load_commands()
    base = ["--model", str(model_dir), "--code", str(CODE), "--no-progress"]
    good = write_jsonl(tmp_path / "good.jsonl", [("a", "No fever."), ("b", "Severe chest pain.")])
    result = CliRunner().invoke(app, ["annotate", str(good), str(tmp_path / "o1"), *base])
    assert result.exit_code == 0, result.output
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [("a", "No fever."), ("b", "   ")])
    result = CliRunner().invoke(app, ["annotate", str(mixed), str(tmp_path / "o2"), *base])
    assert result.exit_code == 1 and "empty_text 1" in result.output
    every_failed = write_jsonl(tmp_path / "bad.jsonl", [("a", ""), ("b", " ")])
    assert CliRunner().invoke(app, ["annotate", str(every_failed), str(tmp_path / "o3"), *base]).exit_code == 1
    for name, content in (("empty.jsonl", "\n\n"), ("empty.csv", "id,text\n"), ("nothing.csv", "")):
        (tmp_path / name).write_text(content, encoding="utf8")
        result = CliRunner().invoke(app, ["annotate", str(tmp_path / name), str(tmp_path / f"o_{name}"), *base])
        assert result.exit_code == 3 and "E631" in result.output, (name, result.output)
    help_text = CliRunner().invoke(app, ["annotate", "--help"]).output
    assert "Exit codes" in help_text and "E631" in help_text


def test_cli_encoding_utf16(tmp_path, model_dir):
    """``--encoding utf-16`` is a codec the command accepts: UTF-16 JSONL and CSV exports (with their
    byte-order mark, as Python and Excel write them) are annotated, exit code 0."""
    text = "Café patient: no fever."
    (tmp_path / "u16.jsonl").write_bytes((json.dumps({"id": "j", "text": text}, ensure_ascii=False) + "\n").encode("utf-16"))
    (tmp_path / "u16.csv").write_bytes(f'id,text\r\nc,"{text}"\r\n'.encode("utf-16"))
    for name in ("u16.jsonl", "u16.csv"):
        out = tmp_path / f"out_{name}"
        args = ["annotate", str(tmp_path / name), str(out), "--model", str(model_dir), "--code", str(CODE), "--no-progress"]
        result = CliRunner().invoke(load_commands(), [*args, "--encoding", "utf-16"])
        assert result.exit_code == 0, (name, result.output)
        (record,) = read_jsonl(out / JSONL_NAME)
        assert not record["error"] and record["entities"][0]["start"] == text.index("fever"), (name, record)


def test_jsonl_nested_too_deep_is_its_own_error(tmp_path, nlp):
    """A JSONL line that is valid JSON but nested deeper than the parser goes (a RecursionError, which
    used to stop the whole run) is that note's malformed_line record saying so (E636, not "invalid
    JSON"); the next lines are annotated."""
    deep = '{"id": "d", "text": "fever", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    src = tmp_path / "deep.jsonl"
    src.write_text(deep + "\n" + json.dumps({"id": "ok", "text": "No fever."}) + "\n", encoding="utf8")
    summary = run_batch(nlp, src, tmp_path / "out", progress=False)
    records = read_jsonl(tmp_path / "out" / JSONL_NAME)
    assert [r["id"] for r in records] == ["deep.jsonl:1", "ok"] and not records[1]["error"]
    error = records[0]["error"]
    assert error["code"] == "malformed_line" and "[E636]" in error["message"] and "nested too deep" in error["message"]
    assert "invalid JSON" not in error["message"]
    assert summary["error_codes"] == {"malformed_line": 1}


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32", "utf-32-be", "utf-8-sig"])
def test_byte_order_mark_in_every_input_kind(tmp_path, nlp, codec):
    import codecs as codecs_module

    text = "Café patient: no fever. Temp 38°C."
    bom = {"utf-16-be": codecs_module.BOM_UTF16_BE, "utf-32-be": codecs_module.BOM_UTF32_BE}.get(codec, b"")

    def encode(s: str) -> bytes:
        return bom + s.encode(codec)

    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "t.txt").write_bytes(encode(text))
    (tmp_path / "in.jsonl").write_bytes(encode(json.dumps({"id": "j", "text": text}, ensure_ascii=False) + "\n"))
    (tmp_path / "in.csv").write_bytes(encode('id,text\r\nc,"' + text + '"\r\n'))
    for name, source in (("t", folder), ("j", tmp_path / "in.jsonl"), ("c", tmp_path / "in.csv")):
        out = tmp_path / f"out_{name}"
        run_batch(nlp, source, out, progress=False)
        (record,) = read_jsonl(out / JSONL_NAME)
        assert record["id"] == name and not record["error"], record
        assert record["text_length"] == len(text) and record["entities"][0]["start"] == text.index("fever")


def test_utf16_file_cut_in_the_middle_loses_nothing(tmp_path, nlp):
    lines = [json.dumps({"id": f"n{i}", "text": "No fever."}) + "\n" for i in range(3)]
    (tmp_path / "cut.jsonl").write_bytes("".join(lines).encode("utf-16") + b"{")  # an odd last byte
    run_batch(nlp, tmp_path / "cut.jsonl", tmp_path / "out", progress=False)
    records = read_jsonl(tmp_path / "out" / JSONL_NAME)
    assert [r["id"] for r in records[:3]] == ["n0", "n1", "n2"] and not any(r["error"] for r in records[:3])
    assert len(records) == 4 and records[3]["error"]["code"] == "invalid_utf8" and "cut.jsonl:4" == records[3]["id"]
    (tmp_path / "cut.csv").write_bytes("id,text\nc1,No fever.\n".encode("utf-16") + b"x")
    run_batch(nlp, tmp_path / "cut.csv", tmp_path / "out_csv", progress=False)
    records = read_jsonl(tmp_path / "out_csv" / JSONL_NAME)
    assert [r["id"] for r in records][0] == "c1" and records[-1]["error"]["code"] == "invalid_utf8"


def test_output_file_names_are_safe_and_unique(tmp_path, nlp):
    from spacy_clinical_ner.io.batch import RESERVED_NAMES, safe_filename

    ids = ["index", "INDEX", "Index.html", ".hidden", "..", ".", "a/b", "a_b", "a\\b", "../../etc/passwd", "con", "nul.txt"]
    ids += ["x" * 200, "x" * 201, "", "trailing.", "ok-name_1.2", "ümlaut", "a b", "a_b#2"]
    names = [safe_filename(i) for i in ids]
    assert len(set(names)) == len(ids)
    for note_id, name in zip(ids, names, strict=True):
        assert name and not name.startswith(".") and not name.endswith(".") and "/" not in name and "\\" not in name
        assert name.split(".")[0].lower() not in RESERVED_NAMES and len(name) <= 140, (note_id, name)
    assert safe_filename("ok-name_1.2") == "ok-name_1.2"  # plain ids keep their name
    notes = [(i, f"Note {k}: no fever.") for k, i in enumerate(["index", ".hidden", "a/b", "a_b", "../up", "INDEX"])]
    src = write_jsonl(tmp_path / "in.jsonl", notes)
    out = tmp_path / "out"
    run_batch(nlp, src, out, formats="jsonl,fhir,brat,html", progress=False)
    html = sorted(p.name for p in (out / "html").iterdir())
    assert len(html) == len(notes) + 1 and not any(n.startswith(".") for n in html)
    assert "Note 0" not in (out / "html" / "index.html").read_text(encoding="utf8")  # the index is still the index
    assert len(list((out / "brat").glob("*.txt"))) == len(notes) and not (tmp_path / "up.txt").exists()
    for fmt, per_note in (("fhir", 1), ("brat", 2), ("html", 1)):  # no hidden file (an id starting with ".") in any format
        names = [p.name for p in (out / fmt).rglob("*")]
        assert not [n for n in names if n.startswith(".")] and len(names) >= per_note * len(notes), (fmt, names)


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.skipif(sys.platform != "linux", reason="signals and /proc as on Linux")
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "Ctrl-C"])
def test_interrupted_two_process_run_leaves_no_worker_and_resumes(tmp_path, comp, nlp, how):
    """kill -9 / SIGTERM of the main process, or Ctrl-C (SIGINT to the process group), while both workers
    of a --n-process 2 run wait: no worker survives, the run stops within seconds, the re-run is exact."""
    import psutil

    gate = tmp_path / "gate"  # each worker waits before its 4th note until this file exists
    slow = comp.save_pipeline(tmp_path / "slow_model", gate_file=str(gate), gate_after=3)
    notes = [(f"n{i:02d}", f"Visit {i}. Patient denies fever. Severe chest pain.") for i in range(24)]
    src = write_jsonl(tmp_path / "in.jsonl", notes)
    out = tmp_path / "out"
    args = ["annotate", str(src), str(out), "--model", str(slow), "--code", str(CODE), "--format", "jsonl,fhir"]
    args += ["--n-process", "2", "--batch-size", "1", "--no-progress"]
    proc = subprocess.Popen(
        [*_launcher(), *args], env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    jsonl = out / JSONL_NAME
    try:
        deadline = time.monotonic() + 240
        workers: list = []
        while time.monotonic() < deadline and proc.poll() is None:
            workers = [p.pid for p in psutil.Process(proc.pid).children()]
            if len(workers) == 2 and jsonl.exists() and jsonl.read_bytes().count(b"\n") >= 4:
                break
            time.sleep(0.05)
        assert proc.poll() is None and len(workers) == 2, proc.stderr.read().decode()[-2000:]
        time.sleep(0.3)  # both workers at the gate
        stopped = time.monotonic()
        if how == "Ctrl-C":
            os.killpg(proc.pid, signal.SIGINT)  # the terminal sends it to the whole foreground group
        else:
            os.kill(proc.pid, getattr(signal, how))  # the main process only
        rc = proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(_gone(pid) for pid in workers):
            time.sleep(0.05)
        took = time.monotonic() - stopped
        stderr = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        proc.stderr.close()
    assert all(_gone(pid) for pid in workers), (how, workers)
    assert took < 10, (how, took)
    if how == "SIGKILL":
        assert rc == -signal.SIGKILL
    else:
        assert rc == 130 and "run the same command again to resume" in stderr and "Traceback" not in stderr, (rc, stderr[-2000:])
    done_before = jsonl.read_bytes().count(b"\n")
    assert 4 <= done_before < len(notes)
    gate.touch()
    rerun = subprocess.run([*_launcher(), *args], env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    records = read_jsonl(jsonl)
    assert [r["id"] for r in records] == [nid for nid, _ in notes]  # each exactly once, in order
    for rec, (nid, text) in zip(records, notes, strict=True):
        assert rec == doc_to_record(nlp(text), nid)
