"""Each injected defect is found, at the right time, by the right metric; clean clips raise nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from qc_clipmaker import FPS, SAMPLES

from pipeline.qc import ClipQC, analyze_clip

FRAME = 1.0 / FPS

# defect -> (metric that must find it, severity, start_s, end_s), times as injected by conftest.DEFECTS
EXPECTED: dict[str, tuple[str, str, float, float]] = {
    "black": ("black", "fail", 1.5, 1.5 + FRAME),
    "blank": ("blank", "fail", 1.5, 1.5 + FRAME),
    "white_flash": ("flicker", "fail", 2.0, 2.0 + FRAME),
    "colour_flash": ("flicker", "fail", 1.0, 1.0 + FRAME),
    "freeze": ("frozen", "fail", 1.0, 2.0),
    "shake": ("jitter", "fail", 1.0, 2.5),
    "pulse": ("flicker", "warn", 0.0, 3.0),
    "cut": ("cut", "fail", 1.5, 1.5),
}

# findings other than the expected one that a defect legitimately causes
ALSO_ALLOWED: dict[str, set[str]] = {
    "cut": {"drift"},  # after the cut the picture is another photo: the last frame wandered
}


@pytest.fixture(scope="module")
def analysed(qc_clips: dict[str, Path]) -> dict[str, ClipQC]:
    return {name: analyze_clip(path, reference=SAMPLES / "coffee.jpg") for name, path in qc_clips.items()}


def test_clean_clip_passes_with_reference(analysed: dict[str, ClipQC]) -> None:
    result = analysed["clean"]
    assert result.findings == []
    assert result.verdict == "pass"
    assert result.metrics["ref_ssim"] > 0.8
    assert result.metrics["cuts"] == 0


@pytest.mark.parametrize("defect", sorted(EXPECTED))
def test_defect_found_by_its_metric_at_its_time(defect: str, analysed: dict[str, ClipQC]) -> None:
    metric, severity, start, end = EXPECTED[defect]
    result = analysed[defect]
    mine = result.findings_for(metric)
    assert mine, f"{defect}: no {metric} finding; got {[f.message for f in result.findings]}"
    hit = max(mine, key=lambda f: f.value)
    tolerance = 2 * FRAME + 1e-6
    assert hit.start_s == pytest.approx(start, abs=tolerance), hit
    assert hit.end_s == pytest.approx(end, abs=tolerance), hit
    assert hit.severity == severity
    assert result.verdict == severity
    others = {f.metric for f in result.findings} - {metric} - ALSO_ALLOWED.get(defect, set())
    assert not others, f"{defect}: unexpected findings {[f.message for f in result.findings]}"


def test_cut_needs_more_than_one_detector(analysed: dict[str, ClipQC]) -> None:
    (cut,) = analysed["cut"].findings_for("cut")
    assert cut.value >= 2  # detectors that agreed
    assert "detectors agree" in cut.message


def test_flash_is_not_a_cut_and_black_frame_is_not_flicker(analysed: dict[str, ClipQC]) -> None:
    assert analysed["white_flash"].findings_for("cut") == []
    assert analysed["black"].findings_for("flicker") == []
    assert analysed["black"].findings_for("cut") == []


def test_intended_hold_is_not_a_freeze(qc_clips: dict[str, Path]) -> None:
    held = analyze_clip(qc_clips["freeze"], holds=[(1.0, 2.0)])
    assert held.findings_for("frozen") == []
    assert held.verdict == "pass"
    # a hold elsewhere does not excuse it
    elsewhere = analyze_clip(qc_clips["freeze"], holds=[(2.5, 3.0)])
    assert [f.metric for f in elsewhere.findings] == ["frozen"]
    # a hold covering part of it leaves 0.6 s: a warning, from 1.4 s
    partial = analyze_clip(qc_clips["freeze"], holds=[(0.8, 1.4)])
    (finding,) = partial.findings_for("frozen")
    assert finding.severity == "warn"
    assert finding.start_s == pytest.approx(1.4, abs=1e-6)
    assert finding.end_s == pytest.approx(2.0, abs=2 * FRAME)


def test_mismatched_reference_is_drift(qc_clips: dict[str, Path]) -> None:
    result = analyze_clip(qc_clips["clean"], reference=SAMPLES / "chelsea.jpg")
    drift = result.findings_for("drift")
    assert drift and drift[0].start_s == 0.0
    assert any(f.severity == "fail" and f.threshold_name == "ref_ssim_fail" for f in drift)
    assert {f.metric for f in result.findings} == {"drift"}
    assert result.verdict == "fail"
    assert result.metrics["ref_ssim"] < 0.35


@pytest.mark.parametrize("move", ["push_in", "pan_left", "tilt_up", "static"])
def test_local_renders_raise_nothing(move: str, local_clips: dict[str, Path]) -> None:
    result = analyze_clip(local_clips[move], reference=SAMPLES / "coffee.jpg", camera=move)
    assert result.findings == [], [f.message for f in result.findings]
    assert result.verdict == "pass"
    assert result.expects_motion is (move != "static")


def test_static_result_for_push_in_prompt_fails_motion(local_clips: dict[str, Path]) -> None:
    result = analyze_clip(local_clips["static"], expects_motion=True)
    (motion,) = result.findings_for("motion")
    assert motion.severity == "fail"
    assert motion.value < 0.5
    assert result.verdict == "fail"
    # the same clip with motion not expected, as a planned hold: nothing
    assert analyze_clip(local_clips["static"], expects_motion=False, camera="static").verdict == "pass"


def test_camera_names(local_clips: dict[str, Path]) -> None:
    static = local_clips["static"]
    assert analyze_clip(static, camera="hold").verdict == "pass"  # 'hold' is 'static'
    assert analyze_clip(static, camera="zoom_in").findings_for("motion")  # any move expects motion
    # a keyframed plan is not a name: ignored (the caller passes its holds), nothing inferred
    planned = analyze_clip(static, camera=[{"move": "hold", "duration": 2}],  # type: ignore[arg-type]
                           holds=[(0.0, 2.0)])
    assert planned.verdict == "pass" and planned.expects_motion is None


def test_moving_clip_has_motion(local_clips: dict[str, Path]) -> None:
    result = analyze_clip(local_clips["push_in"], expects_motion=True)
    assert result.findings_for("motion") == []
    assert result.metrics["motion_px_s"] > 3.0


def test_to_dict_is_json_ready(analysed: dict[str, ClipQC]) -> None:
    import json

    data = json.loads(json.dumps(analysed["black"].to_dict()))
    assert data["verdict"] == "fail"
    assert data["findings"][0]["metric"] == "black"
    assert data["findings"][0]["start_s"] == pytest.approx(1.5, abs=0.001)
    assert len(data["series"]["t"]) == len(data["series"]["luma"]) == 90
    assert data["metrics"]["black_frames"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("move, image", [("push_in", "coffee.jpg"), ("pull_out", "chelsea.jpg"),
                                         ("pan_right", "astronaut.jpg"), ("tilt_down", "rocket.jpg"),
                                         ("static", "hubble.jpg")])
def test_full_size_local_renders_raise_nothing(move: str, image: str, tmp_path: Path) -> None:
    """8 s at 1280x720: eased starts and ends are long here, and must not read as frozen."""
    from pipeline.backends.local import render_local_clip

    clip = tmp_path / f"{move}.mp4"
    render_local_clip(SAMPLES / image, clip, seconds=8.0, width=1280, height=720, fps=30, camera=move)
    result = analyze_clip(clip, reference=SAMPLES / image, camera=move)
    assert result.findings == [], [f.message for f in result.findings]
