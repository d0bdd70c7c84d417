"""The run report as one self-contained HTML page: no script, no external resource, images as data URIs.

Every piece of user or file text passes through :func:`esc` (``html.escape`` with quotes); numbers are
formatted, never interpolated raw. A Content-Security-Policy meta tag forbids scripts and any load except
inline styles and ``data:`` images, so even a bug in escaping could not run code or reach the network.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["data_uri", "esc", "render_html"]

_SEVERITY_COLOUR = {"pass": "#2e7d32", "warn": "#b26a00", "fail": "#c62828", "error": "#6a1b9a"}
_PROVENANCE_COLOUR = {"trusted": "#2e7d32", "valid": "#1565c0", "invalid": "#c62828", "missing": "#616161"}

_CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 0;
       background: #f4f4f2; color: #1d1d1d; }
main { max-width: 1180px; margin: 0 auto; padding: 24px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 10px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 16px; margin: 0; }
.muted { color: #666; }
.mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; word-break: break-all; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff; font-size: 12px;
         font-weight: 600; text-transform: uppercase; letter-spacing: .03em; vertical-align: middle; }
.badge.plain { background: #e0e0e0; color: #333; text-transform: none; }
.facts { display: flex; flex-wrap: wrap; gap: 8px 28px; margin: 12px 0; }
.facts div b { display: block; font-size: 11px; color: #666; text-transform: uppercase; font-weight: 600; }
.card { background: #fff; border: 1px solid #e2e2e2; border-radius: 8px; padding: 16px; margin: 14px 0; }
.card header { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 12px; margin-bottom: 10px; }
.grid2 { display: grid; grid-template-columns: 180px 1fr; gap: 14px; }
.ref img { width: 180px; border-radius: 4px; border: 1px solid #ddd; }
img.sheet { max-width: 100%; border-radius: 4px; display: block; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
th { font-size: 12px; color: #555; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.bar { background: #5c6bc0; height: 10px; border-radius: 2px; min-width: 1px; }
.prompt { white-space: pre-wrap; margin: 4px 0 10px; }
svg { display: block; width: 100%; height: auto; }
details summary { cursor: pointer; color: #444; margin-top: 6px; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; }
"""


def esc(value: object) -> str:
    """HTML-escape ``value``'s text (quotes too), so it can go into content or an attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def data_uri(data: bytes, mime: str) -> str:
    """A ``data:`` URI for ``data``."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _num(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _fmt(value: object, digits: int = 2, unit: str = "") -> str:
    number = _num(value)
    if number is None:
        return "—" if value is None or value == "" else esc(value)
    text = f"{number:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{number:.0f}"
    return esc(text + unit)


def _badge(text: object, colours: Mapping[str, str]) -> str:
    key = str(text or "").lower()
    colour = colours.get(key)
    if colour is None:
        return f'<span class="badge plain">{esc(text if text else "n/a")}</span>'
    return f'<span class="badge" style="background:{colour}">{esc(key)}</span>'


def _table(rows: Sequence[tuple[str, str]]) -> str:
    """Two-column table; values are already HTML (escaped by the caller)."""
    body = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _timeline_svg(duration: float, findings: Sequence[Mapping[str, Any]], holds: Sequence[Any],
                  series: Mapping[str, Sequence[Any]] | None, trim: Sequence[Any] | None) -> str:
    """A clip's QC timeline: a luma curve, held stretches, trimmed-away parts, findings as marks."""
    width, height, top = 1000.0, 64.0, 8.0
    if duration <= 0:
        return ""

    def x(t: object) -> float:
        v = _num(t) or 0.0
        return round(max(0.0, min(width, v / duration * width)), 2)

    parts = [f'<svg viewBox="0 0 {width:.0f} {height + 18:.0f}" role="img" aria-label="QC timeline">',
             (f'<rect x="0" y="{top}" width="{width:.0f}" height="{height - top}" fill="#fafafa" '
              f'stroke="#ddd"/>')]
    if trim and len(trim) == 2:
        a, b = _num(trim[0]), _num(trim[1])
        if a is not None and a > 0:
            parts.append(f'<rect x="0" y="{top}" width="{x(a)}" height="{height - top}" fill="#000" '
                         f'fill-opacity="0.08"><title>trimmed away</title></rect>')
        if b is not None and b < duration:
            parts.append(f'<rect x="{x(b)}" y="{top}" width="{round(width - x(b), 2)}" height="{height - top}" '
                         f'fill="#000" fill-opacity="0.08"><title>trimmed away</title></rect>')
    for hold in holds or []:
        if isinstance(hold, Sequence) and len(hold) == 2:
            a, b = x(hold[0]), x(hold[1])
            parts.append(f'<rect x="{a}" y="{top}" width="{max(1.0, b - a):.2f}" height="6" fill="#90a4ae">'
                         f'<title>intended hold {_fmt(hold[0])}–{_fmt(hold[1])} s</title></rect>')
    if series:
        ts, luma = list(series.get("t") or []), list(series.get("luma") or [])
        points: list[tuple[float, float]] = []
        for t, v in zip(ts, luma):
            value = _num(v)
            if value is not None:
                points.append((x(t), value))
        if len(points) > 1:
            coords = " ".join(f"{px},{round(height - 4 - (v / 255.0) * (height - top - 8), 2)}"
                              for px, v in points)
            parts.append(f'<polyline points="{coords}" fill="none" stroke="#9e9e9e" stroke-width="1.2">'
                         f'<title>mean luma</title></polyline>')
    for f in findings:
        colour = _SEVERITY_COLOUR.get(str(f.get("severity")), "#b26a00")
        a, b = x(f.get("start_s")), x(f.get("end_s"))
        title = f"{esc(f.get('metric'))} ({esc(f.get('severity'))}): {esc(f.get('message'))}"
        if b - a < 3:  # an instant: a line with a cap
            centre = round((a + b) / 2, 2)
            parts.append(f'<g><title>{title}</title><line x1="{centre}" x2="{centre}" y1="{top}" '
                         f'y2="{height}" stroke="{colour}" stroke-width="3"/><circle cx="{centre}" cy="{top}" '
                         f'r="4" fill="{colour}"/></g>')
        else:
            parts.append(f'<rect x="{a}" y="{top + 14}" width="{round(b - a, 2)}" height="{height - top - 20}" '
                         f'fill="{colour}" fill-opacity="0.45" stroke="{colour}"><title>{title}</title></rect>')
    step = 1.0 if duration <= 12 else 2.0 if duration <= 30 else 5.0 if duration <= 90 else 15.0
    t = 0.0
    while t <= duration + 1e-9:
        parts.append(f'<line x1="{x(t)}" x2="{x(t)}" y1="{height}" y2="{height + 4}" stroke="#999"/>'
                     f'<text x="{min(x(t) + 2, width - 24)}" y="{height + 15}" font-size="11" fill="#666">'
                     f'{t:g}s</text>')
        t += step
    parts.append("</svg>")
    return "".join(parts)


def _sequence_svg(shots: Sequence[Mapping[str, Any]], total: float) -> str:
    """The sequence's shots laid out on its timeline, coloured by QC verdict."""
    if total <= 0:
        return ""
    width, height = 1000.0, 34.0
    parts = [f'<svg viewBox="0 0 {width:.0f} {height + 16:.0f}" role="img" aria-label="sequence timeline">']
    for shot in shots:
        start, length = _num(shot.get("_start")), _num(shot.get("_length"))
        if start is None or not length:
            continue
        a = max(0.0, min(width, start / total * width))
        w = max(2.0, min(width - a, length / total * width))
        colour = _SEVERITY_COLOUR.get(str(shot.get("_verdict")), "#78909c")
        parts.append(f'<g><title>{esc(shot.get("id"))}: {start:.2f}–{start + length:.2f} s, QC '
                     f'{esc(shot.get("_verdict") or "not run")}</title>'
                     f'<rect x="{a:.2f}" y="2" width="{w:.2f}" height="{height - 4}" rx="3" fill="{colour}" '
                     f'fill-opacity="0.8" stroke="#fff"/>'
                     f'<text x="{a + 5:.2f}" y="{height / 2 + 4}" font-size="12" fill="#fff">'
                     f'{esc(_clip(str(shot.get("id") or "?"), max(1, int(w / 8))))}</text></g>')
    parts.append(f'<text x="0" y="{height + 13}" font-size="11" fill="#666">0 s</text>'
                 f'<text x="{width - 40}" y="{height + 13}" font-size="11" fill="#666">{total:.1f} s</text>')
    parts.append("</svg>")
    return "".join(parts)


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(1, chars - 1)] + "…"


def _provenance_block(prov: Mapping[str, Any] | None) -> str:
    if not prov:
        return '<p class="muted">No provenance check for this item.</p>'
    rows: list[tuple[str, str]] = [("state", _badge(prov.get("state"), _PROVENANCE_COLOUR))]
    for key in ("signer", "generator", "digital_source_type", "issuer", "title"):
        if prov.get(key):
            rows.append((key.replace("_", " "), f'<span class="mono">{esc(prov.get(key))}</span>'))
    codes = prov.get("codes")
    if codes:
        items = codes if isinstance(codes, (list, tuple)) else [codes]
        rows.append(("codes", ", ".join(f'<span class="mono">{esc(c)}</span>' for c in items)))
    for key, value in prov.items():
        if key in {"state", "signer", "generator", "digital_source_type", "issuer", "title", "codes"}:
            continue
        if isinstance(value, (str, int, float, bool)) and value not in ("", None):
            rows.append((str(key).replace("_", " "), esc(value)))
    return _table(rows)


def _findings_table(findings: Sequence[Mapping[str, Any]]) -> str:
    if not findings:
        return '<p class="muted">No findings.</p>'
    rows = []
    for f in findings:
        a, b = _num(f.get("start_s")), _num(f.get("end_s"))
        when = "—" if a is None else (f"{a:.2f}" if b is None or abs(b - a) < 1e-6 else f"{a:.2f}–{b:.2f}")
        rows.append(f"<tr><td>{_badge(f.get('severity'), _SEVERITY_COLOUR)}</td><td>{esc(f.get('metric'))}</td>"
                    f"<td class='num'>{esc(when)}</td><td>{esc(f.get('message'))}</td>"
                    f"<td class='num'>{_fmt(f.get('value'), 3)}</td>"
                    f"<td class='mono'>{esc(f.get('threshold_name'))} {_fmt(f.get('threshold'), 3)}</td></tr>")
    return ("<table><tr><th>severity</th><th>metric</th><th class='num'>time (s)</th><th>finding</th>"
            "<th class='num'>value</th><th>threshold</th></tr>" + "".join(rows) + "</table>")


_METRIC_LABELS = [
    ("motion_px_s", "motion (px/s)"), ("jitter_px", "jitter (px)"), ("ref_ssim", "reference SSIM"),
    ("ref_colour", "reference colour distance"), ("wander_ssim", "last-frame SSIM"),
    ("frozen_longest_s", "longest freeze (s)"), ("flicker_luma", "largest luma spike"),
    ("cuts", "cuts"), ("black_frames", "black frames"), ("blank_frames", "blank frames"),
]


def _shot_card(shot: Mapping[str, Any], assets: Mapping[str, str]) -> str:
    qc = shot.get("qc") if isinstance(shot.get("qc"), Mapping) else None
    verdict = qc.get("verdict") if qc else None
    header = [f'<h3>{esc(shot.get("id") or "(unnamed shot)")}</h3>',
              "QC " + (_badge(verdict, _SEVERITY_COLOUR) if verdict else '<span class="badge plain">not run'
                                                                         '</span>')]
    prov = shot.get("provenance") if isinstance(shot.get("provenance"), Mapping) else None
    header.append("provenance " + _badge(prov.get("state") if prov else "not checked", _PROVENANCE_COLOUR))
    if shot.get("cached"):
        header.append('<span class="badge plain">cache hit</span>')
    facts = [("cost", _fmt(shot.get("cost_usd"), 2, " USD") if _num(shot.get("cost_usd")) is not None else "—"),
             ("starts at", _fmt(shot.get("timeline_start_s"), 2, " s")),
             ("trim", esc(" – ".join(f"{_num(v) or 0:.2f} s" for v in shot["trim"]))
              if isinstance(shot.get("trim"), (list, tuple)) and len(shot["trim"]) == 2 else "none")]
    if qc and isinstance(qc.get("metrics"), Mapping):
        m = qc["metrics"]
        facts.append(("clip", esc(f"{_num(m.get('duration_s')) or 0:.2f} s, {m.get('width')}x{m.get('height')}, "
                                  f"{_num(m.get('fps')) or 0:g} fps")))
    body = ['<div class="facts">' + "".join(f"<div><b>{esc(k)}</b>{v}</div>" for k, v in facts) + "</div>"]
    if shot.get("prompt"):
        body.append(f'<div><b class="muted">prompt</b><div class="prompt">{esc(shot.get("prompt"))}</div></div>')
    if shot.get("clip"):
        body.append(f'<div class="muted">clip <span class="mono">{esc(shot.get("clip"))}</span></div>')
    sid = str(shot.get("_key"))
    if assets.get(f"strip:{sid}"):
        body.append(f'<h4>Contact sheet</h4><img class="sheet" alt="frames across {esc(shot.get("id"))}" '
                    f'src="{assets[f"strip:{sid}"]}">')
    elif assets.get(f"strip-error:{sid}"):
        body.append(f'<p class="muted">No contact sheet: {esc(assets[f"strip-error:{sid}"])}</p>')
    if qc:
        m = qc.get("metrics") if isinstance(qc.get("metrics"), Mapping) else {}
        duration = _num(m.get("duration_s")) or _num(shot.get("_length")) or 0.0
        findings = [f for f in (qc.get("findings") or []) if isinstance(f, Mapping)]
        series = qc.get("series") if isinstance(qc.get("series"), Mapping) else None
        trim = shot.get("trim") if isinstance(shot.get("trim"), (list, tuple)) else None
        body.append("<h4>QC timeline</h4>" + _timeline_svg(duration, findings, qc.get("holds") or [], series, trim))
        body.append('<div class="legend"><span><i style="background:#c62828"></i>fail</span>'
                    '<span><i style="background:#b26a00"></i>warn</span>'
                    '<span><i style="background:#90a4ae"></i>intended hold</span>'
                    '<span><i style="background:#9e9e9e"></i>mean luma</span>'
                    '<span><i style="background:#ccc"></i>trimmed away</span></div>')
        body.append(_findings_table(findings))
        rows = [(label, _fmt(m.get(key), 3)) for key, label in _METRIC_LABELS if key in m]
        if rows:
            body.append("<details><summary>QC metrics</summary>" + _table(rows) + "</details>")
    ref_html = ""
    if assets.get(f"ref:{sid}"):
        ref_html = (f'<div class="ref"><b class="muted">reference image</b><img alt="reference image" '
                    f'src="{assets[f"ref:{sid}"]}"><div class="mono muted">{esc(shot.get("image"))}</div></div>')
    prov_html = "<h4>Provenance</h4>" + _provenance_block(prov)
    left = ref_html or '<div class="muted">no reference image</div>'
    return (f'<section class="card" id="shot-{esc(sid)}"><header>{" ".join(header)}</header>'
            f'<div class="grid2"><div>{left}</div><div>{"".join(body)}{prov_html}</div></div></section>')


def _output_rows(info: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    if not info:
        return []
    rows: list[tuple[str, str]] = []
    for key in ("path", "format", "duration", "size_bytes"):
        if info.get(key) is not None:
            value = info[key]
            text = (_fmt(value, 3, " s") if key == "duration" else
                    _fmt((_num(value) or 0) / 1e6, 2, " MB") if key == "size_bytes" else esc(value))
            rows.append((key.replace("_", " "), f'<span class="mono">{text}</span>' if key == "path" else text))
    for kind in ("video", "audio"):
        stream = info.get(kind)
        if isinstance(stream, Mapping):
            shown = ", ".join(f"{esc(k)} {esc(v)}" for k, v in stream.items()
                              if v is not None and k not in ("extradata_hash",))
            rows.append((kind, shown))
    return rows


def render_html(summary: Mapping[str, Any], shots: Sequence[Mapping[str, Any]], assets: Mapping[str, str],
                generated_at: str) -> str:
    """Render the report page. ``shots`` carry ``_key``, ``_start``, ``_length`` and ``_verdict`` helpers;
    ``assets`` maps ``contact``, ``strip:KEY``, ``ref:KEY`` to data URIs."""
    title = summary.get("title") or "reelpipe run"
    verdicts = [s.get("_verdict") for s in shots]
    counts = {v: verdicts.count(v) for v in ("pass", "warn", "fail")}
    not_run = sum(1 for v in verdicts if v not in counts)
    qc_text = " ".join(f"{_badge(v, _SEVERITY_COLOUR)} {counts[v]}" for v in ("pass", "warn", "fail")
                       if counts[v])
    if not_run:
        qc_text += f' <span class="badge plain">not run</span> {not_run}'
    prov = summary.get("provenance") if isinstance(summary.get("provenance"), Mapping) else None
    cost = _num(summary.get("cost_usd"))
    facts = [
        ("output", f'<span class="mono">{esc(summary.get("output"))}</span>'),
        ("duration", _fmt(summary.get("duration_s"), 2, " s")),
        ("backend", esc(summary.get("backend") or "—")),
        ("cost", f"{cost:.2f} USD" if cost is not None else "—"),
        ("shots", str(len(shots))),
        ("cache hits", f"{sum(1 for s in shots if s.get('cached'))} of {len(shots)}"),
        ("QC", qc_text or "—"),
        ("provenance", _badge(prov.get("state") if prov else "not checked", _PROVENANCE_COLOUR)),
    ]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        ("<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
         "style-src 'unsafe-inline'\">"),
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{esc(title)} — reelpipe report</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{esc(title)}</h1>",
        (f'<div class="muted">reelpipe run report · {esc(generated_at)} · recipe '
         f'<span class="mono">{esc(summary.get("recipe") or "—")}</span></div>'),
        '<div class="facts">' + "".join(f"<div><b>{esc(k)}</b>{v}</div>" for k, v in facts) + "</div>",
        "<h2>Sequence</h2>",
    ]
    total = _num(summary.get("duration_s")) or 0.0
    if not total:
        ends = [(_num(s.get("_start")) or 0.0) + (_num(s.get("_length")) or 0.0) for s in shots]
        total = max(ends, default=0.0)
    parts.append(_sequence_svg(shots, total))
    if assets.get("contact"):
        parts.append(f'<img class="sheet" id="contact-sheet" alt="contact sheet of the sequence" '
                     f'src="{assets["contact"]}">')
    elif assets.get("contact-error"):
        parts.append(f'<p class="muted">No contact sheet of the sequence: {esc(assets["contact-error"])}</p>')
    timings = summary.get("timings_s") if isinstance(summary.get("timings_s"), Mapping) else {}
    if timings:
        values = {str(k): _num(v) for k, v in timings.items()}
        longest = max((v for v in values.values() if v is not None), default=0.0) or 1.0
        total_t = sum(v for v in values.values() if v is not None)
        rows = "".join(
            f"<tr><td>{esc(k)}</td><td class='num'>{_fmt(v, 2, ' s')}</td>"
            f"<td style='width:60%'><div class='bar' style='width:{(v or 0) / longest * 100:.1f}%'></div></td></tr>"
            for k, v in values.items())
        parts.append("<h2>Stage timings</h2><table><tr><th>stage</th><th class='num'>time</th><th></th></tr>"
                     f"{rows}<tr><th>total</th><th class='num'>{total_t:.2f} s</th><th></th></tr></table>")
    out_rows = _output_rows(summary.get("output_info") if isinstance(summary.get("output_info"), Mapping)
                            else None)
    if out_rows:
        parts.append("<h2>Final sequence</h2>" + _table(out_rows))
    parts.append("<h2>Provenance of the sequence</h2>" + _provenance_block(prov))
    parts.append("<h2>Shots</h2>")
    if not shots:
        parts.append('<p class="muted">No shots in this run.</p>')
    parts.extend(_shot_card(s, assets) for s in shots)
    parts.append('<p class="muted">Generated by reelpipe. QC thresholds and what each finding means: '
                 'the README (Quality control).</p></main></body></html>')
    return "\n".join(parts)
