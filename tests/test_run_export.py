"""A recipe's export: block is written by `reelpipe run`, and matches the rendered sequence."""

from __future__ import annotations

import json

import opentimelineio as otio

from pipeline.media.probe import count_frames
from tests.conftest import run_cli

RECIPE = """\
version: 1
output: {path: out/seq.mp4, size: 320x180, fps: 30}
shots:
  - {id: a, image: {samples}/coffee.jpg, prompt: Slow push in., seconds: 2, trim: {start: 0.5}}
  - {id: b, image: {samples}/chelsea.jpg, prompt: Pan left., seconds: 2}
timeline:
  - shot: a
  - transition: {type: fade, duration: 0.5}
  - shot: b
export: {otio: out/seq.otio, edl: out/seq.edl}
"""


def test_run_writes_the_export_block(write_recipe):
    recipe = write_recipe(RECIPE)
    result = run_cli("run", recipe, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary["outputs"]) >= {"otio", "edl"}
    timeline = otio.adapters.read_from_file(summary["outputs"]["otio"])
    frames = count_frames(summary["output"])
    assert frames == 90
    assert timeline.duration().rescaled_to(30).to_frames() == frames
    video = timeline.video_tracks()[0]
    assert [c.name for c in video.find_clips()] == ["a", "b"]
    assert len([t for t in video if isinstance(t, otio.schema.Transition)]) == 1
    # a second run re-writes its own files without --force
    again = run_cli("run", recipe, "--json")
    assert again.returncode == 0, again.stderr
