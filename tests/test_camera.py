"""Camera language: the parser table, explicit camera values, timing, holds (pipeline.camera)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.camera import (
    CAMERA_MOVES,
    EASINGS,
    MAX_AMOUNT,
    MOVE_SPECS,
    CameraPlan,
    canonical_move,
    hold_intervals,
    plan_camera,
    validate_camera,
)
from pipeline.errors import RecipeError


def _path(plan: CameraPlan) -> str:
    """The plan as ``move start-end`` items, e.g. ``hold 0-0.5; push_in 0.5-2.5``."""
    return "; ".join(f"{s.move} {round(s.start, 3):g}-{round(s.end, 3):g}" for s in plan.segments)


def _seg(plan: CameraPlan, move: str) -> Any:
    return next(s for s in plan.segments if s.move == move)


# (prompt, shot seconds, expected path, checks). Checks: amount (of the first moving segment), easing,
# warning / note (a substring that must appear), origin.
PHRASINGS: list[tuple[str, float, str, dict[str, Any]]] = [
    # the article's own example and the architecture's sketch
    ("Start static 0.5 s, 2 s slow push in, 1 s hold, 1.5 s pan left", 5,
     "hold 0-0.5; push_in 0.5-2.5; hold 2.5-3.5; pan_left 3.5-5", {"amount": 0.7}),
    (("Wide shot, 35mm. Start static 0.5 s, 3 s slow push in, then pan right. Golden hour, light haze. "
     "Distant gulls."), 8, "hold 0-0.5; push_in 0.5-3.5; pan_right 3.5-8", {}),
    ("Close-up. Tilt up slowly. Soft backlight.", 4, "tilt_up 0-4", {"amount": 0.7}),
    # every verb, plain
    ("pan left", 4, "pan_left 0-4", {"amount": 1.0}),
    ("Pan right.", 4, "pan_right 0-4", {}),
    ("tilt up", 4, "tilt_up 0-4", {}),
    ("tilt down to the street", 4, "tilt_down 0-4", {}),
    ("zoom in", 4, "zoom_in 0-4", {}),
    ("zoom out", 4, "zoom_out 0-4", {}),
    ("dolly in", 4, "push_in 0-4", {}),
    ("slow dolly out", 4, "pull_out 0-4", {"amount": 0.7}),
    ("the camera pulls back to reveal the room", 4, "pull_out 0-4", {}),
    ("truck right", 4, "truck_right 0-4", {}),
    ("track left", 4, "truck_left 0-4", {}),
    ("crab right along the shelf", 4, "truck_right 0-4", {}),
    ("pedestal down", 4, "pedestal_down 0-4", {}),
    ("boom up", 4, "pedestal_up 0-4", {}),
    ("the camera rises above the crowd", 4, "pedestal_up 0-4", {}),
    ("gentle orbit left", 4, "orbit_left 0-4", {"amount": 0.7}),
    ("orbit clockwise around the statue", 4, "orbit_left 0-4", {}),
    ("arc right around the subject", 4, "orbit_right 0-4", {}),
    ("Static camera.", 4, "hold 0-4", {}),
    ("locked-off shot of the harbor", 4, "hold 0-4", {}),
    ("don't move the camera", 4, "hold 0-4", {}),
    ("Move in slowly", 4, "push_in 0-4", {"amount": 0.7}),
    ("the camera moves left", 4, "truck_left 0-4", {}),
    # direction phrasings
    ("pan from left to right", 4, "pan_right 0-4", {}),
    ("a slow left-to-right pan", 4, "pan_right 0-4", {"amount": 0.7}),
    ("tilt", 4, "tilt_up 0-4", {"note": "names no direction"}),
    # speed words and explicit amounts
    ("subtle pan right", 4, "pan_right 0-4", {"amount": 0.5}),
    ("fast tilt down", 4, "tilt_down 0-4", {"amount": 1.6}),
    ("very slow push in", 4, "push_in 0-4", {"amount": 0.7 ** 1.5}),
    ("Pan right, slowly.", 4, "pan_right 0-4", {"amount": 0.7}),
    ("Slowly. Pan left.", 4, "pan_left 0-4", {"amount": 0.7}),
    ("pan left 10 degrees", 4, "pan_left 0-4", {"amount": 10 / 8}),
    ("zoom in 1.5x", 4, "zoom_in 0-4", {"amount": 2.5}),
    ("push in 30%", 4, "push_in 0-4", {"amount": 2.0}),
    ("pedestal up 8%", 4, "pedestal_up 0-4", {"amount": 2.0}),
    ("slow camera push forward (approx 6 degrees)", 4, "push_in 0-4",
     {"warning": "doesn't apply to push_in"}),
    # easing
    ("linear pan right", 4, "pan_right 0-4", {"easing": "linear"}),
    ("zoom in and ease out", 4, "zoom_in 0-4", {"easing": "ease_out"}),
    ("Zoom in, slowing to a stop.", 4, "zoom_in 0-4", {"easing": "ease_out"}),
    # simultaneous moves
    ("push in while panning right", 4, "pan_right 0-4; push_in 0-4", {}),
    ("Pan left. Simultaneously, tilt up.", 4, "pan_left 0-4; tilt_up 0-4", {}),
    ("slow push in and tilt up over 3 seconds", 6, "push_in 0-3; tilt_up 0-3; hold 3-6",
     {"note": "holds for the other 3.00 s"}),
    # sequences and timing
    ("pan left, then pan right", 4, "pan_left 0-2; pan_right 2-4", {}),
    ("Start static 0.5 s, then push in", 4, "hold 0-0.5; push_in 0.5-4", {}),
    ("hold for 1 second then zoom out", 3, "hold 0-1; zoom_out 1-3", {}),
    ("after 1 s, pan left", 4, "hold 0-1; pan_left 1-4", {}),
    ("At 2 s, pan left", 4, "hold 0-2; pan_left 2-4", {}),
    ("from 1 s to 3 s pan left", 4, "hold 0-1; pan_left 1-3; hold 3-4", {}),
    ("2-4 s: truck left", 6, "hold 0-2; truck_left 2-4; hold 4-6", {}),
    ("pan left for the last 2 seconds", 6, "hold 0-4; pan_left 4-6", {}),
    ("2 s push in, 2 s pan left, 2 s tilt up, 2 s zoom out", 4,
     "push_in 0-1; pan_left 1-2; tilt_up 2-3; zoom_out 3-4", {"warning": "scaled by 0.50"}),
    # moves the renderer cannot do: a warning and the stand-in
    ("handheld push in", 4, "push_in 0-4", {"warning": "keeps the camera steady"}),
    ("rack focus to the background", 4, "hold 0-4", {"warning": "holding instead"}),
    ("follow shot of the runner", 4, "push_in 0-4", {"warning": "using a slow push_in instead"}),
    ("crane over the village", 4, "pedestal_up 0-4; tilt_down 0-4",
     {"warning": "using pedestal_up with tilt_down"}),
    ("whip pan left", 4, "pan_left 0-4", {"amount": 2.5, "warning": "fast pan_left"}),
    ("dolly zoom on the hero", 4, "push_in 0-4", {"warning": "can't hold the subject"}),
    # not camera moves: subjects move, negations
    ("the boat moves left", 4, "push_in 0-4", {"origin": "default", "note": "no camera move"}),
    ("Steam rises from the cup.", 4, "push_in 0-4", {"origin": "default"}),
    ("She holds a cup, pan left", 4, "pan_left 0-4", {}),
    ("no zoom, pan left", 4, "pan_left 0-4", {"note": "left out"}),
    # Russian, the language of the prompt guide
    ("Старт статично 0,5 с, 2 с наезд, 1 с пауза, 1,5 с панорама влево", 5,
     "hold 0-0.5; push_in 0.5-2.5; hold 2.5-3.5; pan_left 3.5-5", {}),
    ("Камера медленно делает наезд за 2 секунды", 4, "push_in 0-2; hold 2-4", {"amount": 0.7}),
]


def test_the_table_has_at_least_forty_phrasings() -> None:
    assert len(PHRASINGS) >= 40


@pytest.mark.parametrize(("prompt", "seconds", "expected", "checks"), PHRASINGS,
                         ids=[p[0][:40] for p in PHRASINGS])
def test_prompt_phrasing_gives_the_expected_camera_path(prompt: str, seconds: float, expected: str,
                                                       checks: dict[str, Any]) -> None:
    plan = plan_camera(prompt, None, seconds)
    assert _path(plan) == expected, (plan.warnings, plan.notes)
    moving = [s for s in plan.segments if s.moves_camera]
    if "amount" in checks:
        assert moving[0].amount == pytest.approx(checks["amount"], rel=1e-6)
    if "easing" in checks:
        assert moving[0].easing == checks["easing"]
    if "warning" in checks:
        assert any(checks["warning"] in w for w in plan.warnings), plan.warnings
    else:
        assert plan.warnings == (), plan.warnings
    if "note" in checks:
        assert any(checks["note"] in n for n in plan.notes), plan.notes
    assert plan.origin == checks.get("origin", "prompt")


def test_segments_cover_the_shot_exactly() -> None:
    plan = plan_camera("Start static 0.5 s, 2 s slow push in, 1 s hold, 1.5 s pan left", None, 8)
    assert plan.segments[0].start == 0
    assert max(s.end for s in plan.segments) == pytest.approx(8)
    assert "holds for the other 3.00 s" in " ".join(plan.notes)


# ---- explicit camera values from the recipe ------------------------------------------------------------


def test_keyframed_list_from_the_issue() -> None:
    camera = [{"move": "hold", "duration": 0.5},
              {"move": "push_in", "duration": 2, "amount": 0.5, "easing": "ease_in_out"},
              {"move": "pan_left", "start": 2.5, "duration": 1.5}]
    plan = plan_camera("a slow zoom out", camera, 4)
    assert _path(plan) == "hold 0-0.5; push_in 0.5-2.5; pan_left 2.5-4"
    assert plan.origin == "recipe"
    push = _seg(plan, "push_in")
    assert (push.amount, push.explicit_amount, push.source) == (0.5, True, "recipe")
    assert _seg(plan, "pan_left").explicit_amount is False
    assert any("overrides the camera words" in n for n in plan.notes)


def test_keyframe_with_several_moves_happens_together() -> None:
    plan = plan_camera("", [{"move": ["push_in", "pan_right"], "duration": 2}], 4)
    assert _path(plan) == "pan_right 0-2; push_in 0-2; hold 2-4"


@pytest.mark.parametrize(("name", "expected"), [("static", "hold 0-3"), ("push_in", "push_in 0-3"),
                                                ("dolly_in", "push_in 0-3"), ("dolly_out", "pull_out 0-3"),
                                                ("orbit_right", "orbit_right 0-3")])
def test_camera_name_covers_the_whole_shot(name: str, expected: str) -> None:
    assert _path(plan_camera("pan left", name, 3)) == expected


def test_camera_phrase_in_the_recipe_is_read_like_a_prompt() -> None:
    plan = plan_camera("zoom in", "slow push in, then pan left", 4)
    assert _path(plan) == "push_in 0-2; pan_left 2-4"
    assert plan.origin == "recipe"


def test_keyframes_longer_than_the_shot_are_scaled_with_a_warning() -> None:
    plan = plan_camera("", [{"move": "pan_left", "duration": 3}, {"move": "tilt_up", "duration": 3}], 4)
    assert _path(plan) == "pan_left 0-2; tilt_up 2-4"
    assert any("asks for 6 s" in w and "scaled by 0.67" in w for w in plan.warnings)


def test_keyframe_past_the_end_is_cut_or_dropped_with_a_warning() -> None:
    plan = plan_camera("", [{"move": "pan_left", "start": 3, "duration": 3},
                            {"move": "tilt_up", "start": 9, "duration": 1}], 4)
    assert _path(plan) == "hold 0-3; pan_left 3-4"
    assert any("past the shot's 4 s end" in w for w in plan.warnings)
    assert any("after the shot's 4 s end; left out" in w for w in plan.warnings)


def test_amount_above_the_limit_is_clamped_with_a_warning() -> None:
    plan = plan_camera("very very fast whip pan left", None, 4)
    assert _seg(plan, "pan_left").amount == MAX_AMOUNT
    assert any("clamped" in w for w in plan.warnings)


def test_every_accepted_name_is_a_known_move() -> None:
    for name in CAMERA_MOVES:
        assert validate_camera(name) == []
        assert canonical_move(name) in MOVE_SPECS
    for legacy in ("static", "push_in", "pull_out", "pan_left", "pan_right", "tilt_up", "tilt_down"):
        assert legacy in CAMERA_MOVES


@pytest.mark.parametrize("value", [None, "pan_left", "static", "slow push in, then pan left",
                                   {"move": "tilt_up", "duration": 2},
                                   [{"move": "hold", "duration": 0.5}, {"move": ["push_in", "pan_left"]}],
                                   [{"move": "zoom_in", "start": 0, "duration": 1, "amount": 4,
                                     "easing": "linear"}]])
def test_valid_camera_values(value: Any) -> None:
    assert validate_camera(value) == []


@pytest.mark.parametrize(("value", "problem"), [
    ("push_inn", "unknown camera move 'push_inn'; did you mean 'push_in'?"),
    ("", "is empty"),
    ("make it cinematic please", "no camera move found"),
    ([], "list of keyframes is empty"),
    (42, "must be a move name or a list of keyframes"),
    ([{"move": "pan_left", "durration": 2}], "keyframe 1: unknown key 'durration'; did you mean 'duration'?"),
    ([{"duration": 2}], "keyframe 1: needs a move"),
    ([{"move": "pan_left", "duration": -1}], "keyframe 1: duration: must be more than 0"),
    ([{"move": "pan_left", "duration": "2s"}], "keyframe 1: duration: must be a number"),
    ([{"move": "pan_left", "amount": 9}], "keyframe 1: amount: must be at least 0 and at most 4"),
    ([{"move": "pan_left", "easing": "ease"}], "keyframe 1: easing: unknown easing 'ease'"),
    ([{"move": "pan_left"}, {"move": "tilt_sideways"}],
     "keyframe 2: move: unknown camera move 'tilt_sideways'"),
    ([{"move": "pan_left", "start": -1}], "keyframe 1: start: must be at least 0"),
    ([3], "keyframe 1: must be a mapping"),
])
def test_invalid_camera_values_are_explained(value: Any, problem: str) -> None:
    problems = validate_camera(value)
    assert any(problem in p for p in problems), problems


def test_plan_camera_rejects_invalid_values_with_a_recipe_error() -> None:
    with pytest.raises(RecipeError, match="unknown camera move 'pan_sideways'"):
        plan_camera("", "pan_sideways", 4)
    with pytest.raises(RecipeError, match="positive number"):
        plan_camera("pan left", None, 0)


# ---- holds, tracks, serialisation ------------------------------------------------------------------------


def test_hold_intervals() -> None:
    plan = plan_camera("Start static 0.5 s, 2 s slow push in, 1 s hold, 1.5 s pan left", None, 6)
    assert hold_intervals(plan) == [(0.0, 0.5), (2.5, 3.5), (5.0, 6.0)]
    assert hold_intervals(plan_camera("static", None, 4)) == [(0.0, 4.0)]
    assert hold_intervals(plan_camera("pan left", None, 4)) == []
    # simultaneous and overlapping moves leave no hold between them
    plan = plan_camera("", [{"move": "pan_left", "start": 0, "duration": 2},
                            {"move": "tilt_up", "start": 1, "duration": 2}], 4)
    assert hold_intervals(plan) == [(3.0, 4.0)]


def test_axis_tracks_follow_the_moves() -> None:
    plan = plan_camera("pan left, then pan right, then tilt up", None, 3)
    tracks = plan.axis_tracks(np.array([0.0, 0.5, 1.0, 2.0, 3.0]))
    assert tracks["yaw"].tolist() == pytest.approx([0.0, -0.5, -1.0, 0.0, 0.0])
    assert tracks["pitch"].tolist() == pytest.approx([0.0, 0.0, 0.0, 0.0, 1.0])
    assert not tracks["dolly"].any()
    assert plan.needs_depth is False
    assert plan_camera("truck left", None, 2).needs_depth is True


def test_easings_start_and_stop_where_they_should() -> None:
    for easing in EASINGS:
        plan = plan_camera("", [{"move": "zoom_in", "duration": 2, "easing": easing}], 2)
        track = plan.axis_tracks(np.array([0.0, 1.0, 2.0]))["zoom"]
        assert track[0] == 0.0 and track[2] == pytest.approx(1.0)
    smooth = plan_camera("zoom in", None, 2).axis_tracks(np.array([0.0, 0.01]))["zoom"]
    linear = plan_camera("linear zoom in", None, 2).axis_tracks(np.array([0.0, 0.01]))["zoom"]
    assert smooth[1] < linear[1] / 10  # ease_in_out starts gently


def test_plan_to_dict_is_json() -> None:
    plan = plan_camera("Start static 0.5 s, then crane over the harbor", None, 4)
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["origin"] == "prompt"
    assert [s["move"] for s in data["segments"]] == ["hold", "pedestal_up", "tilt_down"]
    assert data["segments"][1]["extent"] == "4.0% parallax"
    assert data["holds"] == [[0.0, 0.5]]
    assert data["warnings"] and data["notes"] == []


_moves = st.sampled_from([m for m in CAMERA_MOVES])
_keyframe = st.fixed_dictionaries(
    {"move": _moves},
    optional={"start": st.floats(0, 12, allow_nan=False), "duration": st.floats(0.05, 6, allow_nan=False),
              "amount": st.floats(0, 4, allow_nan=False), "easing": st.sampled_from(EASINGS)})


@settings(max_examples=150, deadline=None)
@given(st.lists(_keyframe, min_size=1, max_size=6), st.floats(0.5, 12, allow_nan=False))
def test_any_valid_keyframe_list_gives_a_plan_that_covers_the_shot(camera: list[dict[str, Any]],
                                                                  seconds: float) -> None:
    assert validate_camera(camera) == []
    plan = plan_camera("", camera, seconds)
    for seg in plan.segments:
        assert 0.0 <= seg.start and seg.end <= seconds + 1e-6 and seg.duration > 0
        assert 0.0 <= seg.amount <= MAX_AMOUNT
    covered = 0.0
    for seg in sorted(plan.segments, key=lambda s: s.start):
        assert seg.start <= covered + 1e-6, _path(plan)  # no gap
        covered = max(covered, seg.end)
    assert covered == pytest.approx(seconds)
    holds = hold_intervals(plan)
    assert all(0 <= a < b <= seconds + 1e-9 for a, b in holds)


_words = st.sampled_from([
    "pan", "left", "right", "tilt", "up", "down", "push", "in", "pull", "out", "zoom", "truck", "orbit",
    "hold",
    "static", "then", "while", ",", ".", "2 s", "0.5 s", "at 3 s", "from 1 s to 2 s", "slow", "fast",
    "10 degrees", "30%", "1.5x", "camera", "moves", "rack focus", "handheld", "crane", "over", "no",
    "linear", "ease out", "simultaneously",
    "наезд", "пауза", "1,5 с",
])


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(_words, max_size=14).map(" ".join)), st.floats(0.2, 20))
def test_any_prompt_gives_a_plan_that_covers_the_shot(prompt: str, seconds: float) -> None:
    plan = plan_camera(prompt, None, seconds)
    covered = 0.0
    for seg in sorted(plan.segments, key=lambda s: s.start):
        assert seg.start <= covered + 1e-6 and seg.duration > 0 and 0 <= seg.amount <= MAX_AMOUNT
        covered = max(covered, seg.end)
    assert covered == pytest.approx(seconds)
    json.dumps(plan.to_dict())
