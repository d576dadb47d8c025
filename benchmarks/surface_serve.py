"""REST service under load: 20 concurrent clients for 60 s against ``clinical-ner serve`` on loopback.

Usage:
    python benchmarks/surface_serve.py --model training/ner_cpu/model-best --clients 20 --duration 60 \
        --workers 1 --output benchmarks/results/surface_serve.json

The server is the real command (``python -m spacy_clinical_ner serve --model M --port P
--workers W``) in its own process; this script is the second process: ``--clients`` asyncio
clients (httpx, one connection each) post one ACI-BENCH visit note per request
(``{"id", "text"}``, notes drawn with a fixed seed) back to back for ``--duration`` seconds,
after a short warm-up. Reported: requests, errors (any non-200 answer or failed request),
requests/s, words (spaCy tokens)/s, latency p50/p90/p99/max, and the server's peak resident
memory (all its processes, sampled every 50 ms).
"""

import argparse
import asyncio
import json
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from surface_common import REPO, RESULTS, RssSampler, aci_notes, count_tokens, describe_model, machine  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 300) -> float:
    import httpx

    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            if httpx.get(f"{url}/health", timeout=2).json().get("status") == "ok":
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not start")


async def load(url: str, notes, tokens, clients: int, duration: float, seed: int):
    import httpx

    latencies, errors, words = [], [], 0
    stop_at = time.perf_counter() + duration

    async def client(k: int) -> None:
        nonlocal words
        rng = random.Random(seed + k)
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            while time.perf_counter() < stop_at:
                i = rng.randrange(len(notes))
                nid, text = notes[i]
                t0 = time.perf_counter()
                try:
                    response = await http.post("/annotate", json={"id": nid, "text": text})
                    ok = response.status_code == 200 and response.json()["id"] == nid
                except httpx.HTTPError as err:
                    ok, response = False, err
                latencies.append(time.perf_counter() - t0)
                if ok:
                    words += tokens[i]
                else:
                    errors.append(str(getattr(response, "status_code", response)))

    started = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    return latencies, errors, words, time.perf_counter() - started


def percentile(values, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(RESULTS / "surface_serve.json"))
    args = parser.parse_args()

    notes = aci_notes()
    tokens = [count_tokens([t]) for _, t in notes]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "spacy_clinical_ner", "serve", "--model", args.model, "--port", str(port), "--workers", str(args.workers)]
    cmd += ["--log-level", "warning"]
    server = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        startup = wait_ready(url, server)
        asyncio.run(load(url, notes, tokens, args.clients, args.warmup, args.seed + 1000))
        with RssSampler(server.pid) as rss:
            latencies, errors, words, seconds = asyncio.run(load(url, notes, tokens, args.clients, args.duration, args.seed))
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)
    result = {
        "benchmark": "surface_serve",
        "model": describe_model(args.model),
        "workers": args.workers,
        "clients": args.clients,
        "duration_seconds": round(seconds, 1),
        "server_startup_seconds": round(startup, 1),
        "requests": len(latencies),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "requests_per_second": round(len(latencies) / seconds, 1),
        "words_per_second": round(words / seconds),
        "latency_ms": {
            "p50": round(1000 * percentile(latencies, 50)),
            "p90": round(1000 * percentile(latencies, 90)),
            "p99": round(1000 * percentile(latencies, 99)),
            "max": round(1000 * max(latencies)),
            "mean": round(1000 * statistics.mean(latencies)),
        },
        "server_peak_rss_mb": round(rss.peak_total / 2**20),
        "server_processes": rss.max_processes,
        "machine": machine(),
    }
    print(json.dumps(result), flush=True)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")


if __name__ == "__main__":
    main()
