"""The emulator's ASGI app: the OpenAI Videos API contract under ``/v1``, validated as the service does.

Endpoints (all need ``Authorization: Bearer KEY``; with ``api_key`` set, exactly that key):

==========================================  ==============================================================
``POST /v1/videos``                         create: multipart (``input_reference`` as an image part, or
                                            ``input_reference[image_url]`` / ``[file_id]`` fields) or JSON
``GET /v1/videos``                          list: ``after``, ``limit`` (1–100, default 20), ``order``
                                            (``asc`` | ``desc``, default ``desc``)
``GET /v1/videos/{id}``                     retrieve (``openai-poll-after-ms`` while the job runs)
``DELETE /v1/videos/{id}``                  delete a completed or failed job and its files
``GET /v1/videos/{id}/content``             ``variant=video`` (MP4) | ``thumbnail`` (WebP) |
                                            ``spritesheet`` (JPEG)
``POST /v1/videos/{id}/remix``              JSON ``{"prompt"}``: a new job from a completed one
``GET /_emulator/stats``                    the emulator's counters (not part of the contract)
==========================================  ==============================================================

Validation follows the service: ``prompt`` 1–32000 characters (the model's limit), ``model`` from the
capability table, ``seconds`` a *string* from the model's set, ``size`` allowed for the model, the reference
image a JPEG/PNG/WebP of exactly ``size``, no human faces in it (the service rejected them — with
``moderation_blocked``), no unknown parameters. Errors use the service's shape
``{"error": {"message", "type", "param", "code"}}``. An ``Idempotency-Key`` header on a create or remix
returns the job an earlier request with the same key made (switch this off to play a service without it).
Remote ``image_url`` and ``file_id`` references are refused: the emulator never goes online.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from pipeline.backends.capabilities import CapabilityTable, parse_size
from pipeline.backends.emulator.faults import STATUS_KINDS, FaultPlan
from pipeline.backends.emulator.jobs import Job, JobStore

__all__ = ["ConnectionDropped", "Emulator"]

log = logging.getLogger(__name__)

_CREATE_FIELDS = ("prompt", "model", "seconds", "size", "input_reference")
_REF_KEYS = ("image_url", "file_id")
_IMAGE_TYPES = {"jpeg": "jpg", "png": "png", "webp": "webp"}
_MAX_UPLOAD = 50 * 1024 * 1024


class ConnectionDropped(Exception):
    """Raised inside a response to drop the connection on purpose (the ``drop``/``truncate`` faults)."""


class _CutShort(Response):
    """A response that declares its full length, sends only part of its body, then drops the connection."""

    def __init__(self, original: Response, fraction: float) -> None:
        super().__init__(content=bytes(original.body), status_code=original.status_code)
        self.raw_headers = list(original.raw_headers)
        self._cut = max(0, int(len(self.body) * fraction))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": bytes(self.body[: self._cut]), "more_body": True})
        raise ConnectionDropped(f"dropped after {self._cut} of {len(self.body)} bytes (fault injection)")


class _ApiError(Exception):
    """An error answered in the service's shape."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def _quoted_list(values: list[str] | tuple[str, ...]) -> str:
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


class Emulator:
    """A faithful local server of the OpenAI Videos API, backed by the local renderer.

    Args:
        api_key: the one key accepted; None accepts any non-empty bearer key.
        faults: a fault spec (see :mod:`pipeline.backends.emulator.faults`) or a :class:`FaultPlan`.
        latency: seconds a job takes from queued to completed.
        models: capability-table extensions (the ``backend.models`` format), e.g. a tiny test model.
        storage_dir: where uploads and clips are kept (default: a temporary folder, removed by :meth:`close`).
        fps: frame rate of rendered clips.
        workers: renders at once.
        idempotency: honour ``Idempotency-Key`` on create and remix.
        reject_faces: answer ``moderation_blocked`` to reference images with human faces, as the service did.
        sign: sign clips with C2PA (when :mod:`pipeline.provenance` is available), under the emulator's own
            identity.
        home: the emulator's signing home (default :func:`~pipeline.backends.emulator.jobs.default_emulator_home`).
        poll_after_ms: the ``openai-poll-after-ms`` advice (default: an eighth of the latency, 100–2000 ms).
        seed: seeds the random generator of probabilistic faults.

    The ASGI app is :attr:`app`; :meth:`stats` returns the counters tests assert on.
    """

    def __init__(self, *, api_key: str | None = None, faults: str | FaultPlan | None = None,
                 latency: float = 5.0, models: Mapping[str, Any] | None = None, storage_dir: Path | None = None,
                 fps: int = 30, workers: int = 2, idempotency: bool = True, reject_faces: bool = True,
                 sign: bool = True, home: Path | None = None, poll_after_ms: int | None = None,
                 seed: int = 0) -> None:
        self.api_key = api_key or None
        self.faults = faults if isinstance(faults, FaultPlan) else FaultPlan.parse(faults, seed=seed)
        self.models = CapabilityTable.from_config(models)
        self.latency = max(0.0, float(latency))
        self.store = JobStore(models=self.models, latency=self.latency, storage_dir=storage_dir, fps=fps,
                              workers=workers, sign=sign, home=home)
        self.idempotency = idempotency
        self.reject_faces = reject_faces
        self.poll_after_ms = (int(poll_after_ms) if poll_after_ms is not None
                              else int(min(2000, max(100, self.latency * 1000 / 8))))
        self.app = self._build_app()

    # -- public --------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters: ``creates`` (jobs paid for), ``remixes``, ``create_requests`` (every POST, replays and
        rejections included), ``idempotent_replays``, ``jobs_by_prompt``, ``requests`` per endpoint,
        ``faults`` fired per kind, ``signed`` clips."""
        data = self.store.stats()
        data["faults"] = self.faults.counts()
        return data

    def close(self) -> None:
        """Stop rendering and remove the emulator's temporary files."""
        self.store.close()

    # -- app -----------------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        def wrap(name: str, fn: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                return await self._handle(name, request, fn)
            return endpoint

        async def stats(request: Request) -> Response:
            return JSONResponse(self.stats())

        async def not_found(request: Request, exc: Exception) -> Response:
            status = exc.status_code if isinstance(exc, HTTPException) else 404
            return _ApiError(status, f"Invalid URL ({request.method} {request.url.path})").response()

        routes = [
            Route("/videos", wrap("create", self._create), methods=["POST"]),
            Route("/videos", wrap("list", self._list), methods=["GET"]),
            Route("/videos/{video_id}", wrap("retrieve", self._retrieve), methods=["GET"]),
            Route("/videos/{video_id}", wrap("delete", self._delete), methods=["DELETE"]),
            Route("/videos/{video_id}/content", wrap("content", self._content), methods=["GET"]),
            Route("/videos/{video_id}/remix", wrap("remix", self._remix), methods=["POST"]),
        ]
        return Starlette(routes=[Mount("/v1", routes=routes), Route("/_emulator/stats", stats)],
                         exception_handlers={HTTPException: not_found})

    async def _handle(self, name: str, request: Request, fn: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.monotonic()
        with self.store._lock:
            self.store.requests[name] += 1
        slow = self.faults.fire(("slow",), name)
        if slow is not None:
            await asyncio.sleep(slow.seconds)
        try:
            self._authenticate(request)
            status_fault = self.faults.fire(STATUS_KINDS, name)
            if status_fault is not None:
                raise self._status_fault(int(status_fault.kind), status_fault.seconds)
            response = await fn(request)
        except _ApiError as err:
            response = err.response()
        except Exception:  # a bug in the emulator: answer as the service would, and log it
            log.exception("emulator: %s %s failed", request.method, request.url.path)
            response = _ApiError(500, "The server had an error while processing your request.",
                                 type_="server_error").response()
        response.headers["x-request-id"] = "req_" + secrets.token_hex(16)
        response.headers["openai-processing-ms"] = str(int((time.monotonic() - started) * 1000))
        response.headers["openai-version"] = "2020-10-01"
        if 200 <= response.status_code < 300 and self.faults.fire(("drop",), name) is not None:
            return _CutShort(response, 0.5)
        if name == "content" and response.status_code == 200 and self.faults.fire(("truncate",), name):
            return _CutShort(response, 0.5)
        return response

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _ApiError(401, "You didn't provide an API key. You need to provide your API key in an "
                                 "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
        # never echo the key back, not even partly: a client may log this message
        if self.api_key is not None and not hmac.compare_digest(token.strip().encode(), self.api_key.encode()):
            raise _ApiError(401, "Incorrect API key provided. Check the key your client sends.",
                            code="invalid_api_key")

    @staticmethod
    def _status_fault(status: int, after: float) -> _ApiError:
        if status == 429:
            return _ApiError(429, "Rate limit reached for videos per minute. Please try again later.",
                             type_="requests", code="rate_limit_exceeded",
                             headers={"retry-after": str(max(0, int(-(-after // 1)))),
                                      "retry-after-ms": str(int(after * 1000))})
        headers = ({"retry-after": str(max(0, int(-(-after // 1)))), "retry-after-ms": str(int(after * 1000))}
                   if status == 503 else {})
        return _ApiError(status, "The server had an error while processing your request. Sorry about that!",
                         type_="server_error", headers=headers)

    def _job_response(self, job: Job, status_code: int = 200) -> JSONResponse:
        data = job.to_api()
        headers = {}
        if data["status"] in ("queued", "in_progress"):
            headers["openai-poll-after-ms"] = str(self.poll_after_ms)
        return JSONResponse(data, status_code=status_code, headers=headers)

    def _job(self, request: Request) -> Job:
        video_id = request.path_params["video_id"]
        job = self.store.get(video_id)
        if job is None:
            raise _ApiError(404, f"Video with id '{video_id}' not found.", param="video_id",
                            code="video_not_found")
        return job

    # -- endpoints -----------------------------------------------------------------------------------

    async def _create(self, request: Request) -> Response:
        with self.store._lock:
            self.store.counters["create_requests"] += 1
        fields, image, ref = await self._read_create_body(request)
        if image is None and ref:
            image = self._reference_from_object(ref)
        prompt = self._check_prompt(fields.get("prompt"), fields.get("model") or "sora-2")
        model = fields.get("model") or "sora-2"
        caps = self.models.get(model)
        if caps is None:
            raise _ApiError(400, f"Invalid value: '{model}'. Supported values are: "
                                 f"{_quoted_list(self.models.names())}.", param="model", code="invalid_value")
        seconds = fields.get("seconds") or "4"
        if seconds not in caps.seconds_strings:
            raise _ApiError(400, f"Invalid value: '{seconds}'. Supported values are: "
                                 f"{_quoted_list(caps.seconds_strings)}.", param="seconds", code="invalid_value")
        size = fields.get("size") or "720x1280"
        if size not in caps.sizes:
            raise _ApiError(400, f"Invalid value: '{size}'. Supported values for {model} are: "
                                 f"{_quoted_list(caps.sizes)}.", param="size", code="invalid_value")
        ext = "png"
        if image is not None:
            ext = await run_in_threadpool(self._check_image, image, size)
        replay = self._replay(request)
        if replay is not None:
            return self._job_response(replay)
        failure = self._moderation_fault("create")
        job = self.store.create(model=model, prompt=prompt, size=size, seconds=seconds, reference=image,
                                reference_ext=ext, planned_failure=failure,
                                idempotency_key=self._idempotency_key(request))
        return self._job_response(job)

    async def _remix(self, request: Request) -> Response:
        with self.store._lock:
            self.store.counters["remix_requests"] += 1
        source = self._job(request)
        body = await self._json_body(request)
        unknown = [k for k in body if k != "prompt"]
        if unknown:
            raise _ApiError(400, f"Unknown parameter: '{unknown[0]}'.", param=unknown[0], code="unknown_parameter")
        prompt = self._check_prompt(body.get("prompt"), source.model)
        status, _ = source.status()
        if status != "completed":
            raise _ApiError(400, f"Video '{source.id}' is {status}; only completed videos can be remixed.",
                            param="video_id", code="invalid_value")
        replay = self._replay(request)
        if replay is not None:
            return self._job_response(replay)
        failure = self._moderation_fault("remix")
        job = self.store.create(model=source.model, prompt=prompt, size=source.size, seconds=source.seconds,
                                reference=None, reference_ext="png", remixed_from=source,
                                planned_failure=failure, idempotency_key=self._idempotency_key(request))
        return self._job_response(job)

    async def _retrieve(self, request: Request) -> Response:
        return self._job_response(self._job(request))

    async def _list(self, request: Request) -> Response:
        q = request.query_params
        try:
            limit = int(q.get("limit", "20"))
        except ValueError:
            raise _ApiError(400, f"Invalid 'limit': expected an integer, got '{q.get('limit')}'.",
                            param="limit", code="invalid_type") from None
        if not 1 <= limit <= 100:
            raise _ApiError(400, f"Invalid 'limit': integer below minimum value or above maximum value. "
                                 f"Expected a value between 1 and 100, but got {limit} instead.",
                            param="limit", code="invalid_value")
        order = q.get("order", "desc")
        if order not in ("asc", "desc"):
            raise _ApiError(400, f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.",
                            param="order", code="invalid_value")
        jobs = self.store.listing()
        if order == "desc":
            jobs.reverse()
        start = 0
        after = q.get("after")
        if after:
            ids = [j.id for j in jobs]
            if after not in ids:
                raise _ApiError(400, f"Invalid 'after': no video with id '{after}'.", param="after",
                                code="invalid_value")
            start = ids.index(after) + 1
        page = jobs[start:start + limit]
        now = time.time()
        return JSONResponse({
            "object": "list",
            "data": [j.to_api(now) for j in page],
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
            "has_more": start + limit < len(jobs),
        })

    async def _delete(self, request: Request) -> Response:
        job = self._job(request)
        status, _ = job.status()
        if status not in ("completed", "failed"):
            raise _ApiError(400, f"Video '{job.id}' is {status}; only completed or failed videos can be deleted.",
                            param="video_id", code="invalid_value")
        self.store.delete(job.id)
        return JSONResponse({"id": job.id, "object": "video.deleted", "deleted": True})

    async def _content(self, request: Request) -> Response:
        job = self._job(request)
        variant = request.query_params.get("variant", "video")
        if variant not in ("video", "thumbnail", "spritesheet"):
            raise _ApiError(400, f"Invalid value: '{variant}'. Supported values are: 'video', 'thumbnail', "
                                 "and 'spritesheet'.", param="variant", code="invalid_value")
        status, _ = job.status()
        if status != "completed":
            raise _ApiError(400, f"Video '{job.id}' is {status}; its content is available once it is completed.",
                            param="video_id", code="video_not_ready")
        path, media_type = {
            "video": (job.video_path, "video/mp4"),
            "thumbnail": (job.thumbnail_path, "image/webp"),
            "spritesheet": (job.spritesheet_path, "image/jpeg"),
        }[variant]
        if path is None or not path.exists():
            raise _ApiError(404, f"Content for video '{job.id}' not found.", param="video_id",
                            code="video_not_found")
        data = await run_in_threadpool(path.read_bytes)
        return Response(content=data, media_type=media_type)

    # -- helpers -------------------------------------------------------------------------------------

    async def _json_body(self, request: Request) -> dict[str, Any]:
        ctype = request.headers.get("content-type", "")
        if "multipart/form-data" in ctype or "application/x-www-form-urlencoded" in ctype:
            form = await request.form()
            return {k: v for k, v in form.items() if isinstance(v, str)}
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise _ApiError(400, "We could not parse the JSON body of your request. (HINT: This likely means "
                                 "you aren't using your HTTP library correctly.)") from None
        if not isinstance(body, dict):
            raise _ApiError(400, "The request body must be a JSON object.")
        return body

    async def _read_create_body(self, request: Request) -> tuple[dict[str, str], bytes | None, dict[str, str]]:
        """``(fields, uploaded image bytes, input_reference object)`` from a multipart or JSON body."""
        ctype = request.headers.get("content-type", "")
        fields: dict[str, str] = {}
        ref: dict[str, str] = {}
        image: bytes | None = None
        if "multipart/form-data" in ctype or "application/x-www-form-urlencoded" in ctype:
            form = await request.form(max_files=2, max_fields=32)
            for key, value in form.multi_items():
                if key == "input_reference":
                    if isinstance(value, UploadFile):
                        image = await value.read(_MAX_UPLOAD + 1)
                        if len(image) > _MAX_UPLOAD:
                            raise _ApiError(413, "The reference image is too large (50 MB at most).",
                                            param="input_reference", code="file_too_large")
                    else:
                        try:
                            obj = json.loads(value)
                        except ValueError:
                            obj = None
                        if not isinstance(obj, dict):
                            raise _ApiError(400, "Invalid 'input_reference': expected an image file or an "
                                                 "object with 'file_id' or 'image_url'.",
                                            param="input_reference", code="invalid_type")
                        ref.update({str(k): str(v) for k, v in obj.items()})
                elif key.startswith("input_reference[") and key.endswith("]"):
                    ref[key[len("input_reference["):-1]] = str(value)
                elif key in _CREATE_FIELDS:
                    fields[key] = str(value)
                else:
                    raise _ApiError(400, f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter")
        else:
            body = await self._json_body(request)
            for key, value in body.items():
                if key not in _CREATE_FIELDS:
                    raise _ApiError(400, f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter")
                if key == "input_reference":
                    if not isinstance(value, dict):
                        raise _ApiError(400, "Invalid type for 'input_reference': expected an object with "
                                             "'file_id' or 'image_url'.", param="input_reference",
                                        code="invalid_type")
                    ref.update({str(k): str(v) for k, v in value.items()})
                    continue
                if value is None:
                    continue
                if not isinstance(value, str):
                    kind = "an integer" if isinstance(value, int) else type(value).__name__
                    raise _ApiError(400, f"Invalid type for '{key}': expected a string, but got {kind} instead.",
                                    param=key, code="invalid_type")
                fields[key] = value
        unknown_ref = [k for k in ref if k not in _REF_KEYS]
        if unknown_ref:
            raise _ApiError(400, f"Unknown parameter: 'input_reference.{unknown_ref[0]}'.",
                            param=f"input_reference.{unknown_ref[0]}", code="unknown_parameter")
        return fields, image, ref

    @staticmethod
    def _reference_from_object(ref: dict[str, str]) -> bytes:
        if "file_id" in ref:
            raise _ApiError(400, f"No such File object: {ref['file_id']} (the emulator has no Files API; "
                                 "upload the image as input_reference instead).",
                            param="input_reference.file_id", code="invalid_value")
        url = ref.get("image_url", "")
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            if ";base64" not in header:
                raise _ApiError(400, "Invalid 'input_reference.image_url': data URLs must be base64-encoded.",
                                param="input_reference.image_url", code="invalid_value")
            try:
                return base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                raise _ApiError(400, "Invalid 'input_reference.image_url': the base64 data is malformed.",
                                param="input_reference.image_url", code="invalid_value") from None
        raise _ApiError(400, "The emulator cannot fetch remote images; send a data: URL or upload the image.",
                        param="input_reference.image_url", code="invalid_value")

    def _check_prompt(self, prompt: Any, model: str) -> str:
        if prompt is None or (isinstance(prompt, str) and not prompt.strip()):
            raise _ApiError(400, "Missing required parameter: 'prompt'.", param="prompt",
                            code="missing_required_parameter")
        if not isinstance(prompt, str):
            raise _ApiError(400, "Invalid type for 'prompt': expected a string.", param="prompt",
                            code="invalid_type")
        caps = self.models.get(model)
        limit = caps.max_prompt_chars if caps else 32000
        if len(prompt) > limit:
            raise _ApiError(400, f"Invalid 'prompt': string too long. Expected a string with maximum length "
                                 f"{limit}, but got a string with length {len(prompt)} instead.",
                            param="prompt", code="string_above_max_length")
        return prompt

    def _check_image(self, data: bytes, size: str) -> str:
        """Validate an uploaded reference image; return its file extension."""
        import cv2
        import numpy as np

        from pipeline.backends.openai import detect_faces, image_format

        fmt = image_format(data)
        if fmt not in _IMAGE_TYPES:
            raise _ApiError(400, "Invalid file format. Supported formats are: 'image/jpeg', 'image/png', and "
                                 "'image/webp'.", param="input_reference", code="invalid_image_format")
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise _ApiError(400, "The reference image could not be decoded.", param="input_reference",
                            code="invalid_image")
        width, height = parse_size(size)
        if (img.shape[1], img.shape[0]) != (width, height):
            raise _ApiError(400, "Inpaint image must match the requested width and height",
                            param="input_reference", code="invalid_value")
        if self.reject_faces:
            faces = detect_faces(img)
            if faces:
                raise _ApiError(400, "Your request was blocked by our moderation system: input images that "
                                     "contain human faces are not accepted.", param="input_reference",
                                code="moderation_blocked")
        return _IMAGE_TYPES[fmt]

    def _idempotency_key(self, request: Request) -> str | None:
        return request.headers.get("idempotency-key") if self.idempotency else None

    def _replay(self, request: Request) -> Job | None:
        key = self._idempotency_key(request)
        if not key:
            return None
        job = self.store.by_idempotency_key(key)
        if job is not None:
            with self.store._lock:
                self.store.counters["idempotent_replays"] += 1
        return job

    def _moderation_fault(self, endpoint: str) -> tuple[str, str] | None:
        if self.faults.fire(("moderation",), endpoint) is None:
            return None
        return ("moderation_blocked", "Your request was blocked by our moderation system.")
