"""``reelpipe qc CLIP...``: quality-check any clips, whoever made them.

Exit codes: 0 when no clip fails, 1 when one fails or cannot be read, 2 for a usage error (an unknown
threshold, a malformed ``--threshold`` or ``--hold``, a missing ``--reference``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from pipeline.errors import MediaError, UsageError

__all__ = ["register", "run"]

_STYLE = {"pass": "bold green", "warn": "bold yellow", "fail": "bold red"}


def _threshold(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name.strip()}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{name.strip()}: {value!r} is not a finite number")
    return name.strip(), number


def _hold(text: str) -> tuple[float, float]:
    start, sep, end = text.partition(":")
    if not sep:
        start, sep, end = text.partition("-")
    try:
        a, b = float(start), float(end)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:END in seconds, got {text!r}") from None
    if not (math.isfinite(a) and math.isfinite(b)) or b < a or a < 0:
        raise argparse.ArgumentTypeError(f"expected 0 <= START <= END, got {text!r}")
    return a, b


def register(subparsers: Any) -> None:
    """Add the ``qc`` command."""
    parser = subparsers.add_parser(
        "qc",
        help="check clips for black/blank frames, freezes, cuts, flicker, jitter, drift and missing motion",
        description=(
            "Quality-check video clips the way reelpipe checks its own renders: black and blank frames, "
            "frozen stretches, cuts inside a shot, flicker, jitter, drift from the reference image, and "
            "the amount of motion. Each finding comes with its frame times. Exit code 0 when no clip "
            "fails, 1 otherwise, 2 for a usage error."
        ),
        epilog="Thresholds and their defaults: the README (Quality control). Example: reelpipe qc out/clip.mp4 "
               "--reference samples/coffee.jpg --expect-motion --threshold jitter_warn_px=1.5",
    )
    parser.add_argument("clips", nargs="+", type=Path, metavar="CLIP", help="video files to check")
    parser.add_argument("--reference", type=Path, metavar="IMAGE",
                        help="the still image the clips were rendered from (enables the drift check)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument("--expect-motion", action=argparse.BooleanOptionalAction, default=None,
                        help="fail a clip that barely moves (--expect-motion) or do not check "
                             "(--no-expect-motion, the default unless --camera names a move)")
    parser.add_argument("--threshold", action="append", type=_threshold, default=[], metavar="NAME=VALUE",
                        help="override a QC threshold (repeatable)")
    parser.add_argument("--hold", action="append", type=_hold, default=[], metavar="START:END",
                        help="an intended hold, in seconds: a frozen picture there is not a defect "
                             "(repeatable)")
    parser.add_argument("--camera", default=None, metavar="MOVE",
                        help="the planned camera move: 'static' (or 'hold') makes the whole clip a hold; "
                             "any other move (push_in, pan_left, ...) implies --expect-motion")
    parser.set_defaults(func=run)


def _print_result(result: Any) -> None:
    from rich.table import Table

    from pipeline.cli._common import out_console

    verdict = result.verdict
    out_console.print(f"{result.path}: ", end="", markup=False)
    out_console.print(verdict.upper(), style=_STYLE.get(verdict, ""), markup=False, end="")
    m = result.metrics
    out_console.print(
        f"  ({m.get('duration_s', 0):.2f} s, {m.get('width')}x{m.get('height')} @ {m.get('fps', 0):g} fps, "
        f"analysed in {result.elapsed_s:.1f} s)", markup=False)
    if not result.findings:
        return
    table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2, 0, 2))
    for col in ("severity", "metric", "time (s)", "finding"):
        table.add_column(col)
    for f in result.findings:
        when = f"{f.start_s:.2f}" if abs(f.end_s - f.start_s) < 1e-6 else f"{f.start_s:.2f}–{f.end_s:.2f}"
        table.add_row(f.severity, f.metric, when, f.message, style=_STYLE.get(f.severity, ""))
    out_console.print(table)


def run(args: argparse.Namespace) -> int:
    """Analyse every clip; print a table per clip (or JSON); return the exit code."""
    from pipeline.cli._common import err_console, print_json
    from pipeline.qc import analyze_clip
    from pipeline.qc.thresholds import resolve_thresholds

    overrides = dict(args.threshold)
    resolve_thresholds(overrides)  # a wrong name is a usage error before any clip is decoded
    if args.reference is not None and not args.reference.is_file():
        raise UsageError(f"{args.reference}: reference image not found",
                         hint="--reference takes the still image the clips were rendered from")
    results: list[dict[str, Any]] = []
    failed = False
    for clip in args.clips:
        try:
            result = analyze_clip(clip, reference=args.reference, holds=list(args.hold),
                                  expects_motion=args.expect_motion, thresholds=overrides,
                                  camera=args.camera)
        except MediaError as exc:
            failed = True
            err_console.print(f"error: {exc.message}", markup=False, style="bold red")
            if exc.hint:
                err_console.print(f"hint: {exc.hint}", markup=False, style="yellow")
            results.append({"path": str(clip), "verdict": "error", "error": exc.message})
            continue
        failed = failed or result.verdict == "fail"
        if args.json:
            results.append(result.to_dict())
        else:
            _print_result(result)
    if args.json:
        print_json(results)
    return 1 if failed else 0
