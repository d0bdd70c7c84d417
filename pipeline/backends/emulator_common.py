"""What the loopback emulators (:mod:`.emulator` for OpenAI Videos, :mod:`.fal_emulator` for fal's queue)
share: the seeded, thread-safe fault plan behind ``--faults``, and serving an ASGI app with uvicorn in the
foreground or in a daemon thread on a loopback port.

Each emulator keeps its own fault kinds, endpoints, spec options and error messages (they follow its
contract); only the machinery that does not depend on the contract lives here.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "FaultRuleLike",
    "SeededFaultPlan",
    "ServedInThread",
    "describe_rule",
    "run_uvicorn",
    "serve_app_in_thread",
]


# --------------------------------------------------------------------------------------------------
# fault plans
# --------------------------------------------------------------------------------------------------

class FaultRuleLike(Protocol):
    """What a fault plan needs of a rule: its kind, how often, where, and how often it has fired."""

    kind: str
    probability: float
    count: int | None
    endpoints: frozenset[str]
    fired: int

    def describe(self) -> str:
        """The rule in spec form."""
        ...


RuleT = TypeVar("RuleT", bound=FaultRuleLike)


def describe_rule(rule: FaultRuleLike, endpoints: tuple[str, ...], default_endpoints: frozenset[str]) -> str:
    """The start of a rule in spec form: ``KIND:AMOUNT``, then ``:on=…`` when it is not the kind's default.

    Args:
        rule: the rule.
        endpoints: the contract's endpoints, in the order ``on=`` lists them.
        default_endpoints: where a rule of this kind applies without ``on=``.
    """
    amount = str(rule.count) if rule.count is not None else f"{rule.probability:g}"
    text = f"{rule.kind}:{amount}"
    if rule.endpoints != default_endpoints:
        text += ":on=" + "+".join(e for e in endpoints if e in rule.endpoints)
    return text


@dataclass
class SeededFaultPlan(Generic[RuleT]):
    """The rules in force and a seeded random generator; decisions are thread-safe.

    A subclass names its contract's parser in :meth:`parse_rules`.
    """

    rules: list[RuleT] = field(default_factory=list)
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @staticmethod
    def parse_rules(spec: str | None) -> list[RuleT]:
        """Parse a ``--faults`` spec into rules (each contract has its own kinds and options)."""
        raise NotImplementedError

    @classmethod
    def parse(cls, spec: str | None, *, seed: int = 0) -> Self:
        """A plan from a ``--faults`` spec."""
        return cls(cls.parse_rules(spec), seed=seed)

    def fire(self, kinds: tuple[str, ...], endpoint: str) -> RuleT | None:
        """The first rule of ``kinds`` that fires for a request to ``endpoint``, counting it; else None."""
        with self._lock:
            for rule in self.rules:
                if rule.kind not in kinds or endpoint not in rule.endpoints:
                    continue
                if rule.count is not None:
                    hit = rule.fired < rule.count
                else:
                    hit = self._rng.random() < rule.probability
                if hit:
                    rule.fired += 1
                    return rule
        return None

    def describe(self) -> str:
        """The plan in spec form (``none`` when empty)."""
        return ",".join(r.describe() for r in self.rules) or "none"

    def counts(self) -> dict[str, int]:
        """How often each kind has fired."""
        with self._lock:
            out: dict[str, int] = {}
            for r in self.rules:
                out[r.kind] = out.get(r.kind, 0) + r.fired
            return out


# --------------------------------------------------------------------------------------------------
# serving
# --------------------------------------------------------------------------------------------------

class _HideDeliberateDrops(logging.Filter):
    """Keep uvicorn from logging a traceback for each connection an emulator drops on purpose."""

    def __init__(self, dropped: type[BaseException]) -> None:
        super().__init__()
        self.dropped = dropped

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, self.dropped):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


def _install_log_filter(dropped: type[BaseException]) -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideDeliberateDrops) and f.dropped is dropped for f in logger.filters):
        logger.addFilter(_HideDeliberateDrops(dropped))


def _server(app: Any, host: str, port: int, log_level: str) -> Any:
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="off",
                            access_log=log_level == "debug", timeout_keep_alive=5)
    return uvicorn.Server(config)


def run_uvicorn(app: Any, *, host: str, port: int, log_level: str, dropped: type[BaseException]) -> None:
    """Serve ``app`` with uvicorn until interrupted (Ctrl-C), without tracebacks for ``dropped`` connections."""
    _install_log_filter(dropped)
    _server(app, host, port, log_level).run()


class ServedInThread:
    """The ``stop`` of an emulator served in a background thread (a dataclass with ``_server`` and
    ``_thread`` fields mixes it in)."""

    _server: Any
    _thread: threading.Thread

    def stop(self) -> None:
        """Stop serving and wait for the thread (the emulator itself stays usable for its stats)."""
        self._server.should_exit = True
        self._thread.join(timeout=10)


@contextlib.contextmanager
def serve_app_in_thread(app: Any, *, host: str, port: int, log_level: str, dropped: type[BaseException],
                        thread_name: str, what: str) -> Iterator[tuple[Any, threading.Thread, int]]:
    """Serve ``app`` on ``host:port`` with uvicorn in a daemon thread for the duration of the block.

    Port 0 binds a free port; the socket is bound before the thread starts, so the port is known at once.
    The block gets ``(server, thread, bound port)``; on leaving it the server is stopped.

    Raises:
        RuntimeError: the server did not start within 15 s (``what`` names it in the message).
    """
    _install_log_filter(dropped)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    bound_port = sock.getsockname()[1]
    server = _server(app, host, bound_port, log_level)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=thread_name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"{what}'s server did not start")
        time.sleep(0.01)
    try:
        yield server, thread, bound_port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
