"""The ``openai`` backend: renders shots on a service that speaks the OpenAI Videos API.

OpenAI closed its own endpoint on 2026-09-24; gateways still serve the contract in front of other models,
so everything service-specific is configuration (the recipe's ``backend:`` block)::

    backend:
      name: openai
      base_url: https://api.openai.com/v1   # any compatible gateway, or `reelpipe emulator`
      api_key_env: OPENAI_API_KEY           # the key is read from this variable, never from the recipe
      model: sora-2
      concurrency: 4                        # renders in flight at once
      models: {...}                         # capability-table extensions (see capabilities.py)
      strict: false                         # refuse reference images with faces instead of warning
      fit: cover                            # how a reference image is fitted: cover (crop) | contain (pad)
      timeout: 60                           # seconds for one HTTP read/write
      connect_timeout: 10
      max_retries: 6                        # attempts per HTTP call, the first included
      retry_base_delay: 0.5                 # seconds before the first retry (doubles, with jitter)
      retry_max_delay: 30
      poll_interval: 1.0                    # first poll delay when the service gives no openai-poll-after-ms
      poll_max_interval: 10
      job_timeout: 1800                     # give up waiting (the job is resumed by the next run)

One render: fit the reference image to the requested size and an accepted format → journal the intent →
``POST /videos`` (multipart, the image as ``input_reference``) or ``POST /videos/{source}/remix`` → journal
the job id → poll ``GET /videos/{id}`` (honouring ``openai-poll-after-ms``) → stream
``GET /videos/{id}/content`` to a temporary file beside ``dest`` → probe it → rename it onto ``dest``.
A re-run after a crash at any point resumes the journaled job instead of paying again (see
:mod:`pipeline.backends.journal`). Hosted clips keep the service's own C2PA manifest: this backend never
re-signs them.

The HTTP client takes an injected ``httpx`` transport, so the same code runs against the real service,
the emulator over loopback, or the emulator in-process
(:class:`pipeline.backends.emulator.InProcessTransport`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx

from pipeline.backends.base import RenderContext, RenderRequest, RenderResult
from pipeline.backends.capabilities import CapabilityTable, ModelCapabilities, base_model, format_seconds
from pipeline.backends.hosted import HostedBackend
from pipeline.backends.http import call_with_retries, raise_for_retryable_status
from pipeline.backends.journal import JobJournal, JournalEntry
from pipeline.errors import BackendError, RenderError
from pipeline.secrets import redact

__all__ = [
    "ACCEPTED_IMAGE_TYPES",
    "CONFIG_KEYS",
    "DEFAULT_BASE_URL",
    "FittedImage",
    "OpenAIBackend",
    "detect_faces",
    "face_detector_status",
    "fit_reference_image",
    "image_format",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
CONFIG_KEYS: frozenset[str] = frozenset({
    "name", "base_url", "api_key_env", "model", "concurrency", "models", "strict", "fit", "timeout",
    "connect_timeout", "max_retries", "retry_base_delay", "retry_max_delay", "poll_interval",
    "poll_max_interval", "job_timeout", "recipe_dir",
})
"""The ``backend:`` keys this backend reads; any other key draws a warning in preflight."""

ACCEPTED_IMAGE_TYPES: dict[str, str] = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
"""Reference image formats the API accepts, by :func:`image_format` name."""

_VERSION = "openai-videos-1"


# --------------------------------------------------------------------------------------------------
# reference images: format, fitting, faces
# --------------------------------------------------------------------------------------------------

def image_format(data: bytes) -> str | None:
    """The format of an encoded image from its signature: ``jpeg``, ``png``, ``webp``, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


@dataclass(frozen=True)
class FittedImage:
    """A reference image ready to upload: exactly the requested size, in an accepted format.

    Attributes:
        data: the encoded image.
        mime: its content type.
        filename: a name for the multipart part.
        source_size: the original ``(width, height)``.
        size: the fitted ``(width, height)``.
        changed: whether the bytes differ from the file's (False: uploaded as is).
        cropped_fraction: the share of the original's area cut away by a cover fit (0..1).
        scale: the resize factor applied (above 1: upscaled).
    """

    data: bytes
    mime: str
    filename: str
    source_size: tuple[int, int]
    size: tuple[int, int]
    changed: bool
    cropped_fraction: float
    scale: float


_fit_cache: dict[tuple[str, int, int, int, int, str], FittedImage] = {}
_fit_lock = threading.Lock()


def fit_reference_image(path: Path, width: int, height: int, *, mode: str = "cover") -> FittedImage:
    """Fit the image at ``path`` to ``width`` x ``height`` for upload.

    The API rejects a reference whose size differs from the requested size, so the image is resized:
    ``cover`` scales it to fill the frame and crops the overflow around the centre (like the local
    renderer's framing); ``contain`` scales it to fit and pads with black. An image that already has the
    size and an accepted format is uploaded unchanged. JPEG sources stay JPEG (quality 95); anything
    else becomes PNG. Results are cached per file state, so preflight and render agree byte for byte.

    Raises:
        RenderError: the file is missing or not a readable image.
    """
    import cv2
    import numpy as np

    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        raise RenderError(f"{path}: reference image not found", hint="check the shot's image: path") from None
    cache_key = (str(path.resolve()), st.st_mtime_ns, st.st_size, width, height, mode)
    with _fit_lock:
        cached = _fit_cache.get(cache_key)
    if cached is not None:
        return cached
    raw = path.read_bytes()
    fmt = image_format(raw)
    img = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_COLOR) if raw else None
    if img is None:
        raise RenderError(f"{path}: not a readable image", hint="use a JPEG, PNG or WebP file")
    src_h, src_w = img.shape[:2]
    if fmt in ACCEPTED_IMAGE_TYPES and (src_w, src_h) == (width, height):
        fitted = FittedImage(raw, ACCEPTED_IMAGE_TYPES[fmt], path.name, (src_w, src_h), (width, height),
                             False, 0.0, 1.0)
    else:
        if mode == "contain":
            scale = min(width / src_w, height / src_h)
            new_w, new_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
            resized = cv2.resize(img, (new_w, new_h), interpolation=interp)
            out: Any = np.zeros((height, width, 3), dtype=np.uint8)
            x0, y0 = (width - new_w) // 2, (height - new_h) // 2
            out[y0:y0 + new_h, x0:x0 + new_w] = resized
            cropped = 0.0
        else:
            scale = max(width / src_w, height / src_h)
            crop_w = min(src_w, max(1, round(width / scale)))
            crop_h = min(src_h, max(1, round(height / scale)))
            x0, y0 = (src_w - crop_w) // 2, (src_h - crop_h) // 2
            window = img[y0:y0 + crop_h, x0:x0 + crop_w]
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
            out = cv2.resize(window, (width, height), interpolation=interp)
            cropped = 1.0 - (crop_w * crop_h) / float(src_w * src_h)
        out_fmt = "jpeg" if fmt == "jpeg" else "png"
        params = [cv2.IMWRITE_JPEG_QUALITY, 95] if out_fmt == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 6]
        ok, buf = cv2.imencode(".jpg" if out_fmt == "jpeg" else ".png", out, params)
        if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
            raise RenderError(f"{path}: could not encode the fitted image")
        stem = path.stem
        fitted = FittedImage(buf.tobytes(), ACCEPTED_IMAGE_TYPES[out_fmt],
                             f"{stem}-{width}x{height}.{'jpg' if out_fmt == 'jpeg' else 'png'}",
                             (src_w, src_h), (width, height), True, cropped, scale)
    with _fit_lock:
        if len(_fit_cache) > 256:
            _fit_cache.clear()
        _fit_cache[cache_key] = fitted
    return fitted


_FACE_CASCADE = "haarcascade_frontalface_default.xml"
_face_local = threading.local()


def _cascade_file() -> Path | None:
    """Where OpenCV's frontal-face Haar cascade lives, if anywhere we can find it."""
    import cv2

    dirs: list[str] = []
    if os.environ.get("REELPIPE_HAAR_DIR"):
        dirs.append(os.environ["REELPIPE_HAAR_DIR"])
    data = getattr(cv2, "data", None)
    if data is not None and getattr(data, "haarcascades", None):
        dirs.append(str(data.haarcascades))
    dirs += ["/usr/share/opencv4/haarcascades", "/usr/share/opencv/haarcascades"]
    for d in dirs:
        candidate = Path(d) / _FACE_CASCADE
        if candidate.is_file():
            return candidate
    return None


def face_detector_status() -> str | None:
    """None when faces can be detected; otherwise why not (shown as a preflight warning)."""
    import cv2

    if not hasattr(cv2, "CascadeClassifier"):
        return (f"OpenCV {cv2.__version__} has no Haar cascade detector (install opencv-python<5; see "
                "docs/hosted.md)")
    if _cascade_file() is None:
        return (f"OpenCV {cv2.__version__} ships no {_FACE_CASCADE} (install opencv-python<5 or Debian's "
                "opencv-data, or set REELPIPE_HAAR_DIR; see docs/hosted.md)")
    return None


def detect_faces(image: Any) -> list[tuple[int, int, int, int]] | None:
    """Find frontal human faces in a BGR image with OpenCV's bundled Haar cascade.

    Returns:
        ``(x, y, w, h)`` boxes in the image's pixels, or None when no detector is available
        (see :func:`face_detector_status`).
    """
    import cv2

    if face_detector_status() is not None:
        return None
    classifier = getattr(_face_local, "classifier", None)
    if classifier is None:  # one classifier per thread: detectMultiScale is not re-entrant
        # OpenCV 5 builds lack CascadeClassifier; face_detector_status() has checked that it exists here
        classifier = cv2.CascadeClassifier(str(_cascade_file()))  # type: ignore[attr-defined,unused-ignore]
        _face_local.classifier = classifier
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    h, w = gray.shape[:2]
    scale = min(1.0, 640.0 / max(h, w))
    if scale < 1.0:
        gray = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(gray)
    min_side = max(20, int(min(gray.shape[:2]) * 0.06))
    boxes = classifier.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=6, minSize=(min_side, min_side))
    return [(int(x / scale), int(y / scale), int(bw / scale), int(bh / scale)) for (x, y, bw, bh) in boxes]


# --------------------------------------------------------------------------------------------------
# the service's error shape
# --------------------------------------------------------------------------------------------------

def _service_error(response: httpx.Response) -> tuple[str, str | None, str | None]:
    """``(message, code, param)`` from an OpenAI-style error body, tolerating anything else."""
    message, code, param = "", None, None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        message = str(err.get("message") or "")
        code = str(err["code"]) if err.get("code") else (str(err["type"]) if err.get("type") else None)
        param = str(err["param"]) if err.get("param") else None
    if not message:
        message = response.text.strip().replace("\n", " ")[:300] or response.reason_phrase
    return redact(message), code, param


def _describe(response: httpx.Response) -> tuple[str, str | None]:
    message, code, _ = _service_error(response)
    return message, code


def _quota_is_final(response: httpx.Response) -> bool:
    # OpenAI answers 429 both for "slow down" and for "out of money"; only the first is worth a retry
    _, code, _ = _service_error(response)
    return code not in {"insufficient_quota", "billing_hard_limit_reached"}


# --------------------------------------------------------------------------------------------------
# the backend
# --------------------------------------------------------------------------------------------------

class OpenAIBackend(HostedBackend):
    """Render shots on an OpenAI-Videos-compatible service. Safe to call from several threads.

    Args:
        config: the recipe's ``backend:`` block (see the module docstring for the keys).
        transport: an ``httpx`` transport to use instead of the network (the in-process emulator, a mock).
        sleep: the sleep function for backoff and polling (tests may pass a fast one).

    Raises:
        RecipeError: the block is malformed, or it holds an API key.
    """

    name = "openai"
    service_noun = "the service"
    setting_noun = "an openai"
    key_noun = "your key"
    key_warning = "the service's API key"
    base_url_hint = "is backend.base_url an OpenAI Videos API endpoint (ending in /v1)?"
    auth_scheme = "Bearer"
    follow_redirects = True
    user_agent = f"reelpipe/{_VERSION}"

    def __init__(self, config: dict[str, Any] | None = None, *, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        cfg = self._configure(config, secret_keys=("api_key", "key", "token"), default_base_url=DEFAULT_BASE_URL,
                              base_url_hint="e.g. https://api.openai.com/v1 or http://127.0.0.1:8123/v1",
                              default_key_env="OPENAI_API_KEY")
        self.model: str = str(cfg.get("model") or "sora-2")
        self.concurrency = self._concurrency(cfg)
        self.capabilities = CapabilityTable.from_config(cfg.get("models"))
        self.strict: bool = bool(cfg.get("strict", False))
        self.fit = self._fit(cfg)
        self._configure_service(cfg, default_job_timeout=1800.0, transport=transport, sleep=sleep)
        self._face_check_warned = False

    # -- the Backend protocol ------------------------------------------------------------------------

    def version(self) -> str:
        """What identifies this backend's output for the render cache: contract, service and model."""
        return f"{_VERSION}@{self.base_url}#{self.model}"

    def estimate_cost(self, request: RenderRequest) -> float:
        """USD for ``request``: its seconds times the model's price per second at its size.

        Raises:
            RenderError: the model is not in the capability table (so its price is unknown).
        """
        caps = self._caps(request)
        return caps.cost(request.seconds, self._size(request))

    def preflight(self, request: RenderRequest) -> list[str]:
        """Check ``request`` before anything is paid for.

        Returns:
            Warnings: an image that will be cropped or upscaled, faces in the image (the service rejected
            them), an unset API key variable, unknown backend keys.

        Raises:
            RenderError: the model, size, seconds or prompt is not accepted, the image is unreadable, or
                (``strict``) the image shows a face.
        """
        warnings = self._setup_warnings(CONFIG_KEYS)
        self._check_request(request)
        if request.remix_of or request.image is None:  # a remix takes its picture from its source job
            return warnings
        fitted = fit_reference_image(request.image, request.width, request.height, mode=self.fit)
        sw, sh = fitted.source_size
        fixes = []
        if fitted.cropped_fraction > 0.02:
            fixes.append(f"{fitted.cropped_fraction:.0%} cropped away around the centre")
        if fitted.scale > 1.5:
            fixes.append(f"upscaled {fitted.scale:.1f}x (expect a soft picture)")
        if fixes:
            warnings.append(f"{request.image.name} ({sw}x{sh}) is fitted to {request.width}x{request.height} for "
                            f"upload, as the API needs that exact size: {', '.join(fixes)}")
        warnings.extend(self._face_warnings(request, fitted))
        return warnings

    def render(self, request: RenderRequest, dest: Path, ctx: RenderContext) -> RenderResult:
        """Render ``request`` into ``dest`` on the service, resuming a journaled job when there is one.

        Raises:
            BackendError: the service refused the job or failed it (with its code), or could not be
                reached after retries; ``shot_id`` is set.
            RenderError: the request is not accepted by the model (see :meth:`preflight`).
        """
        shot = request.shot_id
        self._check_request(request)
        client = self._http(shot)
        journal = self._journal(ctx.work_dir)
        cache_key = request.cache_key or self._fallback_key(request)
        size = self._size(request)
        seconds = format_seconds(request.seconds)
        with journal.lock(cache_key):
            entry = journal.load(cache_key)
            resumed = entry is not None and entry.job_id is not None and entry.state != "failed"
            if entry is not None and entry.service != self.base_url:
                entry = None  # a job on another service is not ours to resume
                resumed = False
            source_job = self._remix_source(request, ctx, journal) if request.remix_of else None
            if entry is None or entry.state == "failed":
                entry = JournalEntry(
                    backend=self.name, service=self.base_url, cache_key=cache_key, shot_id=shot,
                    request={"model": self._model(request), "size": size, "seconds": seconds,
                             "prompt_sha256": hashlib.sha256(request.prompt.encode()).hexdigest(),
                             "remix_of_job": source_job},
                    cost_usd=self.estimate_cost(request),
                )
                journal.save(entry)  # the intent is on disk before anything can be paid for
            if entry.job_id is None:
                try:
                    video = self._submit(client, request, entry, journal, source_job)
                except BackendError as exc:
                    if exc.status is not None and 400 <= exc.status < 500 and not exc.retryable:
                        # a definite refusal created nothing: the next run may submit afresh (new key)
                        journal.update(entry, state="failed",
                                       error={"code": exc.code, "message": exc.message, "status": exc.status})
                    raise
                journal.update(entry, state="submitted", job_id=str(video["id"]))
                log.info("shot %r: submitted job %s", shot, entry.job_id)
            else:
                log.info("shot %r: resuming job %s (state %s) instead of submitting again",
                         shot, entry.job_id, entry.state)
            job_id = str(entry.job_id)
            video = self._wait(client, job_id, request, ctx)
            if video.get("status") == "failed":
                err = video.get("error") or {}
                code = str(err.get("code") or "failed")
                message = redact(str(err.get("message") or "no message"))
                journal.update(entry, state="failed", error={"code": code, "message": message})
                raise BackendError(
                    f"shot {shot!r}: the service failed job {job_id}: {code}: {message}",
                    shot_id=shot, code=code, hint=self._hint_for(code, None, request),
                )
            if entry.state not in ("completed", "downloaded"):
                journal.update(entry, state="completed")
            ctx.on_progress(shot, "downloading", 0.0)
            media = self._download(client, job_id, dest, request, ctx)
            journal.update(entry, state="downloaded")
        ctx.on_progress(shot, "done", 1.0)
        info: dict[str, Any] = {
            "backend": self.name,
            "service": self.base_url,
            "job_id": job_id,
            "model": video.get("model") or self._model(request),
            "size": video.get("size") or size,
            "seconds": video.get("seconds") or seconds,
            "remixed_from_video_id": video.get("remixed_from_video_id"),
            "resumed": resumed,
            "provenance": "service",  # the service's own C2PA manifest is kept; reelpipe does not re-sign
            "probe": media.to_dict(),
        }
        warnings = self._output_warnings(request, media)
        if warnings:
            info["warnings"] = warnings
        return RenderResult(path=dest, job_id=job_id, cost_usd=entry.cost_usd, info=info)

    def close(self) -> None:
        """Close the HTTP client (idempotent)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- checks --------------------------------------------------------------------------------------

    def _model(self, request: RenderRequest) -> str:
        return request.model or self.model

    @staticmethod
    def _size(request: RenderRequest) -> str:
        return f"{request.width}x{request.height}"

    def _caps(self, request: RenderRequest) -> ModelCapabilities:
        model = self._model(request)
        caps = self.capabilities.get(model)
        if caps is None:
            raise RenderError(
                f"shot {request.shot_id!r}: model {model!r} is not in the capability table",
                shot_id=request.shot_id,
                hint=f"use one of {', '.join(self.capabilities.names())}, or describe it under backend.models "
                     "(sizes, seconds, usd_per_second) — see docs/hosted.md")
        return caps

    def _check_request(self, request: RenderRequest) -> ModelCapabilities:
        """Hard checks shared by preflight and render; raises RenderError naming the shot."""
        shot = request.shot_id
        caps = self._caps(request)
        model = self._model(request)
        if not request.prompt or not request.prompt.strip():
            raise RenderError(f"shot {shot!r}: the prompt is empty", shot_id=shot,
                              hint="describe the shot: subject, camera move, light")
        if len(request.prompt) > caps.max_prompt_chars:
            raise RenderError(
                f"shot {shot!r}: the prompt has {len(request.prompt)} characters; {model} takes at most "
                f"{caps.max_prompt_chars}", shot_id=shot, hint="shorten the prompt")
        if request.remix_of:
            return caps  # a remix takes its size and length from its source
        size = self._size(request)
        if not caps.allows_size(size):
            raise RenderError(f"shot {shot!r}: {model} does not render {size}", shot_id=shot,
                              hint=f"use one of {', '.join(caps.sizes)} (or extend backend.models.{model}.sizes "
                                   "if your gateway serves more)")
        if not caps.allows_seconds(request.seconds):
            raise RenderError(
                f"shot {shot!r}: {model} does not render {format_seconds(request.seconds)} s clips",
                shot_id=shot,
                hint=f"use seconds: one of {', '.join(caps.seconds_strings)} and trim the shot in the timeline")
        return caps

    def _face_warnings(self, request: RenderRequest, fitted: FittedImage) -> list[str]:
        import cv2
        import numpy as np

        shot = request.shot_id
        strict = self.strict or bool(request.params.get("strict"))
        assert request.image is not None
        why_not = face_detector_status()
        if why_not is not None:
            if strict:
                raise RenderError(f"shot {shot!r}: --strict needs the face check, and faces cannot be checked: "
                                  f"{why_not}", shot_id=shot)
            with self._lock:  # said once per run, not once per shot
                if self._face_check_warned:
                    return []
                self._face_check_warned = True
            return [f"reference images were not checked for faces: {why_not}"]
        img = cv2.imdecode(np.frombuffer(fitted.data, dtype=np.uint8), cv2.IMREAD_COLOR)
        faces = detect_faces(img) or []
        if not faces:
            return []
        msg = (f"{request.image.name} shows {len(faces)} human face{'s' if len(faces) != 1 else ''}; "
               "the service rejected reference images with human faces")
        hint = "use an image without people (or crop them out)"
        if strict:
            raise RenderError(f"shot {shot!r}: {msg}", shot_id=shot, hint=hint + "; --strict refuses such images")
        return [msg + f" — {hint}, or expect a moderation_blocked error"]

    def _output_warnings(self, request: RenderRequest, media: Any) -> list[str]:
        out: list[str] = []
        if request.remix_of:
            return out
        v = media.video
        if v is not None and (v.width, v.height) != (request.width, request.height):
            out.append(f"the service returned {v.width}x{v.height}, not {request.width}x{request.height}")
        if abs(media.duration - request.seconds) > 0.5:
            out.append(f"the service returned {media.duration:.2f} s, not {request.seconds:g} s")
        return out

    def _hint_for(self, code: str | None, status: int | None, request: RenderRequest) -> str:
        model = self._model(request)
        if code == "moderation_blocked":
            return ("the service's moderation blocked it: rephrase the prompt or change the image (no real "
                    "people's faces, public figures, copyrighted characters or unsafe content)")
        if status == 401 or code in {"invalid_api_key", "missing_api_key"}:
            return (f"check the key in the environment variable {self.api_key_env} (reelpipe never reads keys "
                    "from the recipe); is backend.base_url the service that issued it?")
        if status == 403:
            return f"the key has no access to {model}: pick another backend.model or ask for access"
        if code in {"insufficient_quota", "billing_hard_limit_reached"}:
            return "the account is out of credit: add credit or raise its spending limit, then re-run"
        if status == 404 or code == "model_not_found":
            return f"is {model!r} served at {self.base_url}? check backend.model and backend.base_url"
        if status == 413:
            return "the upload is too large: use a smaller reference image"
        return "fix what the service says, then re-run (only failed shots are rendered again)"

    def _error(self, response: httpx.Response, what: str, request: RenderRequest) -> BackendError:
        message, code, param = _service_error(response)
        where = f", param {param}" if param else ""
        return BackendError(
            f"shot {request.shot_id!r}: {what} was refused (HTTP {response.status_code}"
            f"{', ' + code if code else ''}{where}): {message}",
            shot_id=request.shot_id, status=response.status_code, code=code,
            hint=self._hint_for(code, response.status_code, request),
        )

    # -- HTTP ----------------------------------------------------------------------------------------

    def _remix_source(self, request: RenderRequest, ctx: RenderContext, journal: JobJournal) -> str:
        assert request.remix_of is not None
        done = ctx.completed.get(request.remix_of)
        if done is not None and done.job_id:
            return done.job_id
        entry = journal.latest_for_shot(request.remix_of, self.base_url)
        if entry is not None and entry.job_id:
            return entry.job_id
        raise BackendError(
            f"shot {request.shot_id!r}: its remix source {request.remix_of!r} has no job on {self.base_url}",
            shot_id=request.shot_id,
            hint=f"render {request.remix_of!r} with the openai backend first (a remix needs the service's job)")

    def _submit(self, client: httpx.Client, request: RenderRequest, entry: JournalEntry,
                journal: JobJournal, source_job: str | None) -> dict[str, Any]:
        """Create the job (or remix) exactly once; an earlier attempt that reached the service is adopted."""
        shot = request.shot_id
        if entry.attempts > 0:
            # an earlier attempt (maybe in a process that was killed) may have reached the service
            found = self._find_submitted(client, request, entry, journal, source_job)
            if found is not None:
                log.info("shot %r: found job %s from an interrupted attempt; not submitting again",
                         shot, found["id"])
                return found
        ctx_what = "creating the remix" if source_job else "creating the job"
        idem = {"Idempotency-Key": entry.idempotency_key}
        if source_job:
            def attempt() -> dict[str, Any]:
                journal.update(entry, attempts=entry.attempts + 1)
                r = client.post(f"videos/{source_job}/remix", json={"prompt": request.prompt}, headers=idem)
                raise_for_retryable_status(r, _describe, retryable=_quota_is_final)
                if not r.is_success:
                    raise self._error(r, ctx_what, request)
                return self._json(r, ctx_what, request)
        else:
            fields = {"prompt": request.prompt, "model": self._model(request),
                      "seconds": format_seconds(request.seconds), "size": self._size(request)}
            fitted = (fit_reference_image(request.image, request.width, request.height, mode=self.fit)
                      if request.image is not None else None)

            def attempt() -> dict[str, Any]:
                journal.update(entry, attempts=entry.attempts + 1)
                if fitted is not None:
                    r = client.post("videos", data=fields, headers=idem,
                                    files={"input_reference": (fitted.filename, fitted.data, fitted.mime)})
                else:
                    r = client.post("videos", json=fields, headers=idem)
                raise_for_retryable_status(r, _describe, retryable=_quota_is_final)
                if not r.is_success:
                    raise self._error(r, ctx_what, request)
                return self._json(r, ctx_what, request)

        def recover() -> dict[str, Any] | None:
            return self._find_submitted(client, request, entry, journal, source_job)

        video = self._retrying(attempt, what=f"shot {shot!r}: {ctx_what}", shot=shot, recover=recover)
        if not video.get("id"):
            raise BackendError(f"shot {shot!r}: the service accepted the job but sent no id", shot_id=shot,
                               retryable=True)
        return video

    def _find_submitted(self, client: httpx.Client, request: RenderRequest, entry: JournalEntry,
                        journal: JobJournal, source_job: str | None) -> dict[str, Any] | None:
        """Look for a job an earlier, interrupted attempt created: same prompt, model, size, length and
        source, created after the attempt began, and not owned by another journal entry."""
        shot = request.shot_id
        claimed = journal.claimed_job_ids(except_key=entry.cache_key)
        since = entry.submitted_at - 300.0  # tolerate clock skew between us and the service
        want = {"prompt": request.prompt}
        if not source_job:
            want |= {"size": self._size(request), "seconds": format_seconds(request.seconds)}
        model = self._model(request)
        after: str | None = None
        candidates: list[dict[str, Any]] = []
        try:
            for _page in range(10):
                params: dict[str, Any] = {"order": "desc", "limit": 100}
                if after:
                    params["after"] = after

                def attempt(params: dict[str, Any] = params) -> httpx.Response:
                    r = client.get("videos", params=params)
                    return raise_for_retryable_status(r, _describe)

                r = call_with_retries(attempt, policy=self.retry_policy,
                                      what=f"shot {shot!r}: listing jobs to resume", shot_id=shot,
                                      sleep=self._sleep)
                if not r.is_success:
                    log.info("shot %r: the service cannot list jobs (HTTP %d)", shot, r.status_code)
                    return None
                page = self._json(r, "listing jobs", request)
                items = [v for v in page.get("data") or [] if isinstance(v, dict)]
                old = False
                for v in items:
                    created = v.get("created_at")
                    if isinstance(created, (int, float)) and created < since:
                        old = True
                        continue
                    if v.get("id") in claimed or v.get("status") == "failed":
                        continue
                    if any(str(v.get(k)) != val for k, val in want.items()):
                        continue
                    if (v.get("remixed_from_video_id") or None) != source_job:
                        continue
                    if base_model(str(v.get("model") or model)) != base_model(model):
                        continue
                    candidates.append(v)
                if old or not page.get("has_more") or not items:
                    break
                after = str(page.get("last_id") or items[-1].get("id"))
        except BackendError as exc:
            log.warning("shot %r: could not list jobs to look for an interrupted submission: %s", shot, exc)
            return None
        if not candidates:
            return None
        candidates.sort(key=lambda v: (v.get("created_at") or 0))
        return candidates[0]

    def _wait(self, client: httpx.Client, job_id: str, request: RenderRequest,
              ctx: RenderContext) -> dict[str, Any]:
        """Poll the job until it completes or fails, reporting progress."""
        shot = request.shot_id
        deadline = time.monotonic() + self.job_timeout
        delay = self.poll_interval

        def attempt() -> tuple[dict[str, Any], float | None]:
            r = client.get(f"videos/{job_id}")
            raise_for_retryable_status(r, _describe)
            if r.status_code == 404:
                raise BackendError(
                    f"shot {shot!r}: the service no longer knows job {job_id} (expired or deleted)",
                    shot_id=shot, status=404,
                    hint="delete this shot's file under .reelpipe/jobs/openai/ to submit it again — that new "
                         "render will be billed")
            if not r.is_success:
                raise self._error(r, f"checking job {job_id}", request)
            after_ms = r.headers.get("openai-poll-after-ms")
            try:
                hinted = float(after_ms) / 1000.0 if after_ms is not None else None
            except ValueError:
                hinted = None
            return self._json(r, f"checking job {job_id}", request), hinted

        while True:
            video, hinted = self._retrying(attempt, what=f"shot {shot!r}: checking job {job_id}", shot=shot)
            status = str(video.get("status"))
            if status in ("completed", "failed"):
                return video
            progress = video.get("progress")
            fraction = max(0.0, min(1.0, float(progress) / 100.0)) if isinstance(progress, (int, float)) else None
            if status == "queued":
                ctx.on_progress(shot, "queued", fraction or 0.0)
            else:
                ctx.on_progress(shot, "in_progress", fraction)
            wait = min(60.0, max(0.05, hinted)) if hinted is not None else delay
            delay = min(self.poll_max_interval, delay * 1.5)
            if time.monotonic() + wait > deadline:
                raise BackendError(
                    f"shot {shot!r}: job {job_id} is still {status} after {self.job_timeout:.0f} s",
                    shot_id=shot, retryable=True,
                    hint="re-run later: the job is resumed, not submitted again (or raise backend.job_timeout)")
            self._sleep(wait)

    def _download(self, client: httpx.Client, job_id: str, dest: Path, request: RenderRequest,
                  ctx: RenderContext) -> Any:
        """Stream the finished video to a temporary file beside ``dest``, check it, rename it onto ``dest``."""
        def refuse(r: httpx.Response) -> NoReturn:
            r.read()
            raise_for_retryable_status(r, _describe)
            raise self._error(r, f"downloading job {job_id}", request)

        return self._stream_video(
            lambda: client.stream("GET", f"videos/{job_id}/content", params={"variant": "video"}), dest, request,
            ctx, what=f"downloading job {job_id}", refuse=refuse)
