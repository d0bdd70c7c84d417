"""``analyze_clip``: run every QC metric over one clip and give it a verdict."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import MediaError, UsageError
from pipeline.qc import metrics as m
from pipeline.qc.decode import read_clip_frames
from pipeline.qc.drift import compare_to_reference, load_reference
from pipeline.qc.result import ClipQC, Finding, verdict_of
from pipeline.qc.scdet import scdet_scores
from pipeline.qc.thresholds import resolve_thresholds

__all__ = ["MOVING_CAMERAS", "STATIC_CAMERAS", "analyze_clip"]

log = logging.getLogger(__name__)

STATIC_CAMERAS = frozenset({"static", "hold"})
"""Camera names that make the whole clip an intended hold."""

MOVING_CAMERAS = frozenset({"push_in", "pull_out", "dolly_in", "dolly_out", "zoom_in", "zoom_out", "pan_left",
                            "pan_right", "tilt_up", "tilt_down", "truck_left", "truck_right", "pedestal_up",
                            "pedestal_down", "orbit_left", "orbit_right"})
"""Common camera move names. Any camera name that is not in :data:`STATIC_CAMERAS` implies the shot should
move, when ``expects_motion`` is not given."""

_SERIES_POINTS = 200


def _normalise_holds(holds: Sequence[tuple[float, float]] | None) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for pair in holds or []:
        try:
            a, b = float(pair[0]), float(pair[1])
        except (TypeError, ValueError, IndexError):
            a = b = math.nan
        if not (math.isfinite(a) and math.isfinite(b)):
            raise UsageError(f"hold interval {pair!r} is not a pair of finite numbers of seconds",
                             hint="give holds as (start, end) in seconds from the clip's first frame")
        if b < a:
            a, b = b, a
        out.append((a, b))
    return sorted(out)


def _downsample(values: np.ndarray, points: int = _SERIES_POINTS) -> list[float]:
    if values.size <= points:
        return [round(float(v), 3) for v in values]
    idx = np.linspace(0, values.size - 1, points).round().astype(int)
    return [round(float(values[i]), 3) for i in idx]


class _ScdetThread(threading.Thread):
    """Runs ffmpeg's scdet while Python decodes the same clip (the two use different cores)."""

    def __init__(self, clip: Path) -> None:
        super().__init__(daemon=True, name="qc-scdet")
        self.clip = clip
        self.scores: np.ndarray | None = None
        self.error: MediaError | None = None

    def run(self) -> None:
        try:
            self.scores = scdet_scores(self.clip)
        except MediaError as exc:
            self.error = exc


def analyze_clip(
    path: Path,
    *,
    reference: Path | None = None,
    holds: list[tuple[float, float]] | None = None,
    expects_motion: bool | None = None,
    thresholds: dict[str, float] | None = None,
    camera: str | None = None,
) -> ClipQC:
    """Check one clip for the ways image-to-video output goes wrong, and give it a verdict.

    Metrics: black and blank frames, frozen runs, cuts inside the shot, flicker (spikes and pulsing),
    jitter, drift from the reference image (first frame, and how far the last has wandered), and the
    amount of motion. See :mod:`pipeline.qc.thresholds` for every threshold and its default.

    Args:
        path: the clip (any format PyAV/ffmpeg reads).
        reference: the image the clip was rendered from; without it, drift is measured between the
            clip's first and last frames only.
        holds: intervals ``(start, end)`` in seconds where the camera plan asks for a hold, so a frozen
            picture there is intended.
        expects_motion: True when the prompt asked for motion (a static result then fails), False when
            not; None to infer it from ``camera`` (a moving camera name: True, ``static``: False), else
            not checked.
        thresholds: overrides of :data:`~pipeline.qc.thresholds.DEFAULT_THRESHOLDS`, by name.
        camera: the shot's planned camera move name; ``static`` (or ``hold``) makes the whole clip an
            intended hold, any other name implies motion (see ``expects_motion``). Anything that is not a
            name (a keyframed plan) is ignored: pass its ``holds``.

    Returns:
        A :class:`ClipQC` with the verdict, findings (in time order), metrics and plotting series.

    Raises:
        MediaError: the clip or the reference image is missing or unreadable.
        UsageError: a threshold override has an unknown name or a non-numeric value, or a hold interval
            is not a pair of numbers.
    """
    started = time.perf_counter()
    th = resolve_thresholds(thresholds)
    path = Path(path)
    hold_list = _normalise_holds(holds)
    ref_image = load_reference(Path(reference)) if reference is not None else None
    # a keyframed camera plan is not a name: the caller passes its holds instead
    camera_name = camera.strip().lower() if isinstance(camera, str) and camera.strip() else None
    is_static = camera_name in STATIC_CAMERAS
    if expects_motion is None and camera_name is not None:
        expects_motion = not is_static

    scdet = None
    if path.is_file():
        scdet = _ScdetThread(path)
        scdet.start()
    try:
        clip = read_clip_frames(path)
    finally:
        if scdet is not None:
            scdet.join()
    # motion is measured outside the planned holds; a static camera can still frame a moving subject,
    # so the whole-clip hold of a static camera only excuses a frozen picture
    motion_holds = list(hold_list)
    if is_static:
        hold_list = [(0.0, max(clip.duration, float(clip.times[-1]) + 1.0))]

    n, fps, times = clip.count, clip.fps, clip.times
    scores: np.ndarray | None = None
    if scdet is not None and scdet.scores is not None:
        scores = np.zeros(n)
        k = min(n, scdet.scores.size)
        scores[:k] = scdet.scores[:k]
    elif scdet is not None and scdet.error is not None:
        log.warning("scdet could not run on %s; cuts use two detectors: %s", path, scdet.error.message)

    stats = m.frame_stats(clip.bgr, clip.gray)
    findings: list[Finding] = []
    metrics: dict[str, Any] = {
        "duration_s": round(clip.duration, 3), "fps": round(fps, 3), "frames": n,
        "width": clip.width, "height": clip.height,
        "luma_mean": round(float(stats.luma.mean()), 2),
    }

    found, bad = m.find_black_blank(clip.gray, stats, times, fps, th)
    findings += found
    for kind in ("black", "blank"):
        metrics[f"{kind}_frames"] = int(sum(round((f.end_s - f.start_s) * fps)
                                            for f in found if f.metric == kind))

    found, longest = m.find_frozen(clip.gray, bad, times, fps, th, hold_list)
    findings += found
    metrics["frozen_longest_s"] = round(longest, 3)

    content = m.content_diffs(clip.gray)
    hist = m.hist_distances(clip.bgr)
    found, cuts = m.find_cuts(clip.gray, content, hist, scores, bad, times, fps, th)
    findings += found
    metrics["cuts"] = len(cuts)
    metrics["scdet"] = scores is not None

    found, flicker = m.find_flicker(stats, bad, times, fps, th)
    findings += found
    metrics.update({k: (round(v, 3) if v is not None else None) for k, v in flicker.items()})

    steps = m.estimate_motion(clip.gray, times, fps)
    skip = bad.copy()
    skip[1:] |= bad[:-1]
    for i in cuts:
        skip[i] = True
    diag = math.hypot(clip.width, clip.height)
    found, jitter, shake = m.find_jitter(steps, skip, times, fps, clip.output_scale, diag, th)
    findings += found
    metrics["jitter_px"] = round(jitter, 3) if jitter is not None else None

    found, amount = m.find_motion(steps, expects_motion, motion_holds, clip.duration, clip.output_scale, th)
    findings += found
    metrics["motion_px_s"] = round(amount, 3) if amount is not None else None

    findings += _drift(clip.first_detail, clip.last_detail, ref_image, float(times[-1]), th, metrics)

    findings.sort(key=lambda f: (f.start_s, f.end_s, f.metric))
    series = {
        "t": _downsample(times),
        "luma": _downsample(stats.luma),
        "change": _downsample(content),
        "shake": _downsample(shake),
    }
    return ClipQC(
        path=str(path), verdict=verdict_of(findings), findings=findings, metrics=metrics, thresholds=th,
        reference=str(reference) if reference is not None else None, holds=hold_list,
        expects_motion=expects_motion, series=series, elapsed_s=time.perf_counter() - started,
    )


def _drift(first: np.ndarray, last: np.ndarray, reference: np.ndarray | None, last_time: float,
           th: dict[str, float], metrics: dict[str, Any]) -> list[Finding]:
    """Compare the first frame with the reference, and the last with the reference (or the first frame)."""
    findings: list[Finding] = []
    end = last_time
    if reference is not None:
        head = compare_to_reference(first, reference)
        metrics.update({"ref_ssim": round(head.ssim, 4), "ref_colour": round(head.colour, 4),
                        "ref_aligned": head.aligned})
        if head.ssim < th["ref_ssim_warn"]:
            fail = head.ssim < th["ref_ssim_fail"]
            name = "ref_ssim_fail" if fail else "ref_ssim_warn"
            findings.append(Finding(
                "drift", "fail" if fail else "warn", 0.0, 0.0, head.ssim, th[name], name,
                f"the first frame does not match the reference image (SSIM {head.ssim:.2f} after alignment)"))
        if head.colour > th["ref_colour_max"]:
            findings.append(Finding(
                "drift", "warn", 0.0, 0.0, head.colour, th["ref_colour_max"], "ref_colour_max",
                f"the first frame's colours differ from the reference image (histogram distance "
                f"{head.colour:.2f})"))
        tail = compare_to_reference(last, reference)
        against = "the reference image"
    else:
        tail = compare_to_reference(last, first)
        against = "the first frame"
    metrics.update({"wander_ssim": round(tail.ssim, 4), "wander_colour": round(tail.colour, 4),
                    "wander_aligned": tail.aligned})
    if tail.ssim < th["wander_ssim_warn"]:
        findings.append(Finding(
            "drift", "warn", end, end, tail.ssim, th["wander_ssim_warn"], "wander_ssim_warn",
            f"the last frame has wandered from {against} (SSIM {tail.ssim:.2f} after alignment)"))
    return findings
