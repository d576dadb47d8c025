"""``graph``: annotation records -> knowledge graph (RDF, Neo4j, JSON) and the patient view."""

import logging
from pathlib import Path
from typing import List

import typer

from . import app


@app.command("graph")
def graph_cli(
    paths: List[Path] = typer.Argument(
        ..., metavar="ANNOTATIONS... OUTPUT_DIR", help="One or more annotations.jsonl files (written by `annotate`), then the output folder"
    ),
    formats: str = typer.Option(
        "json",
        "--format",
        "-f",
        help="Comma-separated outputs: json, rdf (Turtle + N-Triples), neo4j (Cypher + neo4j-admin CSVs), patients (JSON + FHIR Bundle)",
    ),
    notes: Path | None = typer.Option(
        None, "--notes", help="The notes file (JSONL/CSV) with the patient ids and dates (default: the input that run.json names)"
    ),
    id_field: str | None = typer.Option(None, "--id-field", help="Note id key/column of --notes (default: the one `annotate` used)"),
    patient_field: str = typer.Option("patient_id", "--patient-field", help="Patient id key/column (without it: one patient per note)"),
    date_field: str = typer.Option("date", "--date-field", help="Note date key/column (ISO 8601; orders the patient view)"),
    kb: str = typer.Option(
        "auto",
        "--kb",
        help="Knowledge base folder (build-kb) for concept names, semantic types and cross-references; "
        "auto: the linker's KB of the installed pipeline that run.json names; none: no KB",
    ),
    base: str = typer.Option("urn:spacy-clinical-ner:", "--base-iri", help="Base of the RDF instance IRIs"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at INFO level"),
) -> None:
    """Build the graph of a batch of notes. A broken line is reported (file:line) and left out,
    every other line is kept; the exit code is 1 when any line was broken."""
    from ..errors import ClinicalNERError
    from ..graph.export import export_graph, parse_graph_formats, pipeline_kb

    logging.basicConfig(level=logging.INFO if verbose else logging.ERROR, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if len(paths) < 2:
        typer.echo("Error: give at least one annotations file and the output folder", err=True)
        raise typer.Exit(code=2)
    *annotations, output_dir = paths
    try:
        fmts = parse_graph_formats(formats)
        knowledge_base = None
        kb_path = None if kb.lower() == "none" else pipeline_kb(annotations) if kb.lower() == "auto" else Path(kb)
        if kb_path is not None:
            from ..linking.builders import load_kb

            logging.getLogger(__name__).info("Knowledge base: %s", kb_path)
            knowledge_base = load_kb(kb_path)
        report = export_graph(
            annotations,
            output_dir,
            formats=fmts,
            notes=notes,
            id_field=id_field,
            patient_field=patient_field,
            date_field=date_field or None,
            kb=knowledge_base,
            base=base,
        )
    except (ClinicalNERError, OSError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(code=2) from err
    for problem in report["broken_lines"]:
        typer.echo(f"{problem['path']}:{problem['line']}: {problem['reason']} (left out)", err=True)
    counts = report["counts"]
    typer.echo(
        f"{report['records']} record(s), {report['patients']} patient(s): {counts['nodes']} nodes, {counts['edges']} edges"
        + (f", {counts['triples']} triples" if "triples" in counts else "")
        + f"; {len(report['broken_lines'])} broken line(s) -> {output_dir}",
        err=True,
    )
    if report["broken_lines"]:
        raise typer.Exit(code=1)
