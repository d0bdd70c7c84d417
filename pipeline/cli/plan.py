"""``reelpipe plan RECIPE``: a dry run — shots, backend, cache hits, cost, output duration."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from pipeline.cli._common import out_console, print_json


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("plan", help="dry run: what would render, cache hits, cost, output duration",
                       description="Show what 'reelpipe run' would do without rendering or writing anything: "
                                   "each shot's backend request and cache state, preflight warnings, the "
                                   "estimated cost and the timeline.")
    p.add_argument("recipe", type=Path, help="the recipe YAML file")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--strict", action="store_true", help="turn refusable preflight warnings into errors")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.plan import make_plan

    plan = make_plan(args.recipe, strict=args.strict)
    data = plan.to_dict()
    if args.json:
        print_json(data)
        return 0
    out_console.print(f"[bold]{data['title'] or plan.recipe_path.name}[/] → {data['output']}")
    out_console.print(f"{data['size']} @ {data['fps']} fps, profile {data['profile']}, backend "
                      f"[bold]{data['backend']}[/], {data['duration_s']:.3f} s ({data['frames']} frames)")
    table = Table("shot", "kind", "cache", "seconds", "trim", "on timeline", "cost", "warnings")
    for s in data["shots"]:
        table.add_row(s["id"], s["kind"] + (f" (remix of {s['remix_of']})" if s["remix_of"] else ""),
                      "hit" if s["cached"] else "render", f"{s['seconds']:g}",
                      f"{s['trim'][0]:g}–{s['trim'][1]:g}", f"{s['duration_s']:g} s", f"${s['cost_usd']:.2f}",
                      str(len(s["warnings"])) if s["warnings"] else "")
    out_console.print(table)
    tl = " ".join(
        (f"~{c['transition_in']['type']} {c['transition_in']['duration']:g}s~ " if c["transition_in"] else "| ")
        + c["shot"] for c in data["timeline"])
    out_console.print(f"timeline: {tl} |", markup=False)
    out_console.print(f"renders needed: {data['renders_needed']}, estimated cost: ${data['cost_usd']:.2f}"
                      + (f" (QC re-renders could add up to ${data['qc_rerender_max_usd']:.2f}, within the budget)"
                         if data["qc_rerender_max_usd"] else ""))
    for s in data["shots"]:
        for warning in s["warnings"]:
            out_console.print(f"warning: {s['id']}: {warning}", markup=False, style="yellow")
    return 0
