"""Write benchmarks/results/ner_notes.md from the evaluate-ner JSON files in benchmarks/results/ner_notes/.

Each JSON is the output of ``python -m spacy_clinical_ner evaluate-ner MODEL DOCBIN --output X.json`` (see the
report's commands).
"""

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent / "results"
MAIN = [
    "Sign_symptom",
    "Disease_disorder",
    "Biological_structure",
    "Diagnostic_procedure",
    "Medication",
    "Therapeutic_procedure",
    "Lab_value",
    "Dosage",
    "Frequency",
    "Date",
    "Severity",
    "Detailed_description",
]


#: the shipped layout's runs (notes, MACCROBAT): the per-label tables describe these
CURRENT = ("dev88_v2s0_notes", "dev88_v2s0_maccrobat")
#: session 15's shipped layout on the 88-document dev split: the per-label table's "previous"
PREVIOUS = "dev88_s0_notes"

#: the corpus with 21 more ACI-BENCH notes (notes dev: 57 documents): (title, notes run, MACCROBAT run), all in the
#: shipped layout (name guard, drug dictionary with relabel_names), train-only NER of the given data and seed
DEV57_RUNS = [
    ("previous data (219 notes train), hidden 64, seed 0 (the model above)", "prev_dev57_notes", "relabel_names_maccrobat"),
    ("previous data, hidden 64, seed 1", "prev_s1_dev57_notes", "prev_s1_maccrobat"),
    ("+ 19 ACI-BENCH train notes (238), hidden 64, seed 0", "n85_h64_s0_notes", "n85_h64_s0_maccrobat"),
    ("+ 19 ACI-BENCH train notes, hidden 64, seed 1", "n85_h64_s1_notes", "n85_h64_s1_maccrobat"),
    ("+ 19 ACI-BENCH train notes, hidden 128, seed 0", "n85_h128_s0_notes", "n85_h128_s0_maccrobat"),
    ("+ 19 ACI-BENCH train notes, hidden 128, seed 1", "n85_h128_s1_notes", "n85_h128_s1_maccrobat"),
    (
        "session 13 shipped: hidden 128, seed 0, + drug_ruler relabel_heads (a multi-word entity ending in medication, medicine, vaccine, supplement, pill is a Medication)",
        "dev57_shipped_notes",
        "dev57_shipped_maccrobat",
    ),
    (
        "session 14 shipped: + 63 MTS-Dialog train sections, vectors without the ACI-BENCH test text, seed 0",
        "dev57_s14_shipped_notes",
        "dev74_shipped_maccrobat",
    ),
]

#: the corpus with 80 more MTS-Dialog sections (notes dev: 74 documents), shipped layout
DEV74_RUNS = [
    ("session 13 shipped (238 notes train documents, seed 0)", "dev74_prev_shipped_notes", "dev74_prev_shipped_maccrobat"),
    ("+ 63 MTS-Dialog train sections (301), vectors without the ACI-BENCH test text, seed 0 (session 14 shipped)", "dev74_shipped_notes", "dev74_shipped_maccrobat"),
    ("same, seed 1", "dev74_s1_notes", "dev74_s1_maccrobat"),
    ("same, notes read once per epoch (notes_repeat 1), seed 0", "dev74_r1_notes", "dev74_r1_maccrobat"),
]


#: the corpus with 80 more MTS-Dialog sections again (session 15; notes dev: 88 documents), shipped layout
DEV88_RUNS = [
    ("session 14 shipped (301 notes train documents, seed 0)", "dev88_prev_shipped_notes", "dev74_shipped_maccrobat"),
    ("+ 66 MTS-Dialog train sections (367), seed 0 (shipped)", *CURRENT),
    ("same, seed 1", "dev88_s1_notes", "dev88_s1_maccrobat"),
    ("same, tok2vec depth 6 (encode.depth 4 -> 6), seed 0", "dev88_d6s0_notes", "dev88_d6s0_maccrobat"),
    ("same, tok2vec depth 6, seed 1", "dev88_d6s1_notes", "dev88_d6s1_maccrobat"),
]


#: session 16 (notes dev: the same 88 documents): the dictionaries on session 15's NER, then vectors and NER retrained
DEV88_S16_RUNS = [
    ("session 15 shipped (NER seed 0, session-15 dictionaries)", "dev88_s0_notes", "dev88_s0_maccrobat"),
    ("same NER; drug ruler: repair_spans, mixed-case brands", "dev88_rep_notes", "dev88_rep_maccrobat"),
    ("+ disorder heads (deficiency, toxicity, ... -> Disease_disorder)", "dev88_heads_notes", "dev88_heads_maccrobat"),
    ("+ disease_ruler (Human Disease Ontology names)", "dev88_dis_notes", "dev88_dis_maccrobat"),
    ("+ floret vectors with 50,000 rows and MTS-Dialog's text, NER retrained, seed 0 (shipped)", *CURRENT),
    ("same, seed 1", "dev88_v2s1_notes", "dev88_v2s1_maccrobat"),
]
#: the same runs by source: (title, run name in dev88_{aci,mts}_<run>.json)
DEV88_S16_SOURCES = [
    ("session 15 shipped", "s0"),
    ("+ repair_spans, mixed-case brands", "rep"),
    ("+ disorder heads", "heads"),
    ("+ disease_ruler", "dis"),
    ("+ vectors, NER retrained, seed 0 (shipped)", "v2s0"),
    ("same, seed 1", "v2s1"),
]


HEADER = "| model | notes strict F1 | notes any-overlap F1 | notes coarse F1 | problem P / R | treatment P / R | test P / R | MACCROBAT dev strict F1 | MACCROBAT any-overlap F1 |"


def table_rows(runs):
    rows = []
    for title, notes, mac in runs:
        n = load(notes)
        m = load(mac) if mac else None
        if n is None:
            continue
        c = n["coarse_overlap"]["per_type"]

        def pr(k, c=c):
            return f"{c[k]['p']:.3f} / {c[k]['r']:.3f}"

        rows.append(
            f"| {title} | {n['ents_f']:.3f} | {n['overlap']['micro']['f']:.3f} | {n['coarse_overlap']['micro']['f']:.3f} | {pr('problem')} | "
            f"{pr('treatment')} | {pr('test')} | {m['ents_f'] if m else 0.575:.3f} | {(format(m['overlap']['micro']['f'], '.3f') if m else '–')} |"
        )
    return rows


def seed_means(title, notes0, mac0, notes1, mac1):
    """'TITLE strict / overlap / coarse, treatment recall R, MACCROBAT F' averaged over two runs; None if one is missing."""
    a, b, ma, mb = load(notes0), load(notes1), load(mac0), load(mac1)
    if None in (a, b, ma, mb):
        return None

    def mean(f):
        return (f(a) + f(b)) / 2

    return (
        f"{title} {mean(lambda d: d['ents_f']):.3f} / {mean(lambda d: d['overlap']['micro']['f']):.3f} / "
        f"{mean(lambda d: d['coarse_overlap']['micro']['f']):.3f}, treatment recall {mean(lambda d: d['coarse_overlap']['per_type']['treatment']['r']):.3f}, "
        f"MACCROBAT {(ma['ents_f'] + mb['ents_f']) / 2:.3f}"
    )


def source_rows(runs):
    """Table rows by source (dev88_{aci,mts}_<run>.json): strict / any-overlap / coarse F1, treatment recall, test precision."""
    rows = []
    for title, run in runs:
        cells = []
        for src in ("aci", "mts"):
            d = load(f"dev88_{src}_{run}")
            if d is None:
                break
            c = d["coarse_overlap"]["per_type"]
            cells.append(
                f"{d['ents_f']:.3f} / {d['overlap']['micro']['f']:.3f} / {d['coarse_overlap']['micro']['f']:.3f} | {c['treatment']['r']:.3f} | {c['test']['p']:.3f}"
            )
        if len(cells) == 2:
            rows.append(f"| {title} | {cells[0]} | {cells[1]} |")
    return rows


def means_line(intro, run0, run1):
    """A paragraph with the two seeds' means of runs ``<run>_notes`` / ``<run>_maccrobat``, or nothing when one is missing."""
    m = seed_means("", run0 + "_notes", run0 + "_maccrobat", run1 + "_notes", run1 + "_maccrobat")
    return ["", f"{intro}:{m}."] if m else []


def load(name):
    path = HERE / "ner_notes" / f"{name}.json"
    return json.loads(path.read_text(encoding="utf8")) if path.exists() else None


def main() -> None:
    runs = [
        ("before: released CPU NER (case reports only)", "before_notes", None),
        ("after: CPU NER on case reports + notes (train-only)", "after_notes", "after_maccrobat"),
        ("after + drug dictionary", "after_dict_notes", "after_dict_maccrobat"),
        ("variant: notes read once per epoch (notes_repeat 1)", "repeat1_notes", "repeat1_maccrobat"),
        (
            "after, the train-cpu schedule (best at step 5,400 of 12,000), assembled pipeline",
            "shipped_layout_notes",
            "shipped_layout_maccrobat",
        ),
        (
            "+ a capitalised drug name mid-sentence takes Medication (drug_ruler relabel_names)",
            "relabel_names_notes",
            "relabel_names_maccrobat",
        ),
    ]
    out = [
        "# NER on two domains: visit notes and case reports",
        "",
        "Notes dev: 55 hand-annotated visit notes (1,346 entities; `corpus/notes/annotated`, split by `convert-notes`). "
        "MACCROBAT dev: 32 case reports (3,719 entities). Coarse types as the independent visit-note evaluation scores them: "
        "problem = Sign_symptom + Disease_disorder, treatment = Medication + Therapeutic_procedure, test = Diagnostic_procedure; "
        "any-overlap match. The MACCROBAT dev F1 of the case-report-only model is 0.575 (docs/model_card.md).",
        "",
        HEADER,
        "|---|---:|---:|---:|---|---|---|---:|---:|",
    ]
    out += table_rows(runs)
    out += [
        "",
        "## With the 21 added ACI-BENCH notes (notes dev: 57 documents)",
        "",
        "The corpus now holds all 85 ACI-BENCH train/valid notes; 19 of the new ones went to train, 2 to dev (`split.json`), so the",
        "notes dev split has 57 documents (1,504 entities). Every row: shipped layout (name guard, drug dictionary, relabel_names),",
        "train-only NER by `spacy project run train-cpu` (`--system.seed`, `--components.ner.model.hidden_width`), same dev documents.",
        "",
        HEADER,
        "|---|---:|---:|---:|---|---|---|---:|---:|",
    ]
    out += table_rows(DEV57_RUNS)
    pairs = [
        ("previous data, hidden 64", "prev_dev57", "relabel_names", "prev_s1_dev57", "prev_s1"),
        ("+ 19 notes, hidden 64", "n85_h64_s0", "n85_h64_s0", "n85_h64_s1", "n85_h64_s1"),
        ("+ 19 notes, hidden 128 (shipped)", "n85_h128_s0", "n85_h128_s0", "n85_h128_s1", "n85_h128_s1"),
    ]
    means = [
        m
        for m in (seed_means(title, n0 + "_notes", m0 + "_maccrobat", n1 + "_notes", m1 + "_maccrobat") for title, n0, m0, n1, m1 in pairs)
        if m
    ]
    if means:
        out += [
            "",
            "Means of the two seeds (notes strict / any-overlap / coarse F1): "
            + "; ".join(means)
            + ". Single runs move by about a point with the seed.",
        ]
    out += [
        "",
        "## With 80 more MTS-Dialog sections (notes dev: 74 documents)",
        "",
        "The next 80 MTS-Dialog sections in SHA-1 order (N_MTS 210 -> 290; 63 to train, 17 to dev by `sha1(id) % 5`), and",
        "floret vectors rebuilt without the three reserved ACI-BENCH test files. Notes dev: 74 documents (1,691 entities).",
        "Every row: shipped layout (`spacy project run assemble-dev`), train-only NER by `spacy project run train-cpu`.",
        "",
        HEADER,
        "|---|---:|---:|---:|---|---|---|---:|---:|",
    ]
    out += table_rows(DEV74_RUNS)
    out += means_line("Means of the two seeds (notes strict / any-overlap / coarse F1)", "dev74_shipped", "dev74_s1")
    out += [
        "",
        "## With 80 more MTS-Dialog sections again (notes dev: 88 documents)",
        "",
        "The next 80 MTS-Dialog sections in SHA-1 order (N_MTS 290 -> 370; 66 to train, 14 to dev), pre-annotated and corrected",
        "by hand (DOUBTS.md pass1_b6). Notes dev: 88 documents. Every row: shipped layout (`spacy project run assemble-dev`),",
        "train-only NER by `spacy project run train-cpu` (`--system.seed`, `--components.tok2vec.model.encode.depth`).",
        "",
        HEADER,
        "|---|---:|---:|---:|---|---|---|---:|---:|",
    ]
    out += table_rows(DEV88_RUNS)
    src_rows = source_rows(
        (("session 14 shipped", "s14"), ("session 15, seed 0 (shipped)", "s0"), ("session 15, seed 1", "s1"), ("session 15, depth 6, seed 0", "d6s0"))
    )
    if src_rows:
        out += [
            "",
            "By source (the same 88 documents: 15 ACI-BENCH full notes, 73 MTS-Dialog sections; shipped layout, the NER of each row; strict / any-overlap / coarse F1, treatment recall, test precision):",
            "",
            "| model | ACI-BENCH F1 | treatment R | test P | MTS-Dialog F1 | treatment R | test P |",
            "|---|---|---:|---:|---|---:|---:|",
        ] + src_rows
        out += [
            "",
            "The added MTS-Dialog sections help the MTS-Dialog dev sections (coarse 0.852 -> 0.866 / 0.858) and the case reports; on the",
            "15 ACI-BENCH dev notes treatment recall is lower than session 14's single run (0.847 -> 0.793 / 0.820: a few entities out of",
            "about 150, and the two seeds differ by 0.027 themselves).",
        ]
    for title, n0, n1 in (("depth 4", "dev88_s0", "dev88_s1"), ("depth 6", "dev88_d6s0", "dev88_d6s1")):
        out += means_line(f"Means of the two seeds, {title} (notes strict / any-overlap / coarse F1)", n0, n1)
    out += [
        "",
        "## Session 16: dictionaries and vectors (notes dev: the same 88 documents)",
        "",
        "First the dictionaries on session 15's shipped NER (`clinical_dictionary_ruler`: `repair_spans` splits a drug name off",
        "the dose the NER ran it into and widens a part of a name, mixed-case brands are names anywhere; `relabel_heads` makes",
        "\"X deficiency / toxicity / overdose / poisoning / dependence / abuse\" a Disease_disorder; `disease_ruler` fills Human",
        "Disease Ontology names the NER missed), then floret vectors with 50,000 instead of 20,000 hashed rows, trained also on",
        "MTS-Dialog's unlabelled training set (`spacy project run vectors`), and the NER retrained on them",
        "(`spacy project run train-cpu`, seeds 0 / 1). Every row: shipped layout (`spacy project run assemble-dev`).",
        "",
        HEADER,
        "|---|---:|---:|---:|---|---|---|---:|---:|",
    ]
    out += table_rows(DEV88_S16_RUNS)
    src_rows = source_rows(DEV88_S16_SOURCES)
    out += [
        "",
        "By source (15 ACI-BENCH full notes, 73 MTS-Dialog sections; strict / any-overlap / coarse F1, treatment recall, test precision):",
        "",
        "| model | ACI-BENCH F1 | treatment R | test P | MTS-Dialog F1 | treatment R | test P |",
        "|---|---|---:|---:|---|---:|---:|",
    ] + src_rows
    out += means_line("Means of the two seeds with the new vectors (notes strict / any-overlap / coarse F1)", "dev88_v2s0", "dev88_v2s1")
    out += [
        "",
        "The ACI-BENCH dev notes' text was already in the vectors before (ACI-BENCH train and valid, unlabelled); MTS-Dialog's",
        "text, dev sections included, is new, so the ACI-BENCH rows are the fairer before/after. Still not vectors that know",
        "\"construction\" from \"constriction\": floret builds a word from its character n-grams (cosine 0.99 for the two).",
    ]
    b, a = load(PREVIOUS), load(CURRENT[0])
    out += [
        "",
        "Per label, notes dev (88 documents), strict F1 (support): session 15's shipped layout → now",
        "",
        "| label | support | previous | shipped |",
        "|---|---:|---:|---:|",
    ]
    for label in MAIN:
        if label in a["ents_per_type"] and a["ents_per_type"][label]["support"]:
            out.append(
                f"| {label} | {a['ents_per_type'][label]['support']} | {b['ents_per_type'].get(label, {}).get('f', 0):.3f} | {a['ents_per_type'][label]['f']:.3f} |"
            )
    ma = load(CURRENT[1])
    out += ["", "Per label, MACCROBAT dev, strict F1 (shipped)", "", "| label | support | F1 |", "|---|---:|---:|"]
    for label in MAIN:
        if label in ma["ents_per_type"]:
            out.append(f"| {label} | {ma['ents_per_type'][label]['support']} | {ma['ents_per_type'][label]['f']:.3f} |")
    out += [
        "",
        "Commands:",
        "",
        "```",
        "spacy project run convert && spacy project run convert-notes && spacy project run drug-patterns",
        "python -m spacy train configs/ner_cpu.cfg --output training/ner_cpu --nlp.batch_size 256 --training.max_steps 4000 --training.eval_frequency 250",
        "python -m spacy_clinical_ner evaluate-ner training/ner_cpu/model-best corpus/spacy/notes/dev.spacy --output benchmarks/results/ner_notes/after_notes.json",
        "python -m spacy_clinical_ner evaluate-ner training/ner_cpu/model-best corpus/spacy/maccrobat/dev.spacy --output benchmarks/results/ner_notes/after_maccrobat.json",
        "# + drug dictionary: model-best with an entity_ruler (phrase_matcher_attr LOWER, overwrite_ents false) of assets/drug_patterns.jsonl after the ner",
        "# before: the released en_clinical_ner_cnn NER (training/release/ner_cpu/model-last of the previous release) on the notes dev split",
        "# shipped layout: the train-cpu schedule (spacy project run train-cpu: max_steps 20000, patience 1000; best at step 5,400),",
        "# assembled with the name guard, drug dictionary and the rest (spacy project run assemble-dev), then",
        "python -m spacy_clinical_ner evaluate-ner training/assembled/cnn_dev corpus/spacy/notes/dev.spacy --output benchmarks/results/ner_notes/shipped_layout_notes.json",
        "python -m spacy_clinical_ner evaluate-ner training/assembled/cnn_dev corpus/spacy/maccrobat/dev.spacy --output benchmarks/results/ner_notes/shipped_layout_maccrobat.json",
        "# relabel_names (configs/assemble_cnn.cfg): spacy project run assemble-dev && spacy project run evaluate-ner-shipped",
        "# 57-document dev: spacy project run convert-notes && spacy project run train-cpu [--system.seed 1] [--components.ner.model.hidden_width 64],",
        "# each NER assembled in the shipped layout and scored with evaluate-ner on both dev splits (n85_*.json, prev_*.json);",
        "# shipped: spacy project run train-cpu && spacy project run assemble-dev && spacy project run evaluate-ner-shipped -> dev57_shipped_*.json",
        "# (metrics/ner_shipped_{notes,maccrobat}.json, copied to benchmarks/results/ner_notes/relabel_names_{notes,maccrobat}.json)",
        "# 74-document dev: spacy project run convert-notes && spacy project run vectors && spacy project run train-cpu [--system.seed 1]",
        "# [--corpora.train.notes_repeat 1], spacy project run assemble-dev && spacy project run evaluate-ner-shipped -> dev74_*.json;",
        "# the 57 documents of session 13: the dev DocBin filtered to them, evaluate-ner on the same pipeline -> dev57_s14_shipped_notes.json",
        "# 88-document dev: spacy project run convert-notes && spacy project run train-cpu [--system.seed 1] [--components.tok2vec.model.encode.depth 6],",
        "# each NER assembled as assemble-dev does (--paths.ner) and scored with evaluate-ner on both dev splits -> dev88_*.json;",
        "# session 14's shipped pipeline (before retraining) on the 88 documents -> dev88_prev_shipped_notes.json; by source: the dev DocBin split",
        "# into its ACI-BENCH and MTS-Dialog documents, evaluate-ner on each -> dev88_{aci,mts}_*.json",
        "# session 16: spacy project run disease-patterns && spacy project run vectors && spacy project run train-cpu [--system.seed 1],",
        "# assembled as assemble-dev does and scored the same way -> dev88_{rep,heads,dis,v2s0,v2s1}_*.json, dev88_{aci,mts}_<run>.json",
        "python benchmarks/ner_notes_report.py",
        "```",
        "",
    ]
    (HERE / "ner_notes.md").write_text("\n".join(out), encoding="utf8")
    print("\n".join(out))


if __name__ == "__main__":
    main()
