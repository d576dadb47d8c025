"""Which pipeline the batch CLI, the REST service and the Spark job load.

One constant decides the default (``DEFAULT_MODEL``); a package name or a folder passed
with ``--model`` (or the environment variable ``CLINICAL_NER_MODEL``) overrides it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Iterable, Union

from ..errors import Errors, MissingExtraError, PipelineNotFoundError

logger = logging.getLogger(__name__)

#: The assembled pipeline, as an installed package (``spacy package`` output).
DEFAULT_MODEL = "en_clinical_ner_cnn"
#: Where ``project.yml`` assembles the same pipeline, used when the package is not installed.
DEFAULT_MODEL_PATH = "training/assembled/cnn"
#: Environment variable that overrides the default (useful for the service and Spark executors).
MODEL_ENV = "CLINICAL_NER_MODEL"


def resolve_model(model: Union[str, Path] | None = None) -> Union[str, Path]:
    """The package name or folder to load: ``model``, else ``$CLINICAL_NER_MODEL``, else the defaults.

    Raises ``PipelineNotFoundError`` (E601) when nothing loadable is found.
    """
    import spacy

    requested = model if model is not None else os.environ.get(MODEL_ENV)
    candidates = [requested] if requested else [DEFAULT_MODEL, DEFAULT_MODEL_PATH]
    for cand in candidates:
        if isinstance(cand, str) and spacy.util.is_package(cand):
            return cand
        path = Path(cand)
        if (path / "config.cfg").exists():
            return path
    raise PipelineNotFoundError(
        Errors.E601.format(model=str(requested or DEFAULT_MODEL), env=MODEL_ENV, package=DEFAULT_MODEL, path=DEFAULT_MODEL_PATH)
    )


def import_code(code_path: Union[str, Path] | None) -> None:
    """Import a Python file that registers custom components (like ``spacy ... --code``)."""
    if not code_path:
        return
    from spacy.util import import_file

    path = Path(code_path)
    if not path.exists():
        raise FileNotFoundError(Errors.E608.format(path=path))
    import_file("clinical_ner_user_code", path)


def load_pipeline(model: Union[str, Path] | None = None, *, code_path: Union[str, Path] | None = None, exclude: Iterable[str] = ()):
    """Load the pipeline once (see ``resolve_model``), registering the Doc extensions it writes."""
    import spacy

    from ..extensions import install_doc_extensions

    import_code(code_path)
    install_doc_extensions()
    name = resolve_model(model)
    try:
        nlp = spacy.load(name, exclude=list(exclude))
    except ValueError as err:
        # a transformer pipeline without spacy-transformers: spaCy only says it cannot find the factory
        if "transformer" in str(err).lower() and importlib.util.find_spec("spacy_transformers") is None:
            raise MissingExtraError(Errors.E619.format(what=f"The pipeline {name}", module="spacy-transformers", extra="trf")) from err
        raise
    logger.info("Loaded pipeline %s (%s) with components %s", name, describe_pipeline(nlp), nlp.pipe_names)
    return nlp


def describe_pipeline(nlp) -> str:
    """``name-version`` of a loaded pipeline, as written into run manifests and /health."""
    return f"{nlp.meta.get('lang', 'xx')}_{nlp.meta.get('name', 'pipeline')}-{nlp.meta.get('version', '0.0.0')}"
