"""``python -m spacy_clinical_ner``: the project's command line."""

import os
import sys


def main() -> None:
    """Run a command; a user error (bad input, missing file, bad setting) is one ``Error:`` line and
    exit code 2, not a traceback (``CLINICAL_NER_DEBUG=1`` shows the traceback)."""
    from .cli import load_commands
    from .errors import ClinicalNERError

    try:
        load_commands()()
    except (ClinicalNERError, OSError) as err:
        if os.environ.get("CLINICAL_NER_DEBUG"):
            raise
        print(f"Error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
