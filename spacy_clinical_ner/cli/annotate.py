"""``annotate``: batch annotation of a folder of ``.txt`` files, a JSONL or a CSV file."""

import logging
import os
import sys
from pathlib import Path

import typer

from . import app

#: Exit codes of ``annotate`` (its --help lists them).
EXIT_NOTE_ERRORS = 1
EXIT_ERROR = 2
EXIT_EMPTY = 3
EXIT_INTERRUPTED = 130


@app.command("annotate")
def annotate_cli(
    input_path: Path = typer.Argument(..., help="Folder of .txt files, a .txt, a .jsonl (id, text) or a .csv/.tsv file", exists=True),
    output_dir: Path = typer.Argument(..., help="Output folder: annotations.jsonl, run.json, and fhir/ brat/ html/ as asked"),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Pipeline package name or folder (default: en_clinical_ner_cnn, else training/assembled/cnn)"
    ),
    formats: str = typer.Option("jsonl", "--format", "-f", help="Comma-separated outputs: jsonl (always written), fhir, brat, html"),
    n_process: int = typer.Option(1, "--n-process", "-n", min=1, help="Worker processes"),
    batch_size: int = typer.Option(16, "--batch-size", "-b", min=1, help="Notes per batch"),
    id_field: str = typer.Option("id", "--id-field", help="JSONL key / CSV column of the note id"),
    text_field: str = typer.Option("text", "--text-field", help="JSONL key / CSV column of the note text"),
    glob: str = typer.Option("**/*.txt", "--glob", help="Which files of an input folder are notes"),
    max_chars: int | None = typer.Option(
        None,
        "--max-chars",
        min=1,
        help="Longer notes get a too_long error record (default: the pipeline's max_length; above it, about 0.4 GB of memory per 100,000 characters)",
    ),
    encoding: str = typer.Option(
        "utf-8",
        "--encoding",
        "-e",
        help="Encoding of the input files (cp1252, latin-1 ...); a .txt with a UTF-16/32 byte-order mark is read as such",
    ),
    budget_s: float = typer.Option(
        60.0,
        "--budget-s",
        min=0.0,
        help="Seconds of pipeline work per note; a note over it gets an over_budget error record and the run goes on (0: no limit)",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start again instead of resuming an earlier run in OUTPUT_DIR"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar"),
    code: Path | None = typer.Option(None, "--code", help="Python file that registers custom components"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at INFO level"),
) -> None:
    """Annotate notes into JSONL (+ FHIR R4B Bundles, BRAT, displaCy HTML). Re-running resumes.

    One run at a time per output folder: a second run into a folder in use stops (E630).

    Exit codes:

    0 = every note annotated (or done by an earlier run);

    1 = the run finished, but some notes have an error record, over_budget included (see annotations.jsonl; re-running tries them again);

    2 = the run did not start or stopped (bad option, unreadable input, output folder in use or not writable);

    3 = the input holds no notes (E631);

    130 = stopped by Ctrl-C or SIGTERM (worker processes stopped too; re-running resumes).
    """
    from ..errors import ClinicalNERError, Errors
    from ..io.batch import Interrupted, parse_formats, run_batch
    from ..io.model import load_pipeline

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        fmts = parse_formats(formats)
        nlp = load_pipeline(model, code_path=code)
        summary = run_batch(
            nlp,
            input_path,
            output_dir,
            formats=fmts,
            n_process=n_process,
            batch_size=batch_size,
            id_field=id_field,
            text_field=text_field,
            glob=glob,
            max_chars=max_chars,
            encoding=encoding,
            overwrite=overwrite,
            progress=progress,
            budget_s=budget_s or None,
        )
    except (ClinicalNERError, OSError) as err:  # OSError: a missing input, an output folder that cannot be written
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(code=EXIT_ERROR) from err
    except (KeyboardInterrupt, Interrupted) as err:
        # The output files are closed and the lock released (run_batch's clean-up ran). Exit at once:
        # multiprocessing's queue finaliser would wait for ever on a queue its killed workers never read.
        what = "Ctrl-C" if isinstance(err, KeyboardInterrupt) else f"signal {err.signum}"
        typer.echo(f"Stopped by {what}: the notes done so far are in {output_dir}; run the same command again to resume.", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    errors = ", ".join(f"{code} {n}" for code, n in sorted(summary["error_codes"].items())) or "none"
    typer.echo(
        f"{summary['annotated']} annotated, {summary['errors']} error record(s) ({errors}), {summary['skipped']} already done; "
        f"{summary['words']} words in {summary['seconds']:.1f} s ({summary['words_per_second'] or 0:.0f} words/s) -> {output_dir}",
        err=True,
    )
    if summary["notes"] == 0:
        typer.echo(f"Error: {Errors.E631.format(path=input_path)}", err=True)
        raise typer.Exit(code=EXIT_EMPTY)
    if summary["errors"]:
        raise typer.Exit(code=EXIT_NOTE_ERRORS)
