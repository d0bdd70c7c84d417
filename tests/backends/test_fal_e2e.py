"""End to end through ``python -m pipeline run`` (a subprocess, as a user runs it) against the fal emulator on
loopback: a run killed with SIGKILL while it polls, then started again, finishes with exactly one submission
per shot, and its clips carry an honest, valid C2PA claim naming the fal model. Also: the demo recipe plans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.backends.fal_emulator import RunningFalEmulator
from pipeline.media.probe import probe
from tests.backends.conftest import FAL_KEY_ENV, SAMPLES
from tests.backends.conftest import FAL_TINY_MODEL as TINY_MODEL
from tests.backends.conftest import FAL_TINY_MODELS as TINY_MODELS
from tests.backends.conftest import journal_entries as _entries

REPO = Path(__file__).resolve().parents[2]
PROMPTS = {"cup": "Close-up of a cup of coffee. Slow push in.", "launch": "A rocket on the pad at dawn. Tilt up."}


def _recipe(tmp_path: Path, running: RunningFalEmulator) -> Path:
    tiny = json.dumps(TINY_MODELS[TINY_MODEL])
    text = f"""\
version: 1
title: fal e2e
output: {{path: out/fal.mp4, size: 320x180, fps: 15}}
backend:
  name: fal
  model: {TINY_MODEL}
  base_url: {running.base_url}
  api_key_env: {FAL_KEY_ENV}
  concurrency: 2
  poll_interval: 0.1
  poll_max_interval: 0.3
  retry_base_delay: 0.05
  models: {{"{TINY_MODEL}": {tiny}}}
budget: {{max_usd: 1.0}}
provenance: {{require: valid, sign: true}}
shots:
  - {{id: cup, image: {SAMPLES / 'coffee.jpg'}, prompt: "{PROMPTS['cup']}", seconds: 2}}
  - {{id: launch, image: {SAMPLES / 'rocket.jpg'}, prompt: "{PROMPTS['launch']}", seconds: 1}}
"""
    path = tmp_path / "fal.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_sigkill_mid_poll_then_rerun_submits_each_shot_once(serve_fal: Callable[..., RunningFalEmulator],
                                                            tmp_path: Path, fal_key: str) -> None:
    running = serve_fal(latency=4.0)
    recipe = _recipe(tmp_path, running)
    journal = tmp_path / ".reelpipe" / "jobs" / "fal"
    argv = [sys.executable, "-m", "pipeline", "run", str(recipe), "--json"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        while sum(1 for e in _entries(journal) if e.get("job_id")) < 2:  # both submitted: now it polls
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run never journaled its requests"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert running.emulator.stats()["submits"] == 2

    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=180, env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    stats = running.emulator.stats()
    assert stats["submits"] == 2 and stats["submits_by_model"] == {TINY_MODEL: 2}, stats
    assert abs(probe(summary["output"]).duration - 3.0) < 0.15
    assert {e["shot_id"]: e["state"] for e in _entries(journal)} == {"cup": "downloaded", "launch": "downloaded"}
    assert summary["cost_usd"] == 0.03
    for shot in summary["shots"]:
        verdict = shot["provenance"]
        assert verdict["state"] in ("valid", "trusted"), verdict
        assert verdict["digital_source_type"].endswith("/trainedAlgorithmicMedia")
    from pipeline.provenance import _c2pa

    store = _c2pa.read_store(Path(summary["shots"][0]["clip"]), _c2pa.make_context()).store
    assert f'"model": "{TINY_MODEL}"' in json.dumps(store)  # the c2pa.created action names the model
    assert fal_key not in done.stdout + done.stderr + "".join(p.read_text() for p in journal.glob("*.json"))


@pytest.mark.parametrize("recipe", ["fal-demo.yaml"])
def test_demo_recipe_validates_and_plans_offline(recipe: str) -> None:
    from pipeline.plan import make_plan

    plan = make_plan(REPO / "recipes" / recipe)
    assert plan.backend.name == "fal"
    assert all(s.cost_usd > 0 for s in plan.shots if s.kind == "render")
    assert any("FAL_KEY is not set" in w for w in plan.warnings)
