"""Fixtures for the QC tests: the clean and defect clips of :mod:`qc_clipmaker`, and local renders."""

from __future__ import annotations

from pathlib import Path

import pytest
from qc_clipmaker import DEFECTS, FPS, SAMPLES, H, W, encode, pan_frames


@pytest.fixture(scope="session")
def qc_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``clean`` (a steady pan over samples/coffee.jpg) and one copy per entry of :data:`DEFECTS`."""
    folder = tmp_path_factory.mktemp("qc-clips")
    base = pan_frames(SAMPLES / "coffee.jpg")
    clips = {"clean": encode(list(base), folder / "clean.mp4")}
    for name, inject in DEFECTS.items():
        clips[name] = encode(inject([f.copy() for f in base]), folder / f"{name}.mp4")
    return clips


@pytest.fixture(scope="session")
def local_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Clips from the local renderer, one per camera move, 2 s at 320x180."""
    from pipeline.backends.local import render_local_clip

    folder = tmp_path_factory.mktemp("qc-local")
    out = {}
    for move in ("push_in", "pan_left", "tilt_up", "static"):
        dest = folder / f"{move}.mp4"
        render_local_clip(SAMPLES / "coffee.jpg", dest, seconds=2.0, width=W, height=H, fps=FPS, camera=move)
        out[move] = dest
    return out
