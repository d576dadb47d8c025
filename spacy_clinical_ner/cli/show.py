"""``show``: print annotation records (JSONL from ``annotate``) as readable tables."""

import json
from pathlib import Path
from typing import Iterable, List

import typer

from ..concepts import is_nil
from . import app


def _clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_record(record: dict, max_rows: int = 0) -> str:
    """One note as a table: entity, label, assertion (+ cue), concept; then its relations."""
    from wasabi import table

    head = f"== {record['id']}"
    if record.get("error"):
        return f"{head}: ERROR {record['error']['code']}: {record['error']['message']}"
    ents = record.get("entities") or []
    rows: List[Iterable[str]] = []
    for ent in ents[: max_rows or None]:
        cue = ent.get("cue") or {}
        assertion = ent.get("assertion") or ""
        if cue.get("text"):
            assertion = f"{assertion} ({_clip(cue['text'], 18)})"
        concept = ""
        concept_id = ent.get("concept_id") or ent.get("cui")  # records before 0.2 have only "cui"
        if not is_nil(concept_id):
            concept = f"{concept_id} {_clip(ent.get('concept_name') or '', 28)}"
        rows.append((_clip(ent["text"], 34), ent["label"], assertion, concept))
    lines = [f"{head}: {len(ents)} entities, {len(record.get('relations') or [])} relations"]
    if rows:
        lines.append(table(rows, header=("entity", "label", "assertion (cue)", "concept"), divider=True))
    if max_rows and len(ents) > max_rows:
        lines.append(f"... {len(ents) - max_rows} more entities")
    relations = record.get("relations") or []
    if relations:
        lines.append("relations:")
        for rel in relations[: max_rows or None]:
            head, tail = ents[rel["head"]]["text"], ents[rel["tail"]]["text"]
            lines.append(f"  {_clip(head, 30)} --{rel.get('typed_label') or rel['label']}--> {_clip(tail, 30)}")
    return "\n".join(lines)


@app.command("show")
def show_cli(
    annotations: Path = typer.Argument(..., exists=True, dir_okay=False, help="annotations.jsonl written by `annotate`"),
    max_rows: int = typer.Option(0, min=0, help="At most this many entities and relations per note (0: all)"),
) -> None:
    """Print each annotated note as a table of entities (label, assertion and cue, concept) and relations."""
    bad = 0
    with annotations.open(encoding="utf8", errors="replace") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                text = format_record(record, max_rows=max_rows)
            except (ValueError, TypeError, KeyError, AttributeError, IndexError) as err:
                # one bad line does not hide the others; the summary says how many
                typer.echo(f"Error: line {line_no} of {annotations} is not an annotation record ({type(err).__name__}: {err})", err=True)
                bad += 1
                continue
            typer.echo(text + "\n")
    if bad:
        raise typer.Exit(code=2)
