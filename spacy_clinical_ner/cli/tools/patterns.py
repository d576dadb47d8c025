"""``build-drug-patterns`` / ``build-disease-patterns``: dictionary names as ``entity_ruler`` patterns.

``build-drug-patterns``: drug names and brands for the Medication label.

The NER misses brand names it never saw (``Crestor``, ``Cozaar``, ``MiraLAX``). DrugBank open data's names,
synonyms and products (as shipped by the PyPI package drug-named-entity-recognition) give a dictionary of
them. The patterns (phrases, matched on ``LOWER``) go into a stock spaCy ``entity_ruler`` after the ``ner``, so they are saved with the
pipeline and need nothing at run time.

A name is left out when the annotated training documents show it is not a drug where it occurs: it is
found outside any Medication entity at least ``min_outside`` times and more often than inside one (an
everyday word that happens to be a brand name). Names shorter than ``min_chars`` characters are left out.

``build-disease-patterns``: the Human Disease Ontology's names and exact synonyms (``corpus/vocab/disease_ontology``,
CC0) for the Disease_disorder label, for a second ruler that fills what the NER leaves ("acne vulgaris" in a problem
list). Left out: names with digits or brackets, one-word names under five letters or written as acronyms (matched in lower case,
"ACLS" or "DISH" would catch ordinary words), the generic "disease", "syndrome", "disorder", and, as for drugs, names
the gold documents use outside any problem entity (Disease_disorder, Sign_symptom) at least ``min_outside`` times and
more often than as one.
"""

import json
import re
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

import typer

from .. import TOOLS_PANEL, app

#: plain drug names only: the dictionary also holds wiki markup and chemical formulas
_NAME_RE = re.compile(r"^[a-z][a-z0-9 .\-/+']*[a-z0-9)]$")


def drug_variants() -> Dict[str, Tuple[str, bool]]:
    """``{lower-case name: (canonical name, is_brand)}`` from drug-named-entity-recognition's dictionary."""
    import bz2
    import pickle
    from importlib import resources

    try:
        path = resources.files("drug_named_entity_recognition") / "drug_ner_dictionary.pkl.bz2"
    except ModuleNotFoundError as err:  # pragma: no cover - depends on the environment
        raise typer.BadParameter(
            "build-drug-patterns needs the package drug-named-entity-recognition (pip install 'spacy-clinical-ner[kb]')"
        ) from err
    with bz2.open(str(path)) as f:
        data = pickle.load(f)
    out = {}
    for variant, canonicals in data["drug_variant_to_canonical"].items():
        info = data["drug_variant_to_variant_data"].get(variant, {})
        canonical = data["drug_canonical_to_data"].get(canonicals[0], {}).get("name", canonicals[0])
        out[variant.lower()] = (canonical, bool(info.get("is_brand")))
    return out


def corpus_usage(docbins: List[Path], nlp, keys: set, labels: Tuple[str, ...] = ("Medication",)) -> Tuple[Counter, Counter]:
    """How often each lower-case token sequence in ``keys`` is exactly an entity of ``labels``, and how often it
    occurs outside any such entity, in the gold documents."""
    from spacy.tokens import DocBin

    inside, outside = Counter(), Counter()
    max_len = max((len(k.split()) for k in keys), default=1)
    for path in docbins:
        for doc in DocBin().from_disk(path).get_docs(nlp.vocab):
            med = {(e.start, e.end) for e in doc.ents if e.label_ in labels}
            in_med = {i for e in doc.ents if e.label_ in labels for i in range(e.start, e.end)}
            words = [t.lower_ for t in doc]
            for n in range(1, max_len + 1):
                for i in range(len(words) - n + 1):
                    key = " ".join(words[i : i + n])
                    if key in keys:
                        if (i, i + n) in med:
                            inside[key] += 1
                        elif not any(j in in_med for j in range(i, i + n)):
                            outside[key] += 1
    return inside, outside


@app.command("build-drug-patterns", rich_help_panel=TOOLS_PANEL)
def build_drug_patterns(
    output: Path = typer.Argument(..., help="patterns JSONL to write (entity_ruler format)"),
    docbins: List[Path] = typer.Option(
        [], "--gold", help="Gold training DocBins used to leave out names that are not drugs where they occur"
    ),
    min_chars: int = typer.Option(4, help="Shortest name kept"),
    min_outside: int = typer.Option(
        2, help="Leave a name out when it occurs outside Medication entities at least this often, and more often than inside one"
    ),
) -> None:
    """Write Medication patterns for the names and brands of DrugBank open data."""
    from ...tokenizer import clinical_blank

    nlp = clinical_blank()
    variants = drug_variants()
    keys = {}
    for name in variants:
        if len(name) < min_chars or name.replace(" ", "").isdigit() or not _NAME_RE.match(name):
            continue
        toks = [t.lower_ for t in nlp.make_doc(name)]
        keys[" ".join(toks)] = name
    inside, outside = corpus_usage(docbins, nlp, set(keys))
    dropped = sorted(k for k in keys if outside[k] >= min_outside and outside[k] > inside[k])
    patterns = []
    for key in sorted(keys):
        if key in dropped:
            continue
        canonical, _ = variants[keys[key]]
        # phrase patterns (the entity_ruler's PhraseMatcher, phrase_matcher_attr = "LOWER"): the text of the name
        patterns.append({"label": "Medication", "pattern": keys[key], "id": canonical})
    write_patterns(output, patterns, dropped, "drugs")


def write_patterns(output: Path, patterns: List[Dict[str, str]], dropped: List[str], kind: str) -> None:
    """Write the patterns as JSONL and say how many, and which names the gold documents left out."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf8") as f:
        for p in patterns:
            f.write(json.dumps(p) + "\n")
    label = patterns[0]["label"] if patterns else "no"
    typer.echo(
        f"{len(patterns)} {label} patterns -> {output}; {len(dropped)} names left out as not {kind} in the gold documents: {', '.join(dropped[:40])}"
    )


#: one-word names that name no particular disease
_GENERIC_DISEASE_WORDS = frozenset({"disease", "syndrome", "disorder"})


def disease_names(obo: Path) -> Dict[str, str]:
    """``{name: DOID id}`` for the names and EXACT synonyms of the ontology's non-obsolete terms."""
    names: Dict[str, str] = {}
    term: Dict[str, object] = {}

    def flush() -> None:
        if term.get("id") and not term.get("obsolete"):
            for name in term.get("names", []):
                names.setdefault(name, term["id"])

    with obo.open(encoding="utf8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("["):
                flush()
                term = {"names": []} if line == "[Term]" else {}
            elif not term:
                continue
            elif line.startswith("id: "):
                term["id"] = line[4:].strip()
            elif line.startswith("name: "):
                term["names"].append(line[6:].strip())
            elif line.startswith("synonym: ") and " EXACT " in line:
                m = re.match(r'synonym: "(.*)" EXACT', line)
                if m:
                    term["names"].append(m.group(1).strip())
            elif line.startswith("is_obsolete: true"):
                term["obsolete"] = True
    flush()
    return names


def usable_disease_name(name: str) -> bool:
    """No digits or bracketed alternatives, no generic word; one word only from five letters on and not an
    acronym (module doc)."""
    if len(name) < 4 or re.search(r"[\d_()\[\]:;]", name) or name.lower() in _GENERIC_DISEASE_WORDS:
        return False
    if " " not in name and "-" not in name:
        return len(name) >= 5 and sum(c.isupper() for c in name) < 2
    return True


@app.command("build-disease-patterns", rich_help_panel=TOOLS_PANEL)
def build_disease_patterns(
    output: Path = typer.Argument(..., help="patterns JSONL to write (entity_ruler format)"),
    obo: Path = typer.Option(
        Path("corpus/vocab/disease_ontology/doid_2016-09-01.obo"), exists=True, help="The Human Disease Ontology (OBO)"
    ),
    docbins: List[Path] = typer.Option(
        [], "--gold", help="Gold training DocBins used to leave out names that are not problems where they occur"
    ),
    min_outside: int = typer.Option(
        2, help="Leave a name out when it occurs outside problem entities at least this often, and more often than as one"
    ),
) -> None:
    """Write Disease_disorder patterns for the names and exact synonyms of the Human Disease Ontology."""
    from ...tokenizer import clinical_blank

    nlp = clinical_blank()
    keys: Dict[str, Tuple[str, str]] = {}
    for name, doid in sorted(disease_names(obo).items()):
        if not usable_disease_name(name):
            continue
        toks = [t.lower_ for t in nlp.make_doc(name)]
        keys.setdefault(" ".join(toks), (name.lower(), doid))
    inside, outside = corpus_usage(docbins, nlp, set(keys), labels=("Disease_disorder", "Sign_symptom"))
    dropped = sorted(k for k in keys if outside[k] >= min_outside and outside[k] > inside[k])
    patterns = [
        {"label": "Disease_disorder", "pattern": keys[k][0], "id": keys[k][1]} for k in sorted(keys) if k not in dropped
    ]
    write_patterns(output, patterns, dropped, "problems")
