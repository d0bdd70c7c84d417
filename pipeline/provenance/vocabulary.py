"""The C2PA / IPTC words reelpipe writes and reads: digital source types, policy levels, verdict states.

No c2pa import here, so the recipe validator and the CLI can use these names cheaply.
"""

from __future__ import annotations

from pathlib import PurePath

__all__ = [
    "CLAIM_GENERATOR_NAME",
    "DIGITAL_SOURCE_TYPES",
    "IPTC_DIGITAL_SOURCE_TYPE_BASE",
    "POLICY_LEVELS",
    "STATES",
    "claim_generator",
    "digital_source_type_for_backend",
    "digital_source_type_name",
    "digital_source_type_uri",
    "media_type",
]

IPTC_DIGITAL_SOURCE_TYPE_BASE = "http://cv.iptc.org/newscodes/digitalsourcetype/"

_NAMES = (
    "digitalCapture",
    "computationalCapture",
    "negativeFilm",
    "positiveFilm",
    "print",
    "humanEdits",
    "compositeCapture",
    "algorithmicallyEnhanced",
    "digitalCreation",
    "dataDrivenMedia",
    "trainedAlgorithmicMedia",
    "algorithmicMedia",
    "screenCapture",
    "virtualRecording",
    "composite",
    "compositeSynthetic",
    "compositeWithTrainedAlgorithmicMedia",
)

DIGITAL_SOURCE_TYPES: dict[str, str] = {name: IPTC_DIGITAL_SOURCE_TYPE_BASE + name for name in _NAMES}
"""IPTC digital source type: short name -> URI (the value C2PA's ``digitalSourceType`` carries).

The ones reelpipe writes itself:

- ``algorithmicMedia`` — "created purely by an algorithm not based on any sampled training data". The
  ``local`` renderer (and the emulator, which is backed by it) moves a virtual camera over the reference
  image with hand-written geometry: no trained model is involved, so this is the honest term.
- ``trainedAlgorithmicMedia`` — "created by a model trained on sampled content": hosted image-to-video
  services (OpenAI-compatible gateways, fal) and the ``diffusers`` backend.
- ``compositeWithTrainedAlgorithmicMedia`` — the edited sequence when at least one clip is trained
  algorithmic media; ``compositeSynthetic`` when the synthetic clips are all procedural; ``composite``
  when no clip says what it is.
"""

POLICY_LEVELS: tuple[str, ...] = ("trusted", "valid", "present", "off")
"""What a recipe's ``provenance.require`` (and ``reelpipe audit --require``) may ask for, strictest first."""

STATES: tuple[str, ...] = ("trusted", "valid", "invalid", "missing")
"""Verdict states: signature fine and signer anchored in the trust list / signature fine but signer not
trusted / something does not validate / no manifest at all."""

CLAIM_GENERATOR_NAME = "reelpipe"


def claim_generator() -> tuple[str, str]:
    """``(name, version)`` of the claim generator written into every manifest: reelpipe and its version."""
    from pipeline import __version__

    return CLAIM_GENERATOR_NAME, __version__


def digital_source_type_uri(value: str) -> str:
    """Return the IPTC URI for a short name (``algorithmicMedia``) or a URI; reject anything else.

    Raises:
        ValueError: ``value`` is neither a known short name nor an IPTC digital source type URI.
    """
    if value in DIGITAL_SOURCE_TYPES:
        return DIGITAL_SOURCE_TYPES[value]
    if value.startswith(IPTC_DIGITAL_SOURCE_TYPE_BASE) and value[len(IPTC_DIGITAL_SOURCE_TYPE_BASE):] in _NAMES:
        return value
    raise ValueError(f"unknown IPTC digital source type {value!r}; use one of: {', '.join(_NAMES)}")


def digital_source_type_name(uri: str | None) -> str | None:
    """The short name of an IPTC digital source type URI (other URIs are returned unchanged)."""
    if uri is None:
        return None
    if uri.startswith(IPTC_DIGITAL_SOURCE_TYPE_BASE):
        return uri[len(IPTC_DIGITAL_SOURCE_TYPE_BASE):]
    return uri


_BACKEND_SOURCE_TYPES = {
    # procedural: geometry written by hand, no trained model (see DIGITAL_SOURCE_TYPES)
    "local": "algorithmicMedia",
    "emulator": "algorithmicMedia",
    # generative models trained on sampled content
    "openai": "trainedAlgorithmicMedia",
    "fal": "trainedAlgorithmicMedia",
    "diffusers": "trainedAlgorithmicMedia",
}


def digital_source_type_for_backend(backend: str) -> str:
    """The honest IPTC digital source type (short name) for clips made by ``backend``.

    Unknown backends are assumed to be hosted generative models (``trainedAlgorithmicMedia``): claiming
    less machine involvement than there was would be the dishonest error.
    """
    return _BACKEND_SOURCE_TYPES.get(backend, "trainedAlgorithmicMedia")


_MEDIA_TYPES = {
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
    ".gif": "image/gif", ".tif": "image/tiff", ".tiff": "image/tiff", ".avif": "image/avif",
    ".heic": "image/heic", ".heif": "image/heif",
    ".wav": "audio/wav", ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".flac": "audio/flac",
}


def media_type(path: str | PurePath) -> str | None:
    """The MIME type C2PA uses for ``path``, from its extension (None when C2PA cannot embed into it)."""
    return _MEDIA_TYPES.get(PurePath(path).suffix.lower())
