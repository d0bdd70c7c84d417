"""``reelpipe fal-emulator``: serve a local fal.ai queue API (for demos, tests and trying recipes for free)."""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.cli._serve import add_log_level, add_server_options, add_worker_options, emulator_key, serve

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
    add_server_options(p, port=8124, key_env=_KEY_ENV, key_help="the only key accepted",
                       latency_help="seconds from submission to COMPLETED (default 5)")
    p.add_argument("--fps", type=int, default=None, help="frame rate of rendered clips (default: the model's)")
    add_worker_options(p)
    p.add_argument("--sign", action="store_true",
                   help="sign clips with the emulator's own C2PA identity (real fal clips usually carry none, and "
                        "reelpipe then signs them itself)")
    add_log_level(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the fal emulator and serve until interrupted. Returns the exit code."""
    from pipeline.backends.fal_emulator import FalEmulator, run_fal_server

    api_key = emulator_key(args, _KEY_ENV)
    emulator = FalEmulator(api_key=api_key, faults=args.faults, latency=args.latency, fps=args.fps,
                           workers=max(1, args.workers), storage_dir=args.storage, sign=args.sign, seed=args.seed)
    return serve(emulator, run_fal_server, args, (
        f"reelpipe fal-emulator: fal queue API at http://{args.host}:{args.port} — latency {args.latency:g} s, "
        f"faults {emulator.faults.describe()}, key {'required' if api_key else 'any'}, "
        f"{len(emulator.models.names())} models. Ctrl-C stops it."))
