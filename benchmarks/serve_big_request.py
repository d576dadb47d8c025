"""REST service: one expensive request among 20 busy clients (issue 22's load test).

Usage:
    python benchmarks/serve_big_request.py --model /tmp/after_cnn2 --clients 20 --duration 60 \
        --big-every 20 --output benchmarks/results/serve_big_request.json

The server is the real command (``python -m spacy_clinical_ner serve --model M --port P
--workers W``) in its own process, as in ``surface_serve.py``. ``--clients`` asyncio clients
(httpx, one connection each) post one ACI-BENCH visit note per request back to back for
``--duration`` seconds, after a warm-up; meanwhile one more client posts the issue's
100,000-character note (``"no " * 33330 + "fever"``) every ``--big-every`` seconds (first at
``--big-every / 2``), each time waiting for its answer. Reported: the big requests' latencies
and statuses, and the other clients' latency p50/p90/p99/max over the whole run and over the
requests that overlapped a big request (sent before it was answered and answered after it was
sent), with the machine's load.
"""

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from surface_common import REPO, RESULTS, RssSampler, aci_notes, describe_model, machine  # noqa: E402
from surface_serve import free_port, percentile, wait_ready  # noqa: E402

BIG_TEXT = "no " * 33330 + "fever"


async def load(url: str, notes, clients: int, duration: float, seed: int, big_every: float | None):
    import httpx

    small, big, errors = [], [], []  # (sent, answered) times; big: (sent, answered, status)
    t_start = time.perf_counter()
    stop_at = t_start + duration

    async def client(k: int) -> None:
        rng = random.Random(seed + k)
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            while time.perf_counter() < stop_at:
                nid, text = notes[rng.randrange(len(notes))]
                t0 = time.perf_counter()
                try:
                    response = await http.post("/annotate", json={"id": nid, "text": text})
                    ok = response.status_code == 200 and response.json()["id"] == nid
                except httpx.HTTPError as err:
                    ok, response = False, err
                small.append((t0, time.perf_counter()))
                if not ok:
                    errors.append(str(getattr(response, "status_code", response)))

    async def big_client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            next_at = t_start + big_every / 2
            while next_at < stop_at:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                t0 = time.perf_counter()
                try:
                    response = await http.post("/annotate", json={"id": "big", "text": BIG_TEXT})
                    status = response.status_code
                    detail = response.json().get("error") or response.json().get("detail")
                except httpx.HTTPError as err:
                    status, detail = None, type(err).__name__
                big.append((t0, time.perf_counter(), status, detail))
                next_at += big_every

    tasks = [client(k) for k in range(clients)] + ([big_client()] if big_every else [])
    await asyncio.gather(*tasks)
    return small, big, errors, time.perf_counter() - t_start


def latency_summary(spans):
    lat = [b - a for a, b in spans]
    if not lat:
        return {"requests": 0}
    return {
        "requests": len(lat),
        "p50_ms": round(1000 * percentile(lat, 50)),
        "p90_ms": round(1000 * percentile(lat, 90)),
        "p99_ms": round(1000 * percentile(lat, 99)),
        "max_ms": round(1000 * max(lat)),
        "mean_ms": round(1000 * statistics.mean(lat)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--big-every", type=float, default=20.0, help="seconds between big requests (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label", default="", help="what this run is (e.g. the branch and setting)")
    parser.add_argument("--server-arg", action="append", default=[], help="extra argument for `serve` (repeat)")
    parser.add_argument("--output", default=str(RESULTS / "serve_big_request.json"))
    args = parser.parse_args()

    notes = aci_notes()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "spacy_clinical_ner", "serve", "--model", args.model, "--port", str(port)]
    cmd += ["--workers", str(args.workers), "--log-level", "warning"] + args.server_arg
    server = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        startup = wait_ready(url, server)
        asyncio.run(load(url, notes, args.clients, args.warmup, args.seed + 1000, None))
        before = machine()
        with RssSampler(server.pid) as rss:
            small, big, errors, seconds = asyncio.run(load(url, notes, args.clients, args.duration, args.seed, args.big_every or None))
        after = machine()
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)
    overlapping = [(a, b) for a, b in small if any(a < bb and b > ba for ba, bb, _, _ in big)]
    result = {
        "benchmark": "serve_big_request",
        "label": args.label,
        "command": "python " + " ".join(sys.argv),
        "model": describe_model(args.model),
        "workers": args.workers,
        "server_args": args.server_arg,
        "clients": args.clients,
        "duration_seconds": round(seconds, 1),
        "server_startup_seconds": round(startup, 1),
        "big_request_characters": len(BIG_TEXT),
        "big_requests": [
            {"sent_at_s": round(a - (big[0][0] - args.big_every / 2), 1), "seconds": round(b - a, 2), "status": s, "error": d}
            for a, b, s, d in big
        ],
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "other_clients": latency_summary(small),
        "other_clients_overlapping_a_big_request": latency_summary(overlapping),
        "requests_per_second": round(len(small) / seconds, 1),
        "server_peak_rss_mb": round(rss.peak_total / 2**20),
        "server_processes": rss.max_processes,
        "machine_before": before,
        "machine_after": after,
    }
    print(json.dumps(result), flush=True)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(out.read_text(encoding="utf8")) if out.exists() else []
    runs = [r for r in runs if r.get("label") != args.label or not args.label] + [result]
    out.write_text(json.dumps(runs, indent=2) + "\n", encoding="utf8")


if __name__ == "__main__":
    main()
