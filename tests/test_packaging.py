"""Packaging: the entry points of pyproject.toml resolve, and a feature whose extra is missing stops with
E619 naming the extra (the core install itself is checked in its own environment by scripts/core_smoke.sh)."""

import importlib
import subprocess
import sys

import pytest

from spacy_clinical_ner.errors import MissingExtraError


@pytest.fixture(scope="module")
def project(repo_dir):
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ (the standard library's TOML reader)")
    with open(repo_dir / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]


def test_entry_points_resolve(project):
    groups = project["entry-points"]
    assert {"spacy_factories", "spacy_architectures", "spacy_readers", "spacy_scorers", "spacy_misc", "spacy_tokenizers"} <= set(groups)
    targets = [*project["scripts"].values(), *(v for group in groups.values() for v in group.values())]
    for target in targets:
        module, _, attr = target.partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), target
    assert len(targets) >= 28


def test_core_dependencies_leave_the_heavy_parts_to_extras(project):
    core = " ".join(project["dependencies"])
    for heavy in ("torch", "transformers", "scispacy", "nmslib", "pyspark", "medspacy", "floret", "fhir"):
        assert heavy not in core
    extras = project["optional-dependencies"]
    assert any(d == "torch" for d in extras["trf"])  # unpinned: the user picks the build
    assert {"fhir", "serve", "spark", "trf", "kb", "train", "medspacy", "scispacy", "all", "dev"} <= set(extras)


def _blocked(monkeypatch, *prefixes):
    """Make ``import <prefix>...`` fail as if the package were not installed."""
    for name in list(sys.modules):
        if name.split(".")[0] in prefixes:
            monkeypatch.delitem(sys.modules, name)
    for prefix in prefixes:
        monkeypatch.setitem(sys.modules, prefix, None)


def test_missing_fhir_names_its_extra(monkeypatch):
    from spacy_clinical_ner.io.fhir import bundle_json
    from spacy_clinical_ner.io.records import error_record

    _blocked(monkeypatch, "fhir")
    with pytest.raises(MissingExtraError, match=r"fhir\.resources.*pip install 'spacy-clinical-ner\[fhir\]'") as err:
        bundle_json(error_record("x", "empty_text"))
    assert "[E619]" in str(err.value) and isinstance(err.value, ImportError)


def test_missing_spark_and_medspacy_name_their_extras(monkeypatch):
    from spacy_clinical_ner.context.rules import default_rules
    from spacy_clinical_ner.spark import annotation_schema

    _blocked(monkeypatch, "pyspark", "medspacy")
    with pytest.raises(MissingExtraError, match=r"spacy-clinical-ner\[spark\]"):
        annotation_schema()
    with pytest.raises(MissingExtraError, match=r"spacy-clinical-ner\[medspacy\]"):
        default_rules()[0].to_medspacy()


def test_missing_serve_names_its_extra():
    """The REST app's module imports fastapi at import time: without it, E619 (also an ImportError)."""
    code = "import sys; sys.modules['fastapi'] = None\ntry:\n import spacy_clinical_ner.serve.app\nexcept ImportError as e:\n print(e)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "[E619]" in out and "spacy-clinical-ner[serve]" in out
