"""``reelpipe export`` as a user meets it: after a run, before a run, exit codes, files read back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from pipeline.media.ffmpeg import run_ffmpeg
from pipeline.media.probe import count_frames, probe
from tests.conftest import SAMPLES, run_cli

RECIPE = """\
version: 1
title: CLI export
output: {path: out/seq.mp4, size: 320x180, fps: 30}
provenance: {require: "off", sign: true}
shots:
  - {id: still, image: {samples}/chelsea.jpg, prompt: Pan right., seconds: 1}
  - {id: given, video: given.mp4, trim: {start: 0.2, end: 1.2}}
timeline:
  - shot: still
  - transition: {type: dissolve, duration: 0.4}
  - shot: given
"""
# 30 + 30 - 12 = 48 frames


@dataclass
class Ran:
    recipe: Path
    summary: dict[str, Any]


def _no_traceback(result: Any) -> None:
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    """The recipe, rendered once by ``reelpipe run --json``."""
    root = tmp_path_factory.mktemp("cli-export")
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30:duration=1.5", "-f", "lavfi", "-i",
                "sine=frequency=440:sample_rate=48000:duration=1.5", "-c:v", "libx264", "-preset", "ultrafast",
                "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", str(root / "given.mp4")], what="test clip")
    recipe = root / "recipe.yaml"
    recipe.write_text(RECIPE.replace("{samples}", str(SAMPLES)), encoding="utf-8")
    result = run_cli("run", recipe, "--json", env={"REELPIPE_HOME": str(root / "home")})
    assert result.returncode == 0, result.stderr
    return Ran(recipe=recipe, summary=json.loads(result.stdout))


def test_export_before_a_run_names_the_shots(write_recipe, make_clip) -> None:
    make_clip("given.mp4", seconds=1.5)
    recipe = write_recipe(RECIPE)
    result = run_cli("export", recipe, "--otio", recipe.parent / "x.otio")
    assert result.returncode == 1
    assert "no rendered clip yet: still" in result.stderr and "reelpipe run" in result.stderr
    assert "given" not in result.stderr.split("yet:")[1].splitlines()[0]  # a given clip needs no render
    assert not (recipe.parent / "x.otio").exists()
    _no_traceback(result)


def test_export_every_format_after_a_run(ran: Ran, tmp_path: Path) -> None:
    result = run_cli("export", ran.recipe, "--otio", "t.otio", "--fcp-xml", "t.xml", "--fcpx", "t.fcpxml",
                     "--edl", "t.edl", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    # paths on the command line are relative to the current folder
    assert data["outputs"] == {k: str(tmp_path / f"t.{ext}") for k, ext in
                               (("otio", "otio"), ("fcp_xml", "xml"), ("fcpx", "fcpxml"), ("edl", "edl"))}
    frames = count_frames(Path(ran.summary["output"]))
    assert data["frames"] == ran.summary["frames"] == frames == 48
    assert probe(Path(ran.summary["output"])).video.frames == frames
    for name, kwargs in (("t.otio", {}), ("t.xml", {}), ("t.fcpxml", {}), ("t.edl", {"rate": 30})):
        timeline = otio.adapters.read_from_file(str(tmp_path / name), **kwargs)
        assert timeline.duration() == otio.opentime.RationalTime(frames, 30), name
        assert [c.name for c in timeline.video_tracks()[0].find_clips()] == ["still", "given"], name
    timeline = otio.adapters.read_from_file(str(tmp_path / "t.otio"))  # keep it: tracks die with it
    transitions = [t for t in timeline.video_tracks()[0] if isinstance(t, otio.schema.Transition)]
    assert [(t.in_offset.value, t.out_offset.value) for t in transitions] == [(6, 6)]


def test_recipe_export_block_summary_and_refusals(ran: Ran, tmp_path: Path) -> None:
    recipe = ran.recipe.with_name("with-block.yaml")
    recipe.write_text(ran.recipe.read_text(encoding="utf-8") + "export: {otio: out/block.otio}\n", encoding="utf-8")
    summary = json.loads(json.dumps(ran.summary))
    for shot in summary["shots"]:
        if shot["id"] == "given":  # the run's own provenance verdict, and a QC finding of our making
            assert shot["provenance"]["state"] == "missing"
            shot["qc"] = {"verdict": "warn", "findings": [
                {"metric": "jitter", "severity": "warn", "start_s": 0.5, "end_s": 0.6, "message": "jitter 1.8 px"}]}
    (tmp_path / "run.json").write_text(json.dumps(summary), encoding="utf-8")

    result = run_cli("export", recipe, "--summary", tmp_path / "run.json")
    assert result.returncode == 0, result.stderr
    block = recipe.parent / "out" / "block.otio"  # relative to the recipe, as the recipe says
    timeline = otio.adapters.read_from_file(str(block))
    given = timeline.video_tracks()[0][2]
    assert given.name == "given" and [m.name for m in given.markers] == ["QC warn: jitter"]
    assert given.metadata["reelpipe"]["provenance_verdict"] == "missing"

    # a file reelpipe did not write is refused (exit 1), and replaced with --force
    mine = tmp_path / "mine.edl"
    mine.write_text("my notes\n", encoding="utf-8")
    refused = run_cli("export", ran.recipe, "--edl", mine)
    assert refused.returncode == 1 and "--force" in refused.stderr and str(mine) in refused.stderr
    assert mine.read_text(encoding="utf-8") == "my notes\n"
    _no_traceback(refused)
    forced = run_cli("export", ran.recipe, "--edl", mine, "--force")
    assert forced.returncode == 0, forced.stderr
    assert mine.read_text(encoding="utf-8").startswith("TITLE: CLI export")


def test_usage_errors_exit_2(ran: Ran, tmp_path: Path) -> None:
    nothing = run_cli("export", ran.recipe)
    assert nothing.returncode == 2 and "nothing to export" in nothing.stderr
    mezz = run_cli("export", ran.recipe, "--otio", tmp_path / "m.otio", "--mezzanine")
    assert mezz.returncode == 2 and "--consolidate" in mezz.stderr
    summary = run_cli("export", ran.recipe, "--otio", tmp_path / "m.otio", "--summary", tmp_path / "nope.json")
    assert summary.returncode == 2 and "nope.json" in summary.stderr
    for result in (nothing, mezz, summary):
        _no_traceback(result)
    assert not (tmp_path / "m.otio").exists()


def test_consolidate_with_mezzanine(ran: Ran, tmp_path: Path) -> None:
    result = run_cli("export", ran.recipe, "--consolidate", tmp_path / "handoff", "--mezzanine")
    assert result.returncode == 0, result.stderr
    assert "consolidated" in result.stderr
    media = tmp_path / "handoff" / "media"
    assert sorted(p.name for p in media.iterdir()) == ["given.mov", "still.mov"]
    assert {probe(p).video.codec for p in media.iterdir()} == {"prores"}
    timeline = otio.adapters.read_from_file(str(tmp_path / "handoff" / "recipe.xml"))
    assert [c.media_reference.target_url for c in timeline.video_tracks()[0].find_clips()] == [
        "media/still.mov", "media/given.mov"]


@pytest.mark.slow
def test_demo_recipe_hands_off_at_full_size(tmp_path: Path) -> None:
    """The shipped demo (720p, three rendered shots, a dissolve): run, then a ProRes hand-off folder."""
    demo = (Path(__file__).resolve().parents[1] / "recipes" / "demo.yaml").read_text(encoding="utf-8")
    recipe = tmp_path / "demo.yaml"
    recipe.write_text(demo.replace("../samples/", f"{SAMPLES}/").replace("../out/", "out/"), encoding="utf-8")
    env = {"REELPIPE_HOME": str(tmp_path / "home")}
    ran = run_cli("run", recipe, "--json", env=env, timeout=600)
    assert ran.returncode == 0, ran.stderr
    frames = count_frames(Path(json.loads(ran.stdout)["output"]))
    (tmp_path / "run.json").write_text(ran.stdout, encoding="utf-8")
    result = run_cli("export", recipe, "--summary", "run.json", "--consolidate", "handoff", "--mezzanine",
                     "--json", cwd=tmp_path, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    outputs = json.loads(result.stdout)["outputs"]
    timeline = otio.adapters.read_from_file(outputs["consolidated_otio"])
    assert timeline.duration() == otio.opentime.RationalTime(frames, 30) and frames == 315
    for clip in timeline.video_tracks()[0].find_clips():
        info = probe(tmp_path / "handoff" / clip.media_reference.target_url)
        assert info.video.codec == "prores" and (info.video.width, info.video.height) == (1280, 720)
        assert clip.metadata["reelpipe"]["provenance_verdict"] in ("valid", "trusted")
