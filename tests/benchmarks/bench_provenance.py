"""Time to sign and to audit a ~100 MB clip, against reading and copying the same file (same run).

Not a test: run it by hand. ::

    python tests/benchmarks/bench_provenance.py [--size-mb 100] [--repeat 3] [--keep DIR]

It makes a ~100 MB H.264 MP4 (a noisy 720p segment stream-copied in a loop, so making it is quick), a
throwaway identity in a temporary REELPIPE_HOME, then measures, each the median of ``--repeat`` runs:

- baselines: SHA-256 of the file (one full read) and a file copy (read + write);
- ``sign_generated_clip`` on a fresh unsigned copy (hash the video, write the signed copy, rename);
- ``audit_paths`` of the signed clip (read, validate, hash the video);
- ``sign_composite`` of a ~100 MB sequence with that clip as its ingredient, and its audit.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pipeline.media.ffmpeg import run_ffmpeg
from pipeline.provenance import (
    Ingredient,
    audit_paths,
    new_identity,
    sign_composite,
    sign_generated_clip,
)


def make_big_clip(dest: Path, size_mb: float) -> Path:
    """A ~``size_mb`` MB MP4: 1 s of noisy 720p at a high bitrate, stream-copied in a loop, faststart."""
    segment = dest.with_name("segment.mp4")
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=1",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1",
                "-vf", "noise=alls=30:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "12",
                "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(segment)], what="making a benchmark segment")
    loops = max(1, math.ceil(size_mb * 1e6 / segment.stat().st_size))
    run_ffmpeg(["-stream_loop", str(loops - 1), "-i", str(segment), "-c", "copy", "-movflags", "+faststart",
                "-fs", str(int(size_mb * 1e6)), str(dest)], what="looping the benchmark segment")
    segment.unlink()
    return dest


def median_time(fn: Callable[[], object], repeat: int, setup: Callable[[], object] | None = None) -> float:
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=100.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep the files")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-provenance-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["REELPIPE_HOME"] = str(work / "home")
    try:
        t0 = time.perf_counter()
        source = make_big_clip(work / "source.mp4", args.size_mb)
        size_mb = source.stat().st_size / 1e6
        print(f"made {source.name}: {size_mb:.1f} MB in {time.perf_counter() - t0:.1f} s")
        identity = new_identity(work / "home", force=True)
        clip = work / "clip.mp4"
        sequence = work / "sequence.mp4"

        read = median_time(lambda: sha256_file(source), args.repeat)
        copy = median_time(lambda: shutil.copyfile(source, work / "copy.mp4"), args.repeat)
        sign = median_time(
            lambda: sign_generated_clip(clip, identity=identity, title="clip", digital_source_type="algorithmicMedia",
                                        generator="bench", model=None, reference_image=None),
            args.repeat, setup=lambda: shutil.copyfile(source, clip))
        audit = median_time(lambda: audit_paths([clip], require="trusted"), args.repeat)
        assert audit_paths([clip], require="trusted").passed
        composite = median_time(
            lambda: sign_composite(sequence, identity=identity, ingredients=[Ingredient(clip, "clip")],
                                   edit={"trims": [{"shot": "clip", "start": 0.0, "end": 1.0}]}),
            args.repeat, setup=lambda: shutil.copyfile(source, sequence))
        audit_composite = median_time(lambda: audit_paths([sequence], require="trusted"), args.repeat)
        assert audit_paths([sequence], require="trusted").passed

        rows = [
            ("sha256 of the file (baseline: one read)", read),
            ("copy the file (baseline: read + write)", copy),
            ("sign_generated_clip", sign),
            ("audit the signed clip", audit),
            ("sign_composite (100 MB sequence, 100 MB ingredient)", composite),
            ("audit the signed sequence (ingredients walked)", audit_composite),
        ]
        print(f"\nfile: {size_mb:.1f} MB, median of {args.repeat}, {os.cpu_count()} CPUs")
        print(f"{'operation':<55} {'seconds':>8} {'MB/s':>8} {'x sha256':>9} {'x copy':>7}")
        for name, seconds in rows:
            print(f"{name:<55} {seconds:8.3f} {size_mb / seconds:8.0f} {seconds / read:9.2f} {seconds / copy:7.2f}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\npeak RSS of this process: {peak:.0f} MB")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
