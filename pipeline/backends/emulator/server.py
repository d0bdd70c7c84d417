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
import threading
from collections.abc import Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import httpx

from pipeline.backends.emulator.app import ConnectionDropped, Emulator
from pipeline.backends.emulator_common import ServedInThread, run_uvicorn, serve_app_in_thread

__all__ = ["InProcessTransport", "RunningEmulator", "run_server", "serve_in_thread"]


def run_server(emulator: Emulator, *, host: str = "127.0.0.1", port: int = 8123, log_level: str = "warning") -> None:
    """Serve ``emulator`` with uvicorn until interrupted (Ctrl-C)."""
    run_uvicorn(emulator.app, host=host, port=port, log_level=log_level, dropped=ConnectionDropped)


@dataclass
class RunningEmulator(ServedInThread):
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


@contextlib.contextmanager
def serve_in_thread(emulator: Emulator, *, host: str = "127.0.0.1", port: int = 0,
                    log_level: str = "warning") -> Iterator[RunningEmulator]:
    """Serve ``emulator`` on ``host:port`` in a daemon thread for the duration of the block.

    Port 0 binds a free port; the socket is bound before the thread starts, so the port is known at once.
    """
    with serve_app_in_thread(emulator.app, host=host, port=port, log_level=log_level, dropped=ConnectionDropped,
                             thread_name="emulator-uvicorn", what="the emulator") as (server, thread, bound_port):
        yield RunningEmulator(emulator, host, bound_port, server, thread)


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
