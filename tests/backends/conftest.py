"""Fixtures for the hosted-backend tests: an emulator on a loopback port, a test key, fast backends.

Every test drives the real HTTP client against the emulator over real sockets (uvicorn in a thread, on a
free port). No test reaches the internet or needs a real key: the autouse fixture below removes every
hosted-service key from the environment, and the test key is a random value set per test.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.backends.base import RenderContext, RenderRequest
from pipeline.backends.emulator import Emulator, RunningEmulator, serve_in_thread
from pipeline.backends.openai import OpenAIBackend

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"

TINY_MODELS: dict[str, Any] = {
    "tiny": {"sizes": ["320x180", "180x320"], "seconds": [1, 2, 4], "usd_per_second": 0.01},
}
"""A test model with small sizes and short clips, so every render takes a fraction of a second."""

KEY_ENV = "REELPIPE_TEST_VIDEOS_KEY"

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
def serve_emulator(api_key: str, emulator_home: Path) -> Iterator[Callable[..., RunningEmulator]]:
    """``serve_emulator(**Emulator kwargs)`` starts an emulator on a free loopback port for this test.

    Defaults: the test key required, the tiny model, 0.4 s latency, no signing (tests that check the
    manifest pass ``sign=True``).
    """
    started: list[tuple[Emulator, Any]] = []

    def _serve(**kwargs: Any) -> RunningEmulator:
        kwargs.setdefault("api_key", api_key)
        kwargs.setdefault("models", TINY_MODELS)
        kwargs.setdefault("latency", 0.4)
        kwargs.setdefault("sign", False)
        kwargs.setdefault("home", emulator_home)
        kwargs.setdefault("fps", 15)
        emu = Emulator(**kwargs)
        cm = serve_in_thread(emu)
        running = cm.__enter__()
        started.append((emu, cm))
        return running

    yield _serve
    for emu, cm in reversed(started):
        cm.__exit__(None, None, None)
        emu.close()


def fast_config(running: RunningEmulator, **overrides: Any) -> dict[str, Any]:
    """A backend block for ``running`` with quick retries and polls."""
    config: dict[str, Any] = {
        "name": "openai",
        "base_url": running.base_url,
        "api_key_env": KEY_ENV,
        "model": "tiny",
        "models": TINY_MODELS,
        "concurrency": 2,
        "retry_base_delay": 0.02,
        "retry_max_delay": 0.2,
        "poll_interval": 0.05,
        "poll_max_interval": 0.2,
        "timeout": 10,
    }
    config.update(overrides)
    return config


@pytest.fixture
def make_backend() -> Iterator[Callable[..., OpenAIBackend]]:
    """``make_backend(running, **config overrides)`` builds an OpenAIBackend, closed after the test."""
    made: list[OpenAIBackend] = []

    def _make(running: RunningEmulator, **overrides: Any) -> OpenAIBackend:
        backend = OpenAIBackend(fast_config(running, **overrides))
        made.append(backend)
        return backend

    yield _make
    for b in made:
        b.close()


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
