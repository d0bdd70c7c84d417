"""Benchmark: wall time of rendering N shots on the emulator at several backend concurrencies.

Each job takes ``--latency`` seconds on the emulator (2 s by default), so a perfect client needs
``N x latency`` at concurrency 1 and ``ceil(N / c) x latency`` at concurrency ``c``; the script prints the
measured time, that ideal, and the overhead (polling granularity, downloads, probing, local rendering on the
emulator's side). Renders are tiny (320x180, 1 s) to keep the CPU out of the measurement.

    python tests/benchmarks/bench_emulator.py                  # 6 shots, 2 s latency, concurrency 1 and 6
    python tests/benchmarks/bench_emulator.py --concurrency 1 2 3 6 --shots 6 --latency 2
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from pipeline.backends.base import RenderContext, RenderRequest
from pipeline.backends.emulator import Emulator, serve_in_thread
from pipeline.backends.openai import OpenAIBackend

TINY = {"tiny": {"sizes": ["320x180"], "seconds": [1, 2, 4], "usd_per_second": 0.01}}
IMAGES = ["coffee.jpg", "chelsea.jpg", "rocket.jpg", "hubble.jpg"]


def run_once(shots: int, concurrency: int, latency: float, key_env: str) -> tuple[float, int]:
    """Render ``shots`` shots at ``concurrency`` on a fresh emulator; return (seconds, creates)."""
    emulator = Emulator(api_key=os.environ[key_env], models=TINY, latency=latency, sign=False, workers=2)
    try:
        with serve_in_thread(emulator) as running, tempfile.TemporaryDirectory() as tmp:
            backend = OpenAIBackend({"base_url": running.base_url, "api_key_env": key_env, "model": "tiny",
                                     "models": TINY, "concurrency": concurrency})
            ctx = RenderContext(work_dir=Path(tmp) / ".reelpipe")
            requests = [
                RenderRequest(shot_id=f"s{i}", prompt=f"Shot {i}. Slow push in.",
                              image=REPO / "samples" / IMAGES[i % len(IMAGES)], seconds=1.0, width=320,
                              height=180, fps=30, seed=i, model="tiny", cache_key=f"bench-{concurrency}-{i}")
                for i in range(shots)
            ]
            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=backend.concurrency) as pool:
                list(pool.map(lambda r: backend.render(r, Path(tmp) / f"{r.shot_id}.mp4", ctx), requests))
            elapsed = time.perf_counter() - t0
            backend.close()
            return elapsed, int(emulator.stats()["creates"])
    finally:
        emulator.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=6)
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 6])
    args = parser.parse_args()
    key_env = "REELPIPE_BENCH_KEY"
    os.environ[key_env] = "sk-bench-" + secrets.token_hex(8)
    print(f"{args.shots} shots, {args.latency:g} s latency per job, 320x180 1 s clips, {os.cpu_count()} cores")
    print(f"{'concurrency':>11} {'wall s':>8} {'ideal s':>8} {'overhead s':>10} {'speed-up':>9} {'creates':>8}")
    baseline: float | None = None
    for c in args.concurrency:
        wall, creates = run_once(args.shots, c, args.latency, key_env)
        ideal = math.ceil(args.shots / c) * args.latency
        baseline = baseline or wall
        print(f"{c:>11} {wall:>8.2f} {ideal:>8.2f} {wall - ideal:>10.2f} {baseline / wall:>8.2f}x {creates:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
