"""``python -m spacy_clinical_ner``: the project's command line."""


def main() -> None:
    from .cli import load_commands

    load_commands()()


if __name__ == "__main__":
    main()
