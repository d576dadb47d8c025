"""Spark throughput: ``annotate_dataframe`` in Spark local mode on the ACI-BENCH visit notes.

Usage:
    python benchmarks/surface_spark.py --model training/ner_cpu/model-best --master 'local[2]' \
        --output benchmarks/results/surface_spark.json

A DataFrame of the 207 notes (``id``, ``text``) in ``--partitions`` partitions goes through
``spacy_clinical_ner.spark.annotate_dataframe`` (``mapInPandas``; the pipeline loaded once per
Python worker) and the ``annotation`` column is written as text files. The job runs twice in
one session: the first (cold) run includes each Python worker loading the pipeline, the
second (warm) reuses the workers and their loaded pipeline. Reported per run: wall time,
words (spaCy tokens) per second; for the session: start-up time and the peak resident memory
of the driver, the JVM and the Python workers together (sampled every 50 ms).
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from surface_common import REPO, RESULTS, RssSampler, aci_notes, count_tokens, describe_model, machine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--output", default=str(RESULTS / "surface_spark.json"))
    args = parser.parse_args()

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    model = str(Path(args.model).resolve()) if Path(args.model).exists() else args.model
    notes = aci_notes()
    words = count_tokens([t for _, t in notes])

    from pyspark.sql import SparkSession

    from spacy_clinical_ner.spark import annotate_dataframe

    runs = []
    with RssSampler(os.getpid()) as rss:
        started = time.perf_counter()
        spark = (
            SparkSession.builder.master(args.master)
            .appName("surface-spark-benchmark")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.memory", "2g")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        startup = time.perf_counter() - started
        df = spark.createDataFrame(notes, "id STRING, text STRING").repartition(args.partitions).cache()
        df.count()
        with tempfile.TemporaryDirectory() as tmp:
            for run in ("cold", "warm"):
                out = Path(tmp) / run
                t0 = time.perf_counter()
                annotated = annotate_dataframe(df, model=model, batch_size=args.batch_size)
                annotated.select("annotation").write.text(str(out))
                seconds = time.perf_counter() - t0
                records = [json.loads(line) for part in sorted(out.glob("part-*")) for line in part.read_text(encoding="utf8").splitlines()]
                runs.append(
                    {
                        "run": run,
                        "notes": len(records),
                        "errors": sum(1 for r in records if r.get("error")),
                        "entities": sum(len(r.get("entities", [])) for r in records),
                        "seconds": round(seconds, 2),
                        "words_per_second": round(words / seconds),
                    }
                )
                print(json.dumps(runs[-1]), flush=True)
        spark.stop()
    result = {
        "benchmark": "surface_spark",
        "model": describe_model(args.model),
        "master": args.master,
        "partitions": args.partitions,
        "batch_size": args.batch_size,
        "words": words,
        "session_startup_seconds": round(startup, 2),
        "peak_rss_mb": round(rss.peak_total / 2**20),
        "processes": rss.max_processes,
        "runs": runs,
        "machine": machine(),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")


if __name__ == "__main__":
    main()
