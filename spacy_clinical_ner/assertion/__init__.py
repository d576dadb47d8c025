"""The trainable assertion classifier that uses ConText's cues as features.

* ``clinical_assertion`` (:mod:`.component`) – re-decides the assertion attributes of the
  entities ``clinical_context`` annotated (``configs/context_assertion.cfg``);
* ``spacy-clinical-ner.AssertionClassifier.v1`` / ``.v2`` (:mod:`.model`) – its network.

Its scorer is ConText's (``spacy-clinical-ner.context_scorer.v1``), its training reader
``spacy-clinical-ner.GoldEntityCorpus.v1`` (both in :mod:`spacy_clinical_ner.context`).
The component module registers itself through ``entry_points``; importing this package
imports none of it.
"""
