"""Fixtures and helpers for the fal backend tests: a fal emulator on a loopback port, a test key, a tiny model.

Import the fixtures into a test module (``from tests.backends.fal_conftest_helpers import fal_key, serve_fal``)
so pytest finds them. Every test drives the real HTTP client against the emulator over real sockets; no test
reaches the internet or needs a real key (the autouse fixtures remove ``FAL_KEY`` and friends).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.backends.base import RenderRequest
from pipeline.backends.fal import FalBackend
from pipeline.backends.fal_emulator import FalEmulator, RunningFalEmulator, serve_fal_in_thread

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"

FAL_KEY_ENV = "REELPIPE_TEST_FAL_KEY"
TINY_MODEL = "test/tiny/image-to-video"
TINY_MODELS: dict[str, Any] = {
    TINY_MODEL: {
        "title": "a tiny Veo-shaped test model",
        "duration_style": "suffix_s",
        "durations": [1, 2],
        "aspect_ratios": ["16:9", "9:16"],
        "resolutions": ["180p", "360p"],
        "default_resolution": "180p",
        "fps": 12,
        "seed_field": "seed",
        "audio_field": "generate_audio",
        "audio_default": False,
        "usd_per_second": 0.01,
        "usd_per_second_audio": 0.02,
    },
}
"""A model shaped like Veo's (``"1s"`` durations, aspect ratio and resolution fields) whose clips are tiny."""


@pytest.fixture
def fal_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A random key in :data:`FAL_KEY_ENV`, required by the emulators of this test."""
    key = "fal-test-" + secrets.token_hex(12)
    monkeypatch.setenv(FAL_KEY_ENV, key)
    return key


@pytest.fixture
def serve_fal(fal_key: str) -> Iterator[Callable[..., RunningFalEmulator]]:
    """``serve_fal(**FalEmulator kwargs)`` starts a fal emulator on a free loopback port for this test.

    Defaults: the test key required, the tiny model, 0.4 s latency, 12 fps, no signing.
    """
    started: list[tuple[FalEmulator, Any]] = []

    def _serve(**kwargs: Any) -> RunningFalEmulator:
        kwargs.setdefault("api_key", fal_key)
        kwargs.setdefault("models", TINY_MODELS)
        kwargs.setdefault("latency", 0.4)
        kwargs.setdefault("fps", 12)
        emu = FalEmulator(**kwargs)
        cm = serve_fal_in_thread(emu)
        running = cm.__enter__()
        started.append((emu, cm))
        return running

    yield _serve
    for emu, cm in reversed(started):
        cm.__exit__(None, None, None)
        emu.close()


def fal_config(running: RunningFalEmulator, **overrides: Any) -> dict[str, Any]:
    """A ``backend:`` block for ``running`` with quick retries and polls."""
    config: dict[str, Any] = {
        "name": "fal", "base_url": running.base_url, "storage_url": running.base_url, "api_key_env": FAL_KEY_ENV,
        "model": TINY_MODEL, "models": TINY_MODELS, "concurrency": 2, "retry_base_delay": 0.02,
        "retry_max_delay": 0.2, "poll_interval": 0.05, "poll_max_interval": 0.2, "timeout": 10,
    }
    config.update(overrides)
    return config


@pytest.fixture
def make_fal() -> Iterator[Callable[..., FalBackend]]:
    """``make_fal(running, **config overrides)`` builds a FalBackend, closed after the test."""
    made: list[FalBackend] = []

    def _make(running: RunningFalEmulator, **overrides: Any) -> FalBackend:
        backend = FalBackend(fal_config(running, **overrides))
        made.append(backend)
        return backend

    yield _make
    for b in made:
        b.close()


def fal_request(shot_id: str, *, image: str | None = "coffee.jpg", prompt: str | None = None, seconds: float = 1,
                size: tuple[int, int] = (320, 180), model: str | None = None, seed: int = 7,
                remix_of: str | None = None) -> RenderRequest:
    """A render request for the tiny model; the cache key is derived from the shot id and prompt."""
    prompt = prompt or f"Shot {shot_id}. Slow push in."
    return RenderRequest(shot_id=shot_id, prompt=prompt, image=(SAMPLES / image) if image else None,
                         seconds=float(seconds), width=size[0], height=size[1], fps=12, seed=seed, model=model,
                         remix_of=remix_of, cache_key=f"fal-{shot_id}-{abs(hash(prompt)) % 10**8}")
