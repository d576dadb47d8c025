"""Command-line interface: ``python -m spacy_clinical_ner <command>`` (or ``clinical-ner``).

Each command lives in its own module, which registers itself on ``app``; the modules
are listed in ``COMMAND_MODULES`` and imported only when the CLI runs.
"""

import importlib

import typer

app = typer.Typer(name="clinical-ner", help="spacy-clinical-ner command line", no_args_is_help=True, add_completion=False)

COMMAND_MODULES = [
    "spacy_clinical_ner.cli.convert",
    "spacy_clinical_ner.cli.assets",
    "spacy_clinical_ner.cli.evaluate",
    "spacy_clinical_ner.cli.annotate",
    "spacy_clinical_ner.cli.serve",
    "spacy_clinical_ner.cli.linking",
    "spacy_clinical_ner.cli.show",
    "spacy_clinical_ner.cli.context",
    "spacy_clinical_ner.cli.relations",
    "spacy_clinical_ner.cli.vectors",
    "spacy_clinical_ner.cli.silver",
    "spacy_clinical_ner.cli.patterns",
    "spacy_clinical_ner.cli.graph",
]


def load_commands() -> typer.Typer:
    for module in COMMAND_MODULES:
        importlib.import_module(module)
    return app
