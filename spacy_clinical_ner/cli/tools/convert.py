"""``convert-brat`` and ``convert-pubtator``: corpora to ``.spacy`` DocBins."""

import logging
from pathlib import Path

import typer

from .. import TOOLS_PANEL, app


@app.command("convert-brat", rich_help_panel=TOOLS_PANEL)
def convert_brat_cli(
    input_dir: Path = typer.Argument(..., help="Folder of BRAT .txt/.ann pairs", exists=True),
    output_dir: Path = typer.Argument(..., help="Where train.spacy, dev.spacy and report.json go"),
    dev_every: int = typer.Option(5, help="Every n-th document (sorted by id) goes to dev"),
    dev_offset: int = typer.Option(0, help="Which index modulo dev_every is dev"),
    split_file: Path = typer.Option(
        None, "--split", help="A fixed split (JSON {train: [ids], dev: [ids]}); unlisted documents go to dev when sha1(id) % dev_every == dev_offset"
    ),
) -> None:
    """Convert BRAT standoff to DocBins (entities, all-entity span group, relations, attributes)."""
    from ...readers.convert import convert_brat

    logging.basicConfig(level=logging.WARNING)
    # a bad file raises ClinicalNERError / OSError: one Error: line, exit 2 (spacy_clinical_ner.__main__)
    report = convert_brat(input_dir, output_dir, dev_every=dev_every, dev_offset=dev_offset, split_file=split_file)
    t = report["totals"]
    typer.echo(
        f"{t['documents']} documents ({len(report['splits']['train'])} train / {len(report['splits']['dev'])} dev): "
        f"{t['entities']} entities ({t['entities_exact']} exact, {t['entities_expanded']} snapped to tokens, "
        f"{t['entities_unplaced']} unplaced, {t['entities_discontinuous']} discontinuous), {t['doc_ents']} in doc.ents, "
        f"{t['relations']} relations, {t['groups']} groups, {t['attributes']} attributes -> {output_dir}"
    )
    if split_file:
        typer.echo(
            f"split from {split_file}: {len(report['split_unlisted'])} documents not listed (placed by the hash rule), "
            f"{len(report['split_missing'])} listed ids without a document"
        )


@app.command("convert-pubtator", rich_help_panel=TOOLS_PANEL)
def convert_pubtator_cli(
    input_file: Path = typer.Argument(..., exists=True, help="PubTator file"),
    output_file: Path = typer.Argument(..., help="Output .spacy file"),
) -> None:
    """Convert a PubTator file (BC5CDR, NCBI-disease) to a DocBin with mentions and concept ids."""
    from spacy.tokens import DocBin

    from ...readers.pubtator import pubtator_to_doc, read_pubtator
    from ...tokenizer import clinical_blank

    nlp = clinical_blank()
    db = DocBin(store_user_data=True)
    n = 0
    # a malformed line raises before anything is written (one Error: line, exit 2: spacy_clinical_ner.__main__)
    for pdoc in read_pubtator(input_file):
        db.add(pubtator_to_doc(pdoc, nlp.make_doc))
        n += 1
    output_file.parent.mkdir(parents=True, exist_ok=True)
    db.to_disk(output_file)
    typer.echo(f"{n} documents -> {output_file}")
