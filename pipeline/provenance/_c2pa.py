"""The one place reelpipe imports ``c2pa`` (c2pa-python 0.38): contexts, readers, signers, builders, errors.

Everything else in :mod:`pipeline.provenance` goes through these helpers, so the settings that keep
verification offline and the translation of :class:`c2pa.C2paError` into
:class:`~pipeline.errors.ProvenanceError` live in one file.

Settings that hold everywhere:

- ``verify.remote_manifest_fetch`` and ``verify.ocsp_fetch`` are off and ``core.allowed_network_hosts`` is
  empty: reading never goes online.
- trust comes only from the PEM anchors reelpipe passes (``trust.user_anchors``); the SDK has no built-in
  anchors.
- large files are not held in memory whole while signing (``core.backing_store_memory_threshold_in_mb``).
- the builder writes exactly the actions reelpipe gives it (no automatic ``c2pa.created``/``opened``/
  ``placed``) and no thumbnails (they would bloat every clip's manifest for no reader we ship).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import c2pa

from pipeline.errors import ProvenanceError
from pipeline.provenance.vocabulary import claim_generator

__all__ = [
    "C2PA_ERROR_KINDS",
    "C2paError",
    "ManifestNotFound",
    "ReadOutcome",
    "RemoteManifest",
    "c2pa_error_kind",
    "error_text",
    "is_manifest_damage",
    "make_context",
    "open_builder",
    "open_signer",
    "read_store",
    "sdk_version",
    "translate_c2pa_error",
]

C2paError = c2pa.C2paError
ManifestNotFound: type[Exception] = c2pa.C2paError.ManifestNotFound
RemoteManifest: type[Exception] = c2pa.C2paError.RemoteManifest

# Every typed error c2pa-python 0.38 raises, by the name it carries as ``C2paError.<Name>``, with what it
# means for a reelpipe user and what they can do. tests/provenance/test_errors.py checks that no subclass
# is left out.
C2PA_ERROR_KINDS: dict[str, tuple[str, str]] = {
    "Assertion": ("an assertion in the manifest is malformed",
                  "the file's Content Credentials are damaged; get a fresh copy from its source"),
    "AssertionNotFound": ("the manifest refers to an assertion that is not there",
                          "the file's Content Credentials are damaged; get a fresh copy from its source"),
    "Decoding": ("the manifest could not be decoded",
                 "the file's Content Credentials are damaged; get a fresh copy from its source"),
    "Encoding": ("a manifest value could not be encoded",
                 "check the text given for titles and prompts (valid UTF-8, no NUL characters)"),
    "FileNotFound": ("a file was not found", "check the path"),
    "Io": ("the file could not be read or written (empty, truncated or not accessible)",
           "check that the file is complete and readable, and that the disk is not full"),
    "Json": ("manifest JSON was rejected", "this is a bug in reelpipe: please report it with --debug output"),
    "Manifest": ("the manifest is malformed",
                 "the file's Content Credentials are damaged; get a fresh copy from its source"),
    "ManifestNotFound": ("the file carries no C2PA manifest",
                         "sign it with reelpipe, or ask its producer for the original with Content Credentials"),
    "NotSupported": ("this file type is not supported for C2PA",
                     "use MP4/MOV video, JPEG/PNG/WebP images or WAV/MP3/M4A audio"),
    "Other": ("the C2PA library rejected the file", "check that the file is complete, supported media"),
    "RemoteManifest": ("the manifest is stored remotely and reelpipe never fetches over the network",
                       "ask the producer for a copy with the manifest embedded"),
    "ResourceNotFound": ("the manifest refers to a resource that is not there",
                         "the file's Content Credentials are damaged; get a fresh copy from its source"),
    "Signature": ("signing or checking a signature failed",
                  "check the signing certificate chain and key (reelpipe keys show)"),
    "Verify": ("the manifest failed verification",
               "the file's Content Credentials are damaged or do not match the file"),
    "UntrackedPointer": ("the C2PA library lost track of an object",
                         "this is a bug in reelpipe or c2pa-python: please report it with --debug output"),
    "WrongPointerType": ("the C2PA library was handed the wrong kind of object",
                         "this is a bug in reelpipe or c2pa-python: please report it with --debug output"),
}

_KIND_BY_CLASS: dict[type[BaseException], str] = {
    getattr(c2pa.C2paError, name): name for name in C2PA_ERROR_KINDS if hasattr(c2pa.C2paError, name)
}

# Kinds that, while *reading*, mean the manifest is there but broken (the verdict is ``invalid``), as opposed
# to the file not being readable media at all. Measured by flipping bytes inside a signed clip's manifest.
_MANIFEST_DAMAGE_KINDS = frozenset({
    "Assertion", "AssertionNotFound", "Decoding", "Json", "Manifest", "ResourceNotFound", "Signature", "Verify",
})


def c2pa_error_kind(exc: BaseException) -> str:
    """The name of ``exc``'s typed C2PA error (``Signature``, ``Io``, ...), or ``C2paError`` for the base."""
    for cls in type(exc).__mro__:
        if cls in _KIND_BY_CLASS:
            return _KIND_BY_CLASS[cls]
    return "C2paError"


def error_text(exc: BaseException) -> str:
    """``Kind: message`` for a C2PA error (the library's message usually starts with its kind already)."""
    kind = c2pa_error_kind(exc)
    text = str(exc).strip()
    if text.startswith(kind):
        return text
    return f"{kind}: {text}" if text else kind


def is_manifest_damage(exc: BaseException) -> bool:
    """True when a read error means "a manifest is there but does not parse or verify".

    ``Other`` is ambiguous in c2pa 0.38: it says both "asset could not be parsed" (not media, truncated)
    and "could not create valid JUMBF for claim" (damaged manifest); only the former wording means the
    file itself is unreadable.
    """
    kind = c2pa_error_kind(exc)
    if kind in _MANIFEST_DAMAGE_KINDS:
        return True
    if kind == "Other":
        text = str(exc).lower()
        return not ("asset could not be parsed" in text or "unsupported" in text or "not supported" in text)
    return False


def translate_c2pa_error(exc: BaseException, *, path: Path | str | None, doing: str) -> ProvenanceError:
    """Turn any :class:`c2pa.C2paError` into a :class:`ProvenanceError` naming the file and what to do.

    Args:
        exc: the C2PA error.
        path: the file concerned, if any.
        doing: what reelpipe was doing ("reading the manifest", "signing").
    """
    kind = c2pa_error_kind(exc)
    meaning, hint = C2PA_ERROR_KINDS.get(kind, ("the C2PA library failed", "run with --debug for details"))
    detail = error_text(exc)
    where = f"{path}: " if path is not None else ""
    message = f"{where}{doing} failed: {meaning}"
    if detail:
        message += f" ({detail})"
    return ProvenanceError(message, hint=hint)


def sdk_version() -> str:
    """The version of the native c2pa-rs library."""
    return str(c2pa.sdk_version())


def make_context(*, anchors_pem: str = "", verify: bool = True) -> Any:
    """A :class:`c2pa.Context` that never goes online and trusts exactly ``anchors_pem``.

    Args:
        anchors_pem: concatenated PEM certificates to trust (may be empty: nothing is trusted).
        verify: validate while reading (off only for quick metadata reads).
    """
    name, version = claim_generator()
    settings: dict[str, Any] = {
        "version": 1,
        # the builder holds the signed output in memory up to this size before spilling to a temporary
        # file (default 512 MB); measured on a 120 MB clip: 275 MB peak RSS at 512, 160 MB at 16
        "core": {"allowed_network_hosts": [], "backing_store_memory_threshold_in_mb": 64},
        "verify": {
            "remote_manifest_fetch": False,
            "ocsp_fetch": False,
            "verify_after_reading": verify,
            "verify_after_sign": True,
            "verify_trust": True,
        },
        "builder": {
            "claim_generator_info": {"name": name, "version": version},
            "thumbnail": {"enabled": False},
            "actions": {
                "auto_created_action": {"enabled": False},
                "auto_opened_action": {"enabled": False},
                "auto_placed_action": {"enabled": False},
            },
        },
    }
    if anchors_pem.strip():
        settings["trust"] = {"user_anchors": anchors_pem}
    try:
        return c2pa.Context.from_dict(settings)
    except c2pa.C2paError as exc:
        raise translate_c2pa_error(exc, path=None, doing="configuring C2PA") from exc


class ReadOutcome:
    """What a reader found: the manifest store (``Reader.json()``) and certificate details (``crjson``)."""

    def __init__(self, store: dict[str, Any], certificates: dict[str, dict[str, Any]]) -> None:
        self.store = store
        self.certificates = certificates  # manifest label -> crJSON signature.certificateInfo


def read_store(path: Path, context: Any) -> ReadOutcome:
    """Read and validate ``path``'s manifest store.

    Raises:
        c2pa.C2paError: untranslated, so the caller can tell "missing" and "damaged" from "not media".
    """
    with c2pa.Reader(str(path), context=context) as reader:
        store = json.loads(reader.json())
        certificates: dict[str, dict[str, Any]] = {}
        try:
            cr = json.loads(reader.crjson())
        except (c2pa.C2paError, ValueError):  # certificate details are a nicety; the store is what counts
            cr = {}
        for manifest in cr.get("manifests", []) if isinstance(cr, dict) else []:
            info = (manifest.get("signature") or {}).get("certificateInfo")
            if isinstance(info, dict) and manifest.get("label"):
                certificates[str(manifest["label"])] = info
    return ReadOutcome(store, certificates)


@contextlib.contextmanager
def open_signer(*, alg: str, chain_pem: bytes, key_pem: bytes) -> Iterator[Any]:
    """A :class:`c2pa.Signer` for a PEM chain and key, with no timestamp authority (never online)."""
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg, chain_pem, key_pem, None))
    except c2pa.C2paError as exc:
        raise translate_c2pa_error(exc, path=None, doing="loading the signing identity") from exc
    try:
        yield signer
    finally:
        signer.close()


def open_builder(manifest: dict[str, Any], context: Any) -> Any:
    """A :class:`c2pa.Builder` for a manifest definition (single use: it closes after signing)."""
    return c2pa.Builder(manifest, context=context)
