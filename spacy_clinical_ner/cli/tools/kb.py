"""``build-kb`` and ``init-linker``: the knowledge base and the linker of the project's pipelines."""

import logging
import shutil
import time
from pathlib import Path
from typing import List

import typer

from .. import TOOLS_PANEL, app


@app.command("build-kb", rich_help_panel=TOOLS_PANEL)
def build_kb_cli(
    output_dir: Path = typer.Argument(..., help="Folder for the KB (and its index/ subfolder)"),
    source: str = typer.Option("open", help="open | umls | scispacy"),
    path: Path | None = typer.Option(None, help="UMLS META folder (umls) or KB JSONL file (scispacy)"),
    vocab_dir: Path = typer.Option(Path("corpus/vocab"), help="Vendored vocabularies (open KB)"),
    languages: List[str] = typer.Option(["ENG"], help="UMLS LAT values to keep (ALL: every language)"),
    sources: List[str] = typer.Option([], help="UMLS SAB values to keep (default: all)"),
    semantic_types: List[str] = typer.Option([], help="Keep concepts with one of these TUIs / semantic groups"),
    pubtator_aliases: List[Path] = typer.Option(
        [], help="Dictionary expansion: add the mention texts of these TRAINING PubTator files as aliases (dev/test files are refused)"
    ),
    merge: bool = typer.Option(True, help="Open KB: merge concepts without a CUI into the CUI concept sharing an exact cross-reference"),
    include_suppressed: bool = typer.Option(False, help="UMLS: keep suppressible strings (SUPPRESS O/E/Y)"),
    index: bool = typer.Option(True, help="Also build the search index"),
) -> None:
    """Build a knowledge base (+ index) folder for the umls_linker."""
    from ...linking.builders import build_open_kb, create_scispacy_kb, create_umls_kb, kb_sources_summary, write_index
    from ...linking.errors import KnowledgeBaseError, LinkingErrors

    logging.basicConfig(level=logging.INFO)
    t0 = time.perf_counter()
    ignored = {
        "--languages/--sources/--semantic-types/--include-suppressed": source != "umls"
        and (languages != ["ENG"] or sources or semantic_types or include_suppressed),
        "--pubtator-aliases": source != "open" and bool(pubtator_aliases),
        "--no-merge": source != "open" and not merge,
    }
    for option, unused in ignored.items():
        if unused:
            raise typer.BadParameter(f"{option} cannot be used with --source {source}")
    if source == "open":
        if not vocab_dir.is_dir():
            raise typer.BadParameter(
                f"{vocab_dir} is not a folder: --vocab-dir names the vendored vocabularies (corpus/vocab of the repository)"
            )
        kb = build_open_kb(vocab_dir, pubtator_aliases=pubtator_aliases, merge=merge)
    elif source in ("umls", "scispacy"):
        if path is None:
            raise typer.BadParameter(f"--path is required for --source {source}")
        if source == "umls":
            langs = None if not languages or any(lang.upper() == "ALL" for lang in languages) else languages
            kb = create_umls_kb(path, langs, sources or None, semantic_types or None, include_suppressed)
        else:
            kb = create_scispacy_kb(path)
    else:
        raise KnowledgeBaseError(LinkingErrors.E405.format(value=source, options=["open", "umls", "scispacy"]))
    kb.to_disk(output_dir)
    t1 = time.perf_counter()
    msg = f"{kb.summary()} {kb_sources_summary(kb)} in {t1 - t0:.1f}s"
    if index:
        write_index(kb, output_dir / "index")
        msg += f"; index in {time.perf_counter() - t1:.1f}s"
    elif (output_dir / "index").exists():  # an index of an earlier build would link to the wrong concepts
        shutil.rmtree(output_dir / "index")
        msg += "; removed the index of an earlier build"
    typer.echo(f"KB -> {output_dir}: {msg}")


@app.command("init-linker", rich_help_panel=TOOLS_PANEL)
def init_linker_cli(
    kb_dir: Path = typer.Argument(..., exists=True, help="KB folder from build-kb"),
    output_dir: Path = typer.Argument(..., help="Where the pipeline is saved"),
    base: str | None = typer.Option(None, help="Pipeline to add the linker to (default: blank clinical)"),
    spans_key: str | None = typer.Option(None, help="Link doc.spans[KEY] instead of doc.ents"),
    threshold: float = typer.Option(0.7, help="Minimum cosine similarity"),
) -> None:
    """Add an initialised umls_linker (KB and index inside) to a pipeline and save it."""
    import spacy

    from ...tokenizer import clinical_blank

    nlp = spacy.load(base) if base else clinical_blank()
    linker = nlp.add_pipe("umls_linker", config={"spans_key": spans_key, "threshold": threshold})
    linker.initialize(kb=kb_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output_dir)
    typer.echo(f"pipeline with umls_linker ({len(linker.kb)} concepts) -> {output_dir}")

