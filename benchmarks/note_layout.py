"""Entities on note layout (section headers, list bullets, "Label:" lines, reporting verbs) with
and without the sectionizer's blocking.

    python benchmarks/note_layout.py [--model en_clinical_ner_cnn]

Runs the pipeline's NER over the ACI-BENCH visit notes: once as the NER alone (the order before
the sectionizer moved in front of it), then behind ``clinical_sectionizer`` blocking section titles
and list bullets only, then with its defaults (also the colons of line-opening labels and the
reporting verbs "Denies", "Endorses", ...). Counts the entities that overlap a section title,
start with a list bullet, run across a label's colon or contain a reporting verb, and how many
entities ``clinical_context`` then negates. Writes benchmarks/results/note_layout.md.
"""

import argparse
from pathlib import Path

import spacy
from surface_common import RESULTS, aci_notes

from spacy_clinical_ner.sections.blocking import BULLETS, REPORTING_VERBS, label_colon_tokens

SETTINGS = {
    "NER alone (sectionizer after it)": None,
    "sectionizer first: titles and bullets": {"block_label_colons": False, "block_words": []},
    "sectionizer first: defaults (+ label colons, reporting verbs)": {},
}


def count(nlp, notes, setting) -> dict:
    sectionizer = nlp.get_pipe("clinical_sectionizer")
    defaults = dict(sectionizer.cfg)
    ner_pipes = [proc for name, proc in nlp.pipeline if name in ("tok2vec", "transformer", "ner")]
    after = [proc for name, proc in nlp.pipeline if name in ("clinical_sentencizer", "clinical_context")]
    out = {"entities": 0, "in_title": 0, "bullet": 0, "colon": 0, "verb": 0, "negated": 0}
    sectionizer.cfg.update(setting or {})
    try:
        for _, text in notes:
            doc = nlp.make_doc(text)
            titles = [(s["title_start"], s["title_end"]) for s in sectionizer.find_sections(doc)]
            colons = set(label_colon_tokens(doc))
            if setting is not None:
                doc = sectionizer(doc)
            for proc in ner_pipes + after:
                doc = proc(doc)
            for ent in doc.ents:
                out["entities"] += 1
                out["in_title"] += any(a < ent.end_char and ent.start_char < b for a, b in titles)
                out["bullet"] += ent[0].text in BULLETS
                out["colon"] += any(t.i in colons for t in ent)
                out["verb"] += any(t.lower_ in REPORTING_VERBS for t in ent)
                out["negated"] += bool(ent._.is_negated)
    finally:
        sectionizer.cfg.clear()
        sectionizer.cfg.update(defaults)
    return out


def main(model: str) -> None:
    notes = aci_notes()
    nlp = spacy.load(model)
    rows = {name: count(nlp, notes, setting) for name, setting in SETTINGS.items()}
    lines = [
        "# Entities on note layout",
        "",
        f"Pipeline `{model}`, {len(notes)} ACI-BENCH visit notes. Command: `python benchmarks/note_layout.py --model {model}`.",
        "",
        "| order | entities | overlapping a section title | starting with a list bullet | across a label's colon "
        "| containing a reporting verb | negated by ConText |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {k} | {v['entities']:,} | {v['in_title']:,} | {v['bullet']:,} | {v['colon']:,} | {v['verb']:,} | {v['negated']:,} |"
        for k, v in rows.items()
    ]
    Path(RESULTS).mkdir(parents=True, exist_ok=True)
    (Path(RESULTS) / "note_layout.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="en_clinical_ner_cnn")
    main(parser.parse_args().model)
