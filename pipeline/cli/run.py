"""``reelpipe run RECIPE``: render, check, edit and sign a recipe into its output file."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli._common import err_console, print_json
from pipeline.cli._progress import RichReporter


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "run", help="render every shot and edit the recipe into its output file",
        description="Render every shot that is not cached, check provenance and quality, edit the clips into "
                    "one sequence at output.path (relative to the recipe), and sign it. A second run of an "
                    "unchanged recipe renders nothing again.",
    )
    p.add_argument("recipe", type=Path, help="the recipe YAML file")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    p.add_argument("--force", action="store_true", help="re-render every shot even when it is cached")
    p.add_argument("--strict", action="store_true",
                   help="refuse what preflight only warns about (e.g. faces in a reference image)")
    p.add_argument("--max-cost", type=float, metavar="USD", help="refuse to start if the estimate exceeds this")
    p.add_argument("--trust", type=Path, action="append", default=[], metavar="PEM",
                   help="extra C2PA trust anchor (repeatable)")
    p.add_argument("--workers", type=int, metavar="N", help="edit segments encoded at once (default: cores)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.runner import RunOptions, run_recipe

    options = RunOptions(force=args.force, strict=args.strict, max_cost=args.max_cost, trust=list(args.trust),
                         workers=args.workers)
    with RichReporter(enabled=not args.json) as reporter:
        result = run_recipe(args.recipe, options=options, reporter=reporter)
        reporter.finish()
    summary = result.to_dict()
    if args.json:
        print_json(summary)
    else:
        hits = sum(1 for s in summary["shots"] if s["cached"])
        err_console.print(
            f"wrote {result.output} — {result.duration_s:.3f} s, {summary['frames']} frames, "
            f"{len(summary['shots'])} shots ({hits} from cache), edit: {result.edit_mode}", markup=False)
        for name, path in summary["outputs"].items():
            err_console.print(f"  {name}: {path}", markup=False)
    return 0
