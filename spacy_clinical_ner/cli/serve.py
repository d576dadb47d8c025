"""``serve``: the REST service and its HTML page (FastAPI on uvicorn)."""

import logging
import os
from pathlib import Path
from typing import List

import typer

from . import app


@app.command("serve")
def serve_cli(
    model: str | None = typer.Option(
        None, "--model", "-m", help="Pipeline package name or folder (default: en_clinical_ner_cnn, else training/assembled/cnn)"
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (default: loopback only; 0.0.0.0 exposes the service)"),
    port: int = typer.Option(8000, "--port", "-p"),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Worker processes, each with its own copy of the pipeline"),
    max_body_bytes: int = typer.Option(2_000_000, "--max-body-bytes", min=1, help="Larger requests get 413"),
    max_notes: int = typer.Option(64, "--max-notes", min=1, help="More notes in one request get 413"),
    max_chars: int = typer.Option(100_000, "--max-chars", min=1, help="Longer notes get a too_long error"),
    max_request_chars: int = typer.Option(
        400_000, "--max-request-chars", min=1, help="More characters in all the notes of one request get 413 too_much_work"
    ),
    timeout: float = typer.Option(60.0, "--timeout", min=0.1, help="Seconds before a request not yet answered gets 503 timeout"),
    budget_s: float = typer.Option(
        60.0,
        "--budget-s",
        min=0.0,
        help="Seconds of pipeline work per note; a note over it is stopped and gets an over_budget error (413 for a single note; 0: no limit)",
    ),
    long_chars: int = typer.Option(
        20_000,
        "--long-chars",
        min=0,
        help="Requests of this many characters or more run in a lane of their own (a forked copy of the pipeline), "
        "so that they never hold up short ones (0: one lane)",
    ),
    allowed_host: List[str] = typer.Option(
        [],
        "--allowed-host",
        help="A host name the service is reached by (repeat for several; '*' any, '*.example.org' a domain). "
        "Default: the loopback names, and --host when it names one host",
    ),
    code: Path | None = typer.Option(None, "--code", help="Python file that registers custom components"),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Serve POST /annotate, GET /health, the OpenAPI schema (/openapi.json) and a page at /."""
    from ..errors import ClinicalNERError, missing_extra

    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ModuleNotFoundError as err:
        raise missing_extra("serve", err) from None

    from ..io.model import resolve_model
    from ..serve.app import ENV, allowed_hosts

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        resolved = str(resolve_model(model))  # fail before binding the port
    except ClinicalNERError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(code=2) from err
    # Each worker process builds its app from the environment (uvicorn --factory).
    os.environ[ENV["model"]] = resolved
    if code:
        os.environ[ENV["code"]] = str(code.resolve())
    os.environ[ENV["max_body_bytes"]] = str(max_body_bytes)
    os.environ[ENV["max_notes"]] = str(max_notes)
    os.environ[ENV["max_chars"]] = str(max_chars)
    os.environ[ENV["max_request_chars"]] = str(max_request_chars)
    os.environ[ENV["timeout"]] = str(timeout)
    os.environ[ENV["budget"]] = str(budget_s)
    os.environ[ENV["long_chars"]] = str(long_chars)
    os.environ[ENV["allowed_hosts"]] = ",".join(allowed_hosts(host, allowed_host))
    uvicorn.run(
        "spacy_clinical_ner.serve.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        # The access log has method, path and status only: no bodies, no note text.
        access_log=True,
    )
