"""What the emulator commands (``reelpipe emulator``, ``reelpipe fal-emulator``) share: their common
options, checking them, reading the emulator's key, and serving until Ctrl-C with a banner and a warning
when the address is not loopback. Each command keeps its own contract-specific options and emulator."""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from pipeline.errors import UsageError

__all__ = ["add_log_level", "add_server_options", "add_worker_options", "emulator_key", "serve"]


class _Served(Protocol):
    """An emulator the commands serve: it must be closed when serving ends."""

    def close(self) -> None:
        """Stop its workers and remove its temporary storage."""
        ...


def add_server_options(p: argparse.ArgumentParser, *, port: int, key_env: str, key_help: str,
                       latency_help: str) -> None:
    """Add ``--host``, ``--port``, ``--api-key``, ``--faults``, ``--latency`` and ``--seed``."""
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=port, help=f"port to listen on (default {port}; 0 picks one)")
    p.add_argument("--api-key", default=None, metavar="KEY",
                   help=f"{key_help} (default: ${key_env}, else any non-empty key)")
    p.add_argument("--faults", default=None, metavar="SPEC", help="fault injection spec (see below)")
    p.add_argument("--latency", type=float, default=5.0, metavar="S", help=latency_help)
    p.add_argument("--seed", type=int, default=0, help="seed for probabilistic faults (default 0)")


def add_worker_options(p: argparse.ArgumentParser) -> None:
    """Add ``--workers`` and ``--storage``."""
    p.add_argument("--workers", type=int, default=2, help="clips rendered at once (default 2)")
    p.add_argument("--storage", type=Path, default=None, metavar="DIR",
                   help="keep uploads and clips here (default: a temporary folder removed on exit)")


def add_log_level(p: argparse.ArgumentParser) -> None:
    """Add ``--log-level``."""
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn's log level (default warning; info logs each request)")


def emulator_key(args: argparse.Namespace, key_env: str) -> str | None:
    """The only key the emulator accepts (``--api-key``, else ``$key_env``; None: any), registered for
    redaction; then the common options are checked.

    Raises:
        UsageError: ``--latency`` is negative or ``--port`` is not a port number.
    """
    from pipeline.secrets import register_secret

    api_key: str | None = args.api_key or os.environ.get(key_env) or None
    register_secret(api_key)
    if args.latency < 0:
        raise UsageError("--latency must not be negative")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: not a port number")
    return api_key


def serve(emulator: _Served, run_server: Callable[..., Any], args: argparse.Namespace, banner: str) -> int:
    """Print ``banner``, warn when ``--host`` is not loopback, serve ``emulator`` with ``run_server`` until
    interrupted, and close it. Returns the exit code."""
    from pipeline.cli._common import err_console

    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    err_console.print(banner, markup=False)
    if not loopback:
        err_console.print(f"warning: listening on {args.host}, not loopback: anyone who can reach it can use it",
                          markup=False, style="yellow")
    try:
        run_server(emulator, host=args.host, port=args.port, log_level=args.log_level)
    finally:
        emulator.close()
    return 0
