"""``assemble-relations``: one pipeline with a trained NER and a trained relation extractor."""

from pathlib import Path

import typer

from .. import TOOLS_PANEL, app


@app.command("assemble-relations", rich_help_panel=TOOLS_PANEL)
def assemble_relations_cli(
    ner_path: Path = typer.Argument(..., exists=True, help="Trained NER pipeline (e.g. training/ner_cpu/model-best)"),
    rel_path: Path = typer.Argument(..., exists=True, help="Trained relation pipeline (e.g. training/rel_cpu/model-best)"),
    output_dir: Path = typer.Argument(..., help="Where to write the combined pipeline"),
) -> None:
    """Append the relation extractor (with a private copy of its embedding) to the NER pipeline."""
    import spacy

    from ...relations.assemble import attach_relation_extractor

    nlp = attach_relation_extractor(spacy.load(ner_path), rel_path)
    nlp.to_disk(output_dir)
    typer.echo(f"{' -> '.join(nlp.pipe_names)} -> {output_dir}")
