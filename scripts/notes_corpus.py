"""The visit-note corpus: select the notes, turn annotators' markup into BRAT, measure agreement.

Project tool (not part of the installed package). Annotators write a copy of each note's text with
entities marked inline (``corpus/notes/annotated/GUIDELINE.md`` § 5)::

    [[Sign_symptom|pain]]  [[Disease_disorder+historical|depression]]

Commands::

    python scripts/notes_corpus.py select  WORK_DIR            # raw texts of the selected notes + batches.json
    python scripts/notes_corpus.py build   MARKUP_DIR BRAT_DIR  # markup -> .txt/.ann (refuses any text change)
    python scripts/notes_corpus.py agree   BRAT_A BRAT_B        # entity F1 between two passes
    python scripts/notes_corpus.py stats   BRAT_DIR             # counts per label / attribute / domain

The source text of every note is read from the CSVs (``corpus/notes/aci_bench``, ``corpus/notes/mts_dialog``),
never from the markup: a markup file whose text differs from its note in anything but whitespace is an error,
and the offsets are always those of the source text.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[1]
ACI_DIR = ROOT / "corpus" / "notes" / "aci_bench"
MTS_CSV = ROOT / "corpus" / "notes" / "mts_dialog" / "MTS-Dialog-TrainingSet.csv"

#: the labels annotated in notes (GUIDELINE.md § 1)
LABELS = (
    "Sign_symptom",
    "Disease_disorder",
    "Medication",
    "Therapeutic_procedure",
    "Diagnostic_procedure",
    "Biological_structure",
    "Lab_value",
    "Dosage",
    "Frequency",
    "Administration",
    "Severity",
    "Duration",
    "Date",
    "Age",
    "Sex",
)
#: markup attribute -> BRAT line (name, value or None for a binary attribute)
ATTRIBUTES = {
    "negated": ("POLARITY", "NEG"),
    "uncertain": ("POLARITY", "UNCERTAIN"),
    "hypothetical": ("HYPOTHETICAL", None),
    "conditional": ("CONDITIONAL", None),
    "historical": ("HISTORICAL", None),
    "family": ("FAMILY", None),
}
#: ACI-BENCH files whose notes may be annotated; the three test files are reserved for independent evaluation
ACI_FILES = ("train.csv", "valid.csv")
#: the main job's sample notes (corpus/samples) stay out of the corpus
EXCLUDED_ACI = {"D2N068", "D2N069"}
N_ACI = 85
N_MTS = 370
MARK_RE = re.compile(r"\[\[([A-Za-z_]+)((?:\+[a-z]+)*)\|(.*?)\]\]", re.S)


def _order(key: str) -> str:
    return hashlib.sha1(key.encode("utf8")).hexdigest()


def source_notes() -> Dict[str, str]:
    """Every note that may be annotated, by corpus id (``aci_D2N001``, ``mts_0123``)."""
    notes: Dict[str, str] = {}
    for name in ACI_FILES:
        with (ACI_DIR / name).open(encoding="utf8", newline="") as f:
            for row in csv.DictReader(f):
                if row["encounter_id"] not in EXCLUDED_ACI:
                    notes[f"aci_{row['encounter_id']}"] = row["note"]
    with MTS_CSV.open(encoding="utf8", newline="") as f:
        for row in csv.DictReader(f):
            notes[f"mts_{int(row['ID']):04d}"] = row["section_text"]
    return notes


def selection(notes: Dict[str, str]) -> List[str]:
    """The deterministic selection: N_ACI ACI-BENCH notes and N_MTS MTS-Dialog sections of >= 5 words, by SHA-1 order."""
    aci = sorted((k for k in notes if k.startswith("aci_")), key=_order)[:N_ACI]
    mts = sorted((k for k in notes if k.startswith("mts_") and len(notes[k].split()) >= 5), key=_order)[:N_MTS]
    return sorted(aci) + sorted(mts)


def parse_markup(markup: str, source: str, *, name: str = "") -> List[Tuple[int, int, str, List[str]]]:
    """Entities ``(start, end, label, attributes)`` with offsets into ``source``.

    The markup with its brackets removed must equal ``source`` up to whitespace; any other difference raises
    ``ValueError`` naming the first place where they part.
    """
    plain_parts, marks = [], []
    pos = 0
    plain_len = 0
    for m in MARK_RE.finditer(markup):
        plain_parts.append(markup[pos : m.start()])
        plain_len += m.start() - pos
        label, attrs, text = m.group(1), [a for a in m.group(2).split("+") if a], m.group(3)
        if label not in LABELS:
            raise ValueError(f"{name}: unknown label {label!r} in {m.group(0)!r}")
        for a in attrs:
            if a not in ATTRIBUTES:
                raise ValueError(f"{name}: unknown attribute {a!r} in {m.group(0)!r}")
        if not text.strip():
            raise ValueError(f"{name}: empty entity {m.group(0)!r}")
        marks.append((plain_len, plain_len + len(text), label, attrs))
        plain_parts.append(text)
        plain_len += len(text)
        pos = m.end()
    plain_parts.append(markup[pos:])
    plain = "".join(plain_parts)
    if "[[" in plain or "]]" in plain:
        i = plain.find("[[") if "[[" in plain else plain.find("]]")
        raise ValueError(f"{name}: malformed markup near {plain[max(0, i - 30) : i + 30]!r}")
    # align non-whitespace characters of plain and source
    p_idx = [i for i, c in enumerate(plain) if not c.isspace()]
    s_idx = [i for i, c in enumerate(source) if not c.isspace()]
    p_chars = "".join(plain[i] for i in p_idx)
    s_chars = "".join(source[i] for i in s_idx)
    if p_chars != s_chars:
        k = next((i for i, (a, b) in enumerate(zip(p_chars, s_chars)) if a != b), min(len(p_chars), len(s_chars)))
        raise ValueError(
            f"{name}: the text differs from the source note at non-space character {k}: "
            f"markup {p_chars[max(0, k - 40) : k + 20]!r} vs source {s_chars[max(0, k - 40) : k + 20]!r}"
        )
    to_source = {}
    for n, i in enumerate(p_idx):
        to_source[i] = s_idx[n]
    out = []
    for start, end, label, attrs in marks:
        inner = [i for i in range(start, end) if not plain[i].isspace()]
        s, e = to_source[inner[0]], to_source[inner[-1]] + 1
        out.append((s, e, label, attrs))
    out.sort()
    for (s1, e1, *_), (s2, e2, *_) in zip(out, out[1:]):
        if s2 < e1:
            raise ValueError(f"{name}: overlapping entities {source[s1:e1]!r} and {source[s2:e2]!r}")
    return out


def to_ann(entities: List[Tuple[int, int, str, List[str]]], source: str) -> str:
    lines, a = [], 0
    for t, (s, e, label, attrs) in enumerate(entities, start=1):
        lines.append(f"T{t}\t{label} {s} {e}\t{source[s:e]}")
        for attr in attrs:
            a += 1
            key, value = ATTRIBUTES[attr]
            lines.append(f"A{a}\t{key} T{t}" + (f" {value}" if value else ""))
    return "\n".join(lines) + ("\n" if lines else "")


def read_ann(path: Path) -> List[Tuple[int, int, str]]:
    ents = []
    for line in path.read_text(encoding="utf8").splitlines():
        if line.startswith("T"):
            _, label_offsets, _ = line.split("\t", 2)
            label, s, e = label_offsets.split(" ")
            ents.append((int(s), int(e), label))
    return ents


def cmd_select(args) -> int:
    notes = source_notes()
    ids = selection(notes)
    out = Path(args.work_dir)
    (out / "raw").mkdir(parents=True, exist_ok=True)
    for i in ids:
        (out / "raw" / f"{i}.txt").write_text(notes[i], encoding="utf8")
    aci = [i for i in ids if i.startswith("aci_")]
    mts = [i for i in ids if i.startswith("mts_")]
    json.dump({"aci": aci, "mts": mts}, (out / "selection.json").open("w"), indent=1)
    print(f"{len(aci)} ACI-BENCH notes, {len(mts)} MTS-Dialog sections -> {out / 'raw'}")
    return 0


def cmd_build(args) -> int:
    notes = source_notes()
    out = Path(args.brat_dir)
    out.mkdir(parents=True, exist_ok=True)
    errors, n_ents = [], 0
    files = sorted(Path(args.markup_dir).glob("*.txt"))
    for path in files:
        doc_id = path.stem
        if doc_id not in notes:
            errors.append(f"{path.name}: no such note in the allowed sources")
            continue
        try:
            ents = parse_markup(path.read_text(encoding="utf8"), notes[doc_id], name=path.name)
        except ValueError as err:
            errors.append(str(err))
            continue
        (out / f"{doc_id}.txt").write_text(notes[doc_id], encoding="utf8", newline="")
        (out / f"{doc_id}.ann").write_text(to_ann(ents, notes[doc_id]), encoding="utf8")
        n_ents += len(ents)
    for e in errors:
        print("ERROR", e, file=sys.stderr)
    print(f"{len(files) - len(errors)} of {len(files)} files -> {out} ({n_ents} entities)")
    return 1 if errors else 0


def _prf(tp: int, n_a: int, n_b: int) -> Dict[str, float]:
    p = tp / n_b if n_b else 0.0
    r = tp / n_a if n_a else 0.0
    return {"p": round(p, 3), "r": round(r, 3), "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0}


def agreement(dir_a: Path, dir_b: Path) -> dict:
    ids = sorted(p.stem for p in Path(dir_b).glob("*.ann") if (Path(dir_a) / p.name).exists())
    exact = overlap = untyped = n_a = n_b = 0
    per_label: Dict[str, List[int]] = {}
    for i in ids:
        a = set(read_ann(Path(dir_a) / f"{i}.ann"))
        b = set(read_ann(Path(dir_b) / f"{i}.ann"))
        n_a += len(a)
        n_b += len(b)
        exact += len(a & b)
        overlap += sum(1 for s, e, lab in b if any(s < e2 and s2 < e and lab == lab2 for s2, e2, lab2 in a))
        untyped += sum(1 for s, e, _ in b if any(s < e2 and s2 < e for s2, e2, _ in a))
        for _s, _e, lab in a:
            per_label.setdefault(lab, [0, 0, 0])[1] += 1
        for s, e, lab in b:
            per_label.setdefault(lab, [0, 0, 0])[2] += 1
            if (s, e, lab) in a:
                per_label[lab][0] += 1
    return {
        "documents": len(ids),
        "entities_a": n_a,
        "entities_b": n_b,
        "exact": _prf(exact, n_a, n_b),
        "overlap_same_label": _prf(overlap, n_a, n_b),
        "overlap_any_label": _prf(untyped, n_a, n_b),
        "per_label_exact": {lab: _prf(tp, na, nb) | {"a": na, "b": nb} for lab, (tp, na, nb) in sorted(per_label.items())},
    }


def cmd_agree(args) -> int:
    print(json.dumps(agreement(Path(args.a), Path(args.b)), indent=1))
    return 0


def cmd_stats(args) -> int:
    labels, attrs, docs = Counter(), Counter(), Counter()
    for ann in sorted(Path(args.brat_dir).glob("*.ann")):
        docs[ann.stem.split("_")[0]] += 1
        for line in ann.read_text(encoding="utf8").splitlines():
            if line.startswith("T"):
                labels[line.split("\t")[1].split(" ")[0]] += 1
            elif line.startswith("A"):
                parts = line.split("\t")[1].split(" ")
                attrs[parts[0] + (f" {parts[2]}" if len(parts) > 2 else "")] += 1
    print(json.dumps({"documents": dict(docs), "entities": sum(labels.values()), "labels": dict(labels.most_common()), "attributes": dict(attrs.most_common())}, indent=1))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("select")
    s.add_argument("work_dir")
    s.set_defaults(func=cmd_select)
    b = sub.add_parser("build")
    b.add_argument("markup_dir")
    b.add_argument("brat_dir")
    b.set_defaults(func=cmd_build)
    g = sub.add_parser("agree")
    g.add_argument("a")
    g.add_argument("b")
    g.set_defaults(func=cmd_agree)
    t = sub.add_parser("stats")
    t.add_argument("brat_dir")
    t.set_defaults(func=cmd_stats)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
