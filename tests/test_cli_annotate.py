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
    assert proc.returncode == 0, proc.stderr
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
    with pytest.raises(ClinicalNERError, match="E600"):
        run_batch(nlp, jsonl, tmp_path / "u16", encoding="utf-16", progress=False)
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
    run_batch(nlp, src, tmp_path / "out", progress=False)
    records = {r["id"]: r for r in read_jsonl(tmp_path / "out" / JSONL_NAME)}
    assert set(records) == {"UPPER", "shared/linked", "broken"}
    assert records["broken"]["error"]["code"] == "read_error" and "broken symbolic link" in records["broken"]["error"]["message"]
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
