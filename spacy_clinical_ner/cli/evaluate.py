"""``evaluate-ner``: strict and any-overlap precision/recall/F1 of a pipeline's NER on a DocBin.

Besides spaCy's strict scores, the report has the any-overlap scores (same label, spans overlap) and the
coarse problem / treatment / test scores that visit-note evaluations use (i2b2 2010 concept types), each
predicted or gold entity of a fine label counted under its coarse type.
"""

import json
import time
from pathlib import Path
from typing import List, Optional

import typer

from . import app

#: MACCROBAT labels -> the i2b2 2010 concept types (problem, treatment, test)
COARSE_TYPES = {
    "Sign_symptom": "problem",
    "Disease_disorder": "problem",
    "Medication": "treatment",
    "Therapeutic_procedure": "treatment",
    "Diagnostic_procedure": "test",
}


def _prf(tp_p: int, n_p: int, tp_g: int, n_g: int) -> dict:
    p = tp_p / n_p if n_p else 0.0
    r = tp_g / n_g if n_g else 0.0
    return {"p": round(p, 4), "r": round(r, 4), "f": round(2 * p * r / (p + r), 4) if p + r else 0.0, "support": n_g}


def overlap_scores(pairs, label_map=None) -> dict:
    """Any-overlap micro and per-type P/R/F1 over ``(predicted_doc, gold_doc)`` pairs.

    A predicted entity is right when it overlaps a gold entity of the same (mapped) type, and a gold
    entity is found when a predicted one of its type overlaps it. ``label_map`` maps labels to types
    (labels it lacks are ignored); ``None`` keeps the labels.
    """

    def spans(doc):
        out = []
        for e in doc.ents:
            t = e.label_ if label_map is None else label_map.get(e.label_)
            if t is not None:
                out.append((e.start_char, e.end_char, t))
        return out

    counts: dict = {}
    for pred, gold in pairs:
        p_sp, g_sp = spans(pred), spans(gold)
        for s, e, t in p_sp:
            c = counts.setdefault(t, [0, 0, 0, 0])
            c[1] += 1
            c[0] += any(s < ge and gs < e and t == gt for gs, ge, gt in g_sp)
        for s, e, t in g_sp:
            c = counts.setdefault(t, [0, 0, 0, 0])
            c[3] += 1
            c[2] += any(s < pe and ps < e and t == pt for ps, pe, pt in p_sp)
    total = [sum(c[i] for c in counts.values()) for i in range(4)]
    return {"micro": _prf(*total), "per_type": {t: _prf(*c) for t, c in sorted(counts.items())}}


def ner_report(nlp, docs, batch_size: int = 16) -> dict:
    """Strict (exact span and label) micro and per-label scores, gold support, and speed."""
    from collections import Counter

    from spacy.scorer import Scorer
    from spacy.training import Example

    texts = [d.text for d in docs]
    start = time.perf_counter()
    predicted = list(nlp.pipe(texts, batch_size=batch_size))
    seconds = time.perf_counter() - start
    examples = [Example(p, g) for p, g in zip(predicted, docs)]
    scores = Scorer.score_spans(examples, "ents")
    support = Counter(e.label_ for d in docs for e in d.ents)
    words = sum(len(d) for d in predicted)
    per_type = {
        label: {"p": round(v["p"], 4), "r": round(v["r"], 4), "f": round(v["f"], 4), "support": support.get(label, 0)}
        for label, v in sorted((scores.get("ents_per_type") or {}).items())
    }
    return {
        "overlap": overlap_scores(zip(predicted, docs)),
        "coarse_overlap": overlap_scores(zip(predicted, docs), COARSE_TYPES),
        "ents_p": round(scores["ents_p"] or 0.0, 4),
        "ents_r": round(scores["ents_r"] or 0.0, 4),
        "ents_f": round(scores["ents_f"] or 0.0, 4),
        "ents_per_type": per_type,
        "documents": len(docs),
        "gold_entities": sum(support.values()),
        "words": words,
        "seconds": round(seconds, 2),
        "words_per_second": round(words / seconds) if seconds else None,
    }


def report_markdown(name: str, report: dict) -> str:
    lines = [
        f"### {name}: strict micro P {report['ents_p']:.3f} / R {report['ents_r']:.3f} / F1 {report['ents_f']:.3f}",
        "",
        f"{report['documents']} documents, {report['gold_entities']} gold entities (doc.ents), {report['words_per_second']} words/s.",
        "",
        "| label | support | P | R | F1 |",
        "|---|---:|---:|---:|---:|",
    ]
    rows = sorted(report["ents_per_type"].items(), key=lambda kv: -kv[1]["support"])
    lines += [f"| {label} | {v['support']} | {v['p']:.3f} | {v['r']:.3f} | {v['f']:.3f} |" for label, v in rows]
    if "overlap" in report:
        o = report["overlap"]["micro"]
        lines += ["", f"Any-overlap (same label): P {o['p']:.3f} / R {o['r']:.3f} / F1 {o['f']:.3f}.", ""]
        lines += ["| coarse type (any overlap) | support | P | R | F1 |", "|---|---:|---:|---:|---:|"]
        coarse = report["coarse_overlap"]
        for t, v in list(coarse["per_type"].items()) + [("all", coarse["micro"])]:
            lines.append(f"| {t} | {v['support']} | {v['p']:.3f} | {v['r']:.3f} | {v['f']:.3f} |")
    return "\n".join(lines) + "\n"


@app.command("evaluate-ner")
def evaluate_ner(
    model: str = typer.Argument(..., help="Pipeline path or package name"),
    data: Path = typer.Argument(..., exists=True, help="Gold .spacy DocBin (e.g. corpus/spacy/maccrobat/dev.spacy)"),
    output: Path = typer.Option(..., "--output", "-o", help="Metrics JSON to write"),
    markdown: Optional[Path] = typer.Option(None, help="Also write a Markdown table here"),
    name: str = typer.Option("NER", help="Name used in the Markdown heading"),
    gpu_id: int = typer.Option(-1, help="GPU id (-1: CPU)"),
) -> None:
    """Strict per-label P/R/F1 of doc.ents against the gold DocBin, written as JSON (+ Markdown)."""
    import spacy
    from spacy.tokens import DocBin

    from ..extensions import install_doc_extensions

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    install_doc_extensions()
    nlp = spacy.load(model)
    docs = list(DocBin().from_disk(data).get_docs(nlp.vocab))
    report = ner_report(nlp, docs)
    report["model"] = model
    report["data"] = str(data)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2), encoding="utf8")
    if markdown:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(report_markdown(name, report), encoding="utf8")
    o, c = report["overlap"]["micro"], report["coarse_overlap"]["micro"]
    typer.echo(
        f"{name}: strict P {report['ents_p']:.3f} R {report['ents_r']:.3f} F1 {report['ents_f']:.3f}; "
        f"any-overlap F1 {o['f']:.3f}; coarse any-overlap F1 {c['f']:.3f} -> {output}"
    )


@app.command("calibrate-confidence")
def calibrate_confidence(
    model: str = typer.Argument(..., help="NER pipeline trained without the dev documents (tok2vec + ner)"),
    notes: Path = typer.Argument(..., exists=True, help="Visit-note dev DocBin: calibration is measured on it by two-fold cross-fitting"),
    output: Path = typer.Argument(..., help="calibration.json to write (read by [initialize.components.clinical_entity_confidence])"),
    fit_data: List[Path] = typer.Option([], "--fit", help="More held-out DocBins to fit on (e.g. MACCROBAT dev)"),
    patterns: Optional[Path] = typer.Option(
        None, help="Medication patterns (build-drug-patterns): add the shipped pipeline's drug_ruler after the ner"
    ),
    markdown: Optional[Path] = typer.Option(None, help="Write the report (P/R at thresholds, ECE) here"),
    method: str = typer.Option(
        "greedy", help="Raw score of the confidence component: greedy (replayed decisions) or beam (beam marginals)"
    ),
) -> None:
    """Fit the entity confidence's calibration and report ECE and P/R at thresholds on the notes dev split."""
    import spacy
    import srsly
    from spacy.tokens import DocBin

    from ..confidence.component import expected_calibration_error, roc_auc
    from ..extensions import install_doc_extensions

    install_doc_extensions()
    nlp = spacy.load(model)
    if patterns is not None:
        ruler = nlp.add_pipe(
            "entity_ruler",
            name="drug_ruler",
            after="ner",
            config={"phrase_matcher_attr": "LOWER", "overwrite_ents": False, "validate": False},
        )
        ruler.add_patterns(list(srsly.read_jsonl(patterns)))
    if "clinical_name_guard" not in nlp.pipe_names:  # as in the shipped pipeline: names blocked before the NER
        nlp.add_pipe("clinical_name_guard", first=True)
    conf = nlp.add_pipe("clinical_entity_confidence", config={"method": method})

    def scored(path: Path):
        gold = list(DocBin().from_disk(path).get_docs(nlp.vocab))
        with nlp.select_pipes(disable=[conf.name]):
            pred = list(nlp.pipe([g.text for g in gold], batch_size=16))
        rows = [conf.scored_rows([p], [g]) for p, g in zip(pred, gold)]
        return rows, sum(len(g.ents) for g in gold)

    fit_rows = [r for path in fit_data for doc in scored(path)[0] for r in doc]
    note_rows, note_gold = scored(notes)
    folds = [note_rows[0::2], note_rows[1::2]]
    conf_all, correct_all, raw_all = [], [], []
    for k in range(2):
        conf.fit_rows(fit_rows + [r for doc in folds[1 - k] for r in doc])
        for x, y, rule in (row for doc in folds[k] for row in doc):
            conf_all.append(conf.row_confidence(x, rule))
            correct_all.append(y)
            raw_all.append(1.0 if rule else x)
    conf.fit_rows(fit_rows + [r for doc in note_rows for r in doc])
    calibration = conf.calibration
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, {"calibration": calibration, "model": model, "patterns": str(patterns) if patterns else None})
    thresholds = []
    for t in (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        kept = [y for c, y in zip(conf_all, correct_all) if c >= t]
        p = sum(kept) / len(kept) if kept else 0.0
        r = sum(kept) / note_gold if note_gold else 0.0
        thresholds.append(
            {
                "threshold": t,
                "entities": len(kept),
                "p": round(p, 4),
                "r": round(r, 4),
                "f": round(2 * p * r / (p + r), 4) if p + r else 0.0,
            }
        )
    report = {
        "notes_entities_predicted": len(conf_all),
        "notes_gold_entities": note_gold,
        "ece_raw": round(expected_calibration_error(raw_all, correct_all), 4),
        "roc_auc_raw": round(roc_auc(raw_all, correct_all), 4),
        "ece_calibrated_crossfit": round(expected_calibration_error(conf_all, correct_all), 4),
        "dictionary_precision": calibration.get("dictionary"),
        "thresholds": thresholds,
    }
    typer.echo(json.dumps(report, indent=1))
    if markdown:
        lines = [
            f"Entity confidence on the notes dev split ({report['notes_entities_predicted']} predicted, {note_gold} gold entities; "
            f"strict match; calibration cross-fitted in two folds over the notes, with the other held-out sets always in the fit): "
            f"raw score: {method}; expected calibration error (10 bins) raw {report['ece_raw']:.3f}, calibrated {report['ece_calibrated_crossfit']:.3f}; "
            f"ROC AUC of the raw score for right vs wrong entities {report['roc_auc_raw']:.3f}.",
            "",
            "| threshold | entities kept | P | R | F1 |",
            "|---:|---:|---:|---:|---:|",
        ] + [f"| {t['threshold']:.1f} | {t['entities']} | {t['p']:.3f} | {t['r']:.3f} | {t['f']:.3f} |" for t in thresholds]
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text("\n".join(lines) + "\n", encoding="utf8")
