"""Recipe -> Plan: what will be rendered, what is cached, and how the timeline is cut.

Planning reads files (image bytes for cache keys, probes of given clips, the cache folder) but writes
nothing and contacts no service, so ``reelpipe plan`` is a dry run and its JSON is a stable golden.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.backends import create_backend
from pipeline.backends.base import Backend, RenderRequest
from pipeline.errors import PipelineError, RecipeError, RenderError
from pipeline.media.compose import COMPOSE_VERSION
from pipeline.recipe import LoadedRecipe, Shot, load_recipe, parse_size
from pipeline.validate import DEFAULT_SECONDS, ShotTiming, shot_timings

__all__ = ["Plan", "PlannedOverlay", "PlannedShot", "TimelineClip", "cache_path_for", "make_plan", "render_cache_key"]


@dataclass
class PlannedShot:
    """One shot of the plan: how its clip is obtained and where it lives."""

    id: str
    kind: str  # "render" or "video"
    clip_path: Path
    cached: bool
    timing: ShotTiming
    request: RenderRequest | None = None
    cost_usd: float = 0.0
    warnings: list[str] = field(default_factory=list)
    raw_clip_path: Path | None = None  # the clip before a user effect (None: no effect)
    effect: str | None = None  # "module:function" applied with moviepy
    card: dict[str, Any] | None = None  # title-card settings (kind "card")

    @property
    def render_needed(self) -> bool:
        """A paid/CPU render is needed: the backend's clip is not in the cache."""
        if self.kind != "render":
            return False
        source = self.raw_clip_path or self.clip_path
        return not source.is_file()


@dataclass(frozen=True)
class TimelineClip:
    """One shot's place on the timeline; ``transition_in`` is shared with the previous clip."""

    shot_id: str
    clip_path: Path
    start: float  # seconds inside the clip
    end: float
    speed: float
    volume: float
    mute: bool
    timeline_start: float  # where the clip begins in the output (transition overlap included)
    transition_in: tuple[str, float] | None  # (xfade type, seconds) with the previous clip

    @property
    def duration(self) -> float:
        return (self.end - self.start) / self.speed


@dataclass(frozen=True)
class PlannedOverlay:
    """An overlay with its paths resolved and its end time known."""

    kind: str  # text, image, pip
    start: float
    end: float
    spec: Any  # the recipe's Overlay
    image: Path | None = None
    font: Path | None = None
    pip_shot: str | None = None


@dataclass
class Plan:
    """Everything the runner needs; :meth:`to_dict` is the ``reelpipe plan --json`` output."""

    loaded: LoadedRecipe
    backend: Backend
    output_path: Path
    width: int
    height: int
    fps: int
    shots: list[PlannedShot]
    clips: list[TimelineClip]
    duration_s: float
    cache_dir: Path
    work_dir: Path
    warnings: list[str] = field(default_factory=list)
    overlays: list[PlannedOverlay] = field(default_factory=list)

    @property
    def recipe_path(self) -> Path:
        return self.loaded.path

    @property
    def cost_usd(self) -> float:
        """Estimated cost of the renders still to do (cache hits are free)."""
        return round(sum(s.cost_usd for s in self.shots if s.render_needed), 4)

    @property
    def rerender_max_usd(self) -> float:
        """Most that QC re-renders could add (``qc.policy: rerender``): every rendered shot failing every time.
        Re-renders are held against the budget as they happen, so the run never exceeds it."""
        qc = self.loaded.recipe.qc
        if qc.policy != "rerender":
            return 0.0
        return round(sum(s.cost_usd for s in self.shots if s.kind == "render") * (qc.max_attempts - 1), 4)

    def shot(self, shot_id: str) -> PlannedShot:
        return next(s for s in self.shots if s.id == shot_id)

    def to_dict(self, *, relative: bool = False) -> dict[str, Any]:
        """A JSON-ready description. With ``relative``, paths are relative to the recipe folder."""
        base = self.loaded.base_dir

        def p(path: Path) -> str:
            return os.path.relpath(path, base) if relative else str(path)

        recipe = self.loaded.recipe
        return {
            "recipe": p(self.recipe_path),
            "title": recipe.title,
            "output": p(self.output_path),
            "size": f"{self.width}x{self.height}",
            "fps": self.fps,
            "profile": recipe.output.profile,
            "backend": self.backend.name,
            "duration_s": round(self.duration_s, 6),
            "frames": int(round(self.duration_s * self.fps)),
            "cost_usd": self.cost_usd,
            "renders_needed": sum(1 for s in self.shots if s.render_needed),
            "qc_rerender_max_usd": self.rerender_max_usd,
            "cache_dir": p(self.cache_dir),
            "shots": [
                {
                    "id": s.id,
                    "kind": s.kind,
                    "clip": p(s.clip_path),
                    "cached": s.cached,
                    "cache_key": s.request.cache_key if s.request else None,
                    "seconds": round(s.timing.clip_seconds, 6),
                    "trim": [round(s.timing.start, 6), round(s.timing.end, 6)],
                    "duration_s": round(s.timing.duration, 6),
                    "cost_usd": round(s.cost_usd, 4),
                    "camera": s.request.camera if s.request else None,
                    "remix_of": s.request.remix_of if s.request else None,
                    "effect": s.effect,
                    "warnings": s.warnings,
                }
                for s in self.shots
            ],
            "timeline": [
                {
                    "shot": c.shot_id,
                    "start_s": round(c.timeline_start, 6),
                    "duration_s": round(c.duration, 6),
                    "in_s": round(c.start, 6),
                    "out_s": round(c.end, 6),
                    "transition_in": ({"type": c.transition_in[0], "duration": c.transition_in[1]}
                                      if c.transition_in else None),
                }
                for c in self.clips
            ],
            "overlays": [{"kind": o.kind, "start_s": round(o.start, 6), "end_s": round(o.end, 6)}
                         for o in self.overlays],
            "warnings": self.warnings,
        }


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def render_cache_key(fields: dict[str, Any]) -> str:
    """The content address of a render: SHA-256 of the canonical JSON of everything that changes it."""
    blob = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def cache_path_for(cache_dir: Path, key: str) -> Path:
    """Where the clip with cache key ``key`` lives."""
    return cache_dir / key[:2] / f"{key}.mp4"


def _backend_version(backend: Backend) -> str:
    version = getattr(backend, "version", None)
    return str(version()) if callable(version) else backend.name


def _build_request(loaded: LoadedRecipe, shot: Shot, backend: Backend, sources: dict[str, RenderRequest],
                   width: int, height: int, fps: int) -> RenderRequest:
    recipe = loaded.recipe
    base = shot
    if shot.remix_of:
        src = sources[shot.remix_of]
        image = src.image
        seconds = shot.seconds or src.seconds
        camera = shot.camera if shot.camera is not None else src.camera
        seed = shot.seed if shot.seed is not None else src.seed
        depth = src.depth
        w, h = (parse_size(shot.size) if shot.size else (src.width, src.height))
    else:
        image = loaded.resolve(base.image) if base.image else None
        seconds = shot.seconds or DEFAULT_SECONDS
        camera = shot.camera
        seed = shot.seed or 0
        depth = loaded.resolve(shot.depth) if shot.depth else None
        w, h = parse_size(shot.size) if shot.size else (width, height)
    model = shot.model or recipe.backend.model
    key_fields = {
        "backend": backend.name,
        "backend_version": _backend_version(backend),
        "model": model,
        "prompt": shot.prompt,
        "image_sha256": _sha256_file(image) if image and image.is_file() else None,
        "depth_sha256": _sha256_file(depth) if depth and depth.is_file() else None,
        "seconds": seconds,
        "size": [w, h],
        "fps": fps,
        "seed": seed,
        "camera": camera,
        "remix_of": sources[shot.remix_of].cache_key if shot.remix_of else None,
    }
    return RenderRequest(
        shot_id=shot.id, prompt=shot.prompt or "", image=image, seconds=float(seconds), width=w, height=h,
        fps=fps, seed=int(seed), camera=camera, model=model, remix_of=shot.remix_of, depth=depth,
        cache_key=render_cache_key(key_fields),
    )


def _render_order(shots: list[Shot]) -> list[Shot]:
    """Shots with remix sources before the remixes that need them."""
    by_id = {s.id: s for s in shots}
    done: list[Shot] = []
    placed: set[str] = set()

    def visit(s: Shot, depth: int = 0) -> None:
        if s.id in placed or depth > len(shots):
            return
        if s.remix_of and s.remix_of in by_id:
            visit(by_id[s.remix_of], depth + 1)
        placed.add(s.id)
        done.append(s)

    for s in shots:
        visit(s)
    return done


def make_plan(recipe: LoadedRecipe | str | Path, *, backend: Backend | None = None,
              strict: bool = False) -> Plan:
    """Plan a recipe: render requests with cache keys, cache hits, costs, and the cut timeline.

    Args:
        recipe: a loaded recipe or the path of one.
        backend: use this backend instead of the one the recipe names (tests inject one).
        strict: turn preflight warnings that the backend marks as refusable into errors.

    Raises:
        RecipeError: the recipe is invalid, or a shot fails the backend's preflight.
    """
    loaded = recipe if isinstance(recipe, LoadedRecipe) else load_recipe(recipe)
    r = loaded.recipe
    width, height = r.output.dimensions
    fps = r.output.fps
    if backend is None:
        config = r.backend.model_dump(exclude_none=True)
        config["strict"] = strict
        config["recipe_dir"] = str(loaded.base_dir)
        backend = create_backend(config)
    cache_dir = loaded.resolve(r.cache.dir)
    work_dir = loaded.base_dir / ".reelpipe"
    timings = shot_timings(loaded)

    requests: dict[str, RenderRequest] = {}
    planned: dict[str, PlannedShot] = {}
    problems = []
    for shot in _render_order(r.shots):
        idx = next(i for i, s in enumerate(r.shots) if s.id == shot.id)
        if shot.card is not None:
            card = shot.card.model_dump()
            font = loaded.resolve(shot.card.font) if shot.card.font else None
            key = render_cache_key({"card": card, "font_sha256": _sha256_file(font) if font else None,
                                    "size": [width, height], "fps": fps, "composer": COMPOSE_VERSION})
            card["font"] = str(font) if font else None
            planned[shot.id] = _with_effect(PlannedShot(
                id=shot.id, kind="card", clip_path=cache_path_for(cache_dir, key), cached=False,
                timing=timings[shot.id], card=card), shot.effect, key, loaded, cache_dir)
            continue
        if shot.video:
            path = loaded.resolve(shot.video)
            planned[shot.id] = _with_effect(PlannedShot(id=shot.id, kind="video", clip_path=path, cached=True,
                                                        timing=timings[shot.id]),
                                            shot.effect, _sha256_file(path) if shot.effect else "", loaded,
                                            cache_dir)
            continue
        req = _build_request(loaded, shot, backend, requests, width, height, fps)
        requests[shot.id] = req
        warnings: list[str] = []
        cost = 0.0
        try:
            warnings = list(backend.preflight(req))
            cost = float(backend.estimate_cost(req))
        except RenderError as exc:
            problems.append(loaded.problem(("shots", idx), exc.message, exc.hint))
        except PipelineError as exc:
            problems.append(loaded.problem(("shots", idx), exc.message, exc.hint))
        clip = cache_path_for(cache_dir, req.cache_key)
        timing = timings.get(shot.id) or ShotTiming(req.seconds, 0.0, req.seconds, shot.speed)
        planned[shot.id] = _with_effect(PlannedShot(id=shot.id, kind="render", clip_path=clip, cached=False,
                                                    timing=timing, request=req, cost_usd=cost, warnings=warnings),
                                        shot.effect, req.cache_key, loaded, cache_dir)
    if problems:
        raise RecipeError(f"{loaded.path}: {len(problems)} shot(s) fail the {backend.name} backend's preflight",
                          problems=problems)

    shots = [planned[s.id] for s in r.shots]
    # the timeline: explicit, or every shot in order with hard cuts
    order: list[tuple[str, tuple[str, float] | None]] = []
    pending: tuple[str, float] | None = None
    if r.timeline is None:
        order = [(s.id, None) for s in r.shots]
    else:
        for entry in r.timeline:
            if entry.transition is not None:
                pending = (entry.transition.type, entry.transition.duration)
            elif entry.shot is not None:
                order.append((entry.shot, pending))
                pending = None
    clips: list[TimelineClip] = []
    t = 0.0
    for shot_id, transition in order:
        ps = planned[shot_id]
        recipe_shot = next(s for s in r.shots if s.id == shot_id)
        if transition is not None:
            t -= transition[1]
        clips.append(TimelineClip(shot_id=shot_id, clip_path=ps.clip_path, start=ps.timing.start,
                                  end=ps.timing.end, speed=ps.timing.speed, volume=recipe_shot.volume,
                                  mute=recipe_shot.mute, timeline_start=t, transition_in=transition))
        t += ps.timing.duration
    warnings = [f"{s.id}: {w}" for s in shots for w in s.warnings]
    overlays = _plan_overlays(loaded, t, planned)
    return Plan(loaded=loaded, backend=backend, output_path=loaded.resolve(r.output.path), width=width,
                height=height, fps=fps, shots=shots, clips=clips, duration_s=t, cache_dir=cache_dir,
                work_dir=work_dir, warnings=warnings, overlays=overlays)


def _with_effect(shot: PlannedShot, effect: str | None, source_key: str, loaded: LoadedRecipe,
                 cache_dir: Path) -> PlannedShot:
    """Route a shot through a user effect: its final clip becomes the effect's output in the cache."""
    if effect is not None:
        from pipeline.media.compose import effect_source_file

        src = effect_source_file(effect, search_dir=loaded.base_dir)
        key = render_cache_key({"source": source_key, "effect": effect, "composer": COMPOSE_VERSION,
                                "effect_sha256": _sha256_file(src) if src else None})
        shot.raw_clip_path = shot.clip_path
        shot.clip_path = cache_path_for(cache_dir, key)
        shot.effect = effect
    shot.cached = shot.kind == "video" and effect is None or shot.clip_path.is_file()
    return shot


def _plan_overlays(loaded: LoadedRecipe, duration: float, planned: dict[str, PlannedShot]) -> list[PlannedOverlay]:
    out: list[PlannedOverlay] = []
    problems = []
    for k, ov in enumerate(loaded.recipe.overlays):
        end = duration if ov.duration is None else min(duration, ov.start + ov.duration)
        if ov.start >= duration:
            problems.append(loaded.problem(("overlays", k, "start"),
                                           f"overlay starts at {ov.start:g} s, after the sequence ends "
                                           f"({duration:g} s)"))
            continue
        kind = "text" if ov.text is not None else "image" if ov.image is not None else "pip"
        if kind == "pip" and ov.pip in planned:
            available = planned[ov.pip].timing.clip_seconds - ov.clip_start
            if available < end - ov.start - 1e-6:
                end = ov.start + max(0.0, available)
        out.append(PlannedOverlay(kind=kind, start=ov.start, end=end, spec=ov,
                                  image=loaded.resolve(ov.image) if ov.image else None,
                                  font=loaded.resolve(ov.font) if ov.font else None, pip_shot=ov.pip))
    if problems:
        raise RecipeError(f"{loaded.path}: {len(problems)} problem(s) in the recipe", problems=problems)
    return out
