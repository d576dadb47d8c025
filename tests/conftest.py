"""Shared fixtures. Tests never touch the network: hub downloads fail fast."""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
FIXTURES = Path(__file__).parent / "fixtures"
# the rule-based pipeline of the product-surface tests, loaded by path (also with --code in subprocesses)
SURFACE_CODE = FIXTURES / "surface" / "components.py"


def surface_components():
    import sys

    from spacy.util import import_file

    return sys.modules.get("surface_components") or import_file("surface_components", SURFACE_CODE)


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return CORPUS


@pytest.fixture(scope="session")
def maccrobat_dir() -> Path:
    return CORPUS / "maccrobat" / "brat"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def nlp():
    """A blank English pipeline with the clinical tokenizer."""
    from spacy_clinical_ner.tokenizer import clinical_blank

    return clinical_blank()


@pytest.fixture(scope="session")
def comp():
    """The surface test components module (pipeline builders, patterns, notes)."""
    return surface_components()


@pytest.fixture(scope="session")
def tiny_vectors(tmp_path_factory, maccrobat_dir) -> Path:
    """Small floret vectors (8 wide) trained on two MACCROBAT documents, as a spaCy vectors pipeline."""
    from spacy_clinical_ner.cli.tools.vectors import build_vectors, write_training_text
    from spacy_clinical_ner.readers.brat import read_brat_document

    out = tmp_path_factory.mktemp("vectors")
    write_training_text([read_brat_document(maccrobat_dir / f"{i}.txt").text for i in ("15939911", "16778410")], out / "text.txt")
    return build_vectors(out / "text.txt", out, dim=8, epoch=1, bucket=500, min_count=1)
