"""Shared helpers of the product-surface benchmarks (surface_cli.py, surface_spark.py, surface_serve.py)."""

import csv
import json
import os
import platform
import threading
import time
from pathlib import Path
from typing import Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]
ACI_DIR = REPO / "corpus" / "notes" / "aci_bench"
RESULTS = REPO / "benchmarks" / "results"


def aci_notes(folder: Path = ACI_DIR) -> List[Tuple[str, str]]:
    """(id, note) of every ACI-BENCH visit note (the 5 split CSVs, column ``note``)."""
    csv.field_size_limit(2**31 - 1)
    notes = []
    for path in sorted(folder.glob("*.csv")):
        if path.name.endswith("_metadata.csv"):
            continue
        with open(path, newline="", encoding="utf8") as fh:
            for row in csv.DictReader(fh):
                if row.get("note"):
                    notes.append((f"{path.stem}/{row['encounter_id']}", row["note"]))
    return notes


def write_jsonl(notes: List[Tuple[str, str]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf8") as fh:
        for nid, text in notes:
            fh.write(json.dumps({"id": nid, "text": text}) + "\n")
    return path


def count_tokens(texts: List[str]) -> int:
    """spaCy tokens (the pipeline's clinical tokenizer): the 'words' of words/second."""
    from spacy_clinical_ner.tokenizer import clinical_blank

    nlp = clinical_blank()
    return sum(len(doc) for doc in nlp.tokenizer.pipe(texts))


class RssSampler:
    """Peak resident memory of a process and all its descendants (sum), sampled every 50 ms."""

    def __init__(self, pid: int, interval: float = 0.05):
        import psutil

        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak_total = 0
        self.peak_single = 0
        self.max_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self.proc] + self.proc.children(recursive=True)
                rss = []
                for p in procs:
                    try:
                        rss.append(p.memory_info().rss)
                    except psutil.Error:
                        pass
                self.peak_total = max(self.peak_total, sum(rss))
                self.peak_single = max(self.peak_single, max(rss, default=0))
                self.max_processes = max(self.max_processes, len(rss))
            except psutil.Error:
                pass
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def machine() -> Dict[str, object]:
    import spacy

    load = os.getloadavg()
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "spacy": spacy.__version__,
        "load_average_1_5_15": [round(x, 2) for x in load],
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def describe_model(model: str) -> str:
    import spacy

    if Path(model).exists():
        meta_path = Path(model) / "meta.json"
    else:  # an installed package keeps its pipeline in a versioned sub-folder
        pkg = spacy.util.get_package_path(model)
        meta_path = next(pkg.glob("*/meta.json"), pkg / "meta.json")
    meta = spacy.util.load_meta(meta_path)
    return f"`{model}` (components: {', '.join(meta.get('pipeline', []))}; spaCy {meta.get('spacy_version', '?')})"
