"""Custom attributes shared by the components, installed idempotently.

Everything stored here is plain, msgpack-safe data (str, int, float, bool, list, dict)
so that it survives ``DocBin`` and ``nlp.pipe(n_process=...)``.
"""

from functools import partial

from spacy.tokens import Doc

#: Raw, resolved BRAT standoff (entities with fragments and attributes, relations,
#: n-ary groups, notes, alignment report). Written by the BRAT reader.
BRAT_ATTR = "brat"
#: Relation records ``{"head": {"start", "end", "label"}, "tail": {...}, "label", "score"}``
#: with character offsets. Gold relations from the reader, predictions from
#: ``clinical_relation_extractor``.
RELATIONS_ATTR = "relations"
#: Span group that holds *all* entities, overlapping and discontinuous ones included.
ALL_ENTITIES_KEY = "entities"


def _get_list(key: tuple, doc: Doc) -> list:
    value = doc.user_data.setdefault(key, [])
    if not isinstance(value, list):
        # Doc.from_bytes / DocBin decode msgpack arrays as tuples
        value = doc.user_data[key] = list(value)
    return value


def _set_list(key: tuple, doc: Doc, value: list) -> None:
    doc.user_data[key] = list(value) if value is not None else []


def _user_data_list(name: str):
    """Getter/setter pair keeping a *per-doc* list in ``doc.user_data``.

    A plain ``default=[]`` would be one list shared by every Doc. The key is the one
    spaCy's ``Underscore`` uses, so ``DocBin(store_user_data=True)`` and
    ``Doc.to_bytes`` carry the value like any other extension. Partials of module-level
    functions, not closures: spaCy pickles the extensions for ``nlp.pipe(n_process=2)``
    when worker processes are spawned (macOS, Windows).
    """
    key = ("._.", name, None, None)
    return partial(_get_list, key), partial(_set_list, key)


def install_doc_extensions() -> None:
    """Register the Doc-level extensions (safe to call many times)."""
    if not Doc.has_extension(BRAT_ATTR):
        Doc.set_extension(BRAT_ATTR, default=None)
    if not Doc.has_extension(RELATIONS_ATTR):
        getter, setter = _user_data_list(RELATIONS_ATTR)
        Doc.set_extension(RELATIONS_ATTR, getter=getter, setter=setter)
