"""Numbered errors of the ConText components (range E3xx, see ``spacy_clinical_ner.errors``)."""

from ..errors import ClinicalNERError, ErrorsWithCodes


class ContextErrors(metaclass=ErrorsWithCodes):
    """Never renumber: users search for these codes (E3xx errors, W3xx warnings)."""

    E301 = "Invalid ConText rule {rule!r}: {reason}"
    E302 = "Rules file {path} could not be read: {reason}"
    E303 = "Unknown rules source {value!r} for '{name}': expected 'default', 'medspacy', 'none' or the path of a JSON/JSONL rules file"
    E304 = "Invalid configuration for '{name}': {reason}"
    W301 = (
        "Span group {key!r} is not set on the Doc, but '{name}' reads its targets from it (spans_key); "
        "those docs get no assertions. Set the group upstream, or use doc.ents (include_ents = true)."
    )
    E306 = "Invalid section rule {rule!r}: {reason}"
    E308 = "'{name}' reads ConText's cues from the component {context!r}, which is not in the pipeline ({available}). Add clinical_context before it, or set context = null."
    E309 = "'{name}' found no entities to train on in the first examples (spans_key={key!r}, {ignored} ignored labels). Check the corpus and the span group."
    E307 = "'{name}' was saved with a format this version cannot read: {reason}"


class ContextRuleError(ClinicalNERError):
    """A ConText or section rule that cannot be used, naming the rule and the reason."""
