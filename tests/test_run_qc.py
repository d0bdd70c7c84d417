"""QC inside a run: the policy stops, warns or re-renders; the run report is written beside the output."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.errors import QCError
from pipeline.media.ffmpeg import finish_ffmpeg_pipe, open_ffmpeg_pipe
from pipeline.runner import run_recipe
from tests.conftest import run_cli

RECIPE = """\
version: 1
output: {path: out/seq.mp4, size: 320x180, fps: 30}
provenance: {require: off, sign: false}
qc: {policy: POLICY}
shots:
  - {id: a, image: {samples}/coffee.jpg, prompt: Slow push in., seconds: 1.5}
  - {id: flashy, video: CLIP}
"""


def flash_clip(path, seconds=2.0):
    """A textured clip with one flash frame at 1.0 s."""
    rng = np.random.default_rng(1)
    base = (rng.random((180, 320, 3)) * 120 + 60).astype(np.uint8)
    proc = open_ffmpeg_pipe(["-f", "rawvideo", "-pix_fmt", "bgr24", "-s", "320x180", "-r", "30", "-i", "pipe:0",
                             "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
                            what="flash clip")
    for i in range(int(seconds * 30)):
        frame = np.roll(base, i, axis=1)
        if i == 30:  # a bright flash that keeps its texture (not a blank frame)
            frame = np.clip(frame.astype(int) + 90, 0, 255).astype(np.uint8)
        proc.stdin.write(frame.tobytes())
    finish_ffmpeg_pipe(proc, what="flash clip")
    return path


def test_fail_policy_stops_before_the_edit_naming_the_shot(write_recipe, tmp_path):
    clip = flash_clip(tmp_path / "flash.mp4")
    recipe = write_recipe(RECIPE.replace("POLICY", "fail").replace("CLIP", str(clip)))
    result = run_cli("run", recipe)
    assert result.returncode == 1
    assert "flashy" in result.stderr and "flicker" in result.stderr and "1.0" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "seq.mp4").exists()


def test_warn_policy_reports_findings_in_summary_and_report(write_recipe, tmp_path):
    clip = flash_clip(tmp_path / "flash.mp4")
    recipe = write_recipe(RECIPE.replace("POLICY", "warn").replace("CLIP", str(clip)))
    result = run_cli("run", recipe, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    flashy = next(s for s in summary["shots"] if s["id"] == "flashy")
    assert flashy["qc"]["verdict"] == "fail"
    assert any(f["metric"] == "flicker" and abs(f["start_s"] - 1.0) < 0.1 for f in flashy["qc"]["findings"])
    assert next(s for s in summary["shots"] if s["id"] == "a")["qc"]["verdict"] == "pass"
    outputs = summary["outputs"]
    report = json.loads(open(outputs["report_json"]).read())
    assert {s["id"] for s in report["shots"]} == {"a", "flashy"}
    html = open(outputs["report_html"], encoding="utf-8").read()
    assert "flashy" in html and "flicker" in html
    assert outputs["contact_sheet"].endswith(".contact.png")


def test_rerender_policy_keeps_the_best_attempt(write_recipe, tmp_path):
    clip = flash_clip(tmp_path / "flash.mp4")
    text = (RECIPE.replace("qc: {policy: POLICY}", "qc: {policy: rerender, max_attempts: 3, "
                                                   "thresholds: {motion_min_px_s: 100000}}")
            .replace("CLIP", str(clip)))
    result = run_recipe(write_recipe(text))
    attempts = result.shot_qc["a"]["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]  # every attempt failed the impossible bar
    assert len({a["seed"] for a in attempts}) == 3 and len({a["clip"] for a in attempts}) == 3
    assert sum(a["kept"] for a in attempts) == 1
    kept = next(a for a in attempts if a["kept"])
    assert str(result.plan.shot("a").clip_path) == kept["clip"]
    assert any("kept attempt" in n for n in result.notes)


def test_unknown_threshold_is_a_recipe_error(write_recipe, tmp_path):
    clip = flash_clip(tmp_path / "flash.mp4")
    recipe = write_recipe(RECIPE.replace("qc: {policy: POLICY}", "qc: {thresholds: {jiter_warn_px: 2}}")
                          .replace("CLIP", str(clip)))
    result = run_cli("validate", recipe)
    assert result.returncode == 2 and "did you mean 'jitter_warn_px'" in result.stderr


@pytest.mark.parametrize("policy", ["off"])
def test_off_policy_skips_qc(write_recipe, tmp_path, policy):
    clip = flash_clip(tmp_path / "flash.mp4")
    result = run_recipe(write_recipe(RECIPE.replace("POLICY", policy).replace("CLIP", str(clip))))
    assert result.shot_qc == {} and "qc" not in result.timings_s
