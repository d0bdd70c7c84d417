"""QC thresholds, overrides, attempt ranking and the scdet parser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import MediaError, UsageError
from pipeline.qc import (
    DEFAULT_THRESHOLDS,
    THRESHOLDS,
    ClipQC,
    Finding,
    analyze_clip,
    best_attempt,
    check_thresholds,
    resolve_thresholds,
    thresholds_markdown,
)
from pipeline.qc.result import Severity
from pipeline.qc.scdet import parse_scdet_metadata, scdet_command

DOCS = Path(__file__).resolve().parents[2] / "README.md"


def test_every_threshold_is_documented_once() -> None:
    names = [t.name for t in THRESHOLDS]
    assert len(names) == len(set(names)) == len(DEFAULT_THRESHOLDS)
    table = thresholds_markdown()
    doc = DOCS.read_text(encoding="utf-8")
    for t in THRESHOLDS:
        assert f"`{t.name}`" in table
        assert f"| `{t.name}` | {t.default:g} |" in doc, f"README.md's QC thresholds table is missing or out of date for {t.name}"


def test_overrides_are_checked() -> None:
    assert check_thresholds({"jitter_warn_px": 2}) == []
    problems = check_thresholds({"jitter_warn": 2, "black_ratio": "high", "cut_votes": float("nan"),
                                 "flicker_luma_warn": True})
    assert len(problems) == 4
    assert "did you mean 'jitter_warn_px'" in problems[0]
    with pytest.raises(UsageError) as info:
        resolve_thresholds({"jitter_warn": 2})
    assert info.value.exit_code == 2
    merged = resolve_thresholds({"jitter_warn_px": 2})
    assert merged["jitter_warn_px"] == 2.0 and merged["black_ratio"] == DEFAULT_THRESHOLDS["black_ratio"]
    assert DEFAULT_THRESHOLDS["jitter_warn_px"] == 1.0  # the defaults are not mutated


def test_override_changes_the_verdict(qc_clips: dict[str, Path]) -> None:
    relaxed = analyze_clip(qc_clips["shake"], thresholds={"jitter_warn_px": 20.0, "jitter_fail_px": 40.0})
    assert relaxed.findings == [] and relaxed.verdict == "pass"
    assert relaxed.thresholds["jitter_warn_px"] == 20.0
    # a longer freeze allowance turns the 1 s freeze into a warning
    lenient = analyze_clip(qc_clips["freeze"], thresholds={"freeze_fail_s": 1.5})
    assert [f.severity for f in lenient.findings] == ["warn"]


def test_missing_and_corrupt_inputs_raise_media_error(tmp_path: Path, qc_clips: dict[str, Path]) -> None:
    with pytest.raises(MediaError, match="no such file"):
        analyze_clip(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(MediaError, match="junk.mp4: not a readable video"):
        analyze_clip(junk)
    with pytest.raises(MediaError, match="reference image not found"):
        analyze_clip(qc_clips["clean"], reference=tmp_path / "nope.jpg")


def test_bad_holds_are_usage_errors(qc_clips: dict[str, Path]) -> None:
    for holds in ([(0.0, float("nan"))], [("a", 1.0)], [(1.0,)]):
        with pytest.raises(UsageError, match="hold interval"):
            analyze_clip(qc_clips["clean"], holds=holds)  # type: ignore[arg-type]


def _qc(*findings: tuple[str, Severity, float, float]) -> ClipQC:
    from pipeline.qc import verdict_of

    fs = [Finding(metric, sev, 0.0, 1.0, value, threshold, "t", metric) for metric, sev, value, threshold in findings]
    return ClipQC(path="x.mp4", verdict=verdict_of(fs), findings=fs, metrics={}, thresholds={})


def test_best_attempt_prefers_verdict_then_fewer_and_milder_findings() -> None:
    failing = _qc(("cut", "fail", 3, 2))
    warning = _qc(("jitter", "warn", 1.2, 1.0))
    clean = _qc()
    assert best_attempt([failing, warning, clean]) == 2
    assert best_attempt([failing, warning]) == 1
    mild = _qc(("jitter", "warn", 1.1, 1.0))
    strong = _qc(("jitter", "warn", 2.4, 1.0))
    assert best_attempt([strong, mild]) == 1
    two_warnings = _qc(("jitter", "warn", 1.1, 1.0), ("flicker", "warn", 4.1, 4.0))
    assert best_attempt([two_warnings, strong]) == 1
    # ties go to the first attempt; dicts (to_dict()) work the same
    assert best_attempt([clean, _qc()]) == 0
    assert best_attempt([failing.to_dict(), clean.to_dict()]) == 1
    with pytest.raises(ValueError):
        best_attempt([])


def test_scdet_metadata_parsing() -> None:
    text = ("frame:0    pts:0       pts_time:0\nlavfi.scd.score=0.000\n"
            "frame:1    pts:512     pts_time:0.0333\nlavfi.scd.score=3.250\n"
            "frame:2    pts:1024    pts_time:0.0667\n"
            "frame:3    pts:1536    pts_time:0.1\nlavfi.scd.score=47.5\n")
    assert parse_scdet_metadata(text).tolist() == [0.0, 3.25, 0.0, 47.5]
    assert parse_scdet_metadata("").size == 0


def test_scdet_command_escapes_the_metadata_path(tmp_path: Path) -> None:
    odd = tmp_path / "it's [a], b;c.txt"
    argv = scdet_command(Path("clip.mp4"), odd)
    graph = argv[argv.index("-vf") + 1]
    assert "file=" in graph and "\\[" in graph and "\\;" in graph and "\\," in graph


def test_scdet_scores_on_a_real_cut(qc_clips: dict[str, Path]) -> None:
    from pipeline.qc.scdet import scdet_scores

    scores = scdet_scores(qc_clips["cut"])
    assert scores.size == 90
    assert int(np.argmax(scores)) == 45 and scores[45] > DEFAULT_THRESHOLDS["cut_scdet_min"]
    assert np.delete(scores, 45).max() < 0.5 * DEFAULT_THRESHOLDS["cut_scdet_min"]
