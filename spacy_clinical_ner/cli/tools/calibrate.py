"""``calibrate-confidence``: fit the entity confidence's calibration (a step of the project's pipeline)."""

import json
from pathlib import Path
from typing import List, Optional

import typer

from .. import TOOLS_PANEL, app


@app.command("calibrate-confidence", rich_help_panel=TOOLS_PANEL)
def calibrate_confidence(
    model: str = typer.Argument(..., help="NER pipeline trained without the dev documents (tok2vec + ner)"),
    notes: Path = typer.Argument(..., exists=True, help="Visit-note dev DocBin: calibration is measured on it by two-fold cross-fitting"),
    output: Path = typer.Argument(..., help="calibration.json to write (read by [initialize.components.clinical_entity_confidence])"),
    fit_data: List[Path] = typer.Option([], "--fit", help="More held-out DocBins to fit on (e.g. MACCROBAT dev)"),
    patterns: List[Path] = typer.Option(
        [],
        "--patterns",
        help="Dictionary patterns (build-drug-patterns, build-disease-patterns), repeatable: one ruler each after the ner, in "
        "this order, as in the shipped pipeline",
    ),
    markdown: Optional[Path] = typer.Option(None, help="Write the report (P/R at thresholds, ECE) here"),
    method: str = typer.Option(
        "greedy", help="Raw score of the confidence component: greedy (replayed decisions) or beam (beam marginals)"
    ),
) -> None:
    """Fit the entity confidence's calibration and report ECE and P/R at thresholds on the notes dev split."""
    import spacy
    import srsly
    from spacy.tokens import DocBin

    from ...confidence.component import expected_calibration_error, roc_auc
    from ...extensions import install_doc_extensions

    install_doc_extensions()
    nlp = spacy.load(model)
    previous = "ner"
    for i, path in enumerate(patterns):
        ruler = nlp.add_pipe(
            "entity_ruler",
            name=f"dictionary_ruler_{i}",
            after=previous,
            config={"phrase_matcher_attr": "LOWER", "overwrite_ents": False, "validate": False},
        )
        ruler.add_patterns(list(srsly.read_jsonl(path)))
        previous = ruler.name
    if "clinical_name_guard" not in nlp.pipe_names:  # as in the shipped pipeline: names blocked before the NER
        nlp.add_pipe("clinical_name_guard", first=True)
    conf = nlp.add_pipe("clinical_entity_confidence", config={"method": method})

    def scored(path: Path):
        gold = list(DocBin().from_disk(path).get_docs(nlp.vocab))
        with nlp.select_pipes(disable=[conf.name]):
            pred = list(nlp.pipe([g.text for g in gold], batch_size=16))
        rows = [conf.scored_rows([p], [g]) for p, g in zip(pred, gold)]
        return rows, sum(len(g.ents) for g in gold)

    fit_rows = [r for path in fit_data for doc in scored(path)[0] for r in doc]
    note_rows, note_gold = scored(notes)
    folds = [note_rows[0::2], note_rows[1::2]]
    conf_all, correct_all, raw_all = [], [], []
    for k in range(2):
        conf.fit_rows(fit_rows + [r for doc in folds[1 - k] for r in doc])
        for x, y, rule in (row for doc in folds[k] for row in doc):
            conf_all.append(conf.row_confidence(x, rule))
            correct_all.append(y)
            raw_all.append(1.0 if rule else x)
    conf.fit_rows(fit_rows + [r for doc in note_rows for r in doc])
    calibration = conf.calibration
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, {"calibration": calibration, "model": model, "patterns": [str(p) for p in patterns]})
    thresholds = []
    for t in (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        kept = [y for c, y in zip(conf_all, correct_all) if c >= t]
        p = sum(kept) / len(kept) if kept else 0.0
        r = sum(kept) / note_gold if note_gold else 0.0
        thresholds.append(
            {
                "threshold": t,
                "entities": len(kept),
                "p": round(p, 4),
                "r": round(r, 4),
                "f": round(2 * p * r / (p + r), 4) if p + r else 0.0,
            }
        )
    report = {
        "notes_entities_predicted": len(conf_all),
        "notes_gold_entities": note_gold,
        "ece_raw": round(expected_calibration_error(raw_all, correct_all), 4),
        "roc_auc_raw": round(roc_auc(raw_all, correct_all), 4),
        "ece_calibrated_crossfit": round(expected_calibration_error(conf_all, correct_all), 4),
        "dictionary_precision": calibration.get("dictionary"),
        "thresholds": thresholds,
    }
    typer.echo(json.dumps(report, indent=1))
    if markdown:
        lines = [
            f"Entity confidence on the notes dev split ({report['notes_entities_predicted']} predicted, {note_gold} gold entities; "
            f"strict match; calibration cross-fitted in two folds over the notes, with the other held-out sets always in the fit): "
            f"raw score: {method}; expected calibration error (10 bins) raw {report['ece_raw']:.3f}, calibrated {report['ece_calibrated_crossfit']:.3f}; "
            f"ROC AUC of the raw score for right vs wrong entities {report['roc_auc_raw']:.3f}.",
            "",
            "| threshold | entities kept | P | R | F1 |",
            "|---:|---:|---:|---:|---:|",
        ] + [f"| {t['threshold']:.1f} | {t['entities']} | {t['p']:.3f} | {t['r']:.3f} | {t['f']:.3f} |" for t in thresholds]
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text("\n".join(lines) + "\n", encoding="utf8")
