"""The run report: ``NAME.report.json``, a self-contained ``NAME.report.html`` and ``NAME.contact.png``.

``reelpipe run`` calls :func:`write_report` with a summary of the run once the sequence is written. The HTML
page holds a contact sheet per shot, the QC findings on a timeline, the provenance verdicts, the backend,
cost, cache hits and timings per stage, and the final sequence's properties; all images are embedded as
data URIs, so the page can be mailed or archived on its own. The PNG is one image of the whole sequence.

The summary is treated as untrusted: any key may be missing or None, every text is escaped in the HTML, and
registered secrets are redacted from everything written.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.errors import MediaError
from pipeline.fsutil import write_bytes_atomic, write_text_atomic
from pipeline.report.contact import (
    Thumb,
    contact_grid,
    contact_strip,
    encode_image,
    grab_frames,
    sample_times,
)
from pipeline.report.html import data_uri, render_html
from pipeline.secrets import redact

__all__ = ["REPORT_VERSION", "report_paths", "write_report"]

log = logging.getLogger(__name__)

REPORT_VERSION = 1
"""Version of the JSON report's shape; bumped when a key changes meaning."""

STRIP_FRAMES = 6
STRIP_WIDTH = 176
SHEET_WIDTH = 240
SHEET_COLUMNS = 6
SHEET_MIN, SHEET_MAX = 6, 24
_FILE_MODE = 0o644  # a report is for sharing; the atomic temporary file would otherwise stay 0600


def report_paths(output_video: Path) -> dict[str, Path]:
    """Where the report files of ``output_video`` go: beside it, named after its stem."""
    output_video = Path(output_video)
    stem = output_video.with_suffix("").name
    folder = output_video.parent
    return {"json": folder / f"{stem}.report.json", "html": folder / f"{stem}.report.html",
            "contact": folder / f"{stem}.contact.png"}


def _num(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _timecode(seconds: float) -> str:
    minutes, secs = divmod(max(0.0, seconds), 60.0)
    return f"{int(minutes):02d}:{secs:04.1f}"


def _shot_length(shot: Mapping[str, Any]) -> float | None:
    trim = shot.get("trim")
    if isinstance(trim, (list, tuple)) and len(trim) == 2:
        a, b = _num(trim[0]), _num(trim[1])
        if a is not None and b is not None and b > a:
            return b - a
    qc = shot.get("qc")
    if isinstance(qc, Mapping) and isinstance(qc.get("metrics"), Mapping):
        duration = _num(qc["metrics"].get("duration_s"))
        if duration:
            return duration
    clip = shot.get("clip")
    if clip and Path(str(clip)).is_file():
        try:
            from pipeline.media.probe import probe

            return probe(Path(str(clip))).duration or None
        except MediaError:
            return None
    return None


def _prepare_shots(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Copy the shots, adding the keys the page needs: a safe element id, start, length, verdict."""
    raw = summary.get("shots")
    shots: list[dict[str, Any]] = []
    for i, shot in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(shot, Mapping):
            continue
        item = dict(shot)
        safe = re.sub(r"[^A-Za-z0-9_-]+", "-", str(item.get("id") or "shot"))[:40].strip("-") or "shot"
        item["_key"] = f"{i}-{safe}"
        item["_length"] = _shot_length(item)
        qc = item.get("qc")
        item["_verdict"] = qc.get("verdict") if isinstance(qc, Mapping) else None
        shots.append(item)
    # shots without a start follow the one before
    cursor = 0.0
    for item in shots:
        start = _num(item.get("timeline_start_s"))
        item["_start"] = start if start is not None else cursor
        cursor = item["_start"] + (item["_length"] or 0.0)
    return shots


def _shot_strip(shot: Mapping[str, Any]) -> bytes:
    clip = Path(str(shot.get("clip")))
    length = None
    qc = shot.get("qc")
    if isinstance(qc, Mapping) and isinstance(qc.get("metrics"), Mapping):
        length = _num(qc["metrics"].get("duration_s"))
    if not length:
        from pipeline.media.probe import probe

        length = probe(clip).duration
    frames = grab_frames(clip, sample_times(length or 0.0, STRIP_FRAMES), width=STRIP_WIDTH)
    thumbs = [Thumb(t, img, f"{t:.2f} s") for t, img in frames]
    return encode_image(contact_strip(thumbs), fmt=".jpg", quality=82)


def _reference_thumb(image: Path) -> bytes:
    import cv2
    import numpy as np

    data = np.fromfile(str(image), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise MediaError(f"{image}: not a readable image")
    scale = 360.0 / max(img.shape[:2])
    if scale < 1:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return encode_image(img, fmt=".jpg", quality=85)


def _sequence_sheet(output_video: Path, duration: float | None,
                    shots: list[dict[str, Any]]) -> tuple[bytes, bytes]:
    """The sequence contact sheet as (PNG for the file, JPEG for the page)."""
    if not duration:
        from pipeline.media.probe import probe

        duration = probe(output_video).duration
    count = int(min(SHEET_MAX, max(SHEET_MIN, round(duration or 0.0))))
    frames = grab_frames(output_video, sample_times(duration or 0.0, count), width=SHEET_WIDTH)

    def shot_at(t: float) -> str:
        current = ""
        for s in shots:
            if (s.get("_start") or 0.0) <= t + 1e-6:
                current = str(s.get("id") or "")
        return current

    thumbs = [Thumb(t, img, f"{_timecode(t)} {shot_at(t)}".strip()) for t, img in frames]
    sheet = contact_grid(thumbs, columns=SHEET_COLUMNS)
    return encode_image(sheet, fmt=".png"), encode_image(sheet, fmt=".jpg", quality=85)


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def write_report(summary: dict[str, Any], output_video: Path) -> dict[str, Path]:
    """Write the run report beside ``output_video``.

    Args:
        summary: what the runner knows about the run: ``title``, ``recipe``, ``output``, ``duration_s``,
            ``backend``, ``cost_usd``, ``timings_s`` (stage -> seconds), ``output_info`` (a probe dict),
            ``provenance`` (the sequence's verdict: ``state``, ``codes`` ...) and ``shots``, each with
            ``id``, ``clip``, ``cached``, ``prompt``, ``image``, ``provenance``, ``qc`` (a
            :meth:`~pipeline.qc.ClipQC.to_dict`), ``trim`` ([start, end] s), ``timeline_start_s`` and
            ``cost_usd``. Every key may be missing or None.
        output_video: the finished sequence; the report files are named after it.

    Returns:
        The paths written: ``json``, ``html``, and ``contact`` (absent when the sequence could not be
        read for a contact sheet; the page says why).

    Each file is written atomically; a failure to read one clip or image only leaves its picture out.
    """
    output_video = Path(output_video)
    paths = report_paths(output_video)
    summary = summary if isinstance(summary, Mapping) else {}
    shots = _prepare_shots(summary)
    generated_at = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    assets: dict[str, str] = {}
    problems: list[str] = []

    written: dict[str, Path] = {}
    try:
        png, jpg = _sequence_sheet(output_video, _num(summary.get("duration_s")), shots)
        write_bytes_atomic(paths["contact"], png, mode=_FILE_MODE)
        written["contact"] = paths["contact"]
        assets["contact"] = data_uri(jpg, "image/jpeg")
    except MediaError as exc:
        log.warning("report: no contact sheet for %s: %s", output_video, exc.message)
        assets["contact-error"] = exc.message
        problems.append(f"contact sheet: {exc.message}")

    for shot in shots:
        key = shot["_key"]
        if shot.get("clip"):
            try:
                assets[f"strip:{key}"] = data_uri(_shot_strip(shot), "image/jpeg")
            except MediaError as exc:
                assets[f"strip-error:{key}"] = exc.message
                problems.append(f"shot {shot.get('id')}: {exc.message}")
        if shot.get("image"):
            try:
                assets[f"ref:{key}"] = data_uri(_reference_thumb(Path(str(shot["image"]))), "image/jpeg")
            except (MediaError, OSError) as exc:
                problems.append(f"shot {shot.get('id')}: reference image: {exc}")

    page = render_html(summary, shots, assets, generated_at)
    write_text_atomic(paths["html"], redact(page), mode=_FILE_MODE)
    written["html"] = paths["html"]

    verdicts = [s["_verdict"] for s in shots]
    report = {
        "report_version": REPORT_VERSION,
        "generated_at": generated_at,
        **_json_safe({k: v for k, v in summary.items()}),
        "qc_summary": {v: verdicts.count(v) for v in ("pass", "warn", "fail")}
        | {"not_run": sum(1 for v in verdicts if v not in ("pass", "warn", "fail"))},
        "cache_hits": sum(1 for s in shots if s.get("cached")),
        "files": {k: str(p) for k, p in {**written, "json": paths["json"]}.items()},
        "problems": problems,
    }
    write_text_atomic(paths["json"], redact(json.dumps(report, indent=2, default=str)) + "\n", mode=_FILE_MODE)
    written["json"] = paths["json"]
    return {k: written[k] for k in ("json", "html", "contact") if k in written}
