"""The assembly config builds the full pipeline from trained parts, and `spacy package` wheels it.

The parts are trained for one step on two MACCROBAT documents (quality is not the point here:
that every component is sourced, the relation extractor gets its own copy of its tok2vec, the
linker's KB is loaded in [initialize], and the result saves, loads and packages as one pipeline).
"""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.tokens import DocBin
from spacy.training import Example
from spacy.training.initialize import init_nlp
from spacy.util import load_config

from spacy_clinical_ner.extensions import install_doc_extensions
from spacy_clinical_ner.readers.brat import docs_from_brat
from spacy_clinical_ner.relations import iter_relations

REPO = Path(__file__).resolve().parents[1]
PARTS = {"ner": "ner_cpu.cfg", "context": "context_assertion.cfg", "relations": "rel_cpu.cfg"}


@pytest.fixture(scope="module")
def parts(tmp_path_factory, maccrobat_dir, fixtures_dir, tiny_vectors):
    from spacy_clinical_ner.linking.builders import create_umls_kb
    from spacy_clinical_ner.tokenizer import clinical_blank

    install_doc_extensions()
    out = tmp_path_factory.mktemp("parts")
    docs = list(docs_from_brat(maccrobat_dir, clinical_blank().make_doc, ids=["15939911", "16778410"]))
    DocBin(store_user_data=True, docs=docs).to_disk(out / "train.spacy")
    paths = {}
    for name, cfg in PARTS.items():
        overrides = {"paths.train": str(out / "train.spacy"), "paths.dev": str(out / "train.spacy")}
        if name == "context":  # the classifier also reads the visit notes' train split
            overrides["paths.notes"] = str(out / "train.spacy")
        if name == "relations":  # on the NER's tok2vec (trained above), frozen
            overrides["paths.ner"] = str(out / "ner")
            overrides["paths.vectors"] = str(tiny_vectors)
        if name == "ner":
            overrides["paths.vectors"] = str(tiny_vectors)
            overrides["paths.notes"] = overrides["paths.notes_dev"] = str(out / "train.spacy")
        nlp = init_nlp(load_config(REPO / "configs" / cfg, overrides=overrides, interpolate=False))
        train = list(DocBin().from_disk(out / "train.spacy").get_docs(nlp.vocab))
        examples = [Example(nlp.make_doc(d.text), d) for d in train]
        if name != "ner":  # these train on gold entities: give the predicted docs the gold entities
            for eg in examples:
                eg.predicted.ents = [eg.predicted.char_span(e.start_char, e.end_char, label=e.label_) for e in eg.reference.ents]
                eg.predicted.spans["entities"] = list(eg.predicted.ents)
        nlp.update(examples)
        paths[name] = out / name
        nlp.to_disk(paths[name])
    create_umls_kb(fixtures_dir / "linking").to_disk(out / "kb")
    paths["kb"] = out / "kb"
    paths["vectors"] = tiny_vectors
    # the drug dictionary (`spacy project run drug-patterns`) and the confidence calibration, small stand-ins
    srsly.write_jsonl(out / "drug_patterns.jsonl", [{"label": "Medication", "pattern": [{"LOWER": "zoloft"}], "id": "Sertraline"}])
    srsly.write_json(out / "calibration.json", {"calibration": {"x": [0.0, 1.0], "y": [0.1, 0.9], "dictionary": 0.8}})
    paths["drug_patterns"] = out / "drug_patterns.jsonl"
    srsly.write_jsonl(out / "disease_patterns.jsonl", [{"label": "Disease_disorder", "pattern": "acne vulgaris", "id": "DOID:6543"}])
    paths["disease_patterns"] = out / "disease_patterns.jsonl"
    paths["calibration"] = out / "calibration.json"
    return paths


@pytest.fixture(scope="module")
def assembled(parts, tmp_path_factory):
    out = tmp_path_factory.mktemp("assembled") / "cnn"
    cmd = [sys.executable, "-m", "spacy", "assemble", str(REPO / "configs" / "assemble_cnn.cfg"), str(out)]
    cmd += [arg for key, path in parts.items() for arg in (f"--paths.{key}", str(path))]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path_factory.getbasetemp())
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_assembled_pipeline_has_every_component(assembled, parts):
    nlp = spacy.load(assembled)
    assert nlp.pipe_names == [
        "clinical_sectionizer",
        "clinical_name_guard",
        "tok2vec",
        "ner",
        "drug_ruler",
        "disease_ruler",
        "clinical_sentencizer",
        "clinical_entity_confidence",
        "clinical_context",
        "clinical_assertion",
        "umls_linker",
        "clinical_grounding_filter",
        "clinical_relation_extractor",
    ]
    # one embedding pass: the extractor was trained on the NER's frozen tok2vec and listens to it
    assert nlp.get_pipe("tok2vec").listening_components == ["ner", "clinical_relation_extractor"]
    # the NER's static vectors came along, the same as it was trained with
    ner_vectors = spacy.load(parts["ner"]).vocab.vectors
    assert nlp.vocab.vectors.mode == "floret" and nlp.vocab.vectors.to_bytes(exclude=["strings"]) == ner_vectors.to_bytes(
        exclude=["strings"]
    )
    text = "No fever. Hypertension was treated with aspirin 81 mg daily. Mother had asthma."
    assert len(list(nlp(text).sents)) == 3
    # the components after the NER, on entities set by hand (the 1-step NER predicts little)
    doc = nlp.make_doc(text)
    doc.ents = [
        doc.char_span(text.index(t), text.index(t) + len(t), label=label)
        for t, label in (
            ("fever", "Sign_symptom"),
            ("Hypertension", "Disease_disorder"),
            ("aspirin", "Medication"),
            ("asthma", "Disease_disorder"),
        )
    ]
    after_ner = False
    for name, proc in nlp.pipeline:
        if after_ner:
            doc = proc(doc)
        after_ner = after_ner or name == "ner"
    fever, hypertension, aspirin, asthma = doc.ents
    assert fever._.is_negated and fever._.assertion == "absent" and fever._.context_cues[0]["text"] == "No"
    assert hypertension._.assertion == "present" and not hypertension._.context_cues
    assert asthma._.is_family and asthma._.assertion == "associated_with_someone_else"
    assert hypertension.kb_id_ == "C0020538"  # the fixture KB
    for head, label, tail, score in iter_relations(doc):  # whatever the 1-step extractor predicts is well formed
        offsets = {(e.start_char, e.end_char) for e in doc.ents}
        assert (head.start_char, head.end_char) in offsets and (tail.start_char, tail.end_char) in offsets
        assert label and 0.0 <= score <= 1.0
    # the dictionaries fill what the NER leaves, with their ids
    doc = nlp.make_doc("Acne vulgaris. Zoloft daily.")
    for name in ("drug_ruler", "disease_ruler"):
        doc = nlp.get_pipe(name)(doc)
    assert [(e.text, e.label_, e.ent_id_) for e in doc.ents] == [
        ("Acne vulgaris", "Disease_disorder", "DOID:6543"),
        ("Zoloft", "Medication", "Sertraline"),
    ]
    # section headers come before the NER and are no entities
    doc = nlp("PHYSICAL EXAMINATION\nLungs clear. Abdomen soft.\n\nASSESSMENT AND PLAN\nContinue aspirin.")
    assert [s["title"] for s in doc._.clinical_sections] == ["PHYSICAL EXAMINATION", "ASSESSMENT AND PLAN"]
    assert not [e for e in doc.ents if e.text.isupper() and len(e.text) > 4]
    # the linker's KB came in through [initialize] and is saved inside the pipeline
    linker = nlp.get_pipe("umls_linker")
    assert linker.kb is not None and linker.index is not None
    doc = nlp.make_doc("Hypertension")
    doc.ents = [doc.char_span(0, 12, label="Disease_disorder")]
    assert linker(doc).ents[0].kb_id_ == "C0020538"


def test_assembled_pipeline_packages_as_wheel(assembled, tmp_path):
    pytest.importorskip("build")
    cmd = [sys.executable, "-m", "spacy", "package", str(assembled), str(tmp_path), "--name", "clinical_test", "--version", "0.0.1"]
    result = subprocess.run([*cmd, "--build", "wheel", "--force"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    wheels = list(tmp_path.glob("*/dist/*.whl"))
    assert len(wheels) == 1
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert any("umls_linker/" in n for n in names) and any("clinical_relation_extractor/" in n for n in names)
    meta = spacy.util.load_meta(next(tmp_path.glob("*/meta.json")))
    assert any(req.startswith("spacy-clinical-ner") for req in meta["requirements"])


def test_config_overrides_win_over_saved_settings(assembled):
    """spacy.load(path, config=...) sets every component's settings; saved state (rules, KB, labels) stays."""
    overrides = {
        "components.umls_linker.threshold": 0.99,
        "components.clinical_relation_extractor.threshold": 0.95,
        "components.clinical_sentencizer.newlines": "never",
        "components.clinical_sectionizer.block_bullets": False,
        "components.clinical_context.max_scope": 3,
        "components.clinical_assertion.threshold.is_negated": 0.9,  # thresholds are per attribute
    }
    base = spacy.load(assembled)
    nlp = spacy.load(assembled, config=overrides)
    assert nlp.get_pipe("umls_linker").cfg["threshold"] == 0.99
    assert nlp.get_pipe("clinical_relation_extractor").threshold == pytest.approx(0.95)
    assert nlp.get_pipe("clinical_sentencizer").cfg["newlines"] == "never"
    assert nlp.get_pipe("clinical_sectionizer").cfg["block_bullets"] is False
    assert nlp.get_pipe("clinical_context").cfg["max_scope"] == 3
    assert nlp.get_pipe("clinical_assertion").cfg["threshold"]["is_negated"] == 0.9
    assert nlp.get_pipe("clinical_assertion")._limit("threshold", "is_negated") == 0.9
    rel, base_rel = nlp.get_pipe("clinical_relation_extractor"), base.get_pipe("clinical_relation_extractor")
    assert rel.labels == base_rel.labels and rel.cfg["type_pairs"] == base_rel.cfg["type_pairs"]
    assert len(nlp.get_pipe("clinical_context").rules) == len(base.get_pipe("clinical_context").rules)
    assert nlp.get_pipe("umls_linker").kb is not None


def test_pipeline_pickles_and_reruns_the_same(assembled):
    """Worker processes started with 'spawn' (macOS, Windows) get the pipeline and the extensions
    pickled; a Doc run through the pipeline twice keeps its entities."""
    import pickle

    from spacy.tokens.underscore import Underscore

    nlp = spacy.load(assembled)
    text = "HISTORY OF PRESENT ILLNESS: He denies fever.\n- cough\nAspirin 81 mg daily for hypertension."

    def summary(doc):
        return [(e.text, e.label_, e.kb_id_, e._.assertion, e._.context_cues) for e in doc.ents], doc._.relations

    expected = summary(nlp(text))
    assert summary(pickle.loads(pickle.dumps(nlp))(text)) == expected
    pickle.dumps(Underscore.get_state())  # the extensions' getters and setters
    assert summary(nlp(nlp(text))) == expected
