"""Prompt lint: the five parts, vague verbs, and ``reelpipe lint RECIPE``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from pipeline.camera import PROMPT_PARTS, analyze_prompt
from pipeline.cli import main

HARBOR = ("Wide shot, 35mm. Start static 0.5 s, 3 s slow push in, then pan right. Golden hour, light haze. "
          "Distant gulls.")


def test_a_complete_prompt_has_all_five_parts() -> None:
    report = analyze_prompt(HARBOR, None, 8)
    assert report.missing == []
    assert report.parts["framing"] == ["Wide shot", "35mm"]
    assert report.parts["action"][:3] == ["static", "push in", "pan right"]
    assert "0.5 s" in report.parts["timing"] and "3 s" in report.parts["timing"]
    assert "Golden hour" in report.parts["light"] and "haze" in report.parts["light"]
    assert report.parts["sound"] == ["gulls"]
    assert report.vague == []


@pytest.mark.parametrize(("prompt", "missing"), [
    ("A cup of coffee.", ["framing", "action", "timing", "light", "sound"]),
    ("Close-up of a cup. Slow push in.", ["timing", "light", "sound"]),
    ("Steam rises from the cup, soft window light, quiet café ambience", ["framing", "timing"]),
    ("Medium shot. Pan left for 2 s. Neon glow. Rain on the street.", []),
])
def test_missing_parts_are_reported(prompt: str, missing: list[str]) -> None:
    assert analyze_prompt(prompt, None, 4).missing == missing


def test_close_up_is_framing_not_action() -> None:
    report = analyze_prompt("Close-up of a cat", None, 4)
    assert report.parts["framing"] == ["Close-up"] and report.parts["action"] == []


def test_vague_verbs_get_a_camera_verb_to_use_instead() -> None:
    report = analyze_prompt("Animate this portrait and make it move.", None, 4)
    phrases = [p for p, _s in report.vague]
    assert phrases == ["Animate", "make it move"]
    assert all("camera verb" in s and "push in" in s for _p, s in report.vague)
    wide = analyze_prompt("Wide landscape, bring it to life", None, 4)
    assert wide.vague[0][0] == "bring it to life" and "pan right" in wide.vague[0][1]
    tall = analyze_prompt("A rocket on the pad, add some motion", None, 4)
    assert "tilt up" in tall.vague[0][1]
    # once the camera path is set, the advice is about the picture, not the camera
    moving = analyze_prompt("Animate the scene: slow push in.", None, 4)
    assert "camera path is already set" in moving.vague[0][1]


def test_explicit_camera_counts_as_action_and_timing() -> None:
    report = analyze_prompt("A boat.", [{"move": "hold", "duration": 1}, {"move": "pan_left"}], 4)
    assert report.parts["action"] == ["camera: pan_left"]
    assert report.parts["timing"] == ["camera: keyframes"]
    assert report.plan.origin == "recipe"


def _recipe(tmp_path: Path, shots: str) -> Path:
    path = tmp_path / "lint.yaml"
    path.write_text(textwrap.dedent("""\
        version: 1
        title: lint test
        output: {path: out/x.mp4}
        shots:
        """) + textwrap.indent(textwrap.dedent(shots), "  ") + "timeline:\n  - shot: one\n", encoding="utf-8")
    return path


def test_lint_cli_prints_parts_plan_and_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = _recipe(tmp_path, f"""\
        - id: one
          image: missing-is-fine-for-lint.jpg
          prompt: "{HARBOR}"
          seconds: 8
        - id: two
          image: x.jpg
          prompt: Animate this photo. Handheld rack focus.
        """)
    assert main(["lint", str(recipe)]) == 0
    out = capsys.readouterr().out
    assert "one (8 s)" in out and "two (4 s)" in out
    assert "0.50–3.50 s  push_in" in out and "3.50–8.00 s  pan_right" in out
    assert "vague: “Animate”" in out
    assert "keeps the camera steady" in out and "keeps the whole frame in focus" in out
    assert "say the shot and lens" in out  # the hint for the missing framing of shot two


def test_lint_cli_json_and_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = _recipe(tmp_path, """\
        - id: one
          image: a.jpg
          prompt: Close-up. Tilt up slowly.
        - id: two
          image: b.jpg
          prompt: whatever
          camera: [{move: hold, duration: 0.5}, {move: push_in, duration: 2, amount: 0.5}]
          seconds: 2
        - id: three
          remix_of: two
          prompt: Make it orange.
        """)
    assert main(["lint", str(recipe), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    shots = {s["shot"]: s for s in data["shots"]}
    assert set(shots["one"]["parts"]) == set(PROMPT_PARTS)
    assert [s["move"] for s in shots["one"]["camera"]["segments"]] == ["tilt_up"]
    assert shots["two"]["camera"]["origin"] == "recipe"
    [warning] = shots["two"]["camera"]["warnings"]
    assert warning.startswith("the camera timing asks for 2.5 s but the shot's 2 s leave room for less")
    assert warning.endswith("durations scaled by 0.80 to fit")
    assert shots["three"]["seconds"] == 2.0 and shots["three"]["camera"]["origin"] == "recipe"
    assert main(["lint", str(recipe), "--strict"]) == 1  # shot two has a warning
    capsys.readouterr()


def test_lint_cli_reports_a_bad_camera_as_a_recipe_error(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    recipe = _recipe(tmp_path, """\
        - id: one
          image: a.jpg
          camera: push_inn
        """)
    assert main(["lint", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "unknown camera move 'push_inn'" in err and "did you mean 'push_in'" in err
