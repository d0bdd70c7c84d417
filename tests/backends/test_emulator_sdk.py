"""The official ``openai`` SDK drives the emulator: create with input_reference, create_and_poll, retrieve,
list paging, download_content, remix, delete — and its errors parse."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import cv2
import pytest

from pipeline.backends.emulator import RunningEmulator
from tests.backends.conftest import SAMPLES

openai = pytest.importorskip("openai")


@pytest.fixture(autouse=True)
def _quiet_sunset_warnings() -> Iterator[None]:
    # the SDK marks the Videos API deprecated (OpenAI's endpoint closed on 2026-09-24); gateways still serve it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _png(size: tuple[int, int]) -> bytes:
    img = cv2.resize(cv2.imread(str(SAMPLES / "rocket.jpg")), size, interpolation=cv2.INTER_AREA)
    return cv2.imencode(".png", img)[1].tobytes()


def test_sdk_round_trip(serve_emulator: Callable[..., RunningEmulator], api_key: str) -> None:
    running = serve_emulator(latency=0.4)
    client = openai.OpenAI(api_key=api_key, base_url=running.base_url, max_retries=0, timeout=20)
    ref = ("rocket.png", _png((320, 180)), "image/png")

    created = client.videos.create(prompt="A rocket on the pad. Tilt up.", model="tiny", seconds="1",
                                   size="320x180", input_reference=ref)
    assert created.status == "queued" and created.object == "video" and created.seconds == "1"

    done = client.videos.create_and_poll(prompt="A rocket at dawn. Push in.", model="tiny", seconds="2",
                                         size="320x180", input_reference=ref)
    assert (done.status, done.progress) == ("completed", 100)
    assert client.videos.retrieve(done.id).completed_at is not None

    listed = [v.id for v in client.videos.list(limit=1)]  # one per page: the SDK follows after=last_id
    assert listed == [done.id, created.id]
    asc = [v.id for v in client.videos.list(limit=1, order="asc")]
    assert asc == [created.id, done.id]

    mp4 = client.videos.download_content(done.id)
    assert mp4.content[4:8] == b"ftyp"
    thumb = client.videos.download_content(done.id, variant="thumbnail")
    assert thumb.content[8:12] == b"WEBP"

    remix = client.videos.remix(done.id, prompt="Same shot, but the rocket is bright orange.")
    assert remix.remixed_from_video_id == done.id
    finished = client.videos.poll(remix.id)
    assert finished.status == "completed" and finished.seconds == "2"

    deleted = client.videos.delete(finished.id)
    assert deleted.deleted is True and deleted.object == "video.deleted"
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(finished.id)
    stats = running.emulator.stats()
    assert (stats["creates"], stats["remixes"], stats["deletes"]) == (2, 1, 1)


def test_sdk_sees_the_service_errors(serve_emulator: Callable[..., RunningEmulator], api_key: str) -> None:
    running = serve_emulator(faults="429:1:after=0.05")
    client = openai.OpenAI(api_key=api_key, base_url=running.base_url, max_retries=2)
    # the SDK's own retry honours retry-after-ms from the 429
    page = client.videos.list()
    assert page.data == []
    with pytest.raises(openai.BadRequestError) as err:
        client.videos.create(prompt="x", model="tiny", seconds="3", size="320x180")
    assert err.value.code == "invalid_value" and err.value.param == "seconds"
    bad = openai.OpenAI(api_key="sk-not-the-key-000000", base_url=running.base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.videos.list()
