"""displaCy HTML output: one page per note (entities highlighted, concept ids in the labels; negated
ones grey and labelled ``NEG``, other non-present assertions labelled ``POSSIBLE``,
``HYPOTHETICAL``, ``CONDITIONAL`` or ``FAMILY``) with tables of the entities and relations
(negated rows struck through), plus an index.

Everything taken from the note or the knowledge base is HTML-escaped: displaCy escapes the
text but not the labels, so labels (with their concept ids) are escaped here, as are the tables.
"""

from __future__ import annotations

from html import escape
from typing import Any, Callable, Dict, Iterable

NEGATED_COLOR = "#d9d9d9"
_PALETTE = [
    "#7aecec",
    "#bfeeb7",
    "#feca74",
    "#ff9561",
    "#aa9cfc",
    "#c887fb",
    "#9cc9cc",
    "#ffeb80",
    "#ff8197",
    "#f0d0ff",
    "#bfe1d9",
    "#e4e7d2",
]
_STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;max-width:70em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;font-size:.9em}
.negated{text-decoration:line-through}.error{color:#a00}
"""


#: Label prefixes for assertions other than "present" (a finding that is not the patient's, now).
_ASSERTION_PREFIX = {
    "possible": "POSSIBLE",
    "hypothetical": "HYPOTHETICAL",
    "conditional": "CONDITIONAL",
    "associated_with_someone_else": "FAMILY",
}


def _display_label(entity: Dict[str, Any]) -> str:
    """The label displaCy draws, HTML-escaped (displaCy inserts labels into its markup as they are)."""
    label = entity["label"]
    if entity.get("is_negated") or entity.get("assertion") == "absent":
        label = f"NEG {label}"
    elif entity.get("assertion") in _ASSERTION_PREFIX:
        label = f"{_ASSERTION_PREFIX[entity['assertion']]} {label}"
    if _concept_id(entity):
        label = f"{label} {_concept_id(entity)}"
    return escape(label)


def _concept_id(entity: Dict[str, Any]) -> str:
    # records written before 0.2 carry the id in "cui" only
    return entity.get("concept_id") or entity.get("cui") or ""


def _color(label: str) -> str:
    return _PALETTE[sum(map(ord, label)) % len(_PALETTE)]


def record_to_html(record: Dict[str, Any], text: str) -> str:
    """A self-contained HTML page for one annotated note."""
    from spacy import displacy

    ents = sorted(record["entities"], key=lambda e: (e["start"], -e["end"]))
    shown, last_end = [], -1
    for ent in ents:
        if ent["start"] >= last_end:  # displaCy cannot draw overlaps; the table lists all
            shown.append({"start": ent["start"], "end": ent["end"], "label": _display_label(ent)})
            last_end = ent["end"]
    colors = {}
    for ent in record["entities"]:
        disp = _display_label(ent)
        colors[disp] = NEGATED_COLOR if disp.startswith("NEG ") else _color(ent["label"])
    markup = displacy.render({"text": text, "ents": shown, "title": None}, style="ent", manual=True, page=False, options={"colors": colors})
    rows = []
    for i, e in enumerate(record["entities"]):
        negated = e.get("is_negated") or e.get("assertion") == "absent"
        rows.append(
            f"<tr class='{'negated' if negated else ''}'><td>{i}</td><td>{escape(e['text'])}</td><td>{escape(e['label'])}</td>"
            f"<td>{escape(str(e.get('assertion') or ''))}</td><td>{escape(e['cue']['text'] if e.get('cue') else '')}</td>"
            f"<td>{escape(_concept_id(e))}</td><td>{escape(e.get('concept_name') or '')}</td><td>{e['start']}-{e['end']}</td></tr>"
        )
    rel_rows = [
        f"<tr><td>{escape(h)}</td><td>{escape(label)}</td><td>{escape(t)}</td><td>{r['score']:.2f}</td></tr>"
        for (h, label, t), r in zip(record["triples"], record["relations"], strict=True)
    ]
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(record['id'])}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(record['id'])}</h1>{markup}"
        "<h2>Entities</h2><table><tr><th>#</th><th>text</th><th>label</th><th>assertion</th><th>cue</th><th>concept id</th><th>concept</th><th>offsets</th></tr>"
        + "".join(rows)
        + "</table><h2>Relations</h2><table><tr><th>head</th><th>relation</th><th>tail</th><th>score</th></tr>"
        + "".join(rel_rows)
        + "</table></body></html>"
    )


def index_html(records: Iterable[Dict[str, Any]], filename: Callable[[str], str]) -> str:
    """An index of all notes of a run: links to annotated ones, the error of failed ones."""
    items = []
    for rec in records:
        if rec.get("error"):
            items.append(f"<li class='error'>{escape(rec['id'])}: {escape(rec['error']['code'])} – {escape(rec['error']['message'])}</li>")
        else:
            items.append(
                f"<li><a href='{escape(filename(rec['id']))}.html'>{escape(rec['id'])}</a> ({len(rec['entities'])} entities, {len(rec['relations'])} relations)</li>"
            )
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Annotated notes</title><style>{_STYLE}</style></head>"
        f"<body><h1>Annotated notes</h1><ul>{''.join(items)}</ul></body></html>"
    )
