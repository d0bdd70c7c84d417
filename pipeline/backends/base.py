"""The render backend protocol.

A backend turns one :class:`RenderRequest` into one MP4 at a path it is given. It is a
:class:`typing.Protocol`, so a test double needs no inheritance. Hosted backends journal their job ids
through ``ctx.journal`` before polling, so a re-run resumes a job instead of paying for it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "Backend",
    "ProgressFn",
    "RenderContext",
    "RenderRequest",
    "RenderResult",
]

ProgressFn = Callable[[str, str, "float | None"], None]
"""``on_progress(shot_id, state, fraction)``: state is e.g. ``queued``, ``rendering``, ``downloading``,
``done``; fraction is 0..1 when known."""


@dataclass(frozen=True)
class RenderRequest:
    """Everything that determines one rendered clip. ``cache_key`` is derived from all of it."""

    shot_id: str
    prompt: str
    image: Path | None
    seconds: float
    width: int
    height: int
    fps: int
    seed: int
    camera: Any = None  # a camera name, a list of keyframed moves, or None (read from the prompt)
    model: str | None = None
    remix_of: str | None = None  # the shot id whose render this one remixes (hosted backends)
    depth: Path | None = None  # an optional depth image for 2.5D parallax (local backend)
    params: dict[str, Any] = field(default_factory=dict)  # backend-specific extras from the recipe
    cache_key: str = ""


@dataclass
class RenderResult:
    """What a backend reports about a finished render."""

    path: Path
    job_id: str | None = None
    cost_usd: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


def _no_progress(shot_id: str, state: str, fraction: float | None) -> None:
    return None


@dataclass
class RenderContext:
    """Shared state for one run's renders.

    Attributes:
        work_dir: the run's state folder (``.reelpipe/`` beside the recipe); journals live here.
        on_progress: progress callback, safe to call from worker threads.
        completed: shot id -> RenderResult of renders finished in this run (remix sources).
        signer: a callable that signs a freshly rendered clip in place (``signer(path, request, info)``),
            or None when the run does not sign.
    """

    work_dir: Path
    on_progress: ProgressFn = _no_progress
    completed: dict[str, RenderResult] = field(default_factory=dict)
    signer: Callable[[Path, RenderRequest, dict[str, Any]], None] | None = None
    derived_signer: Callable[[Path, str, str, Path | None], None] | None = None
    """``derived_signer(path, kind, shot_id, source)`` signs what reelpipe makes itself besides renders:
    ``kind`` is ``card`` (no source) or ``effect`` (``source`` is the clip the effect was applied to)."""


@runtime_checkable
class Backend(Protocol):
    """A render backend. Implementations must be safe to call from several threads at once."""

    name: str

    def estimate_cost(self, request: RenderRequest) -> float:
        """Estimated price in USD of rendering ``request`` (0 for local renderers)."""
        ...

    def preflight(self, request: RenderRequest) -> list[str]:
        """Check a request before anything is paid for; return warnings, raise RenderError on errors."""
        ...

    def render(self, request: RenderRequest, dest: Path, ctx: RenderContext) -> RenderResult:
        """Render ``request`` into the MP4 file ``dest`` (a temporary path the caller renames)."""
        ...
