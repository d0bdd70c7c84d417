"""What each hosted video model accepts and costs: sizes, clip lengths, prompt length, price per second.

OpenAI closed its own Videos API endpoint on 2026-09-24, but gateways still serve the contract in front of
other models, so these facts are configuration, not constants. :data:`DEFAULT_MODELS` holds the published
values for ``sora-2`` and ``sora-2-pro``; a recipe's ``backend.models`` block extends or overrides them::

    backend:
      name: openai
      models:
        wan-2.2-gateway:                 # a new model: sizes, seconds and usd_per_second are required
          sizes: [1280x720, 720x1280]
          seconds: [5, 10]
          usd_per_second: 0.05           # one price for every size ...
        sora-2-pro:                      # an existing model: only the keys given replace the defaults
          usd_per_second: {1280x720: 0.30, 1920x1080: 0.70}   # ... or a price per size

Dated snapshots (``sora-2-2025-10-06``) resolve to their base model unless they are listed themselves.
The emulator validates requests against the same table, so both sides agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.errors import RecipeError

__all__ = [
    "DEFAULT_MODELS",
    "CapabilityTable",
    "ModelCapabilities",
    "base_model",
    "format_seconds",
    "parse_size",
]

DEFAULT_MODELS: dict[str, dict[str, Any]] = {
    "sora-2": {
        "sizes": ["720x1280", "1280x720"],
        "seconds": [4, 8, 12, 16, 20],  # "16" and "20" were added in 2026-03
        "usd_per_second": {"720x1280": 0.10, "1280x720": 0.10},
        "max_prompt_chars": 32000,
    },
    "sora-2-pro": {
        "sizes": ["720x1280", "1280x720", "1024x1792", "1792x1024", "1080x1920", "1920x1080"],
        "seconds": [4, 8, 12, 16, 20],
        # 720p $0.30/s and 1024x1792 $0.50/s are the published prices; the 1080p sizes (added 2026-03)
        # are priced at $0.70/s here — override them in backend.models if your gateway bills otherwise.
        "usd_per_second": {
            "720x1280": 0.30, "1280x720": 0.30,
            "1024x1792": 0.50, "1792x1024": 0.50,
            "1080x1920": 0.70, "1920x1080": 0.70,
        },
        "max_prompt_chars": 32000,
    },
}
"""The published capabilities of OpenAI's video models (see ARCHITECTURE.md, "OpenAI Videos API facts")."""

_SIZE_RE = re.compile(r"^(\d{2,5})x(\d{2,5})$")
_SNAPSHOT_RE = re.compile(r"-\d{4}-\d{2}-\d{2}$")
_MODEL_KEYS = {"sizes", "seconds", "usd_per_second", "max_prompt_chars"}


def base_model(model: str) -> str:
    """A model name without its dated-snapshot suffix: ``sora-2-2025-10-06`` -> ``sora-2``."""
    return _SNAPSHOT_RE.sub("", model)


def parse_size(size: str) -> tuple[int, int]:
    """Parse ``"1280x720"`` into ``(1280, 720)``; raise ValueError on anything else."""
    m = _SIZE_RE.match(str(size).strip())
    if not m:
        raise ValueError(f"{size!r} is not a size like 1280x720")
    return int(m.group(1)), int(m.group(2))


def format_seconds(seconds: float) -> str:
    """The API's string form of a clip length: ``8.0`` -> ``"8"``, ``2.5`` -> ``"2.5"``."""
    value = float(seconds)
    return str(int(value)) if value.is_integer() else f"{value:g}"


@dataclass(frozen=True)
class ModelCapabilities:
    """What one model accepts and what it costs.

    Attributes:
        name: the model name as sent in ``model``.
        sizes: allowed ``WxH`` sizes.
        seconds: allowed clip lengths (the API takes them as strings: ``"4"``).
        usd_per_second: price per second of output, by size.
        max_prompt_chars: the longest prompt accepted.
    """

    name: str
    sizes: tuple[str, ...]
    seconds: tuple[float, ...]
    usd_per_second: Mapping[str, float]
    max_prompt_chars: int = 32000

    @property
    def seconds_strings(self) -> tuple[str, ...]:
        """The allowed clip lengths in the API's string form."""
        return tuple(format_seconds(s) for s in self.seconds)

    def allows_size(self, size: str) -> bool:
        """Whether ``size`` (``WxH``) is accepted."""
        return size in self.sizes

    def allows_seconds(self, seconds: float | str) -> bool:
        """Whether a clip length (a number or its string form) is accepted."""
        try:
            return format_seconds(float(seconds)) in self.seconds_strings
        except (TypeError, ValueError):
            return False

    def price_per_second(self, size: str) -> float:
        """USD per second of output at ``size``; the highest listed price when the size is not listed."""
        if size in self.usd_per_second:
            return float(self.usd_per_second[size])
        return max(self.usd_per_second.values(), default=0.0)

    def cost(self, seconds: float, size: str) -> float:
        """Estimated USD for one clip of ``seconds`` at ``size``."""
        return round(float(seconds) * self.price_per_second(size), 4)


def _bad(model: str, message: str, hint: str | None = None) -> RecipeError:
    return RecipeError(f"backend.models.{model}: {message}",
                       hint=hint or "see docs/hosted.md, 'Models behind a gateway'")


def _build(name: str, raw: Mapping[str, Any]) -> ModelCapabilities:
    unknown = set(raw) - _MODEL_KEYS
    if unknown:
        raise _bad(name, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}",
                   f"a model entry takes: {', '.join(sorted(_MODEL_KEYS))}")
    for required in ("sizes", "seconds", "usd_per_second"):
        if required not in raw:
            raise _bad(name, f"missing {required!r} (a new model needs sizes, seconds and usd_per_second)")
    sizes_raw = raw["sizes"]
    if isinstance(sizes_raw, str) or not isinstance(sizes_raw, (list, tuple)) or not sizes_raw:
        raise _bad(name, "sizes must be a non-empty list like [1280x720, 720x1280]")
    sizes: list[str] = []
    for s in sizes_raw:
        try:
            w, h = parse_size(str(s))
        except ValueError as exc:
            raise _bad(name, str(exc)) from None
        sizes.append(f"{w}x{h}")
    seconds_raw = raw["seconds"]
    if isinstance(seconds_raw, (int, float)) and not isinstance(seconds_raw, bool):
        seconds_raw = [seconds_raw]
    if not isinstance(seconds_raw, (list, tuple)) or not seconds_raw:
        raise _bad(name, "seconds must be a non-empty list like [4, 8, 12]")
    seconds: list[float] = []
    for s in seconds_raw:
        try:
            value = float(s)
        except (TypeError, ValueError):
            raise _bad(name, f"seconds: {s!r} is not a number") from None
        if value <= 0:
            raise _bad(name, f"seconds: {s!r} must be positive")
        seconds.append(value)
    price_raw = raw["usd_per_second"]
    prices: dict[str, float] = {}
    if isinstance(price_raw, (int, float)) and not isinstance(price_raw, bool):
        prices = {s: float(price_raw) for s in sizes}
    elif isinstance(price_raw, Mapping):
        for k, v in price_raw.items():
            try:
                w, h = parse_size(str(k))
                prices[f"{w}x{h}"] = float(v)
            except (TypeError, ValueError):
                raise _bad(name, f"usd_per_second: {k!r}: {v!r} is not a size and a price") from None
    else:
        raise _bad(name, "usd_per_second must be a number or a mapping of size to price")
    if any(p < 0 for p in prices.values()):
        raise _bad(name, "usd_per_second must not be negative")
    max_chars = raw.get("max_prompt_chars", 32000)
    if not isinstance(max_chars, int) or isinstance(max_chars, bool) or max_chars < 1:
        raise _bad(name, "max_prompt_chars must be a positive integer")
    return ModelCapabilities(name=name, sizes=tuple(sizes), seconds=tuple(sorted(set(seconds))),
                             usd_per_second=prices, max_prompt_chars=max_chars)


class CapabilityTable:
    """The models a backend (or the emulator) knows, with their sizes, clip lengths and prices."""

    def __init__(self, models: Mapping[str, ModelCapabilities]) -> None:
        self._models = dict(models)

    @classmethod
    def from_config(cls, extensions: Mapping[str, Any] | None = None) -> CapabilityTable:
        """Build the default table extended by a recipe's ``backend.models`` block.

        An entry for a known model replaces only the keys it gives; a new model must give ``sizes``,
        ``seconds`` and ``usd_per_second``.

        Raises:
            RecipeError: the block is malformed; the message names the model and key.
        """
        merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in DEFAULT_MODELS.items()}
        if extensions is not None:
            if not isinstance(extensions, Mapping):
                raise RecipeError("backend.models must be a mapping of model name to capabilities",
                                  hint="see docs/hosted.md, 'Models behind a gateway'")
            for name, raw in extensions.items():
                if not isinstance(raw, Mapping):
                    raise _bad(str(name), "must be a mapping (sizes, seconds, usd_per_second)")
                # a known model keeps every key the extension does not replace (a new size with no
                # price of its own is billed at the model's highest listed price)
                merged[str(name)] = {**merged.get(str(name), {}), **dict(raw)}
        return cls({name: _build(name, raw) for name, raw in merged.items()})

    def names(self) -> list[str]:
        """The model names listed (snapshots of them are accepted too)."""
        return sorted(self._models)

    def get(self, model: str) -> ModelCapabilities | None:
        """The capabilities of ``model``, resolving dated snapshots to their base model; None if unknown."""
        if model in self._models:
            return self._models[model]
        return self._models.get(base_model(model))
