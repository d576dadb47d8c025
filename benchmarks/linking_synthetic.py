"""A synthetic UMLS-scale knowledge base (about 3 million alias strings) made from the open KB.

No real UMLS release is available to this project (it is licensed), so the scale benchmark
uses this stand-in. Every open concept (DOID, MONDO, HPO, drugs) is kept; synthetic concepts
are derived from them the way UMLS strings look in SNOMED CT / ICD / MedDRA / RxNorm: a base
name with modifiers, anatomical sites, qualifiers, word-order inversions ("Diabetes mellitus,
type 2"), source suffixes ("(disorder)", "NOS") and, for drugs, strength + dose form
("aspirin 81 MG Oral Tablet"). Ids are ``SYN:0000001``. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from typing import Iterator

from spacy_clinical_ner.linking.kb import Concept, KnowledgeBase

MODIFIERS = [
    "acute",
    "chronic",
    "recurrent",
    "severe",
    "mild",
    "moderate",
    "congenital",
    "familial",
    "bilateral",
    "left",
    "right",
    "primary",
    "secondary",
    "drug-induced",
    "postoperative",
    "idiopathic",
    "early onset",
    "late onset",
    "juvenile",
    "adult",
    "neonatal",
    "transient",
    "persistent",
    "progressive",
    "intermittent",
    "subacute",
    "hereditary",
    "acquired",
    "traumatic",
    "alcoholic",
    "diabetic",
    "hypertensive",
    "infectious",
    "toxic",
]
SITES = [
    "left knee",
    "right knee",
    "left eye",
    "right eye",
    "upper lobe of lung",
    "lower lobe of lung",
    "lumbar spine",
    "cervical spine",
    "thoracic spine",
    "left hip",
    "right hip",
    "left shoulder",
    "right shoulder",
    "skin",
    "liver",
    "kidney",
    "bladder",
    "colon",
    "stomach",
    "heart",
    "brain",
    "spinal cord",
    "upper limb",
    "lower limb",
    "hand",
    "foot",
    "ankle",
    "wrist",
    "elbow",
    "face",
    "scalp",
    "neck",
    "chest wall",
    "abdomen",
    "pelvis",
    "breast",
]
QUALIFIERS = [
    "unspecified",
    "in remission",
    "without complication",
    "with complication",
    "initial encounter",
    "subsequent encounter",
    "sequela",
    "not elsewhere classified",
    "with hemorrhage",
    "with obstruction",
    "with perforation",
    "stage 1",
    "stage 2",
    "stage 3",
    "grade 1",
    "grade 2",
    "uncontrolled",
    "controlled",
]
SUFFIXES = ["(disorder)", "(finding)", "(diagnosis)", "NOS", "[Ambiguous]", "(situation)"]
DOSES = ["5", "10", "20", "25", "40", "50", "81", "100", "200", "250", "325", "500", "1000"]
UNITS = ["MG", "MG/ML", "MCG", "UNT/ML", "MG/ACTUAT"]
FORMS = [
    "Oral Tablet",
    "Oral Capsule",
    "Injectable Solution",
    "Extended Release Oral Tablet",
    "Oral Solution",
    "Topical Cream",
    "Ophthalmic Solution",
    "Prefilled Syringe",
    "Delayed Release Oral Capsule",
    "Transdermal System",
]


def synthetic_concepts(base: KnowledgeBase, target_strings: int = 3_000_000, seed: int = 13) -> Iterator[Concept]:
    """Yield the base KB's concepts, then synthetic ones until about ``target_strings`` aliases."""
    rng = random.Random(seed)
    bases = []
    n_aliases = 0
    for c in base:
        n_aliases += 1 + len(c.aliases)
        yield c
        bases.append((c.canonical_name, "CHEM" in c.types))
    i = 0
    while n_aliases < target_strings:
        name, is_drug = bases[rng.randrange(len(bases))]
        i += 1
        cid = f"SYN:{i:07d}"
        if is_drug:
            dose, unit, form = rng.choice(DOSES), rng.choice(UNITS), rng.choice(FORMS)
            canonical = f"{name} {dose} {unit} {form}"
            aliases = [f"{name} {dose} {unit} {form.lower()}", f"{name.upper()} {dose}{unit} {form}", f"{name} ({dose} {unit}) {form}"]
            types = ["CHEM"]
        else:
            mod, site, qual, suf = rng.choice(MODIFIERS), rng.choice(SITES), rng.choice(QUALIFIERS), rng.choice(SUFFIXES)
            kind = rng.randrange(4)
            if kind == 0:
                canonical = f"{mod} {name}"
                aliases = [f"{name}, {mod}", f"{mod} {name} {suf}"]
            elif kind == 1:
                canonical = f"{name} of {site}"
                aliases = [f"{site} {name}", f"{name} of {site}, {qual}"]
            elif kind == 2:
                canonical = f"{mod} {name} of {site}"
                aliases = [f"{name}, {mod}, {site}", f"{mod} {name} of {site} {suf}"]
            else:
                canonical = f"{name}, {qual}"
                aliases = [f"{name} {qual}", f"{qual} {name} {suf}"]
            types = ["DISO"]
        n_aliases += 1 + len(aliases)
        yield Concept(cid, canonical, aliases, types, None, [])
