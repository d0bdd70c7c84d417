"""``reelpipe qc``: output, JSON, exit codes, and clear errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from qc_clipmaker import SAMPLES

from pipeline.cli import main


def test_clean_clip_exits_0(qc_clips: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["qc", str(qc_clips["clean"]), "--reference", str(SAMPLES / "coffee.jpg")]) == 0
    out = capsys.readouterr().out
    assert "clean.mp4" in out and "PASS" in out


def test_failing_clip_exits_1_with_times(qc_clips: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["qc", str(qc_clips["clean"]), str(qc_clips["black"])]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "black" in out and "1.50" in out


def test_json_output(qc_clips: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["qc", str(qc_clips["pulse"]), "--json"]) == 0  # pulsing is a warning: exit 0
    data = json.loads(capsys.readouterr().out)
    assert [d["verdict"] for d in data] == ["warn"]
    assert data[0]["findings"][0]["metric"] == "flicker"
    assert data[0]["path"].endswith("pulse.mp4")


def test_threshold_override_and_holds(qc_clips: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    clip = str(qc_clips["freeze"])
    assert main(["qc", clip]) == 1
    assert main(["qc", clip, "--hold", "1.0:2.0"]) == 0
    assert main(["qc", clip, "--threshold", "freeze_fail_s=1.5"]) == 0  # now a warning
    capsys.readouterr()


def test_expect_motion_flag(local_clips: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    clip = str(local_clips["static"])
    assert main(["qc", clip, "--camera", "static"]) == 0
    capsys.readouterr()
    assert main(["qc", clip, "--camera", "static", "--expect-motion", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [f["metric"] for f in data[0]["findings"]] == ["motion"]
    assert main(["qc", clip, "--camera", "static", "--no-expect-motion"]) == 0


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse reports its own usage errors by exiting 2
        return int(exc.code or 0)


@pytest.mark.parametrize("argv, message", [
    (["--threshold", "jitter_warn=2"], "did you mean 'jitter_warn_px'"),
    (["--threshold", "jitter_warn_px"], "expected NAME=VALUE"),
    (["--threshold", "jitter_warn_px=abc"], "is not a number"),
    (["--hold", "2:1"], "START <= END"),
    (["--reference", "/nonexistent/still.jpg"], "reference image not found"),
])
def test_usage_errors_exit_2(argv: list[str], message: str, qc_clips: dict[str, Path],
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["qc", str(qc_clips["clean"]), *argv]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""  # nothing was analysed


def test_missing_and_corrupt_files_get_one_clear_line(tmp_path: Path, qc_clips: dict[str, Path],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"garbage" * 200)
    code = main(["qc", str(tmp_path / "missing.mp4"), str(junk), str(qc_clips["clean"])])
    captured = capsys.readouterr()
    assert code == 1
    assert f"error: {tmp_path / 'missing.mp4'}: no such file" in captured.err
    assert f"error: {junk}: not a readable video file" in captured.err
    assert "Traceback" not in captured.err
    assert "clean.mp4" in captured.out and "PASS" in captured.out  # the good clip is still checked
