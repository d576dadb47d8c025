"""Batch input: a folder of ``.txt`` files, a ``.txt``, JSONL (``id``, ``text``) or CSV/TSV.

``read_notes`` yields one ``Note`` per input note, in input order. A note that cannot be
read carries an error code instead of text; it is never skipped, so every input id
reaches the output (annotated or as an error record). Ids are unique: a repeated id is
renamed ``<id>#2``, ``<id>#3`` ... (and a warning is logged).

No note text is ever logged.
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, Union

from ..errors import ClinicalNERError, Errors, Warnings

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv", ".tsv")


@dataclass
class Note:
    """One input note: ``text`` or an ``error`` code (with its message details)."""

    id: str
    text: str | None = None
    error: str | None = None
    details: Dict[str, Any] = field(default_factory=dict)
    source: str = ""


#: Byte-order marks that name their encoding; UTF-32 first (its little-endian mark starts like UTF-16's).
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _decode(data: bytes, encoding: str = "utf-8") -> str:
    """A file's text: a UTF-16/32 byte-order mark wins over ``encoding``, a UTF-8 one is dropped.

    Raises ``UnicodeDecodeError``.
    """
    for bom, bom_encoding in BOMS:
        if data.startswith(bom):
            return data.decode(bom_encoding)
    text = data.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


def check_encoding(encoding: str) -> str:
    """``encoding``'s canonical codec name (``cp1252``, ``utf-8`` ...); E609 for an unknown one."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ClinicalNERError(Errors.E609.format(encoding=encoding)) from None


def _first_bad_byte(text: str) -> int:
    """Index of the first undecodable byte kept by ``surrogateescape`` (or -1)."""
    for i, ch in enumerate(text):
        if "\udc80" <= ch <= "\udcff":
            return i
    return -1


def _clean_id(raw: Any) -> str:
    """An id as valid text: undecodable bytes become U+FFFD (the id must be writable as UTF-8)."""
    return str(raw).encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")


def input_kind(path: Union[str, Path]) -> str:
    """``folder``, ``txt``, ``jsonl`` or ``csv``; raises E602 for anything else."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return "txt"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in CSV_SUFFIXES:
        return "csv"
    raise ClinicalNERError(Errors.E602.format(path=path))


def count_notes(path: Union[str, Path], *, glob: str = "**/*.txt") -> int | None:
    """A cheap upper bound for the progress bar (None when counting would mean parsing)."""
    path = Path(path)
    kind = input_kind(path)
    if kind == "folder":
        return sum(1 for p in path.glob(glob) if p.is_file())
    if kind == "txt":
        return 1
    if kind == "jsonl":
        with path.open("rb") as fh:
            return sum(1 for line in fh if line.strip())
    return None


def _text_note(note_id: str, path: Path, source: str, max_chars: int, encoding: str) -> Note:
    try:
        data = path.read_bytes()
    except OSError as err:
        return Note(note_id, error="read_error", details={"reason": type(err).__name__}, source=source)
    try:
        text = _decode(data, encoding)
    except UnicodeDecodeError as err:
        return Note(
            note_id,
            error="invalid_utf8",
            details={"pos": err.start, "reason": err.reason, "encoding": err.encoding.replace("-sig", "")},
            source=source,
        )
    return check_note(Note(note_id, text=text, source=source), max_chars)


def check_note(note: Note, max_chars: int) -> Note:
    """Turn empty and over-long texts into error notes."""
    if note.text is None:
        return note
    if not note.text.strip():
        return Note(note.id, error="empty_text", source=note.source)
    if len(note.text) > max_chars:
        return Note(note.id, error="too_long", details={"length": len(note.text), "limit": max_chars}, source=note.source)
    return note


def _read_folder(path: Path, glob: str, max_chars: int, encoding: str) -> Iterator[Note]:
    for file in sorted(p for p in path.glob(glob) if p.is_file()):
        note_id = _clean_id(file.relative_to(path).with_suffix("").as_posix())
        yield _text_note(note_id, file, _clean_id(file), max_chars, encoding)


def _record_note(
    obj: Any, default_id: str, file_name: str, line: int, id_field: str, text_field: str, max_chars: int, encoding: str
) -> Note:
    source = f"{file_name}:{line}"
    if not isinstance(obj, dict):
        return Note(
            default_id, error="malformed_line", details={"line": line, "source": file_name, "reason": "not a JSON object"}, source=source
        )
    raw_id = obj.get(id_field)
    note_id = _clean_id(raw_id) if raw_id not in (None, "") else default_id
    text = obj.get(text_field)
    if not isinstance(text, str):
        return Note(note_id, error="missing_text", details={"field": text_field}, source=source)
    bad = _first_bad_byte(text)
    if bad >= 0:
        return Note(note_id, error="invalid_utf8", details={"pos": bad, "reason": "undecodable byte", "encoding": encoding}, source=source)
    return check_note(Note(note_id, text=text, source=source), max_chars)


def _read_jsonl(path: Path, id_field: str, text_field: str, max_chars: int, encoding: str) -> Iterator[Note]:
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            source = _clean_id(f"{path.name}:{line_no}")
            # surrogateescape keeps the line parseable; bad bytes are reported per note.
            line = raw.decode(encoding, errors="surrogateescape")
            if line_no == 1 and line.startswith("\ufeff"):
                line = line[1:]
            try:
                obj = json.loads(line)
            except ValueError as err:
                reason = f"invalid JSON ({type(err).__name__} at column {getattr(err, 'colno', '?')})"
                if _first_bad_byte(line) >= 0:
                    yield Note(
                        source,
                        error="invalid_utf8",
                        details={"pos": _first_bad_byte(line), "reason": "in a line that is not valid JSON", "encoding": encoding},
                        source=source,
                    )
                else:
                    yield Note(
                        source, error="malformed_line", details={"line": line_no, "source": path.name, "reason": reason}, source=source
                    )
                continue
            yield _record_note(obj, source, path.name, line_no, id_field, text_field, max_chars, encoding)


def _read_csv(path: Path, id_field: str, text_field: str, max_chars: int, encoding: str) -> Iterator[Note]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    # Clinical notes are far longer than the csv module's default field limit (128 kB).
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    codec = "utf-8-sig" if encoding == "utf-8" else encoding  # a UTF-8 byte-order mark is not part of the header
    with path.open("r", encoding=codec, errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        if text_field not in header:
            raise ClinicalNERError(Errors.E603.format(column=text_field, path=path, columns=header, option="--text-field"))
        text_col = header.index(text_field)
        id_col = header.index(id_field) if id_field in header else None
        if id_col is None:
            logger.warning("No id column %r in %s: ids are '%s:<row>'", id_field, path.name, path.name)
        row_no = 0
        while True:
            row_no += 1
            source = _clean_id(f"{path.name}:{row_no}")
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                yield Note(
                    source,
                    error="malformed_line",
                    details={"line": reader.line_num, "source": path.name, "reason": f"CSV error: {err}"},
                    source=source,
                )
                continue
            if not row:
                continue
            note_id = _clean_id(row[id_col]) if id_col is not None and id_col < len(row) and row[id_col] else source
            if len(row) != len(header):
                yield Note(
                    note_id,
                    error="malformed_line",
                    details={"line": reader.line_num, "source": path.name, "reason": f"{len(row)} fields, the header has {len(header)}"},
                    source=source,
                )
                continue
            yield _record_note(
                {id_field: note_id, text_field: row[text_col]}, source, path.name, row_no, id_field, text_field, max_chars, encoding
            )


def read_notes(
    path: Union[str, Path],
    *,
    id_field: str = "id",
    text_field: str = "text",
    glob: str = "**/*.txt",
    max_chars: int = 1_000_000,
    encoding: str = "utf-8",
) -> Iterator[Note]:
    """The notes of ``path`` in input order, with unique ids (a missing path or a wrong encoding raises at once).

    ``encoding`` is that of the files (``cp1252``, ``latin-1`` ... for older exports); a ``.txt``
    file that starts with a UTF-16 or UTF-32 byte-order mark is read in that encoding whatever
    ``encoding`` says. JSONL and CSV files need an ASCII-compatible encoding (one byte per newline).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(Errors.E002.format(path=path, hint="Expected a folder of .txt files, a .txt, .jsonl or .csv file."))
    kind = input_kind(path)
    encoding = check_encoding(encoding)
    if kind in ("jsonl", "csv") and "\n".encode(encoding) != b"\n":
        raise ClinicalNERError(Errors.E600.format(encoding=encoding, path=path))
    if kind == "folder":
        notes = _read_folder(path, glob, max_chars, encoding)
    elif kind == "txt":
        notes = iter([_text_note(_clean_id(path.stem), path, _clean_id(path), max_chars, encoding)])
    elif kind == "jsonl":
        notes = _read_jsonl(path, id_field, text_field, max_chars, encoding)
    else:
        notes = _read_csv(path, id_field, text_field, max_chars, encoding)
    return unique_ids(notes)


def unique_ids(notes: Iterator[Note]) -> Iterator[Note]:
    """Rename repeated ids ``<id>#2``, ``<id>#3`` ... so that each output record is findable."""
    seen: Dict[str, int] = {}
    for note in notes:
        if note.id in seen:
            n = seen[note.id] + 1
            while f"{note.id}#{n}" in seen:
                n += 1
            seen[note.id] = n
            new_id = f"{note.id}#{n}"
            logger.warning(Warnings.W601.format(input_id=note.id, source=note.source, new_id=new_id))
            note.id = new_id
        seen.setdefault(note.id, 1)
        yield note
