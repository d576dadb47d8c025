"""Command-line interface: ``python -m spacy_clinical_ner <command>`` (or ``clinical-ner``).

Each command lives in its own module, which registers itself on ``app``; the modules are
imported only when the CLI runs. Two groups:

* the user's commands (``USER_COMMAND_MODULES``, this package): annotate notes, show one,
  serve the REST API, export the knowledge graph, evaluate a pipeline's NER or linker,
  validate ConText rules;
* the project's tools (``TOOL_COMMAND_MODULES``, :mod:`.tools`): the steps of ``project.yml``
  that build the data, vectors, patterns, knowledge base and pipelines. They are listed apart in
  ``--help`` and keep their names, so ``spacy project run`` calls them as before.
"""

import importlib

import typer

app = typer.Typer(name="clinical-ner", help="spacy-clinical-ner command line", no_args_is_help=True, add_completion=False)

#: The ``--help`` panel of the project's tools.
TOOLS_PANEL = "Project tools (steps of project.yml)"

USER_COMMAND_MODULES = [
    "spacy_clinical_ner.cli.annotate",
    "spacy_clinical_ner.cli.show",
    "spacy_clinical_ner.cli.serve",
    "spacy_clinical_ner.cli.graph",
    "spacy_clinical_ner.cli.evaluate",
    "spacy_clinical_ner.cli.context",
]

TOOL_COMMAND_MODULES = [
    "spacy_clinical_ner.cli.tools.convert",
    "spacy_clinical_ner.cli.tools.silver",
    "spacy_clinical_ner.cli.tools.vectors",
    "spacy_clinical_ner.cli.tools.patterns",
    "spacy_clinical_ner.cli.tools.kb",
    "spacy_clinical_ner.cli.tools.calibrate",
    "spacy_clinical_ner.cli.tools.relations",
    "spacy_clinical_ner.cli.tools.assets",
]


def load_commands() -> typer.Typer:
    for module in USER_COMMAND_MODULES + TOOL_COMMAND_MODULES:
        importlib.import_module(module)
    return app
