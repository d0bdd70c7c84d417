"""Running the emulator: under uvicorn (blocking, or in a background thread), or in-process for httpx.

* :func:`run_server` — what ``reelpipe emulator`` calls: uvicorn in the foreground, until Ctrl-C.
* :func:`serve_in_thread` — uvicorn on a loopback port in a daemon thread (port 0 picks a free one); used
  by tests and benchmarks, so the real HTTP client talks to it over real sockets.
* :class:`InProcessTransport` — a *synchronous* ``httpx`` transport that hands each request to
  ``httpx.ASGITransport`` on a private event loop, so a plain ``httpx.Client`` (as the backend uses) can
  drive the emulator without sockets. A dropped connection reads as ``httpx.RemoteProtocolError`` and a
  slow response as ``httpx.ReadTimeout``, as over the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import httpx

from pipeline.backends.emulator.app import ConnectionDropped, Emulator

__all__ = ["InProcessTransport", "RunningEmulator", "run_server", "serve_in_thread"]


class _HideDeliberateDrops(logging.Filter):
    """Keep uvicorn from logging a traceback for each connection the emulator drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, ConnectionDropped):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


def _install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideDeliberateDrops) for f in logger.filters):
        logger.addFilter(_HideDeliberateDrops())


def _config(emulator: Emulator, host: str, port: int, log_level: str) -> object:
    import uvicorn

    return uvicorn.Config(emulator.app, host=host, port=port, log_level=log_level, lifespan="off",
                          access_log=log_level == "debug", timeout_keep_alive=5)


def run_server(emulator: Emulator, *, host: str = "127.0.0.1", port: int = 8123, log_level: str = "warning") -> None:
    """Serve ``emulator`` with uvicorn until interrupted (Ctrl-C)."""
    import uvicorn

    _install_log_filter()
    server = uvicorn.Server(_config(emulator, host, port, log_level))  # type: ignore[arg-type]
    server.run()


@dataclass
class RunningEmulator:
    """An emulator served in a background thread. ``base_url`` ends in ``/v1``."""

    emulator: Emulator
    host: str
    port: int
    _server: object
    _thread: threading.Thread

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``http://127.0.0.1:41234/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    def stop(self) -> None:
        """Stop serving and wait for the thread (the emulator itself stays usable for :meth:`stats`)."""
        self._server.should_exit = True  # type: ignore[attr-defined]
        self._thread.join(timeout=10)


@contextlib.contextmanager
def serve_in_thread(emulator: Emulator, *, host: str = "127.0.0.1", port: int = 0,
                    log_level: str = "warning") -> Iterator[RunningEmulator]:
    """Serve ``emulator`` on ``host:port`` in a daemon thread for the duration of the block.

    Port 0 binds a free port; the socket is bound before the thread starts, so the port is known at once.
    """
    import uvicorn

    _install_log_filter()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(_config(emulator, host, bound_port, log_level))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="emulator-uvicorn",
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the emulator's server did not start")
        time.sleep(0.01)
    running = RunningEmulator(emulator, host, bound_port, server, thread)
    try:
        yield running
    finally:
        running.stop()
        sock.close()


class InProcessTransport(httpx.BaseTransport):
    """A synchronous httpx transport that runs an ASGI app (the emulator) in-process.

    ``httpx.ASGITransport`` only works with ``httpx.AsyncClient``; this runs it on a private event loop in
    a daemon thread, so a plain ``httpx.Client`` can use it from any number of threads.
    """

    def __init__(self, app: object) -> None:
        self._asgi = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="emulator-asgi", daemon=True)
        self._thread.start()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self._asgi.handle_async_request(request)
        body = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=body)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request to the app and wait for its whole response."""
        body = request.read()
        inner = httpx.Request(request.method, request.url, headers=request.headers, content=body,
                              extensions=request.extensions)
        future = asyncio.run_coroutine_threadsafe(self._send(inner), self._loop)
        timeout = (request.extensions.get("timeout") or {}).get("read")
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            future.cancel()
            raise httpx.ReadTimeout("the emulator did not answer in time", request=request) from None
        except httpx.HTTPError:
            raise
        except Exception as exc:  # the app dropped the connection (or crashed) mid-response
            raise httpx.RemoteProtocolError(f"server disconnected: {exc}", request=request) from exc

    def close(self) -> None:
        """Stop the private event loop."""
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
