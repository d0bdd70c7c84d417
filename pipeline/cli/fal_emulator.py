"""``reelpipe fal-emulator``: serve a local fal.ai queue API (for demos, tests and trying recipes for free)."""

from __future__ import annotations

import argparse
import ipaddress
import os
from pathlib import Path
from typing import Any

from pipeline.errors import UsageError

__all__ = ["register", "run"]

_KEY_ENV = "REELPIPE_FAL_EMULATOR_KEY"


def register(subparsers: Any) -> None:
    """Add the ``fal-emulator`` command."""
    p = subparsers.add_parser(
        "fal-emulator",
        help="serve a local fal.ai queue API backed by the local renderer",
        description=(
            "Serve fal's queue contract on loopback: submit (POST /{model}), status, result and cancel under "
            "/{app}/requests/{id}, and fal's storage upload, validated against the fal model table. Requests go "
            "IN_QUEUE -> IN_PROGRESS -> COMPLETED over --latency seconds and are rendered by the local renderer. "
            "Point a recipe at it with backend: {name: fal, base_url: http://127.0.0.1:8124, storage_url: "
            "http://127.0.0.1:8124, api_key_env: REELPIPE_FAL_EMULATOR_KEY}."),
        epilog=(
            "Fault spec: KIND:AMOUNT[:on=ENDPOINT[+...]][:after=S][:retry=0|1][:secs=S][:type=NAME], comma-separated. "
            "KIND is 429, 500, 502, 503, 504, 422, slow, drop, error, expire or gone; AMOUNT below 1 is a "
            "probability, 1 or more a count. Example: '429:1:after=0.5,503:2:retry=1,error:1,expire:1'. "
            "See the README (Render backends: fal.ai and diffusers)."),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8124, help="port to listen on (default 8124; 0 picks one)")
    p.add_argument("--api-key", default=None, metavar="KEY",
                   help=f"the only key accepted (default: ${_KEY_ENV}, else any non-empty key)")
    p.add_argument("--faults", default=None, metavar="SPEC", help="fault injection spec (see below)")
    p.add_argument("--latency", type=float, default=5.0, metavar="S",
                   help="seconds from submission to COMPLETED (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed for probabilistic faults (default 0)")
    p.add_argument("--fps", type=int, default=None, help="frame rate of rendered clips (default: the model's)")
    p.add_argument("--workers", type=int, default=2, help="clips rendered at once (default 2)")
    p.add_argument("--storage", type=Path, default=None, metavar="DIR",
                   help="keep uploads and clips here (default: a temporary folder removed on exit)")
    p.add_argument("--sign", action="store_true",
                   help="sign clips with the emulator's own C2PA identity (real fal clips usually carry none, and "
                        "reelpipe then signs them itself)")
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn's log level (default warning; info logs each request)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the fal emulator and serve until interrupted. Returns the exit code."""
    from pipeline.backends.fal_emulator import FalEmulator, run_fal_server
    from pipeline.cli._common import err_console
    from pipeline.secrets import register_secret

    api_key = args.api_key or os.environ.get(_KEY_ENV) or None
    register_secret(api_key)
    if args.latency < 0:
        raise UsageError("--latency must not be negative")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: not a port number")
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    emulator = FalEmulator(api_key=api_key, faults=args.faults, latency=args.latency, fps=args.fps,
                           workers=max(1, args.workers), storage_dir=args.storage, sign=args.sign, seed=args.seed)
    err_console.print(
        f"reelpipe fal-emulator: fal queue API at http://{args.host}:{args.port} — latency {args.latency:g} s, "
        f"faults {emulator.faults.describe()}, key {'required' if api_key else 'any'}, "
        f"{len(emulator.models.names())} models. Ctrl-C stops it.", markup=False)
    if not loopback:
        err_console.print(f"warning: listening on {args.host}, not loopback: anyone who can reach it can use it",
                          markup=False, style="yellow")
    try:
        run_fal_server(emulator, host=args.host, port=args.port, log_level=args.log_level)
    finally:
        emulator.close()
    return 0
