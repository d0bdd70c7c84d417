"""Retrying HTTP calls to hosted render services, on top of httpx. Shared by every hosted backend.

One *attempt* is a function that makes one HTTP call and returns its result; :func:`call_with_retries`
runs it until it succeeds, a non-retryable error happens, or the attempts run out. What is retried:

=====================================  ==========  =====================================================
failure                                retried     may the server have acted on it? ("ambiguous")
=====================================  ==========  =====================================================
429 Too Many Requests                  yes         no — rate limiting happens before any work
408, 5xx                               yes         yes, for a request that was delivered
connect error / connect or pool        yes         no — nothing was sent
timeout
read/write timeout, dropped            yes         yes
connection, incomplete response
:class:`IncompleteDownload`            yes         no — a download has no side effect
anything else (4xx, bad URL)           no          —
=====================================  ==========  =====================================================

The delay before attempt *n* is ``base * 2**n`` capped at ``max_delay``, minus a random jitter of up to
25 % so that many clients do not retry in step; a ``retry-after-ms`` or ``Retry-After`` header (seconds or
an HTTP date) replaces it. A non-idempotent call (creating a paid job) passes ``recover``: after an
ambiguous failure it is asked, before the next attempt, whether the work was done after all (for example by
listing recent jobs), so a retry never pays twice.

Every failure that ends the retries becomes a :class:`~pipeline.errors.BackendError` that carries the shot
id, the status and the service's own message, with secrets redacted.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

from pipeline.errors import BackendError
from pipeline.secrets import redact

__all__ = [
    "IncompleteDownload",
    "RetryEvent",
    "RetryPolicy",
    "RetryableStatus",
    "call_with_retries",
    "describe_failure",
    "is_ambiguous",
    "is_retryable",
    "raise_for_retryable_status",
    "retry_after_seconds",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE_STATUSES: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
"""Statuses worth another attempt (any other 5xx is treated as retryable too)."""


class RetryableStatus(Exception):
    """An HTTP response whose status says "try again later" (429, 408, 5xx).

    Attributes:
        status: the HTTP status.
        message: the service's own explanation, already extracted from its error body.
        code: the service's error code, when it gave one.
        retry_after: seconds the service asked us to wait, if it said.
    """

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.code = code
        self.retry_after = retry_after


class IncompleteDownload(Exception):
    """A download ended early or produced a file that is not what was promised (retried)."""


@dataclass(frozen=True)
class RetryEvent:
    """What :func:`call_with_retries` tells its ``on_retry`` callback before it sleeps."""

    attempt: int  # the attempt that failed, from 1
    delay: float  # seconds until the next one
    reason: str  # a short description of the failure (no secrets)
    ambiguous: bool  # the server may have acted on the failed request


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry.

    Attributes:
        max_attempts: attempts in all, the first included.
        base_delay: seconds before the first retry (doubled for each further one).
        max_delay: the longest computed delay.
        jitter: the fraction (0..1) by which a computed delay is randomly shortened.
        max_retry_after: the longest server-requested wait honoured; a longer one ends the retries.
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.25
    max_retry_after: float = 120.0
    _rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, failed_attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``failed_attempts`` failures (from 1), honouring ``retry_after``."""
        if retry_after is not None and math.isfinite(retry_after) and retry_after >= 0:
            return float(retry_after)
        raw = min(self.max_delay, self.base_delay * (2.0 ** max(0, failed_attempts - 1)))
        return raw * (1.0 - self.jitter * self._rng.random())


def retry_after_seconds(headers: httpx.Headers | None) -> float | None:
    """The wait a response asks for: ``retry-after-ms``, else ``Retry-After`` in seconds or as an HTTP date."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - time.time())


def _default_describe(response: httpx.Response) -> tuple[str, str | None]:
    text = response.text.strip().replace("\n", " ")
    return (text[:300] or response.reason_phrase or f"HTTP {response.status_code}"), None


def raise_for_retryable_status(
    response: httpx.Response,
    describe: Callable[[httpx.Response], tuple[str, str | None]] | None = None,
    *,
    retryable: Callable[[httpx.Response], bool] | None = None,
) -> httpx.Response:
    """Raise :class:`RetryableStatus` if ``response`` says "try again later"; else return it.

    Args:
        response: a response whose body has been read (call ``read()`` first on a streamed one).
        describe: extracts ``(message, code)`` from the service's error body.
        retryable: overrides the status-based decision (e.g. a 429 meaning "out of quota" is final).
    """
    status = response.status_code
    is_retry_status = status in RETRYABLE_STATUSES or status >= 500
    if retryable is not None:
        is_retry_status = is_retry_status and retryable(response)
    if not is_retry_status:
        return response
    message, code = (describe or _default_describe)(response)
    raise RetryableStatus(status, message, code=code, retry_after=retry_after_seconds(response.headers))


_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAYBE_SENT = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError,
               httpx.RemoteProtocolError, httpx.NetworkError)


def is_retryable(exc: BaseException) -> bool:
    """Whether another attempt may succeed after ``exc``."""
    return isinstance(exc, (RetryableStatus, IncompleteDownload, *_NOT_SENT, *_MAYBE_SENT))


def is_ambiguous(exc: BaseException) -> bool:
    """Whether the server may have acted on a request that failed with ``exc`` (see the module table)."""
    if isinstance(exc, RetryableStatus):
        return exc.status != 429
    if isinstance(exc, (IncompleteDownload, *_NOT_SENT)):
        return False
    return isinstance(exc, _MAYBE_SENT)


def describe_failure(exc: BaseException) -> str:
    """A short, secret-free description of a failed attempt."""
    if isinstance(exc, RetryableStatus):
        return redact(f"HTTP {exc.status}: {exc.message}")
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the connection was dropped ({redact(str(exc)) or 'no detail'})"
    if isinstance(exc, httpx.HTTPError):
        return f"{type(exc).__name__}: {redact(str(exc)) or 'no detail'}"
    return redact(f"{type(exc).__name__}: {exc}")


def call_with_retries(
    attempt: Callable[[], T],
    *,
    policy: RetryPolicy,
    what: str,
    shot_id: str | None = None,
    recover: Callable[[], T | None] | None = None,
    on_retry: Callable[[RetryEvent], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``attempt`` until it succeeds, retrying transient failures with backoff and jitter.

    Args:
        attempt: makes one HTTP call; raises :class:`RetryableStatus`, :class:`IncompleteDownload` or an
            ``httpx`` exception on a transient failure, a :class:`BackendError` on a final one.
        policy: attempts and delays.
        what: what is being done, for messages ("creating the job for shot 'a'").
        shot_id: carried by every error raised.
        recover: for a call that must not be repeated blindly: after an ambiguous failure (the server may
            have acted) and the backoff sleep, it is called; a non-None result is returned as the call's.
        on_retry: told about each retry before the sleep (for logs and progress).
        sleep: the sleep function (tests pass a fake one).

    Returns:
        What ``attempt`` (or ``recover``) returned.

    Raises:
        BackendError: a non-retryable failure, or retries exhausted (then ``retryable=True``).
    """
    failures = 0
    while True:
        try:
            return attempt()
        except BackendError:
            raise
        except Exception as exc:  # classified below; anything not transient is re-raised as BackendError
            if not is_retryable(exc):
                if isinstance(exc, httpx.HTTPError):
                    raise BackendError(f"{what}: {describe_failure(exc)}", shot_id=shot_id,
                                       hint="check backend.base_url") from exc
                raise
            failures += 1
            reason = describe_failure(exc)
            status = exc.status if isinstance(exc, RetryableStatus) else None
            code = exc.code if isinstance(exc, RetryableStatus) else None
            server_wait = exc.retry_after if isinstance(exc, RetryableStatus) else None
            if server_wait is not None and server_wait > policy.max_retry_after:
                raise BackendError(
                    f"{what}: {reason}; the service asked to wait {server_wait:.0f} s",
                    shot_id=shot_id, status=status, code=code, retryable=True,
                    hint="try again later (re-running resumes jobs already submitted)",
                ) from exc
            if failures >= policy.max_attempts:
                raise BackendError(
                    f"{what}: gave up after {failures} attempts; last: {reason}",
                    shot_id=shot_id, status=status, code=code, retryable=True,
                    hint=("the service is rate limiting: lower backend.concurrency or try later"
                          if status == 429 else
                          "the service or the network is failing; re-run later (submitted jobs are resumed, "
                          "not paid for again)"),
                ) from exc
            delay = policy.delay(failures, server_wait)
            ambiguous = is_ambiguous(exc)
            event = RetryEvent(attempt=failures, delay=delay, reason=reason, ambiguous=ambiguous)
            log.debug("%s: attempt %d failed (%s); retrying in %.2f s", what, failures, reason, delay)
            if on_retry is not None:
                on_retry(event)
            sleep(delay)
            if ambiguous and recover is not None:
                recovered = recover()
                if recovered is not None:
                    log.info("%s: the failed attempt had succeeded on the service; using its result", what)
                    return recovered
