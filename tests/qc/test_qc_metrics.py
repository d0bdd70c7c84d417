"""The QC metric functions on synthetic arrays: fast, exact, and the edge cases clips cannot easily show."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.qc import DEFAULT_THRESHOLDS
from pipeline.qc import metrics as m
from pipeline.qc.metrics import MotionSteps

FPS = 30.0
TH = dict(DEFAULT_THRESHOLDS)


def _times(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64) / FPS


def _textured(n: int, h: int = 36, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, size=(h, w), dtype=np.uint8)
    return np.repeat(base[None], n, axis=0)


@given(st.lists(st.booleans(), max_size=60))
def test_bool_runs_rebuild_the_mask(values: list[bool]) -> None:
    mask = np.array(values, dtype=bool)
    rebuilt = np.zeros_like(mask)
    runs = m.bool_runs(mask)
    for a, b in runs:
        assert a <= b
        rebuilt[a:b + 1] = True
    assert (rebuilt == mask).all()
    # runs are maximal: never adjacent
    assert all(runs[i][1] + 1 < runs[i + 1][0] for i in range(len(runs) - 1))


interval = st.tuples(st.floats(0, 10), st.floats(0, 10)).map(lambda p: (min(p), max(p)))


@given(interval, st.lists(interval, max_size=5))
def test_subtract_intervals_leaves_exactly_the_uncovered_part(span: tuple[float, float],
                                                              holes: list[tuple[float, float]]) -> None:
    start, end = span
    pieces = m.subtract_intervals(start, end, holes)
    grid = np.linspace(start, end, 401)[:-1] if end > start else np.array([])
    for t in grid:
        covered = any(a <= t < b for a, b in holes)
        in_piece = any(a <= t < b for a, b in pieces)
        # points within 1e-9 of an edge may go either way
        near_edge = any(abs(t - x) < 1e-9 for pair in [span, *holes, *pieces] for x in pair)
        assert near_edge or covered != in_piece
    for a, b in pieces:
        assert start <= a < b <= end


@settings(max_examples=30)
@given(st.lists(st.floats(-5, 5), min_size=4, max_size=4), st.integers(20, 120))
def test_smoothing_follows_any_cubic_exactly(coeffs: list[float], n: int) -> None:
    t = np.linspace(0, 1, n)
    path = np.polyval(coeffs, t)[:, None] * 50.0
    smooth = m._smooth_path(path, half=7)
    assert np.allclose(smooth, path, atol=1e-6 * max(1.0, float(np.abs(path).max())))


def test_smoothing_leaves_frame_to_frame_shake_in_the_residual() -> None:
    rng = np.random.default_rng(1)
    shake = rng.uniform(-3, 3, size=(120, 1))
    residual = shake - m._smooth_path(shake, half=7)
    assert float(np.sqrt((residual ** 2).mean())) > 0.8 * float(np.sqrt((shake ** 2).mean()))


def test_black_and_blank_single_frames() -> None:
    gray = _textured(10)
    bgr = np.repeat(gray[..., None], 3, axis=3)
    gray[3] = 5  # black
    gray[6] = 200  # flat white: blank, not black
    bgr[3], bgr[6] = 5, 200
    stats = m.frame_stats(bgr, gray)
    findings, bad = m.find_black_blank(gray, stats, _times(10), FPS, TH)
    assert [(f.metric, round(f.start_s * FPS)) for f in findings] == [("black", 3), ("blank", 6)]
    assert bad.tolist() == [i in (3, 6) for i in range(10)]


def test_dark_but_detailed_frame_is_not_black() -> None:
    gray = np.zeros((3, 36, 64), dtype=np.uint8)
    gray[:, ::4, ::4] = 220  # a starfield: mostly black, but 1/16 of it bright
    bgr = np.repeat(gray[..., None], 3, axis=3)
    findings, bad = m.find_black_blank(gray, m.frame_stats(bgr, gray), _times(3), FPS, TH)
    assert findings == [] and not bad.any()


def test_frozen_run_times_and_severity() -> None:
    n = 90
    gray = np.stack([np.roll(_textured(1)[0], i, axis=1) for i in range(n)])  # 1 px/frame pan
    gray[30:60] = gray[30]  # 1 s freeze
    findings, longest = m.find_frozen(gray, np.zeros(n, bool), _times(n), FPS, TH, holds=[])
    (f,) = findings
    assert (f.metric, f.severity) == ("frozen", "fail")
    assert f.start_s == pytest.approx(1.0) and f.end_s == pytest.approx(2.0)
    assert longest == pytest.approx(1.0)


def test_grain_on_a_frozen_picture_is_still_frozen_but_slow_motion_is_not() -> None:
    rng = np.random.default_rng(3)
    n = 45
    still = _textured(n).astype(np.int16) + rng.integers(-1, 2, size=(n, 36, 64))  # grain, ~0.7 levels
    findings, _ = m.find_frozen(np.clip(still, 0, 255).astype(np.uint8), np.zeros(n, bool), _times(n), FPS,
                                TH, holds=[])
    assert [f.metric for f in findings] == ["frozen"]
    # a slow, steady drift: under a level per frame, but it adds up over a quarter second
    base = _textured(1, w=256)[0].astype(np.float32)
    frames = np.stack([np.roll(base, i // 4, axis=1)[:, :64] for i in range(n)]).astype(np.uint8)
    findings, longest = m.find_frozen(frames, np.zeros(n, bool), _times(n), FPS, TH, holds=[])
    assert findings == [] and longest < 0.5


def _stats(luma: np.ndarray, cb: np.ndarray | None = None) -> m.FrameStats:
    n = luma.size
    return m.FrameStats(luma=luma, luma_std=np.full(n, 40.0), cb=cb if cb is not None else np.full(n, 128.0),
                        cr=np.full(n, 128.0))


def test_flicker_spike_found_step_ignored() -> None:
    luma = np.full(60, 100.0)
    luma[30:] = 140.0  # a step (a cut, a light switched on): not flicker
    findings, metrics = m.find_flicker(_stats(luma), np.zeros(60, bool), _times(60), FPS, TH)
    assert findings == [] and metrics["flicker_luma"] == 0.0
    luma[12] += 8.0  # a spike: warning
    luma[45] -= 20.0  # a dip: failure
    findings, _ = m.find_flicker(_stats(luma), np.zeros(60, bool), _times(60), FPS, TH)
    assert [(round(f.start_s * FPS), f.severity) for f in findings] == [(12, "warn"), (45, "fail")]


def test_colour_spike() -> None:
    cb = np.full(60, 128.0)
    cb[20] = 140.0
    findings, metrics = m.find_flicker(_stats(np.full(60, 100.0), cb), np.zeros(60, bool), _times(60), FPS, TH)
    assert [(f.metric, round(f.start_s * FPS)) for f in findings] == [("flicker", 20)]
    assert "colour" in findings[0].message and metrics["flicker_chroma"] == pytest.approx(12.0)


@pytest.mark.parametrize("hz", [2.0, 5.0, 10.0])
def test_pulsing_found_at_its_frequency(hz: float) -> None:
    t = _times(90)
    luma = 100.0 + 0.3 * t * 10 + 3.0 * np.sin(2 * np.pi * hz * t)  # a slow ramp under the pulse
    findings, metrics = m.find_flicker(_stats(luma), np.zeros(90, bool), t, FPS, TH)
    assert metrics["flicker_pulse_hz"] == pytest.approx(hz, abs=0.4)
    assert metrics["flicker_pulse_amp"] == pytest.approx(3.0, rel=0.3)
    assert [f.threshold_name for f in findings] == ["flicker_pulse_amp"]


def test_no_pulse_in_a_smooth_change() -> None:
    t = _times(90)
    luma = 100.0 + 20.0 * np.sin(2 * np.pi * 0.3 * t)
    findings, metrics = m.find_flicker(_stats(luma), np.zeros(90, bool), t, FPS, TH)
    assert findings == [] and metrics["flicker_pulse_amp"] is None


def _cut_inputs(n: int = 40, at: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    gray = np.concatenate([_textured(at, seed=1), _textured(n - at, seed=2)])
    content = m.content_diffs(gray)
    hist = np.zeros(n)
    scdet = np.zeros(n)
    return gray, content, hist, scdet


def test_one_detector_alone_is_not_a_cut() -> None:
    gray, content, hist, scdet = _cut_inputs()
    bad = np.zeros(40, bool)
    # content fires alone (histograms and scdet quiet): no cut
    assert m.find_cuts(gray, content, hist, scdet, bad, _times(40), FPS, TH)[1] == []
    # histogram alone: no cut
    quiet = np.zeros(40)
    hist[20] = 0.9
    assert m.find_cuts(gray, quiet, hist, scdet, bad, _times(40), FPS, TH)[1] == []
    # two agree: a cut, at the first frame after it
    findings, cuts = m.find_cuts(gray, content, hist, scdet, bad, _times(40), FPS, TH)
    assert cuts == [20] and findings[0].start_s == pytest.approx(20 / FPS)
    # demanding all three: no cut without scdet
    strict = dict(TH, cut_votes=3)
    assert m.find_cuts(gray, content, hist, None, bad, _times(40), FPS, strict)[1] == []


def test_camera_jump_is_not_a_content_cut() -> None:
    base = _textured(1, w=160)[0]
    gray = np.stack([base[:, (12 if i >= 20 else 0):][:, :64] for i in range(40)])
    content = m.content_diffs(gray)
    assert content[20] > TH["cut_content_min"]
    scdet = np.zeros(40)
    scdet[20] = 50.0
    assert m.find_cuts(gray, content, np.zeros(40), scdet, np.zeros(40, bool), _times(40), FPS, TH)[1] == []


def _steps(path_x: np.ndarray) -> MotionSteps:
    n = path_x.size
    params = np.zeros((n, 4))
    params[1:, 0] = np.diff(path_x)
    params[0] = np.nan
    return MotionSteps(params=params, speeds=np.array([]), speed_times=np.array([]))


def test_jitter_smooth_move_shake_and_jump() -> None:
    n = 90
    t = np.linspace(0, 1, n)
    ease = 60.0 * t * t * (3 - 2 * t)
    skip = np.zeros(n, bool)
    findings, jitter, _ = m.find_jitter(_steps(ease), skip, _times(n), FPS, 1.0, 367.0, TH)
    assert findings == [] and jitter is not None and jitter < 0.05
    shaken = ease.copy()
    shaken[30:60] += np.random.default_rng(2).uniform(-6, 6, size=30)
    findings, jitter, _ = m.find_jitter(_steps(shaken), skip, _times(n), FPS, 1.0, 367.0, TH)
    assert [f.severity for f in findings] == ["fail"] and jitter is not None and jitter > 2.5
    assert findings[0].start_s == pytest.approx(1.0, abs=0.1) and findings[0].end_s == pytest.approx(2.0, abs=0.1)
    # output scale: the same shake measured on frames a quarter the output size is four times larger
    _, jitter4, _ = m.find_jitter(_steps(shaken / 4.0), skip, _times(n), FPS, 4.0, 367.0, TH)
    assert jitter4 == pytest.approx(jitter, rel=1e-6)
    jumped = ease.copy()
    jumped[50:] += 25.0  # one jump, steady either side
    findings, jitter, _ = m.find_jitter(_steps(jumped), skip, _times(n), FPS, 1.0, 367.0, TH)
    assert findings == [] and jitter is not None and jitter < 0.5


def test_motion_amount_outside_holds() -> None:
    steps = MotionSteps(params=np.zeros((10, 4)), speeds=np.array([0.0, 0.0, 8.0, 8.0]),
                        speed_times=np.array([0.0, 0.25, 0.5, 0.75]))
    findings, amount = m.find_motion(steps, True, [(0.0, 0.5)], 1.0, 2.0, TH)
    assert findings == [] and amount == pytest.approx(16.0)
    findings, amount = m.find_motion(steps, True, [(0.5, 1.0)], 1.0, 2.0, TH)
    assert [f.metric for f in findings] == ["motion"] and amount == 0.0
    findings, _ = m.find_motion(steps, None, [(0.5, 1.0)], 1.0, 2.0, TH)
    assert findings == []
