"""Benchmark for the local renderer (issue 8): render speed against raw ffmpeg, in the same run.

Not a test: run it by hand. ::

    python tests/benchmarks/bench_local_render.py [--quick] [--repeat N] [--image PATH] [--json FILE]

Each case renders an 8 s 1280x720 30 fps clip (240 frames) with ``render_local_clip``, encode included
(libx264 with reelpipe's shared encoder settings, silent AAC), and prints its wall time, CPU time (this
process plus ffmpeg) and the ratio of wall time to the clip's duration. The issue's bar: at most 2× the
clip's duration on two cores.

The cases cover the renderer's paths: a still camera (frames repeat), pan/tilt/zoom (one warp per frame,
no depth), moves with parallax (depth estimate, layers, inpainting, one warp per layer per frame), and the
prompt guide's compound example.

The baselines run in the same process, on the same photo and with the same encoder arguments:

* ``ffmpeg still``: ffmpeg loops the photo (scaled and cropped to 1280x720) into 240 frames;
* ``ffmpeg zoompan``: ffmpeg's own Ken Burns filter, a 1.0→1.2 zoom over 240 frames.

Timings on a shared machine are noisy: the load average is printed before and after; use ``--repeat``
(the best of N runs is reported). Exit code 0 when every run succeeded, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from pipeline.backends.local import render_local_clip
from pipeline.media.encode import AUDIO_RATE, EncodeSettings, audio_args, video_args
from pipeline.media.ffmpeg import run_ffmpeg
from pipeline.media.probe import count_frames

SECONDS, WIDTH, HEIGHT, FPS = 8.0, 1280, 720, 30
FRAMES = round(SECONDS * FPS)

CASES: list[tuple[str, str]] = [
    ("static", "Static camera."),
    ("pan left (no depth)", "Slow pan left."),
    ("zoom in (no depth)", "Zoom in."),
    ("push in (parallax, default)", "Slow push in."),
    ("truck right (parallax)", "Truck right."),
    ("orbit left (parallax)", "Gentle orbit left."),
    ("prompt guide example", ("Start static 0.5 s, 2 s slow push in, 1 s hold, 1.5 s pan left, "
                             "then pedestal up.")),
]
QUICK = {"static", "pan left (no depth)", "push in (parallax, default)", "prompt guide example"}


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Best wall time of ``repeat`` runs, with the CPU time of that run and its result."""
    best: tuple[float, float, Any] | None = None
    for _ in range(repeat):
        cpu0, t0 = _cpu(), time.perf_counter()
        result = fn()
        wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
        if best is None or wall < best[0]:
            best = (wall, cpu, result)
    assert best is not None
    return best


def _ffmpeg_baseline(photo: Path, dest: Path, vf: str) -> None:
    settings = EncodeSettings()
    run_ffmpeg(["-loop", "1", "-framerate", str(FPS), "-i", str(photo),
                "-f", "lavfi", "-i", f"anullsrc=r={AUDIO_RATE}:cl=stereo",
                "-vf", vf, "-map", "0:v", "-map", "1:a", "-t", f"{SECONDS:.6f}",
                *video_args(settings, FPS), *audio_args(settings),
                "-r", str(FPS), "-frames:v", str(FRAMES), "-movflags", "+faststart", str(dest)],
               what="the ffmpeg baseline")


def _load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="four cases instead of seven")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the best is reported")
    parser.add_argument("--image", type=Path, default=REPO / "samples" / "coffee.jpg", help="the photo")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    photo: Path = args.image
    print(f"local renderer benchmark: {SECONDS:g} s {WIDTH}x{HEIGHT} @ {FPS} fps ({FRAMES} frames), "
          f"photo {photo.name}, {os.cpu_count()} CPUs, best of {args.repeat}")
    print(f"before: {_load()}")
    rows: list[dict[str, Any]] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-local-") as tmp:
        work = Path(tmp)
        baselines = [
            ("ffmpeg still", (f"scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=increase,"
                             f"crop={WIDTH}:{HEIGHT},setsar=1")),
            ("ffmpeg zoompan", (f"scale={WIDTH * 2}:{HEIGHT * 2}:force_original_aspect_ratio=increase,"
                               f"crop={WIDTH * 2}:{HEIGHT * 2},zoompan=z='1+0.2*on/{FRAMES}':d={FRAMES}:"
                               f"x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':s={WIDTH}x{HEIGHT}:fps={FPS},setsar=1")),
        ]
        for name, vf in baselines:
            dest = work / f"{name.replace(' ', '_')}.mp4"
            wall, cpu, _ = _timed(lambda d=dest, v=vf: _ffmpeg_baseline(photo, d, v), args.repeat)
            rows.append({"case": name, "kind": "baseline", "wall_s": wall, "cpu_s": cpu,
                         "ratio": wall / SECONDS, "frames": count_frames(dest)})
        for name, prompt in CASES:
            if args.quick and name not in QUICK:
                continue
            dest = work / "clip.mp4"

            def render(d: Path = dest, p: str = prompt) -> dict[str, Any]:
                return render_local_clip(photo, d, seconds=SECONDS, width=WIDTH, height=HEIGHT, fps=FPS,
                                         prompt=p)

            try:
                wall, cpu, info = _timed(render, args.repeat)
            except Exception as exc:  # noqa: BLE001 - report and go on to the next case
                print(f"FAILED {name}: {exc}")
                failed = True
                continue
            frames = count_frames(dest)
            failed |= frames != FRAMES
            rows.append({"case": name, "kind": "reelpipe", "wall_s": wall, "cpu_s": cpu,
                         "ratio": wall / SECONDS,
                         "frames": frames, "depth": info["depth"], "layers": info["layers"],
                         "moves": [s["move"] for s in info["camera"]["segments"]]})
    print(f"after:  {_load()}")
    print()
    print(f"{'case':32} {'wall s':>7} {'cpu s':>7} {'× clip':>7} {'frames':>6}  notes")
    still = next(r["wall_s"] for r in rows if r["case"] == "ffmpeg still")
    for r in rows:
        notes = "" if r["kind"] == "baseline" else (
            f"{r['layers']} layer(s), depth {r['depth']}, {r['wall_s'] / still:.1f}× ffmpeg still")
        print(f"{r['case']:32} {r['wall_s']:7.2f} {r['cpu_s']:7.2f} {r['ratio']:7.2f} {r['frames']:6d}"
              f"  {notes}")
    worst = max((r["ratio"] for r in rows if r["kind"] == "reelpipe"), default=0.0)
    print()
    print(f"slowest render: {worst:.2f}× the clip's duration (bar: at most 2.00×) — "
          f"{'PASS' if worst <= 2.0 else 'OVER'}")
    if args.json:
        data = {"rows": rows, "cpus": os.cpu_count()}
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
