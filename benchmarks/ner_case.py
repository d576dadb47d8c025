"""NER on the dev documents as written, in lower case and in upper case.

    python benchmarks/ner_case.py training/ner_cpu/model-best [more pipelines] [--data corpus/spacy/maccrobat/dev.spacy] [--out FILE.md]

Clinical notes are not always in sentence case: dictated notes come in lower case, headers and
older systems in upper case. The gold documents are re-cased token by token (entities stay on the
same tokens), the pipeline reads the re-cased text, and strict span + label micro F1 is reported
for each casing.
"""

import argparse
from pathlib import Path

import spacy
from spacy.scorer import Scorer
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example

CASES = {"as written": str, "lower case": str.lower, "upper case": str.upper}


def recased(doc: Doc, case) -> Doc:
    """``doc`` with every token re-cased and the same entities (tokens whose length would change keep their case)."""
    words = [case(t.text) if len(case(t.text)) == len(t.text) else t.text for t in doc]
    out = Doc(doc.vocab, words=words, spaces=[bool(t.whitespace_) for t in doc])
    out.ents = [Span(out, e.start, e.end, label=e.label_) for e in doc.ents]
    return out


def scores(model: str, data: str) -> dict:
    nlp = spacy.load(model)
    docs = list(DocBin().from_disk(data).get_docs(nlp.vocab))
    out = {}
    for name, case in CASES.items():
        gold = [recased(d, case) for d in docs]
        preds = nlp.pipe(g.text for g in gold)
        examples = [Example(p, g) for p, g in zip(preds, gold, strict=True)]
        out[name] = Scorer.score_spans(examples, "ents")["ents_f"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--data", default="corpus/spacy/maccrobat/dev.spacy")
    parser.add_argument("--out", default=None, help="also write the table to this markdown file")
    args = parser.parse_args()
    lines = [
        "| pipeline | " + " | ".join(f"F1 {c}" for c in CASES) + " |",
        "|---|" + "---:|" * len(CASES),
    ]
    for model in args.models:
        row = scores(model, args.data)
        lines.append(f"| `{model}` | " + " | ".join(f"{row[c]:.3f}" for c in CASES) + " |")
        print(lines[-1], flush=True)
    text = (
        f"Strict span + label micro F1 on `{args.data}`, re-cased. Command: `python benchmarks/ner_case.py {' '.join(args.models)}`\n\n"
        + "\n".join(lines)
        + "\n"
    )
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
