"""``evaluate-ner``: strict per-label precision/recall/F1 of a pipeline's NER on a DocBin."""

import json
import time
from pathlib import Path
from typing import Optional

import typer

from . import app


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
    typer.echo(f"{name}: strict P {report['ents_p']:.3f} R {report['ents_r']:.3f} F1 {report['ents_f']:.3f} -> {output}")
