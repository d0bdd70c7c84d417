"""The openai backend against the emulator over loopback: renders, remixes, faults, journal, preflight, keys."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import pytest

from pipeline.backends import create_backend
from pipeline.backends.base import Backend, RenderContext
from pipeline.backends.capabilities import CapabilityTable
from pipeline.backends.emulator import RunningEmulator
from pipeline.backends.journal import JobJournal
from pipeline.backends.openai import OpenAIBackend, face_detector_status, fit_reference_image
from pipeline.errors import BackendError, RecipeError, RenderError
from pipeline.media.probe import probe
from tests.backends.conftest import KEY_ENV, SAMPLES, TINY_MODELS, ProgressLog, request_for

Serve = Callable[..., RunningEmulator]
MakeBackend = Callable[..., OpenAIBackend]


def _journal(ctx: RenderContext) -> JobJournal:
    return JobJournal(ctx.work_dir, "openai")


def test_renders_a_shot_and_its_remix(serve_emulator: Serve, make_backend: MakeBackend,
                                      render_ctx: RenderContext, tmp_path: Path) -> None:
    running = serve_emulator(latency=0.5)
    backend = make_backend(running)
    assert isinstance(backend, Backend) and backend.concurrency == 2
    signed: list[Path] = []
    render_ctx.signer = lambda path, request, info: signed.append(path)  # hosted clips keep their own manifest
    src = request_for("harbor", seconds=2)
    result = backend.render(src, tmp_path / "harbor.mp4", render_ctx)
    info = probe(result.path)
    assert info.video is not None and (info.video.width, info.video.height) == (320, 180)
    assert abs(info.duration - 2.0) < 0.2
    assert result.job_id and result.job_id.startswith("video_")
    assert result.cost_usd == pytest.approx(0.02)
    assert result.info["provenance"] == "service" and result.info["resumed"] is False
    progress: ProgressLog = render_ctx.on_progress  # type: ignore[assignment]
    states = progress.states("harbor")
    # under load the first poll can already find the job running: "queued" may be skipped, nothing else
    assert states in (["queued", "in_progress", "downloading", "done"], ["in_progress", "downloading", "done"])
    fractions = [f for s, st, f in progress.calls if st == "in_progress"]
    assert fractions == sorted(fractions) and 0 < fractions[-1] < 1

    render_ctx.completed["harbor"] = result
    remix = request_for("harbor-orange", prompt="Keep everything identical but make the boat bright orange.",
                        remix_of="harbor", seconds=2)
    remixed = backend.render(remix, tmp_path / "harbor-orange.mp4", render_ctx)
    assert remixed.info["remixed_from_video_id"] == result.job_id
    assert probe(remixed.path).video is not None
    assert signed == []
    stats = running.emulator.stats()
    assert (stats["creates"], stats["remixes"]) == (1, 1)
    entry = _journal(render_ctx).load(remix.cache_key)
    assert entry is not None and entry.state == "downloaded" and entry.request["remix_of_job"] == result.job_id


def test_remix_source_found_in_the_journal(serve_emulator: Serve, make_backend: MakeBackend,
                                           render_ctx: RenderContext, tmp_path: Path) -> None:
    """A cached source (not rendered in this run) is found through the journal."""
    running = serve_emulator()
    backend = make_backend(running)
    backend.render(request_for("a"), tmp_path / "a.mp4", render_ctx)
    fresh_ctx = RenderContext(work_dir=render_ctx.work_dir)
    out = backend.render(request_for("b", remix_of="a", prompt="orange"), tmp_path / "b.mp4", fresh_ctx)
    assert out.info["remixed_from_video_id"]
    with pytest.raises(BackendError, match="remix source 'zzz'") as err:
        backend.render(request_for("c", remix_of="zzz", prompt="x"), tmp_path / "c.mp4", fresh_ctx)
    assert err.value.shot_id == "c"


@pytest.mark.parametrize(
    "faults",
    [
        "429:2:after=0.05",
        "500:2,502:1,503:1:after=0.05",
        "drop:1:on=retrieve,drop:1:on=content",
        "truncate:2",
        "slow:1:on=retrieve:secs=1.5",
        "429:0.3:after=0.02,500:0.2,drop:0.1",
    ],
    ids=["429", "5xx", "drop-poll-download", "truncate", "slow-timeout", "mixed-random"],
)
def test_transient_faults_are_survived_exactly_once(serve_emulator: Serve, make_backend: MakeBackend,
                                                    render_ctx: RenderContext, tmp_path: Path, faults: str) -> None:
    running = serve_emulator(faults=faults, seed=3)
    backend = make_backend(running, timeout=0.5, max_retries=8)
    shots = [request_for(s, prompt=f"Shot {s}. Pan right.") for s in ("a", "b")]
    for r in shots:
        result = backend.render(r, tmp_path / f"{r.shot_id}.mp4", render_ctx)
        assert probe(result.path).video is not None
    stats = running.emulator.stats()
    assert stats["jobs_by_prompt"] == {r.prompt: 1 for r in shots}, stats
    assert sum(stats["faults"].values()) >= 1, "the fault spec never fired"


@pytest.mark.parametrize("idempotency", [True, False], ids=["idempotency-key", "list-reconcile"])
def test_dropped_create_response_never_pays_twice(serve_emulator: Serve, make_backend: MakeBackend,
                                                  render_ctx: RenderContext, tmp_path: Path,
                                                  idempotency: bool) -> None:
    """The create reached the service but its answer was lost: the retry must adopt that job — through the
    Idempotency-Key (here the service cannot list jobs) or, for a service without keys, by listing jobs."""
    faults = "drop:2:on=create+remix" + (",500:1000:on=list" if idempotency else "")
    running = serve_emulator(faults=faults, idempotency=idempotency)
    backend = make_backend(running)
    src = backend.render(request_for("a"), tmp_path / "a.mp4", render_ctx)
    render_ctx.completed["a"] = src
    backend.render(request_for("b", remix_of="a", prompt="orange"), tmp_path / "b.mp4", render_ctx)
    stats = running.emulator.stats()
    assert (stats["creates"], stats["remixes"]) == (1, 1), stats
    assert stats["faults"]["drop"] == 2
    assert stats["idempotent_replays"] == (2 if idempotency else 0)


def test_interrupted_submission_is_adopted_on_the_next_run(serve_emulator: Serve, make_backend: MakeBackend,
                                                           render_ctx: RenderContext, tmp_path: Path) -> None:
    """A process killed after POST /videos but before the job id was journaled: the re-run finds the job."""
    running = serve_emulator(faults="drop:1:on=create", idempotency=False)
    backend = make_backend(running, max_retries=1)  # the first run gives up at once, as if killed
    req = request_for("a")
    with pytest.raises(BackendError):
        backend.render(req, tmp_path / "a.mp4", render_ctx)
    entry = _journal(render_ctx).load(req.cache_key)
    assert entry is not None and entry.state == "submitting" and entry.job_id is None and entry.attempts == 1
    again = make_backend(running)
    result = again.render(req, tmp_path / "a.mp4", render_ctx)
    assert running.emulator.stats()["creates"] == 1
    assert _journal(render_ctx).load(req.cache_key).job_id == result.job_id  # type: ignore[union-attr]


def test_resumes_a_journaled_job_instead_of_submitting(serve_emulator: Serve, make_backend: MakeBackend,
                                                       render_ctx: RenderContext, tmp_path: Path) -> None:
    running = serve_emulator(latency=1.0)
    req = request_for("a")
    first = make_backend(running, job_timeout=0.3)  # gives up waiting, like a run that was stopped
    with pytest.raises(BackendError, match="still") as err:
        first.render(req, tmp_path / "a.mp4", render_ctx)
    assert err.value.retryable and "resumed" in (err.value.hint or "")
    entry = _journal(render_ctx).load(req.cache_key)
    assert entry is not None and entry.state == "submitted" and entry.job_id
    second = make_backend(running)
    result = second.render(req, tmp_path / "a.mp4", render_ctx)
    assert result.job_id == entry.job_id and result.info["resumed"] is True
    assert running.emulator.stats()["creates"] == 1


def test_failed_job_reports_its_code_and_a_rerun_submits_again(serve_emulator: Serve, make_backend: MakeBackend,
                                                               render_ctx: RenderContext, tmp_path: Path) -> None:
    running = serve_emulator(faults="moderation:1")
    backend = make_backend(running)
    req = request_for("a")
    with pytest.raises(BackendError) as err:
        backend.render(req, tmp_path / "a.mp4", render_ctx)
    assert err.value.code == "moderation_blocked" and err.value.shot_id == "a"
    assert "moderation_blocked" in err.value.message and "rephrase" in (err.value.hint or "")
    assert _journal(render_ctx).load(req.cache_key).state == "failed"  # type: ignore[union-attr]
    assert backend.render(req, tmp_path / "a.mp4", render_ctx).job_id
    assert running.emulator.stats()["creates"] == 2


def test_service_refusal_shows_its_message_and_what_to_do(serve_emulator: Serve, make_backend: MakeBackend,
                                                          render_ctx: RenderContext, tmp_path: Path) -> None:
    """A 400 from the service (here: a gateway that only knows 4 s clips) is not retried and explains itself."""
    strict_gateway = {"tiny": {"sizes": ["320x180"], "seconds": [4], "usd_per_second": 0.01}}
    running = serve_emulator(models=strict_gateway)
    backend = make_backend(running)
    with pytest.raises(BackendError) as err:
        backend.render(request_for("a"), tmp_path / "a.mp4", render_ctx)
    e = err.value
    assert (e.status, e.code, e.shot_id, e.retryable) == (400, "invalid_value", "a", False)
    assert "Supported values are: '4'" in e.message and "param seconds" in e.message
    assert running.emulator.stats()["create_requests"] == 1
    entry = _journal(render_ctx).load(request_for("a").cache_key)
    assert entry is not None and entry.state == "failed" and entry.error["code"] == "invalid_value"  # type: ignore[index]


def test_bad_key_is_a_clear_error_and_never_leaks(serve_emulator: Serve, make_backend: MakeBackend,
                                                  render_ctx: RenderContext, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    running = serve_emulator()  # requires the fixture's key
    wrong_key = "sk-wrong-" + "7" * 24
    monkeypatch.setenv(KEY_ENV, wrong_key)
    backend = make_backend(running)
    with caplog.at_level(logging.DEBUG), pytest.raises(BackendError) as err:
        backend.render(request_for("a"), tmp_path / "a.mp4", render_ctx)
    e = err.value
    assert e.status == 401 and e.shot_id == "a" and not e.retryable
    assert KEY_ENV in (e.hint or "")
    text = str(e) + repr(e) + caplog.text
    for path in render_ctx.work_dir.rglob("*"):
        if path.is_file():
            text += path.read_text("utf-8")
    assert wrong_key not in text


def test_key_stays_out_of_logs_journal_and_results(serve_emulator: Serve, make_backend: MakeBackend,
                                                   render_ctx: RenderContext, tmp_path: Path, api_key: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    running = serve_emulator(faults="429:1:after=0.01,drop:1:on=create")
    backend = make_backend(running)
    with caplog.at_level(logging.DEBUG):
        result = backend.render(request_for("a"), tmp_path / "a.mp4", render_ctx)
    dumped = caplog.text + json.dumps(result.info, default=str) + repr(result) + repr(backend.config)
    dumped += "".join(p.read_text("utf-8") for p in render_ctx.work_dir.rglob("*.json"))
    assert "POST" in caplog.text or "videos" in caplog.text  # debug logging did happen
    assert api_key not in dumped


def test_missing_key_variable(serve_emulator: Serve, make_backend: MakeBackend, render_ctx: RenderContext,
                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    running = serve_emulator()
    monkeypatch.delenv(KEY_ENV)
    backend = make_backend(running)
    assert any(KEY_ENV in w for w in backend.preflight(request_for("a")))
    with pytest.raises(BackendError, match=f"{KEY_ENV} is not set"):
        backend.render(request_for("a"), tmp_path / "a.mp4", render_ctx)
    assert running.emulator.stats()["requests"] == {}


def test_preflight_fits_the_image_and_the_emulator_accepts_it(serve_emulator: Serve, make_backend: MakeBackend,
                                                              render_ctx: RenderContext, tmp_path: Path) -> None:
    """hubble.jpg is far from 180x320 portrait: preflight says it is cropped, and the upload is accepted."""
    running = serve_emulator()
    backend = make_backend(running)
    req = request_for("sky", image="hubble.jpg", size=(180, 320))
    warnings = backend.preflight(req)
    assert any("fitted to 180x320" in w and "cropped away" in w for w in warnings), warnings
    fitted = fit_reference_image(req.image, 180, 320)  # type: ignore[arg-type]
    assert fitted.size == (180, 320) and fitted.changed and fitted.mime == "image/jpeg"
    assert backend.render(req, tmp_path / "sky.mp4", render_ctx).job_id
    assert running.emulator.stats()["creates"] == 1


def test_fitting_modes_and_formats(tmp_path: Path) -> None:
    png = tmp_path / "wide.png"
    cv2.imwrite(str(png), cv2.resize(cv2.imread(str(SAMPLES / "rocket.jpg")), (400, 100)))
    cover = fit_reference_image(png, 320, 180)
    contain = fit_reference_image(png, 320, 180, mode="contain")
    assert cover.mime == contain.mime == "image/png"
    assert cover.cropped_fraction > 0.5 and contain.cropped_fraction == 0.0
    exact = tmp_path / "exact.jpg"
    cv2.imwrite(str(exact), cv2.resize(cv2.imread(str(SAMPLES / "coffee.jpg")), (320, 180)))
    same = fit_reference_image(exact, 320, 180)
    assert not same.changed and same.data == exact.read_bytes()
    bmp = tmp_path / "odd.bmp"
    cv2.imwrite(str(bmp), cv2.imread(str(SAMPLES / "coffee.jpg")))
    assert fit_reference_image(bmp, 320, 180).mime == "image/png"
    with pytest.raises(RenderError, match="not found"):
        fit_reference_image(tmp_path / "missing.jpg", 320, 180)


@pytest.mark.skipif(face_detector_status() is not None, reason=f"no face detector: {face_detector_status()}")
def test_faces_warn_and_strict_refuses(serve_emulator: Serve, make_backend: MakeBackend) -> None:
    running = serve_emulator()
    backend = make_backend(running)
    face = request_for("astro", image="astronaut.jpg", size=(180, 320))
    assert any("human face" in w for w in backend.preflight(face))
    assert not any("face" in w for w in backend.preflight(request_for("cup", image="coffee.jpg")))
    with pytest.raises(RenderError, match="human face"):
        backend.preflight(request_for("astro", image="astronaut.jpg", size=(180, 320), params={"strict": True}))
    with pytest.raises(RenderError, match="human face"):
        make_backend(running, strict=True).preflight(face)


@pytest.mark.skipif(face_detector_status() is not None, reason=f"no face detector: {face_detector_status()}")
def test_a_face_submitted_anyway_is_blocked_by_the_service(serve_emulator: Serve, make_backend: MakeBackend,
                                                           render_ctx: RenderContext, tmp_path: Path) -> None:
    running = serve_emulator()
    with pytest.raises(BackendError) as err:
        make_backend(running).render(request_for("astro", image="astronaut.jpg", size=(180, 320)),
                                     tmp_path / "astro.mp4", render_ctx)
    assert (err.value.status, err.value.code, err.value.shot_id) == (400, "moderation_blocked", "astro")
    assert "change the image" in (err.value.hint or "")
    assert running.emulator.stats()["creates"] == 0


def test_face_check_unavailable_is_said_once(serve_emulator: Serve, make_backend: MakeBackend,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.backends.openai as openai_backend

    monkeypatch.setattr(openai_backend, "face_detector_status", lambda: "no detector here")
    backend = make_backend(serve_emulator())
    first = backend.preflight(request_for("a"))
    second = backend.preflight(request_for("b"))
    assert sum("not checked for faces" in w for w in first + second) == 1
    with pytest.raises(RenderError, match="--strict needs the face check"):
        backend.preflight(request_for("c", params={"strict": True}))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seconds": 3}, "does not render 3 s"),
        ({"size": (640, 360)}, "does not render 640x360"),
        ({"model": "sora-9"}, "not in the capability table"),
        ({"prompt": "x" * 32001}, "at most 32000"),
        ({"prompt": "   "}, "prompt is empty"),
    ],
)
def test_preflight_hard_errors(serve_emulator: Serve, make_backend: MakeBackend, kwargs: dict[str, object],
                               match: str) -> None:
    backend = make_backend(serve_emulator())
    with pytest.raises(RenderError, match=match) as err:
        backend.preflight(request_for("a", **kwargs))  # type: ignore[arg-type]
    assert err.value.shot_id == "a" and err.value.hint


def test_cost_estimate_and_capability_table() -> None:
    backend = OpenAIBackend({"model": "sora-2"})
    eight = request_for("a", seconds=8, size=(1280, 720), model="sora-2")
    assert backend.estimate_cost(eight) == pytest.approx(0.80)
    assert backend.estimate_cost(request_for("a", seconds=12, size=(1024, 1792), model="sora-2-pro")) == \
        pytest.approx(6.00)
    assert backend.estimate_cost(request_for("a", seconds=4, size=(1280, 720), model="sora-2-2025-10-06")) == \
        pytest.approx(0.40)
    extended = OpenAIBackend({"model": "wan", "models": {"wan": {"sizes": ["1280x720"], "seconds": [5, 10],
                                                                 "usd_per_second": 0.05},
                                                         "sora-2": {"seconds": [4, 8, 12, 16, 20, 25]}}})
    assert extended.estimate_cost(request_for("a", seconds=10, size=(1280, 720))) == pytest.approx(0.50)
    caps = extended.capabilities.get("sora-2")
    assert caps is not None and caps.allows_seconds(25) and caps.allows_size("720x1280")
    with pytest.raises(RenderError, match="not in the capability table"):
        backend.estimate_cost(request_for("a", model="mystery"))
    for bad in ({"x": {"sizes": ["1280x720"]}}, {"x": {"sizes": "wide", "seconds": [4], "usd_per_second": 1}},
                {"sora-2": {"seconds": ["soon"]}}, {"sora-2": {"colour": 1}}):
        with pytest.raises(RecipeError):
            CapabilityTable.from_config(bad)


def test_budget_sees_the_estimate_through_the_registry() -> None:
    backend = create_backend({"name": "openai", "model": "sora-2-pro", "concurrency": 3})
    assert isinstance(backend, OpenAIBackend) and backend.concurrency == 3
    shots = [request_for(s, seconds=8, size=(1280, 720)) for s in "abc"]
    assert sum(backend.estimate_cost(r) for r in shots) == pytest.approx(7.20)  # > a $5 budget


def test_config_errors_and_warnings(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="must not be written in a recipe"):
        OpenAIBackend({"api_key": "sk-oops-123456"})
    with pytest.raises(RecipeError, match="not an environment variable name"):
        OpenAIBackend({"api_key_env": "sk-abc-123"})
    with pytest.raises(RecipeError, match="base_url"):
        OpenAIBackend({"base_url": "api.openai.com"})
    with pytest.raises(RecipeError, match="concurrency"):
        OpenAIBackend({"concurrency": 0})
    backend = OpenAIBackend({"model": "tiny", "models": TINY_MODELS, "poll_intervall": 3})
    warnings = backend.preflight(request_for("a"))
    assert any("did you mean 'poll_interval'" in w for w in warnings)
    assert backend.version() != OpenAIBackend({"base_url": "http://127.0.0.1:1/v1"}).version()


def test_concurrent_renders_are_thread_safe(serve_emulator: Serve, make_backend: MakeBackend,
                                            render_ctx: RenderContext, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    running = serve_emulator(latency=0.5, workers=2, faults="429:0.2:after=0.01", seed=5)
    backend = make_backend(running, concurrency=4)
    requests = [request_for(f"s{i}", prompt=f"Shot {i}. Push in.") for i in range(4)]
    with ThreadPoolExecutor(max_workers=backend.concurrency) as pool:
        results = list(pool.map(lambda r: backend.render(r, tmp_path / f"{r.shot_id}.mp4", render_ctx), requests))
    assert len({r.job_id for r in results}) == 4
    assert running.emulator.stats()["jobs_by_prompt"] == {r.prompt: 1 for r in requests}
    # overlapped, not one after another: every shot was under way before the first one finished
    calls: list[tuple[str, str, float | None]] = render_ctx.on_progress.calls  # type: ignore[attr-defined]
    first_done = next(i for i, (_, state, _) in enumerate(calls) if state == "done")
    assert {sid for sid, _, _ in calls[:first_done]} == {r.shot_id for r in requests}
