"""The ``fal`` backend: renders shots on fal.ai's queue API (Veo 3.1, Kling, Seedance, Wan, LTX-2, ...).

Everything service-specific is configuration (the recipe's ``backend:`` block)::

    backend:
      name: fal
      model: fal-ai/veo3.1/image-to-video      # a fal model id (see pipeline/backends/fal_models.py)
      base_url: https://queue.fal.run          # or `reelpipe fal-emulator` on loopback
      api_key_env: FAL_KEY                     # the key is read from this variable, never from the recipe
      concurrency: 4
      resolution: 1080p                        # force a resolution (default: chosen from the shot's size)
      arguments: {generate_audio: false}       # extra input fields for every request (model-specific)
      negative_prompt: "blur, low quality"     # sent where the model takes one
      models: {...}                            # extend or override the model table
      fit: cover                               # how the image is fitted to the frame: cover | contain
      image_upload: data_uri                   # data_uri | upload (fal storage; see storage_url)
      sign_unsigned: true                      # sign clips that arrive without a C2PA manifest
      timeout: 60, connect_timeout: 10, max_retries: 6, retry_base_delay: 0.5, retry_max_delay: 30
      poll_interval: 1.0, poll_max_interval: 10, job_timeout: 3600

One render: fit the reference image to the model's frame and encode it (a data URI, or an upload to fal's
storage) → journal the intent → ``POST {base}/{model}`` → journal the ``request_id`` → poll
``GET {base}/{app}/requests/{id}/status`` (``IN_QUEUE`` with a position, ``IN_PROGRESS``, ``COMPLETED``) →
``GET {base}/{app}/requests/{id}`` for the result → download the video URL at once (a URL that has expired
is refreshed by fetching the result again) → probe → sign it when it carries no manifest of its own.
``{app}`` is the model id without its sub-path (``fal-ai/veo3.1``), as fal's own clients build it.

Never paying twice: the job id is journaled before polling, so a re-run (even after ``kill -9``) resumes the
job. fal has no idempotency keys and no way to list one's requests, so a submission whose answer was lost
(a dropped connection after the request was sent) is never repeated blindly: the shot fails with a message
that says how to check and how to submit again. A 5xx answer to a submission is retried (fal does not run
or bill requests it answered with 5xx), as is any answer whose ``X-Fal-Needs-Retry``/``X-Fal-Retryable``
header says so; such a header saying ``0``/``false`` ends the retries. Ctrl-C while waiting cancels the job
(``PUT …/cancel``) before it propagates; so does :meth:`FalBackend.interrupt` from another thread.

The HTTP client takes an injected ``httpx`` transport, so tests drive the real client against the fal
emulator (:mod:`pipeline.backends.fal_emulator`) over loopback or in-process.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import httpx

from pipeline.backends.base import RenderContext, RenderRequest, RenderResult
from pipeline.backends.fal_models import FalModel, FalModelTable, aspect_value, pixel_size, resolution_height
from pipeline.backends.hosted import HostedBackend
from pipeline.backends.http import RetryableStatus, raise_for_retryable_status, retry_after_seconds
from pipeline.backends.journal import JobJournal, JournalEntry
from pipeline.errors import BackendError, RecipeError, RenderError
from pipeline.secrets import redact

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["CONFIG_KEYS", "DEFAULT_BASE_URL", "DEFAULT_STORAGE_URL", "FalBackend", "queue_app_path"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://queue.fal.run"
DEFAULT_STORAGE_URL = "https://rest.alpha.fal.ai"
CONFIG_KEYS: frozenset[str] = frozenset({
    "name", "model", "base_url", "api_key_env", "concurrency", "resolution", "arguments", "negative_prompt",
    "models", "fit", "image_upload", "storage_url", "sign_unsigned", "strict", "timeout", "connect_timeout",
    "max_retries", "retry_base_delay", "retry_max_delay", "poll_interval", "poll_max_interval", "job_timeout",
    "recipe_dir",
})
"""The ``backend:`` keys this backend reads; any other key draws a warning in preflight."""

_VERSION = "fal-queue-1"
_NAMESPACES = ("workflows", "comfy")
_UNCONFIRMED = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError,
                httpx.RemoteProtocolError)
_IMAGE_MAX_SHORT_SIDE = 1080


def queue_app_path(model: str) -> str:
    """The part of a model id that status, result and cancel URLs use: the id without its sub-path.

    ``fal-ai/veo3.1/image-to-video`` -> ``fal-ai/veo3.1``; ``workflows/me/flow/x`` -> ``workflows/me/flow``.
    """
    parts = [p for p in model.strip("/").split("/") if p]
    keep = 3 if parts and parts[0] in _NAMESPACES else 2
    return "/".join(parts[:keep])


class _ResultExpired(Exception):
    """The video URL of a result no longer serves the file (fal's media expire)."""


class _Interrupted(Exception):
    """:meth:`FalBackend.interrupt` was called while a render waited."""


# --------------------------------------------------------------------------------------------------
# the service's error shapes
# --------------------------------------------------------------------------------------------------

def _fal_error(response: httpx.Response) -> tuple[str, str | None]:
    """``(message, code)`` from a fal error body: a ``detail`` list (model errors: ``loc``, ``msg``,
    ``type``), a ``detail`` string with ``error_type`` (request errors), or anything else."""
    message, code = "", None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(detail, list):
            parts = []
            for item in detail:
                if not isinstance(item, dict):
                    parts.append(str(item))
                    continue
                loc = [str(x) for x in item.get("loc") or [] if str(x) != "body"]
                text = str(item.get("msg") or item.get("message") or item.get("type") or "invalid")
                parts.append(f"{'.'.join(loc)}: {text}" if loc else text)
                if code is None and item.get("type"):
                    code = str(item["type"])
            message = "; ".join(parts)
        elif isinstance(detail, str):
            message = detail
        elif isinstance(body.get("error"), str):
            message = body["error"]
        if body.get("error_type"):
            code = str(body["error_type"])
    if code is None and response.headers.get("x-fal-error-type"):
        code = response.headers["x-fal-error-type"]
    if not message:
        message = response.text.strip().replace("\n", " ")[:300] or response.reason_phrase
    return redact(message), code


def _retry_hint(response: httpx.Response) -> bool | None:
    """What ``X-Fal-Needs-Retry`` (or the documented ``X-Fal-Retryable``) says: True, False, or None."""
    for header in ("x-fal-needs-retry", "x-fal-retryable"):
        value = response.headers.get(header)
        if value is not None:
            return value.strip().lower() in ("1", "true", "yes")
    return None


def _raise_if_retry(response: httpx.Response) -> None:
    """Raise :class:`RetryableStatus` for an answer worth another attempt; return for anything else.

    The service's retry header wins over the status: ``1`` retries even a 4xx, ``0`` stops even a 503.
    """
    if response.is_success:
        return
    hint = _retry_hint(response)
    if hint is False:
        return
    if hint is True:
        message, code = _fal_error(response)
        raise RetryableStatus(response.status_code, message, code=code,
                              retry_after=retry_after_seconds(response.headers))
    raise_for_retryable_status(response, _fal_error)


def _video_url(result: Mapping[str, Any]) -> str | None:
    """The output video's URL in a fal result (``video.url``; a few models use other shapes)."""
    video = result.get("video")
    if isinstance(video, Mapping) and isinstance(video.get("url"), str):
        return str(video["url"])
    if isinstance(video, str):
        return video
    if isinstance(result.get("video_url"), str):
        return str(result["video_url"])
    videos = result.get("videos")
    if isinstance(videos, list) and videos and isinstance(videos[0], Mapping) and isinstance(videos[0].get("url"), str):
        return str(videos[0]["url"])
    return None


# --------------------------------------------------------------------------------------------------
# the backend
# --------------------------------------------------------------------------------------------------

class FalBackend(HostedBackend):
    """Render shots on fal.ai's queue API. Safe to call from several threads.

    Args:
        config: the recipe's ``backend:`` block (see the module docstring for the keys).
        transport: an ``httpx`` transport for the queue and storage APIs instead of the network.
        download_transport: an ``httpx`` transport for video downloads (default: ``transport``).
        sleep: the sleep function for backoff (tests may pass a fast one).

    Raises:
        RecipeError: the block is malformed, or it holds an API key.
    """

    name = "fal"
    service_noun = "fal"
    setting_noun = "a fal"
    key_noun = "your fal key"
    key_warning = "your fal key"
    base_url_hint = "is backend.base_url fal's queue (https://queue.fal.run)?"
    auth_scheme = "Key"
    follow_redirects = False  # never carry the key to another host
    user_agent = f"reelpipe/{_VERSION}"

    def __init__(self, config: dict[str, Any] | None = None, *, transport: httpx.BaseTransport | None = None,
                 download_transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        url_hint = "e.g. https://queue.fal.run or http://127.0.0.1:8124"
        cfg = self._configure(config, secret_keys=("api_key", "key", "token", "fal_key"),
                              default_base_url=DEFAULT_BASE_URL, base_url_hint=url_hint, default_key_env="FAL_KEY")
        self.storage_url: str = self._http_url(cfg, "storage_url", DEFAULT_STORAGE_URL, url_hint)
        self.model: str = str(cfg.get("model") or "fal-ai/veo3.1/image-to-video").strip("/")
        self.concurrency = self._concurrency(cfg)
        self.models = FalModelTable.from_config(cfg.get("models"))
        self.resolution: str | None = str(cfg["resolution"]) if cfg.get("resolution") else None
        if self.resolution is not None:
            try:
                resolution_height(self.resolution)
            except ValueError as exc:
                raise RecipeError(f"backend.resolution: {exc}") from None
        arguments = cfg.get("arguments") or {}
        if not isinstance(arguments, Mapping):
            raise RecipeError("backend.arguments must be a mapping of input field to value",
                              hint="e.g. arguments: {generate_audio: false}")
        self.arguments: dict[str, Any] = dict(arguments)
        self.negative_prompt: str | None = str(cfg["negative_prompt"]) if cfg.get("negative_prompt") else None
        self.fit = self._fit(cfg)
        upload = cfg.get("image_upload")
        if upload is not None and upload not in ("data_uri", "upload"):
            raise RecipeError(f"backend.image_upload: {upload!r} must be 'data_uri' or 'upload'")
        self.image_upload: str | None = upload
        self.sign_unsigned: bool = bool(cfg.get("sign_unsigned", True))
        self.strict: bool = bool(cfg.get("strict", False))
        self._configure_service(cfg, default_job_timeout=3600.0, transport=transport, sleep=sleep)
        self._download_transport = download_transport if download_transport is not None else transport
        self._downloader: httpx.Client | None = None
        self._interrupt = threading.Event()

    # -- the Backend protocol ------------------------------------------------------------------------

    def version(self) -> str:
        """What identifies this backend's output for the render cache: contract, service, model, and the
        settings that change the picture (resolution, extra arguments, negative prompt, fitting)."""
        extras = json.dumps({"resolution": self.resolution, "arguments": self.arguments,
                             "negative_prompt": self.negative_prompt, "fit": self.fit}, sort_keys=True, default=str)
        return f"{_VERSION}@{self.base_url}#{self.model}~{hashlib.sha256(extras.encode()).hexdigest()[:8]}"

    def estimate_cost(self, request: RenderRequest) -> float:
        """Estimated USD for ``request``: billed seconds times the model's price at the chosen resolution
        (with audio when the model makes it). The table's prices are estimates.

        Raises:
            RenderError: the model is not in the table (so its price is unknown).
        """
        model = self._entry(request)
        resolution = model.choose_resolution(request.width, request.height, self.resolution)
        return model.cost(request.seconds, resolution, audio=model.audio_on(self.arguments))

    def preflight(self, request: RenderRequest) -> list[str]:
        """Check ``request`` before anything is paid for.

        Returns:
            Warnings: unknown backend keys, an unset key variable, an aspect ratio or resolution the model
            cannot match (the edit stage letterboxes or scales), unverified table entries.

        Raises:
            RenderError: the model, length or prompt is not accepted, there is no readable image, the shot is
                a remix, or (``strict``) the aspect ratio cannot be matched.
        """
        shot = request.shot_id
        warnings = self._setup_warnings(CONFIG_KEYS)
        model = self._check_request(request)
        aspect, _ = self._framing(model, request)
        want = request.width / float(request.height)
        if aspect is not None and abs(aspect_value(aspect) / want - 1.0) > 0.01:
            msg = (f"{model.endpoint} renders {aspect}, not {request.width}x{request.height}: the edit stage "
                   "letterboxes it")
            if self.strict or bool(request.params.get("strict")):
                raise RenderError(f"shot {shot!r}: {msg}", shot_id=shot,
                                  hint=f"use an output or shot size of {', '.join(model.aspect_ratios)}")
            warnings.append(msg)
        resolution = model.choose_resolution(request.width, request.height, self.resolution)
        if resolution is not None and resolution_height(resolution) < min(request.width, request.height):
            warnings.append(f"{model.endpoint} renders at most {resolution}: the edit stage upscales it to "
                            f"{request.width}x{request.height}")
        if model.duration_style == "frames" and abs(model.output_seconds(request.seconds) - request.seconds) > 0.05:
            warnings.append(f"{model.endpoint} renders {model.output_seconds(request.seconds):.2f} s for "
                            f"{request.seconds:g} s (its frame count steps); trim the shot if it matters")
        return warnings

    def render(self, request: RenderRequest, dest: Path, ctx: RenderContext) -> RenderResult:
        """Render ``request`` into ``dest`` on fal, resuming a journaled job when there is one.

        Raises:
            BackendError: fal refused or failed the job (with its error type), the result expired, the job
                was cancelled (:meth:`interrupt`), or fal could not be reached after retries.
            RenderError: the request is not accepted by the model (see :meth:`preflight`).
            KeyboardInterrupt: re-raised after cancelling the job on fal.
        """
        shot = request.shot_id
        model = self._check_request(request)
        client = self._http(shot)
        journal = self._journal(ctx.work_dir)
        cache_key = request.cache_key or self._fallback_key(request)
        with journal.lock(cache_key):
            entry = journal.load(cache_key)
            if entry is not None and (entry.service != self.base_url or entry.state == "failed"):
                entry = None  # another service's job is not ours; a failed one is submitted anew
            if entry is not None and entry.job_id is None and entry.attempts > 0:
                raise self._unconfirmed_error(request, journal, entry)
            resumed = entry is not None and entry.job_id is not None
            if entry is None:
                payload, summary = self._payload(client, request, model)
                entry = JournalEntry(backend=self.name, service=self.base_url, cache_key=cache_key, shot_id=shot,
                                     request=summary, cost_usd=self.estimate_cost(request))
                journal.save(entry)  # the intent is on disk before anything can be paid for
                request_id = self._submit(client, request, model, payload, entry, journal)
                journal.update(entry, state="submitted", job_id=request_id)
                log.info("shot %r: submitted fal request %s", shot, request_id)
            elif entry.job_id is None:  # the intent was journaled, but no attempt was made: safe to submit
                payload, _ = self._payload(client, request, model)
                request_id = self._submit(client, request, model, payload, entry, journal)
                journal.update(entry, state="submitted", job_id=request_id)
            else:
                log.info("shot %r: resuming fal request %s (state %s) instead of submitting again",
                         shot, entry.job_id, entry.state)
            request_id = str(entry.job_id)
            app = queue_app_path(model.endpoint)
            status: dict[str, Any] = {}
            if entry.state not in ("completed", "downloaded"):
                status = self._wait_or_cancel(client, app, request_id, request, entry, journal, ctx)
                error = status.get("error")
                if error:
                    code = str(status.get("error_type") or "request_failed")
                    message = redact(str(error))
                    journal.update(entry, state="failed", error={"code": code, "message": message})
                    raise BackendError(f"shot {shot!r}: fal request {request_id} failed: {code}: {message}",
                                       shot_id=shot, code=code, hint=self._hint_for(code, None, request))
                journal.update(entry, state="completed")
            ctx.on_progress(shot, "downloading", 0.0)
            result, media = self._fetch_and_download(client, app, request_id, request, entry, journal, dest, ctx)
            journal.update(entry, state="downloaded")
        info: dict[str, Any] = {
            "backend": self.name,
            "service": self.base_url,
            "job_id": request_id,
            "model": model.endpoint,
            "resolution": entry.request.get("resolution"),
            "aspect_ratio": entry.request.get("aspect_ratio"),
            "duration": entry.request.get("duration"),
            "seed": result.get("seed"),
            "resumed": resumed,
            "price_note": "estimate from the model table",
            "probe": media.to_dict(),
        }
        metrics = status.get("metrics")
        if isinstance(metrics, Mapping) and metrics.get("inference_time") is not None:
            info["inference_time_s"] = metrics.get("inference_time")
        info["provenance"] = self._provenance(dest, request, model, info, ctx)
        warnings = self._output_warnings(request, model, media)
        if warnings:
            info["warnings"] = warnings
        ctx.on_progress(shot, "done", 1.0)
        return RenderResult(path=dest, job_id=request_id, cost_usd=entry.cost_usd, info=info)

    def interrupt(self) -> None:
        """Cancel every render that is waiting on fal (from any thread): each cancels its job, marks its
        journal entry, and fails with ``code='cancelled'``. Renders started afterwards are not affected
        until :meth:`reset_interrupt`."""
        self._interrupt.set()

    def reset_interrupt(self) -> None:
        """Allow renders again after :meth:`interrupt`."""
        self._interrupt.clear()

    def close(self) -> None:
        """Close the HTTP clients (idempotent)."""
        with self._lock:
            for c in (self._client, self._downloader):
                if c is not None:
                    c.close()
            self._client = None
            self._downloader = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- checks --------------------------------------------------------------------------------------

    def _model_id(self, request: RenderRequest) -> str:
        return (request.model or self.model).strip("/")

    def _entry(self, request: RenderRequest) -> FalModel:
        model_id = self._model_id(request)
        model = self.models.get(model_id)
        if model is None:
            close = difflib.get_close_matches(model_id, self.models.names(), n=1)
            raise RenderError(
                f"shot {request.shot_id!r}: fal model {model_id!r} is not in the model table",
                shot_id=request.shot_id,
                hint=(f"did you mean {close[0]!r}? " if close else "")
                + "describe it under backend.models (durations, usd_per_second, field names) — see "
                  "the README (Render backends: fal.ai and diffusers), 'The fal model table'")
        return model

    def _check_request(self, request: RenderRequest) -> FalModel:
        """Hard checks shared by preflight and render; raises RenderError naming the shot."""
        shot = request.shot_id
        model = self._entry(request)
        if request.remix_of:
            raise RenderError(f"shot {shot!r}: the fal backend cannot remix another shot's render",
                              shot_id=shot, hint="give the shot its own image: and prompt: instead of remix_of")
        if not request.prompt or not request.prompt.strip():
            raise RenderError(f"shot {shot!r}: the prompt is empty", shot_id=shot,
                              hint="describe the shot: subject, camera move, light")
        if model.max_prompt_chars is not None and len(request.prompt) > model.max_prompt_chars:
            raise RenderError(f"shot {shot!r}: the prompt has {len(request.prompt)} characters; "
                              f"{model.endpoint} takes at most {model.max_prompt_chars}", shot_id=shot,
                              hint="shorten the prompt")
        if request.image is None:
            raise RenderError(f"shot {shot!r}: {model.endpoint} is an image-to-video model and needs an image",
                              shot_id=shot, hint="give the shot an image:")
        if not Path(request.image).is_file():
            raise RenderError(f"shot {shot!r}: reference image not found: {request.image}", shot_id=shot,
                              hint="check the shot's image: path")
        if not model.allows_seconds(request.seconds):
            raise RenderError(f"shot {shot!r}: {model.endpoint} does not render {request.seconds:g} s clips",
                              shot_id=shot,
                              hint=f"use seconds: {model.allowed_seconds_text()} and trim the shot in the timeline")
        if self.resolution is not None and model.resolution_field is not None \
                and self.resolution not in model.resolutions:
            raise RenderError(f"shot {shot!r}: {model.endpoint} does not render {self.resolution}", shot_id=shot,
                              hint=f"set backend.resolution to one of {', '.join(model.resolutions)}")
        return model

    def _framing(self, model: FalModel, request: RenderRequest) -> tuple[str | None, tuple[int, int]]:
        """The aspect ratio sent (None: the output follows the image) and the size the image is fitted to."""
        aspect = model.choose_aspect(request.width, request.height)
        ratio = aspect_value(aspect) if aspect is not None else request.width / float(request.height)
        resolution = model.choose_resolution(request.width, request.height, self.resolution)
        short = min(request.width, request.height) if resolution is None else resolution_height(resolution)
        w, h = pixel_size(f"{min(short, _IMAGE_MAX_SHORT_SIDE)}p", ratio)
        return aspect, (w, h)

    # -- the request ---------------------------------------------------------------------------------

    def _payload(self, client: httpx.Client, request: RenderRequest,
                 model: FalModel) -> tuple[dict[str, Any], dict[str, Any]]:
        """The model's input for ``request`` and the journal's summary of it (no image bytes, no key)."""
        from pipeline.backends.openai import fit_reference_image

        assert request.image is not None
        aspect, (fw, fh) = self._framing(model, request)
        resolution = model.choose_resolution(request.width, request.height, self.resolution)
        fitted = fit_reference_image(request.image, fw, fh, mode=self.fit)
        upload = self.image_upload or model.image_upload
        if upload == "upload":
            image_ref = self._upload(client, request, fitted.data, fitted.mime, fitted.filename)
        else:
            image_ref = f"data:{fitted.mime};base64,{base64.b64encode(fitted.data).decode('ascii')}"
        payload: dict[str, Any] = {model.prompt_field: request.prompt, model.image_field: image_ref}
        duration = model.duration_value(request.seconds)
        if model.duration_style == "frames":
            assert model.frames is not None
            payload[model.frames.field] = duration
            if model.frames.fps_field:
                payload[model.frames.fps_field] = int(model.frames.fps) if float(model.frames.fps).is_integer() \
                    else model.frames.fps
        elif model.duration_field:
            payload[model.duration_field] = duration
        if model.aspect_field and aspect is not None:
            payload[model.aspect_field] = aspect
        if model.resolution_field and resolution is not None:
            payload[model.resolution_field] = resolution
        if model.seed_field:
            payload[model.seed_field] = int(request.seed)
        if model.negative_prompt_field and self.negative_prompt:
            payload[model.negative_prompt_field] = self.negative_prompt
        payload.update(model.arguments)
        payload.update(self.arguments)
        digest_input = {k: v for k, v in payload.items() if k != model.image_field}
        summary = {
            "model": model.endpoint, "resolution": resolution, "aspect_ratio": aspect, "duration": duration,
            "image_size": f"{fw}x{fh}", "image_sha256": hashlib.sha256(fitted.data).hexdigest(),
            "prompt_sha256": hashlib.sha256(request.prompt.encode()).hexdigest(),
            "input_sha256": hashlib.sha256(json.dumps(digest_input, sort_keys=True, default=str).encode()).hexdigest(),
        }
        return payload, summary

    def _upload(self, client: httpx.Client, request: RenderRequest, data: bytes, mime: str, filename: str) -> str:
        """Put the image in fal's storage (token, then upload) and return its URL."""
        shot = request.shot_id

        def token_attempt() -> dict[str, Any]:
            r = client.post(f"{self.storage_url}/storage/auth/token", params={"storage_type": "fal-cdn-v3"},
                            json={})
            _raise_if_retry(r)
            if not r.is_success:
                raise self._error(r, "getting an upload token", request)
            return self._json(r, "getting an upload token", request)

        token = self._retrying(token_attempt, what=f"shot {shot!r}: upload token", shot=shot)
        upload_base = str(token.get("base_url") or "").rstrip("/")
        if not upload_base.startswith(("http://", "https://")) or not token.get("token"):
            raise BackendError(f"shot {shot!r}: fal's storage answered without an upload URL or token",
                               shot_id=shot, retryable=True)
        auth = f"{token.get('token_type') or 'Bearer'} {token['token']}"

        def upload_attempt() -> str:
            r = self._downloads().post(f"{upload_base}/files/upload", content=data,
                                       headers={"Authorization": auth, "Content-Type": mime,
                                                "X-Fal-File-Name": filename})
            _raise_if_retry(r)
            if not r.is_success:
                raise self._error(r, "uploading the reference image", request)
            url = self._json(r, "uploading the reference image", request).get("access_url")
            if not isinstance(url, str) or not url:
                raise BackendError(f"shot {shot!r}: fal's storage sent no access_url", shot_id=shot, retryable=True)
            return url

        return self._retrying(upload_attempt, what=f"shot {shot!r}: uploading the reference image", shot=shot)

    def _submit(self, client: httpx.Client, request: RenderRequest, model: FalModel, payload: dict[str, Any],
                entry: JournalEntry, journal: JobJournal) -> str:
        """Submit the job once. A lost answer is never resubmitted blindly (fal cannot tell us if it ran)."""
        shot = request.shot_id

        def attempt() -> str:
            journal.update(entry, attempts=entry.attempts + 1)
            try:
                r = client.post(model.endpoint, json=payload)
            except _UNCONFIRMED as exc:
                journal.update(entry, error={"code": "submit_unconfirmed",
                                             "message": f"the answer to the submission was lost ({type(exc).__name__})"})
                raise self._unconfirmed_error(request, journal, entry) from exc
            except KeyboardInterrupt:
                journal.update(entry, error={"code": "submit_unconfirmed",
                                             "message": "interrupted while submitting"})
                raise
            _raise_if_retry(r)
            if not r.is_success:
                raise self._error(r, "submitting the job", request)
            body = self._json(r, "submitting the job", request)
            request_id = body.get("request_id")
            if not isinstance(request_id, str) or not request_id:
                raise BackendError(f"shot {shot!r}: fal accepted the job but sent no request_id", shot_id=shot)
            return request_id

        try:
            return self._retrying(attempt, what=f"shot {shot!r}: submitting the job", shot=shot)
        except BackendError as exc:
            if exc.code != "submit_unconfirmed":
                # fal answered every attempt and refused (or rate limited) it: nothing runs, nothing is billed
                journal.update(entry, state="failed",
                               error={"code": exc.code or "rejected", "message": redact(exc.message)})
            raise

    def _unconfirmed_error(self, request: RenderRequest, journal: JobJournal, entry: JournalEntry) -> BackendError:
        path = journal.path_for(entry.cache_key)
        return BackendError(
            f"shot {request.shot_id!r}: an earlier submission to fal may have been received, but its request id "
            "never arrived; reelpipe does not submit again blindly, as fal would bill both",
            shot_id=request.shot_id, code="submit_unconfirmed",
            hint=f"check your requests at https://fal.ai/dashboard; to submit again anyway (billed), delete {path}")

    # -- waiting -------------------------------------------------------------------------------------

    def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` between polls, waking early (and raising) on :meth:`interrupt`."""
        if self._sleep is not time.sleep:
            self._sleep(seconds)
            if self._interrupt.is_set():
                raise _Interrupted()
            return
        if self._interrupt.wait(seconds):
            raise _Interrupted()

    def _wait_or_cancel(self, client: httpx.Client, app: str, request_id: str, request: RenderRequest,
                        entry: JournalEntry, journal: JobJournal, ctx: RenderContext) -> dict[str, Any]:
        """Poll until COMPLETED; on Ctrl-C or :meth:`interrupt`, cancel the job and mark the journal."""
        shot = request.shot_id
        try:
            return self._wait(client, app, request_id, request, ctx)
        except (KeyboardInterrupt, _Interrupted) as exc:
            state = self._cancel(client, app, request_id, shot)
            if state == "completed":
                journal.update(entry, state="completed")  # too late to cancel: the next run downloads it
            else:
                journal.update(entry, state="failed", error={"code": "cancelled",
                                                             "message": f"cancelled by the user ({state})"})
            ctx.on_progress(shot, "cancelled", None)
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise BackendError(f"shot {shot!r}: fal request {request_id} was cancelled", shot_id=shot,
                               code="cancelled", hint="run again to submit it anew") from None

    def _wait(self, client: httpx.Client, app: str, request_id: str, request: RenderRequest,
              ctx: RenderContext) -> dict[str, Any]:
        shot = request.shot_id
        deadline = time.monotonic() + self.job_timeout
        delay = self.poll_interval

        def attempt() -> dict[str, Any]:
            r = client.get(f"{app}/requests/{request_id}/status", params={"logs": "0"})
            _raise_if_retry(r)
            if r.status_code in (404, 410):
                raise BackendError(
                    f"shot {shot!r}: fal no longer knows request {request_id} (expired or deleted)",
                    shot_id=shot, status=r.status_code,
                    hint="delete this shot's file under .reelpipe/jobs/fal/ to submit it again — that render "
                         "will be billed")
            if not r.is_success:
                raise self._error(r, f"checking request {request_id}", request)
            return self._json(r, f"checking request {request_id}", request)

        if self._interrupt.is_set():
            raise _Interrupted()
        while True:
            status = self._retrying(attempt, what=f"shot {shot!r}: checking request {request_id}", shot=shot)
            state = str(status.get("status"))
            if state == "COMPLETED":
                return status
            if state in ("FAILED", "ERROR", "CANCELLED", "CANCELED"):  # not in fal's documented set; be safe
                return {**status, "error": status.get("error") or f"the request ended {state}",
                        "error_type": status.get("error_type") or state.lower()}
            if state == "IN_QUEUE":
                position = status.get("queue_position")
                log.debug("shot %r: request %s is queued at position %s", shot, request_id, position)
                ctx.on_progress(shot, "queued", None)
            else:
                ctx.on_progress(shot, "rendering", None)
            if time.monotonic() + delay > deadline:
                raise BackendError(
                    f"shot {shot!r}: fal request {request_id} is still {state} after {self.job_timeout:.0f} s",
                    shot_id=shot, retryable=True,
                    hint="re-run later: the request is resumed, not submitted again (or raise backend.job_timeout)")
            self._pause(delay)
            delay = min(self.poll_max_interval, delay * 1.5)

    def _cancel(self, client: httpx.Client, app: str, request_id: str, shot: str) -> str:
        """Ask fal to cancel ``request_id``: ``cancellation requested``, ``completed`` (too late) or why not."""
        try:
            r = client.put(f"{app}/requests/{request_id}/cancel", timeout=10.0)
        except httpx.HTTPError as exc:
            log.warning("shot %r: could not cancel fal request %s: %s", shot, request_id, type(exc).__name__)
            return "cancel not confirmed"
        try:
            body = r.json()
        except ValueError:
            body = {}
        answer = str(body.get("status") or "") if isinstance(body, dict) else ""
        if answer == "ALREADY_COMPLETED":
            return "completed"
        if r.is_success:
            log.warning("shot %r: cancelled fal request %s", shot, request_id)
            return "cancellation requested"
        message, _ = _fal_error(r)
        log.warning("shot %r: fal did not cancel request %s (HTTP %d: %s)", shot, request_id, r.status_code, message)
        return f"cancel refused: HTTP {r.status_code}"

    # -- the result ----------------------------------------------------------------------------------

    def _result(self, client: httpx.Client, app: str, request_id: str, request: RenderRequest,
                entry: JournalEntry, journal: JobJournal) -> dict[str, Any]:
        shot = request.shot_id

        def attempt() -> dict[str, Any]:
            r = client.get(f"{app}/requests/{request_id}")
            _raise_if_retry(r)
            if r.status_code in (404, 410):
                raise BackendError(
                    f"shot {shot!r}: the result of fal request {request_id} has expired (HTTP {r.status_code})",
                    shot_id=shot, status=r.status_code, code="result_expired",
                    hint="fal keeps results for a limited time; delete this shot's file under .reelpipe/jobs/fal/ "
                         "to render it again — that render will be billed")
            if not r.is_success:
                message, code = _fal_error(r)
                code = code or f"http_{r.status_code}"
                journal.update(entry, state="failed", error={"code": code, "message": message})
                raise BackendError(f"shot {shot!r}: fal request {request_id} failed (HTTP {r.status_code}, "
                                   f"{code}): {message}", shot_id=shot, status=r.status_code, code=code,
                                   hint=self._hint_for(code, r.status_code, request))
            return self._json(r, f"fetching the result of {request_id}", request)

        return self._retrying(attempt, what=f"shot {shot!r}: fetching the result of {request_id}", shot=shot)

    def _fetch_and_download(self, client: httpx.Client, app: str, request_id: str, request: RenderRequest,
                            entry: JournalEntry, journal: JobJournal, dest: Path,
                            ctx: RenderContext) -> tuple[dict[str, Any], Any]:
        """Fetch the result and download its video at once; an expired URL is refreshed (twice at most)."""
        shot = request.shot_id
        last_url: str | None = None
        for refresh in range(3):
            result = self._result(client, app, request_id, request, entry, journal)
            url = _video_url(result)
            if url is None or not url.startswith(("http://", "https://")):
                raise BackendError(f"shot {shot!r}: the result of fal request {request_id} has no video URL",
                                   shot_id=shot, code="no_video",
                                   hint="is backend.model an image-to-video model?")
            try:
                return result, self._download(url, dest, request, ctx)
            except _ResultExpired as exc:
                log.warning("shot %r: the video URL of request %s has expired (%s); fetching the result again",
                            shot, request_id, exc)
                if url == last_url:
                    break
                last_url = url
        raise BackendError(
            f"shot {shot!r}: the video of fal request {request_id} can no longer be downloaded (its URL expired "
            "and fal gave no fresh one)", shot_id=shot, code="result_expired",
            hint="fal keeps media for a limited time; delete this shot's file under .reelpipe/jobs/fal/ to render "
                 "it again — that render will be billed")

    def _download(self, url: str, dest: Path, request: RenderRequest, ctx: RenderContext) -> Any:
        """Stream the video (without the fal key: media URLs are public) to a temporary file beside ``dest``,
        check it, rename it onto ``dest``."""
        shot = request.shot_id
        downloader = self._downloads()

        def refuse(r: httpx.Response) -> NoReturn:
            if r.status_code in (401, 403, 404, 410):
                raise _ResultExpired(f"HTTP {r.status_code}")
            r.read()
            _raise_if_retry(r)
            message, _ = _fal_error(r)
            raise BackendError(f"shot {shot!r}: downloading the video failed (HTTP {r.status_code}): {message}",
                               shot_id=shot, status=r.status_code)

        return self._stream_video(lambda: downloader.stream("GET", url), dest, request, ctx,
                                  what="downloading the video", refuse=refuse)

    def _provenance(self, dest: Path, request: RenderRequest, model: FalModel, info: dict[str, Any],
                    ctx: RenderContext) -> str:
        """Keep a manifest the clip came with; sign one that came without (the run's signer), so the
        provenance stage sees an honest ``trainedAlgorithmicMedia`` claim naming the model."""
        if not self.sign_unsigned or ctx.signer is None:
            return "service"
        from pipeline.provenance import verify

        if verify(dest).state != "missing":
            return "service"
        ctx.signer(dest, replace(request, model=model.endpoint), info)
        return "reelpipe"

    def _output_warnings(self, request: RenderRequest, model: FalModel, media: Any) -> list[str]:
        out: list[str] = []
        expected = model.output_seconds(request.seconds)
        if abs(media.duration - expected) > 0.5:
            out.append(f"fal returned {media.duration:.2f} s, not {expected:g} s")
        return out

    # -- HTTP ----------------------------------------------------------------------------------------

    def _downloads(self) -> httpx.Client:
        """A client without the fal key, for media URLs on other hosts."""
        with self._lock:
            if self._downloader is None:
                self._downloader = httpx.Client(headers={"User-Agent": self.user_agent}, timeout=self.timeout,
                                                transport=self._download_transport, follow_redirects=True)
            return self._downloader

    def _error(self, response: httpx.Response, what: str, request: RenderRequest) -> BackendError:
        message, code = _fal_error(response)
        return BackendError(
            f"shot {request.shot_id!r}: {what} was refused (HTTP {response.status_code}"
            f"{', ' + code if code else ''}): {message}",
            shot_id=request.shot_id, status=response.status_code, code=code,
            hint=self._hint_for(code, response.status_code, request))

    def _hint_for(self, code: str | None, status: int | None, request: RenderRequest) -> str:
        model = self._model_id(request)
        if code and ("content_policy" in code or "moderation" in code or "safety" in code):
            return ("fal's or the model's content checks refused it: rephrase the prompt or change the image (no "
                    "real people, public figures, copyrighted characters or unsafe content)")
        if status == 401:
            return (f"check the key in the environment variable {self.api_key_env} (reelpipe never reads keys "
                    "from the recipe)")
        if status == 403:
            return f"the key has no access to {model}, or the account is out of credit: check https://fal.ai/dashboard"
        if status == 404:
            return f"is {model!r} a fal model id? check backend.model and backend.base_url"
        if status == 422:
            return (f"the input does not match {model}'s schema: check the model table entry (field names, "
                    "durations, aspect ratios) and backend.arguments")
        if code == "cancelled":
            return "run again to submit it anew"
        return "fix what fal says, then re-run (only failed shots are rendered again)"
