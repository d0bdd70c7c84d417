"""Fixtures for the hosted-backend tests: an emulator (OpenAI Videos or fal) on a loopback port, a test key,
fast backends, requests for tiny models.

Every test drives the real HTTP client against an emulator over real sockets (uvicorn in a thread, on a
free port). No test reaches the internet or needs a real key: the autouse fixture below removes every
hosted-service key from the environment, and the test keys are random values set per test.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pipeline.backends.base import RenderContext, RenderRequest
from pipeline.backends.emulator import Emulator, RunningEmulator, serve_in_thread
from pipeline.backends.fal import FalBackend
from pipeline.backends.fal_emulator import FalEmulator, RunningFalEmulator, serve_fal_in_thread
from pipeline.backends.openai import OpenAIBackend

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"

TINY_MODELS: dict[str, Any] = {
    "tiny": {"sizes": ["320x180", "180x320"], "seconds": [1, 2, 4], "usd_per_second": 0.01},
}
"""A test model with small sizes and short clips, so every render takes a fraction of a second."""

KEY_ENV = "REELPIPE_TEST_VIDEOS_KEY"

FAL_KEY_ENV = "REELPIPE_TEST_FAL_KEY"
FAL_TINY_MODEL = "test/tiny/image-to-video"
FAL_TINY_MODELS: dict[str, Any] = {
    FAL_TINY_MODEL: {
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
"""A fal model shaped like Veo's (``"1s"`` durations, aspect ratio and resolution fields) whose clips are tiny."""

_HOSTED_KEYS = ("OPENAI_API_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_BASE_URL", "FAL_KEY",
                "FAL_API_KEY", "REELPIPE_EMULATOR_API_KEY", KEY_ENV)


@pytest.fixture(autouse=True)
def _no_hosted_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test can reach a paid service: every hosted key (and base URL override) is removed."""
    for name in _HOSTED_KEYS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A random key, set in :data:`KEY_ENV`, that the emulators of this test require."""
    key = "sk-test-" + secrets.token_hex(12)
    monkeypatch.setenv(KEY_ENV, key)
    return key


@pytest.fixture
def emulator_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The emulator's own signing home, apart from the user's REELPIPE_HOME."""
    return tmp_path_factory.mktemp("emulator-home")


@pytest.fixture
def fal_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A random key in :data:`FAL_KEY_ENV`, required by the fal emulators of this test."""
    key = "fal-test-" + secrets.token_hex(12)
    monkeypatch.setenv(FAL_KEY_ENV, key)
    return key


def _serving(make: Callable[..., Any], serve: Callable[[Any], AbstractContextManager[T]],
             defaults: dict[str, Any]) -> Iterator[Callable[..., T]]:
    """The body of a ``serve_*`` fixture: ``make(**defaults | kwargs)`` an emulator, serve it in a thread;
    after the test, stop every server (last first) and close its emulator."""
    started: list[tuple[Any, AbstractContextManager[T]]] = []

    def _serve(**kwargs: Any) -> T:
        emu = make(**{**defaults, **kwargs})
        cm = serve(emu)
        running = cm.__enter__()
        started.append((emu, cm))
        return running

    yield _serve
    for emu, cm in reversed(started):
        cm.__exit__(None, None, None)
        emu.close()


def _closing(build: Callable[..., T]) -> Iterator[Callable[..., T]]:
    """The body of a ``make_*`` fixture: ``build(running, **overrides)`` a backend; close each after the test."""
    made: list[Any] = []

    def _make(running: Any, **overrides: Any) -> T:
        backend = build(running, **overrides)
        made.append(backend)
        return backend

    yield _make
    for b in made:
        b.close()


@pytest.fixture
def serve_emulator(api_key: str, emulator_home: Path) -> Iterator[Callable[..., RunningEmulator]]:
    """``serve_emulator(**Emulator kwargs)`` starts an emulator on a free loopback port for this test.

    Defaults: the test key required, the tiny model, 0.4 s latency, no signing (tests that check the
    manifest pass ``sign=True``).
    """
    yield from _serving(Emulator, serve_in_thread, {
        "api_key": api_key, "models": TINY_MODELS, "latency": 0.4, "sign": False, "home": emulator_home, "fps": 15,
    })


@pytest.fixture
def serve_fal(fal_key: str) -> Iterator[Callable[..., RunningFalEmulator]]:
    """``serve_fal(**FalEmulator kwargs)`` starts a fal emulator on a free loopback port for this test.

    Defaults: the test key required, the tiny model, 0.4 s latency, 12 fps, no signing.
    """
    yield from _serving(FalEmulator, serve_fal_in_thread,
                        {"api_key": fal_key, "models": FAL_TINY_MODELS, "latency": 0.4, "fps": 12})


_QUICK: dict[str, Any] = {
    "concurrency": 2,
    "retry_base_delay": 0.02,
    "retry_max_delay": 0.2,
    "poll_interval": 0.05,
    "poll_max_interval": 0.2,
    "timeout": 10,
}
"""Quick retries and polls, for every test backend."""


def fast_config(running: RunningEmulator, **overrides: Any) -> dict[str, Any]:
    """A backend block for ``running`` with quick retries and polls."""
    return {"name": "openai", "base_url": running.base_url, "api_key_env": KEY_ENV, "model": "tiny",
            "models": TINY_MODELS, **_QUICK, **overrides}


def fal_config(running: RunningFalEmulator, **overrides: Any) -> dict[str, Any]:
    """A fal ``backend:`` block for ``running`` with quick retries and polls."""
    return {"name": "fal", "base_url": running.base_url, "storage_url": running.base_url,
            "api_key_env": FAL_KEY_ENV, "model": FAL_TINY_MODEL, "models": FAL_TINY_MODELS, **_QUICK, **overrides}


@pytest.fixture
def make_backend() -> Iterator[Callable[..., OpenAIBackend]]:
    """``make_backend(running, **config overrides)`` builds an OpenAIBackend, closed after the test."""
    yield from _closing(lambda running, **overrides: OpenAIBackend(fast_config(running, **overrides)))


@pytest.fixture
def make_fal() -> Iterator[Callable[..., FalBackend]]:
    """``make_fal(running, **config overrides)`` builds a FalBackend, closed after the test."""
    yield from _closing(lambda running, **overrides: FalBackend(fal_config(running, **overrides)))


def request_for(shot_id: str, *, image: str | None = "coffee.jpg", prompt: str | None = None,
                seconds: float = 1, size: tuple[int, int] = (320, 180), remix_of: str | None = None,
                model: str | None = None, params: dict[str, Any] | None = None) -> RenderRequest:
    """A render request for the tiny model; the cache key is derived from the shot id and prompt."""
    prompt = prompt or f"Shot {shot_id}. Slow push in."
    return RenderRequest(
        shot_id=shot_id, prompt=prompt, image=(SAMPLES / image) if image else None, seconds=float(seconds),
        width=size[0], height=size[1], fps=15, seed=0, model=model, remix_of=remix_of,
        params=dict(params or {}), cache_key=f"key-{shot_id}-{abs(hash(prompt)) % 10**8}",
    )


def fal_request(shot_id: str, *, image: str | None = "coffee.jpg", prompt: str | None = None, seconds: float = 1,
                size: tuple[int, int] = (320, 180), model: str | None = None, seed: int = 7,
                remix_of: str | None = None) -> RenderRequest:
    """A render request for the tiny fal model; the cache key is derived from the shot id and prompt."""
    prompt = prompt or f"Shot {shot_id}. Slow push in."
    return RenderRequest(shot_id=shot_id, prompt=prompt, image=(SAMPLES / image) if image else None,
                         seconds=float(seconds), width=size[0], height=size[1], fps=12, seed=seed, model=model,
                         remix_of=remix_of, cache_key=f"fal-{shot_id}-{abs(hash(prompt)) % 10**8}")


def journal_entries(folder: Path) -> list[dict[str, Any]]:
    """The journal's entries, skipping writes in progress (hidden temporary files)."""
    out = []
    for path in folder.glob("*.json") if folder.is_dir() else []:
        if path.name.startswith("."):
            continue
        try:
            out.append(json.loads(path.read_text("utf-8")))
        except (FileNotFoundError, ValueError):
            continue
    return out


class ProgressLog:
    """Collects ``on_progress`` calls (thread-safe enough for list.append)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float | None]] = []

    def __call__(self, shot_id: str, state: str, fraction: float | None) -> None:
        self.calls.append((shot_id, state, fraction))

    def states(self, shot_id: str) -> list[str]:
        out: list[str] = []
        for sid, state, _ in self.calls:
            if sid == shot_id and (not out or out[-1] != state):
                out.append(state)
        return out


@pytest.fixture
def render_ctx(tmp_path: Path) -> RenderContext:
    """A render context whose work dir (journal) is inside the test's folder, with a progress log."""
    return RenderContext(work_dir=tmp_path / ".reelpipe", on_progress=ProgressLog())
