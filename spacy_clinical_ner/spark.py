"""Scale-out on Apache Spark: a DataFrame of notes in, an ``annotation`` column out.

    from pyspark.sql import SparkSession
    from spacy_clinical_ner.spark import annotate_dataframe

    spark = SparkSession.builder.master("local[2]").getOrCreate()
    notes = spark.read.json("notes.jsonl")                 # columns id, text
    out = annotate_dataframe(notes, model="en_clinical_ner_cnn")
    out.select("id", "annotation").write.text("annotations")   # one JSON record per row

The ``annotation`` column holds the record ``clinical-ner annotate`` writes
(``spacy_clinical_ner/io/resources/annotation.schema.json``); a bad note (null, empty or
over-long text, null id) gets an error record, never an exception that fails the job. The
pipeline spends at most ``budget_s`` seconds on a note (``io.budget``, the default of
``clinical-ner annotate --budget-s``, 0 or None: no limit): a note over it is stopped and gets
the CLI's ``over_budget`` error record, and the other notes of its partition are annotated, so
one note never stalls a partition. Ids
are the id column's values as they are (the CLI renames repeated ids ``x#2``; rows here keep
their other columns, so repeated ids stay told apart by them). A missing id or text column,
a text column that is not a string, or an existing ``annotation`` column is refused before
the job starts.
``parse_annotations`` turns the column into a typed struct (``annotation_schema()``).

How it runs: ``DataFrame.mapInPandas`` (Arrow batches of ``batch_rows`` rows) calls
``nlp.pipe`` on each batch. The pipeline is loaded once per Python worker process and
cached there (Spark reuses its Python workers, ``spark.python.worker.reuse=true``, the
default), not once per batch or row. Every executor must be able to load ``model``: an
installed pipeline package, or a folder on a path every executor sees.
"""

from typing import Any, Dict, Iterator, Tuple

from .errors import missing_extra
from .io.budget import DEFAULT_BUDGET_S
from .io.records import dumps

#: Cache of loaded pipelines in this (executor) process, keyed by (model, code_path).
_PIPELINES: Dict[Tuple[str | None, str | None], Any] = {}

ANNOTATION_COLUMN = "annotation"


def _require_spark(what: str) -> None:
    """E619 (naming the ``[spark]`` extra) unless pyspark and what ``mapInPandas`` needs are installed."""
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
        import pyspark  # noqa: F401
    except ModuleNotFoundError as err:  # pip install 'spacy-clinical-ner[spark]'
        raise missing_extra(what, err) from None


def annotation_schema():
    """Spark SQL type of a parsed record (``candidates`` scores arrive as strings: a Spark
    array holds one type)."""
    _require_spark("spacy_clinical_ner.spark.annotation_schema")
    from pyspark.sql.types import ArrayType, BooleanType, DoubleType, IntegerType, StringType, StructField, StructType

    def struct(**fields):
        return StructType([StructField(name, dtype, True) for name, dtype in fields.items()])

    string, integer = StringType(), IntegerType()
    cue = struct(text=string, start=integer, end=integer, category=string, rule=string)
    entity = struct(
        text=string,
        label=string,
        start=integer,
        end=integer,
        assertion=string,
        is_negated=BooleanType(),
        is_uncertain=BooleanType(),
        is_historical=BooleanType(),
        is_hypothetical=BooleanType(),
        is_family=BooleanType(),
        cue=cue,
        cues=ArrayType(cue),
        cui=string,
        concept_id=string,
        concept_system=string,
        concept_name=string,
        candidates=ArrayType(ArrayType(string)),
        confidence=DoubleType(),
    )
    return struct(
        id=string,
        text_length=integer,
        entities=ArrayType(entity),
        relations=ArrayType(struct(head=integer, tail=integer, label=string, typed_label=string, score=DoubleType())),
        triples=ArrayType(ArrayType(string)),
        error=struct(code=string, message=string),
    )


def get_pipeline(model: str | None = None, code_path: str | None = None):
    """The pipeline for ``model``, loaded at most once per process."""
    key = (model, code_path)
    if key not in _PIPELINES:
        from .io.model import load_pipeline

        _PIPELINES[key] = load_pipeline(model, code_path=code_path)
    return _PIPELINES[key]


def _annotate_pandas(
    batches: Iterator[Any],
    *,
    model: str | None,
    code_path: str | None,
    id_col: str,
    text_col: str,
    batch_size: int,
    max_chars: int | None,
    budget_s: float | None = DEFAULT_BUDGET_S,
) -> Iterator[Any]:
    """``mapInPandas`` function: pandas batches in, the same rows plus ``annotation`` out.
    ``budget_s`` as in ``io.batch.annotate_notes`` (which does the work, as for the CLI)."""
    from .io.batch import annotate_notes
    from .io.inputs import Note, check_note

    nlp = get_pipeline(model, code_path)
    limit = max_chars or nlp.max_length
    if limit > nlp.max_length:  # as run_batch: a raised limit raises spaCy's memory guard with it
        nlp.max_length = limit
    try:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        partition = ctx.partitionId() if ctx is not None else 0
    except ImportError:  # pragma: no cover - only without pyspark
        partition = 0
    row = 0
    for pdf in batches:
        notes = []
        for note_id, text in zip(pdf[id_col].tolist(), pdf[text_col].tolist(), strict=True):
            row += 1
            nid = f"null-id:{partition}:{row}" if _is_null(note_id) else str(note_id)
            if not isinstance(text, str):
                notes.append(Note(nid, error="missing_text", details={"field": text_col}, source=f"partition {partition}"))
            else:
                notes.append(check_note(Note(nid, text=text, source=f"partition {partition}"), limit))
        records = [dumps(r.record) for r in annotate_notes(nlp, notes, n_process=1, batch_size=batch_size, budget_s=budget_s or None)]
        yield pdf.assign(**{ANNOTATION_COLUMN: records})


def _is_null(value: Any) -> bool:
    """None, NaN, pandas' NA / NaT (nullable integer and string columns hold ``pd.NA``)."""
    if value is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value)) if pd.api.types.is_scalar(value) else False
    except (TypeError, ValueError):
        return False


def annotate_dataframe(
    df,
    *,
    model: str | None = None,
    code_path: str | None = None,
    id_col: str = "id",
    text_col: str = "text",
    batch_size: int = 16,
    batch_rows: int = 256,
    max_chars: int | None = None,
    budget_s: float | None = DEFAULT_BUDGET_S,
):
    """``df`` with an ``annotation`` column (the JSON record of each row's note).

    ``budget_s``: seconds of pipeline work per note (default ``io.budget.DEFAULT_BUDGET_S``, as
    ``clinical-ner annotate --budget-s``; 0 or None: no limit). A note over it gets an
    ``over_budget`` error record and the rest of its partition goes on.

    ``model`` defaults to ``$CLINICAL_NER_MODEL`` / ``io.model.DEFAULT_MODEL`` as seen by
    the executors; pass an absolute path or a package name. ``batch_rows`` sets the session's
    ``spark.sql.execution.arrow.maxRecordsPerBatch`` (a session setting, read when a job runs:
    it stays set for later Arrow jobs of the session).
    """
    _require_spark("spacy_clinical_ner.spark.annotate_dataframe")
    from pyspark.sql.types import StringType, StructField, StructType

    from .errors import ClinicalNERError, Errors

    fields = {f.name: f for f in df.schema.fields}
    for option, column in (("id_col", id_col), ("text_col", text_col)):
        if column not in fields:
            raise ClinicalNERError(Errors.E621.format(column=column, option=option, columns=list(fields)))
    if not isinstance(fields[text_col].dataType, StringType):
        raise ClinicalNERError(Errors.E622.format(column=text_col, dtype=fields[text_col].dataType.simpleString()))
    if ANNOTATION_COLUMN in fields:
        raise ClinicalNERError(Errors.E623.format(column=ANNOTATION_COLUMN))
    spark = df.sparkSession
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
    schema = StructType(list(df.schema.fields) + [StructField(ANNOTATION_COLUMN, StringType(), nullable=False)])
    model = str(model) if model is not None else None
    code_path = str(code_path) if code_path is not None else None

    def annotate(batches):
        return _annotate_pandas(
            batches,
            model=model,
            code_path=code_path,
            id_col=id_col,
            text_col=text_col,
            batch_size=batch_size,
            max_chars=max_chars,
            budget_s=budget_s,
        )

    return df.mapInPandas(annotate, schema=schema)


def parse_annotations(df, column: str = ANNOTATION_COLUMN, into: str = "parsed"):
    """Add a struct column ``into`` parsed from the JSON ``column`` (``annotation_schema()``)."""
    _require_spark("spacy_clinical_ner.spark.parse_annotations")
    from pyspark.sql import functions as F

    return df.withColumn(into, F.from_json(F.col(column), annotation_schema()))
