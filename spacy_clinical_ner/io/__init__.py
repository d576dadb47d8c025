"""Batch input and standard outputs: JSONL records, FHIR Bundles, BRAT standoff, displaCy HTML.

``run_batch`` is what ``clinical-ner annotate`` runs; ``doc_to_record`` is the one place
that turns an annotated Doc into the output schema (shared by the CLI, the REST service
and the Spark job).
"""

from .batch import FORMATS, annotate_notes, run_batch
from .inputs import Note, read_notes
from .model import DEFAULT_MODEL, DEFAULT_MODEL_PATH, load_pipeline, resolve_model
from .records import doc_to_record, error_record, load_schema

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_MODEL_PATH",
    "FORMATS",
    "Note",
    "annotate_notes",
    "doc_to_record",
    "error_record",
    "load_pipeline",
    "load_schema",
    "read_notes",
    "resolve_model",
    "run_batch",
]
