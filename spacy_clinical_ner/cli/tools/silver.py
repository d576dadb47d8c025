"""``annotate-silver``: a teacher pipeline's entities on unlabelled abstracts, as extra NER training data.

The CPU NER learns from the 128 MACCROBAT training documents and from the transformer NER's annotations
of PubMed abstracts (``corpus/silver``), which moves it towards the stronger teacher (see
``benchmarks/results/silver.md``). The teacher is trained on the train split only, so the dev split stays
unseen by the student through it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import typer

from .. import TOOLS_PANEL, app


@app.command("annotate-silver", rich_help_panel=TOOLS_PANEL)
def annotate_silver_cli(
    teacher: str = typer.Argument(..., help="Teacher pipeline with a trained ner (package name or folder)"),
    output: Path = typer.Argument(..., help="Output DocBin (.spacy)"),
    pubtator: List[Path] = typer.Option(..., help="A PubTator file of abstracts to annotate (repeatable)", exists=True, dir_okay=False),
    n_docs: int = typer.Option(400, "--n-docs", help="How many abstracts (shuffled with --seed); 0: all"),
    seed: int = typer.Option(0, help="Shuffle seed"),
    batch_size: int = typer.Option(16, help="Documents per batch"),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU to annotate on (-1: CPU)"),
) -> None:
    """Annotate PubMed abstracts with a teacher NER and save them as silver training documents."""
    import spacy

    from ...readers.silver import annotate_silver, pubtator_texts

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    nlp = spacy.load(teacher)
    if "ner" not in nlp.pipe_names:
        raise typer.BadParameter(f"{teacher} has no 'ner' component (its pipeline: {nlp.pipe_names})")
    texts = pubtator_texts(pubtator, n=n_docs, seed=seed)
    keep = [name for name in nlp.pipe_names if name == "ner" or nlp.get_pipe_meta(name).factory in ("transformer", "tok2vec")]
    with nlp.select_pipes(enable=keep):
        stats = annotate_silver(nlp, texts, output, batch_size=batch_size)
    stats.update(teacher=str(teacher), sources=[str(p) for p in pubtator], n_docs=n_docs, seed=seed)
    output.with_suffix(".json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf8")
    typer.echo(f"{stats['documents']} documents, {stats['tokens']} tokens, {stats['entities']} entities -> {output}")
