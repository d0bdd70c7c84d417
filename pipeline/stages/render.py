"""The render stage: every shot that is not in the cache is rendered by its backend, concurrently.

Clips land in the content-addressed cache atomically (rendered to a temporary file beside the cache entry,
then renamed), so a crash never leaves a half-written clip that later reads as a cache hit. Remix shots
wait for their source. One failed shot does not stop the others; the stage reports every failure at the
end, and a re-run renders only what is still missing.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.backends.base import RenderContext, RenderResult
from pipeline.errors import MediaError, PipelineError, RenderError
from pipeline.fsutil import atomic_output
from pipeline.media.probe import probe
from pipeline.plan import Plan, PlannedShot

__all__ = ["RenderFailure", "RenderReport", "render_shots"]


@dataclass
class RenderFailure:
    """A shot that could not be rendered."""

    shot_id: str
    message: str
    hint: str | None = None


@dataclass
class RenderReport:
    """What the render stage did."""

    rendered: dict[str, RenderResult] = field(default_factory=dict)
    cached: list[str] = field(default_factory=list)
    failures: list[RenderFailure] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    qc_cost_usd: float = 0.0  # re-renders under qc.policy rerender

    @property
    def cost_usd(self) -> float:
        return round(sum(r.cost_usd for r in self.rendered.values()) + self.qc_cost_usd, 4)


def _checked(shot: PlannedShot, tmp: Path, producer: str) -> None:
    try:
        info = probe(tmp)
    except MediaError as exc:
        raise RenderError(f"shot {shot.id!r}: {producer} produced an unreadable clip ({exc.message})",
                          shot_id=shot.id, hint="run again to retry") from exc
    if info.video is None:
        raise RenderError(f"shot {shot.id!r}: {producer} produced a clip without video", shot_id=shot.id)


def _render_one(plan: Plan, shot: PlannedShot, ctx: RenderContext, force: bool) -> RenderResult:
    """Produce a shot's clip: render it (or draw its title card), then apply its effect if it has one."""
    from pipeline.media import compose

    source = shot.raw_clip_path or shot.clip_path
    result = RenderResult(path=source)
    ctx.on_progress(shot.id, "starting", 0.0)
    if shot.kind == "render" and (force or not source.is_file()):
        assert shot.request is not None
        with atomic_output(source) as tmp:
            result = plan.backend.render(shot.request, tmp, ctx)
            _checked(shot, tmp, f"the {plan.backend.name} backend")
    elif shot.kind == "card" and (force or not source.is_file()):
        assert shot.card is not None
        card = shot.card
        with atomic_output(source) as tmp:
            result.info = compose.render_title_card(
                tmp, text=card["text"], seconds=card["seconds"], width=plan.width, height=plan.height,
                fps=plan.fps, background=card["background"], color=card["color"],
                font=Path(card["font"]) if card["font"] else None, size=card["size"], animation=card["animation"])
            _checked(shot, tmp, "the title card")
            if ctx.derived_signer is not None:
                ctx.derived_signer(tmp, "card", shot.id, None)
    if shot.effect is not None:
        ctx.on_progress(shot.id, "effect", None)
        func = compose.load_effect(shot.effect, search_dir=plan.loaded.base_dir)
        with atomic_output(shot.clip_path) as tmp:
            compose.apply_effect(source, tmp, func, width=plan.width, height=plan.height, fps=plan.fps)
            _checked(shot, tmp, f"the effect {shot.effect}")
            if ctx.derived_signer is not None:
                ctx.derived_signer(tmp, "effect", shot.id, source)
    result.path = shot.clip_path
    ctx.on_progress(shot.id, "done", 1.0)
    return result


def render_shots(plan: Plan, ctx: RenderContext, *, force: bool = False) -> RenderReport:
    """Render every shot of ``plan`` that is not cached (all of them with ``force``).

    Returns a report; failures are collected in it rather than raised, so the caller decides.
    """
    report = RenderReport()
    todo: dict[str, PlannedShot] = {}
    for s in plan.shots:
        if s.kind == "video" and s.effect is None:
            continue
        if s.cached and not force:
            report.cached.append(s.id)
            ctx.on_progress(s.id, "cached", 1.0)
            continue
        todo[s.id] = s
    if not todo:
        return report

    concurrency = max(1, int(getattr(plan.backend, "concurrency", 1) or 1))
    lock = threading.Lock()
    failed: set[str] = set()

    def ready(s: PlannedShot) -> bool:
        src = s.request.remix_of if s.request else None
        return src is None or src not in todo or src in report.rendered

    def blocked(s: PlannedShot) -> bool:
        src = s.request.remix_of if s.request else None
        return src is not None and src in failed

    def run(s: PlannedShot) -> RenderResult:
        t0 = time.monotonic()
        try:
            return _render_one(plan, s, ctx, force)
        finally:
            with lock:
                report.seconds[s.id] = round(time.monotonic() - t0, 3)

    pending = dict(todo)
    running: dict[Future[RenderResult], PlannedShot] = {}

    def schedule(pool: ThreadPoolExecutor) -> None:
        while pending or running:
            for sid in list(pending):
                s = pending[sid]
                if blocked(s):
                    del pending[sid]
                    failed.add(sid)
                    source = s.request.remix_of if s.request else None
                    report.failures.append(RenderFailure(sid, f"its remix source {source!r} failed to render"))
                    ctx.on_progress(sid, "failed", None)
                elif ready(s) and len(running) < concurrency:
                    del pending[sid]
                    running[pool.submit(run, s)] = s
            if not running:
                if pending:  # nothing can start: a dependency cycle slipped through validation
                    for sid in pending:
                        report.failures.append(RenderFailure(sid, "its remix source never rendered"))
                    break
                continue
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in done:
                s = running.pop(fut)
                try:
                    result = fut.result()
                except (PipelineError, ValueError) as exc:
                    if isinstance(exc, ValueError):  # a user effect that no longer imports
                        exc = RenderError(str(exc), shot_id=s.id)
                    failed.add(s.id)
                    report.failures.append(RenderFailure(s.id, exc.message, exc.hint))
                    ctx.on_progress(s.id, "failed", None)
                else:
                    report.rendered[s.id] = result
                    ctx.completed[s.id] = result
                    s.cached = False

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        try:
            schedule(pool)
        except KeyboardInterrupt:
            # Ctrl-C reaches the main thread only: ask the backend to cancel its jobs in flight
            # (hosted backends cancel and journal them), drop what has not started, then stop
            interrupt = getattr(plan.backend, "interrupt", None)
            if callable(interrupt):
                interrupt()
            for fut in running:
                fut.cancel()
            raise
    return report
