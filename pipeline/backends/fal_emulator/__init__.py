"""A local server of fal.ai's queue API, backed by the local renderer, with fault injection.

Run it with ``reelpipe fal-emulator`` (uvicorn on loopback) or in a test with :func:`serve_fal_in_thread`::

    from pipeline.backends.fal_emulator import FalEmulator, serve_fal_in_thread

    emu = FalEmulator(latency=1.0, faults="429:1,expire:1")
    with serve_fal_in_thread(emu) as running:
        ...  # point backend.base_url (and storage_url) at running.base_url
    print(emu.stats()["submits"])

See :mod:`.app` for the endpoints and validation and :mod:`.faults` for the ``--faults`` spec.
"""

from __future__ import annotations

from pipeline.backends.fal_emulator.app import (
    FAL_EMULATOR_GENERATOR,
    FalConnectionDropped,
    FalEmulator,
    FalJob,
)
from pipeline.backends.fal_emulator.faults import FAULT_KINDS, FalFaultPlan, FalFaultRule, parse_fal_faults
from pipeline.backends.fal_emulator.server import RunningFalEmulator, run_fal_server, serve_fal_in_thread

__all__ = [
    "FAL_EMULATOR_GENERATOR",
    "FAULT_KINDS",
    "FalConnectionDropped",
    "FalEmulator",
    "FalFaultPlan",
    "FalFaultRule",
    "FalJob",
    "RunningFalEmulator",
    "parse_fal_faults",
    "run_fal_server",
    "serve_fal_in_thread",
]
