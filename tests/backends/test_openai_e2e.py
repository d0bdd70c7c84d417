"""End to end through ``reelpipe run`` (a subprocess, as a user runs it) against the emulator on loopback:
a multi-shot recipe with a remix renders and stitches, and a run killed with SIGKILL mid-poll and started
again finishes with exactly one create per shot."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.backends.emulator import RunningEmulator
from pipeline.media.probe import probe
from tests.backends.conftest import KEY_ENV, SAMPLES
from tests.backends.conftest import journal_entries as _journal_entries

PROMPTS = {
    "cup": "Close-up of a cup of coffee. Slow push in.",
    "launch": "A rocket on the pad at dawn. Tilt up.",
    "cup-orange": "Keep everything identical but make the cup bright orange.",
}


def _recipe(tmp_path: Path, running: RunningEmulator) -> Path:
    text = f"""\
version: 1
title: Hosted e2e
output: {{path: out/hosted.mp4, size: 320x180, fps: 15}}
backend:
  name: openai
  base_url: {running.base_url}
  api_key_env: {KEY_ENV}
  model: tiny
  concurrency: 2
  poll_interval: 0.1
  poll_max_interval: 0.3
  retry_base_delay: 0.05
  models: {{tiny: {{sizes: [320x180], seconds: [1, 2], usd_per_second: 0.01}}}}
budget: {{max_usd: 1.0}}
shots:
  - {{id: cup, image: {SAMPLES / 'coffee.jpg'}, prompt: "{PROMPTS['cup']}", seconds: 2}}
  - {{id: launch, image: {SAMPLES / 'rocket.jpg'}, prompt: "{PROMPTS['launch']}", seconds: 1}}
  - {{id: cup-orange, remix_of: cup, prompt: "{PROMPTS['cup-orange']}"}}
timeline:
  - shot: cup
  - shot: cup-orange
  - shot: launch
"""
    path = tmp_path / "hosted.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _run(recipe: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline", "run", str(recipe), "--json", *args],
                          capture_output=True, text=True, timeout=timeout, env=dict(os.environ), check=False)


def _summary(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-3000:]}"
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def test_multi_shot_recipe_with_a_remix_renders_and_stitches(serve_emulator: Callable[..., RunningEmulator],
                                                             tmp_path: Path, api_key: str) -> None:
    running = serve_emulator(latency=0.5, sign=True)
    recipe = _recipe(tmp_path, running)
    first = _summary(_run(recipe))
    shots = {s["id"]: s for s in first["shots"]}
    assert all(s["job_id"] and s["job_id"].startswith("video_") for s in shots.values())
    assert first["cost_usd"] == 0.05  # 2 s + 1 s + the remix's 2 s, at $0.01/s
    out = probe(first["output"])
    assert abs(out.duration - 5.0) < 0.15 and out.video is not None and out.video.width == 320
    stats = running.emulator.stats()
    assert stats["jobs_by_prompt"] == {p: 1 for p in PROMPTS.values()}
    assert (stats["creates"], stats["remixes"]) == (2, 1)

    again = _summary(_run(recipe))  # everything is cached: nothing is submitted or paid again
    assert all(s["cached"] for s in again["shots"]) and again["cost_usd"] == 0
    assert running.emulator.stats()["jobs_by_prompt"] == {p: 1 for p in PROMPTS.values()}
    assert api_key not in json.dumps(first) + json.dumps(again)


def test_sigkill_mid_poll_then_rerun_creates_each_shot_once(serve_emulator: Callable[..., RunningEmulator],
                                                            tmp_path: Path) -> None:
    running = serve_emulator(latency=3.0, sign=True)
    recipe = _recipe(tmp_path, running)
    journal = tmp_path / ".reelpipe" / "jobs" / "openai"
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", str(recipe), "--json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        while True:  # wait until both sources are submitted and journaled, then kill while it polls
            entries = _journal_entries(journal)
            if sum(1 for e in entries if e.get("job_id")) >= 2:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run never journaled its jobs"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert running.emulator.stats()["creates"] == 2  # the sources were paid for; the remix was not yet

    finished = _summary(_run(recipe))
    stats = running.emulator.stats()
    assert stats["jobs_by_prompt"] == {p: 1 for p in PROMPTS.values()}, stats
    assert (stats["creates"], stats["remixes"]) == (2, 1)
    assert abs(probe(finished["output"]).duration - 5.0) < 0.15
    states = {e["shot_id"]: e["state"] for e in _journal_entries(journal)}
    assert states == {"cup": "downloaded", "launch": "downloaded", "cup-orange": "downloaded"}
