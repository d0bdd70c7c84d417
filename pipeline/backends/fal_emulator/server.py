"""Serving the fal emulator: uvicorn in the foreground (``reelpipe fal-emulator``) or in a daemon thread
on a loopback port (tests, demos), so the real HTTP client talks to it over real sockets."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipeline.backends.fal_emulator.app import FalConnectionDropped, FalEmulator

__all__ = ["RunningFalEmulator", "run_fal_server", "serve_fal_in_thread"]


class _HideDeliberateDrops(logging.Filter):
    """Keep uvicorn from logging a traceback for each connection the emulator drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, FalConnectionDropped):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


def _install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideDeliberateDrops) for f in logger.filters):
        logger.addFilter(_HideDeliberateDrops())


def _config(emulator: FalEmulator, host: str, port: int, log_level: str) -> Any:
    import uvicorn

    return uvicorn.Config(emulator.app, host=host, port=port, log_level=log_level, lifespan="off",
                          access_log=log_level == "debug", timeout_keep_alive=5)


def run_fal_server(emulator: FalEmulator, *, host: str = "127.0.0.1", port: int = 8124,
                   log_level: str = "warning") -> None:
    """Serve ``emulator`` with uvicorn until interrupted (Ctrl-C)."""
    import uvicorn

    _install_log_filter()
    uvicorn.Server(_config(emulator, host, port, log_level)).run()


@dataclass
class RunningFalEmulator:
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

    def stop(self) -> None:
        """Stop serving and wait for the thread (the emulator itself stays usable for stats)."""
        self._server.should_exit = True
        self._thread.join(timeout=10)


@contextlib.contextmanager
def serve_fal_in_thread(emulator: FalEmulator, *, host: str = "127.0.0.1", port: int = 0,
                        log_level: str = "warning") -> Iterator[RunningFalEmulator]:
    """Serve ``emulator`` on ``host:port`` in a daemon thread for the duration of the block (port 0: a free
    one, bound before the thread starts so it is known at once)."""
    import uvicorn

    _install_log_filter()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    bound = sock.getsockname()[1]
    server = uvicorn.Server(_config(emulator, host, bound, log_level))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="fal-emulator-uvicorn",
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the fal emulator's server did not start")
        time.sleep(0.01)
    running = RunningFalEmulator(emulator, host, bound, server, thread)
    try:
        yield running
    finally:
        running.stop()
        sock.close()
