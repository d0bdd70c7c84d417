"""The ``reelpipe`` command line: the only part of reelpipe that prints and exits.

Each command lives in its own module in this package and exposes ``register(subparsers)``, which adds its
parser and sets ``func`` to a function ``(args) -> int``. Modules are discovered by name, so a new command
is a new file. Every :class:`~pipeline.errors.PipelineError` becomes a one-paragraph message on stderr and
its exit code; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
import traceback
from collections.abc import Sequence

from pipeline import __version__
from pipeline.errors import PipelineError

__all__ = ["build_parser", "main"]

# the order commands are listed in --help
_ORDER = ["run", "validate", "plan", "lint", "schema", "qc", "audit", "keys", "export", "emulator",
          "fal-emulator"]


def _command_modules() -> list[str]:
    names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    return sorted(names, key=lambda n: (_ORDER.index(n.replace("_", "-")) if n.replace("_", "-") in _ORDER
                                        else len(_ORDER), n))


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every command registered."""
    parser = argparse.ArgumentParser(
        prog="reelpipe",
        description=(
            "Turn a recipe file into a finished, provenance-signed video sequence: render short clips "
            "from still images, check their C2PA provenance and quality, and edit them locally with "
            "ffmpeg. Start with: reelpipe run recipes/demo.yaml"
        ),
        epilog="Run 'reelpipe COMMAND --help' for a command's options. Exit codes: 0 ok, 1 run failure, "
               "2 usage or recipe error.",
    )
    parser.add_argument("--version", action="version", version=f"reelpipe {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks and debug logs (ffmpeg command lines); secrets stay hidden")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _command_modules():
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``reelpipe`` command. Returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from pipeline.secrets import install_log_redaction

    install_log_redaction()
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except PipelineError as exc:
        if debug:
            traceback.print_exc()
        from pipeline.cli._common import print_error

        print_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
