"""``reelpipe export RECIPE``: hand a rendered recipe's edit to a traditional editor.

Writes the edit as OpenTimelineIO, FCP 7 XML, FCPX XML and/or a CMX 3600 EDL, and optionally a
self-contained project folder. With no format flags it writes what the recipe's ``export:`` block names.
It uses the clips a previous ``reelpipe run`` rendered into the cache and renders nothing itself.

Exit codes: 0 written, 1 export failure (clips not rendered yet, a destination reelpipe did not write,
an adapter error), 2 usage or recipe error.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pipeline.errors import UsageError

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``export`` command."""
    parser = subparsers.add_parser(
        "export",
        help="write the edit as .otio, FCP XML, FCPX XML or EDL for Premiere, Resolve, Final Cut, Avid",
        description=(
            "Write a rendered recipe's edit for a traditional editor: every shot as a clip referring to its "
            "rendered media, trims, dissolves, the clips' audio and the music bed on their own tracks, QC "
            "findings as markers. Run 'reelpipe run RECIPE' first: export uses the rendered clips. With no "
            "format option it writes what the recipe's export: block names (paths relative to the recipe); "
            "paths given here are relative to the current folder. An existing file is replaced only when "
            "reelpipe wrote it and it has not changed since, unless --force is given."
        ),
        epilog="What each format keeps and loses: the README (Handing the edit to a traditional editor). Example: reelpipe export recipes/demo.yaml "
               "--fcp-xml out/demo.xml --consolidate out/demo-project --mezzanine",
    )
    parser.add_argument("recipe", type=Path, help="the recipe YAML file (already run)")
    parser.add_argument("--otio", type=Path, metavar="FILE", help="write an OpenTimelineIO .otio file")
    parser.add_argument("--fcp-xml", type=Path, metavar="FILE",
                        help="write FCP 7 XML (.xml) for Premiere Pro and DaVinci Resolve")
    parser.add_argument("--fcpx", type=Path, metavar="FILE", help="write FCPX XML (.fcpxml) for Final Cut Pro")
    parser.add_argument("--edl", type=Path, metavar="FILE",
                        help="write a CMX 3600 EDL (picture track only) for Avid and any editor")
    parser.add_argument("--consolidate", type=Path, metavar="DIR",
                        help="make DIR a self-contained project: media/ with copies of the clips and music, "
                             "and the timeline in every format with relative paths (zip it, open it anywhere)")
    parser.add_argument("--mezzanine", action="store_true",
                        help="with --consolidate: transcode the clips to ProRes 422 HQ .mov instead of copying")
    parser.add_argument("--summary", type=Path, metavar="RUN_JSON",
                        help="the output of 'reelpipe run --json': its QC findings become markers and its "
                             "provenance verdicts clip metadata")
    parser.add_argument("--force", action="store_true",
                        help="replace destination files that reelpipe did not write (or that changed since)")
    parser.add_argument("--json", action="store_true", help="print what was written as JSON on stdout")
    parser.set_defaults(func=run)


def _read_summary(path: Path, clips: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Per-shot QC and provenance from a run summary; entries for clips that changed since are skipped."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such run summary",
                         hint="write one with: reelpipe run RECIPE --json > run.json") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable run summary ({exc})",
                         hint="pass the JSON that 'reelpipe run RECIPE --json' prints") from None
    shots = data.get("shots") if isinstance(data, dict) else None
    if not isinstance(shots, list):
        raise UsageError(f"{path}: not a run summary (no shots list)",
                         hint="pass the JSON that 'reelpipe run RECIPE --json' prints")
    qc: dict[str, Any] = {}
    provenance: dict[str, Any] = {}
    stale: list[str] = []
    for shot in shots:
        if not isinstance(shot, dict) or shot.get("id") not in clips:
            continue
        sid = str(shot["id"])
        if shot.get("clip") and str(Path(shot["clip"]).resolve()) != clips[sid]:
            stale.append(sid)
            continue
        if isinstance(shot.get("qc"), dict):
            qc[sid] = shot["qc"]
        if isinstance(shot.get("provenance"), dict):
            provenance[sid] = shot["provenance"]
    return qc, provenance, stale


def run(args: argparse.Namespace) -> int:
    """Plan the recipe, check its clips are rendered, and export; return the exit code."""
    from pipeline.cli._common import err_console, print_json
    from pipeline.plan import make_plan
    from pipeline.stages.export import FORMATS, export_timeline, sequence_frames

    if args.mezzanine and args.consolidate is None:
        raise UsageError("--mezzanine needs --consolidate DIR: the ProRes copies go into DIR/media",
                         hint="add --consolidate DIR")
    plan = make_plan(args.recipe)
    given = {key: getattr(args, key) for key in FORMATS if getattr(args, key) is not None}
    if given or args.consolidate is not None:
        # paths on the command line are relative to the current folder, not to the recipe
        targets: dict[str, Any] = {key: path.resolve() for key, path in given.items()}
        consolidate = args.consolidate.resolve() if args.consolidate is not None else None
    else:
        spec = plan.loaded.recipe.export
        targets = {key: getattr(spec, key) for key in FORMATS if getattr(spec, key) is not None}
        consolidate = None
        if not targets:
            raise UsageError(f"{args.recipe}: nothing to export: the recipe has no export: block and no "
                             "format was given",
                             hint="pass --otio FILE, --fcp-xml FILE, --fcpx FILE, --edl FILE or --consolidate "
                                  "DIR, or add export: {otio: out/NAME.otio} to the recipe")

    qc: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None
    if args.summary is not None:
        clips = {c.shot_id: str(Path(c.clip_path).resolve()) for c in plan.clips}
        qc, provenance, stale = _read_summary(args.summary, clips)
        if stale and not args.json:
            err_console.print(f"note: {args.summary} describes older renders of {', '.join(stale)}; their QC "
                              "and provenance were left out", markup=False, style="yellow")

    written = export_timeline(plan, consolidate=consolidate, mezzanine=args.mezzanine, qc=qc,
                              provenance=provenance, force=args.force, **targets)
    frames = sequence_frames(plan)
    if args.json:
        print_json({"recipe": str(plan.recipe_path), "frames": frames, "fps": plan.fps,
                    "duration_s": round(plan.duration_s, 6), "shots": [c.shot_id for c in plan.clips],
                    "outputs": {key: str(path) for key, path in written.items()}})
        return 0
    err_console.print(f"exported {plan.recipe_path.name}: {len(plan.clips)} clips, {frames} frames at "
                      f"{plan.fps} fps", markup=False)
    for key, path in written.items():
        err_console.print(f"  {key}: {path}", markup=False)
    return 0
