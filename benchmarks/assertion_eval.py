"""Rules alone vs rules + ``clinical_assertion`` on gold entities: per-attribute P/R/F1.

    python benchmarks/assertion_eval.py training/context_assertion/model-best \
        [--out benchmarks/results/assertion_classifier.md]

Data (dev splits, never used for training or checkpoint selection):

* the visit notes' dev split (``corpus/spacy/notes/dev.spacy``, ``spacy project run convert-notes``): all six
  attributes (BRAT ``POLARITY`` NEG / UNCERTAIN, ``HYPOTHETICAL``, ``CONDITIONAL``, ``HISTORICAL``, ``FAMILY``);
* MACCROBAT dev (``corpus/spacy/maccrobat/dev.spacy``): negation and uncertainty from ``POLARITY``.

Gold entities are placed on the docs (``GoldEntityCorpus.v1``), so only the assertion step is scored, with
``spacy-clinical-ner.context_scorer.v1`` (exact character spans; every entity of ``doc.spans["entities"]``).
Systems, all from the trained pipeline in the same run:

* **rules**: its ``clinical_sectionizer`` -> ``clinical_sentencizer`` -> ``clinical_context`` (the
  classifier disabled);
* **rules + classifier, decide = all**: ``clinical_assertion`` deciding every attribute it has an output for;
* **rules + classifier, shipped decide**: the ``decide`` the pipeline was saved with.

A trained pipeline uses the ConText rules saved in it, not the package's current ones; ``--context-rules default``
replaces them with the package's at load time (the classifier then reads the new rules' cues as features).

``--tune`` instead picks ``threshold`` / ``veto_threshold`` per attribute on the *training* holdout (every 8th
train document of each corpus, the documents ``spacy train`` picks checkpoints on; never the dev splits) and
prints them as the component's config setting.

``hypothetical or conditional`` pairs gold ``HYPOTHETICAL`` or ``CONDITIONAL`` with a prediction of either
(``is_hypothetical`` or ``assertion == "conditional"``), the notes measure of issue 18.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NOTE_TYPES = ["POLARITY", "HYPOTHETICAL", "CONDITIONAL", "HISTORICAL", "FAMILY"]
ATTRS = ("is_negated", "is_uncertain", "is_hypothetical", "conditional", "is_historical", "is_family")
NAMES = {a: a.replace("is_", "") for a in ATTRS}
EITHER = "hypothetical or conditional"


def read(nlp, path: Path, types: List[str]):
    from spacy_clinical_ner.context.corpus import create_gold_entity_corpus

    return list(create_gold_entity_corpus(path, spans_key="entities", brat_attributes=types)(nlp))


def run(nlp, examples, disable: Tuple[str, ...] = (), decide: List[str] | None = None):
    from spacy.training import Example

    assertion = nlp.get_pipe("clinical_assertion") if "clinical_assertion" in nlp.pipe_names else None
    saved = list(assertion.cfg["decide"]) if assertion is not None else None
    if assertion is not None and decide is not None:
        assertion.cfg["decide"] = list(decide)
    out = []
    try:
        for eg in examples:
            doc = eg.predicted.copy()
            for name, proc in nlp.pipeline:
                if name not in disable:
                    doc = proc(doc)
            out.append(Example(doc, eg.reference))
    finally:
        if assertion is not None:
            assertion.cfg["decide"] = saved
    return out


def either_counts(examples) -> Tuple[int, int, int]:
    from spacy_clinical_ner.context.scorer import gold_values

    tp = fp = fn = 0
    for eg in examples:
        gold, can = gold_values(eg.reference, list(eg.reference.spans["entities"]))
        if "is_hypothetical" not in can:
            continue
        g = {k for k, v in gold.items() if v.get("is_hypothetical") or v.get("conditional")}
        p = {
            (s.start_char, s.end_char)
            for s in eg.predicted.spans["entities"]
            if s._.is_hypothetical or s._.assertion in ("hypothetical", "conditional")
        }
        tp, fp, fn = tp + len(g & p), fp + len(p - g), fn + len(g - p)
    return tp, fp, fn


def prf(tp: int, fp: int, fn: int) -> Tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def scores(examples) -> Dict[str, Dict[str, float] | None]:
    from spacy_clinical_ner.context.scorer import score_context

    raw = score_context(examples, spans_key="entities", include_ents=False, attrs=ATTRS)
    out: Dict[str, Dict[str, float] | None] = {}
    for a in ATTRS:
        name = NAMES[a]
        f = raw[f"context_{name}_f"]
        out[name] = None if f is None else {m: raw[f"context_{name}_{m}"] for m in "prf"}
    p, r, f = prf(*either_counts(examples))
    if out["hypothetical"] is not None:
        out[EITHER] = {"p": p, "r": r, "f": f}
    return out


def gold_counts(examples) -> Dict[str, int]:
    from spacy_clinical_ner.context.scorer import gold_values

    n = dict.fromkeys(ATTRS, 0)
    for eg in examples:
        gold, _ = gold_values(eg.reference, list(eg.reference.spans["entities"]))
        for values in gold.values():
            for a in ATTRS:
                n[a] += bool(values.get(a))
    return n


GRID_ASSERT = [round(0.3 + 0.05 * i, 2) for i in range(12)]  # 0.30 .. 0.85
GRID_VETO = [round(0.05 * i, 2) for i in range(1, 11)]  # 0.05 .. 0.50


def collect(nlp, examples) -> Dict[str, List[Tuple[float, bool, bool]]]:
    """Per attribute the classifier can decide: (probability, rule decision, gold) for each gold entity
    whose corpus annotates the attribute."""
    from spacy_clinical_ner.context.scorer import gold_values

    pipe = nlp.get_pipe("clinical_assertion")
    rows: Dict[str, List[Tuple[float, bool, bool]]] = {a: [] for a in pipe.labels}
    for eg in examples:
        doc = eg.predicted.copy()
        for name, proc in nlp.pipeline:
            if name != "clinical_assertion":
                doc = proc(doc)
        (per_doc, probs) = pipe.predict([doc])
        probs = pipe.model.ops.to_numpy(probs)
        spans, _, analysed, _ = per_doc[0]
        gold, can = gold_values(eg.reference, list(eg.reference.spans["entities"]))
        for k, (span, (values, cues)) in enumerate(zip(spans, analysed, strict=True)):
            g = gold.get((span.start_char, span.end_char))
            if g is None:
                continue
            for j, attr in enumerate(pipe.labels):
                if attr not in can:
                    continue
                rule = any(pipe._supports(c, attr) for c in cues) if attr == "conditional" else bool(values.get(attr))
                rows[attr].append((float(probs[k, j]), rule, bool(g.get(attr))))
    return rows


def pick(rows: Dict[str, List[Tuple[float, bool, bool]]]) -> Dict[str, Dict]:
    """Per attribute: the (threshold, veto_threshold) with the best F1 over ``rows``, next to the rules' F1."""
    out = {}
    for attr, items in rows.items():
        if not items:
            continue
        best = None
        for t in GRID_ASSERT:
            for v in GRID_VETO:
                tp = fp = fn = 0
                for p, rule, gold_value in items:
                    pred = p >= (v if rule else t)
                    tp, fp, fn = tp + (pred and gold_value), fp + (pred and not gold_value), fn + (gold_value and not pred)
                f = prf(tp, fp, fn)[2]
                key = (round(f, 6), -abs(t - 0.6) - abs(v - 0.2))  # ties: nearest to the defaults (0.6, 0.2)
                if best is None or key > best[0]:
                    best = (key, t, v)
        r_tp = sum(r and g for _, r, g in items)
        r_fp = sum(r and not g for _, r, g in items)
        r_fn = sum(g and not r for _, r, g in items)
        d_tp = sum(p >= (0.2 if r else 0.6) and g for p, r, g in items)
        d_fp = sum(p >= (0.2 if r else 0.6) and not g for p, r, g in items)
        d_fn = sum(g and not p >= (0.2 if r else 0.6) for p, r, g in items)
        out[attr] = {
            "threshold": best[1],
            "veto_threshold": best[2],
            "f_tuned": round(best[0][0], 4),
            "f_defaults": round(prf(d_tp, d_fp, d_fn)[2], 4),
            "f_rules": round(prf(r_tp, r_fp, r_fn)[2], 4),
            "n": len(items),
            "gold": sum(g for _, _, g in items),
        }
    return out


def cross_validate(folds: int, steps: int, work: Path) -> Dict[str, List[Tuple[float, bool, bool]]]:
    """Out-of-fold rows over all *train* documents of both corpora: for fold k, ``spacy train`` on the
    documents with index % folds != k (``steps`` steps, the last model), then predict the others."""
    import subprocess

    import spacy

    from spacy_clinical_ner.context.corpus import create_gold_entity_corpus

    rows: Dict[str, List[Tuple[float, bool, bool]]] = {}
    for k in range(folds):
        out = work / f"fold{k}"
        holdout = [
            f"--corpora.{split}.parts.{part}.{key}={value}"
            for split in ("train", "dev")
            for part in ("maccrobat", "notes")
            for key, value in (("holdout_every", folds), ("holdout_offset", k))
        ]
        cmd = [sys.executable, "-m", "spacy", "train", str(REPO / "configs/context_assertion.cfg"), "--output", str(out)]
        cmd += [f"--training.max_steps={steps}", "--training.eval_frequency=100000", "--training.patience=0", *holdout]
        subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
        nlp = spacy.load(out / "model-last")
        held = []
        for path, types in (
            (REPO / "corpus/spacy/maccrobat/train.spacy", ["POLARITY"]),
            (REPO / "corpus/spacy/notes/train.spacy", NOTE_TYPES),
        ):
            reader = create_gold_entity_corpus(
                path, spans_key="entities", holdout_every=folds, holdout_offset=k, holdout="only", brat_attributes=types
            )
            held += list(reader(nlp))
        for attr, items in collect(nlp, held).items():
            rows.setdefault(attr, []).extend(items)
        print(f"fold {k}: {len(held)} held-out documents", file=sys.stderr)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="trained assertion pipeline (spacy train configs/context_assertion.cfg)")
    ap.add_argument("--notes", default=str(REPO / "corpus/spacy/notes/dev.spacy"))
    ap.add_argument("--maccrobat", default=str(REPO / "corpus/spacy/maccrobat/dev.spacy"))
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/assertion_classifier.md"))
    ap.add_argument("--tune", action="store_true", help="pick thresholds per attribute on the training holdout and print them")
    ap.add_argument("--tune-cv", type=int, default=0, help="pick them on out-of-fold predictions of this many folds over the train splits")
    ap.add_argument("--cv-steps", type=int, default=600)
    ap.add_argument("--cv-dir", default=str(REPO / "training/assertion_cv"))
    ap.add_argument("--notes-train", default=str(REPO / "corpus/spacy/notes/train.spacy"))
    ap.add_argument("--maccrobat-train", default=str(REPO / "corpus/spacy/maccrobat/train.spacy"))
    ap.add_argument(
        "--context-rules",
        default="saved",
        help="'saved': the ConText rules saved in the pipeline (what it ships with); 'default', 'medspacy' or a rules "
        "file: replace them at load time (to measure a rule change without retraining)",
    )
    args = ap.parse_args()

    import spacy

    import spacy_clinical_ner  # noqa: F401 - registers factories, readers, scorers
    from spacy_clinical_ner.assertion.component import MULTI_LABELS

    if args.tune_cv:
        found = pick(cross_validate(args.tune_cv, args.cv_steps, Path(args.cv_dir)))
        print(json.dumps(found, indent=2))
        Path(args.out).with_name("assertion_thresholds_cv.json").write_text(json.dumps(found, indent=2) + "\n", encoding="utf8")
        return
    nlp = spacy.load(args.model)
    if args.context_rules != "saved":
        from spacy_clinical_ner.context.rules import load_rules

        nlp.get_pipe("clinical_context").set_rules(load_rules(args.context_rules))
    if args.tune:
        from spacy_clinical_ner.context.corpus import create_gold_entity_corpus

        held = []
        for path, types in ((args.maccrobat_train, ["POLARITY"]), (args.notes_train, NOTE_TYPES)):
            reader = create_gold_entity_corpus(
                path, spans_key="entities", holdout_every=8, holdout_offset=3, holdout="only", brat_attributes=types
            )
            held += list(reader(nlp))
        found = pick(collect(nlp, held))
        print(json.dumps(found, indent=2))
        print("threshold =", json.dumps({a: v["threshold"] for a, v in found.items()}))
        print("veto_threshold =", json.dumps({a: v["veto_threshold"] for a, v in found.items()}))
        return
    shipped = list(nlp.get_pipe("clinical_assertion").cfg["decide"])
    data = {
        "visit notes dev": read(nlp, Path(args.notes), NOTE_TYPES),
        "MACCROBAT dev": read(nlp, Path(args.maccrobat), ["POLARITY"]),
    }
    systems = [
        ("rules (clinical_context)", {"disable": ("clinical_assertion",)}),
        ("rules + classifier, decide = all", {"decide": list(MULTI_LABELS)}),
        (f"rules + classifier, shipped decide {shipped}", {}),
    ]
    results: Dict = {"model": args.model, "shipped_decide": shipped, "data": {}}
    lines = [
        "## Assertion classifier: rules alone vs rules + `clinical_assertion` (gold entities, dev splits)",
        "",
        f"Produced by `python benchmarks/assertion_eval.py {args.model}"
        + (f" --context-rules {args.context_rules}" if args.context_rules != "saved" else "")
        + '`. P / R / **F1** per attribute, exact spans, all entities of `doc.spans["entities"]`.',
        "",
    ]
    for data_name, examples in data.items():
        gold = gold_counts(examples)
        entry = {"docs": len(examples), "gold": gold, "systems": {}}
        attrs = None
        rows = []
        for sys_name, kwargs in systems:
            t0 = time.perf_counter()
            got = scores(run(nlp, examples, **kwargs))
            entry["systems"][sys_name] = got
            attrs = [k for k, v in got.items() if v is not None]
            cells = [f"{got[k]['p']:.3f} / {got[k]['r']:.3f} / **{got[k]['f']:.3f}**" for k in attrs]
            rows.append(f"| {sys_name} | " + " | ".join(cells) + " |")
            print(f"{data_name} / {sys_name}: {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        results["data"][data_name] = entry
        n_gold = ", ".join(f"{NAMES[a]} {gold[a]}" for a in ATTRS if NAMES[a] in attrs)
        lines += [
            f"### {data_name} ({len(examples)} documents; gold: {n_gold})",
            "",
            "| system | " + " | ".join(attrs) + " |",
            "|---|" + "---|" * len(attrs),
            *rows,
            "",
        ]
    text = "\n".join(lines)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf8")
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf8")
    print(text)


if __name__ == "__main__":
    main()
