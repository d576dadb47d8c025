__title__ = "spacy-clinical-ner"
__version__ = "0.1.0"
__summary__ = "Clinical NER, ConText assertions, offline UMLS linking and relation extraction for spaCy"
