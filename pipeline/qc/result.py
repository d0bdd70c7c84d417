"""The result types of QC: one :class:`Finding` per defect, one :class:`ClipQC` per clip."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["SEVERITY_RANK", "VERDICTS", "ClipQC", "Finding", "Severity", "Verdict", "verdict_of"]

Severity = Literal["warn", "fail"]
Verdict = Literal["pass", "warn", "fail"]

VERDICTS: tuple[Verdict, ...] = ("pass", "warn", "fail")
SEVERITY_RANK: dict[str, int] = {"pass": 0, "warn": 1, "fail": 2}
"""Orders verdicts and severities from best to worst."""


@dataclass(frozen=True)
class Finding:
    """One defect found in a clip.

    Attributes:
        metric: the family it belongs to: ``black``, ``blank``, ``frozen``, ``cut``, ``flicker``, ``jitter``,
            ``drift``, ``motion``.
        severity: ``warn`` or ``fail``.
        start_s, end_s: where it is, in seconds from the clip's first frame (a cut has start == end: the
            time of the first frame after it; a whole-clip finding spans the clip).
        value: the measured number that crossed the threshold.
        threshold: the threshold it crossed.
        threshold_name: that threshold's name (see :mod:`pipeline.qc.thresholds`).
        message: one line a person can read.
    """

    metric: str
    severity: Severity
    start_s: float
    end_s: float
    value: float
    threshold: float
    threshold_name: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times rounded to the millisecond)."""
        data = asdict(self)
        for key in ("start_s", "end_s"):
            data[key] = round(float(data[key]), 3)
        data["value"] = round(float(data["value"]), 4)
        data["threshold"] = float(data["threshold"])
        return data


def verdict_of(findings: list[Finding]) -> Verdict:
    """The worst severity among ``findings``, or ``pass`` when there are none."""
    if any(f.severity == "fail" for f in findings):
        return "fail"
    if findings:
        return "warn"
    return "pass"


@dataclass
class ClipQC:
    """Everything QC found out about one clip.

    Attributes:
        path: the clip analysed.
        verdict: ``pass``, ``warn`` or ``fail`` — the worst severity among the findings.
        findings: the defects, in time order.
        metrics: clip-level numbers (``jitter_px``, ``motion_px_s``, ``ref_ssim`` ...; None where not
            measurable), plus the clip's ``duration_s``, ``fps``, ``frames``, ``width`` and ``height``.
        thresholds: the thresholds the analysis used (defaults merged with overrides).
        reference: the reference image compared against, if any.
        holds: the intervals (seconds) where a hold was intended, after applying ``camera='static'``.
        expects_motion: whether the shot was expected to move (None: not known, not checked).
        series: per-frame curves downsampled for plotting: ``t``, ``luma``, ``change`` (mean absolute
            difference from the previous frame) and ``shake`` (output px).
        elapsed_s: the time the analysis took.
    """

    path: str
    verdict: Verdict
    findings: list[Finding]
    metrics: dict[str, Any]
    thresholds: dict[str, float]
    reference: str | None = None
    holds: list[tuple[float, float]] = field(default_factory=list)
    expects_motion: bool | None = None
    series: dict[str, list[float]] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def findings_for(self, metric: str) -> list[Finding]:
        """The findings of one metric family."""
        return [f for f in self.findings if f.metric == metric]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :func:`pipeline.report.write_report` reads this shape."""
        return {
            "path": self.path,
            "verdict": self.verdict,
            "findings": [f.to_dict() for f in self.findings],
            "metrics": dict(self.metrics),
            "thresholds": dict(self.thresholds),
            "reference": self.reference,
            "holds": [[round(a, 3), round(b, 3)] for a, b in self.holds],
            "expects_motion": self.expects_motion,
            "series": {k: list(v) for k, v in self.series.items()},
            "elapsed_s": round(self.elapsed_s, 3),
        }
