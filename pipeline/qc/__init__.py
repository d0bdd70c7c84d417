"""Quality control of generated clips: find the ways image-to-video output goes wrong.

CPU only (OpenCV, NumPy, ffmpeg's ``scdet``). One call analyses a clip::

    from pipeline.qc import analyze_clip
    qc = analyze_clip(Path("clip.mp4"), reference=Path("still.jpg"), expects_motion=True)
    qc.verdict          # "pass" | "warn" | "fail"
    qc.findings         # [Finding(metric, severity, start_s, end_s, value, threshold, ...)]

Metrics: black and blank frames, frozen runs (not inside intended holds), cuts inside the shot (two of three
detectors agree), flicker (spikes and pulsing), jitter, drift from the reference image, motion amount. Every
threshold has a documented default (:data:`DEFAULT_THRESHOLDS`, :data:`THRESHOLDS`) that a recipe can
override. :func:`best_attempt` picks the best of several renders of one shot.
"""

from __future__ import annotations

from pipeline.qc.analyze import MOVING_CAMERAS, STATIC_CAMERAS, analyze_clip
from pipeline.qc.rank import attempt_score, best_attempt
from pipeline.qc.result import VERDICTS, ClipQC, Finding, verdict_of
from pipeline.qc.thresholds import (
    DEFAULT_THRESHOLDS,
    THRESHOLDS,
    Threshold,
    check_thresholds,
    resolve_thresholds,
    thresholds_markdown,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "MOVING_CAMERAS",
    "STATIC_CAMERAS",
    "THRESHOLDS",
    "VERDICTS",
    "ClipQC",
    "Finding",
    "Threshold",
    "analyze_clip",
    "attempt_score",
    "best_attempt",
    "check_thresholds",
    "resolve_thresholds",
    "thresholds_markdown",
    "verdict_of",
]
