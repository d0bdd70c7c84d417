"""What the hosted render backends (:mod:`.openai`, :mod:`.fal`) share: reading the common ``backend:`` keys,
one authenticated HTTP client per key, the job journal per work folder, retries that log, answers that must
be JSON objects, and streaming the finished video to a temporary file beside its destination.

Each contract keeps its own submission, polling and error shapes (OpenAI's idempotency keys and job listing,
fal's queue, cancellation and refusal to resubmit blindly); only the logic that is the same for both lives
here. A backend subclasses :class:`HostedBackend`, sets its class attributes (how it names the service and
its key in messages, how it authenticates) and calls :meth:`HostedBackend._configure` from its constructor.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import httpx

from pipeline.backends.base import RenderContext, RenderRequest
from pipeline.backends.http import IncompleteDownload, RetryEvent, RetryPolicy, call_with_retries
from pipeline.backends.journal import JobJournal
from pipeline.errors import BackendError, MediaError, RecipeError
from pipeline.fsutil import atomic_output

__all__ = ["HostedBackend", "config_number", "download_video"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def config_number(config: Mapping[str, Any], key: str, default: float, *, minimum: float = 0.0) -> float:
    """``config[key]`` (or ``default``) as a float of at least ``minimum``.

    Raises:
        RecipeError: the value is not a number (a bool is not one) or is below ``minimum``.
    """
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise RecipeError(f"backend.{key}: {value!r} must be a number of at least {minimum:g}")
    return float(value)


def download_video(open_stream: Callable[[], AbstractContextManager[httpx.Response]], dest: Path, *,
                   refuse: Callable[[httpx.Response], NoReturn],
                   on_fraction: Callable[[float], None]) -> Any:
    """One download attempt: stream a video to a temporary file beside ``dest``, check it, rename it onto
    ``dest``.

    Args:
        open_stream: opens the streamed ``GET`` (``client.stream("GET", ...)``).
        dest: where the video ends up; it is untouched unless the whole attempt succeeds.
        refuse: called with an unsuccessful response (its body not yet read); it must raise.
        on_fraction: told the share downloaded (0..1) every 5 %, when the length is known.

    Returns:
        The :class:`~pipeline.media.probe.MediaInfo` of the downloaded file.

    Raises:
        IncompleteDownload: fewer bytes than promised, or a file that is not media with a video stream
            (retried by :func:`~pipeline.backends.http.call_with_retries`).
    """
    from pipeline.media.probe import probe

    with atomic_output(Path(dest)) as tmp:
        with open_stream() as r:
            if not r.is_success:
                refuse(r)
            expected = int(r.headers.get("content-length") or 0) or None
            written = 0
            last_report = 0.0
            with open(tmp, "wb") as fh:
                for chunk in r.iter_bytes(1 << 16):
                    fh.write(chunk)
                    written += len(chunk)
                    if expected and written / expected - last_report >= 0.05:
                        last_report = written / expected
                        on_fraction(min(1.0, last_report))
                fh.flush()
                os.fsync(fh.fileno())
        if expected is not None and written != expected:
            raise IncompleteDownload(f"received {written} of {expected} bytes")
        try:
            media = probe(tmp)
        except MediaError as exc:
            raise IncompleteDownload(f"the downloaded file is not readable media ({exc.message})") from exc
        if media.video is None:
            raise IncompleteDownload("the downloaded file has no video stream")
        return media


class HostedBackend:
    """The part of a hosted backend that does not depend on the service's contract.

    Class attributes a subclass sets:
        name: the backend's name (also the journal's folder).
        service_noun: how messages name the service ("the service", "fal").
        setting_noun: how a warning names the backend's settings ("an openai", "a fal").
        key_noun: what the key variable holds, in messages ("your key", "your fal key").
        key_warning: the end of the preflight warning about an unset key variable.
        base_url_hint: the hint for an answer that is not a JSON object.
        auth_scheme: the ``Authorization`` scheme (``Bearer``, ``Key``).
        follow_redirects: whether the keyed client follows redirects.
        user_agent: the ``User-Agent`` header.
    """

    name: str = ""
    service_noun: str = "the service"
    setting_noun: str = ""
    key_noun: str = "your key"
    key_warning: str = ""
    base_url_hint: str = ""
    auth_scheme: str = "Bearer"
    follow_redirects: bool = True
    user_agent: str = "reelpipe"

    config: dict[str, Any]
    base_url: str
    api_key_env: str
    concurrency: int
    fit: str
    timeout: httpx.Timeout
    retry_policy: RetryPolicy
    poll_interval: float
    poll_max_interval: float
    job_timeout: float

    # -- configuration -------------------------------------------------------------------------------

    def _configure(self, config: dict[str, Any] | None, *, secret_keys: Iterable[str], default_base_url: str,
                   base_url_hint: str, default_key_env: str) -> dict[str, Any]:
        """Keep the block, refuse a key written in it, and read ``base_url`` and ``api_key_env``.

        Returns:
            The block (``self.config``), for the contract's own keys.

        Raises:
            RecipeError: the block holds an API key, or one of those keys is malformed.
        """
        self.config = dict(config or {})
        cfg = self.config
        for secret_key in secret_keys:
            if secret_key in cfg:
                raise RecipeError(
                    f"backend.{secret_key}: an API key must not be written in a recipe",
                    hint="remove it, and put the key in an environment variable named by backend.api_key_env "
                         f"(default {default_key_env})")
        self.base_url = self._http_url(cfg, "base_url", default_base_url, base_url_hint)
        self.api_key_env = str(cfg.get("api_key_env") or default_key_env)
        if not _ENV_NAME.match(self.api_key_env):
            raise RecipeError(f"backend.api_key_env: {self.api_key_env!r} is not an environment variable name",
                              hint=f"name the variable that holds the key, e.g. {default_key_env} — not the key")
        return cfg

    @staticmethod
    def _concurrency(cfg: Mapping[str, Any]) -> int:
        """``backend.concurrency``: renders in flight at once, 1 to 64 (default 4)."""
        concurrency = cfg.get("concurrency", 4)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 64:
            raise RecipeError(f"backend.concurrency: {concurrency!r} must be an integer from 1 to 64")
        return concurrency

    @staticmethod
    def _fit(cfg: Mapping[str, Any]) -> str:
        """``backend.fit``: how a reference image is fitted to the frame, ``cover`` (default) or ``contain``."""
        fit = str(cfg.get("fit", "cover"))
        if fit not in ("cover", "contain"):
            raise RecipeError(f"backend.fit: {fit!r} must be 'cover' or 'contain'")
        return fit

    def _configure_service(self, cfg: Mapping[str, Any], *, default_job_timeout: float,
                           transport: httpx.BaseTransport | None, sleep: Callable[[float], None]) -> None:
        """Read the timeout, retry and polling keys, and set up the clients' and journals' shared state.

        Raises:
            RecipeError: one of those keys is malformed.
        """
        self.timeout = httpx.Timeout(config_number(cfg, "timeout", 60.0, minimum=0.01),
                                     connect=config_number(cfg, "connect_timeout", 10.0, minimum=0.01))
        self.retry_policy = RetryPolicy(
            max_attempts=int(config_number(cfg, "max_retries", 6, minimum=1)),
            base_delay=config_number(cfg, "retry_base_delay", 0.5),
            max_delay=config_number(cfg, "retry_max_delay", 30.0),
        )
        self.poll_interval = config_number(cfg, "poll_interval", 1.0, minimum=0.01)
        self.poll_max_interval = max(self.poll_interval, config_number(cfg, "poll_max_interval", 10.0))
        self.job_timeout = config_number(cfg, "job_timeout", default_job_timeout, minimum=0.1)
        self._transport = transport
        self._sleep = sleep
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._client_key: str | None = None
        self._journals: dict[Path, JobJournal] = {}
        self._warned_config = False
        self._warned_key = False

    @staticmethod
    def _http_url(cfg: Mapping[str, Any], key: str, default: str, hint: str) -> str:
        """``cfg[key]`` (or ``default``) without a trailing slash; it must be an http(s) URL."""
        url = str(cfg.get(key) or default).rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise RecipeError(f"backend.{key}: {url!r} is not an http(s) URL", hint=hint)
        return url

    def _setup_warnings(self, known_keys: frozenset[str]) -> list[str]:
        """Preflight's warnings about the block itself (once per backend) and an unset key variable (once)."""
        warnings: list[str] = []
        if not self._warned_config:
            self._warned_config = True
            for key in sorted(set(self.config) - known_keys):
                close = difflib.get_close_matches(key, sorted(known_keys), n=1)
                warnings.append(f"backend.{key} is not {self.setting_noun} backend setting and is ignored"
                                + (f" (did you mean {close[0]!r}?)" if close else ""))
        if not os.environ.get(self.api_key_env) and not self._warned_key:
            self._warned_key = True
            warnings.append(f"the environment variable {self.api_key_env} is not set: `reelpipe run` needs "
                            f"{self.key_warning} there")
        return warnings

    # -- HTTP ----------------------------------------------------------------------------------------

    def _http(self, shot: str) -> httpx.Client:
        """The client that carries the key (made anew when the key changes).

        Raises:
            BackendError: the key variable is not set.
        """
        from pipeline.secrets import read_secret_env

        key = read_secret_env(self.api_key_env)  # registers the key for redaction everywhere
        if not key:
            raise BackendError(f"shot {shot!r}: the environment variable {self.api_key_env} is not set",
                               shot_id=shot,
                               hint=f"export {self.api_key_env}=<{self.key_noun}> (keys never go in the recipe)")
        with self._lock:
            if self._client is None or self._client_key != key:
                if self._client is not None:
                    self._client.close()
                self._client = httpx.Client(
                    base_url=self.base_url + "/",
                    headers={"Authorization": f"{self.auth_scheme} {key}", "User-Agent": self.user_agent},
                    timeout=self.timeout,
                    transport=self._transport,
                    limits=httpx.Limits(max_connections=max(4, self.concurrency * 2)),
                    follow_redirects=self.follow_redirects,
                )
                self._client_key = key
            return self._client

    def _journal(self, work_dir: Path) -> JobJournal:
        """The job journal of ``work_dir`` (one object per folder, shared by the render threads)."""
        with self._lock:
            journal = self._journals.get(Path(work_dir))
            if journal is None:
                journal = self._journals[Path(work_dir)] = JobJournal(Path(work_dir), self.name)
            return journal

    def _retry_log(self, shot: str) -> Callable[[RetryEvent], None]:
        def on_retry(event: RetryEvent) -> None:
            log.warning("shot %r: %s; retry %d in %.2f s", shot, event.reason, event.attempt, event.delay)
        return on_retry

    def _retrying(self, attempt: Callable[[], T], *, what: str, shot: str,
                  recover: Callable[[], T | None] | None = None) -> T:
        """:func:`~pipeline.backends.http.call_with_retries` with this backend's policy, sleep and retry log."""
        return call_with_retries(attempt, policy=self.retry_policy, what=what, shot_id=shot, recover=recover,
                                 on_retry=self._retry_log(shot), sleep=self._sleep)

    def _json(self, response: httpx.Response, what: str, request: RenderRequest) -> dict[str, Any]:
        """The answer's JSON object.

        Raises:
            BackendError: (retryable) the answer is not a JSON object.
        """
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise BackendError(
                f"shot {request.shot_id!r}: {what}: {self.service_noun} answered with something that is not a "
                f"JSON object (HTTP {response.status_code})", shot_id=request.shot_id, retryable=True,
                hint=self.base_url_hint)
        return data

    def _stream_video(self, open_stream: Callable[[], AbstractContextManager[httpx.Response]], dest: Path,
                      request: RenderRequest, ctx: RenderContext, *, what: str,
                      refuse: Callable[[httpx.Response], NoReturn]) -> Any:
        """:func:`download_video`, retried, reporting progress; returns the file's media info."""
        shot = request.shot_id

        def attempt() -> Any:
            return download_video(open_stream, dest, refuse=refuse,
                                  on_fraction=lambda f: ctx.on_progress(shot, "downloading", f))

        return self._retrying(attempt, what=f"shot {shot!r}: {what}", shot=shot)

    @staticmethod
    def _fallback_key(request: RenderRequest) -> str:
        raw = f"{request.shot_id}|{request.prompt}|{request.image}|{request.seconds}|{request.width}x{request.height}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]
