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
import errno
import fnmatch
import json
import logging
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple, Union

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
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (codecs.BOM_UTF8, "utf-8-sig"),
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _decode(data: bytes, encoding: str = "utf-8") -> str:
    """A file's text: a byte-order mark (UTF-8, UTF-16 or UTF-32) wins over ``encoding`` and is
    not part of the text, so offsets count from the first character after it.

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


def first_bad_char(text: str) -> Tuple[int, str]:
    """Index and kind of the first character that is not valid text (or ``(-1, "")``): an
    undecodable byte kept by ``surrogateescape``, or an unpaired surrogate (a JSON ``\\ud800``
    escape), which no UTF-8 writer and no tokenizer accepts."""
    match = _SURROGATE.search(text)
    if match is None:
        return -1, ""
    if "\udc80" <= match.group() <= "\udcff":
        return match.start(), "undecodable byte"
    return match.start(), f"unpaired surrogate U+{ord(match.group()):04X} (an escape that is not valid Unicode text)"


def clean_text(raw: Any) -> str:
    """``raw`` as text that can be written as UTF-8: undecodable bytes and unpaired surrogates become U+FFFD."""
    return _SURROGATE.sub("\ufffd", str(raw))


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


def _glob_match(parts: Tuple[str, ...], pattern: Tuple[str, ...]) -> bool:
    """``Path.glob`` semantics on path parts (``**`` = any number of folders), case-insensitive."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_glob_match(parts[i:], pattern[1:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0].lower(), pattern[0].lower()) and _glob_match(parts[1:], pattern[1:])


def list_folder(path: Union[str, Path], glob: str = "**/*.txt") -> Tuple[List[Path], List[Tuple[Path, OSError]]]:
    """The files of ``path`` that ``glob`` matches (case-insensitively, symlinked folders
    followed once), sorted, and the sub-folders that could not be listed, with their error.

    Broken links and unreadable files are listed (reading them gives a ``read_error`` record):
    nothing that matches is left out silently.
    """
    path = Path(path)
    pattern = tuple(part for part in glob.replace("\\", "/").split("/") if part not in ("", "."))
    files: List[Path] = []
    failed: List[Tuple[Path, OSError]] = []
    seen_dirs = set()
    for root, dirs, names in os.walk(path, followlinks=True, onerror=lambda err: failed.append((Path(err.filename), err))):
        real = os.path.realpath(root)
        if real in seen_dirs:  # a link back up the tree: do not loop
            dirs[:] = []
            continue
        seen_dirs.add(real)
        dirs.sort()
        rel = Path(root).relative_to(path).parts
        files.extend(Path(root, name) for name in names if _glob_match(rel + (name,), pattern))
    return sorted(files), sorted(failed, key=lambda item: str(item[0]))


def count_notes(path: Union[str, Path], *, glob: str = "**/*.txt") -> int | None:
    """A cheap upper bound for the progress bar (None when counting would mean parsing)."""
    path = Path(path)
    kind = input_kind(path)
    if kind == "folder":
        files, failed = list_folder(path, glob)
        return len(files) + len(failed)
    if kind == "txt":
        return 1
    if kind == "jsonl":
        with path.open("rb") as fh:
            return sum(1 for line in fh if line.strip())
    return None


def _read_failure(path: Path, err: OSError) -> str:
    """Why ``path`` could not be read, in words: a link that leads back to itself (ELOOP, which
    ``Path.exists`` also reports as missing) is a loop, not a broken link."""
    if err.errno == errno.ELOOP:
        return "symbolic link loop (the link leads back to itself)"
    if path.is_symlink() and not path.exists():
        return "broken symbolic link"
    return f"{type(err).__name__}: {err.strerror or err}"


def json_too_deep() -> str:
    """E636: what ``json.loads`` means by a ``RecursionError`` (the limit is the interpreter's)."""
    return Errors.E636.format(limit=sys.getrecursionlimit())


def _text_note(note_id: str, path: Path, source: str, max_chars: int, encoding: str) -> Note:
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO or device would block or never end
            return Note(note_id, error="read_error", details={"reason": "not a regular file"}, source=source)
        data = path.read_bytes()
    except OSError as err:
        return Note(note_id, error="read_error", details={"reason": _read_failure(path, err)}, source=source)
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


def _read_folder(path: Path, listing: Tuple[List[Path], List[Tuple[Path, OSError]]], max_chars: int, encoding: str) -> Iterator[Note]:
    files, failed = listing
    for folder, err in failed:  # a folder that could not be listed may hold notes: say so
        note_id = clean_text(folder.relative_to(path).as_posix() + "/") if folder != path else clean_text(path)
        reason = f"folder could not be listed ({type(err).__name__}: {err.strerror or err})"
        yield Note(note_id, error="read_error", details={"reason": reason}, source=clean_text(folder))
    for file in files:
        note_id = clean_text(file.relative_to(path).with_suffix("").as_posix())
        yield _text_note(note_id, file, clean_text(file), max_chars, encoding)


def _record_note(
    obj: Any, default_id: str, file_name: str, line: int, id_field: str, text_field: str, max_chars: int, encoding: str
) -> Note:
    source = f"{file_name}:{line}"
    if not isinstance(obj, dict):
        return Note(
            default_id, error="malformed_line", details={"line": line, "source": file_name, "reason": "not a JSON object"}, source=source
        )
    raw_id = obj.get(id_field)
    note_id = clean_text(raw_id) if raw_id not in (None, "") else default_id
    text = obj.get(text_field)
    if not isinstance(text, str):
        return Note(note_id, error="missing_text", details={"field": text_field}, source=source)
    bad, why = first_bad_char(text)
    if bad >= 0:
        return Note(note_id, error="invalid_utf8", details={"pos": bad, "reason": why, "encoding": encoding}, source=source)
    return check_note(Note(note_id, text=text, source=source), max_chars)


def _bom_codec(path: Path) -> str | None:
    """The encoding a file's byte-order mark names (``utf-8-sig``, ``utf-16``, ``utf-32``), or None."""
    with path.open("rb") as fh:
        head = fh.read(4)
    return next((codec for bom, codec in BOMS if head.startswith(bom)), None)


def _ascii_compatible(encoding: str) -> bool:
    return "\n".encode(encoding) == b"\n"


def _text_errors(encoding: str) -> str:
    """How undecodable input is kept, to be reported per note (``first_bad_char``): as escaped
    bytes where the codec allows it, as unpaired surrogates in UTF-16/32."""
    return "surrogateescape" if _ascii_compatible(encoding) else "surrogatepass"


def _undecodable(path: Path, line_no: int, err: UnicodeDecodeError) -> Note:
    """The rest of a UTF-16/32 file that cannot be decoded (an odd trailing byte ...), as one note."""
    source = clean_text(f"{path.name}:{line_no}")
    reason = f"{err.reason}; the file cannot be read beyond this point"
    return Note(source, error="invalid_utf8", details={"pos": err.start, "reason": reason, "encoding": err.encoding}, source=source)


def _jsonl_lines(path: Path, encoding: str) -> Iterator[Tuple[int, str] | Note]:
    """``(line number, line)`` of a JSONL file, or a Note for an undecodable rest of the file.

    ASCII-compatible encodings are read as bytes, line by line (a bad byte spoils its line
    only); a UTF-16/32 file (by its byte-order mark, or ``encoding``) is decoded as a stream."""
    bom = _bom_codec(path)
    codec = bom if bom in ("utf-16", "utf-32") else encoding
    if _ascii_compatible(codec):
        with path.open("rb") as fh:
            for line_no, raw in enumerate(fh, start=1):
                if line_no == 1 and raw.startswith(codecs.BOM_UTF8):  # a UTF-8 mark says the file is UTF-8
                    raw, codec = raw[len(codecs.BOM_UTF8) :], "utf-8"
                yield line_no, raw.decode(codec, errors="surrogateescape")
        return
    line_no = 0
    with path.open("r", encoding=codec, errors="surrogatepass", newline="\n") as fh:
        try:
            for line_no, line in enumerate(fh, start=1):  # noqa: B007 - line_no is read after the loop
                yield line_no, line
        except UnicodeDecodeError as err:
            yield _undecodable(path, line_no + 1, err)


def _read_jsonl(path: Path, id_field: str, text_field: str, max_chars: int, encoding: str) -> Iterator[Note]:
    for item in _jsonl_lines(path, encoding):
        if isinstance(item, Note):
            yield item
            continue
        line_no, line = item
        if not line.strip():
            continue
        source = clean_text(f"{path.name}:{line_no}")
        # undecodable input stays in the line (escaped), so it is parsed and reported per note
        try:
            obj = json.loads(line)
        except RecursionError:  # not "invalid JSON": valid, but deeper than the parser goes
            yield Note(
                source, error="malformed_line", details={"line": line_no, "source": path.name, "reason": json_too_deep()}, source=source
            )
            continue
        except ValueError as err:
            reason = f"invalid JSON ({type(err).__name__} at column {getattr(err, 'colno', '?')})"
            bad, _ = first_bad_char(line)
            if bad >= 0:
                yield Note(
                    source,
                    error="invalid_utf8",
                    details={"pos": bad, "reason": "in a line that is not valid JSON", "encoding": encoding},
                    source=source,
                )
            else:
                yield Note(source, error="malformed_line", details={"line": line_no, "source": path.name, "reason": reason}, source=source)
            continue
        yield _record_note(obj, source, path.name, line_no, id_field, text_field, max_chars, encoding)


def _csv_reader(fh, path: Path):
    # strict: a stray quote is an error (reported as a malformed record), not rows silently merged
    return csv.reader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ",", strict=True)


def _csv_codec(path: Path, encoding: str) -> str:
    """A byte-order mark (UTF-8, UTF-16, UTF-32) says the file's encoding; it is not part of the header."""
    return _bom_codec(path) or encoding


def csv_header(path: Path, text_field: str, encoding: str) -> List[str]:
    """The header row of a CSV/TSV file; E603 at once if it lacks ``text_field``."""
    codec = _csv_codec(path, encoding)
    with path.open("r", encoding=codec, errors=_text_errors(codec), newline="") as fh:
        try:
            header = next(_csv_reader(fh, path))
        except StopIteration:
            return []
        except (csv.Error, UnicodeDecodeError) as err:
            raise ClinicalNERError(
                Errors.E603.format(column=text_field, path=path, columns=f"unreadable ({err})", option="--text-field")
            ) from None
    if text_field not in header:
        raise ClinicalNERError(Errors.E603.format(column=text_field, path=path, columns=header, option="--text-field"))
    return header


def _read_csv(path: Path, id_field: str, text_field: str, max_chars: int, encoding: str) -> Iterator[Note]:
    # Clinical notes are far longer than the csv module's default field limit (128 kB).
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    codec = _csv_codec(path, encoding)
    with path.open("r", encoding=codec, errors=_text_errors(codec), newline="") as fh:
        reader = _csv_reader(fh, path)
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
            source = clean_text(f"{path.name}:{row_no}")
            first_line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as err:  # UTF-16/32 only (other codecs escape bad bytes)
                yield _undecodable(path, first_line, err)
                return
            except csv.Error as err:
                lines = f" (the record runs from line {first_line} to line {reader.line_num})" if reader.line_num > first_line else ""
                yield Note(
                    source,
                    error="malformed_line",
                    details={"line": first_line, "source": path.name, "reason": f"CSV error: {err}{lines}"},
                    source=source,
                )
                continue
            if not row:
                continue
            note_id = clean_text(row[id_col]) if id_col is not None and id_col < len(row) and row[id_col] else source
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
    """The notes of ``path`` in input order, with unique ids.

    A missing path, an unsupported input, an unknown encoding, a folder with no matching file
    and a CSV without the text column raise at once (before the first note is read).

    ``encoding`` is that of the files (``cp1252``, ``latin-1``, ``utf-16-le`` ... for older
    exports); a file of any kind (``.txt``, JSONL, CSV) that starts with a UTF-8, UTF-16 or
    UTF-32 byte-order mark is read in that encoding whatever ``encoding`` says.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(Errors.E002.format(path=path, hint="Expected a folder of .txt files, a .txt, .jsonl or .csv file."))
    kind = input_kind(path)
    encoding = check_encoding(encoding)
    if kind == "folder":
        listing = list_folder(path, glob)
        if not listing[0] and not listing[1]:
            raise ClinicalNERError(Errors.E007.format(path=path, pattern=f"files matching {glob!r}, see --glob"))
        notes = _read_folder(path, listing, max_chars, encoding)
    elif kind == "txt":
        notes = iter([_text_note(clean_text(path.stem), path, clean_text(path), max_chars, encoding)])
    elif kind == "jsonl":
        notes = _read_jsonl(path, id_field, text_field, max_chars, encoding)
    else:
        csv_header(path, text_field, encoding)  # a missing text column stops the run before any output is touched
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
