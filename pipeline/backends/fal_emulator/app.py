"""The fal emulator's ASGI app: fal's queue contract, validated against the fal model table.

Endpoints (queue and storage ones need ``Authorization: Key KEY``; with ``api_key`` set, exactly that key):

=================================================  ==========================================================
``POST /{model_id}``                               submit: JSON input → ``{request_id, response_url,
                                                   status_url, cancel_url, queue_position}``
``GET /{app}/requests/{id}/status``                ``IN_QUEUE`` (``queue_position``), ``IN_PROGRESS``,
                                                   ``COMPLETED`` (``metrics``; ``error``/``error_type`` when
                                                   the request failed)
``GET /{app}/requests/{id}``                       the result: ``{"video": {"url", "content_type", ...},
                                                   "seed"}``; 400 while running, 422 when it failed
``PUT /{app}/requests/{id}/cancel``                202 ``CANCELLATION_REQUESTED`` or 400 ``ALREADY_COMPLETED``
``POST /storage/auth/token``, ``POST /files/upload``  fal's storage: a token, then the file → ``access_url``
``GET /_fal_emulator/files/{token}/{name}``        the media (no key needed, like fal's CDN)
``GET /_fal_emulator/stats``                       counters (not part of the contract)
=================================================  ==========================================================

``{app}`` is the model id without its sub-path, as fal's clients build status URLs. Input validation
follows the model's table entry (:mod:`pipeline.backends.fal_models`): the prompt and image fields are
required; duration, aspect ratio and resolution must be ones the model takes; the image is a data URI or a
file uploaded here (the emulator never fetches remote URLs). Errors use fal's model-error shape, a
``detail`` list of ``{loc, msg, type, url}``; request errors a ``detail`` string with ``error_type``.
Clips are rendered by the local renderer at the requested resolution and aspect ratio.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import math
import secrets
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from pipeline.backends.fal_emulator.faults import STATUS_KINDS, FalFaultPlan
from pipeline.backends.fal_models import FalModel, FalModelTable, aspect_value, pixel_size

__all__ = ["FAL_EMULATOR_GENERATOR", "FalConnectionDropped", "FalEmulator", "FalJob"]

log = logging.getLogger(__name__)

FAL_EMULATOR_GENERATOR = "reelpipe-fal-emulator/1 (fal queue API emulator)"
"""The software agent named in the manifests of clips the emulator signs."""

_SIGNER = ("reelpipe fal emulator", "reelpipe emulator (not a real service)")
_NAMESPACES = ("workflows", "comfy")
_ERRORS_URL = "https://docs.fal.ai/errors"
_FLAGGED = "The generated content was flagged by the content checker (fault injection)."


class FalConnectionDropped(Exception):
    """Raised inside a response to drop the connection on purpose (the ``drop`` fault)."""


class _Dropped(Response):
    """Sends the headers and part of the body of ``original``, then drops the connection."""

    def __init__(self, original: Response) -> None:
        super().__init__(content=bytes(original.body), status_code=original.status_code)
        self.raw_headers = list(original.raw_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": bytes(self.body[: len(self.body) // 2]), "more_body": True})
        raise FalConnectionDropped("connection dropped on purpose (fault injection)")


class _FalError(Exception):
    """An error answered in fal's shape."""

    def __init__(self, status: int, detail: str | list[dict[str, Any]], *, error_type: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail
        self.error_type = error_type
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"detail": self.detail}
        if self.error_type:
            body["error_type"] = self.error_type
            self.headers.setdefault("x-fal-error-type", self.error_type)
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def _field_error(field_name: str, msg: str, kind: str = "value_error",
                 ctx: dict[str, Any] | None = None) -> _FalError:
    item: dict[str, Any] = {"loc": ["body", field_name], "msg": msg, "type": kind, "url": f"{_ERRORS_URL}#{kind}"}
    if ctx:
        item["ctx"] = ctx
    return _FalError(422, [item], headers={"x-fal-retryable": "false"})


def _app_of(model: str) -> str:
    parts = [p for p in model.strip("/").split("/") if p]
    return "/".join(parts[:3 if parts and parts[0] in _NAMESPACES else 2])


@dataclass
class FalJob:
    """One queued request and its rendering."""

    id: str
    model: str
    app: str
    input: dict[str, Any]
    created: float
    latency: float
    seconds: float
    size: tuple[int, int]
    fps: int
    seed: int
    reference: Path | None = None
    planned_error: tuple[str, str] | None = None  # (error_type, message)
    cancelled: bool = False
    gone: bool = False
    rendered: threading.Event = field(default_factory=threading.Event)
    render_error: str | None = None
    video_path: Path | None = None
    signed: bool = False

    def status(self, now: float | None = None, positions: int = 3) -> dict[str, Any]:
        """The status object at ``now``."""
        now = time.time() if now is None else now
        elapsed = now - self.created
        queue_time = min(0.25 * self.latency, 2.0)
        if self.cancelled:
            return {"status": "COMPLETED", "error": "Request was cancelled", "error_type": "client_cancelled"}
        if self.planned_error is not None and elapsed >= 0.5 * self.latency:
            return {"status": "COMPLETED", "error": self.planned_error[1], "error_type": self.planned_error[0]}
        if elapsed < queue_time:
            left = 1.0 - elapsed / queue_time if queue_time > 0 else 0.0
            return {"status": "IN_QUEUE", "queue_position": max(0, math.ceil(left * positions) - 1)}
        if self.rendered.is_set() and self.render_error is not None:
            return {"status": "COMPLETED", "error": f"Generation failed: {self.render_error}",
                    "error_type": "runner_server_error"}
        if elapsed >= self.latency and self.rendered.is_set() and self.planned_error is None:
            return {"status": "COMPLETED", "metrics": {"inference_time": round(self.latency, 3)}}
        return {"status": "IN_PROGRESS"}


class FalEmulator:
    """A local server of fal's queue API for the ``fal`` backend, backed by the local renderer.

    Args:
        api_key: the one key accepted; None accepts any non-empty ``Key`` credential.
        models: model-table extensions (the ``backend.models`` format), e.g. a tiny test model.
        latency: seconds from submission to ``COMPLETED``.
        faults: a fault spec (see :mod:`.faults`) or a :class:`FalFaultPlan`.
        fps: frame rate of rendered clips (default: the model's).
        workers: renders at once.
        storage_dir: where uploads and clips are kept (default: a temporary folder removed by :meth:`close`).
        sign: sign clips with C2PA under the emulator's own identity (real fal clips usually carry none).
        home: the emulator's signing home (only with ``sign``).
        seed: seeds probabilistic faults.
    """

    def __init__(self, *, api_key: str | None = None, models: Mapping[str, Any] | None = None,
                 latency: float = 2.0, faults: str | FalFaultPlan | None = None, fps: int | None = None,
                 workers: int = 2, storage_dir: Path | None = None, sign: bool = False, home: Path | None = None,
                 seed: int = 0) -> None:
        self.api_key = api_key or None
        self.models = FalModelTable.from_config(models)
        self.latency = max(0.0, float(latency))
        self.faults = faults if isinstance(faults, FalFaultPlan) else FalFaultPlan.parse(faults, seed=seed)
        self.fps = int(fps) if fps else None
        self._own_storage = storage_dir is None
        self.storage = Path(storage_dir) if storage_dir else Path(tempfile.mkdtemp(prefix="reelpipe-fal-emulator-"))
        self.storage.mkdir(parents=True, exist_ok=True)
        self.sign = sign
        self.home = Path(home) if home else None
        self._executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="fal-emulator-render")
        self._lock = threading.RLock()
        self._jobs: dict[str, FalJob] = {}
        self._files: dict[str, tuple[Path, str]] = {}  # token -> (file, job id or "upload")
        self._upload_tokens: set[str] = set()
        self._identity: Any = None
        self.counters: Counter[str] = Counter()
        self.submits_by_model: Counter[str] = Counter()
        self.last_input: dict[str, Any] | None = None
        self.last_auth: str | None = None
        self.app = self._build_app()

    # -- public --------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters: ``submits`` (jobs made — what fal would bill), ``submit_requests`` (every POST),
        ``status``, ``result``, ``cancel``, ``file``, ``upload`` requests, ``cancelled`` jobs,
        ``submits_by_model``, ``faults`` fired per kind, ``last_input`` (the image replaced by its kind)."""
        with self._lock:
            data: dict[str, Any] = dict(self.counters)
            for key in ("submits", "submit_requests", "status", "result", "cancel", "file", "upload", "cancelled"):
                data.setdefault(key, 0)
            data["submits_by_model"] = dict(self.submits_by_model)
            data["jobs"] = len(self._jobs)
            data["signed"] = sum(1 for j in self._jobs.values() if j.signed)
            data["last_input"] = dict(self.last_input) if self.last_input is not None else None
        data["faults"] = self.faults.counts()
        return data

    def job(self, request_id: str) -> FalJob | None:
        """The job ``request_id``, or None."""
        with self._lock:
            return self._jobs.get(request_id)

    def close(self) -> None:
        """Stop rendering and remove the emulator's temporary files."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._own_storage:
            shutil.rmtree(self.storage, ignore_errors=True)

    # -- app -----------------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        def wrap(name: str, fn: Callable[[Request], Awaitable[Response]], *,
                 auth: bool = True) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                return await self._handle(name, request, fn, auth=auth)
            return endpoint

        async def stats(request: Request) -> Response:
            return JSONResponse(self.stats())

        routes = [
            Route("/_fal_emulator/stats", stats, methods=["GET"]),
            Route("/_fal_emulator/files/{token}/{name}", wrap("file", self._file, auth=False), methods=["GET"]),
            Route("/storage/auth/token", wrap("upload", self._token), methods=["POST"]),
            Route("/files/upload", wrap("upload", self._upload, auth=False), methods=["POST"]),
            Route("/{app:path}/requests/{rid}/status", wrap("status", self._status), methods=["GET"]),
            Route("/{app:path}/requests/{rid}/cancel", wrap("cancel", self._cancel), methods=["PUT"]),
            Route("/{app:path}/requests/{rid}", wrap("result", self._result), methods=["GET"]),
            Route("/{model:path}", wrap("submit", self._submit), methods=["POST"]),
        ]
        return Starlette(routes=routes)

    async def _handle(self, name: str, request: Request, fn: Callable[[Request], Awaitable[Response]], *,
                      auth: bool) -> Response:
        with self._lock:
            self.counters[name] += 1
            if name == "submit":
                self.counters["submit_requests"] += 1
        slow = self.faults.fire(("slow",), name)
        if slow is not None:
            await asyncio.sleep(slow.seconds)
        try:
            if auth:
                self._authenticate(request)
            fault = self.faults.fire(STATUS_KINDS, name)
            if fault is not None:
                raise self._status_fault(int(fault.kind), fault.seconds, fault.retry)
            if name == "submit" and self.faults.fire(("422",), name) is not None:
                raise _FalError(422, [{"loc": ["body", "prompt"], "msg": "The prompt was flagged by the content "
                                       "checker (fault injection).", "type": "content_policy_violation",
                                       "url": f"{_ERRORS_URL}#content_policy_violation"}],
                                headers={"x-fal-retryable": "false"})
            response = await fn(request)
        except _FalError as err:
            response = err.response()
        except Exception:  # a bug in the emulator: answer as fal does, and log it
            log.exception("fal emulator: %s %s failed", request.method, request.url.path)
            response = _FalError(500, "Internal server error", error_type="internal_error").response()
        response.headers["x-fal-request-id"] = secrets.token_hex(8)
        if 200 <= response.status_code < 300 and self.faults.fire(("drop",), name) is not None:
            return _Dropped(response)
        return response

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        with self._lock:
            self.last_auth = scheme
        if scheme.lower() != "key" or not token.strip():
            raise _FalError(401, "No credentials provided: send 'Authorization: Key <your fal key>'.",
                            error_type="unauthorized")
        # never echo the key back, not even partly: a client may log this message
        if self.api_key is not None and not hmac.compare_digest(token.strip().encode(), self.api_key.encode()):
            raise _FalError(401, "Invalid credentials.", error_type="unauthorized")

    @staticmethod
    def _status_fault(status: int, after: float, retry: bool | None) -> _FalError:
        headers: dict[str, str] = {}
        if status in (429, 503):
            headers["retry-after"] = f"{after:g}"
        if retry is not None:
            headers["x-fal-needs-retry"] = "1" if retry else "0"
        kinds = {429: "rate_limited", 500: "internal_error", 502: "runner_incomplete_response",
                 503: "runner_scheduling_failure", 504: "request_timeout"}
        text = "Too many concurrent requests" if status == 429 else "The service is unavailable (fault injection)"
        return _FalError(status, text, error_type=kinds.get(status), headers=headers)

    # -- queue endpoints -----------------------------------------------------------------------------

    async def _submit(self, request: Request) -> Response:
        model_id = request.path_params["model"].strip("/")
        model = self.models.get(model_id)
        if model is None:
            raise _FalError(404, f"Application '{model_id}' not found", error_type="not_found")
        try:
            body = await request.json()
        except ValueError:
            raise _FalError(422, [{"loc": ["body"], "msg": "Input should be a JSON object", "type": "json_invalid",
                                   "url": f"{_ERRORS_URL}#json_invalid"}]) from None
        if not isinstance(body, dict):
            raise _FalError(422, [{"loc": ["body"], "msg": "Input should be a JSON object", "type": "dict_type",
                                   "url": f"{_ERRORS_URL}#dict_type"}])
        reference, ref_ext = self._reference(model, body, request)
        seconds = self._seconds(model, body)
        size = self._size(model, body, reference)
        seed_value = body.get(model.seed_field) if model.seed_field else None
        seed = int(seed_value) if isinstance(seed_value, int) and not isinstance(seed_value, bool) else 0
        fault = self.faults.fire(("error",), "submit")
        job = FalJob(id=_request_id(), model=model_id, app=_app_of(model_id), input=body, created=time.time(),
                     latency=self.latency, seconds=seconds, size=size, fps=self.fps or round(model.fps),
                     seed=seed, planned_error=(fault.error_type, _FLAGGED) if fault else None)
        ref_path = self.storage / f"{job.id}-reference.{ref_ext}"
        ref_path.write_bytes(reference)
        job.reference = ref_path
        shown = {k: (f"<{'data-uri' if str(v).startswith('data:') else 'url'}>" if k == model.image_field else v)
                 for k, v in body.items()}
        with self._lock:
            self._jobs[job.id] = job
            self.counters["submits"] += 1
            self.submits_by_model[model_id] += 1
            self.last_input = shown
        if job.planned_error is None:
            self._executor.submit(self._render, job)
        else:
            job.rendered.set()
        base = str(request.base_url).rstrip("/")
        urls = f"{base}/{job.app}/requests/{job.id}"
        return JSONResponse({"request_id": job.id, "response_url": urls, "status_url": f"{urls}/status",
                             "cancel_url": f"{urls}/cancel", "queue_position": 0, "status": "IN_QUEUE"})

    def _get_job(self, request: Request) -> FalJob:
        job = self.job(request.path_params["rid"])
        if job is None or job.app != request.path_params["app"].strip("/"):
            raise _FalError(404, "Request not found", error_type="not_found")
        return job

    async def _status(self, request: Request) -> Response:
        job = self._get_job(request)
        data = job.status()
        base = str(request.base_url).rstrip("/")
        data["response_url"] = f"{base}/{job.app}/requests/{job.id}"
        data["logs"] = [] if request.query_params.get("logs") in ("1", "true") else None
        return JSONResponse(data, status_code=202 if data["status"] != "COMPLETED" else 200)

    async def _result(self, request: Request) -> Response:
        job = self._get_job(request)
        if job.gone or self.faults.fire(("gone",), "result") is not None:
            job.gone = True
            raise _FalError(404, "Request not found (its result has expired)", error_type="not_found")
        status = job.status()
        if status["status"] != "COMPLETED":
            raise _FalError(400, "Request is still in progress", error_type="bad_request")
        if status.get("error"):
            raise _FalError(422, [{"loc": ["body"], "msg": str(status["error"]), "type": str(status["error_type"]),
                                   "url": f"{_ERRORS_URL}#{status['error_type']}"}],
                            headers={"x-fal-retryable": "false"})
        assert job.video_path is not None
        token = secrets.token_urlsafe(12)
        if self.faults.fire(("expire",), "result") is None:
            with self._lock:
                self._files[token] = (job.video_path, job.id)
        base = str(request.base_url).rstrip("/")
        return JSONResponse({
            "video": {"url": f"{base}/_fal_emulator/files/{token}/{job.id}.mp4", "content_type": "video/mp4",
                      "file_name": f"{job.id}.mp4", "file_size": job.video_path.stat().st_size},
            "seed": job.seed,
        })

    async def _cancel(self, request: Request) -> Response:
        job = self._get_job(request)
        if job.status()["status"] == "COMPLETED":
            return JSONResponse({"status": "ALREADY_COMPLETED"}, status_code=400)
        job.cancelled = True
        with self._lock:
            self.counters["cancelled"] += 1
        return JSONResponse({"status": "CANCELLATION_REQUESTED"}, status_code=202)

    # -- storage and files ---------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._upload_tokens.add(token)
        base = str(request.base_url).rstrip("/")
        return JSONResponse({"token": token, "token_type": "Bearer", "base_url": base,
                             "expires_at": "2099-01-01T00:00:00+00:00"})

    async def _upload(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self._lock:
            known = token in self._upload_tokens
        if scheme.lower() != "bearer" or not known:
            raise _FalError(401, "Invalid upload token", error_type="unauthorized")
        data = await request.body()
        if not data:
            raise _FalError(400, "Empty upload", error_type="bad_request")
        name = Path(request.headers.get("x-fal-file-name") or "upload.bin").name
        file_token = secrets.token_urlsafe(12)
        path = self.storage / f"upload-{file_token}-{name}"
        path.write_bytes(data)
        with self._lock:
            self._files[file_token] = (path, "upload")
        base = str(request.base_url).rstrip("/")
        return JSONResponse({"access_url": f"{base}/_fal_emulator/files/{file_token}/{name}"})

    async def _file(self, request: Request) -> Response:
        with self._lock:
            entry = self._files.get(request.path_params["token"])
        if entry is None or not entry[0].is_file():
            raise _FalError(404, "File not found or expired", error_type="not_found")
        media = "video/mp4" if entry[0].suffix == ".mp4" else "application/octet-stream"
        return FileResponse(entry[0], media_type=media)

    # -- validation ----------------------------------------------------------------------------------

    def _reference(self, model: FalModel, body: Mapping[str, Any], request: Request) -> tuple[bytes, str]:
        prompt = body.get(model.prompt_field)
        if not isinstance(prompt, str) or not prompt.strip():
            raise _field_error(model.prompt_field, "Field required", "missing")
        if model.max_prompt_chars is not None and len(prompt) > model.max_prompt_chars:
            raise _field_error(model.prompt_field, f"String should have at most {model.max_prompt_chars} characters",
                               "string_too_long")
        ref = body.get(model.image_field)
        if not isinstance(ref, str) or not ref:
            raise _field_error(model.image_field, "Field required", "missing")
        if ref.startswith("data:"):
            head, _, payload = ref.partition(",")
            if ";base64" not in head:
                raise _field_error(model.image_field, "Only base64 data URIs are supported", "image_load_error")
            try:
                data = base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                raise _field_error(model.image_field, "The data URI is not valid base64", "image_load_error") from None
        else:
            base = str(request.base_url).rstrip("/")
            prefix = f"{base}/_fal_emulator/files/"
            if not ref.startswith(prefix):
                raise _field_error(model.image_field, "The emulator never fetches remote URLs: send a data URI or "
                                   "upload the file to this server first", "image_load_error")
            token = ref[len(prefix):].split("/", 1)[0]
            with self._lock:
                entry = self._files.get(token)
            if entry is None:
                raise _field_error(model.image_field, "File not found", "image_load_error")
            data = entry[0].read_bytes()
        ext = {b"\xff\xd8\xff": "jpg", b"\x89PN": "png", b"RIF": "webp"}.get(data[:3])
        if ext is None:
            raise _field_error(model.image_field, "The image could not be decoded (JPEG, PNG or WebP)",
                               "image_load_error")
        return data, ext

    def _seconds(self, model: FalModel, body: Mapping[str, Any]) -> float:
        if model.duration_style == "frames":
            assert model.frames is not None
            spec = model.frames
            n = body.get(spec.field, spec.min)
            if isinstance(n, bool) or not isinstance(n, int) or not spec.min <= n <= spec.max \
                    or (n - spec.offset) % spec.step:
                raise _field_error(spec.field, f"Must be {spec.offset} + {spec.step}k between {spec.min} and "
                                   f"{spec.max}", ctx={"min": spec.min, "max": spec.max})
            fps = body.get(spec.fps_field, spec.fps) if spec.fps_field else spec.fps
            return n / float(fps)
        if model.duration_field is None:
            return model.durations[0]
        value = body.get(model.duration_field, model.duration_value(model.durations[0]))
        for d in model.durations:
            if value == model.duration_value(d):
                return d
        allowed = [model.duration_value(d) for d in model.durations]
        raise _field_error(model.duration_field, f"Input should be one of {', '.join(map(repr, allowed))}",
                           "enum", ctx={"expected": allowed})

    def _size(self, model: FalModel, body: Mapping[str, Any], reference: bytes) -> tuple[int, int]:
        import cv2
        import numpy as np

        img = cv2.imdecode(np.frombuffer(reference, dtype=np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise _field_error(model.image_field, "The image could not be decoded", "image_load_error")
        image_aspect = img.shape[1] / float(img.shape[0])
        aspect = image_aspect
        if model.aspect_field is not None:
            value = body.get(model.aspect_field, "auto")
            if value != "auto":
                if value not in model.aspect_ratios:
                    raise _field_error(model.aspect_field, f"Input should be one of {', '.join(model.aspect_ratios)}",
                                       "enum")
                aspect = aspect_value(str(value))
        resolution = model.default_resolution or (model.resolutions[0] if model.resolutions else "720p")
        if model.resolution_field is not None:
            value = body.get(model.resolution_field, resolution)
            if value not in model.resolutions:
                raise _field_error(model.resolution_field, f"Input should be one of {', '.join(model.resolutions)}",
                                   "enum")
            resolution = str(value)
        return pixel_size(resolution, aspect)

    # -- rendering -----------------------------------------------------------------------------------

    def _render(self, job: FalJob) -> None:
        from pipeline.backends.local import render_local_clip

        try:
            assert job.reference is not None
            tmp = self.storage / f".{job.id}.part.mp4"
            render_local_clip(job.reference, tmp, seconds=job.seconds, width=job.size[0], height=job.size[1],
                              fps=job.fps, prompt=str(job.input.get("prompt", "")), seed=job.seed)
            if self.sign:
                job.signed = self._sign(tmp, job)
            out = self.storage / f"{job.id}.mp4"
            tmp.replace(out)
            job.video_path = out
        except Exception as exc:  # noqa: BLE001 - a render failure becomes a failed request, as on fal
            log.warning("fal emulator: rendering %s failed: %s", job.id, exc)
            job.render_error = str(exc)
        finally:
            job.rendered.set()

    def _sign(self, path: Path, job: FalJob) -> bool:
        from pipeline import provenance

        try:
            with self._lock:
                if self._identity is None:
                    home = self.home or (self.storage / "signing-home")
                    if provenance.find_identity(home) is None:
                        provenance.new_identity(home, common_name=_SIGNER[0], organization=_SIGNER[1])
                    self._identity = provenance.ensure_identity(home)
            provenance.sign_generated_clip(path, identity=self._identity, title=f"{job.id}.mp4",
                                           digital_source_type="trainedAlgorithmicMedia",
                                           generator=FAL_EMULATOR_GENERATOR, model=job.model,
                                           reference_image=job.reference)
            return True
        except Exception as exc:  # noqa: BLE001 - the clip is still served, unsigned
            log.warning("fal emulator: signing %s failed: %s", job.id, exc)
            return False


def _request_id() -> str:
    """A request id in fal's UUID form."""
    import uuid

    return str(uuid.uuid4())
