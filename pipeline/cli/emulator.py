"""``reelpipe emulator``: serve a local OpenAI Videos API (for demos, tests and trying recipes for free)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pipeline.cli._serve import add_log_level, add_server_options, add_worker_options, emulator_key, serve
from pipeline.errors import UsageError

__all__ = ["register", "run"]

_KEY_ENV = "REELPIPE_EMULATOR_API_KEY"


def register(subparsers: Any) -> None:
    """Add the ``emulator`` command."""
    p = subparsers.add_parser(
        "emulator",
        help="serve a local OpenAI Videos API backed by the local renderer",
        description=(
            "Serve the OpenAI Videos API contract under /v1 on loopback: create (multipart or JSON), "
            "retrieve, list, delete, content (video/thumbnail/spritesheet) and remix, validated as the service "
            "does. Jobs go queued -> in_progress -> completed over --latency seconds and are rendered by the "
            "local renderer, with a C2PA manifest signed by the emulator's own identity. Point a recipe's "
            "backend at it with base_url: http://127.0.0.1:8123/v1 (see recipes/emulator-demo.yaml)."),
        epilog=(
            "Fault spec: KIND:AMOUNT[:on=ENDPOINT[+...]][:after=S|:secs=S], comma-separated. KIND is 429, 500, "
            "502, 503, 504, slow, drop, truncate or moderation; AMOUNT below 1 is a probability per request, "
            "1 or more a count of the first eligible requests. Example: "
            "'429:0.3,500:2,slow:0.2:secs=3,moderation:1,truncate:1,drop:1:on=create'. See the README (Hosted rendering)."),
    )
    add_server_options(p, port=8123, key_env=_KEY_ENV, key_help="the only bearer key accepted",
                       latency_help="seconds a job takes from queued to completed (default 5)")
    p.add_argument("--models", type=Path, default=None, metavar="FILE",
                   help="YAML/JSON mapping of extra models (sizes, seconds, usd_per_second), as backend.models")
    p.add_argument("--fps", type=int, default=30, help="frame rate of rendered clips (default 30)")
    add_worker_options(p)
    p.add_argument("--home", type=Path, default=None, metavar="DIR",
                   help="the emulator's signing home (default $REELPIPE_EMULATOR_HOME or "
                        "~/.local/state/reelpipe-emulator; never your own REELPIPE_HOME)")
    p.add_argument("--no-sign", action="store_true", help="serve clips without a C2PA manifest")
    p.add_argument("--allow-faces", action="store_true",
                   help="accept reference images with human faces (the service rejected them)")
    p.add_argument("--no-idempotency", action="store_true",
                   help="ignore Idempotency-Key headers, like a service that does not support them")
    add_log_level(p)
    p.set_defaults(func=run)


def _load_models(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise UsageError(f"--models {path}: {exc.strerror or exc}") from exc
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except ValueError as exc:
        raise UsageError(f"--models {path}: not valid JSON/YAML ({exc})") from exc
    if isinstance(data, dict) and isinstance(data.get("models"), dict):
        data = data["models"]
    if not isinstance(data, dict):
        raise UsageError(f"--models {path}: expected a mapping of model name to capabilities")
    return data


def run(args: argparse.Namespace) -> int:
    """Start the emulator and serve until interrupted. Returns the exit code."""
    from pipeline.backends.emulator import Emulator, run_server

    api_key = emulator_key(args, _KEY_ENV)
    emulator = Emulator(api_key=api_key, faults=args.faults, latency=args.latency, models=_load_models(args.models),
                        storage_dir=args.storage, fps=args.fps, workers=max(1, args.workers),
                        idempotency=not args.no_idempotency, reject_faces=not args.allow_faces,
                        sign=not args.no_sign, home=args.home, seed=args.seed)
    return serve(emulator, run_server, args, (
        f"reelpipe emulator: OpenAI Videos API at http://{args.host}:{args.port}/v1 — latency {args.latency:g} s, "
        f"faults {emulator.faults.describe()}, key {'required' if api_key else 'any'}, "
        f"models {', '.join(emulator.models.names())}. Ctrl-C stops it."))
