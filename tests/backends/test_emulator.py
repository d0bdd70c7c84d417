"""The emulator speaks the OpenAI Videos API contract: endpoints, validation, error shape, faults."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from pipeline.backends.emulator import Emulator, InProcessTransport, RunningEmulator, parse_faults
from pipeline.backends.emulator.faults import FaultPlan
from pipeline.errors import UsageError
from tests.backends.conftest import SAMPLES

VIDEO_KEYS = {"id", "object", "model", "status", "progress", "created_at", "completed_at", "expires_at",
              "prompt", "size", "seconds", "remixed_from_video_id", "error"}


def _image(size: tuple[int, int] = (320, 180), name: str = "coffee.jpg", ext: str = ".jpg") -> bytes:
    img = cv2.resize(cv2.imread(str(SAMPLES / name)), size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


def _client(running: RunningEmulator, key: str) -> httpx.Client:
    return httpx.Client(base_url=running.base_url + "/", headers={"Authorization": f"Bearer {key}"}, timeout=10)


def _create(client: httpx.Client, prompt: str = "A cup. Push in.", **fields: Any) -> httpx.Response:
    data = {"prompt": prompt, "model": "tiny", "seconds": "1", "size": "320x180", **fields}
    return client.post("videos", data=data, files={"input_reference": ("ref.jpg", _image(), "image/jpeg")})


def _wait(client: httpx.Client, video_id: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        video: dict[str, Any] = client.get(f"videos/{video_id}").json()
        if video["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return video
        time.sleep(0.05)


def _error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    err: dict[str, Any] = body["error"]
    return err


def test_job_lifecycle_content_and_remix(serve_emulator: Callable[..., RunningEmulator], api_key: str) -> None:
    running = serve_emulator(latency=0.6)
    with _client(running, api_key) as c:
        r = _create(c)
        assert r.status_code == 200
        video = r.json()
        assert set(video) == VIDEO_KEYS
        assert video["object"] == "video" and video["id"].startswith("video_")
        assert (video["status"], video["progress"], video["seconds"], video["size"]) == ("queued", 0, "1", "320x180")
        assert video["completed_at"] is None and video["error"] is None
        assert int(r.headers["openai-poll-after-ms"]) >= 100
        seen = set()
        progress = []
        while True:
            v = c.get(f"videos/{video['id']}").json()
            seen.add(v["status"])
            progress.append(v["progress"])
            if v["status"] == "completed":
                break
            time.sleep(0.05)
        assert {"queued", "in_progress", "completed"} <= seen
        assert progress == sorted(progress) and progress[-1] == 100
        assert v["completed_at"] >= v["created_at"] and v["expires_at"] > v["completed_at"]

        mp4 = c.get(f"videos/{video['id']}/content")
        assert mp4.headers["content-type"] == "video/mp4" and mp4.content[4:8] == b"ftyp"
        thumb = c.get(f"videos/{video['id']}/content", params={"variant": "thumbnail"})
        assert thumb.headers["content-type"] == "image/webp" and thumb.content[8:12] == b"WEBP"
        sprite = c.get(f"videos/{video['id']}/content", params={"variant": "spritesheet"})
        assert sprite.headers["content-type"] == "image/jpeg" and sprite.content[:3] == b"\xff\xd8\xff"
        assert _error(c.get(f"videos/{video['id']}/content", params={"variant": "gif"}))["param"] == "variant"

        remix = c.post(f"videos/{video['id']}/remix", json={"prompt": "Make the cup orange."})
        assert remix.status_code == 200
        rv = remix.json()
        assert rv["remixed_from_video_id"] == video["id"] and (rv["size"], rv["seconds"]) == ("320x180", "1")
        assert _wait(c, rv["id"])["status"] == "completed"

        deleted = c.delete(f"videos/{rv['id']}")
        assert deleted.json() == {"id": rv["id"], "object": "video.deleted", "deleted": True}
        assert c.get(f"videos/{rv['id']}").status_code == 404
    stats = running.emulator.stats()
    assert (stats["creates"], stats["remixes"], stats["deletes"]) == (1, 1, 1)


def test_json_create_and_data_url_reference(serve_emulator: Callable[..., RunningEmulator], api_key: str) -> None:
    running = serve_emulator(latency=0.0)
    with _client(running, api_key) as c:
        text_only = c.post("videos", json={"prompt": "A glowing orb. Pan left.", "model": "tiny", "seconds": "1",
                                           "size": "320x180"})
        assert text_only.status_code == 200, text_only.text
        data_url = "data:image/png;base64," + base64.b64encode(_image(ext=".png")).decode()
        with_ref = c.post("videos", json={"prompt": "A cup.", "model": "tiny", "seconds": "1", "size": "320x180",
                                          "input_reference": {"image_url": data_url}})
        assert with_ref.status_code == 200, with_ref.text
        assert _wait(c, text_only.json()["id"])["status"] == "completed"
        remote = c.post("videos", json={"prompt": "x", "model": "tiny", "seconds": "1", "size": "320x180",
                                        "input_reference": {"image_url": "https://example.com/a.png"}})
        assert remote.status_code == 400 and _error(remote)["param"] == "input_reference.image_url"


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"seconds": "3"}, "seconds", "invalid_value"),
        ({"size": "1280x720"}, "size", "invalid_value"),
        ({"model": "sora-9"}, "model", "invalid_value"),
        ({"prompt": ""}, "prompt", "missing_required_parameter"),
        ({"prompt": "x" * 32001}, "prompt", "string_above_max_length"),
        ({"colour": "red"}, "colour", "unknown_parameter"),
    ],
)
def test_create_validation_multipart(serve_emulator: Callable[..., RunningEmulator], api_key: str,
                                     fields: dict[str, str], param: str, code: str) -> None:
    running = serve_emulator()
    with _client(running, api_key) as c:
        r = _create(c, **fields)
    assert r.status_code == 400
    err = _error(r)
    assert (err["param"], err["code"], err["type"]) == (param, code, "invalid_request_error")
    assert running.emulator.stats()["creates"] == 0


def test_create_validation_json_types_and_reference(serve_emulator: Callable[..., RunningEmulator],
                                                    api_key: str) -> None:
    running = serve_emulator()
    with _client(running, api_key) as c:
        r = c.post("videos", json={"prompt": "x", "model": "tiny", "seconds": 1, "size": "320x180"})
        assert r.status_code == 400 and _error(r)["code"] == "invalid_type" and "string" in _error(r)["message"]
        wrong_size = c.post("videos", data={"prompt": "x", "model": "tiny", "seconds": "1", "size": "320x180"},
                            files={"input_reference": ("big.jpg", _image((640, 360)), "image/jpeg")})
        assert wrong_size.status_code == 400
        assert _error(wrong_size)["message"] == "Inpaint image must match the requested width and height"
        not_image = c.post("videos", data={"prompt": "x", "model": "tiny", "seconds": "1", "size": "320x180"},
                           files={"input_reference": ("a.gif", b"GIF89a....", "image/gif")})
        assert not_image.status_code == 400 and _error(not_image)["code"] == "invalid_image_format"


def test_bearer_key_is_required(serve_emulator: Callable[..., RunningEmulator], api_key: str) -> None:
    running = serve_emulator()
    with httpx.Client(base_url=running.base_url + "/") as c:
        missing = c.get("videos")
        wrong = c.get("videos", headers={"Authorization": "Bearer sk-wrong-0000000"})
    assert missing.status_code == 401 and wrong.status_code == 401
    assert _error(wrong)["code"] == "invalid_api_key"
    assert "sk-wrong" not in wrong.text  # the service's message never echoes the key


def test_list_paging(serve_emulator: Callable[..., RunningEmulator], api_key: str) -> None:
    running = serve_emulator(latency=0.0)
    with _client(running, api_key) as c:
        ids = [c.post("videos", json={"prompt": f"orb {i}", "model": "tiny", "seconds": "1",
                                      "size": "320x180"}).json()["id"] for i in range(5)]
        first = c.get("videos", params={"limit": 2}).json()
        assert first["object"] == "list" and [v["id"] for v in first["data"]] == ids[::-1][:2]
        assert first["has_more"] is True and first["first_id"] == ids[4] and first["last_id"] == ids[3]
        collected: list[str] = []
        after = None
        while True:
            params: dict[str, Any] = {"limit": 2, "order": "asc"}
            if after:
                params["after"] = after
            page = c.get("videos", params=params).json()
            collected += [v["id"] for v in page["data"]]
            if not page["has_more"]:
                break
            after = page["last_id"]
        assert collected == ids
        assert _error(c.get("videos", params={"limit": 0}))["param"] == "limit"
        assert _error(c.get("videos", params={"order": "sideways"}))["param"] == "order"


def test_remix_needs_a_completed_source(serve_emulator: Callable[..., RunningEmulator], api_key: str) -> None:
    running = serve_emulator(latency=5.0)
    with _client(running, api_key) as c:
        vid = _create(c).json()["id"]
        early = c.post(f"videos/{vid}/remix", json={"prompt": "orange"})
        assert early.status_code == 400 and "completed" in _error(early)["message"]
        assert c.post("videos/video_nope/remix", json={"prompt": "x"}).status_code == 404
        assert c.delete(f"videos/{vid}").status_code == 400  # still running


def test_idempotency_key_replays_the_same_job(serve_emulator: Callable[..., RunningEmulator], api_key: str) -> None:
    running = serve_emulator()
    with _client(running, api_key) as c:
        a = _create(c, prompt="same").json()
        b = c.post("videos", data={"prompt": "same", "model": "tiny", "seconds": "1", "size": "320x180"},
                   files={"input_reference": ("r.jpg", _image(), "image/jpeg")}, headers={"Idempotency-Key": "k1"})
        c2 = c.post("videos", data={"prompt": "same", "model": "tiny", "seconds": "1", "size": "320x180"},
                    files={"input_reference": ("r.jpg", _image(), "image/jpeg")}, headers={"Idempotency-Key": "k1"})
    assert b.json()["id"] == c2.json()["id"] != a["id"]
    stats = running.emulator.stats()
    assert (stats["creates"], stats["create_requests"], stats["idempotent_replays"]) == (2, 3, 1)
    assert stats["jobs_by_prompt"] == {"same": 2}


def test_faces_are_rejected_like_the_service(serve_emulator: Callable[..., RunningEmulator], api_key: str) -> None:
    from pipeline.backends.openai import face_detector_status

    if face_detector_status() is not None:
        pytest.skip(f"no face detector: {face_detector_status()}")
    from pipeline.backends.openai import fit_reference_image

    running = serve_emulator()
    portrait = fit_reference_image(SAMPLES / "astronaut.jpg", 180, 320).data
    with _client(running, api_key) as c:
        r = c.post("videos", data={"prompt": "An astronaut.", "model": "tiny", "seconds": "1", "size": "180x320"},
                   files={"input_reference": ("a.jpg", portrait, "image/jpeg")})
    assert r.status_code == 400 and _error(r)["code"] == "moderation_blocked"
    assert running.emulator.stats()["creates"] == 0


def test_status_faults_carry_retry_after_then_stop(serve_emulator: Callable[..., RunningEmulator],
                                                  api_key: str) -> None:
    running = serve_emulator(faults="429:2:after=1.5,503:1:on=list")
    with _client(running, api_key) as c:
        first, second, third = (c.get("videos") for _ in range(3))
    assert first.status_code == 429 and second.status_code == 429
    assert first.headers["retry-after"] == "2" and first.headers["retry-after-ms"] == "1500"
    assert _error(first)["code"] == "rate_limit_exceeded"
    assert third.status_code == 503 and _error(third)["type"] == "server_error"
    assert running.emulator.stats()["faults"] == {"429": 2, "503": 1}


def test_moderation_fault_fails_the_job(serve_emulator: Callable[..., RunningEmulator], api_key: str) -> None:
    running = serve_emulator(faults="moderation:1", latency=0.3)
    with _client(running, api_key) as c:
        video = _wait(c, _create(c).json()["id"])
    assert video["status"] == "failed"
    assert video["error"]["code"] == "moderation_blocked"


def test_truncate_and_drop_break_the_connection(serve_emulator: Callable[..., RunningEmulator],
                                                api_key: str) -> None:
    running = serve_emulator(faults="truncate:1,drop:1:on=retrieve", latency=0.0)
    with _client(running, api_key) as c:
        vid = c.post("videos", json={"prompt": "orb", "model": "tiny", "seconds": "1", "size": "320x180"}).json()["id"]
        with pytest.raises(httpx.RemoteProtocolError):
            c.get(f"videos/{vid}")
        assert _wait(c, vid)["status"] == "completed"
        with pytest.raises(httpx.RemoteProtocolError):
            c.get(f"videos/{vid}/content")
        assert c.get(f"videos/{vid}/content").content[4:8] == b"ftyp"


def test_in_process_transport(api_key: str, emulator_home: Any) -> None:
    """The same app runs in-process through httpx.ASGITransport, faults included."""
    from tests.backends.conftest import TINY_MODELS

    emu = Emulator(api_key=api_key, models=TINY_MODELS, latency=0.0, sign=False, faults="drop:1:on=create,slow:1:on=list:secs=2")
    transport = InProcessTransport(emu.app)
    try:
        with httpx.Client(transport=transport, base_url="http://emulator/v1/",
                          headers={"Authorization": f"Bearer {api_key}"}, timeout=httpx.Timeout(0.5)) as c:
            with pytest.raises(httpx.RemoteProtocolError):
                c.post("videos", json={"prompt": "orb", "model": "tiny", "seconds": "1", "size": "320x180"})
            with pytest.raises(httpx.ReadTimeout):
                c.get("videos")
            listing = c.get("videos").json()
            assert len(listing["data"]) == 1  # the dropped create did create its job
            vid = listing["data"][0]["id"]
            assert _wait(c, vid)["status"] == "completed"
    finally:
        transport.close()
        emu.close()


def test_fault_spec_parsing() -> None:
    rules = parse_faults("429:0.3,500:2,slow:0.2:secs=3,moderation:1,truncate:1,drop:1:on=create+remix")
    kinds = [(r.kind, r.count, r.probability) for r in rules]
    assert kinds == [("429", None, 0.3), ("500", 2, 0.0), ("slow", None, 0.2), ("moderation", 1, 0.0),
                     ("truncate", 1, 0.0), ("drop", 1, 0.0)]
    assert rules[2].seconds == 3.0 and rules[5].endpoints == {"create", "remix"}
    assert rules[4].endpoints == {"content"} and rules[3].endpoints == {"create", "remix"}
    assert FaultPlan(rules).describe().startswith("429:0.3:after=1,500:2,slow:0.2:secs=3")
    for bad in ("429", "teapot:1", "500:1.5", "500:-1", "drop:1:on=everything", "slow:1:speed=2"):
        with pytest.raises(UsageError):
            parse_faults(bad)


def test_fault_probabilities_are_seeded() -> None:
    def pattern(seed: int) -> list[bool]:
        plan = FaultPlan.parse("500:0.5", seed=seed)
        return [plan.fire(("500",), "retrieve") is not None for _ in range(40)]

    assert pattern(7) == pattern(7)
    assert 5 < sum(pattern(7)) < 35


def test_previews_of_a_text_only_job_are_images(serve_emulator: Callable[..., RunningEmulator],
                                                api_key: str) -> None:
    running = serve_emulator(latency=0.0)
    with _client(running, api_key) as c:
        vid = c.post("videos", json={"prompt": "An orb. Tilt up.", "model": "tiny", "seconds": "1",
                                     "size": "180x320"}).json()["id"]
        assert _wait(c, vid)["status"] == "completed"
        sprite = c.get(f"videos/{vid}/content", params={"variant": "spritesheet"}).content
    img = cv2.imdecode(np.frombuffer(sprite, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.shape[1] == 5 * 160


def test_emulated_clips_carry_the_services_own_manifest(serve_emulator: Callable[..., RunningEmulator],
                                                        api_key: str, emulator_home: Any, tmp_path: Any) -> None:
    """Clips are signed as the service signs its outputs, by the emulator's own identity: they read
    'valid' (untrusted signer), and 'trusted' only once the emulator's root is added as a trust anchor."""
    provenance = pytest.importorskip("pipeline.provenance")
    running = serve_emulator(sign=True, latency=0.0)
    with _client(running, api_key) as c:
        vid = _create(c, prompt="A cup. Push in.").json()["id"]
        assert _wait(c, vid)["status"] == "completed"
        clip = tmp_path / "clip.mp4"
        clip.write_bytes(c.get(f"videos/{vid}/content").content)
    assert running.emulator.stats()["signed"] == 1, running.emulator.stats()["sign_errors"]
    verdict = provenance.verify(clip)
    assert verdict.state == "valid" and "signingCredential.untrusted" in verdict.codes
    assert verdict.actions and verdict.actions[0] == "c2pa.created"
    assert "reelpipe emulator" in (verdict.signer or "")  # an audit names the emulator, not the user
    root = provenance.find_identity(emulator_home).root_cert_path
    assert root is not None
    assert provenance.verify(clip, trust=[root]).state == "trusted"
