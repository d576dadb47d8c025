"""Batch CLI throughput: ``clinical-ner annotate`` on the ACI-BENCH visit notes, 1 and 2 processes.

Usage:
    python benchmarks/surface_cli.py --model training/ner_cpu/model-best --repeats 3 \
        --output benchmarks/results/surface_cli.json

Each run is the real command line in a fresh subprocess (``python -m spacy_clinical_ner annotate
notes.jsonl out --model M --n-process N --overwrite``) over all 207 ACI-BENCH notes (5 CSVs,
column ``note``). Reported: words (spaCy tokens) per second of the annotation loop (from the
run's ``run.json``, pipeline loading excluded), the wall time of the whole command (interpreter
start, pipeline load, annotation, writing), and the peak resident memory of the command and all
its worker processes together (sampled every 50 ms). The median of ``--repeats`` runs is kept.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from surface_common import REPO, RESULTS, RssSampler, aci_notes, describe_model, machine, write_jsonl  # noqa: E402


def run_once(model: str, src: Path, out: Path, n_process: int, batch_size: int, formats: str) -> dict:
    cmd = [sys.executable, "-m", "spacy_clinical_ner", "annotate", str(src), str(out), "--model", model]
    cmd += ["--n-process", str(n_process), "--batch-size", str(batch_size), "--format", formats, "--overwrite", "--no-progress"]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with RssSampler(proc.pid) as rss:
        _, err = proc.communicate()
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):  # 1: the run finished with error records (counted below)
        raise RuntimeError(f"annotate failed: {err.decode()[-2000:]}")
    last = json.loads((out / "run.json").read_text(encoding="utf8"))["last_run"]
    return {
        "n_process": n_process,
        "formats": formats,
        "notes": last["annotated"] + last["errors"],
        "errors": last["errors"],
        "words": last["words"],
        "annotate_seconds": last["seconds"],
        "words_per_second": round(last["words"] / last["seconds"]),
        "wall_seconds": round(wall, 2),
        "peak_rss_mb": round(rss.peak_total / 2**20),
        "peak_rss_largest_process_mb": round(rss.peak_single / 2**20),
        "processes": rss.max_processes,
    }


def run_control(model: str, src: Path, tmp: Path, batch_size: int) -> dict:
    """Two independent 1-process commands at the same time: how much parallel CPU the machine
    really gives (on a quiet 2-core machine their sum is about twice one run's words/s)."""
    cmds, procs = [], []
    started = time.perf_counter()
    for k in range(2):
        cmd = [sys.executable, "-m", "spacy_clinical_ner", "annotate", str(src), str(tmp / f"control{k}"), "--model", model]
        cmd += ["--n-process", "1", "--batch-size", str(batch_size), "--overwrite", "--no-progress"]
        cmds.append(cmd)
        procs.append(subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for proc in procs:
        if proc.wait() != 0:
            raise RuntimeError("control run failed")
    wall = time.perf_counter() - started
    lasts = [json.loads((tmp / f"control{k}" / "run.json").read_text(encoding="utf8"))["last_run"] for k in range(2)]
    return {
        "control": "two independent 1-process commands at once",
        "words_per_second_each": [round(x["words"] / x["seconds"]) for x in lasts],
        "words_per_second_sum": round(sum(x["words"] / x["seconds"] for x in lasts)),
        "wall_seconds": round(wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="pipeline package or folder")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--output", default=str(RESULTS / "surface_cli.json"))
    args = parser.parse_args()

    notes = aci_notes()
    with tempfile.TemporaryDirectory() as tmp:
        src = write_jsonl(notes, Path(tmp) / "aci_bench.jsonl")
        rows = []
        for n_process, formats in ((1, "jsonl"), (2, "jsonl"), (1, "jsonl,fhir,brat,html")):
            repeats = args.repeats if formats == "jsonl" else 1
            runs = [run_once(args.model, src, Path(tmp) / "out", n_process, args.batch_size, formats) for _ in range(repeats)]
            best = sorted(runs, key=lambda r: r["words_per_second"])[len(runs) // 2]  # median run
            best["runs_words_per_second"] = [r["words_per_second"] for r in runs]
            best["median_wall_seconds"] = statistics.median(r["wall_seconds"] for r in runs)
            rows.append(best)
            print(json.dumps(best), flush=True)
        control = run_control(args.model, src, Path(tmp), args.batch_size)
        print(json.dumps(control), flush=True)
    result = {
        "benchmark": "surface_cli",
        "model": describe_model(args.model),
        "batch_size": args.batch_size,
        "machine": machine(),
        "rows": rows,
        "control": control,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")


if __name__ == "__main__":
    main()
