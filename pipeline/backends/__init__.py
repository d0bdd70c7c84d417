"""Render backends, registered by name.

``create_backend(config)`` builds the backend a recipe's ``backend:`` block names. Backends are imported
lazily so an offline run never imports an HTTP client, and the optional ``diffusers`` extra is only needed
when it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from pipeline.backends.base import Backend, RenderContext, RenderRequest, RenderResult
from pipeline.errors import UsageError

__all__ = ["BACKENDS", "Backend", "RenderContext", "RenderRequest", "RenderResult", "create_backend"]

BACKENDS: dict[str, str] = {
    "local": "pipeline.backends.local:LocalBackend",
    "openai": "pipeline.backends.openai:OpenAIBackend",
    "fal": "pipeline.backends.fal:FalBackend",
    "diffusers": "pipeline.backends.diffusers:DiffusersBackend",
}
"""name -> "module:Class". A backend class takes the recipe's backend block (a dict) in its constructor."""


def create_backend(config: dict[str, Any]) -> Backend:
    """Instantiate the backend named by ``config['name']`` with the whole block as its configuration."""
    name = str(config.get("name", "local"))
    target = BACKENDS.get(name)
    if target is None:
        raise UsageError(f"unknown backend {name!r}", hint=f"use one of: {', '.join(sorted(BACKENDS))}")
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"the {name!r} backend is not available: {exc}",
                         hint=f"install its extra: pip install 'reelpipe[{name}]'") from exc
    backend: Backend = getattr(module, cls_name)(config)
    return backend
