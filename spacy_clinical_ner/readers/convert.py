"""Convert a BRAT corpus into ``.spacy`` DocBins with a deterministic train/dev split.

The split: documents sorted by id, every ``dev_every``-th one (0-based index
``i % dev_every == dev_offset``) goes to dev. With MACCROBAT's 160 shared documents and
the defaults that is 128 train / 32 dev. A JSON report lists the documents of each
split and every annotation that could not be placed exactly on token boundaries.

A corpus that grows (the visit notes) keeps its split in a file (``split_file``: ``{"train": [ids],
"dev": [ids]}``): a listed document keeps its split whatever is added, so dev scores stay comparable
across corpus versions; a document not listed goes to dev when ``sha1(id) % dev_every == dev_offset``,
a rule that does not depend on the other documents.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Union

from spacy.language import Language
from spacy.tokens import DocBin
from spacy.util import registry
from tqdm import tqdm

from ..errors import ClinicalNERError, Errors
from ..extensions import install_doc_extensions
from .brat import brat_to_doc, iter_brat_files, read_brat_document

logger = logging.getLogger(__name__)


def read_split_file(path: Union[str, Path]) -> Dict[str, List[str]]:
    """A fixed split (``{"train": [...], "dev": [...]}``); an id in both is an error."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf8"))
        fixed = {name: [str(i) for i in data.get(name, [])] for name in ("train", "dev")}
    except (OSError, ValueError, AttributeError, TypeError) as err:
        raise ClinicalNERError(Errors.E011.format(path=path, reason=str(err))) from err
    both = sorted(set(fixed["train"]) & set(fixed["dev"]))
    if both:
        raise ClinicalNERError(Errors.E011.format(path=path, reason=f"{len(both)} ids in both train and dev: {', '.join(both[:10])}"))
    return fixed


def _hash_dev(doc_id: str, dev_every: int, dev_offset: int) -> bool:
    return int(hashlib.sha1(doc_id.encode("utf8")).hexdigest(), 16) % dev_every == dev_offset


def split_ids(
    ids: Iterable[str], dev_every: int = 5, dev_offset: int = 0, fixed: Optional[Dict[str, List[str]]] = None
) -> Dict[str, List[str]]:
    """``{"train": [...], "dev": [...]}`` (sorted ids); with ``fixed`` (a split file) see the module."""
    ordered = sorted(ids)
    if fixed is None:
        dev = [d for i, d in enumerate(ordered) if dev_every > 0 and i % dev_every == dev_offset]
    else:
        listed_dev, listed_train = set(fixed["dev"]), set(fixed["train"])
        dev = [
            d
            for d in ordered
            if d in listed_dev or (d not in listed_train and dev_every > 0 and _hash_dev(d, dev_every, dev_offset))
        ]
    dev_set = set(dev)
    return {"train": [d for d in ordered if d not in dev_set], "dev": dev}


def convert_brat(
    input_dir: Union[str, Path],
    output_dir: Union[str, Path],
    nlp: Optional[Language] = None,
    dev_every: int = 5,
    dev_offset: int = 0,
    progress: bool = True,
    split_file: Optional[Union[str, Path]] = None,
) -> dict:
    """Write ``train.spacy``, ``dev.spacy`` and ``report.json`` into ``output_dir``.

    Every document is read before anything is written: if any cannot be converted (a
    malformed ``.ann`` line, a missing ``.ann``, a ``.txt`` that is not UTF-8), one
    ``ClinicalNERError`` lists them all, each with its file and line, and no output is written.
    """
    from ..tokenizer import clinical_blank

    install_doc_extensions()
    nlp = nlp or clinical_blank()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    files = iter_brat_files(input_dir)
    fixed = read_split_file(split_file) if split_file else None
    splits = split_ids((f.stem for f in files), dev_every, dev_offset, fixed)
    which = {doc_id: name for name, ids in splits.items() for doc_id in ids}
    bins = {name: DocBin(store_user_data=True) for name in splits}
    report: dict = {
        "input": str(input_dir),
        "dev_every": dev_every,
        "dev_offset": dev_offset,
        "split_file": str(split_file) if split_file else None,
        # documents not in the split file, placed by the hash rule; listed ids with no document
        "split_unlisted": sorted(set(which) - set(fixed["train"]) - set(fixed["dev"])) if fixed else [],
        "split_missing": sorted(set(fixed["train"] + fixed["dev"]) - set(which)) if fixed else [],
        "splits": splits,
        "totals": {},
        "misaligned": [],
    }
    totals = report["totals"]
    failed: List[str] = []
    for txt in tqdm(files, desc="convert BRAT", unit="doc", disable=not progress):
        try:
            doc = brat_to_doc(read_brat_document(txt), nlp.make_doc, path=str(txt))
        except (ClinicalNERError, OSError) as err:
            failed.append(str(err))
            continue
        bins[which[txt.stem]].add(doc)
        brat = doc._.brat
        align = brat["alignment"]
        for key, value in (
            ("documents", 1),
            ("entities", align["entities"]),
            ("entities_exact", align["exact"]),
            ("entities_expanded", len(align["expanded"])),
            ("entities_unplaced", len(align["unplaced"])),
            ("entities_discontinuous", len(align["discontinuous"])),
            ("doc_ents", align["in_doc_ents"]),
            ("relations", len(brat["relations"])),
            ("groups", len(brat["groups"])),
            ("attributes", len(brat["attributes"])),
            ("notes", len(brat["notes"])),
            ("tokens", len(doc)),
        ):
            totals[key] = totals.get(key, 0) + value
        for item in align["expanded"] + align["unplaced"]:
            report["misaligned"].append({"doc": brat["doc_id"], **item})
    if failed:
        raise ClinicalNERError(Errors.E010.format(count=len(failed), total=len(files), path=input_dir, errors="\n".join(failed)))
    for name, db in bins.items():
        db.to_disk(output_dir / f"{name}.spacy")
    (output_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf8")
    logger.info("Converted %d documents: %s", totals.get("documents", 0), totals)
    return report


@registry.readers("spacy-clinical-ner.BratCorpus.v1")
def create_brat_corpus(
    path: Path, split: str = "all", dev_every: int = 5, dev_offset: int = 0, split_file: Optional[Path] = None
):
    """A corpus reader over a BRAT folder, for configs that train without converting first.

    ``split`` is ``"train"``, ``"dev"`` or ``"all"``; the split is the one ``convert_brat`` uses.
    """
    from spacy.training import Example

    def read(nlp: Language):
        install_doc_extensions()
        files = iter_brat_files(path)
        fixed = read_split_file(split_file) if split_file else None
        ids = None if split == "all" else set(split_ids((f.stem for f in files), dev_every, dev_offset, fixed)[split])
        for txt in files:
            if ids is not None and txt.stem not in ids:
                continue
            ref = brat_to_doc(read_brat_document(txt), nlp.make_doc, path=str(txt))
            yield Example(nlp.make_doc(ref.text), ref)

    return read
