"""Numbered errors of the linker (range E4xx, see ``spacy_clinical_ner.errors``)."""

from ..errors import ClinicalNERError, ErrorsWithCodes


class LinkingErrors(metaclass=ErrorsWithCodes):
    """Error messages of the UMLS linker. Never renumber: users search for these codes."""

    E401 = (
        "The knowledge base folder {path} is missing {what}. A knowledge base is written by "
        "`python -m spacy_clinical_ner build-kb ...` or `KnowledgeBase.to_disk`."
    )
    E402 = "Malformed {fmt} line in {path}, line {line}: {reason}. Line: {text!r}"
    E403 = (
        "Component 'umls_linker' has no knowledge base yet. Give it one in the config "
        '([initialize.components.{name}.kb], e.g. @misc = "spacy-clinical-ner.kb_from_disk.v1"), '
        "call `nlp.initialize()` / `linker.initialize(kb=...)`, or load a saved pipeline."
    )
    E404 = "Span group {key!r} does not exist on the Doc; the linker was configured with spans_key={key!r}."
    E405 = "Unknown knowledge base format {value!r}; expected one of {options}."
    E406 = (
        "The knowledge base format version {found} in {path} is not supported (this version reads {expected}). "
        "Rebuild it with this version (`python -m spacy_clinical_ner build-kb ...` or `spacy project run build-kb`) "
        "and assemble the pipeline again."
    )
    E407 = "Invalid linker setting {name}={value!r}: {reason}"
    E408 = "No concepts were read from {source}: {hint}"
    E409 = (
        "The UMLS folder {path} has no {what}. Point --path at a Metathesaurus META folder that holds "
        "MRCONSO.RRF and MRSTY.RRF (MRDEF.RRF is optional); unpack .gz/.zip files first{found}."
    )
    E410 = "Cannot read {path} ({reason}): the knowledge base or index folder is damaged. Rebuild it with build-kb."
    E411 = (
        "{path} looks like a dev or test split: dictionary expansion (--pubtator-aliases, read_pubtator_aliases) "
        "takes training splits only, or the evaluation on that split would be meaningless. Rename a training "
        "file whose name merely contains 'dev'/'test', or pass allow_held_out=True knowingly."
    )
    W401 = (
        "type_filter for label {label!r} names types the knowledge base does not have: {types}. Mentions with that label "
        "can only link to untyped concepts (keep_untyped). Types in the KB include: {known}"
    )


class KnowledgeBaseError(ClinicalNERError):
    """A knowledge base that cannot be read, built or used."""
