"""``evaluate-ner`` and ``evaluate-linker``.

``evaluate-ner``: strict and any-overlap precision/recall/F1 of a pipeline's NER on a DocBin.

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


@app.command("evaluate-linker")
def evaluate_linker_cli(
    model: str = typer.Argument(..., help="Pipeline (package name or folder) with a umls_linker, or a KB folder"),
    data: List[Path] = typer.Argument(..., help="PubTator file(s) with gold mentions and MeSH/OMIM ids"),
    labels: List[str] = typer.Option([], help="Mention types to evaluate (default: all)"),
    k: int = typer.Option(10, min=1, help="Recall@k"),
    output: Path | None = typer.Option(None, help="Write the scores as JSON"),
) -> None:
    """Accuracy@1, recall@k, in-KB share and P/R/F of the linker on gold mentions."""
    import spacy

    from ..linking.evaluate import evaluate_linking
    from ..tokenizer import clinical_blank

    if (Path(model) / "kb.json").exists():
        nlp = clinical_blank()
        nlp.add_pipe("umls_linker", config={"spans_key": "entities"}).initialize(kb=model)
    else:
        nlp = spacy.load(model)
    t0 = time.perf_counter()
    scores = evaluate_linking(nlp, data, labels=labels or None, k=k)
    if not scores.get("mentions"):
        raise typer.BadParameter(f"no gold mentions in {', '.join(map(str, data))}" + (f" with labels {labels}" if labels else ""))
    scores["seconds"] = round(time.perf_counter() - t0, 2)
    typer.echo(json.dumps(scores, indent=2))
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(scores, indent=2))
