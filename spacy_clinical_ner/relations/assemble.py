"""Put a trained relation extractor behind a trained NER, as one self-contained pipeline.

The relation pipeline trained from ``configs/rel_*.cfg`` has its own embedding component
(``tok2vec`` or ``transformer``) that the extractor listens to. Sourcing the extractor
into another pipeline would leave its listener without that upstream, so its listener
is first replaced by a private copy of the embedding (``Language.replace_listeners``):
the NER keeps its own ``tok2vec`` and the relation extractor carries its own.
"""

from pathlib import Path
from typing import Union

import spacy
from spacy.language import Language

from .errors import RelationError, RelationErrors

REL_NAME = "clinical_relation_extractor"


def attach_relation_extractor(nlp: Language, rel_nlp: Union[Language, str, Path], name: str = REL_NAME) -> Language:
    """Add ``rel_nlp``'s relation extractor to the end of ``nlp`` (in place) and return ``nlp``."""
    if not isinstance(rel_nlp, Language):
        rel_nlp = spacy.load(rel_nlp)
    if REL_NAME not in rel_nlp.pipe_names:
        raise RelationError(
            RelationErrors.E508.format(name="rel_nlp", value=rel_nlp.pipe_names, reason=f"it has no '{REL_NAME}' component")
        )
    for upstream in ("tok2vec", "transformer"):
        if upstream in rel_nlp.pipe_names and REL_NAME in getattr(rel_nlp.get_pipe(upstream), "listening_components", []):
            rel_nlp.replace_listeners(upstream, REL_NAME, ["model.tok2vec"])
    nlp.add_pipe(REL_NAME, name=name, source=rel_nlp)
    return nlp
