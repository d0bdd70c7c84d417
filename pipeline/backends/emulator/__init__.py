"""A faithful local server of the OpenAI Videos API, backed by the local renderer, with fault injection.

Run it with ``reelpipe emulator`` (uvicorn on loopback), in a test with :func:`serve_in_thread`, or
in-process with :class:`InProcessTransport`::

    from pipeline.backends.emulator import Emulator, serve_in_thread

    emu = Emulator(latency=1.0, faults="429:1,drop:1:on=create")
    with serve_in_thread(emu) as running:
        ...  # point backend.base_url at running.base_url
    print(emu.stats()["creates"])

See :mod:`.app` for the endpoints and validation, :mod:`.faults` for the ``--faults`` spec, and
:mod:`.jobs` for how jobs progress and how their clips are rendered and signed.
"""

from __future__ import annotations

from pipeline.backends.emulator.app import ConnectionDropped, Emulator
from pipeline.backends.emulator.faults import FAULT_KINDS, FaultPlan, FaultRule, parse_faults
from pipeline.backends.emulator.jobs import EMULATOR_GENERATOR, default_emulator_home
from pipeline.backends.emulator.server import InProcessTransport, RunningEmulator, run_server, serve_in_thread

__all__ = [
    "EMULATOR_GENERATOR",
    "FAULT_KINDS",
    "ConnectionDropped",
    "Emulator",
    "FaultPlan",
    "FaultRule",
    "InProcessTransport",
    "RunningEmulator",
    "default_emulator_home",
    "parse_faults",
    "run_server",
    "serve_in_thread",
]
