"""Entities on note layout (section headers, list bullets) with and without the sectionizer's blocking.

    python benchmarks/note_layout.py [--model en_clinical_ner_cnn]

Runs the pipeline's NER over the ACI-BENCH visit notes twice: once as the NER alone (the order
before the sectionizer moved in front of it), once behind ``clinical_sectionizer`` with
``block_titles`` / ``block_bullets``. Counts the entities that overlap a section title or start
with a list bullet. Writes benchmarks/results/note_layout.md.
"""

import argparse
from pathlib import Path

import spacy
from surface_common import RESULTS, aci_notes

from spacy_clinical_ner.context.sections import BULLETS


def count(nlp, notes, block: bool) -> dict:
    sectionizer = nlp.get_pipe("clinical_sectionizer")
    ner_pipes = [(name, nlp.get_pipe(name)) for name in nlp.pipe_names if name in ("tok2vec", "transformer", "ner")]
    out = {"entities": 0, "in_title": 0, "bullet": 0}
    for _, text in notes:
        doc = nlp.make_doc(text)
        titles = [(s["title_start"], s["title_end"]) for s in sectionizer.find_sections(doc)]
        if block:
            doc = sectionizer(doc)
        for _, proc in ner_pipes:
            doc = proc(doc)
        for ent in doc.ents:
            out["entities"] += 1
            out["in_title"] += any(a < ent.end_char and ent.start_char < b for a, b in titles)
            out["bullet"] += ent[0].text in BULLETS
    return out


def main(model: str) -> None:
    notes = aci_notes()
    nlp = spacy.load(model)
    rows = {"NER alone (sectionizer after it)": count(nlp, notes, False), "sectionizer first (blocking)": count(nlp, notes, True)}
    lines = [
        "# Entities on note layout",
        "",
        f"Pipeline `{model}`, {len(notes)} ACI-BENCH visit notes. Command: `python benchmarks/note_layout.py --model {model}`.",
        "",
        "| order | entities | overlapping a section title | starting with a list bullet |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {k} | {v['entities']:,} | {v['in_title']:,} | {v['bullet']:,} |" for k, v in rows.items()]
    Path(RESULTS).mkdir(parents=True, exist_ok=True)
    (Path(RESULTS) / "note_layout.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="en_clinical_ner_cnn")
    main(parser.parse_args().model)
