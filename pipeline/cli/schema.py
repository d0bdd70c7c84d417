"""``reelpipe schema``: print the recipe's JSON Schema (for editor autocompletion)."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("schema", help="print the JSON Schema of recipe files",
                       description="Print the JSON Schema of recipe version 1. Point your editor's YAML "
                                   "language server at it for completion and checks, e.g. a first line "
                                   "'# yaml-language-server: $schema=recipe.schema.json'.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from importlib import resources

    text = resources.files("pipeline").joinpath("recipe.schema.json").read_text(encoding="utf-8")
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _generate() -> str:
    """Regenerate the shipped schema (a test checks the shipped file is current)."""
    from pipeline.recipe import json_schema

    return json.dumps(json_schema(), indent=2) + "\n"
