"""Numbered, explained errors and warnings (in the style of ``spacy.errors``)."""


class Errors:
    """Error messages. Never renumber: users search for these codes."""

    # readers / corpus (E0xx)
    E001 = "Malformed BRAT annotation in {path}, line {line}: {reason}. Line: {text!r}"
    E002 = "Missing file: {path}. {hint}"
    E003 = "BRAT annotation {ann_id} in {path}, line {line} refers to unknown id {ref!r}"
    E004 = "Text file {path} is not valid UTF-8 (byte {pos}): {reason}"
    E005 = "Malformed PubTator line in {path}, line {line}: {reason}. Line: {text!r}"
    E006 = "Offsets {start}-{end} of annotation {ann_id} in {path} lie outside the text (length {length})"
    E007 = "No documents found in {path} (looked for {pattern})"
    # components (E1xx)
    E101 = "Component '{name}' is not initialised: {hint}"
    E102 = "Invalid configuration for '{name}': {reason}"
    E103 = "Unknown {what} {value!r}; expected one of {options}"
    # input / batch (E2xx)
    E201 = "Input {input_id!r}: {reason}"


class Warnings:
    W001 = (
        "{count} BRAT annotation(s) in {path} could not be placed on token boundaries "
        "and were snapped outwards ({expanded}) or left out of doc.ents ({dropped})"
    )


class ClinicalNERError(ValueError):
    """Base error of spacy-clinical-ner (a ValueError, like spaCy's own config errors)."""


class BratFormatError(ClinicalNERError):
    """A ``.ann`` line that cannot be parsed, naming the file and the line."""


class PubTatorFormatError(ClinicalNERError):
    """A PubTator line that cannot be parsed, naming the file and the line."""
