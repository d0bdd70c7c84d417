"""Serving the fal emulator: uvicorn in the foreground (``reelpipe fal-emulator``) or in a daemon thread
on a loopback port (tests, demos), so the real HTTP client talks to it over real sockets."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipeline.backends.emulator_common import ServedInThread, run_uvicorn, serve_app_in_thread
from pipeline.backends.fal_emulator.app import FalConnectionDropped, FalEmulator

__all__ = ["RunningFalEmulator", "run_fal_server", "serve_fal_in_thread"]


def run_fal_server(emulator: FalEmulator, *, host: str = "127.0.0.1", port: int = 8124,
                   log_level: str = "warning") -> None:
    """Serve ``emulator`` with uvicorn until interrupted (Ctrl-C)."""
    run_uvicorn(emulator.app, host=host, port=port, log_level=log_level, dropped=FalConnectionDropped)


@dataclass
class RunningFalEmulator(ServedInThread):
    """A fal emulator served in a background thread; ``base_url`` is its queue root (no trailing slash)."""

    emulator: FalEmulator
    host: str
    port: int
    _server: Any
    _thread: threading.Thread

    @property
    def base_url(self) -> str:
        """The queue root, e.g. ``http://127.0.0.1:41234`` (use it for base_url and storage_url)."""
        return f"http://{self.host}:{self.port}"


@contextlib.contextmanager
def serve_fal_in_thread(emulator: FalEmulator, *, host: str = "127.0.0.1", port: int = 0,
                        log_level: str = "warning") -> Iterator[RunningFalEmulator]:
    """Serve ``emulator`` on ``host:port`` in a daemon thread for the duration of the block (port 0: a free
    one, bound before the thread starts so it is known at once)."""
    with serve_app_in_thread(emulator.app, host=host, port=port, log_level=log_level,
                             dropped=FalConnectionDropped, thread_name="fal-emulator-uvicorn",
                             what="the fal emulator") as (server, thread, bound_port):
        yield RunningFalEmulator(emulator, host, bound_port, server, thread)
