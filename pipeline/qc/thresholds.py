"""QC thresholds: every number a QC verdict depends on, with its default, unit and meaning.

A recipe overrides any of them by name (``qc: {thresholds: {jitter_warn_px: 2.0}}``) and the ``reelpipe qc``
command with ``--threshold NAME=VALUE``. Luma and colour levels are on the 0–255 scale of full-range 8-bit
video, measured on frames downscaled to 320 pixels on their long side (downscaling averages away grain and
codec noise, so "near-zero change" means near zero). Pixel distances (jitter, motion) are converted back
to the clip's own output size.

The table in ``the README (Quality control)`` is generated from :data:`THRESHOLDS`; keep the two in step.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.errors import UsageError

__all__ = [
    "DEFAULT_THRESHOLDS",
    "THRESHOLDS",
    "Threshold",
    "check_thresholds",
    "resolve_thresholds",
    "thresholds_markdown",
]


@dataclass(frozen=True)
class Threshold:
    """One tunable number of the QC stage.

    Attributes:
        name: the key used in recipes and on the command line.
        default: the value used when nothing overrides it.
        unit: what the number is measured in.
        metric: the finding it governs (``black``, ``frozen``, ``cut`` ...).
        doc: one sentence on what crossing it means.
    """

    name: str
    default: float
    unit: str
    metric: str
    doc: str


THRESHOLDS: tuple[Threshold, ...] = (
    # black and blank frames
    Threshold("black_pixel_luma", 24.0, "luma level", "black",
              "a pixel at or below this luma counts as black"),
    Threshold("black_ratio", 0.98, "fraction", "black",
              "a frame is black (fail) when at least this fraction of its pixels is black"),
    Threshold("blank_std_max", 2.5, "luma level", "blank",
              "a frame is blank (fail) when the standard deviation of its luma is below this (flat, any colour)"),
    # frozen runs
    Threshold("freeze_diff_floor", 0.1, "luma level", "frozen",
              "a frame is frozen when its mean absolute luma difference from the frame a quarter second "
              "before or after it is below this ..."),
    Threshold("freeze_diff_max", 1.0, "luma level", "frozen",
              "... or, up to this, no more than 1.5 times the difference between neighbouring frames "
              "(noise such as grain, which does not add up over time the way motion does)"),
    Threshold("freeze_warn_s", 0.5, "seconds", "frozen",
              "a frozen run outside any hold at least this long is a warning"),
    Threshold("freeze_fail_s", 1.0, "seconds", "frozen",
              "a frozen run outside any hold at least this long is a failure"),
    # cuts inside the clip
    Threshold("cut_content_min", 10.0, "luma level", "cut",
              "content detector: mean absolute luma difference between two frames at least this ..."),
    Threshold("cut_content_ratio", 4.0, "ratio", "cut",
              "... and at least this many times the median difference of the surrounding second"),
    Threshold("cut_hist_min", 0.35, "distance 0-1", "cut",
              "histogram detector: Bhattacharyya distance of two frames' colour (HSV) histograms at least "
              "this"),
    Threshold("cut_scdet_min", 10.0, "score 0-100", "cut",
              "ffmpeg scdet detector: scene-change score at least this"),
    Threshold("cut_votes", 2.0, "detectors", "cut",
              "a cut (fail) needs at least this many of the three detectors to agree on the same frame"),
    # flicker
    Threshold("flicker_luma_warn", 4.0, "luma level", "flicker",
              "a frame whose mean luma stands out from the median of its three neighbours on each side by "
              "more than this is a warning"),
    Threshold("flicker_luma_fail", 12.0, "luma level", "flicker",
              "... and by more than this, a failure"),
    Threshold("flicker_chroma_warn", 4.0, "chroma level", "flicker",
              "the same test on the frame's mean Cb and Cr (a colour flash): a warning"),
    Threshold("flicker_chroma_fail", 10.0, "chroma level", "flicker",
              "... and a failure"),
    Threshold("flicker_pulse_amp", 1.5, "luma level", "flicker",
              "periodic brightness pulsing (1.5 Hz up to 12 Hz) with at least this amplitude is a warning ..."),
    Threshold("flicker_pulse_prominence", 6.0, "ratio", "flicker",
              "... when its spectral peak is at least this many times the median power of that band"),
    # jitter
    Threshold("jitter_warn_px", 1.0, "output px", "jitter",
              "RMS shake left after removing the smoothed camera path, over any half second, above this is a "
              "warning"),
    Threshold("jitter_fail_px", 2.5, "output px", "jitter",
              "... and above this, a failure"),
    # drift from the reference image
    Threshold("ref_ssim_warn", 0.55, "SSIM 0-1", "drift",
              "the first frame, aligned to the reference image, with a structural similarity below this is a "
              "warning"),
    Threshold("ref_ssim_fail", 0.35, "SSIM 0-1", "drift",
              "... and below this, a failure"),
    Threshold("ref_colour_max", 0.35, "distance 0-1", "drift",
              "the first frame's colour histogram (CIELAB) at a Bhattacharyya distance above this from the "
              "aligned reference's is a warning"),
    Threshold("wander_ssim_warn", 0.3, "SSIM 0-1", "drift",
              "the last frame, aligned to the reference (or to the first frame when there is none), with a "
              "structural similarity below this is a warning: the shot wandered away"),
    # motion amount
    Threshold("motion_min_px_s", 1.0, "output px/s", "motion",
              "when the shot expects motion, a feature speed (median over features, mean over quarter-second "
              "samples outside holds) below this is a failure: a static result"),
)
"""Every QC threshold, in the order the documentation lists them."""

DEFAULT_THRESHOLDS: dict[str, float] = {t.name: t.default for t in THRESHOLDS}
"""Threshold name -> default value. A copy is made for every analysis; never mutate this one."""


def check_thresholds(overrides: Mapping[str, object] | None) -> list[str]:
    """Return one message per problem in ``overrides`` (unknown names, values that are not finite numbers).

    An empty list means the overrides are usable. A recipe loader can turn each message into a problem
    with its YAML location; :func:`resolve_thresholds` raises on the first call with problems.
    """
    problems: list[str] = []
    for name, value in (overrides or {}).items():
        if name not in DEFAULT_THRESHOLDS:
            close = difflib.get_close_matches(str(name), list(DEFAULT_THRESHOLDS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"unknown QC threshold {name!r}{hint}")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            problems.append(f"QC threshold {name!r} must be a finite number, not {value!r}")
    return problems


def resolve_thresholds(overrides: Mapping[str, object] | None = None) -> dict[str, float]:
    """Return the defaults with ``overrides`` applied.

    Raises:
        UsageError: a name is unknown or a value is not a finite number; the message lists every problem.
    """
    problems = check_thresholds(overrides)
    if problems:
        raise UsageError("; ".join(problems),
                         hint="see the README (Quality control) for the QC thresholds, their units and defaults")
    merged = dict(DEFAULT_THRESHOLDS)
    for name, value in (overrides or {}).items():
        merged[name] = float(value)  # type: ignore[arg-type]  # checked above
    return merged


def thresholds_markdown() -> str:
    """The thresholds as a Markdown table (name, default, unit, meaning), for the documentation."""
    rows = ["| threshold | default | unit | meaning |", "|---|---|---|---|"]
    for t in THRESHOLDS:
        default = f"{t.default:g}"
        rows.append(f"| `{t.name}` | {default} | {t.unit} | {t.doc} |")
    return "\n".join(rows)
