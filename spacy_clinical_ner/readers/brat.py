"""BRAT standoff (``.txt`` + ``.ann``) to spaCy ``Doc`` objects, and back.

What ends up on the Doc (see ``docs_from_brat``):

* ``doc.ents`` – a *non-overlapping* selection of the continuous entities. Policy:
  longest span first, ties broken by the earlier start (``spacy.util.filter_spans``);
  discontinuous entities are left out of ``doc.ents`` (their covering span would teach
  the NER words that are not part of the entity).
* ``doc.spans["entities"]`` – *all* entities, overlapping and discontinuous ones
  included (a discontinuous entity as its covering span; the fragments are kept in
  ``doc._.brat``). ``span.id_`` is the BRAT id (``T12``).
* ``doc._.relations`` – binary relations (``R`` lines) as plain records with character
  offsets (see :mod:`spacy_clinical_ner.extensions`).
* ``doc._.brat`` – the resolved standoff: entities (with fragments, event ids and
  attributes such as ``POLARITY``), relations, n-ary groups (``OVERLAP``), annotator
  notes and an alignment report. Events (``E`` lines) are resolved to their trigger
  ``T`` spans, so relations and attributes always point at ``T`` ids.

Offsets are Unicode code points into the ``.txt`` read as UTF-8 without newline
translation. An annotation that does not fall on token boundaries is snapped outwards
to the nearest tokens (``expanded``) or, if even that fails, kept only in
``doc._.brat`` (``unplaced``); both are counted in ``doc._.brat["alignment"]`` and
logged, never dropped silently.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from ..concepts import ConceptId
from ..context.attributes import BOOL_ATTRS
from ..errors import BratFormatError, ClinicalNERError, Errors, Warnings
from ..extensions import ALL_ENTITIES_KEY, BRAT_ATTR, RELATIONS_ATTR, install_doc_extensions
from ..spans import trimmed_offsets

logger = logging.getLogger(__name__)

_OFFSETS_RE = re.compile(r"^\d+ \d+(;\d+ \d+)*$")
_ID_RE = re.compile(r"^(\*|[A-Za-z#]\d*)$")


@dataclass
class BratEntity:
    id: str
    label: str
    fragments: List[Tuple[int, int]]
    text: str
    line: int

    @property
    def start(self) -> int:
        return min(s for s, _ in self.fragments)

    @property
    def end(self) -> int:
        return max(e for _, e in self.fragments)


@dataclass
class BratDocument:
    """The parsed content of one ``.ann`` file, ids resolved to ``T`` ids."""

    doc_id: str
    text: str
    entities: Dict[str, BratEntity] = field(default_factory=dict)
    events: Dict[str, str] = field(default_factory=dict)  # E id -> trigger T id
    event_labels: Dict[str, str] = field(default_factory=dict)
    relations: List[dict] = field(default_factory=list)
    groups: List[dict] = field(default_factory=list)
    attributes: List[dict] = field(default_factory=list)
    notes: List[dict] = field(default_factory=list)
    normalizations: List[dict] = field(default_factory=list)


def read_text(path: Union[str, Path]) -> str:
    """Read a UTF-8 text file without newline translation (offsets stay exact)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(Errors.E002.format(path=path, hint="Each .ann needs its .txt beside it."))
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ClinicalNERError(Errors.E004.format(path=path, pos=err.start, reason=err.reason)) from err
    # A byte-order mark is not part of the annotated text.
    return text[1:] if text.startswith("\ufeff") else text


def parse_ann(ann_text: str, text: str, *, path: Union[str, Path] = "<string>", doc_id: str = "") -> BratDocument:
    """Parse the content of a ``.ann`` file against its text.

    Raises ``BratFormatError`` naming the file and line for anything malformed:
    bad offsets, offsets outside the text, a ``T`` line whose text is not the text at its
    offsets (compared with whitespace collapsed, fragments joined by a space as brat writes
    them: a shifted offset or an ``.ann`` paired with the wrong ``.txt``), unknown ids,
    unknown line types. Lines end at ``\n`` only (``\r\n`` too): other Unicode line
    separators (U+2028, form feed ...) are text, as in brat.
    """
    bdoc = BratDocument(doc_id=doc_id or Path(str(path)).stem, text=text)
    pending_refs: List[Tuple[int, str, str, str]] = []  # (line, ann_id, ref, raw line)

    def fail(line_no: int, line: str, reason: str) -> BratFormatError:
        return BratFormatError(Errors.E001.format(path=path, line=line_no, reason=reason, text=line))

    for line_no, raw in enumerate(ann_text.split("\n"), start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line.strip():
            continue
        ann_id, sep, rest = line.partition("\t")
        if not sep or not _ID_RE.match(ann_id):
            raise fail(line_no, line, "expected a tab after the annotation id (e.g. 'T12<TAB>...')")
        kind = ann_id[:1]
        if kind == "T":
            parts = rest.split("\t", 1)
            type_and_offsets = parts[0]
            label, _, offsets = type_and_offsets.partition(" ")
            if not label or not _OFFSETS_RE.match(offsets):
                raise fail(line_no, line, "expected 'Type start end[;start end]'")
            fragments = []
            for frag in offsets.split(";"):
                s, e = (int(x) for x in frag.split(" "))
                if not 0 <= s <= e <= len(text):
                    raise fail(line_no, line, f"offsets {s}-{e} lie outside the text (length {len(text)})")
                if s == e:
                    raise fail(line_no, line, f"empty fragment {s}-{e}")
                fragments.append((s, e))
            if ann_id in bdoc.entities:
                raise fail(line_no, line, f"duplicate id {ann_id}")
            ann_span_text = parts[1] if len(parts) > 1 else ""
            covered = " ".join(text[s:e] for s, e in fragments)
            if ann_span_text.strip() and ann_span_text.split() != covered.split():
                raise fail(line_no, line, f"its text does not match the text at offsets {offsets}, {covered[:80]!r}")
            bdoc.entities[ann_id] = BratEntity(ann_id, label, fragments, ann_span_text, line_no)
        elif kind == "E":
            args = rest.split()
            if not args or ":" not in args[0]:
                raise fail(line_no, line, "expected 'Type:Tn [Role:Id ...]'")
            ev_type, trigger = args[0].split(":", 1)
            bdoc.events[ann_id] = trigger
            bdoc.event_labels[ann_id] = ev_type
            pending_refs.append((line_no, ann_id, trigger, line))
            for arg in args[1:]:
                if ":" not in arg:
                    raise fail(line_no, line, f"event argument {arg!r} is not 'Role:Id'")
                role, ref = arg.split(":", 1)
                bdoc.relations.append(
                    {"id": ann_id, "label": role.rstrip("0123456789"), "head": trigger, "tail": ref, "line": line_no, "from_event": True}
                )
                pending_refs.append((line_no, ann_id, ref, line))
        elif kind == "R":
            args = rest.split("\t")[0].split()
            if len(args) != 3 or not all(":" in a for a in args[1:]):
                raise fail(line_no, line, "expected 'TYPE Arg1:X Arg2:Y'")
            refs = dict(a.split(":", 1) for a in args[1:])
            if len(refs) != 2:
                raise fail(line_no, line, "a relation needs two distinct argument roles")
            (role1, head), (role2, tail) = list(refs.items())
            bdoc.relations.append({"id": ann_id, "label": args[0], "head": head, "tail": tail, "line": line_no})
            pending_refs.extend([(line_no, ann_id, head, line), (line_no, ann_id, tail, line)])
        elif kind == "*":
            args = rest.split()
            if len(args) < 3:
                raise fail(line_no, line, "an equivalence line needs a type and at least two members")
            bdoc.groups.append({"label": args[0], "members": args[1:], "line": line_no})
            pending_refs.extend((line_no, "*", ref, line) for ref in args[1:])
        elif kind in ("A", "M"):
            args = rest.split()
            if len(args) not in (2, 3):
                raise fail(line_no, line, "expected 'NAME Target [Value]'")
            value = args[2] if len(args) == 3 else True
            bdoc.attributes.append({"id": ann_id, "name": args[0], "target": args[1], "value": value, "line": line_no})
            pending_refs.append((line_no, ann_id, args[1], line))
        elif kind == "#":
            parts = rest.split("\t", 1)
            head = parts[0].split()
            if len(head) != 2:
                raise fail(line_no, line, "expected 'AnnotatorNotes Target<TAB>text'")
            bdoc.notes.append({"id": ann_id, "type": head[0], "target": head[1], "text": parts[1] if len(parts) > 1 else ""})
            pending_refs.append((line_no, ann_id, head[1], line))
        elif kind == "N":
            parts = rest.split("\t", 1)
            head = parts[0].split()
            if len(head) != 3 or ":" not in head[2]:
                raise fail(line_no, line, "expected 'Reference Target DB:ID<TAB>text'")
            db, _, db_id = head[2].partition(":")
            bdoc.normalizations.append({"id": ann_id, "target": head[1], "db": db, "db_id": db_id})
            pending_refs.append((line_no, ann_id, head[1], line))
        else:
            raise fail(line_no, line, f"unknown annotation type {kind!r}")

    # Resolve references only now: BRAT allows forward references.
    other_ids = {r["id"] for r in bdoc.relations} | {a["id"] for a in bdoc.attributes}
    for line_no, ann_id, ref, _line in pending_refs:
        if ann_id.startswith("#") and ref in other_ids:
            continue  # annotator notes may comment on relations and attributes too
        if ref not in bdoc.entities and ref not in bdoc.events:
            raise BratFormatError(Errors.E003.format(ann_id=ann_id, path=path, line=line_no, ref=ref))
    for ev_id, trig in bdoc.events.items():
        if trig not in bdoc.entities:
            raise BratFormatError(Errors.E003.format(ann_id=ev_id, path=path, line="?", ref=trig))
    return bdoc


def resolve(bdoc: BratDocument, ref: str) -> str:
    """Map an event id to its trigger ``T`` id (``T`` ids map to themselves)."""
    return bdoc.events.get(ref, ref)


def read_brat_document(txt_path: Union[str, Path], ann_path: Optional[Union[str, Path]] = None) -> BratDocument:
    txt_path = Path(txt_path)
    ann_path = Path(ann_path) if ann_path is not None else txt_path.with_suffix(".ann")
    text = read_text(txt_path)
    if not ann_path.exists():
        raise FileNotFoundError(Errors.E002.format(path=ann_path, hint="Each .txt needs its .ann beside it."))
    ann_text = read_text(ann_path)
    return parse_ann(ann_text, text, path=ann_path, doc_id=txt_path.stem)


def brat_to_doc(bdoc: BratDocument, make_doc: Callable[[str], Doc], *, path: str = "") -> Doc:
    """Build a Doc with ``doc.ents``, ``doc.spans["entities"]``, ``doc._.relations`` and ``doc._.brat``."""
    install_doc_extensions()
    doc = make_doc(bdoc.text)
    attributes_by_t: Dict[str, Dict[str, object]] = {}
    for attr in bdoc.attributes:
        attributes_by_t.setdefault(resolve(bdoc, attr["target"]), {})[attr["name"]] = attr["value"]
    events_by_t: Dict[str, List[str]] = {}
    for ev_id, trig in bdoc.events.items():
        events_by_t.setdefault(trig, []).append(ev_id)

    all_spans: List[Span] = []
    ent_candidates: List[Span] = []
    entity_records = []
    report = {"entities": len(bdoc.entities), "exact": 0, "expanded": [], "unplaced": [], "discontinuous": [], "trimmed": []}
    spans_by_t: Dict[str, Span] = {}
    for ent in bdoc.entities.values():
        # Whitespace at the edges of an annotation (e.g. a hair space, U+200A) is not part
        # of the entity; spaCy's NER cannot learn spans that start or end in whitespace.
        start, end = ent.start, ent.end
        while start < end and bdoc.text[start].isspace():
            start += 1
        while end > start and bdoc.text[end - 1].isspace():
            end -= 1
        if (start, end) != (ent.start, ent.end):
            report["trimmed"].append(ent.id)
        span = doc.char_span(start, end, label=ent.label, alignment_mode="strict")
        placement = "exact"
        if span is None:
            span = doc.char_span(start, end, label=ent.label, alignment_mode="expand")
            placement = "expanded" if span is not None and len(span) else "unplaced"
            if placement == "unplaced":
                span = None
        if span is not None:
            span.id_ = ent.id
            all_spans.append(span)
            spans_by_t[ent.id] = span
        if placement == "exact":
            report["exact"] += 1
        else:
            report[placement].append(
                {"id": ent.id, "label": ent.label, "start": ent.start, "end": ent.end, "text": bdoc.text[ent.start : ent.end]}
            )
        if len(ent.fragments) > 1:
            report["discontinuous"].append(ent.id)
        elif span is not None:
            ent_candidates.append(span)
        entity_records.append(
            {
                "id": ent.id,
                "label": ent.label,
                "start": ent.start,
                "end": ent.end,
                "fragments": [list(f) for f in ent.fragments],
                "text": ent.text,
                "events": events_by_t.get(ent.id, []),
                "attributes": attributes_by_t.get(ent.id, {}),
                "placement": placement,
            }
        )
    doc.ents = filter_spans(ent_candidates)
    doc.spans[ALL_ENTITIES_KEY] = sorted(all_spans, key=lambda s: (s.start, s.end, s.label_))
    report["in_doc_ents"] = len(doc.ents)

    def arg_record(t_id: str) -> dict:
        ent = bdoc.entities[t_id]
        return {"start": ent.start, "end": ent.end, "label": ent.label}

    relation_records, raw_relations = [], []
    for rel in bdoc.relations:
        head, tail = resolve(bdoc, rel["head"]), resolve(bdoc, rel["tail"])
        raw_relations.append({"id": rel["id"], "label": rel["label"], "head": head, "tail": tail})
        relation_records.append({"head": arg_record(head), "tail": arg_record(tail), "label": rel["label"], "score": 1.0})
    groups = [{"label": g["label"], "members": [resolve(bdoc, m) for m in g["members"]]} for g in bdoc.groups]
    setattr(doc._, RELATIONS_ATTR, relation_records)
    setattr(
        doc._,
        BRAT_ATTR,
        {
            "doc_id": bdoc.doc_id,
            "entities": entity_records,
            "relations": raw_relations,
            "groups": groups,
            "attributes": [{k: v for k, v in a.items() if k != "line"} | {"target": resolve(bdoc, a["target"])} for a in bdoc.attributes],
            "notes": [dict(n, target=resolve(bdoc, n["target"])) for n in bdoc.notes],
            "normalizations": [dict(n, target=resolve(bdoc, n["target"])) for n in bdoc.normalizations],
            "alignment": report,
        },
    )
    n_bad = len(report["expanded"]) + len(report["unplaced"])
    if n_bad:
        logger.info(
            Warnings.W001.format(count=n_bad, path=path or bdoc.doc_id, expanded=len(report["expanded"]), dropped=len(report["unplaced"]))
        )
    return doc


def iter_brat_files(path: Union[str, Path]) -> List[Path]:
    """The ``.txt`` files of a BRAT folder (or a single ``.txt``), sorted by name."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(Errors.E002.format(path=path, hint="Expected a BRAT folder of .txt/.ann pairs."))
    files = [path] if path.is_file() else sorted(path.glob("*.txt"))
    if not files:
        raise ClinicalNERError(Errors.E007.format(path=path, pattern="*.txt"))
    if path.is_dir():  # an .ann without its .txt would be left out of the corpus silently
        orphans = [ann.name for ann in sorted(path.glob("*.ann")) if not ann.with_suffix(".txt").exists()]
        if orphans:
            hint = f"Each .ann needs its .txt beside it; {len(orphans)} have none: {', '.join(orphans[:10])}"
            raise FileNotFoundError(Errors.E002.format(path=path / orphans[0], hint=hint))
    return files


def docs_from_brat(path: Union[str, Path], make_doc: Callable[[str], Doc], ids: Optional[Iterable[str]] = None) -> Iterator[Doc]:
    """Yield one Doc per ``.txt``/``.ann`` pair in ``path`` (optionally only ``ids``)."""
    wanted = set(ids) if ids is not None else None
    for txt in iter_brat_files(path):
        if wanted is not None and txt.stem not in wanted:
            continue
        yield brat_to_doc(read_brat_document(txt), make_doc, path=str(txt))


#: Characters a reader may take for a line end (``str.splitlines``, universal newlines), and tabs:
#: written as spaces in a ``T`` line's text, so that every annotation stays on one line.
_ANN_TEXT_BREAKS = re.compile("[\t\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def _ann_text(text: str) -> str:
    return _ANN_TEXT_BREAKS.sub(" ", text)


def doc_to_ann(doc: Doc, *, spans_key: Optional[str] = None) -> str:
    """Write a Doc's entities (``doc.ents`` or a span group) and relations as BRAT standoff.

    Entity attributes from the ConText component (``is_negated`` ...) become BRAT
    attributes (``NEGATED`` ...) when the extension exists, a ``conditional`` assertion
    becomes ``CONDITIONAL``; a linked entity gets an ``N`` line that names the concept's own
    database (``UMLS:C0011849``, ``DrugBank:DB01050``, ``HP:0001250``: ``ConceptId.brat``) and
    whose text is the concept's name (``span._.kb_name``) or its id. The result re-reads with
    ``parse_ann``.
    """
    install_doc_extensions()
    spans = list(doc.spans[spans_key]) if spans_key else list(doc.ents)
    lines: List[str] = []
    t_by_offsets: Dict[Tuple[int, int, str], str] = {}
    n_entities = 0
    a_count = 0
    for span in sorted(spans, key=lambda s: (s.start_char, s.end_char)):
        n_entities += 1
        t_id = f"T{n_entities}"
        t_by_offsets.setdefault((span.start_char, span.end_char, span.label_), t_id)
        start, end = trimmed_offsets(doc.text, span.start_char, span.end_char)  # as the records: no edge newline
        lines.append(f"{t_id}\t{span.label_} {start} {end}\t{_ann_text(doc.text[start:end])}")
        concept = ConceptId.parse(span.kb_id_)
        if concept is not None:
            name = span._.kb_name if Span.has_extension("kb_name") and span._.kb_name else span.kb_id_
            lines.append(f"N{n_entities}\tReference {t_id} {concept.brat}\t{_ann_text(name)}")
        flags = [attr.replace("is_", "").upper() for attr in BOOL_ATTRS if Span.has_extension(attr) and getattr(span._, attr)]
        if Span.has_extension("assertion") and span._.assertion == "conditional":
            flags.append("CONDITIONAL")
        for flag in flags:
            a_count += 1
            lines.append(f"A{a_count}\t{flag} {t_id}")

    def t_id_for(arg: dict) -> str:
        # A relation argument that is not among the written spans is written as an
        # entity of its own rather than losing the relation.
        nonlocal n_entities
        key = (arg["start"], arg["end"], arg["label"])
        if key not in t_by_offsets:
            n_entities += 1
            t_by_offsets[key] = f"T{n_entities}"
            start, end = trimmed_offsets(doc.text, arg["start"], arg["end"])
            lines.append(f"{t_by_offsets[key]}\t{arg['label']} {start} {end}\t{_ann_text(doc.text[start:end])}")
        return t_by_offsets[key]

    for r, rel in enumerate(getattr(doc._, RELATIONS_ATTR) or [], start=1):
        head, tail = t_id_for(rel["head"]), t_id_for(rel["tail"])
        lines.append(f"R{r}\t{rel['label']} Arg1:{head} Arg2:{tail}\t")
    return "\n".join(lines) + ("\n" if lines else "")
