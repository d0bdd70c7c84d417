"""Rank QC results of several render attempts of one shot, for the ``rerender`` policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.qc.result import SEVERITY_RANK, ClipQC

__all__ = ["attempt_score", "best_attempt"]


def _parts(result: ClipQC | Mapping[str, Any]) -> tuple[str, list[tuple[str, float, float, str]]]:
    if isinstance(result, ClipQC):
        return result.verdict, [(f.severity, f.value, f.threshold, f.metric) for f in result.findings]
    findings = [(str(f.get("severity", "warn")), float(f.get("value") or 0.0), float(f.get("threshold") or 0.0),
                 str(f.get("metric", ""))) for f in result.get("findings") or []]
    return str(result.get("verdict", "fail")), findings


def _excess(value: float, threshold: float) -> float:
    """How far past its threshold a finding is, relative to the threshold (0 when at it)."""
    scale = abs(threshold) if threshold else 1.0
    return min(10.0, abs(value - threshold) / scale)


def attempt_score(result: ClipQC | Mapping[str, Any]) -> tuple[int, int, int, float]:
    """A sort key, smaller is better: verdict, failures, warnings, then how far past the thresholds."""
    verdict, findings = _parts(result)
    fails = sum(1 for sev, *_ in findings if sev == "fail")
    warns = sum(1 for sev, *_ in findings if sev == "warn")
    excess = sum(_excess(value, threshold) * (3.0 if sev == "fail" else 1.0)
                 for sev, value, threshold, _ in findings)
    return SEVERITY_RANK.get(verdict, 2), fails, warns, round(excess, 6)


def best_attempt(results: Sequence[ClipQC | Mapping[str, Any]]) -> int:
    """Index of the best of several attempts at one shot (ClipQC objects or their ``to_dict()``).

    Best means: the best verdict (pass, then warn, then fail); then the fewest failures; then the fewest
    warnings; then the findings least far past their thresholds. Ties go to the earliest attempt (it is
    the one already cached and paid for).

    Raises:
        ValueError: ``results`` is empty.
    """
    if not results:
        raise ValueError("best_attempt needs at least one result")
    scores = [attempt_score(r) for r in results]
    return min(range(len(results)), key=lambda i: (scores[i], i))
