"""The render stage with the local backend: probed clips in the cache, atomic writes, failures collected."""

from __future__ import annotations

from pathlib import Path

from pipeline.backends.base import RenderContext, RenderRequest, RenderResult
from pipeline.errors import RenderError
from pipeline.media.probe import count_frames, probe
from pipeline.plan import make_plan
from pipeline.stages.render import render_shots

RECIPE = """\
version: 1
output: {path: out.mp4, size: 320x180, fps: 24}
shots:
  - {id: a, image: {samples}/coffee.jpg, prompt: Slow push in., seconds: 1.5}
  - {id: b, image: {samples}/rocket.jpg, prompt: Tilt up., seconds: 1}
  - {id: c, remix_of: b, prompt: Tilt down.}
"""


def test_local_render_probes_as_requested(write_recipe, tmp_path):
    plan = make_plan(write_recipe(RECIPE))
    report = render_shots(plan, RenderContext(work_dir=tmp_path / ".reelpipe"))
    assert not report.failures and set(report.rendered) == {"a", "b", "c"}
    info = probe(plan.shot("a").clip_path)
    assert abs(info.video.duration - 1.5) <= 1 / 24
    assert (info.video.width, info.video.height, info.video.fps) == (320, 180, 24)
    assert count_frames(plan.shot("a").clip_path) == 36
    assert info.audio is not None and info.audio.codec == "aac" and info.audio.sample_rate == 48000
    # the remix rendered its source's image with its own prompt: a different clip of the same length
    assert plan.shot("c").clip_path != plan.shot("b").clip_path
    assert count_frames(plan.shot("c").clip_path) == 24


class _FlakyBackend:
    """Renders with the local backend but fails one shot, to show failures don't stop the others."""

    name = "local"
    concurrency = 2

    def __init__(self, fail: str) -> None:
        from pipeline.backends.local import LocalBackend

        self.inner = LocalBackend()
        self.fail = fail

    def estimate_cost(self, request: RenderRequest) -> float:
        return 0.0

    def preflight(self, request: RenderRequest) -> list[str]:
        return []

    def render(self, request: RenderRequest, dest: Path, ctx: RenderContext) -> RenderResult:
        if request.shot_id == self.fail:
            dest.write_bytes(b"half a clip")  # a partial write must never reach the cache
            raise RenderError("the service said no", shot_id=request.shot_id)
        return self.inner.render(request, dest, ctx)


def test_one_failure_does_not_stop_the_others_and_is_not_cached(write_recipe, tmp_path):
    plan = make_plan(write_recipe(RECIPE), backend=_FlakyBackend(fail="b"))
    report = render_shots(plan, RenderContext(work_dir=tmp_path / ".reelpipe"))
    assert set(report.rendered) == {"a"}
    failed = {f.shot_id: f.message for f in report.failures}
    assert failed["b"] == "the service said no"
    assert "remix source 'b'" in failed["c"]
    assert plan.shot("a").clip_path.is_file()
    assert not plan.shot("b").clip_path.exists()
    leftovers = [p for p in plan.cache_dir.rglob("*") if p.is_file() and ".part" in p.name]
    assert leftovers == []
    # a re-run renders only what is missing
    plan2 = make_plan(plan.recipe_path, backend=_FlakyBackend(fail="none"))
    report2 = render_shots(plan2, RenderContext(work_dir=tmp_path / ".reelpipe"))
    assert set(report2.rendered) == {"b", "c"} and report2.cached == ["a"]
