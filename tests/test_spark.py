"""PySpark integration in local mode: DataFrame in, ``annotation`` column out, the CLI's records.

One Spark session for the module (start-up is the slow part)."""

import json
import os
import sys
from pathlib import Path

import pytest

from spacy_clinical_ner.io.batch import JSONL_NAME, run_batch
from spacy_clinical_ner.io.records import load_schema

REPO = Path(__file__).resolve().parents[1]
from conftest import SURFACE_CODE as CODE  # noqa: E402

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark():
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    pytest.importorskip("pyspark", reason="the [spark] extra is not installed")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("spacy-clinical-ner-test")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_spark_matches_cli(spark, comp, tmp_path):
    from jsonschema import Draft202012Validator

    from spacy_clinical_ner.spark import annotate_dataframe, parse_annotations

    model = comp.save_pipeline(tmp_path / "model")
    rows = [(nid, text, i) for i, (nid, text) in enumerate(comp.NOTES.items())]
    rows += [("null-text", None, 10), ("blank", "  ", 11), ("long", "fever " * 100, 12), (None, "Severe cough.", 13)]
    rows += [(f"bulk-{i}", f"Visit {i}: no fever, takes aspirin 81 mg.", 20 + i) for i in range(40)]
    df = spark.createDataFrame(rows, "id STRING, text STRING, visit INT")  # 2 partitions (local[2])
    out = annotate_dataframe(df, model=str(model), code_path=str(CODE), max_chars=300, batch_rows=16).cache()
    assert out.columns == ["id", "text", "visit", "annotation"]
    got = {r["visit"]: (r["id"], json.loads(r["annotation"])) for r in out.collect()}
    assert len(got) == len(rows)  # every row, none lost

    # The CLI on the same notes gives the same records.
    src = tmp_path / "in.jsonl"
    with open(src, "w", encoding="utf8") as fh:
        for nid, text, _ in rows:
            if nid is not None:
                fh.write(json.dumps({"id": nid, "text": text}) + "\n")
    import spacy

    run_batch(spacy.load(model), src, tmp_path / "out", max_chars=300, progress=False)
    with open(tmp_path / "out" / JSONL_NAME, encoding="utf8") as fh:
        cli = {r["id"]: r for r in map(json.loads, fh)}
    validator = Draft202012Validator(load_schema())
    for nid, record in got.values():
        validator.validate(record)
        if nid is None:
            assert record["id"].startswith("null-id:") and record["entities"][0]["text"] == "Severe"
        else:
            assert record == cli[nid]
    codes = {nid: (rec["error"] or {}).get("code") for nid, rec in got.values() if nid in ("null-text", "blank", "long", "n1")}
    assert codes == {"null-text": "missing_text", "blank": "empty_text", "long": "too_long", "n1": None}

    parsed = parse_annotations(out).where("id = 'n1'").select("parsed.entities").first()[0]
    assert [(e["text"], e["is_negated"], e["cui"]) for e in parsed][:2] == [("fever", True, "C0015967"), ("severe", False, None)]
    assert parsed[0]["candidates"][0][0] == "C0015967"


def test_spark_nulls_typed_labels_and_bad_columns(spark, comp, tmp_path):
    """A null in a numeric id column gets a generated id (not a failed job); typed relation labels
    parse; a missing or non-string column, or an existing annotation column, is refused before the
    job runs."""
    from spacy_clinical_ner.errors import ClinicalNERError
    from spacy_clinical_ner.spark import annotate_dataframe, parse_annotations

    model = str(comp.save_pipeline(tmp_path / "model"))
    text = comp.NOTES["n1"]
    df = spark.createDataFrame([(1, text), (None, text), (3, text)], "id BIGINT, text STRING")
    out = annotate_dataframe(df, model=model, code_path=str(CODE))
    rows = [(r["id"], json.loads(r["annotation"])) for r in out.collect()]
    assert [nid for nid, _ in rows] == [1, None, 3]
    assert rows[0][1]["id"] == "1" and rows[1][1]["id"].startswith("null-id:")
    assert [rec["error"] for _, rec in rows] == [None, None, None]
    parsed = parse_annotations(out).where("id = 1").select("parsed.relations").first()[0]
    assert parsed and all(r["typed_label"] for r in parsed)
    with pytest.raises(ClinicalNERError, match="E621"):
        annotate_dataframe(df.withColumnRenamed("id", "note_id"), model=model)
    with pytest.raises(ClinicalNERError, match="E622"):
        annotate_dataframe(spark.createDataFrame([("a", 1)], "id STRING, text INT"), model=model)
    with pytest.raises(ClinicalNERError, match="E623"):
        annotate_dataframe(spark.createDataFrame([("a", "x", "old")], "id STRING, text STRING, annotation STRING"), model=model)


def test_pandas_batches_honour_max_chars_and_nullable_ids(comp):
    """The executor function: ``max_chars`` above the pipeline's ``max_length`` raises it (as the CLI
    does) instead of being capped; pandas' nullable columns (``pd.NA``) give generated ids."""
    pd = pytest.importorskip("pandas", reason="the [spark] extra is not installed")

    from spacy_clinical_ner import spark as spark_module

    nlp = comp.build_pipeline()
    nlp.max_length = 40
    key = ("in-memory-test", None)
    spark_module._PIPELINES[key] = nlp
    try:
        pdf = pd.DataFrame({"id": pd.array(["a", pd.NA, "c"], dtype="string"), "text": ["No fever. " * 6, "Severe cough.", "x" * 200]})
        kwargs = dict(model=key[0], code_path=None, id_col="id", text_col="text", batch_size=4)
        (out,) = spark_module._annotate_pandas(iter([pdf]), max_chars=100, **kwargs)
        records = [json.loads(r) for r in out["annotation"]]
        assert [r["id"] for r in records][0] == "a" and records[1]["id"].startswith("null-id:")
        assert [(r["error"] or {}).get("code") for r in records] == [None, None, "too_long"]
        assert nlp.max_length == 100
    finally:
        spark_module._PIPELINES.pop(key, None)


def test_spark_note_over_budget(spark, comp, tmp_path):
    """In a Spark job, a note the pipeline works on for longer than ``budget_s`` (a component that
    would run 300 s) gets an over_budget record; the other rows of its partition and of the other
    partition are annotated, none lost. (Without the budget this test would take 300 s.)"""
    from spacy_clinical_ner.spark import annotate_dataframe

    model = str(comp.save_pipeline(tmp_path / "stall_model", stall=True))
    rows = [(f"n{i}", "STALL_ME fever" if i == 1 else f"Visit {i}: no fever.") for i in range(6)]
    df = spark.createDataFrame(rows, "id STRING, text STRING")  # 2 partitions: n1 is in the first, with n0 and n2
    out = annotate_dataframe(df, model=model, code_path=str(CODE), budget_s=0.5, batch_rows=2)
    got = {r["id"]: json.loads(r["annotation"]) for r in out.collect()}
    assert sorted(got) == [nid for nid, _ in rows]
    assert {nid: (rec["error"] or {}).get("code") for nid, rec in got.items()} == {
        f"n{i}": "over_budget" if i == 1 else None for i in range(6)
    }
    assert "budget of 0.5 s" in got["n1"]["error"]["message"]
    assert all(len(rec["entities"]) == 1 for nid, rec in got.items() if nid != "n1")


def test_pandas_batches_over_budget_note_gives_the_cli_record(tmp_path, comp):
    """The executor function with a budget: the note over it gets the very record the CLI writes
    for it (same code: ``io.batch.annotate_notes``), the notes after it in the partition, in the
    same and the next Arrow batch, are annotated as by the CLI."""
    pd = pytest.importorskip("pandas", reason="the [spark] extra is not installed")

    from spacy_clinical_ner import spark as spark_module

    nlp = comp.build_pipeline(stall=True)
    key = ("in-memory-stall-test", None)
    spark_module._PIPELINES[key] = nlp
    notes = [("a", "No fever."), ("s", "fever STALL_ME"), ("b", "Mild cough."), ("c", "Severe cough.")]
    try:
        pdf = pd.DataFrame({"id": [nid for nid, _ in notes], "text": [text for _, text in notes]})
        kwargs = dict(model=key[0], code_path=None, id_col="id", text_col="text", batch_size=4, max_chars=None)
        out = list(spark_module._annotate_pandas(iter([pdf[:3], pdf[3:]]), budget_s=0.5, **kwargs))
    finally:
        spark_module._PIPELINES.pop(key, None)
    records = [json.loads(r) for batch in out for r in batch["annotation"]]
    assert [(r["id"], (r["error"] or {}).get("code")) for r in records] == [("a", None), ("s", "over_budget"), ("b", None), ("c", None)]

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": nid, "text": text}) + "\n" for nid, text in notes), encoding="utf8")
    run_batch(nlp, src, tmp_path / "out", budget_s=0.5, progress=False)
    with open(tmp_path / "out" / JSONL_NAME, encoding="utf8") as fh:
        assert records == [json.loads(line) for line in fh]


def test_spark_budget_is_documented_with_the_cli_default():
    """``annotate_dataframe(budget_s=...)`` defaults to the budget of ``clinical-ner annotate`` and
    ``serve`` (``io.budget.DEFAULT_BUDGET_S``), and its docstring says what it does."""
    import inspect

    from spacy_clinical_ner.cli.annotate import annotate_cli
    from spacy_clinical_ner.cli.serve import serve_cli
    from spacy_clinical_ner.io.budget import DEFAULT_BUDGET_S
    from spacy_clinical_ner.spark import _annotate_pandas, annotate_dataframe

    assert inspect.signature(annotate_dataframe).parameters["budget_s"].default == DEFAULT_BUDGET_S
    assert inspect.signature(_annotate_pandas).parameters["budget_s"].default == DEFAULT_BUDGET_S
    for command in (annotate_cli, serve_cli):  # typer options: the default is the OptionInfo's
        assert inspect.signature(command).parameters["budget_s"].default.default == DEFAULT_BUDGET_S
    assert "``budget_s``" in annotate_dataframe.__doc__ and "over_budget" in annotate_dataframe.__doc__
