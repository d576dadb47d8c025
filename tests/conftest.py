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
