"""Numbered errors and warnings of the relation extractor (range E5xx / W5xx)."""

from ..errors import ClinicalNERError, ErrorsWithCodes


class RelationErrors(metaclass=ErrorsWithCodes):
    """Never renumber: users search for these codes."""

    E501 = (
        "Component '{name}' is not initialised: it has no relation labels. Call nlp.initialize() "
        "with training examples whose reference docs carry doc._.relations, or pass labels in "
        "[initialize.components.{name}]"
    )
    E502 = "Unknown candidate scope {scope!r}; expected one of {options}"
    E503 = (
        "Candidate scope 'sentence' needs sentence boundaries, but doc {doc_id!r} has none. Add a "
        "'sentencizer' (or a parser / senter) before '{name}', or use scope 'window'"
    )
    E504 = "Unknown entity source {source!r}; expected 'ents' or 'spans:<key>'"
    E505 = "Unknown OVERLAP conversion {mode!r}; expected one of {options}"
    E506 = (
        "Relation record {index} of doc {doc_id!r} is malformed ({reason}). A record is "
        '{{"head": {{"start", "end", "label"}}, "tail": {{...}}, "label": str, "score": float}} '
        "with character offsets"
    )
    E507 = "Relation record offsets {start}-{end} do not fall on token boundaries of doc {doc_id!r} (length {length})"
    E508 = "Invalid value for {name}: {value!r} ({reason})"
    E509 = "Malformed MODIFY typing rules in {path}: {reason}"


class RelationWarnings(metaclass=ErrorsWithCodes):
    W501 = (
        "'{name}' got a training batch whose predicted docs hold no entities while the reference "
        "docs do: no candidate pairs, nothing is learned. Read the corpus with "
        "spacy-clinical-ner.RelationCorpus.v1 (gold_entities = true) or put an entity recognizer "
        "in [training.annotating_components]"
    )


class RelationError(ClinicalNERError):
    """A relation-extraction error with a numbered message."""
