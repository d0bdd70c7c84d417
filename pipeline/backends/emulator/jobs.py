"""The emulator's state: video jobs, their rendering, their files, and the counters tests assert on.

A job's status is a function of time, so it is the same whichever client asks, and needs no event loop:
``queued`` for the first 15 % of the latency (at most 2 s), then ``in_progress`` with a rising
``progress``, then ``completed`` once the latency has passed *and* the local renderer has finished the
clip (it starts at once, in a worker thread). A job planned to fail (the ``moderation`` fault) turns
``failed`` halfway through its latency. Jobs and their files live as long as the emulator.

Clips are rendered by the local renderer and, where :mod:`pipeline.provenance` is available, signed with
a C2PA manifest under the *emulator's own* identity (kept in its own home folder, never the user's), as the
real service signs its outputs: they read ``valid``, not ``trusted``, unless that root is trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.backends.capabilities import CapabilityTable, parse_size

__all__ = ["EMULATOR_GENERATOR", "Job", "JobStore", "default_emulator_home"]

log = logging.getLogger(__name__)

EMULATOR_GENERATOR = "reelpipe-emulator/1 (OpenAI Videos API emulator)"
"""The claim generator named in the manifests of emulated clips."""


def default_emulator_home() -> Path:
    """The emulator's signing home: ``$REELPIPE_EMULATOR_HOME``, else ``~/.local/state/reelpipe-emulator``.

    Deliberately not ``REELPIPE_HOME``: the emulator plays a third-party service, so its clips must not be
    signed by the user's own identity.
    """
    env = os.environ.get("REELPIPE_EMULATOR_HOME")
    if env:
        return Path(env)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "reelpipe-emulator"


@dataclass
class Job:
    """One video job.

    Attributes mirror the API's Video object; the rest is the emulator's bookkeeping.
    """

    id: str
    model: str
    prompt: str
    size: str
    seconds: str
    created: float  # time.time() at creation
    latency: float
    seq: int  # creation order, for listing
    remixed_from: str | None = None
    reference: Path | None = None
    planned_failure: tuple[str, str] | None = None  # (code, message) for a job that will fail
    rendered: threading.Event = field(default_factory=threading.Event)
    render_error: str | None = None
    render_finished: float | None = None
    video_path: Path | None = None
    thumbnail_path: Path | None = None
    spritesheet_path: Path | None = None
    signed: bool = False

    def status(self, now: float | None = None) -> tuple[str, int]:
        """``(status, progress)`` at ``now``."""
        now = time.time() if now is None else now
        elapsed = now - self.created
        queue_time = min(0.15 * self.latency, 2.0)
        if self.planned_failure is not None and elapsed >= 0.5 * self.latency:
            return "failed", 50
        if self.rendered.is_set() and self.render_error is not None and elapsed >= queue_time:
            return "failed", 0
        if elapsed < queue_time:
            return "queued", 0
        if elapsed >= self.latency and self.rendered.is_set() and self.planned_failure is None:
            return "completed", 100
        fraction = elapsed / self.latency if self.latency > 0 else 0.99
        return "in_progress", max(1, min(99, int(fraction * 100)))

    def to_api(self, now: float | None = None) -> dict[str, Any]:
        """The Video object, every key present, nullable ones as null."""
        now = time.time() if now is None else now
        status, progress = self.status(now)
        completed_at = None
        expires_at = None
        error = None
        if status == "completed":
            done = max(self.created + self.latency, self.render_finished or self.created)
            completed_at = int(done)
            expires_at = int(done) + 24 * 3600
        elif status == "failed":
            code, message = self.planned_failure or ("video_generation_failed",
                                                     f"The video could not be generated: {self.render_error}")
            error = {"code": code, "message": message}
        return {
            "id": self.id,
            "object": "video",
            "model": self.model,
            "status": status,
            "progress": progress,
            "created_at": int(self.created),
            "completed_at": completed_at,
            "expires_at": expires_at,
            "prompt": self.prompt,
            "size": self.size,
            "seconds": self.seconds,
            "remixed_from_video_id": self.remixed_from,
            "error": error,
        }


class JobStore:
    """Every job of one emulator, the worker threads that render them, and the request counters.

    Args:
        models: the capability table requests are validated against.
        latency: seconds a job takes from queued to completed.
        storage_dir: where uploads and clips are kept (default: a temporary folder removed by :meth:`close`).
        fps: frame rate of rendered clips.
        workers: renders at once.
        sign: sign clips with C2PA when :mod:`pipeline.provenance` can be imported.
        home: the emulator's signing home (see :func:`default_emulator_home`).
    """

    def __init__(self, *, models: CapabilityTable, latency: float = 5.0, storage_dir: Path | None = None,
                 fps: int = 30, workers: int = 2, sign: bool = True, home: Path | None = None) -> None:
        self.models = models
        self.latency = max(0.0, float(latency))
        self._own_storage = storage_dir is None
        self.storage = Path(storage_dir) if storage_dir else Path(tempfile.mkdtemp(prefix="reelpipe-emulator-"))
        self.storage.mkdir(parents=True, exist_ok=True)
        self.fps = int(fps)
        self.sign = sign
        self.home = Path(home) if home else default_emulator_home()
        self._executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="emulator-render")
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._seq = 0
        self._idempotency: dict[str, str] = {}
        self._identity: Any = None
        self._identity_lock = threading.Lock()
        self.counters: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.jobs_by_prompt: Counter[str] = Counter()
        self.sign_errors: list[str] = []

    # -- jobs ----------------------------------------------------------------------------------------

    def get(self, video_id: str) -> Job | None:
        """The job ``video_id``, or None."""
        with self._lock:
            return self._jobs.get(video_id)

    def by_idempotency_key(self, key: str) -> Job | None:
        """The job an earlier request with ``key`` created, if it still exists."""
        with self._lock:
            vid = self._idempotency.get(key)
            return self._jobs.get(vid) if vid else None

    def create(self, *, model: str, prompt: str, size: str, seconds: str, reference: bytes | None,
               reference_ext: str, remixed_from: Job | None = None,
               planned_failure: tuple[str, str] | None = None, idempotency_key: str | None = None) -> Job:
        """Create a job and start rendering it."""
        with self._lock:
            self._seq += 1
            job = Job(id="video_" + secrets.token_hex(16), model=model, prompt=prompt, size=size,
                      seconds=seconds, created=time.time(), latency=self.latency, seq=self._seq,
                      remixed_from=remixed_from.id if remixed_from else None, planned_failure=planned_failure)
            if reference is not None:
                ref = self.storage / f"{job.id}-reference.{reference_ext}"
                ref.write_bytes(reference)
                job.reference = ref
            elif remixed_from is not None:
                job.reference = remixed_from.reference
            self._jobs[job.id] = job
            if idempotency_key:
                self._idempotency[idempotency_key] = job.id
            self.counters["remixes" if remixed_from else "creates"] += 1
            self.jobs_by_prompt[prompt] += 1
        if planned_failure is None:
            self._executor.submit(self._render, job)
        else:
            job.rendered.set()
        return job

    def delete(self, video_id: str) -> bool:
        """Forget a job and remove its files; False if there was none."""
        with self._lock:
            job = self._jobs.pop(video_id, None)
            self._idempotency = {k: v for k, v in self._idempotency.items() if v != video_id}
        if job is None:
            return False
        for p in (job.video_path, job.thumbnail_path, job.spritesheet_path):
            if p is not None:
                with contextlib.suppress(OSError):
                    p.unlink()
        self.counters["deletes"] += 1
        return True

    def listing(self) -> list[Job]:
        """Every job, oldest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.seq)

    def stats(self) -> dict[str, Any]:
        """The counters tests assert on (``creates`` counts jobs paid for, not requests)."""
        with self._lock:
            return {
                "creates": self.counters["creates"],
                "remixes": self.counters["remixes"],
                "create_requests": self.counters["create_requests"],
                "remix_requests": self.counters["remix_requests"],
                "idempotent_replays": self.counters["idempotent_replays"],
                "deletes": self.counters["deletes"],
                "jobs": len(self._jobs),
                "jobs_by_prompt": dict(self.jobs_by_prompt),
                "requests": dict(self.requests),
                "signed": sum(1 for j in self._jobs.values() if j.signed),
                "sign_errors": list(self.sign_errors),
            }

    def close(self) -> None:
        """Stop the workers and remove the storage folder if the emulator made it."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._own_storage:
            shutil.rmtree(self.storage, ignore_errors=True)

    # -- rendering -----------------------------------------------------------------------------------

    def _render(self, job: Job) -> None:
        try:
            self._render_files(job)
        except Exception as exc:  # noqa: BLE001 - any render failure becomes a failed job, as on the service
            log.warning("emulator: rendering %s failed: %s", job.id, exc)
            job.render_error = str(exc)
        finally:
            job.render_finished = time.time()
            job.rendered.set()

    def _render_files(self, job: Job) -> None:
        from pipeline.backends.local import render_local_clip

        width, height = parse_size(job.size)
        reference = job.reference
        if reference is None:
            reference = self.storage / f"{job.id}-generated.png"
            _synthetic_image(reference, width, height, job.prompt)
        seed = int.from_bytes(hashlib.sha256(job.id.encode()).digest()[:4], "little")
        out = self.storage / f"{job.id}.mp4"
        tmp = self.storage / f".{job.id}.part.mp4"
        render_local_clip(reference, tmp, seconds=float(job.seconds), width=width, height=height, fps=self.fps,
                          prompt=job.prompt, seed=seed)
        if self.sign:
            job.signed = self._sign(tmp, job, reference)
        os.replace(tmp, out)
        job.thumbnail_path, job.spritesheet_path = _previews(out, self.storage / job.id)
        job.video_path = out

    def _emulator_identity(self, provenance: Any, ensure: Any) -> Any:
        return _identity_for(provenance, ensure, self.home)

    def _sign(self, path: Path, job: Job, reference: Path) -> bool:
        try:
            from pipeline import provenance
        except ImportError:
            return False
        ensure = getattr(provenance, "ensure_identity", None)
        sign = getattr(provenance, "sign_generated_clip", None)
        if ensure is None or sign is None:
            return False
        try:
            with self._identity_lock:
                if self._identity is None:
                    self._identity = self._emulator_identity(provenance, ensure)
            # the emulator stands in for a generative service but renders procedurally (the local
            # renderer): algorithmicMedia is what it honestly makes
            sign(path, identity=self._identity, title=f"{job.id}.mp4",
                 digital_source_type=provenance.digital_source_type_for_backend("emulator"),
                 generator=EMULATOR_GENERATOR,
                 model=job.model, reference_image=job.reference, prompt=job.prompt)
            return True
        except Exception as exc:  # noqa: BLE001 - the clip is still served, unsigned; the stats say why
            log.warning("emulator: signing %s failed: %s", job.id, exc)
            with self._lock:
                self.sign_errors.append(f"{job.id}: {type(exc).__name__}: {exc}")
            return False


EMULATOR_SIGNER = ("reelpipe emulator (OpenAI Videos API)", "reelpipe emulator (not a real service)")
"""Subject (common name, organization) of the emulator's signing certificate, so an audit names it."""


def _identity_for(provenance: Any, ensure: Any, home: Path) -> Any:
    """The emulator's identity under ``home``, created with the emulator's own subject the first time."""
    find = getattr(provenance, "find_identity", None)
    new = getattr(provenance, "new_identity", None)
    if find is not None and new is not None and find(home) is None:
        with contextlib.suppress(Exception):  # another process may have created it meanwhile
            new(home, common_name=EMULATOR_SIGNER[0], organization=EMULATOR_SIGNER[1])
    return ensure(home)


def _synthetic_image(dest: Path, width: int, height: int, prompt: str) -> None:
    """A picture for a job with no reference image: gradients and discs coloured from the prompt."""
    import cv2
    import numpy as np

    digest = hashlib.sha256(prompt.encode()).digest()
    w, h = width * 2, height * 2  # room for the camera to move
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    c1 = np.array(list(digest[0:3]), dtype=np.float32)
    c2 = np.array(list(digest[3:6]), dtype=np.float32)
    t = ((x / w + y / h) / 2.0)[..., None]
    img = (c1 * (1 - t) + c2 * t).astype(np.uint8)
    for i in range(6):
        cx, cy = digest[6 + i] / 255 * w, digest[12 + i] / 255 * h
        r = int(min(w, h) * (0.05 + digest[18 + i] / 255 * 0.15))
        color = tuple(int(v) for v in digest[24 + (i % 6):27 + (i % 6)])
        cv2.circle(img, (int(cx), int(cy)), r, color, -1, lineType=cv2.LINE_AA)
    cv2.imwrite(str(dest), img)


def _previews(video: Path, stem: Path) -> tuple[Path, Path]:
    """A WebP thumbnail (the middle frame) and a JPEG sprite sheet (up to 10 frames) of ``video``."""
    import av
    import cv2
    import numpy as np

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        total = max(1, int(stream.frames or 1))
        grid = sorted({int(i * (total - 1) / 9) for i in range(10)})
        wanted = set(grid) | {total // 2}
        kept: dict[int, Any] = {}
        for index, frame in enumerate(container.decode(stream)):  # keep only the frames used, not all
            if index in wanted:
                kept[index] = frame.to_ndarray(format="bgr24")
    if not kept:
        raise ValueError(f"{video.name} has no frames")
    thumb = stem.with_name(stem.name + "-thumbnail.webp")
    sprite = stem.with_name(stem.name + "-spritesheet.jpg")
    mid = kept.get(total // 2, next(iter(kept.values())))
    _, buf = cv2.imencode(".webp", mid, [cv2.IMWRITE_WEBP_QUALITY, 80])
    thumb.write_bytes(buf.tobytes())
    picks = [kept[i] for i in grid if i in kept] or [mid]
    tw = 160
    th = max(1, round(mid.shape[0] * tw / mid.shape[1]))
    tiles = [cv2.resize(f, (tw, th), interpolation=cv2.INTER_AREA) for f in picks]
    while len(tiles) % 5:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i:i + 5]) for i in range(0, len(tiles), 5)]
    _, buf = cv2.imencode(".jpg", np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 85])
    sprite.write_bytes(buf.tobytes())
    return thumb, sprite
