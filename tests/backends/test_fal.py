"""The fal backend against the fal emulator over loopback: the happy path, fal's error shapes, retries by
header, failed and cancelled requests, expired result URLs, resuming, the model table, and the key's safety."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.backends import create_backend
from pipeline.backends.base import RenderContext, RenderRequest
from pipeline.backends.fal import FalBackend, queue_app_path
from pipeline.backends.fal_emulator import FalEmulator, RunningFalEmulator, parse_fal_faults
from pipeline.backends.fal_models import DEFAULT_MODELS, FalModelTable, pixel_size
from pipeline.backends.journal import JobJournal
from pipeline.errors import BackendError, RecipeError, RenderError, UsageError
from pipeline.media.probe import probe
from tests.backends.conftest import FAL_KEY_ENV, fal_config, fal_request
from tests.backends.conftest import FAL_TINY_MODEL as TINY_MODEL
from tests.backends.conftest import FAL_TINY_MODELS as TINY_MODELS

Serve = Callable[..., RunningFalEmulator]
Make = Callable[..., FalBackend]


def _journal(ctx: RenderContext, request: RenderRequest) -> dict[str, Any]:
    entry = JobJournal(ctx.work_dir, "fal").load(request.cache_key)
    assert entry is not None
    return entry.to_dict()


def test_renders_a_shot_through_the_queue(serve_fal: Serve, make_fal: Make, render_ctx: RenderContext,
                                          tmp_path: Path, fal_key: str) -> None:
    running = serve_fal()
    backend = make_fal(running)
    req = fal_request("cup", seconds=2)
    result = backend.render(req, tmp_path / "cup.mp4", render_ctx)

    media = probe(tmp_path / "cup.mp4")
    assert media.video is not None and (media.video.width, media.video.height) == (320, 180)
    assert abs(media.duration - 2.0) < 0.1
    stats = running.emulator.stats()
    assert stats["submits"] == 1 and stats["result"] == 1 and stats["file"] == 1
    # the request is mapped through the model table: Veo-style "2s", the aspect ratio, the resolution, the seed
    assert stats["last_input"] == {"prompt": req.prompt, "image_url": "<data-uri>", "duration": "2s",
                                   "aspect_ratio": "16:9", "resolution": "180p", "seed": 7}
    assert running.emulator.last_auth == "Key"
    assert result.job_id and result.cost_usd == 0.02 and result.info["provenance"] == "service"
    entry = _journal(render_ctx, req)
    assert entry["state"] == "downloaded" and entry["job_id"] == result.job_id
    assert entry["request"]["duration"] == "2s" and entry["service"] == running.base_url
    states = render_ctx.on_progress.states("cup")  # type: ignore[attr-defined]
    assert "rendering" in states and states[-2:] == ["downloading", "done"]
    assert fal_key not in json.dumps(entry) + json.dumps(result.info)


def test_resumes_a_journaled_request_instead_of_submitting(serve_fal: Serve, make_fal: Make,
                                                           render_ctx: RenderContext, tmp_path: Path) -> None:
    running = serve_fal()
    req = fal_request("cup")
    make_fal(running).render(req, tmp_path / "a.mp4", render_ctx)
    again = make_fal(running).render(req, tmp_path / "b.mp4", render_ctx)  # a new process would do the same
    assert again.info["resumed"] is True
    assert running.emulator.stats()["submits"] == 1 and probe(tmp_path / "b.mp4").video is not None


def test_validation_error_detail_is_shown_and_not_retried(serve_fal: Serve, make_fal: Make,
                                                          render_ctx: RenderContext, tmp_path: Path) -> None:
    # the emulator's table says the model takes 1 s only; the client's was extended to think 2 s is fine
    running = serve_fal(models={TINY_MODEL: {**TINY_MODELS[TINY_MODEL], "durations": [1]}})
    backend = make_fal(running)
    req = fal_request("cup", seconds=2)
    with pytest.raises(BackendError) as info:
        backend.render(req, tmp_path / "x.mp4", render_ctx)
    err = info.value
    assert err.status == 422 and err.code == "enum"
    assert "duration: Input should be one of '1s'" in err.message
    assert "schema" in (err.hint or "")
    assert running.emulator.stats()["submit_requests"] == 1  # X-Fal-Retryable: false, and 422 is final
    assert _journal(render_ctx, req)["state"] == "failed"  # nothing runs: a re-run submits anew


def test_content_policy_422_names_the_fix(serve_fal: Serve, make_fal: Make, render_ctx: RenderContext,
                                          tmp_path: Path) -> None:
    running = serve_fal(faults="422:1")
    with pytest.raises(BackendError) as info:
        make_fal(running).render(fal_request("cup"), tmp_path / "x.mp4", render_ctx)
    assert info.value.code == "content_policy_violation" and "prompt: The prompt was flagged" in info.value.message
    assert "rephrase" in (info.value.hint or "")


def test_429_and_503_with_retry_header_are_retried(serve_fal: Serve, make_fal: Make, render_ctx: RenderContext,
                                                   tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    running = serve_fal(faults="429:1:on=submit:after=0.05,503:2:on=status:retry=1,500:1:on=result:retry=1")
    backend = make_fal(running)
    with caplog.at_level(logging.WARNING):
        backend.render(fal_request("cup"), tmp_path / "x.mp4", render_ctx)
    stats = running.emulator.stats()
    assert stats["submits"] == 1 and stats["submit_requests"] == 2  # the 429 made no job
    assert stats["faults"] == {"429": 1, "503": 2, "500": 1}
    assert "HTTP 429" in caplog.text and "retry 1" in caplog.text


def test_retry_header_zero_stops_retrying(serve_fal: Serve, make_fal: Make, render_ctx: RenderContext,
                                          tmp_path: Path) -> None:
    running = serve_fal(faults="503:3:on=submit:retry=0")
    with pytest.raises(BackendError) as info:
        make_fal(running).render(fal_request("cup"), tmp_path / "x.mp4", render_ctx)
    assert info.value.status == 503 and info.value.code == "runner_scheduling_failure"
    assert running.emulator.stats()["submit_requests"] == 1


def test_rate_limit_that_never_ends_gives_up_clearly(serve_fal: Serve, make_fal: Make, render_ctx: RenderContext,
                                                     tmp_path: Path) -> None:
    running = serve_fal(faults="429:10:on=submit:after=0")
    with pytest.raises(BackendError) as info:
        make_fal(running, max_retries=3).render(fal_request("cup"), tmp_path / "x.mp4", render_ctx)
    assert "gave up after 3 attempts" in info.value.message and "concurrency" in (info.value.hint or "")
    assert running.emulator.stats()["submits"] == 0


def test_completed_with_an_error_fails_and_a_rerun_submits_again(serve_fal: Serve, make_fal: Make,
                                                                 render_ctx: RenderContext, tmp_path: Path) -> None:
    running = serve_fal(faults="error:1:type=content_policy_violation")
    backend = make_fal(running)
    req = fal_request("cup")
    with pytest.raises(BackendError) as info:
        backend.render(req, tmp_path / "x.mp4", render_ctx)
    assert info.value.code == "content_policy_violation" and "flagged" in info.value.message
    entry = _journal(render_ctx, req)
    assert entry["state"] == "failed" and entry["error"]["code"] == "content_policy_violation"
    backend.render(req, tmp_path / "x.mp4", render_ctx)  # the failed request is not resumed: a new one is made
    assert running.emulator.stats()["submits"] == 2


def test_ctrl_c_while_polling_cancels_the_request(serve_fal: Serve, make_fal: Make, tmp_path: Path) -> None:
    running = serve_fal(latency=5.0)
    backend = make_fal(running)
    req = fal_request("cup")

    def on_progress(shot: str, state: str, fraction: float | None) -> None:
        if state in ("queued", "rendering"):
            raise KeyboardInterrupt  # what Ctrl-C does to the polling loop

    ctx = RenderContext(work_dir=tmp_path / ".reelpipe", on_progress=on_progress)
    with pytest.raises(KeyboardInterrupt):
        backend.render(req, tmp_path / "x.mp4", ctx)
    stats = running.emulator.stats()
    assert stats["cancel"] == 1 and stats["cancelled"] == 1
    entry = _journal(ctx, req)
    assert entry["state"] == "failed" and entry["error"]["code"] == "cancelled"
    assert not (tmp_path / "x.mp4").exists()


def test_interrupt_from_another_thread_cancels_waiting_renders(serve_fal: Serve, make_fal: Make,
                                                               render_ctx: RenderContext, tmp_path: Path) -> None:
    running = serve_fal(latency=5.0)
    backend = make_fal(running, poll_interval=0.2)
    threading.Timer(0.5, backend.interrupt).start()
    t0 = time.monotonic()
    with pytest.raises(BackendError) as info:
        backend.render(fal_request("cup"), tmp_path / "x.mp4", render_ctx)
    assert info.value.code == "cancelled" and time.monotonic() - t0 < 3
    assert running.emulator.stats()["cancelled"] == 1


def test_expired_video_url_is_refreshed(serve_fal: Serve, make_fal: Make, render_ctx: RenderContext,
                                        tmp_path: Path) -> None:
    running = serve_fal(faults="expire:1")
    make_fal(running).render(fal_request("cup"), tmp_path / "x.mp4", render_ctx)
    stats = running.emulator.stats()
    assert stats["result"] == 2 and stats["file"] == 2 and stats["submits"] == 1
    assert probe(tmp_path / "x.mp4").video is not None


def test_expired_result_fails_clearly(serve_fal: Serve, make_fal: Make, render_ctx: RenderContext,
                                      tmp_path: Path) -> None:
    running = serve_fal(faults="gone:1")
    with pytest.raises(BackendError) as info:
        make_fal(running).render(fal_request("cup"), tmp_path / "x.mp4", render_ctx)
    assert info.value.code == "result_expired" and "has expired" in info.value.message
    assert ".reelpipe/jobs/fal" in (info.value.hint or "") and "billed" in (info.value.hint or "")


def test_lost_submission_answer_is_never_resubmitted(serve_fal: Serve, make_fal: Make, render_ctx: RenderContext,
                                                     tmp_path: Path) -> None:
    running = serve_fal(faults="drop:1")
    backend = make_fal(running)
    req = fal_request("cup")
    for _ in range(2):  # the run, and a re-run: neither pays a second time
        with pytest.raises(BackendError) as info:
            backend.render(req, tmp_path / "x.mp4", render_ctx)
        assert info.value.code == "submit_unconfirmed" and "delete" in (info.value.hint or "")
    assert running.emulator.stats()["submits"] == 1
    Path(JobJournal(render_ctx.work_dir, "fal").path_for(req.cache_key)).unlink()  # what the hint says
    backend.render(req, tmp_path / "x.mp4", render_ctx)
    assert running.emulator.stats()["submits"] == 2


def test_bad_key_is_clear_and_never_leaks(serve_fal: Serve, make_fal: Make, render_ctx: RenderContext,
                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture) -> None:
    running = serve_fal()
    wrong = "fal-wrong-key-0123456789"
    monkeypatch.setenv(FAL_KEY_ENV, wrong)
    with caplog.at_level(logging.DEBUG), pytest.raises(BackendError) as info:
        make_fal(running).render(fal_request("cup"), tmp_path / "x.mp4", render_ctx)
    assert info.value.status == 401 and FAL_KEY_ENV in (info.value.hint or "")
    text = str(info.value) + caplog.text + "".join(p.read_text() for p in render_ctx.work_dir.rglob("*.json"))
    assert wrong not in text


def test_missing_key_variable(serve_fal: Serve, make_fal: Make, render_ctx: RenderContext, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    running = serve_fal()
    backend = make_fal(running, api_key_env="REELPIPE_NO_SUCH_KEY")
    assert any("REELPIPE_NO_SUCH_KEY is not set" in w for w in backend.preflight(fal_request("cup")))
    with pytest.raises(BackendError, match="REELPIPE_NO_SUCH_KEY is not set"):
        backend.render(fal_request("cup"), tmp_path / "x.mp4", render_ctx)
    assert running.emulator.stats()["submit_requests"] == 0


def test_upload_mode_sends_an_uploaded_url(serve_fal: Serve, make_fal: Make, render_ctx: RenderContext,
                                           tmp_path: Path) -> None:
    running = serve_fal()
    make_fal(running, image_upload="upload").render(fal_request("cup"), tmp_path / "x.mp4", render_ctx)
    stats = running.emulator.stats()
    assert stats["upload"] == 2 and stats["last_input"]["image_url"] == "<url>"


def test_unsigned_clips_are_signed_by_the_run_and_service_manifests_kept(serve_fal: Serve, make_fal: Make,
                                                                        tmp_path: Path) -> None:
    signed: list[tuple[str, RenderRequest, dict[str, Any]]] = []

    def signer(path: Path, request: RenderRequest, info: dict[str, Any]) -> None:
        signed.append((path.suffix, request, dict(info)))

    running = serve_fal()
    ctx = RenderContext(work_dir=tmp_path / ".reelpipe", signer=signer)
    result = make_fal(running).render(fal_request("cup"), tmp_path / "x.mp4", ctx)
    assert result.info["provenance"] == "reelpipe" and len(signed) == 1
    suffix, request, info = signed[0]
    assert suffix == ".mp4" and request.model == TINY_MODEL and info["backend"] == "fal"

    signing = serve_fal(sign=True, home=tmp_path / "emu-home")
    result = make_fal(signing).render(fal_request("jar"), tmp_path / "y.mp4", ctx)
    assert result.info["provenance"] == "service" and len(signed) == 1  # fal's own manifest is kept
    assert make_fal(running, sign_unsigned=False).render(fal_request("cap"), tmp_path / "z.mp4", ctx) \
        .info["provenance"] == "service" and len(signed) == 1


def test_concurrent_renders_share_one_backend(serve_fal: Serve, make_fal: Make, render_ctx: RenderContext,
                                              tmp_path: Path) -> None:
    running = serve_fal()
    backend = make_fal(running)
    errors: list[BaseException] = []

    def go(i: int) -> None:
        try:
            backend.render(fal_request(f"s{i}"), tmp_path / f"s{i}.mp4", render_ctx)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and running.emulator.stats()["submits"] == 3


# -- offline: the table, preflight, cost, config ------------------------------------------------------

def test_preflight_and_cost_use_the_model_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAL_KEY", "fal-offline-test-key")
    veo = FalBackend({"name": "fal", "model": "fal-ai/veo3.1/image-to-video"})
    req = fal_request("a", seconds=8, size=(1280, 720))
    assert veo.preflight(req) == []
    assert veo.estimate_cost(req) == 3.2  # 8 s at $0.40/s: Veo makes audio unless told otherwise
    quiet = FalBackend({"name": "fal", "model": "fal-ai/veo3.1/image-to-video", "resolution": "4k",
                        "arguments": {"generate_audio": False}})
    assert quiet.estimate_cost(req) == 3.2  # 4k without audio is $0.40/s too
    wan = FalBackend({"name": "fal", "model": "fal-ai/wan/v2.2-a14b/image-to-video"})
    assert wan.estimate_cost(fal_request("a", seconds=5, size=(1280, 720))) == 0.405  # 81 frames at 16 fps
    with pytest.raises(RenderError, match=r"does not render 5 s clips") as info:
        veo.preflight(fal_request("a", seconds=5, size=(1280, 720)))
    assert "4, 6, 8 s" in (info.value.hint or "")
    square = veo.preflight(fal_request("a", seconds=4, size=(720, 720)))
    assert any("letterboxes" in w for w in square)
    with pytest.raises(RenderError, match="letterboxes"):
        FalBackend({"name": "fal", "strict": True}).preflight(fal_request("a", seconds=4, size=(720, 720)))
    with pytest.raises(RenderError, match="cannot remix"):
        veo.preflight(fal_request("b", seconds=4, size=(1280, 720), remix_of="a"))
    with pytest.raises(RenderError, match="needs an image"):
        veo.preflight(fal_request("b", seconds=4, size=(1280, 720), image=None))
    with pytest.raises(RenderError, match="not in the model table") as info:
        FalBackend({"name": "fal", "model": "fal-ai/veo3.1/image-to-vide"}).preflight(req)
    assert "did you mean 'fal-ai/veo3.1/image-to-video'" in (info.value.hint or "")


def test_every_default_model_builds_and_prices_its_durations() -> None:
    table = FalModelTable.from_config()
    assert set(table.names()) == set(DEFAULT_MODELS)
    for name in table.names():
        model = table.get(name)
        assert model is not None and model.verified
        seconds = model.durations[0] if model.durations else 5.0
        assert model.allows_seconds(seconds)
        assert model.cost(seconds, model.choose_resolution(1280, 720), audio=False) > 0
    wan = table.get("fal-ai/wan/v2.2-a14b/image-to-video")
    assert wan is not None and wan.duration_value(5) == 81 and wan.duration_value(1.1) == 21
    assert not wan.allows_seconds(20)
    ltx = table.get("fal-ai/ltx-2/image-to-video")
    assert ltx is not None and ltx.duration_value(6) == 6 and ltx.choose_resolution(1280, 720) == "1080p"
    assert table.get("fal-ai/kling-video/v2.5-turbo/pro/image-to-video").duration_value(5) == "5"  # type: ignore[union-attr]
    assert pixel_size("720p", 16 / 9) == (1280, 720) and pixel_size("4k", 9 / 16) == (2160, 3840)


def test_the_table_is_extended_from_the_recipe() -> None:
    table = FalModelTable.from_config({
        "me/new-model": {"durations": [3], "aspect_field": None, "resolution_field": None,
                         "resolutions": ["720p"], "usd_per_second": 0.05, "arguments": {"mode": "pro"}},
        "fal-ai/veo3.1/image-to-video": {"usd_per_second": 0.5},
    })
    new = table.get("me/new-model")
    assert new is not None and new.cost(3, "720p", audio=False) == 0.15 and new.arguments == {"mode": "pro"}
    veo = table.get("fal-ai/veo3.1/image-to-video")
    assert veo is not None and veo.price_per_second("720p", audio=False) == 0.5 and veo.durations == (4, 6, 8)
    assert veo.verified.startswith("changed by the recipe (usd_per_second)")
    with pytest.raises(RecipeError, match="missing usd_per_second"):
        FalModelTable.from_config({"me/x": {"durations": [5], "aspect_field": None, "resolution_field": None}})
    with pytest.raises(RecipeError, match="did you mean 'durations'"):
        FalModelTable.from_config({"me/x": {"duration": [5], "usd_per_second": 1}})
    with pytest.raises(RecipeError, match="duration_style"):
        FalModelTable.from_config({"me/x": {"duration_style": "minutes", "usd_per_second": 1}})


def test_config_errors_and_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RecipeError, match="must not be written in a recipe"):
        FalBackend({"name": "fal", "api_key": "fal-xyz"})
    with pytest.raises(RecipeError, match="not an environment variable name"):
        FalBackend({"name": "fal", "api_key_env": "fal-123:abc"})
    with pytest.raises(RecipeError, match="not an http"):
        FalBackend({"name": "fal", "base_url": "queue.fal.run"})
    with pytest.raises(RecipeError, match="resolution"):
        FalBackend({"name": "fal", "resolution": "huge"})
    backend = create_backend({"name": "fal", "poll_intervall": 2, "recipe_dir": "/tmp", "strict": False})
    assert isinstance(backend, FalBackend) and backend.concurrency == 4
    warnings = backend.preflight(fal_request("a", seconds=4, size=(1280, 720)))
    assert any("did you mean 'poll_interval'" in w for w in warnings)
    assert any("FAL_KEY is not set" in w for w in warnings)
    assert backend.version().startswith("fal-queue-1@https://queue.fal.run#fal-ai/veo3.1/image-to-video~")


def test_queue_urls_drop_the_sub_path() -> None:
    assert queue_app_path("fal-ai/veo3.1/image-to-video") == "fal-ai/veo3.1"
    assert queue_app_path("fal-ai/kling-video/v2.1/standard/image-to-video") == "fal-ai/kling-video"
    assert queue_app_path("workflows/me/flow/sub") == "workflows/me/flow"


def test_emulator_fault_spec_errors() -> None:
    assert [r.kind for r in parse_fal_faults("429:1:after=0.1,503:0.5:retry=0,expire:1")] == ["429", "503", "expire"]
    with pytest.raises(UsageError, match="KIND"):
        parse_fal_faults("teapot:1")
    with pytest.raises(UsageError, match="retry="):
        parse_fal_faults("503:1:retry=2")


def test_emulator_contract_details(serve_fal: Serve, fal_key: str) -> None:
    import httpx

    running = serve_fal()
    base = running.base_url
    with httpx.Client(base_url=base, headers={"Authorization": f"Key {fal_key}"}) as client:
        assert client.post("fal-ai/unknown-model", json={}).status_code == 404
        bad = client.post(TINY_MODEL, json={"prompt": "x", "image_url": "https://example.com/a.jpg"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "image_url"]
        assert "never fetches" in bad.json()["detail"][0]["msg"]
        missing = client.post(TINY_MODEL, json={"image_url": "data:image/png;base64,AAAA"})
        assert missing.json()["detail"][0] == {"loc": ["body", "prompt"], "msg": "Field required", "type": "missing",
                                               "url": "https://docs.fal.ai/errors#missing"}
        assert client.get(f"{queue_app_path(TINY_MODEL)}/requests/nope/status").status_code == 404
    assert httpx.post(f"{base}/{TINY_MODEL}", json={}).status_code == 401
    assert isinstance(running.emulator, FalEmulator)


def test_fal_emulator_command_is_registered() -> None:
    from pipeline.cli import build_parser

    args = build_parser().parse_args(["fal-emulator", "--port", "0", "--faults", "429:1"])
    assert args.command == "fal-emulator" and args.faults == "429:1" and callable(args.func)


def test_fal_config_helper_points_at_the_emulator(serve_fal: Serve) -> None:
    running = serve_fal()
    assert fal_config(running)["base_url"] == running.base_url
