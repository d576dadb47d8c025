"""5-fold cross-validation of clinical_assertion on the MACCROBAT *train* documents only.

    python benchmarks/context_cv.py [--steps 600] [--tok2vec none|cnn] \
        [--out benchmarks/results/context_assertion_cv.md]

How the classifier's decision thresholds (``threshold``, ``veto_threshold``) and its
architecture were chosen without looking at the dev documents: documents of
``corpus/spacy/maccrobat/train.spacy`` are split by index into 5 folds; for each fold the
classifier of ``configs/context_assertion.cfg`` is trained on the other 4 (fixed number
of steps) and scored on the held-out one, over all gold entities. Reported: ConText rules
alone, the classifier alone at 0.5, and the rule-veto combination for a grid of
(veto, add) thresholds. Caveat: the rules were written on these same documents, so
"rules alone" is optimistic here; the dev table in context_eval.md is the fair comparison.
"""

import argparse
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import spacy  # noqa: E402
from spacy.tokens import DocBin  # noqa: E402
from spacy.training import Example  # noqa: E402
from thinc.api import Adam, Config  # noqa: E402

from spacy_clinical_ner.context.corpus import copy_entities  # noqa: E402
from spacy_clinical_ner.extensions import install_doc_extensions  # noqa: E402

GRID = [(v, a) for v in (0.05, 0.1, 0.2, 0.3) for a in (0.5, 0.6, 0.8)]
CNN = {
    "@architectures": "spacy.Tok2Vec.v2",
    "embed": {
        "@architectures": "spacy.MultiHashEmbed.v2",
        "width": 64,
        "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"],
        "rows": [5000, 1000, 2500, 1000],
        "include_static_vectors": False,
    },
    "encode": {"@architectures": "spacy.MaxoutWindowEncoder.v2", "width": 64, "depth": 2, "window_size": 1, "maxout_pieces": 3},
}


def prf(c):
    tp, fp, fn = c
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", default=str(REPO / "corpus/spacy/maccrobat/train.spacy"))
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--tok2vec", choices=["none", "cnn"], default="none")
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/context_assertion_cv.md"))
    args = ap.parse_args()
    install_doc_extensions()
    cfg = Config().from_disk(REPO / "configs/context_assertion.cfg")
    if args.tok2vec == "cnn":
        cfg["components"]["clinical_assertion"]["model"]["tok2vec"] = CNN
    opt_cfg = cfg["training"]["optimizer"]
    nlp0 = spacy.util.load_model_from_config(cfg, auto_fill=True)
    docs = list(DocBin().from_disk(args.train).get_docs(nlp0.vocab))
    rules = [0, 0, 0]
    alone = [0, 0, 0]
    ens = {g: [0, 0, 0] for g in GRID}
    for k in range(args.folds):
        t0 = time.time()
        nlp = spacy.util.load_model_from_config(cfg, auto_fill=True)
        train = [d for i, d in enumerate(docs) if i % args.folds != k]
        test = [d for i, d in enumerate(docs) if i % args.folds == k]
        examples = [Example(copy_entities(d, nlp.make_doc(d.text), "entities"), d) for d in train]
        optimizer = Adam(
            learn_rate=opt_cfg["learn_rate"], L2=opt_cfg["L2"], L2_is_weight_decay=True, grad_clip=opt_cfg["grad_clip"], use_averages=True
        )
        nlp.initialize(lambda: examples, sgd=optimizer)  # noqa: B023
        rng = random.Random(0)
        for _ in range(args.steps):
            nlp.update(rng.sample(examples, 4), sgd=optimizer, drop=0.1, exclude=["clinical_sentencizer", "clinical_context"])
        assertion = nlp.get_pipe("clinical_assertion")
        with assertion.model.use_params(optimizer.averages):
            preds = [copy_entities(d, nlp.make_doc(d.text), "entities") for d in test]
            per_doc, probs = assertion.predict(preds)
            probs = assertion.model.ops.to_numpy(probs)
        row = 0
        for gold, (spans, _instances, analysed, _feats) in zip(test, per_doc, strict=True):
            polarity = {e["id"]: e["attributes"].get("POLARITY") for e in gold._.brat["entities"]}
            for span, (values, _cues) in zip(spans, analysed, strict=True):
                g = polarity.get(span.id_) == "NEG"
                rule = bool(values.get("is_negated"))
                p = float(probs[row][1])
                row += 1
                for counts, pred in [(rules, rule), (alone, p >= 0.5)] + [(ens[(v, a)], p >= v if rule else p >= a) for v, a in GRID]:
                    counts[0] += g and pred
                    counts[1] += pred and not g
                    counts[2] += g and not pred
        print(f"fold {k}: {time.time() - t0:.0f}s", flush=True)
    lines = [
        "## clinical_assertion: 5-fold cross-validation on the MACCROBAT train documents",
        "",
        f"Produced by `python benchmarks/context_cv.py --steps {args.steps} --tok2vec {args.tok2vec}`"
        f" ({len(docs)} train documents, event-type entities, negation).",
        "",
        "| decision | P | R | F1 |",
        "|---|---|---|---|",
        "| ConText rules alone (written on these documents: optimistic) | {:.3f} | {:.3f} | {:.3f} |".format(*prf(rules)),
        "| classifier alone, p(negated) >= 0.5 | {:.3f} | {:.3f} | {:.3f} |".format(*prf(alone)),
    ]
    for v, a in GRID:
        lines.append(f"| rule kept unless p < {v}; no rule: p >= {a} | " + "{:.3f} | {:.3f} | {:.3f} |".format(*prf(ens[(v, a)])))
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf8")
    print(text)


if __name__ == "__main__":
    main()
