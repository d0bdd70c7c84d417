"""``reelpipe validate RECIPE``: check a recipe and list every problem with its file:line."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli._common import err_console, print_json
from pipeline.errors import RecipeError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("validate", help="check a recipe; list every problem with file:line (exit 2 on errors)",
                       description="Check a recipe's syntax, keys, references, files, trims and transitions. "
                                   "Every problem is listed with its file:line. Exit 0 when valid, 2 otherwise.")
    p.add_argument("recipe", type=Path, nargs="+", help="recipe YAML file(s)")
    p.add_argument("--json", action="store_true", help="print the problems as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.recipe import load_recipe

    results = []
    worst = 0
    for path in args.recipe:
        try:
            loaded = load_recipe(path)
            results.append({"recipe": str(path), "valid": True, "shots": len(loaded.recipe.shots), "problems": []})
            if not args.json:
                err_console.print(f"{path}: ok ({len(loaded.recipe.shots)} shots)", markup=False, style="green")
        except RecipeError as exc:
            worst = max(worst, exc.exit_code)
            problems = [{"file": p.file, "line": p.line, "column": p.column, "path": p.path, "message": p.message,
                         "hint": p.hint} for p in exc.problems]
            if not problems:
                problems = [{"file": str(path), "line": None, "column": None, "path": "", "message": exc.message,
                             "hint": exc.hint}]
            results.append({"recipe": str(path), "valid": False, "problems": problems})
            if not args.json:
                err_console.print(f"error: {exc.message}", markup=False, style="bold red")
                if exc.hint:
                    err_console.print(f"hint: {exc.hint}", markup=False, style="yellow")
    if args.json:
        print_json(results if len(results) > 1 else results[0])
    return worst
