"""Concept ids: which terminology an id belongs to, its code there, and that system's URI.

The linker writes the knowledge base's concept id to ``span.kb_id_``. The open default KB mixes
terminologies: UMLS CUIs (``C0011849``) where a source maps to UMLS, and prefixed source ids where
it does not (``HP:0001250``, ``DOID:9352``, ``DRUGBANK:DB01050``, ``MESH:D018712``,
``MEDLINEPLUS:a682159``); a user's UMLS build gives CUIs. Every output (JSONL ``concept_id`` /
``concept_system``, FHIR ``Coding.system``, BRAT ``N`` lines) reads the id through
:class:`ConceptId`, so a DrugBank id is never written as a UMLS CUI.

>>> cid = ConceptId.parse("DRUGBANK:DB01050")
>>> (cid.namespace, cid.code, cid.system)
('DRUGBANK', 'DB01050', 'https://go.drugbank.com/drugs')
>>> ConceptId.parse("C0011849").brat
'UMLS:C0011849'
>>> ConceptId.parse("NIL") is None
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict

#: ``span.kb_id_`` of a mention the linker looked at and could not link.
NIL = "NIL"
#: kb ids that mean "no concept" (spaCy's default ``kb_id_`` is ``""``).
NULL_IDS = ("", NIL)

_CUI = re.compile(r"^C\d{7}$")


@dataclass(frozen=True)
class ConceptSystem:
    """One terminology: the id prefix the KB uses, its FHIR ``Coding.system`` URI, the database name
    of BRAT ``N`` lines and whether its codes keep the prefix (OBO ontologies: ``HP:0001250``)."""

    namespace: str
    title: str
    uri: str
    brat_db: str
    curie_code: bool = False


#: The terminologies the KB builders write (``linking/builders.py``), plus those of a user's UMLS
#: build (RxNorm, SNOMED CT, NCI Thesaurus). URIs are the ones HL7 lists for FHIR
#: (``terminologies-systems``) where it lists one (UMLS, RxNorm, SNOMED CT, NCIt), else the
#: terminology's own canonical address.
SYSTEMS: Dict[str, ConceptSystem] = {
    s.namespace: s
    for s in (
        ConceptSystem("UMLS", "UMLS Metathesaurus", "http://www.nlm.nih.gov/research/umls", "UMLS"),
        ConceptSystem("DRUGBANK", "DrugBank", "https://go.drugbank.com/drugs", "DrugBank"),
        ConceptSystem("HP", "Human Phenotype Ontology", "http://human-phenotype-ontology.org", "HP", curie_code=True),
        ConceptSystem("DOID", "Human Disease Ontology", "http://purl.obolibrary.org/obo/doid.owl", "DOID", curie_code=True),
        ConceptSystem("MONDO", "Mondo Disease Ontology", "http://purl.obolibrary.org/obo/mondo.owl", "MONDO", curie_code=True),
        ConceptSystem("MESH", "Medical Subject Headings", "http://id.nlm.nih.gov/mesh", "MeSH"),
        ConceptSystem("OMIM", "Online Mendelian Inheritance in Man", "https://omim.org", "OMIM"),
        ConceptSystem("RXNORM", "RxNorm", "http://www.nlm.nih.gov/research/umls/rxnorm", "RxNorm"),
        ConceptSystem("SNOMEDCT", "SNOMED CT", "http://snomed.info/sct", "SNOMEDCT"),
        ConceptSystem("NCIT", "NCI Thesaurus", "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl", "NCIT"),
        # drug-named-entity-recognition's MedlinePlus drug pages (a682159 -> .../meds/a682159.html)
        ConceptSystem("MEDLINEPLUS", "MedlinePlus drug information", "https://medlineplus.gov/druginfo/meds", "MedlinePlus"),
    )
}
#: Prefix spellings of the sources (UMLS SABs, OBO xrefs) -> the namespace.
ALIASES = {"UMLS_CUI": "UMLS", "MSH": "MESH", "MIM": "OMIM", "SNOMEDCT_US": "SNOMEDCT", "SCTID": "SNOMEDCT", "NCI": "NCIT"}


@dataclass(frozen=True)
class ConceptId:
    """A concept id split into ``namespace`` (``"UMLS"``, ``"DRUGBANK"``, ..., or the prefix of an
    id from a terminology not in :data:`SYSTEMS`, ``""`` when the id has no prefix) and ``local``
    (the id without its prefix). ``str()`` gives the id as the KB writes it."""

    namespace: str
    local: str

    @classmethod
    def parse(cls, raw: str | None) -> ConceptId | None:
        """The id of a ``kb_id_`` / KB concept; ``None`` for ``""``, ``"NIL"`` and ``None``."""
        if raw is None:
            return None
        raw = str(raw).strip()
        if raw in NULL_IDS:
            return None
        if _CUI.match(raw):
            return cls("UMLS", raw)
        prefix, sep, local = raw.partition(":")
        if not sep or not local or not prefix:
            return cls("", raw)
        namespace = prefix.upper()
        namespace = ALIASES.get(namespace, namespace)
        if namespace == "UMLS" and local.isdigit():
            local = f"C{local}"
        return cls(namespace, local)

    @property
    def known(self) -> ConceptSystem | None:
        return SYSTEMS.get(self.namespace)

    @property
    def system(self) -> str | None:
        """The FHIR ``Coding.system`` URI; ``None`` for a terminology this package does not know."""
        return self.known.uri if self.known else None

    @property
    def code(self) -> str:
        """The code within the system (``C0011849``, ``DB01050``, ``HP:0001250``, ``D018712``)."""
        system = self.known
        if system is not None and system.curie_code:
            return f"{self.namespace}:{self.local}"
        return self.local if system is not None else str(self)

    @property
    def brat(self) -> str:
        """``DB:ID`` of a BRAT ``N`` line (``UMLS:C0011849``, ``DrugBank:DB01050``, ``HP:0001250``)."""
        system = self.known
        if system is not None:
            return f"{system.brat_db}:{self.local}"
        return str(self) if self.namespace else f"KB:{self.local}"

    def __str__(self) -> str:
        if self.namespace == "UMLS" and _CUI.match(self.local):
            return self.local
        return f"{self.namespace}:{self.local}" if self.namespace else self.local


def is_nil(kb_id: str | None) -> bool:
    """Whether a ``kb_id_`` names no concept (unlinked or NIL)."""
    return kb_id is None or str(kb_id).strip() in NULL_IDS


__all__ = ["NIL", "NULL_IDS", "SYSTEMS", "ALIASES", "ConceptSystem", "ConceptId", "is_nil"]
