"""``reelpipe lint RECIPE``: advice on each shot's prompt — the five parts, vague verbs, the camera plan."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from pipeline.cli._common import out_console, print_json

_PART_HINTS = {
    "framing": "say the shot and lens, e.g. 'wide shot, 35mm' or 'close-up, 50mm, shallow depth of field'",
    "action": "say what moves and how: a camera verb ('slow push in') and what the subject does",
    "timing": "say when: 'start static 0.5 s, 2 s slow push in, 1 s hold, 1.5 s pan left'",
    "light": "name the light and air: 'golden hour, soft backlight, light haze'",
    "sound": "add sound cues for models that render audio: 'distant gulls, soft wind' (the local renderer "
             "is silent)",
}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("lint", help="check each shot's prompt: the five parts, vague verbs, the camera plan",
                       description="Read a recipe and, for every rendered shot, say which of the five parts "
                                   "of an image-to-video prompt are present (framing, action, timing, light, "
                                   "sound), flag vague verbs such as 'animate' with a camera verb to use "
                                   "instead, and show the camera path the local renderer will fly, with its "
                                   "warnings. Exit 0; with --strict, exit 1 when a shot has warnings or "
                                   "vague verbs.")
    p.add_argument("recipe", type=Path, help="the recipe YAML file")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.add_argument("--strict", action="store_true", help="exit 1 when any shot has warnings or vague verbs")
    p.set_defaults(func=run)


def lint_recipe(path: Path) -> list[dict[str, Any]]:
    """Lint every shot of the recipe at ``path``; one JSON-ready dict per shot.

    Shots that use an existing clip (``video:``) are listed as skipped.

    Raises:
        RecipeError: the recipe does not load, or a shot's ``camera:`` is invalid.
    """
    from pipeline.camera import analyze_prompt
    from pipeline.recipe import load_recipe
    from pipeline.validate import DEFAULT_SECONDS, shot_timings

    loaded = load_recipe(path, check_files=False)
    timings = shot_timings(loaded)
    by_id = {s.id: s for s in loaded.recipe.shots}
    results: list[dict[str, Any]] = []
    for shot in loaded.recipe.shots:
        if shot.video:
            results.append({"shot": shot.id,
                            "skipped": "uses an existing clip (video:), nothing is rendered"})
            continue
        camera = shot.camera
        source = by_id.get(shot.remix_of) if shot.remix_of else None
        if camera is None and source is not None:
            camera = source.camera
        timing = timings.get(shot.id)
        seconds = timing.clip_seconds if timing else (shot.seconds or DEFAULT_SECONDS)
        report = analyze_prompt(shot.prompt or "", camera, float(seconds))
        results.append({"shot": shot.id, "seconds": float(seconds), **report.to_dict()})
    return results


def run(args: argparse.Namespace) -> int:
    results = lint_recipe(args.recipe)
    if args.json:
        print_json({"recipe": str(args.recipe), "shots": results})
    else:
        for item in results:
            _print_shot(item)
    if args.strict and any(r.get("vague") or r.get("camera", {}).get("warnings") for r in results):
        return 1
    return 0


def _print_shot(item: dict[str, Any]) -> None:
    shot = escape(item["shot"])
    if "skipped" in item:
        out_console.print(f"[bold]{shot}[/]: skipped — {escape(item['skipped'])}")
        return
    out_console.print(f"[bold]{shot}[/] ({item['seconds']:g} s)")
    parts = Table("part", "", "found / what to add", show_header=False, box=None, padding=(0, 1))
    for part, words in item["parts"].items():
        if words:
            parts.add_row(part, "[green]✓[/]", escape(", ".join(words)))
        else:
            parts.add_row(part, "[yellow]✗[/]", f"[yellow]{escape(_PART_HINTS[part])}[/]")
    out_console.print(parts)
    for v in item["vague"]:
        out_console.print(f"  [yellow]vague:[/] “{escape(v['phrase'])}” — {escape(v['suggestion'])}")
    camera = item["camera"]
    table = Table("time", "move", "size", "easing", "from", title=f"camera ({camera['origin']})",
                  title_justify="left", box=None, padding=(0, 1))
    for seg in camera["segments"]:
        table.add_row(f"{seg['start']:.2f}–{seg['end']:.2f} s", seg["move"], seg.get("extent", ""),
                      seg.get("easing", ""), escape(seg["source"]))
    out_console.print(table)
    for w in camera["warnings"]:
        out_console.print(f"  [yellow]warning:[/] {escape(w)}")
    for n in camera["notes"]:
        out_console.print(f"  [dim]note: {escape(n)}[/]")
    out_console.print()
