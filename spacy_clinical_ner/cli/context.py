"""``context-rules``: inspect, validate and export ConText rule sets."""

from collections import Counter
from pathlib import Path

import typer

from . import app


@app.command("context-rules")
def context_rules_cli(
    source: str = typer.Argument("default", help="'default', 'medspacy' or the path of a JSON/JSONL rules file"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the validated rules as medspaCy-style JSON"),
    add: Path | None = typer.Option(None, "--add", help="A rules file to append (e.g. local cues)"),
) -> None:
    """Validate a ConText rule set, print a summary, optionally merge and export it."""
    from ..context.rules import load_rules, read_rules, write_rules

    rules = load_rules(source)
    if add is not None:
        rules += read_rules(add)
    by_cat = Counter((r.category, r.direction) for r in rules)
    typer.echo(f"{len(rules)} rules from {source}" + (f" + {add}" if add else ""))
    for (category, direction), n in sorted(by_cat.items()):
        typer.echo(f"  {category:<24} {direction:<14} {n}")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_rules(rules, output)
        typer.echo(f"-> {output}")
