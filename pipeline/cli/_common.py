"""Shared helpers for CLI commands: consoles, JSON output, error rendering."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

from pipeline.errors import PipelineError
from pipeline.secrets import redact

__all__ = ["err_console", "out_console", "print_error", "print_json"]

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Write ``data`` as JSON to stdout (for scripts); secrets are redacted."""
    sys.stdout.write(redact(json.dumps(data, indent=2, default=str)) + "\n")
    sys.stdout.flush()


def print_error(exc: PipelineError) -> None:
    """Render a PipelineError as a short paragraph on stderr."""
    stage = f"[{exc.stage}] " if exc.stage else ""
    text = redact(f"error: {stage}{exc.message}")
    err_console.print(text, markup=False, style="bold red")
    if exc.hint:
        err_console.print(redact(f"hint: {exc.hint}"), markup=False, style="yellow")
