"""Relation extraction between clinical entities.

* ``clinical_relation_extractor`` (:mod:`.component`) – trainable pipeline component;
* ``spacy-clinical-ner.RelationModel.v1`` (:mod:`.model`) – its network;
* ``spacy-clinical-ner.relation_candidates.v1`` (:mod:`.instances`) – candidate pairs;
* ``spacy-clinical-ner.relation_scorer.v1`` (:mod:`.scorer`) – micro/per-label P/R/F;
* ``spacy-clinical-ner.RelationCorpus.v1`` (:mod:`.corpus`) – gold relations for training;
* :func:`iter_relations` – ``(head Span, label, tail Span, score)`` from ``doc._.relations``.

The component modules register themselves through ``entry_points``; importing this
package imports none of them.
"""

from .records import iter_relations, typed_label

__all__ = ["iter_relations", "typed_label"]
