"""Reading what the graph is built from: ``annotations.jsonl`` files (a broken line is reported
with its line number and left out; every other line is kept) and the notes' patient ids and
dates (the input file of ``annotate``: a JSONL key or CSV column such as ``patient_id``)."""

from __future__ import annotations

import csv
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

from ..errors import ClinicalNERError
from .errors import GraphErrors, GraphWarnings

logger = logging.getLogger(__name__)


@dataclass
class LineProblem:
    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def _check_record(obj: Any) -> str | None:
    """Why ``obj`` is not an annotation record (None when it is one)."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    if not isinstance(obj.get("id"), str) or not obj["id"]:
        return "no 'id' string"
    if obj.get("error"):
        err = obj["error"]
        return None if isinstance(err, dict) and "code" in err else "'error' is not an object with a 'code'"
    entities = obj.get("entities")
    if not isinstance(entities, list):
        return "no 'entities' list"
    for i, ent in enumerate(entities):
        if not isinstance(ent, dict):
            return f"entity {i} is not an object"
        for key, types in (("start", int), ("end", int), ("label", str), ("text", str)):
            if not isinstance(ent.get(key), types) or isinstance(ent.get(key), bool):
                return f"entity {i} has no {key!r} of type {types.__name__}"
        if ent.get("cui") is not None and not isinstance(ent["cui"], str):
            return f"entity {i}: 'cui' is not a string"
    relations = obj.get("relations", [])
    if not isinstance(relations, list):
        return "'relations' is not a list"
    for r, rel in enumerate(relations):
        if not isinstance(rel, dict) or "label" not in rel:
            return f"relation {r} is not an object with a 'label'"
        for end in ("head", "tail"):
            idx = rel.get(end)
            if not isinstance(idx, int) or isinstance(idx, bool) or not 0 <= idx < len(entities):
                return f"relation {r}: {end} {idx!r} is not an entity index (0-{len(entities) - 1})"
    return None


def read_annotations(path: Path, problems: List[LineProblem]) -> Iterator[Tuple[Dict[str, Any], str]]:
    """``(record, "file:line")`` for every good line of an ``annotations.jsonl``; each broken line
    (not UTF-8, not JSON, not a record) is appended to ``problems`` and logged."""
    path = Path(path)
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf8"))
            except UnicodeDecodeError as err:
                reason = f"not UTF-8 (byte {err.start})"
                obj = None
            except ValueError as err:
                reason = f"invalid JSON ({type(err).__name__}: {getattr(err, 'msg', err)} at column {getattr(err, 'colno', '?')})"
                obj = None
            else:
                reason = _check_record(obj)
            if reason is not None:
                problem = LineProblem(str(path), line_no, reason)
                problems.append(problem)
                logger.warning(GraphWarnings.W901.format(path=path, line=line_no, reason=reason))
                continue
            yield obj, f"{path.name}:{line_no}"


@dataclass
class NoteMeta:
    patient_id: str | None = None
    date: str | None = None


def read_note_meta(
    path: Path,
    *,
    id_field: str = "id",
    patient_field: str = "patient_id",
    date_field: str | None = "date",
    required: bool = False,
) -> Dict[str, NoteMeta]:
    """Note id -> patient id and date, from the notes file that ``annotate`` read (JSONL or CSV).

    Note ids are found as ``annotate`` finds them (the id field, else ``<file>:<line>``, a
    repeated id renamed ``<id>#2``). A file without ``patient_field`` gives no patients (one
    per note), or E903 when ``required``."""
    path = Path(path)
    suffix = path.suffix.lower()
    rows: List[Tuple[str, Dict[str, Any]]] = []
    fields: set = set()
    if suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf8", errors="replace") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    fields.update(obj)
                    rows.append((f"{path.name}:{line_no}", obj))
    elif suffix in (".csv", ".tsv"):
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ",")
            fields.update(reader.fieldnames or [])
            for row_no, row in enumerate(reader, start=1):
                rows.append((f"{path.name}:{row_no}", row))
    else:
        return {}
    if patient_field not in fields:
        if required:
            raise ClinicalNERError(GraphErrors.E903.format(path=path, field=patient_field, option="--patient-field", fields=sorted(fields)))
        logger.info("%s has no %r field: one patient per note", path, patient_field)
        return {}
    out: Dict[str, NoteMeta] = {}
    seen: Dict[str, int] = {}
    for default_id, obj in rows:
        raw_id = obj.get(id_field)
        note_id = str(raw_id) if raw_id not in (None, "") else default_id
        if note_id in seen:
            n = seen[note_id] + 1
            while f"{note_id}#{n}" in seen:
                n += 1
            seen[note_id] = n
            note_id = f"{note_id}#{n}"
        seen.setdefault(note_id, 1)
        patient = obj.get(patient_field)
        date = obj.get(date_field) if date_field else None
        out[note_id] = NoteMeta(str(patient) if patient not in (None, "") else None, str(date) if date not in (None, "") else None)
    return out


def run_manifest(annotations: Path) -> Dict[str, Any]:
    """The ``run.json`` that ``annotate`` wrote beside ``annotations.jsonl`` ({} when absent or unreadable)."""
    manifest = Path(annotations).with_name("run.json")
    try:
        data = json.loads(manifest.read_text(encoding="utf8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
