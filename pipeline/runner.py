"""Run a recipe stage by stage: plan, render, provenance check, QC, edit, sign, export, report.

Errors raised inside a stage are tagged with the stage's name. The runner never prints; progress goes to
a :class:`Reporter` (the CLI draws it with rich), and the result is a :class:`RunResult`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from pipeline.backends.base import RenderContext, RenderRequest
from pipeline.errors import BudgetError, PipelineError, RenderError
from pipeline.fsutil import atomic_output
from pipeline.media.encode import EncodeSettings
from pipeline.media.ffmpeg import ffmpeg_exe
from pipeline.media.probe import probe
from pipeline.plan import Plan, make_plan
from pipeline.recipe import LoadedRecipe, TextBox, load_recipe
from pipeline.stages.edit import EditClip, EditOverlay, EditResult, EditSpec, MusicBed, edit_sequence
from pipeline.stages.render import RenderReport, render_shots

__all__ = ["NullReporter", "Reporter", "RunOptions", "RunResult", "edit_spec", "run_plan", "run_recipe"]


class Reporter(Protocol):
    """Receives progress from a run. Methods may be called from worker threads."""

    def stage(self, name: str) -> None: ...

    def shot(self, shot_id: str, state: str, fraction: float | None) -> None: ...

    def edit(self, fraction: float) -> None: ...

    def note(self, text: str) -> None: ...


class NullReporter:
    """A reporter that ignores everything (library use, tests)."""

    def stage(self, name: str) -> None:
        return None

    def shot(self, shot_id: str, state: str, fraction: float | None) -> None:
        return None

    def edit(self, fraction: float) -> None:
        return None

    def note(self, text: str) -> None:
        return None


@dataclass
class RunOptions:
    """How to run: options the CLI passes through."""

    force: bool = False  # re-render even when cached
    strict: bool = False  # refuse what preflight only warns about
    max_cost: float | None = None  # USD; overrides/adds to the recipe's budget
    trust: list[Path] = field(default_factory=list)  # extra C2PA trust anchors
    workers: int | None = None  # edit segments at once


@dataclass
class RunResult:
    """What a run produced; :meth:`to_dict` is ``reelpipe run --json``."""

    plan: Plan
    output: Path
    duration_s: float
    render: RenderReport
    timings_s: dict[str, float]
    edit_mode: str
    output_info: dict[str, Any]
    provenance: dict[str, Any] | None = None
    shot_provenance: dict[str, dict[str, Any]] = field(default_factory=dict)
    shot_qc: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra_outputs: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    edit: EditResult | None = None

    def to_dict(self) -> dict[str, Any]:
        plan = self.plan
        recipe = plan.loaded.recipe
        starts = {c.shot_id: c.timeline_start for c in plan.clips}
        return {
            "recipe": str(plan.recipe_path),
            "title": recipe.title,
            "output": str(self.output),
            "duration_s": round(self.duration_s, 6),
            "frames": int(round(self.duration_s * plan.fps)),
            "size": f"{plan.width}x{plan.height}",
            "fps": plan.fps,
            "backend": plan.backend.name,
            "cost_usd": self.render.cost_usd,
            "edit_mode": self.edit_mode,
            "edit": ({"segments": self.edit.segments, "reencoded_segments": self.edit.reencoded_segments,
                      "copied_frames": self.edit.copied_frames, "loudness_lufs": self.edit.loudness_lufs,
                      "true_peak_db": self.edit.true_peak_db} if self.edit else None),
            "timings_s": self.timings_s,
            "output_info": self.output_info,
            "provenance": self.provenance,
            "outputs": self.extra_outputs,
            "notes": self.notes,
            "shots": [
                {
                    "id": s.id,
                    "kind": s.kind,
                    "clip": str(s.clip_path),
                    "cached": s.id not in self.render.rendered,
                    "prompt": s.request.prompt if s.request else None,
                    "image": str(s.request.image) if s.request and s.request.image else None,
                    "trim": [s.timing.start, s.timing.end],
                    "timeline_start_s": starts.get(s.id),
                    "cost_usd": self.render.rendered[s.id].cost_usd if s.id in self.render.rendered else 0.0,
                    "job_id": self.render.rendered[s.id].job_id if s.id in self.render.rendered else None,
                    "render_s": self.render.seconds.get(s.id),
                    "provenance": self.shot_provenance.get(s.id),
                    "qc": self.shot_qc.get(s.id),
                }
                for s in plan.shots
            ],
        }


@contextmanager
def _stage(name: str, timings: dict[str, float], reporter: Reporter) -> Iterator[None]:
    reporter.stage(name)
    t0 = time.monotonic()
    try:
        yield
    except PipelineError as exc:
        exc.stage = exc.stage or name
        raise
    finally:
        timings[name] = round(time.monotonic() - t0, 3)


def _check_budget(plan: Plan, options: RunOptions) -> None:
    recipe = plan.loaded.recipe
    estimate = round(sum(s.cost_usd for s in plan.shots if s.kind == "render" and (options.force or not s.cached)), 4)
    limits = [x for x in (recipe.budget.max_usd, options.max_cost) if x is not None]
    if limits and estimate > min(limits) + 1e-9:
        limit = min(limits)
        raise BudgetError(
            f"the estimated cost ${estimate:.2f} exceeds the budget ${limit:.2f} by ${estimate - limit:.2f}; "
            "nothing was submitted",
            hint="raise budget.max_usd (or --max-cost), shorten shots, or use a cheaper model")


def run_plan(plan: Plan, *, options: RunOptions | None = None, reporter: Reporter | None = None) -> RunResult:
    """Execute a plan: render, check, edit, sign, export. Returns the run's result.

    Raises:
        PipelineError: a stage failed (tagged with its name). Cached clips are never deleted, and the output
            path is only written when the whole edit succeeded.
    """
    options = options or RunOptions()
    reporter = reporter or NullReporter()
    recipe = plan.loaded.recipe
    timings: dict[str, float] = {}
    notes: list[str] = []

    _check_budget(plan, options)
    ffmpeg_exe()  # a missing or broken ffmpeg is one clear error up front, not one per shot

    prov = recipe.provenance
    identity = _identity(plan, reporter, notes) if prov.sign or prov.require != "off" else None
    ctx = RenderContext(work_dir=plan.work_dir, on_progress=reporter.shot,
                        signer=_clip_signer(plan, identity) if prov.sign else None,
                        derived_signer=_derived_signer(plan, identity, options) if prov.sign else None)
    with _stage("render", timings, reporter):
        report = render_shots(plan, ctx, force=options.force)
        if report.failures:
            lines = "\n".join(f"  {f.shot_id}: {f.message}" + (f" ({f.hint})" if f.hint else "")
                              for f in report.failures)
            raise RenderError(
                f"{len(report.failures)} of {len(plan.shots)} shot(s) failed to render:\n{lines}",
                hint="fix the cause and run again: shots that rendered are cached and will not render again")
        for s in plan.shots:
            if s.kind == "render":
                s.cached = s.id not in report.rendered

    shot_qc: dict[str, dict[str, Any]] = {}
    shot_provenance: dict[str, dict[str, Any]] = {}
    if prov.require != "off" or prov.sign:
        with _stage("provenance", timings, reporter):
            shot_provenance = _check_provenance(plan, options, identity)

    if recipe.qc.policy != "off":
        from pipeline.stages.qc import run_qc

        with _stage("qc", timings, reporter):
            limits = [x for x in (recipe.budget.max_usd, options.max_cost) if x is not None]
            budget_left = min(limits) - report.cost_usd if limits else None
            qc_report = run_qc(plan, ctx, budget_left=budget_left)
        shot_qc = qc_report.results
        for sid, attempts in qc_report.attempts.items():
            shot_qc[sid] = {**shot_qc[sid], "attempts": attempts}
        for text in qc_report.notes:
            notes.append(text)
            reporter.note(text)
        report.qc_cost_usd = qc_report.cost_usd

    # edit into a temporary file, sign it, and only then rename it onto the output: a failed run never
    # leaves a half-written or unsigned file at output.path
    output_verdict: dict[str, Any] | None = None
    with atomic_output(plan.output_path) as staged:
        with _stage("edit", timings, reporter):
            edit = edit_sequence(replace(edit_spec(plan), output=staged), on_progress=reporter.edit,
                                 workers=options.workers, tmp_root=plan.work_dir / "tmp")
        if prov.sign:
            with _stage("sign", timings, reporter):
                _sign_output(plan, staged, identity, options)
                from pipeline.provenance import verify

                output_verdict = verify(staged, trust=_trust(plan, options), identity=identity).summary()
        info = probe(staged)
    edit.path = plan.output_path
    info_dict = info.to_dict()
    info_dict["path"] = str(plan.output_path)
    result = RunResult(plan=plan, output=plan.output_path, duration_s=edit.duration_s, render=report,
                       timings_s=timings, edit_mode=edit.mode, output_info=info_dict, notes=notes,
                       edit=edit, provenance=output_verdict, shot_provenance=shot_provenance, shot_qc=shot_qc)
    export = recipe.export
    if any((export.otio, export.fcp_xml, export.fcpx, export.edl)):
        from pipeline.stages.export import export_recipe

        with _stage("export", timings, reporter):
            written = export_recipe(plan, qc=shot_qc, provenance=shot_provenance, force=False)
        result.extra_outputs.update({k: str(v) for k, v in written.items()})
    from pipeline.report import write_report

    with _stage("report", timings, reporter):
        written = write_report(result.to_dict(), plan.output_path)
    result.extra_outputs.update({f"report_{k}" if k != "contact" else "contact_sheet": str(v)
                                 for k, v in written.items()})
    return result


def edit_spec(plan: Plan) -> EditSpec:
    """The edit stage's input for a plan: clips, overlays, music and output format."""
    recipe = plan.loaded.recipe
    overlays = []
    for o in plan.overlays:
        ov = o.spec
        box = ov.box
        box_color = "black@0.5" if box is True else box.color if isinstance(box, TextBox) else None
        box_padding = box.padding if isinstance(box, TextBox) else 12
        overlays.append(EditOverlay(
            kind=o.kind, start=o.start, end=o.end, position=ov.position, margin=ov.margin, fade_in=ov.fade_in,
            fade_out=ov.fade_out, opacity=ov.opacity, text=ov.text, font=o.font, size=ov.size, color=ov.color,
            box_color=box_color, box_padding=box_padding, line_spacing=ov.line_spacing, image=o.image,
            scale=ov.scale, clip=plan.shot(o.pip_shot).clip_path if o.pip_shot else None,
            clip_start=ov.clip_start))
    music = None
    if recipe.audio.music is not None:
        m = recipe.audio.music
        music = MusicBed(path=plan.loaded.resolve(m.path), gain_db=m.gain_db, fade_in=m.fade_in, fade_out=m.fade_out,
                         duck_db=m.duck_db)
    return EditSpec(
        clips=[EditClip(path=c.clip_path, start=c.start, end=c.end, speed=c.speed, volume=c.volume,
                        mute=c.mute, transition_in=c.transition_in, label=c.shot_id) for c in plan.clips],
        output=plan.output_path, width=plan.width, height=plan.height, fps=plan.fps,
        settings=EncodeSettings(profile=recipe.output.profile),
        fade_in=recipe.output.fade_in, fade_out=recipe.output.fade_out, overlays=overlays, music=music,
        loudness_lufs=recipe.audio.loudness_lufs if recipe.audio.normalize else None,
    )


def _identity(plan: Plan, reporter: Reporter, notes: list[str]) -> Any:
    """The user's signing identity, created on first use (and said so once)."""
    from pipeline.provenance import ensure_identity

    identity = ensure_identity()
    if identity.created_now:
        text = (f"created a signing identity in {identity.home} ({identity.subject}, SHA-256 "
                f"{identity.fingerprint[:23]}…); see 'reelpipe keys show'")
        notes.append(text)
        reporter.note(text)
    return identity


def _clip_signer(plan: Plan, identity: Any) -> Any:
    """The callable that signs clips reelpipe renders itself (local backend), or None."""
    if identity is None:
        return None
    from pipeline.provenance import digital_source_type_for_backend, sign_generated_clip

    backend = plan.backend

    def sign(path: Path, request: RenderRequest, info: dict[str, Any]) -> None:
        version = getattr(backend, "version", None)
        generator = f"reelpipe {backend.name} renderer" + (f" {version()}" if callable(version) else "")
        sign_generated_clip(path, identity=identity, title=request.shot_id,
                            digital_source_type=digital_source_type_for_backend(backend.name),
                            generator=generator, model=request.model, reference_image=request.image,
                            prompt=request.prompt or None)

    return sign


def _derived_signer(plan: Plan, identity: Any, options: RunOptions) -> Any:
    """Signs title cards (typed text drawn by software: IPTC ``digitalCreation``) and effect outputs (an edit
    of their source clip, which becomes the ingredient)."""
    if identity is None:
        return None
    from pipeline.provenance import Ingredient, sign_composite, sign_generated_clip

    def sign(path: Path, kind: str, shot_id: str, source: Path | None) -> None:
        if kind == "card" or source is None:
            sign_generated_clip(path, identity=identity, title=shot_id, digital_source_type="digitalCreation",
                                generator="reelpipe title card", model=None, reference_image=None)
        else:
            shot = plan.shot(shot_id)
            sign_composite(path, identity=identity, ingredients=[Ingredient(path=source, title=shot_id)],
                           edit={"description": f"effect {shot.effect} applied to shot {shot_id}"},
                           trust=_trust(plan, options))

    return sign


def _trust(plan: Plan, options: RunOptions) -> list[Path]:
    return [plan.loaded.resolve(t) for t in plan.loaded.recipe.provenance.trust] + list(options.trust)


def _check_provenance(plan: Plan, options: RunOptions, identity: Any) -> dict[str, dict[str, Any]]:
    """Give every clip a verdict; stop before editing when one is below the recipe's bar."""
    from pipeline.errors import ProvenanceError
    from pipeline.provenance import enforce_policy, verify

    require = plan.loaded.recipe.provenance.require
    verdicts: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    trust = _trust(plan, options)
    for s in plan.shots:
        verdict = verify(s.clip_path, trust=trust, identity=identity)
        verdicts[s.id] = verdict.summary()
        if require != "off":
            try:
                enforce_policy(verdict, require, name=f"shot {s.id!r}")
            except ProvenanceError as exc:
                failures.append(exc.message)
    if failures:
        raise ProvenanceError(
            f"{len(failures)} clip(s) are below the recipe's provenance bar '{require}':\n"
            + "\n".join(f"  {f}" for f in failures),
            hint="re-render the shot (--force), add the signer's root with --trust or provenance.trust, or lower "
                 "provenance.require in the recipe")
    return verdicts


def _sign_output(plan: Plan, path: Path, identity: Any, options: RunOptions) -> None:
    """Sign the edited sequence with every clip, image and audio file as an ingredient (the last write)."""
    from pipeline.provenance import Ingredient, sign_composite

    recipe = plan.loaded.recipe
    ingredients: list[Any] = []
    seen: set[Path] = set()

    def add(p: Path, title: str, role: str) -> None:
        if p not in seen:
            seen.add(p)
            ingredients.append(Ingredient(path=p, title=title, role=role))

    for c in plan.clips:
        add(c.clip_path, c.shot_id, "clip")
    for o in plan.overlays:
        if o.kind == "image" and o.image is not None:
            add(o.image, o.image.name, "image")
        elif o.kind == "pip" and o.pip_shot:
            add(plan.shot(o.pip_shot).clip_path, o.pip_shot, "clip")
    if recipe.audio.music is not None:
        music = plan.loaded.resolve(recipe.audio.music.path)
        add(music, music.name, "audio")
    edit = {
        "description": f"reelpipe edit of {plan.loaded.path.name}",
        "trims": [{"shot": c.shot_id, "in": c.start, "out": c.end, "speed": c.speed} for c in plan.clips],
        "transitions": [{"into": c.shot_id, "type": c.transition_in[0], "duration": c.transition_in[1]}
                        for c in plan.clips if c.transition_in],
        "overlays": [{"kind": o.kind, "start": o.start, "end": o.end} for o in plan.overlays],
        "audio": {"music": recipe.audio.music.path if recipe.audio.music else None,
                  "loudness_lufs": recipe.audio.loudness_lufs if recipe.audio.normalize else None},
        "output": {"size": f"{plan.width}x{plan.height}", "fps": plan.fps, "profile": recipe.output.profile},
    }
    sign_composite(path, identity=identity, ingredients=ingredients, edit=edit, trust=_trust(plan, options))


def run_recipe(recipe: str | Path | LoadedRecipe, *, options: RunOptions | None = None,
               reporter: Reporter | None = None) -> RunResult:
    """Load, plan and run a recipe file. See :func:`run_plan`."""
    options = options or RunOptions()
    loaded = recipe if isinstance(recipe, LoadedRecipe) else load_recipe(recipe)
    plan = make_plan(loaded, strict=options.strict)
    return run_plan(plan, options=options, reporter=reporter)
