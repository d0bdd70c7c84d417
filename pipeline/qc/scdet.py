"""ffmpeg's ``scdet`` scene-change score for every frame of a clip, one of the three cut detectors.

ffmpeg decodes the clip itself, scales it down and runs ``scdet``; a ``metadata`` filter prints each frame's
``lavfi.scd.score`` to a temporary file (the only way to get per-frame values through
:func:`~pipeline.media.ffmpeg.run_ffmpeg`, which keeps ffmpeg's log quiet).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np

from pipeline.media.ffmpeg import escape_filter_value, run_ffmpeg

__all__ = ["parse_scdet_metadata", "scdet_command", "scdet_scores"]

_FRAME = re.compile(r"^frame:(\d+)\s")
_SCORE = re.compile(r"^lavfi\.scd\.score=([-+0-9.eEnaif]+)")


def scdet_command(clip: Path, metadata_file: Path, *, width: int = 320) -> list[str]:
    """The ffmpeg arguments (after the standard flags) that write per-frame scdet scores to a file."""
    graph = (f"scale={width}:-2:flags=fast_bilinear,scdet=threshold=100,"
             f"metadata=mode=print:key=lavfi.scd.score:file={escape_filter_value(str(metadata_file))}")
    # skipping the loop filter makes decoding ~30 % cheaper and does not move a scene-change score
    return ["-skip_loop_filter", "all", "-i", str(clip), "-map", "0:v:0", "-an", "-sn", "-dn",
            "-vf", graph, "-f", "null", "-"]


def parse_scdet_metadata(text: str) -> np.ndarray:
    """Turn the ``metadata`` filter's printout into one score per frame, indexed by frame number.

    A frame that printed no score (the first one) gets 0.
    """
    pairs: list[tuple[int, float]] = []
    current: int | None = None
    for line in text.splitlines():
        line = line.strip()
        m = _FRAME.match(line)
        if m:
            current = int(m.group(1))
            continue
        m = _SCORE.match(line)
        if m and current is not None:
            try:
                value = float(m.group(1))
            except ValueError:
                continue
            pairs.append((current, value if np.isfinite(value) else 0.0))
    scores = np.zeros(max((i for i, _ in pairs), default=-1) + 1, dtype=np.float64)
    for index, value in pairs:
        scores[index] = value
    return scores


def scdet_scores(clip: Path, *, timeout: float | None = 120.0) -> np.ndarray:
    """Run ffmpeg's scdet over ``clip`` and return one score (0–100) per frame, indexed by frame number.

    Raises:
        MediaError: ffmpeg failed (the message carries its stderr tail).
    """
    with tempfile.TemporaryDirectory(prefix="reelpipe-scdet-") as tmp:
        out = Path(tmp) / "scores.txt"
        run_ffmpeg(scdet_command(Path(clip).resolve(), out), what=f"measuring scene changes in {clip}",
                   timeout=timeout)
        text = out.read_text(encoding="utf-8", errors="replace") if out.exists() else ""
    return parse_scdet_metadata(text)
