"""Render benchmarks/results/surface.md from the JSON results of surface_cli.py, surface_spark.py
and surface_serve.py (any that exist).

Usage:
    python benchmarks/surface_report.py [--pipeline-note "what the measured pipeline is"]
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from surface_common import RESULTS  # noqa: E402


def load(name: str):
    path = RESULTS / name
    return json.loads(path.read_text(encoding="utf8")) if path.exists() else None


def machine_line(m: dict) -> str:
    return (
        f"{m['cores']} cores ({m['cpu']}), Python {m['python']}, spaCy {m['spacy']}; load average at the end "
        f"{' / '.join(map(str, m['load_average_1_5_15']))} (1/5/15 min); {m['date']}"
    )


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--pipeline-note", default="", help="a sentence on the measured pipeline, put at the top")
    args = parser.parse_args()
    out = ["# Product surface benchmarks", ""]
    if args.pipeline_note:
        out += [args.pipeline_note, ""]
    out.append(
        "Corpus: the 207 ACI-BENCH visit notes (`corpus/notes/aci_bench/*.csv`, column `note`). "
        "*Words* are spaCy tokens of the clinical tokenizer (as in spaCy's words/second). "
        "Peak RSS is the sum over all processes of the run (main + workers), sampled every 50 ms."
    )
    out.append("")
    cli = load("surface_cli.json")
    if cli:
        out += ["## Batch CLI (`clinical-ner annotate`)", "", f"Pipeline: {cli['model']}; batch size {cli['batch_size']}.", ""]
        out.append(
            "| processes | outputs | notes | words | annotate s | words/s | runs (words/s) | command wall s | peak RSS MB (largest process) |"
        )
        out.append("|---|---|---|---|---|---|---|---|---|")
        for r in cli["rows"]:
            out.append(
                f"| {r['n_process']} | {r['formats']} | {r['notes']} ({r['errors']} errors) | {r['words']:,} | {r['annotate_seconds']:.1f} | "
                f"**{r['words_per_second']:,}** | {', '.join(f'{x:,}' for x in r['runs_words_per_second'])} | {r['median_wall_seconds']:.1f} | "
                f"{r['peak_rss_mb']:,} ({r['peak_rss_largest_process_mb']:,}) |"
            )
        control = cli.get("control")
        if control:
            out += [
                "",
                f"Control for the 2-process row: {control['control']} reached {control['words_per_second_sum']:,} words/s together "
                f"({' + '.join(f'{x:,}' for x in control['words_per_second_each'])}), against {cli['rows'][0]['words_per_second']:,} for one alone: "
                "the parallel CPU this machine actually offered during the run.",
            ]
        out += ["", f"Machine: {machine_line(cli['machine'])}.", ""]
        out += [
            "Command: `python benchmarks/surface_cli.py --model <pipeline> --repeats 3` "
            "(each run: `python -m spacy_clinical_ner annotate aci_bench.jsonl out --model <pipeline> --n-process N --batch-size 16 --overwrite`; "
            "words/s = tokens / seconds of the annotation loop, median of the runs; wall = the whole command incl. start-up and pipeline load).",
            "",
        ]
    spark = load("surface_spark.json")
    if spark:
        out += ["## Spark local mode (`spacy_clinical_ner.spark.annotate_dataframe`)", "", f"Pipeline: {spark['model']}.", ""]
        out.append("| run | notes | entities | seconds | words/s |")
        out.append("|---|---|---|---|---|")
        for r in spark["runs"]:
            out.append(
                f"| {r['run']} | {r['notes']} ({r['errors']} errors) | {r['entities']:,} | {r['seconds']:.1f} | **{r['words_per_second']:,}** |"
            )
        out += [
            "",
            f"`{spark['master']}`, {spark['partitions']} partitions, batch size {spark['batch_size']}, {spark['words']:,} words; "
            f"session start-up {spark['session_startup_seconds']:.1f} s (not in the runs); peak RSS driver + JVM + Python workers "
            f"{spark['peak_rss_mb']:,} MB ({spark['processes']} processes). *cold*: includes each Python worker loading the pipeline "
            "(once per worker); *warm*: the same job again, workers and pipelines reused.",
            "",
            f"Machine: {machine_line(spark['machine'])}.",
            "",
            f"Command: `python benchmarks/surface_spark.py --model <pipeline> --master '{spark['master']}' --partitions {spark['partitions']}`.",
            "",
        ]
    serves = [s for s in (load("surface_serve.json"), load("surface_serve_2workers.json")) if s]
    if serves:
        out += ["## REST service under load (`clinical-ner serve`)", "", f"Pipeline: {serves[0]['model']}.", ""]
        out.append(
            "| server workers | clients | seconds | requests | errors | requests/s | words/s | p50 ms | p90 ms | p99 ms | max ms | server peak RSS MB |"
        )
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for s in serves:
            lat = s["latency_ms"]
            out.append(
                f"| {s['workers']} | {s['clients']} | {s['duration_seconds']:.0f} | {s['requests']:,} | **{s['errors']}** | {s['requests_per_second']} | "
                f"{s['words_per_second']:,} | **{lat['p50']:,}** | {lat['p90']:,} | **{lat['p99']:,}** | {lat['max']:,} | {s['server_peak_rss_mb']:,} |"
            )
        out += [
            "",
            'Each request is one whole ACI-BENCH note (~530 tokens) as `{"id", "text"}`; the clients (asyncio + httpx, one connection each) '
            "run in a second process on loopback and send back to back; latency includes queueing behind the other clients' notes "
            "(the pipeline runs one micro-batch at a time per worker process).",
            "",
            f"Machine: {machine_line(serves[0]['machine'])}.",
            "",
            "Command: `python benchmarks/surface_serve.py --model <pipeline> --clients 20 --duration 60 --workers W`.",
            "",
        ]
    (RESULTS / "surface.md").write_text("\n".join(out), encoding="utf8")
    print("\n".join(out))


if __name__ == "__main__":
    main()
