"""What each fal.ai image-to-video model takes and costs: the per-model mapping table of the ``fal`` backend.

fal serves every model behind one queue API, but each model names and constrains its inputs its own way:
Veo takes ``duration: "8s"``, Kling ``duration: "5"``, LTX-2 ``duration: 6``, Wan a frame count; some take an
``aspect_ratio`` and a ``resolution``, others follow the input image. :data:`DEFAULT_MODELS` holds what was
looked up for the models reelpipe knows; a recipe's ``backend.models`` block extends or overrides it::

    backend:
      name: fal
      model: fal-ai/kling-video/v2.1/pro/image-to-video
      models:
        fal-ai/kling-video/v2.1/pro/image-to-video:   # a new model: durations (or frames) and a price
          durations: [5, 10]
          duration_style: string                      # "5"
          aspect_field: null                          # the output follows the (fitted) image
          resolution_field: null
          resolutions: [1080p]
          usd_per_second: 0.098
        fal-ai/veo3.1/image-to-video:                 # a known model: only the keys given change
          usd_per_second: {720p: 0.20, 1080p: 0.20, 4k: 0.40}

Keys of an entry (all optional for a known model; ``durations`` or ``frames`` and ``usd_per_second`` are
needed for a new one):

=======================  ======================================================================================
``title``                a name for messages
``image_field``          the input field that takes the reference image (``image_url``)
``prompt_field``         the input field that takes the prompt (``prompt``)
``duration_field``       the field for the clip length (``duration``), or null
``duration_style``       how the length is written: ``suffix_s`` (``"8s"``), ``string`` (``"5"``), ``integer``
                         (``6``) or ``frames`` (a frame count in ``frames.field``, e.g. Wan's ``num_frames``)
``durations``            the allowed lengths in seconds (not for ``frames``)
``frames``               for ``frames``: ``{field, min, max, step, offset, fps, fps_field}`` — the count is
                         ``offset + step*k`` between ``min`` and ``max``, at ``fps`` frames a second
``fps``                  the frame rate of the model's output (informational: the edit stage resamples)
``aspect_field``         the field for the aspect ratio, or null when the output follows the image
``aspect_ratios``        the ratios it takes (``16:9``, ``9:16``, ...)
``resolution_field``     the field for the resolution, or null
``resolutions``          the resolutions it takes (``720p``, ``1080p``, ``4k``); with no field: the one it renders
``default_resolution``   the one used when the shot's size does not choose
``seed_field``           the field for the seed, or null
``negative_prompt_field``  the field for a negative prompt (``backend.negative_prompt``), or null
``audio_field``          the field that switches generated audio on (``generate_audio``), or null
``audio_default``        whether the model makes audio unless told otherwise
``usd_per_second``       USD per second of output: one number, or by resolution
``usd_per_second_audio`` the same with audio on (default: ``usd_per_second``)
``billing_fps``          for ``frames``: billed seconds are frames / this (Wan bills at 16 fps)
``image_upload``         ``data_uri`` (inline) or ``upload`` (fal's storage first, then the URL)
``max_prompt_chars``     the longest prompt taken, or null
``arguments``            fixed extra input fields sent with every request
``verified``             where these facts come from (shown by ``the README (Render backends: fal.ai and diffusers)``)
=======================  ======================================================================================

Prices are **estimates** from fal's published model pages (see each entry's ``verified``); fal bills what it
bills, so check your invoice and override ``usd_per_second`` where it differs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.errors import RecipeError

__all__ = [
    "DEFAULT_MODELS",
    "DURATION_STYLES",
    "FalModel",
    "FalModelTable",
    "FrameSpec",
    "aspect_value",
    "pixel_size",
    "resolution_height",
]

DURATION_STYLES: tuple[str, ...] = ("suffix_s", "string", "integer", "frames")

_VEO_SCHEMA: dict[str, Any] = {
    "duration_style": "suffix_s",
    "durations": [4, 6, 8],
    "fps": 24,
    "aspect_ratios": ["16:9", "9:16"],
    "resolutions": ["720p", "1080p", "4k"],
    "default_resolution": "720p",
    "seed_field": "seed",
    "negative_prompt_field": "negative_prompt",
    "audio_field": "generate_audio",
    "audio_default": True,
}
_KLING_SCHEMA: dict[str, Any] = {
    "duration_style": "string",
    "durations": [5, 10],
    "fps": 24,
    "aspect_field": None,
    "resolution_field": None,
    "seed_field": None,
    "negative_prompt_field": "negative_prompt",
}
_SEEDANCE_SCHEMA: dict[str, Any] = {
    "duration_style": "string",
    "durations": [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    "fps": 24,
    "aspect_ratios": ["21:9", "16:9", "4:3", "1:1", "3:4", "9:16"],
    "resolutions": ["480p", "720p", "1080p"],
    "seed_field": "seed",
    "negative_prompt_field": None,
}

DEFAULT_MODELS: dict[str, dict[str, Any]] = {
    "fal-ai/veo3.1/image-to-video": {
        **_VEO_SCHEMA,
        "title": "Veo 3.1 image-to-video",
        "usd_per_second": {"720p": 0.20, "1080p": 0.20, "4k": 0.40},
        "usd_per_second_audio": {"720p": 0.40, "1080p": 0.40, "4k": 0.60},
        "verified": "inputs: fal's API reference for fal-ai/veo3.1/image-to-video; prices: fal's Veo 3.1 "
                    "pages (text-to-video and reference-to-video quote the same figures; the image-to-video "
                    "price itself was not seen); 24 fps: fal's Veo 3.1 page",
    },
    "fal-ai/veo3.1/fast/image-to-video": {
        **_VEO_SCHEMA,
        "title": "Veo 3.1 Fast image-to-video",
        "usd_per_second": {"720p": 0.10, "1080p": 0.10, "4k": 0.30},
        "usd_per_second_audio": {"720p": 0.15, "1080p": 0.15, "4k": 0.35},
        "verified": "not verified directly: inputs assumed equal to fal-ai/veo3.1/image-to-video; prices from fal's "
                    "Veo 3.1 Fast first-last-frame page",
    },
    "fal-ai/kling-video/v2.5-turbo/pro/image-to-video": {
        **_KLING_SCHEMA,
        "title": "Kling 2.5 Turbo Pro image-to-video",
        "resolutions": ["1080p"],
        "usd_per_second": 0.07,
        "verified": "inputs and price ($0.35 per 5 s, $0.07 per extra second): fal's llms.txt for the model; "
                    "1080p output and 24 fps not verified",
    },
    "fal-ai/kling-video/v2.1/standard/image-to-video": {
        **_KLING_SCHEMA,
        "title": "Kling 2.1 Standard image-to-video",
        "resolutions": ["720p"],
        "usd_per_second": 0.056,
        "verified": "inputs and price ($0.28 per 5 s, $0.056 per extra second): fal's llms.txt for the model; "
                    "720p output and 24 fps not verified",
    },
    "fal-ai/bytedance/seedance/v1/pro/image-to-video": {
        **_SEEDANCE_SCHEMA,
        "title": "Seedance 1.0 Pro image-to-video",
        "default_resolution": "1080p",
        # fal bills $2.5 per million video tokens, tokens = width*height*fps*seconds/1024 (24 fps assumed)
        "usd_per_second": {"480p": 0.0243, "720p": 0.054, "1080p": 0.1215},
        "verified": "inputs and the token price: fal's llms.txt for the model (\"$0.62 per 5 s at 1080p\"); "
                    "per-second figures derived at 24 fps, and the 480p frame size (864x480) is assumed",
    },
    "fal-ai/wan/v2.2-a14b/image-to-video": {
        "title": "Wan 2.2 A14B image-to-video",
        "duration_style": "frames",
        "frames": {"field": "num_frames", "min": 17, "max": 161, "step": 4, "offset": 1, "fps": 16,
                   "fps_field": "frames_per_second"},
        "fps": 16,
        "aspect_ratios": ["16:9", "9:16", "1:1"],
        "resolutions": ["480p", "580p", "720p"],
        "default_resolution": "720p",
        "seed_field": "seed",
        "negative_prompt_field": None,
        "usd_per_second": {"480p": 0.04, "580p": 0.06, "720p": 0.08},
        "billing_fps": 16,
        "verified": "inputs (num_frames 17-161, frames_per_second, resolution, aspect_ratio, seed) and prices "
                    "(video seconds counted at 16 fps): fal's llms.txt for the model; the 4k+1 frame rule is "
                    "Wan's and assumed to hold here",
    },
    "fal-ai/ltx-2/image-to-video": {
        "title": "LTX-2 Pro image-to-video",
        "duration_style": "integer",
        "durations": [6, 8, 10],
        "fps": 25,
        "aspect_field": None,
        "resolutions": ["1080p", "1440p", "2160p"],
        "default_resolution": "1080p",
        "seed_field": None,
        "negative_prompt_field": None,
        "audio_field": "generate_audio",
        "audio_default": True,
        "usd_per_second": {"1080p": 0.06, "1440p": 0.12, "2160p": 0.24},
        "verified": "inputs (duration 6/8/10, resolution, fps 25/50, generate_audio) and prices: fal's llms.txt "
                    "for the model; whether duration is sent as a number or a string, and whether the output "
                    "follows the image's aspect ratio, were not verified",
    },
}
"""The models reelpipe knows on fal, with where each fact comes from (``verified``)."""

_KEYS: frozenset[str] = frozenset({
    "title", "image_field", "prompt_field", "duration_field", "duration_style", "durations", "frames", "fps",
    "aspect_field", "aspect_ratios", "resolution_field", "resolutions", "default_resolution", "seed_field",
    "negative_prompt_field", "audio_field", "audio_default", "usd_per_second", "usd_per_second_audio",
    "billing_fps", "image_upload", "max_prompt_chars", "arguments", "verified",
})
_RATIO = re.compile(r"^(\d{1,3}):(\d{1,3})$")
_RESOLUTION = re.compile(r"^(\d{3,4})p$")


def resolution_height(resolution: str) -> int:
    """The short side in pixels of a resolution name: ``720p`` -> 720, ``4k`` -> 2160.

    Raises:
        ValueError: not a resolution name.
    """
    name = str(resolution).strip().lower()
    if name in ("4k", "uhd"):
        return 2160
    if name == "2k":
        return 1440
    m = _RESOLUTION.match(name)
    if not m:
        raise ValueError(f"{resolution!r} is not a resolution like 720p or 4k")
    return int(m.group(1))


def aspect_value(ratio: str) -> float:
    """``"16:9"`` -> 1.777…

    Raises:
        ValueError: not a ratio like 16:9.
    """
    m = _RATIO.match(str(ratio).strip())
    if not m or int(m.group(2)) == 0 or int(m.group(1)) == 0:
        raise ValueError(f"{ratio!r} is not an aspect ratio like 16:9")
    return int(m.group(1)) / int(m.group(2))


def pixel_size(resolution: str, aspect: float) -> tuple[int, int]:
    """The frame size of ``resolution`` at ``aspect`` (width/height): the short side is the resolution's.

    Both sides are even, as video encoders need.
    """
    short = resolution_height(resolution)
    if aspect >= 1.0:
        return max(2, round(short * aspect / 2.0) * 2), short
    return short, max(2, round(short / aspect / 2.0) * 2)


@dataclass(frozen=True)
class FrameSpec:
    """A model whose clip length is a frame count (Wan): ``offset + step*k`` frames in ``[min, max]``."""

    field: str = "num_frames"
    min: int = 17
    max: int = 161
    step: int = 4
    offset: int = 1
    fps: float = 16.0
    fps_field: str | None = None

    def frames_for(self, seconds: float) -> int:
        """The smallest valid frame count that lasts at least ``seconds`` (may be outside ``[min, max]``)."""
        wanted = max(1, math.ceil(seconds * self.fps - 1e-6))
        k = max(0, math.ceil((wanted - self.offset) / self.step))
        return self.offset + self.step * k

    def seconds_range(self) -> tuple[float, float]:
        """The shortest and longest clip, in seconds."""
        return self.min / self.fps, self.max / self.fps


@dataclass(frozen=True)
class FalModel:
    """One fal model's input mapping, limits and price. See the module docstring for each field."""

    endpoint: str
    title: str
    usd_per_second: Mapping[str, float]
    usd_per_second_audio: Mapping[str, float]
    image_field: str = "image_url"
    prompt_field: str = "prompt"
    duration_field: str | None = "duration"
    duration_style: str = "string"
    durations: tuple[float, ...] = ()
    frames: FrameSpec | None = None
    fps: float = 24.0
    aspect_field: str | None = "aspect_ratio"
    aspect_ratios: tuple[str, ...] = ()
    resolution_field: str | None = "resolution"
    resolutions: tuple[str, ...] = ()
    default_resolution: str | None = None
    seed_field: str | None = None
    negative_prompt_field: str | None = None
    audio_field: str | None = None
    audio_default: bool = False
    billing_fps: float | None = None
    image_upload: str = "data_uri"
    max_prompt_chars: int | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict)
    verified: str = "not verified: from the recipe's backend.models"

    # -- lengths -------------------------------------------------------------------------------------

    def duration_value(self, seconds: float) -> Any:
        """The value of the duration field for a clip of ``seconds`` (the frame count for ``frames``)."""
        if self.duration_style == "frames":
            assert self.frames is not None
            return self.frames.frames_for(seconds)
        whole = int(seconds) if float(seconds).is_integer() else seconds
        if self.duration_style == "suffix_s":
            return f"{whole:g}s" if isinstance(whole, float) else f"{whole}s"
        if self.duration_style == "integer":
            return whole
        return f"{whole:g}" if isinstance(whole, float) else str(whole)

    def allows_seconds(self, seconds: float) -> bool:
        """Whether the model renders clips of ``seconds``."""
        if self.duration_style == "frames":
            assert self.frames is not None
            n = self.frames.frames_for(seconds)
            return self.frames.min <= n <= self.frames.max
        return any(abs(seconds - d) < 1e-6 for d in self.durations)

    def allowed_seconds_text(self) -> str:
        """The allowed lengths for messages: ``4, 6, 8`` or ``1.06 to 10.06``."""
        if self.duration_style == "frames":
            assert self.frames is not None
            lo, hi = self.frames.seconds_range()
            return f"{lo:.2f} to {hi:.2f} s"
        return ", ".join(f"{d:g}" for d in self.durations) + " s"

    def billed_seconds(self, seconds: float) -> float:
        """The seconds fal bills for a clip requested as ``seconds``."""
        if self.duration_style == "frames":
            assert self.frames is not None
            return self.frames.frames_for(seconds) / float(self.billing_fps or self.frames.fps)
        return float(seconds)

    def output_seconds(self, seconds: float) -> float:
        """How long the clip the model returns will be."""
        if self.duration_style == "frames":
            assert self.frames is not None
            return self.frames.frames_for(seconds) / self.frames.fps
        return float(seconds)

    # -- framing -------------------------------------------------------------------------------------

    def choose_resolution(self, width: int, height: int, forced: str | None = None) -> str | None:
        """The resolution for a shot of ``width`` x ``height``: ``forced`` if given, else the smallest listed
        one whose short side covers the shot's, else the largest (None when the model lists none)."""
        if forced:
            return forced
        if not self.resolutions:
            return None
        short = min(width, height)
        covering = [r for r in self.resolutions if resolution_height(r) >= short]
        if covering:
            return min(covering, key=resolution_height)
        return max(self.resolutions, key=resolution_height)

    def choose_aspect(self, width: int, height: int) -> str | None:
        """The listed aspect ratio nearest the shot's (None when the output follows the image)."""
        if self.aspect_field is None or not self.aspect_ratios:
            return None
        want = width / float(height)
        return min(self.aspect_ratios, key=lambda r: abs(math.log(aspect_value(r) / want)))

    # -- price ---------------------------------------------------------------------------------------

    def audio_on(self, arguments: Mapping[str, Any]) -> bool:
        """Whether a request with these extra ``arguments`` generates audio (it is priced differently)."""
        if self.audio_field is None:
            return False
        value = arguments.get(self.audio_field, self.arguments.get(self.audio_field, self.audio_default))
        return bool(value)

    def price_per_second(self, resolution: str | None, *, audio: bool) -> float:
        """USD per billed second at ``resolution``; the highest listed price when it is not listed."""
        table = self.usd_per_second_audio if audio else self.usd_per_second
        if resolution is not None and resolution in table:
            return float(table[resolution])
        if "*" in table:
            return float(table["*"])
        return max((float(v) for v in table.values()), default=0.0)

    def cost(self, seconds: float, resolution: str | None, *, audio: bool) -> float:
        """Estimated USD for one clip requested as ``seconds``."""
        return round(self.billed_seconds(seconds) * self.price_per_second(resolution, audio=audio), 4)


def _bad(model: str, message: str, hint: str | None = None) -> RecipeError:
    return RecipeError(f"backend.models.{model}: {message}",
                       hint=hint or "see the README (Render backends: fal.ai and diffusers), 'The fal model table'")


def _opt_str(name: str, raw: Mapping[str, Any], key: str, default: str | None) -> str | None:
    if key not in raw:
        return default
    value = raw[key]
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(name, f"{key} must be a field name or null")
    return value.strip()


def _prices(name: str, raw: Any, key: str, resolutions: tuple[str, ...]) -> dict[str, float]:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        if raw < 0:
            raise _bad(name, f"{key} must not be negative")
        return {"*": float(raw)}
    if isinstance(raw, Mapping) and raw:
        out: dict[str, float] = {}
        for res, price in raw.items():
            if isinstance(price, bool) or not isinstance(price, (int, float)) or price < 0:
                raise _bad(name, f"{key}.{res}: {price!r} is not a price in USD")
            out[str(res)] = float(price)
        return out
    raise _bad(name, f"{key} must be a number or a mapping of resolution to USD per second")


def _build(name: str, raw: Mapping[str, Any]) -> FalModel:
    unknown = set(raw) - _KEYS
    if unknown:
        import difflib

        first = min(map(str, unknown))
        close = difflib.get_close_matches(first, sorted(_KEYS), n=1)
        raise _bad(name, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}",
                   (f"did you mean {close[0]!r}? " if close else "") + "see the README (Render backends: fal.ai and diffusers), 'The fal model table'")
    style = str(raw.get("duration_style", "string"))
    if style not in DURATION_STYLES:
        raise _bad(name, f"duration_style {style!r} must be one of {', '.join(DURATION_STYLES)}")
    durations: tuple[float, ...] = ()
    frames: FrameSpec | None = None
    if style == "frames":
        spec = raw.get("frames")
        if not isinstance(spec, Mapping):
            raise _bad(name, "duration_style frames needs frames: {field, min, max, step, offset, fps}")
        try:
            frames = FrameSpec(field=str(spec.get("field", "num_frames")), min=int(spec.get("min", 1)),
                               max=int(spec.get("max", 1000)), step=int(spec.get("step", 1)),
                               offset=int(spec.get("offset", 0)), fps=float(spec.get("fps", 24)),
                               fps_field=(str(spec["fps_field"]) if spec.get("fps_field") else None))
        except (TypeError, ValueError):
            raise _bad(name, "frames: min, max, step, offset and fps must be numbers") from None
        if frames.step < 1 or frames.min < 1 or frames.max < frames.min or frames.fps <= 0:
            raise _bad(name, "frames: need 1 <= min <= max, step >= 1 and fps > 0")
    else:
        raw_d = raw.get("durations")
        if isinstance(raw_d, (int, float)) and not isinstance(raw_d, bool):
            raw_d = [raw_d]
        if not isinstance(raw_d, (list, tuple)) or not raw_d:
            raise _bad(name, "durations must be a non-empty list of seconds, like [5, 10]")
        try:
            durations = tuple(sorted({float(d) for d in raw_d}))
        except (TypeError, ValueError):
            raise _bad(name, f"durations: {raw_d!r} are not all numbers") from None
        if any(d <= 0 for d in durations):
            raise _bad(name, "durations must be positive")
    ratios = tuple(str(r) for r in raw.get("aspect_ratios") or ())
    for r in ratios:
        try:
            aspect_value(r)
        except ValueError as exc:
            raise _bad(name, f"aspect_ratios: {exc}") from None
    resolutions = tuple(str(r) for r in raw.get("resolutions") or ())
    for r in resolutions:
        try:
            resolution_height(r)
        except ValueError as exc:
            raise _bad(name, f"resolutions: {exc}") from None
    aspect_field = _opt_str(name, raw, "aspect_field", "aspect_ratio")
    if aspect_field is not None and not ratios:
        raise _bad(name, "aspect_ratios must list the ratios the model takes (or set aspect_field: null)")
    resolution_field = _opt_str(name, raw, "resolution_field", "resolution")
    if resolution_field is not None and not resolutions:
        raise _bad(name, "resolutions must list what the model takes (or set resolution_field: null)")
    default_res = raw.get("default_resolution")
    if default_res is not None and str(default_res) not in resolutions:
        raise _bad(name, f"default_resolution {default_res!r} is not one of the resolutions")
    if "usd_per_second" not in raw:
        raise _bad(name, "missing usd_per_second (a new model needs its price per second, an estimate will do)")
    prices = _prices(name, raw["usd_per_second"], "usd_per_second", resolutions)
    prices_audio = (_prices(name, raw["usd_per_second_audio"], "usd_per_second_audio", resolutions)
                    if raw.get("usd_per_second_audio") is not None else dict(prices))
    upload = str(raw.get("image_upload", "data_uri"))
    if upload not in ("data_uri", "upload"):
        raise _bad(name, f"image_upload {upload!r} must be data_uri or upload")
    max_chars = raw.get("max_prompt_chars")
    if max_chars is not None and (isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1):
        raise _bad(name, "max_prompt_chars must be a positive integer or null")
    arguments = raw.get("arguments") or {}
    if not isinstance(arguments, Mapping):
        raise _bad(name, "arguments must be a mapping of input field to value")
    try:
        fps = float(raw.get("fps", frames.fps if frames else 24))
        billing_fps = float(raw["billing_fps"]) if raw.get("billing_fps") is not None else None
    except (TypeError, ValueError):
        raise _bad(name, "fps and billing_fps must be numbers") from None
    return FalModel(
        endpoint=name, title=str(raw.get("title") or name), usd_per_second=prices,
        usd_per_second_audio=prices_audio,
        image_field=_opt_str(name, raw, "image_field", "image_url") or "image_url",
        prompt_field=_opt_str(name, raw, "prompt_field", "prompt") or "prompt",
        duration_field=_opt_str(name, raw, "duration_field", "duration"), duration_style=style,
        durations=durations, frames=frames, fps=fps, aspect_field=aspect_field, aspect_ratios=ratios,
        resolution_field=resolution_field, resolutions=resolutions,
        default_resolution=str(default_res) if default_res is not None else None,
        seed_field=_opt_str(name, raw, "seed_field", None),
        negative_prompt_field=_opt_str(name, raw, "negative_prompt_field", None),
        audio_field=_opt_str(name, raw, "audio_field", None), audio_default=bool(raw.get("audio_default", False)),
        billing_fps=billing_fps, image_upload=upload, max_prompt_chars=max_chars, arguments=dict(arguments),
        verified=str(raw.get("verified") or "not verified: from the recipe's backend.models"),
    )


class FalModelTable:
    """The fal models a backend (or the fal emulator) knows."""

    def __init__(self, models: Mapping[str, FalModel]) -> None:
        self._models = dict(models)

    @classmethod
    def from_config(cls, extensions: Mapping[str, Any] | None = None) -> FalModelTable:
        """The default table extended by a recipe's ``backend.models`` block.

        An entry for a known model replaces only the keys it gives (``verified`` then says it was changed);
        a new model needs ``durations`` (or ``frames``) and ``usd_per_second``.

        Raises:
            RecipeError: the block is malformed; the message names the model and the key.
        """
        merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in DEFAULT_MODELS.items()}
        if extensions is not None:
            if not isinstance(extensions, Mapping):
                raise RecipeError("backend.models must be a mapping of fal model id to its input mapping",
                                  hint="see the README (Render backends: fal.ai and diffusers), 'The fal model table'")
            for name, raw in extensions.items():
                if not isinstance(raw, Mapping):
                    raise _bad(str(name), "must be a mapping (durations, usd_per_second, ...)")
                base = merged.get(str(name), {})
                entry = {**base, **dict(raw)}
                if base and "verified" not in raw:
                    entry["verified"] = f"changed by the recipe ({', '.join(sorted(map(str, raw)))}); " \
                                        f"was: {base.get('verified', '')}"
                merged[str(name)] = entry
        return cls({name: _build(name, raw) for name, raw in merged.items()})

    def names(self) -> list[str]:
        """The model ids listed."""
        return sorted(self._models)

    def get(self, model: str) -> FalModel | None:
        """The entry for ``model``, or None."""
        return self._models.get(model)
