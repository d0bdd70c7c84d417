"""Shared fixtures: no API keys in the environment, a private REELPIPE_HOME, media made with ffmpeg."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.media.ffmpeg import run_ffmpeg

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
SHARED = REPO.parent / "shared"

_SECRET_ENV = ("OPENAI_API_KEY", "FAL_KEY", "FAL_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
               "REELPIPE_API_KEY")


@pytest.fixture(autouse=True)
def _no_keys_no_home(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test can reach a paid service, and none touches the user's own signing identity."""
    for name in _SECRET_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REELPIPE_HOME", str(tmp_path_factory.mktemp("reelpipe-home")))


@pytest.fixture
def make_clip(tmp_path: Path) -> Callable[..., Path]:
    """Make a test clip with ffmpeg's lavfi sources: ``make_clip(name, seconds=2, size="320x180", fps=30)``."""

    def _make(name: str = "clip.mp4", *, seconds: float = 2.0, size: str = "320x180", fps: int = 30,
              audio: bool = True, gop: int | None = None) -> Path:
        out = tmp_path / name
        args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}"]
        if audio:
            args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
        if gop:
            args += ["-g", str(gop)]
        if audio:
            args += ["-c:a", "aac", "-ac", "2"]
        args += [str(out)]
        run_ffmpeg(args, what="making a test clip")
        return out

    return _make


@pytest.fixture
def write_recipe(tmp_path: Path) -> Callable[[str], Path]:
    """Write recipe YAML into the test's folder; ``{samples}`` expands to the samples folder."""

    def _write(text: str, name: str = "recipe.yaml") -> Path:
        p = tmp_path / name
        p.write_text(textwrap.dedent(text).replace("{samples}", str(SAMPLES)), encoding="utf-8")
        return p

    return _write


def run_cli(*args: str | os.PathLike[str], cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pipeline ARGS`` as a user would and capture its output."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=full_env, timeout=timeout)
