"""The command line as a user meets it: exit codes, --json, cache hits, clear errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.media.probe import probe
from tests.conftest import run_cli

RECIPE = """\
version: 1
title: CLI test
output: {path: out/seq.mp4, size: 320x180, fps: 30}
shots:
  - {id: a, image: {samples}/coffee.jpg, prompt: Slow push in., seconds: 2, trim: {start: 0.5, end: 2.0}}
  - {id: b, image: {samples}/chelsea.jpg, prompt: Pan right., seconds: 2}
timeline:
  - shot: a
  - transition: {type: fade, duration: 0.5}
  - shot: b
"""


def test_run_json_then_all_cache_hits(write_recipe):
    recipe = write_recipe(RECIPE)
    first = run_cli("run", recipe, "--json")
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    out = Path(data["output"])
    assert out.is_absolute() and out == recipe.parent / "out" / "seq.mp4"
    assert abs(data["duration_s"] - 3.0) < 1e-6
    assert [s["id"] for s in data["shots"]] == ["a", "b"]
    assert [s["cached"] for s in data["shots"]] == [False, False]
    assert all(Path(s["clip"]).is_file() for s in data["shots"])
    info = probe(out)
    assert abs(info.video.duration - 3.0) < 1 / 30 and info.audio is not None
    assert (info.video.width, info.video.height) == (320, 180)

    second = run_cli("run", recipe, "--json")
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert [s["cached"] for s in again["shots"]] == [True, True]
    assert [s["clip"] for s in again["shots"]] == [s["clip"] for s in data["shots"]]

    forced = json.loads(run_cli("run", recipe, "--json", "--force").stdout)
    assert [s["cached"] for s in forced["shots"]] == [False, False]


def test_plan_json_is_a_dry_run(write_recipe):
    recipe = write_recipe(RECIPE)
    result = run_cli("plan", recipe, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["renders_needed"] == 2 and data["duration_s"] == 3.0
    assert not (recipe.parent / "out").exists() and not (recipe.parent / ".reelpipe").exists()


def test_validate_reports_line_and_exit_2(write_recipe):
    recipe = write_recipe(RECIPE.replace("prompt: Pan right.", "promt: Pan right."))
    result = run_cli("validate", recipe)
    assert result.returncode == 2
    assert f"{recipe}:6:" in result.stderr and "did you mean 'prompt'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_recipe_run_has_no_traceback_unless_debug(write_recipe):
    recipe = write_recipe(RECIPE.replace("coffee.jpg", "nope.jpg"))
    result = run_cli("run", recipe)
    assert result.returncode == 2
    assert "image not found" in result.stderr and "nope.jpg" in result.stderr
    assert "Traceback" not in result.stderr
    debug = run_cli("--debug", "run", recipe)
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_output_folder_that_cannot_be_created(write_recipe, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    recipe = write_recipe(RECIPE.replace("out/seq.mp4", str(blocker / "seq.mp4")))
    result = run_cli("run", recipe)
    assert result.returncode == 2 and "not writable" in result.stderr and "a-file" in result.stderr


def test_output_path_that_is_a_folder(write_recipe, tmp_path):
    (tmp_path / "out" / "seq.mp4").mkdir(parents=True)
    result = run_cli("validate", write_recipe(RECIPE))
    assert result.returncode == 2 and "is a folder" in result.stderr


def test_failed_edit_leaves_no_output_and_keeps_the_cache(write_recipe, make_clip, tmp_path):
    good = make_clip("good.mp4", seconds=2)
    recipe = write_recipe(RECIPE.replace("{id: b, image: {samples}/chelsea.jpg, prompt: Pan right., seconds: 2}",
                                         f"{{id: b, video: {good}}}")
                          .replace("shots:", "provenance: {require: off}\nshots:"))
    first = run_cli("run", recipe, "--json")
    assert first.returncode == 0, first.stderr
    out = Path(json.loads(first.stdout)["output"])
    before = out.read_bytes()
    cached = [Path(s["clip"]) for s in json.loads(first.stdout)["shots"] if s["id"] == "a"]
    # the user's clip is now corrupt: validation or edit must fail, the old output must survive
    good.write_bytes(good.read_bytes()[:3000])
    second = run_cli("run", recipe)
    assert second.returncode in (1, 2)
    assert "good.mp4" in second.stderr and "Traceback" not in second.stderr
    assert out.read_bytes() == before
    assert all(p.is_file() for p in cached)
    assert not [p for p in out.parent.iterdir() if ".part" in p.name]


def test_python_m_pipeline_and_help():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("run", "validate", "plan", "schema"):
        assert command in result.stdout


def test_schema_command_prints_json_schema():
    result = run_cli("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert "shots" in schema["properties"] and "output" in schema["required"]
