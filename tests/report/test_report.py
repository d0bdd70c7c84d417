"""The run report: files beside the output, self-contained HTML that escapes user text, robust input."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from pipeline.backends.local import render_local_clip
from pipeline.media.ffmpeg import run_ffmpeg
from pipeline.media.probe import probe
from pipeline.qc import analyze_clip
from pipeline.report import report_paths, write_report
from pipeline.report.contact import Thumb, contact_grid, contact_strip, sample_times

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two local renders, the sequence made by joining them, and the QC of each."""
    folder = tmp_path_factory.mktemp("report")
    clips = []
    for name, image, move in (("a", "coffee.jpg", "push_in"), ("b", "rocket.jpg", "pan_left")):
        dest = folder / f"{name}.mp4"
        render_local_clip(SAMPLES / image, dest, seconds=1.5, width=320, height=180, fps=30, camera=move)
        clips.append((dest, SAMPLES / image, move))
    listing = folder / "list.txt"
    listing.write_text("".join(f"file '{c[0]}'\n" for c in clips))
    output = folder / "out" / "harbor.mp4"
    output.parent.mkdir()
    run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(output)],
               what="joining the report test clips")
    qcs = [analyze_clip(c, reference=ref, camera=move).to_dict() for c, ref, move in clips]
    return {"folder": folder, "clips": clips, "output": output, "qc": qcs}


def _summary(run_dir: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    output: Path = run_dir["output"]
    (a, a_img, _), (b, b_img, _) = run_dir["clips"]
    summary: dict[str, Any] = {
        "recipe": "/abs/recipe.yaml", "title": "Harbor at dusk", "output": str(output), "duration_s": 3.0,
        "backend": "local", "cost_usd": 0.0,
        "timings_s": {"render": 3.1, "provenance": 0.2, "qc": 1.0, "edit": 2.0, "sign": 0.3},
        "output_info": probe(output).to_dict(), "provenance": {"state": "trusted", "codes": []},
        "shots": [
            {"id": "harbor", "clip": str(a), "cached": True, "prompt": "Slow push in.", "image": str(a_img),
             "provenance": {"state": "valid", "codes": ["signingCredential.untrusted"], "signer": "reelpipe",
                            "generator": "reelpipe-local", "digital_source_type": "trainedAlgorithmicMedia"},
             "qc": run_dir["qc"][0], "trim": None, "timeline_start_s": 0.0, "cost_usd": 0.0},
            {"id": "rocket-pan", "clip": str(b), "cached": False, "prompt": "Pan left.", "image": str(b_img),
             "provenance": None, "qc": run_dir["qc"][1], "trim": [0.25, 1.25], "timeline_start_s": 1.5,
             "cost_usd": 0.0},
        ],
    }
    summary.update(overrides)
    return summary


def test_writes_json_html_and_contact_sheet_beside_the_output(run_dir: dict[str, Any]) -> None:
    output: Path = run_dir["output"]
    written = write_report(_summary(run_dir), output)
    assert written == report_paths(output)
    assert written["json"] == output.parent / "harbor.report.json"
    assert written["html"] == output.parent / "harbor.report.html"
    assert written["contact"] == output.parent / "harbor.contact.png"
    report = json.loads(written["json"].read_text())
    assert report["title"] == "Harbor at dusk"
    assert [s["id"] for s in report["shots"]] == ["harbor", "rocket-pan"]
    assert report["qc_summary"] == {"pass": 2, "warn": 0, "fail": 0, "not_run": 0}
    assert report["cache_hits"] == 1 and report["problems"] == []
    assert report["files"]["contact"] == str(written["contact"])
    sheet = cv2.imread(str(written["contact"]))
    assert sheet is not None and sheet.shape[1] > 6 * 200  # six thumbnails across
    assert float(sheet.std()) > 20  # real pictures, not an empty canvas
    # no stray temporary files
    assert sorted(p.name for p in output.parent.iterdir()) == [
        "harbor.contact.png", "harbor.mp4", "harbor.report.html", "harbor.report.json"]


def test_html_is_self_contained(run_dir: dict[str, Any]) -> None:
    html = write_report(_summary(run_dir), run_dir["output"])["html"].read_text()
    srcs = re.findall(r'src="([^"]*)"', html)
    assert len(srcs) == 1 + 2 + 2  # sequence sheet, a strip and a reference image per shot
    assert all(s.startswith("data:image/") for s in srcs)
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "Content-Security-Policy" in html
    for needle in ("harbor", "rocket-pan", "trusted", "signingCredential.untrusted", "3.1 s", "h264",
                   "cache hit", "Stage timings"):
        assert needle in html


def test_html_escapes_all_user_text(run_dir: dict[str, Any]) -> None:
    summary = _summary(run_dir, title=EVIL, recipe=EVIL, backend=EVIL)
    summary["shots"][0].update(id=EVIL, prompt=EVIL, image=EVIL + ".jpg")
    summary["shots"][0]["provenance"]["signer"] = EVIL
    summary["shots"][0]["qc"] = dict(summary["shots"][0]["qc"], findings=[
        {"metric": EVIL, "severity": "fail", "start_s": 0.1, "end_s": 0.2, "value": 1, "threshold": 0,
         "threshold_name": EVIL, "message": EVIL}])
    html = write_report(summary, run_dir["output"])["html"].read_text()
    assert "<script" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert 'onerror=alert(1)' not in re.sub(r"&lt;img src=x onerror=alert\(1\)&gt;", "", html)


def test_secrets_never_reach_the_report(run_dir: dict[str, Any]) -> None:
    from pipeline.secrets import register_secret

    secret = "sk-report-test-0123456789abcdef"
    register_secret(secret)
    summary = _summary(run_dir)
    summary["shots"][0]["prompt"] = f"key {secret}"
    written = write_report(summary, run_dir["output"])
    for path in (written["json"], written["html"]):
        assert secret not in path.read_text()


def test_missing_keys_and_missing_media(tmp_path: Path) -> None:
    output = tmp_path / "gone.mp4"  # never written: the edit failed
    written = write_report({}, output)
    assert set(written) == {"json", "html"}
    report = json.loads(written["json"].read_text())
    assert report["qc_summary"]["not_run"] == 0 and report["problems"]
    assert "No shots in this run." in written["html"].read_text()
    shaky = {"title": None, "duration_s": "n/a", "timings_s": None, "output_info": None,
             "shots": [None, {}, {"id": "x", "clip": str(tmp_path / "missing.mp4"), "qc": None, "trim": [1],
                                  "image": str(tmp_path / "nope.jpg"), "provenance": {"codes": "one"},
                                  "timeline_start_s": None, "cost_usd": "free"}]}
    written = write_report(shaky, output)
    html = written["html"].read_text()
    assert 'id="shot-2-x"' in html and "no such file" in html
    assert json.loads(written["json"].read_text())["qc_summary"]["not_run"] == 2


def test_a_failure_leaves_the_previous_report(run_dir: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    output: Path = run_dir["output"]
    written = write_report(_summary(run_dir), output)
    before = written["html"].read_bytes()

    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr("pipeline.report.render_html", broken)
    with pytest.raises(RuntimeError):
        write_report(_summary(run_dir, title="New"), output)
    assert written["html"].read_bytes() == before
    assert not [p for p in output.parent.iterdir() if ".part" in p.name]


def test_contact_layout() -> None:
    img = np.full((45, 80, 3), 128, np.uint8)
    thumbs = [Thumb(float(i), img, f"{i} s — ünïcode") for i in range(7)]
    grid = contact_grid(thumbs, columns=3)
    assert grid.shape == (4 + 3 * (45 + 22 + 4), 4 + 3 * (80 + 4), 3)
    strip = contact_strip(thumbs[:2])
    assert strip.shape == (45 + 22, 2 * 80 + 4, 3)
    assert sample_times(6.0, 3) == [1.0, 3.0, 5.0]
    assert sample_times(0.0, 2) == [0.0]


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    return exe


def _run_chromium(exe: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                           "--v=0", *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.chromium
def test_chromium_renders_the_report_without_errors(run_dir: dict[str, Any], tmp_path: Path) -> None:
    exe = _chromium()
    summary = _summary(run_dir)
    summary["shots"][1]["id"] = "rocket <pan>"
    html = write_report(summary, run_dir["output"])["html"]
    dom = _run_chromium(exe, "--dump-dom", html.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "harbor" in dom.stdout and "rocket &lt;pan&gt;" in dom.stdout
    assert dom.stdout.count('class="card"') == 2
    console = [ln for ln in dom.stderr.splitlines() if ":CONSOLE" in ln]
    assert console == [], console  # no script errors, no blocked loads (CSP violations log here)
    shot = tmp_path / "report.png"
    snap = _run_chromium(exe, "--hide-scrollbars", "--window-size=1280,2400", f"--screenshot={shot}",
                         html.as_uri())
    assert snap.returncode == 0 and shot.exists(), snap.stderr[-2000:]
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (2400, 1280)
    assert float(image.std()) > 30  # text, thumbnails and badges, not a blank page


@pytest.mark.chromium
def test_chromium_reports_console_errors_when_there_are_some(tmp_path: Path) -> None:
    """The console check above can fail: a page with a script error shows up in Chromium's log."""
    exe = _chromium()
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>undefinedFunction()</script>")
    result = _run_chromium(exe, "--dump-dom", page.as_uri())
    assert any(":CONSOLE" in ln and "undefinedFunction" in ln for ln in result.stderr.splitlines())
