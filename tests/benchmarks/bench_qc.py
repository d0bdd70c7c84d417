"""Benchmark: QC time per 8 s 1280x720 30 fps clip (target: under half the clip's duration, < 4 s).

Renders clean clips with the local renderer (one per camera move, from different sample images), then times
:func:`pipeline.qc.analyze_clip` on each, next to two baselines measured in the same run on the same files:
decoding alone with PyAV at analysis size (the floor for any Python analysis) and ffmpeg decoding to null.
Also prints each clean clip's verdict, which should be ``pass`` (``static`` is checked as an intended hold).

Run: python tests/benchmarks/bench_qc.py [--runs 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIPS = [("push_in", "coffee.jpg"), ("pan_left", "hubble.jpg"), ("tilt_up", "rocket.jpg"),
         ("static", "astronaut.jpg")]
SECONDS, WIDTH, HEIGHT, FPS = 8.0, 1280, 720, 30


def _pyav_decode(path: Path) -> None:
    import av

    from pipeline.qc.decode import ANALYSIS_LONG_SIDE

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        w = ANALYSIS_LONG_SIDE
        h = round(w * HEIGHT / WIDTH / 2) * 2
        for frame in container.decode(stream):
            frame.reformat(width=w, height=h, format="bgr24", interpolation="AREA").to_ndarray()


def _ffmpeg_decode(path: Path) -> None:
    from pipeline.media.ffmpeg import run_ffmpeg

    run_ffmpeg(["-i", str(path), "-map", "0:v:0", "-f", "null", "-"], what="decoding for the benchmark")


def _timed(fn: object, *args: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(*args)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    from pipeline.backends.local import render_local_clip
    from pipeline.qc import analyze_clip

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per clip (median reported)")
    parser.add_argument("--keep", type=Path, help="render the clips into this folder and keep them")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"QC benchmark: {len(CLIPS)} clips of {SECONDS:g} s {WIDTH}x{HEIGHT} {FPS} fps, "
              f"median of {args.runs} runs")
        print(f"{'clip':<24}{'qc s':>8}{'x dur':>8}{'pyav s':>9}{'ffmpeg s':>10}{'qc/pyav':>9}  verdict")
        ratios = []
        for move, image in CLIPS:
            clip = folder / f"{move}-{Path(image).stem}.mp4"
            if not clip.exists():
                render_local_clip(ROOT / "samples" / image, clip, seconds=SECONDS, width=WIDTH, height=HEIGHT,
                                  fps=FPS, camera=move)
            reference = ROOT / "samples" / image
            result = analyze_clip(clip, reference=reference, camera=move)  # warm-up, and the verdict
            qc_s = _timed(lambda c=clip, r=reference, m=move: analyze_clip(c, reference=r, camera=m),
                          runs=args.runs)
            pyav_s = _timed(_pyav_decode, clip, runs=args.runs)
            ffmpeg_s = _timed(_ffmpeg_decode, clip, runs=args.runs)
            ratios.append(qc_s / SECONDS)
            findings = "; ".join(f.message for f in result.findings)
            print(f"{clip.name:<24}{qc_s:>8.2f}{qc_s / SECONDS:>8.2f}{pyav_s:>9.2f}{ffmpeg_s:>10.2f}"
                  f"{qc_s / pyav_s:>9.2f}  {result.verdict}{': ' + findings if findings else ''}")
        worst = max(ratios)
        print(f"worst: {worst:.2f} x the clip's duration ({worst * SECONDS:.2f} s per {SECONDS:g} s clip); "
              f"target < 0.5 x: {'met' if worst < 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
