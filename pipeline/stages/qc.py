"""The QC stage: analyse every clip before the edit and apply the recipe's policy.

``qc.policy``: ``off`` (skip), ``warn`` (report), ``fail`` (stop before the edit when a clip fails), or
``rerender`` (render a failing shot again with a new seed — a new job on a hosted backend, counted against
the budget — up to ``max_attempts`` renders, and keep the best attempt). Results are cached per clip and
thresholds in ``.reelpipe/qc/``, so a warm run does not analyse unchanged clips again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.backends.base import RenderContext
from pipeline.errors import QCError
from pipeline.fsutil import write_json_atomic
from pipeline.plan import Plan, PlannedShot, cache_path_for, render_cache_key

__all__ = ["QCReport", "run_qc"]

QC_CACHE_VERSION = 1


@dataclass
class QCReport:
    """Per-shot QC results (``ClipQC.to_dict()``) and every re-render attempt."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    cost_usd: float = 0.0


def _camera_expectations(shot: PlannedShot) -> tuple[list[tuple[float, float]] | None, bool | None, str | None]:
    """Hold intervals, whether motion is expected, and the camera name, from the shot's camera plan."""
    if shot.request is None:
        return None, None, None
    try:
        from pipeline.camera import hold_intervals, plan_camera

        cam = plan_camera(shot.request.prompt, shot.request.camera, shot.request.seconds)
    except Exception:  # an unplannable camera was already reported by validation; QC still runs
        return None, None, None
    moving = bool(cam.moves())
    name = shot.request.camera if isinstance(shot.request.camera, str) else None
    return hold_intervals(cam), moving, name


def _analyze(plan: Plan, shot: PlannedShot, clip: Path) -> dict[str, Any]:
    from pipeline.qc import analyze_clip

    thresholds = dict(plan.loaded.recipe.qc.thresholds)
    holds, expects_motion, camera = _camera_expectations(shot)
    reference = shot.request.image if shot.request is not None and shot.effect is None else None
    stat = clip.stat()
    key = render_cache_key({"clip": str(clip), "size": stat.st_size, "mtime": stat.st_mtime_ns,
                            "thresholds": thresholds, "holds": holds, "motion": expects_motion,
                            "reference": str(reference) if reference else None, "v": QC_CACHE_VERSION})
    cached = plan.work_dir / "qc" / f"{key}.json"
    if cached.is_file():
        try:
            data: dict[str, Any] = json.loads(cached.read_text(encoding="utf-8"))
            return data
        except (OSError, ValueError):
            pass
    result = analyze_clip(clip, reference=reference, holds=holds, expects_motion=expects_motion,
                          thresholds=thresholds or None, camera=camera).to_dict()
    result.pop("series", None)  # per-frame curves are for plots, not for the run summary
    write_json_atomic(cached, result)
    return result


def _summary(result: dict[str, Any]) -> str:
    findings = result.get("findings") or []
    parts = [f"{f.get('metric')} at {f.get('start_s', 0):.2f} s" for f in findings[:3]]
    return ", ".join(parts) + (f" (+{len(findings) - 3} more)" if len(findings) > 3 else "")


def run_qc(plan: Plan, ctx: RenderContext, *, budget_left: float | None = None) -> QCReport:
    """Analyse every clip and apply ``qc.policy``. Raises QCError under ``fail`` when a clip fails."""
    from pipeline.qc import best_attempt
    from pipeline.stages.render import render_shots

    spec = plan.loaded.recipe.qc
    report = QCReport()
    if spec.policy == "off":
        return report
    for shot in plan.shots:
        report.results[shot.id] = _analyze(plan, shot, shot.clip_path)

    if spec.policy == "rerender":
        for shot in plan.shots:
            first = report.results[shot.id]
            if first.get("verdict") != "fail" or shot.kind != "render" or shot.request is None:
                continue
            attempts = [{"attempt": 1, "seed": shot.request.seed, "clip": str(shot.clip_path),
                         "verdict": first.get("verdict"), "qc": first}]
            candidates = [first]
            paths = [shot.clip_path]
            for attempt in range(2, spec.max_attempts + 1):
                cost = plan.backend.estimate_cost(shot.request)
                if budget_left is not None and report.cost_usd + cost > budget_left + 1e-9:
                    report.notes.append(f"{shot.id}: no re-render attempt {attempt}: it would exceed the budget")
                    break
                seed = shot.request.seed + 1000 * (attempt - 1)
                request = replace(shot.request, seed=seed,
                                  cache_key=render_cache_key({"base": shot.request.cache_key, "attempt": attempt}))
                clip = cache_path_for(plan.cache_dir, request.cache_key)
                retry = PlannedShot(id=shot.id, kind="render", clip_path=clip, cached=clip.is_file(),
                                    timing=shot.timing, request=request, cost_usd=cost)
                sub = Plan(loaded=plan.loaded, backend=plan.backend, output_path=plan.output_path, width=plan.width,
                           height=plan.height, fps=plan.fps, shots=[retry], clips=[], duration_s=0.0,
                           cache_dir=plan.cache_dir, work_dir=plan.work_dir)
                rendered = render_shots(sub, ctx)
                if rendered.failures:
                    report.notes.append(f"{shot.id}: re-render attempt {attempt} failed: "
                                        f"{rendered.failures[0].message}")
                    break
                report.cost_usd += rendered.cost_usd
                result = _analyze(plan, retry, clip)
                attempts.append({"attempt": attempt, "seed": seed, "clip": str(clip),
                                 "verdict": result.get("verdict"), "qc": result})
                candidates.append(result)
                paths.append(clip)
                if result.get("verdict") != "fail":
                    break
            best = best_attempt(candidates)
            for a in attempts:
                a["kept"] = a["attempt"] == best + 1
            report.attempts[shot.id] = attempts
            if best:
                _use_clip(plan, shot, paths[best])
            report.results[shot.id] = candidates[best]
            report.notes.append(f"{shot.id}: QC failed on attempt 1; kept attempt {best + 1} of {len(attempts)} "
                                f"({candidates[best].get('verdict')})")

    failing = {sid: r for sid, r in report.results.items() if r.get("verdict") == "fail"}
    for sid, r in report.results.items():
        if r.get("verdict") in ("warn", "fail") and not (spec.policy == "fail" and sid in failing):
            report.notes.append(f"{sid}: QC {r.get('verdict')}: {_summary(r)}")
    if spec.policy == "fail" and failing:
        lines = "\n".join(f"  {sid}: {_summary(r)}" for sid, r in failing.items())
        raise QCError(f"{len(failing)} clip(s) fail quality control:\n{lines}",
                      hint="re-render them (--force or a new seed), set qc.policy: rerender, relax qc.thresholds, "
                           "or check them with 'reelpipe qc CLIP'")
    return report


def _use_clip(plan: Plan, shot: PlannedShot, clip: Path) -> None:
    """Point the shot and every timeline clip of it at ``clip`` (the kept attempt)."""
    shot.clip_path = clip
    plan.clips[:] = [replace(c, clip_path=clip) if c.shot_id == shot.id else c for c in plan.clips]
