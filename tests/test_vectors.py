"""``train-vectors``: floret vectors from unlabelled text, reproducible, keyed by the lower-cased token."""

import csv

import pytest
import spacy
import srsly
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_clinical_ner.cli import load_commands
from spacy_clinical_ner.errors import ClinicalNERError
from spacy_clinical_ner.readers.brat import docs_from_brat

PUBTATOR = "99999|t|Acute kidney injury after cisplatin\n99999|a|A 54-year-old man developed oliguria.\n99999\t0\t19\tAcute kidney injury\tDisease\tD058186\n\n"


def _write_notes(path, rows):
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["encounter_id", "dialogue", "note"])
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def sources(tmp_path, maccrobat_dir, nlp):
    docs = list(docs_from_brat(maccrobat_dir, nlp.make_doc, ids=["15939911"]))
    DocBin(docs=docs).to_disk(tmp_path / "train.spacy")
    (tmp_path / "abstracts.txt").write_text(PUBTATOR, encoding="utf-8")
    _write_notes(
        tmp_path / "notes.csv",
        [
            {
                "encounter_id": "D1",
                "dialogue": "[doctor] Any chest pain?\n[patient] No chest pain.",
                "note": "CHIEF COMPLAINT\n\nFollow-up of HTN.",
            },
            {"encounter_id": "D2", "dialogue": "", "note": "Denies fever."},
        ],
    )
    return tmp_path, docs[0]


def _run(*args):
    return CliRunner().invoke(load_commands(), ["train-vectors", *map(str, args)])


def test_train_vectors_builds_a_floret_pipeline_reproducibly(sources, tmp_path, nlp):
    src, doc = sources
    args = [
        "--docbin",
        src / "train.spacy",
        "--pubtator",
        src / "abstracts.txt",
        "--notes",
        src / "notes.csv",
        "--dim",
        8,
        "--epoch",
        10,  # one epoch over this tiny text can leave the subword rows at zero
        "--bucket",
        500,
        "--min-count",
        1,
    ]
    first = _run(tmp_path / "a", *args)
    assert first.exit_code == 0, first.output
    lines = (tmp_path / "a" / "text.txt").read_text(encoding="utf-8").splitlines()

    def tokenized(text):
        return " ".join(t.lower_ for t in nlp(text) if not t.is_space)

    # every source is in, tokenized and lower-cased; dialogue speaker tags are dropped, empty notes passed over
    assert lines[0] == tokenized(doc.text.split("\n")[0])
    assert tokenized("Acute kidney injury after cisplatin A 54-year-old man developed oliguria.") in lines
    assert {"no chest pain .", "denies fever .", tokenized("Follow-up of HTN.")} <= set(lines)
    assert not any("[doctor]" in line or "[patient]" in line for line in lines)
    vectors_nlp = spacy.load(tmp_path / "a" / "nlp")
    vectors = vectors_nlp.vocab.vectors
    assert vectors.mode == "floret" and vectors.shape == (500, 8)
    probe = vectors_nlp("Cisplatin cisplatin nephrotoxicity")
    assert (probe[0].vector == probe[1].vector).all()  # keyed by LOWER
    assert probe[2].has_vector and probe[2].vector.any()  # an unseen word gets subword vectors
    # the same input gives the same vectors
    second = _run(tmp_path / "b", *args)
    assert second.exit_code == 0, second.output
    assert (tmp_path / "a" / "vectors.floret").read_bytes() == (tmp_path / "b" / "vectors.floret").read_bytes()


def test_train_vectors_refuses_unreadable_notes_and_no_sources(sources, tmp_path):
    src, _ = sources
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b'encounter_id,note,dialogue\nD9,"caf\xe9 au lait spots",x\n')
    result = _run(tmp_path / "out", "--notes", bad, "--dim", 8, "--epoch", 1, "--bucket", 500)
    assert isinstance(result.exception, ClinicalNERError)
    assert "D9" in str(result.exception) and "bad.csv" in str(result.exception)
    assert _run(tmp_path / "out").exit_code == 2  # no source given


def test_project_vectors_never_read_the_reserved_aci_bench_test_files():
    """The three ACI-BENCH test files are kept for independent evaluation: not even their unlabelled text."""
    from pathlib import Path

    project = srsly.read_yaml(Path(__file__).resolve().parents[1] / "project.yml")
    (command,) = [c for c in project["commands"] if c["name"] == "vectors"]
    reads = " ".join(command["script"] + command["deps"])
    assert "aci_bench/train.csv" in reads and "aci_bench/valid.csv" in reads
    assert not any(name in reads for name in ("test1", "test2", "test3", "aci_bench ", 'aci_bench"'))
    assert not any(d.rstrip("/").endswith("aci_bench") for d in command["deps"])


def test_train_vectors_reads_each_csv_for_the_text_columns_it_has(sources, tmp_path):
    src, _ = sources
    mts = tmp_path / "mts.csv"
    with mts.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["ID", "section_header", "section_text", "dialogue"])
        writer.writeheader()
        writer.writerow({"ID": "0", "section_header": "GENHX", "section_text": "Knee pain for two weeks.", "dialogue": "Doctor: Any swelling?"})
    args = ["--notes", src / "notes.csv", "--notes", mts, "--dim", 8, "--epoch", 1, "--bucket", 500, "--min-count", 1]
    result = _run(tmp_path / "out", *args)
    assert result.exit_code == 0, result.output
    lines = set((tmp_path / "out" / "text.txt").read_text(encoding="utf-8").splitlines())
    assert {"knee pain for two weeks .", "denies fever ."} <= lines  # MTS-Dialog section_text and ACI-BENCH note
    none = tmp_path / "none.csv"
    none.write_text("ID,summary\n1,Nothing to read.\n", encoding="utf-8")
    assert _run(tmp_path / "out2", "--notes", none, "--dim", 8, "--epoch", 1, "--bucket", 500).exit_code != 0
