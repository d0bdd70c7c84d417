"""The job journal: a paid render is submitted once, even if the process is killed at any moment.

A hosted backend records what it is about to do *before* it does it, each step written atomically
(:mod:`pipeline.fsutil`), one small JSON file per render, keyed by the request's cache key::

    <work_dir>/jobs/<backend>/<cache_key>.json

    {
      "version": 1,
      "backend": "openai",
      "service": "http://127.0.0.1:8123/v1",     # the base URL the job lives on (never a key)
      "cache_key": "3f1c…",
      "shot_id": "a",
      "state": "submitted",                     # see below
      "job_id": "video_68d7…",                  # null until the service has answered
      "idempotency_key": "reelpipe-…",          # sent with every create attempt for this entry
      "attempts": 1,                            # create attempts started (counted before each is sent)
      "submitted_at": 1764060000.12,            # local clock, before the first create attempt
      "updated_at": 1764060003.40,
      "request": {"model": "sora-2", "size": "1280x720", "seconds": "8",
                  "prompt_sha256": "…", "remix_of_job": null},
      "error": null,                            # {"code", "message"} once a job failed
      "cost_usd": 0.8
    }

States, in order: ``submitting`` (written before the first create attempt; once ``attempts`` is above
zero a job whose id we never saw may exist — the backend looks for it, and sends the same idempotency key,
before creating again),
``submitted`` (the job id is known: resume by polling it), ``completed`` (the service finished; only the
download is left), ``downloaded`` (handed to the caller), or ``failed`` (the service refused the create
with a 4xx, or reported the job failed — neither is billed — so a re-run submits a new job). The API key never enters the journal.

The journal is generic: any hosted backend (OpenAI Videos, fal's queue) uses it with its own name.
Access from several threads is safe: each cache key has its own lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.fsutil import write_json_atomic

__all__ = ["JOURNAL_VERSION", "JobJournal", "JournalEntry", "JournalState"]

JOURNAL_VERSION = 1

JournalState = str
"""One of ``submitting``, ``submitted``, ``completed``, ``downloaded``, ``failed``."""

STATES: tuple[str, ...] = ("submitting", "submitted", "completed", "downloaded", "failed")

_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,120}$")


@dataclass
class JournalEntry:
    """One render's record. See the module docstring for the meaning of each field."""

    backend: str
    service: str
    cache_key: str
    shot_id: str
    state: JournalState = "submitting"
    job_id: str | None = None
    idempotency_key: str = field(default_factory=lambda: f"reelpipe-{uuid.uuid4()}")
    attempts: int = 0
    submitted_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    request: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    cost_usd: float = 0.0
    version: int = JOURNAL_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JournalEntry:
        """Rebuild an entry; unknown keys (from a newer reelpipe) are ignored."""
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


class JobJournal:
    """The journal of one backend under a run's work directory.

    Args:
        work_dir: the run's state folder (``ctx.work_dir``).
        backend: the backend's name; each backend has its own folder.
    """

    def __init__(self, work_dir: Path, backend: str) -> None:
        self.directory = Path(work_dir) / "jobs" / backend
        self.backend = backend
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()

    def path_for(self, cache_key: str) -> Path:
        """The file that holds ``cache_key``'s entry (an unsafe key is hashed into a safe name)."""
        name = cache_key if _SAFE_KEY.match(cache_key) else hashlib.sha256(cache_key.encode()).hexdigest()
        return self.directory / f"{name}.json"

    @contextlib.contextmanager
    def lock(self, cache_key: str) -> Iterator[None]:
        """Hold ``cache_key``'s lock (re-entrant) so two threads never work on one render at once."""
        with self._locks_guard:
            lk = self._locks.setdefault(cache_key, threading.RLock())
        with lk:
            yield

    def load(self, cache_key: str) -> JournalEntry | None:
        """The entry for ``cache_key``, or None. An unreadable file counts as absent (it is rewritten)."""
        path = self.path_for(cache_key)
        try:
            data = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("cache_key") != cache_key:
            return None
        try:
            return JournalEntry.from_dict(data)
        except TypeError:
            return None

    def save(self, entry: JournalEntry) -> None:
        """Write ``entry`` atomically (a crash leaves the previous version)."""
        if entry.state not in STATES:
            raise ValueError(f"unknown journal state {entry.state!r}")
        entry.updated_at = time.time()
        write_json_atomic(self.path_for(entry.cache_key), entry.to_dict())

    def update(self, entry: JournalEntry, **changes: Any) -> JournalEntry:
        """Apply ``changes`` to ``entry`` and save it; returns the same entry."""
        for key, value in changes.items():
            if not hasattr(entry, key):
                raise AttributeError(f"JournalEntry has no field {key!r}")
            setattr(entry, key, value)
        self.save(entry)
        return entry

    def entries(self) -> list[JournalEntry]:
        """Every readable entry, oldest submission first."""
        out: list[JournalEntry] = []
        if not self.directory.is_dir():
            return out
        for path in sorted(self.directory.glob("*.json")):
            if path.name.startswith("."):  # a write in progress (fsutil's temporary file)
                continue
            try:
                data = json.loads(path.read_text("utf-8"))
                out.append(JournalEntry.from_dict(data))
            except (OSError, ValueError, TypeError):
                continue
        out.sort(key=lambda e: e.submitted_at)
        return out

    def claimed_job_ids(self, *, except_key: str | None = None) -> set[str]:
        """Job ids that entries (other than ``except_key``'s) already own."""
        return {e.job_id for e in self.entries() if e.job_id and e.cache_key != except_key}

    def latest_for_shot(self, shot_id: str, service: str,
                        states: tuple[str, ...] = ("completed", "downloaded")) -> JournalEntry | None:
        """The most recent entry of ``shot_id`` on ``service`` in one of ``states`` (e.g. a remix source)."""
        found = [e for e in self.entries()
                 if e.shot_id == shot_id and e.service == service and e.state in states and e.job_id]
        return found[-1] if found else None
