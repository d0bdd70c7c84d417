"""Read a file's C2PA manifest store and give it a verdict, walking every ingredient.

A verdict is one of:

``trusted``
    the manifest validates and its signer chains to a trust anchor (the user's own root, ``trust/*.pem``,
    ``--trust`` files).
``valid``
    the manifest validates, but the signer is not in the trust list (code ``signingCredential.untrusted``).
``invalid``
    something does not validate: the content changed after signing (``assertion.bmffHash.mismatch``), the
    manifest was altered (``claimSignature.mismatch``), or it cannot even be parsed (``manifest.unreadable``,
    with the library's reason as the explanation).
``missing``
    the file carries no manifest (ffmpeg strips them), or only a remote one, which reelpipe never fetches
    (``manifest.remote``).

The top-level state is what the C2PA SDK reports for the active manifest. A composite made from a tampered
clip still reads ``trusted`` at the top: the damage shows only in the ingredient's own validation. So every
ingredient gets a state too, from its validation *as recorded* when the parent was signed and *as re-checked*
now (the SDK's ``ingredientDeltas``: differences found when re-validating the embedded ingredient manifest
with this run's trust list). Deeper ingredients carry what was recorded. :func:`policy_failures` fails a file
for an invalid ingredient anywhere in the tree.

Verification never goes online (see :mod:`pipeline.provenance._c2pa`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import MediaError, ProvenanceError, UsageError
from pipeline.provenance import _c2pa
from pipeline.provenance.identity import Identity, TrustAnchor, load_trust_anchors
from pipeline.provenance.vocabulary import POLICY_LEVELS, digital_source_type_name, media_type

__all__ = [
    "Check",
    "IngredientVerdict",
    "Verdict",
    "enforce_policy",
    "meets_policy",
    "policy_failures",
    "verify",
    "verify_with_anchors",
]

NON_FATAL_CODES = frozenset({"signingCredential.untrusted"})
"""Failure codes that leave a manifest ``valid`` (it validates; only trust is missing)."""

_MAX_DEPTH = 32
_DELTA_URI = re.compile(r"/c2pa/([^/]+)/c2pa\.assertions/([^/]+)$")
_SUCCESS_SUFFIXES = (".validated", ".trusted", ".match", ".insideValidity", ".matched")


@dataclass(frozen=True)
class Check:
    """One validation of one manifest: its state and failure codes."""

    state: str
    codes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "codes": list(self.codes)}


@dataclass
class _Described:
    title: str | None = None
    format: str | None = None
    signer: str | None = None
    issuer: str | None = None
    generator: str | None = None
    digital_source_type: str | None = None
    signing_time: str | None = None
    signing_time_source: str | None = None
    actions: list[str] = field(default_factory=list)


@dataclass
class IngredientVerdict:
    """One ingredient of a manifest, with its own validation and its own ingredients.

    Attributes:
        title, relationship, format: as the ingredient assertion records them.
        state: ``trusted`` | ``valid`` | ``invalid`` | ``missing`` (no manifest of its own): the re-checked
            state where the SDK re-checked it, else the recorded one.
        codes: the failure codes behind ``state``.
        recorded: validation recorded when the parent was signed (None without a manifest).
        rechecked: validation re-checked now (None where the SDK does not re-check: deeper levels).
        manifest: the label of its manifest in the store.
        signer ... actions: from its own manifest, as for :class:`Verdict`.
        ingredients: its own ingredients.
    """

    title: str
    relationship: str
    format: str | None
    state: str
    codes: list[str]
    recorded: Check | None
    rechecked: Check | None
    manifest: str | None
    signer: str | None = None
    issuer: str | None = None
    generator: str | None = None
    digital_source_type: str | None = None
    signing_time: str | None = None
    actions: list[str] = field(default_factory=list)
    ingredients: list[IngredientVerdict] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape (see :mod:`pipeline.provenance.audit`)."""
        return {
            "title": self.title,
            "relationship": self.relationship,
            "format": self.format,
            "state": self.state,
            "codes": list(self.codes),
            "recorded": self.recorded.to_dict() if self.recorded else None,
            "rechecked": self.rechecked.to_dict() if self.rechecked else None,
            "manifest": self.manifest,
            "signer": self.signer,
            "issuer": self.issuer,
            "generator": self.generator,
            "digital_source_type": self.digital_source_type,
            "signing_time": self.signing_time,
            "actions": list(self.actions),
            "ingredients": [i.to_dict() for i in self.ingredients],
        }


@dataclass
class Verdict:
    """The provenance verdict for one file.

    Attributes:
        path: the file.
        state: ``trusted`` | ``valid`` | ``invalid`` | ``missing``.
        codes: failure codes of the active manifest (e.g. ``signingCredential.untrusted``,
            ``assertion.bmffHash.mismatch``); empty when trusted or missing.
        signer, issuer: the signing certificate's subject and issuer (``CN=..., O=...``).
        generator: the claim generator (``reelpipe/0.1.0``).
        digital_source_type: the IPTC URI of the ``c2pa.created`` action, if any.
        signing_time: ISO time: from a trusted timestamp when the signer used one, else the time the claim's
            first action states (``signing_time_source`` says which: ``timestamp`` | ``claimed``).
        actions: the action names in order (``c2pa.created``, ``c2pa.placed``, ...).
        ingredients: the ingredient tree.
        title, format, manifest: of the active manifest.
        failures: ``{code, explanation}`` for each failure code.
    """

    path: str
    state: str
    codes: list[str] = field(default_factory=list)
    signer: str | None = None
    issuer: str | None = None
    generator: str | None = None
    digital_source_type: str | None = None
    signing_time: str | None = None
    actions: list[str] = field(default_factory=list)
    ingredients: list[IngredientVerdict] = field(default_factory=list)
    title: str | None = None
    format: str | None = None
    manifest: str | None = None
    signing_time_source: str | None = None
    failures: list[dict[str, str]] = field(default_factory=list)

    @property
    def digital_source_type_name(self) -> str | None:
        """The short IPTC name (``algorithmicMedia``) of :attr:`digital_source_type`."""
        return digital_source_type_name(self.digital_source_type)

    def walk(self) -> Iterator[tuple[list[str], IngredientVerdict]]:
        """Every ingredient, depth first, with the titles leading to it (its own title last)."""

        def _walk(items: list[IngredientVerdict], trail: list[str]) -> Iterator[tuple[list[str], IngredientVerdict]]:
            for item in items:
                here = [*trail, item.title]
                yield here, item
                yield from _walk(item.ingredients, here)

        yield from _walk(self.ingredients, [])

    def invalid_ingredients(self) -> list[tuple[list[str], IngredientVerdict]]:
        """The ingredients anywhere in the tree whose state is ``invalid``."""
        return [(trail, item) for trail, item in self.walk() if item.state == "invalid"]

    def describe(self) -> str:
        """``invalid (assertion.bmffHash.mismatch)``: the state with its codes, for messages."""
        return self.state + (f" ({', '.join(self.codes)})" if self.codes else "")

    def summary(self) -> dict[str, Any]:
        """The fields a run report carries per clip: verdict, signer, generator, digitalSourceType."""
        return {
            "state": self.state,
            "codes": list(self.codes),
            "signer": self.signer,
            "generator": self.generator,
            "digital_source_type": self.digital_source_type,
        }

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape (see :mod:`pipeline.provenance.audit`)."""
        return {
            "state": self.state,
            "codes": list(self.codes),
            "failures": [dict(f) for f in self.failures],
            "signer": self.signer,
            "issuer": self.issuer,
            "generator": self.generator,
            "signing_time": self.signing_time,
            "signing_time_source": self.signing_time_source,
            "digital_source_type": self.digital_source_type,
            "title": self.title,
            "format": self.format,
            "manifest": self.manifest,
            "actions": list(self.actions),
            "ingredients": [i.to_dict() for i in self.ingredients],
        }


# --- reading the store -----------------------------------------------------------------------------------


def _dn(info: dict[str, Any] | None) -> str | None:
    if not isinstance(info, dict) or not info:
        return None
    items = [(str(k), str(v)) for k, v in info.items()]
    items.sort(key=lambda kv: kv[0] != "CN")  # most specific first, like the identity module
    return ", ".join(f"{k}={v}" for k, v in items)


def _generator(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, dict):
        info = [info]
    if isinstance(info, list) and info and isinstance(info[0], dict) and info[0].get("name"):
        first = info[0]
        return f"{first['name']}/{first['version']}" if first.get("version") else str(first["name"])
    text = manifest.get("claim_generator")
    return str(text) if text else None


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for assertion in manifest.get("assertions") or []:
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            data = assertion.get("data") or {}
            found.extend(a for a in data.get("actions") or [] if isinstance(a, dict))
    return found


def _describe(manifest: dict[str, Any], certificate: dict[str, Any] | None) -> _Described:
    sig = manifest.get("signature_info") or {}
    signer = _dn(certificate.get("subject")) if certificate else None
    issuer = _dn(certificate.get("issuer")) if certificate else None
    if signer is None and sig.get("common_name"):
        signer = f"CN={sig['common_name']}"
    if issuer is None and sig.get("issuer"):
        issuer = f"O={sig['issuer']}"
    actions = _actions(manifest)
    dst = next((a.get("digitalSourceType") for a in actions if a.get("action") == "c2pa.created"
                and a.get("digitalSourceType")), None)
    dst = dst or next((a.get("digitalSourceType") for a in actions if a.get("digitalSourceType")), None)
    time, source = (str(sig["time"]), "timestamp") if sig.get("time") else (None, None)
    if time is None:
        when = next((a.get("when") for a in actions if a.get("when")), None)
        time, source = (str(when), "claimed") if when else (None, None)
    return _Described(
        title=manifest.get("title"), format=manifest.get("format"), signer=signer, issuer=issuer,
        generator=_generator(manifest), digital_source_type=str(dst) if dst else None,
        signing_time=time, signing_time_source=source,
        actions=[str(a.get("action")) for a in actions if a.get("action")],
    )


def _codes(entries: Any) -> list[str]:
    out: list[str] = []
    for entry in entries or []:
        code = entry.get("code") if isinstance(entry, dict) else None
        if code and code not in out:
            out.append(str(code))
    return out


def _state_from(failures: list[str], successes: list[str]) -> str:
    if any(code not in NON_FATAL_CODES for code in failures):
        return "invalid"
    if "signingCredential.trusted" in successes and "signingCredential.untrusted" not in failures:
        return "trusted"
    return "valid"


def _family(code: str) -> str:
    return code.rsplit(".", 1)[0]


def _recorded(ingredient: dict[str, Any]) -> tuple[list[str], list[str]] | None:
    """(failures, successes) recorded in an ingredient assertion, or None when it records nothing."""
    results = ingredient.get("validation_results")
    if isinstance(results, dict):
        active = results.get("activeManifest") or {}
        return _codes(active.get("failure")), _codes(active.get("success"))
    legacy = ingredient.get("validation_status")
    if isinstance(legacy, list):  # C2PA 1.x ingredients list status codes without sorting them
        codes = _codes(legacy)
        return ([c for c in codes if not c.endswith(_SUCCESS_SUFFIXES)],
                [c for c in codes if c.endswith(_SUCCESS_SUFFIXES)])
    return None


def _apply_delta(failures: list[str], successes: list[str], delta: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Re-checked codes: the recorded ones changed by the SDK's validation deltas.

    A delta success supersedes a recorded failure of the same family (``signingCredential.trusted`` replaces
    ``signingCredential.untrusted``); a delta failure is added.
    """
    fail, ok = list(failures), list(successes)
    for code in _codes(delta.get("success")):
        fail = [c for c in fail if _family(c) != _family(code)]
        if code not in ok:
            ok.append(code)
    for code in _codes(delta.get("failure")):
        ok = [c for c in ok if _family(c) != _family(code)]
        if code not in fail:
            fail.append(code)
    return fail, ok


def _deltas(store: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    results = store.get("validation_results") or {}
    for item in results.get("ingredientDeltas") or []:
        m = _DELTA_URI.search(str(item.get("ingredientAssertionURI", "")))
        if m:
            out[(m.group(1), m.group(2))] = item.get("validationDeltas") or {}
    return out


def _ingredient_tree(store: dict[str, Any], certificates: dict[str, dict[str, Any]], label: str,
                     deltas: dict[tuple[str, str], dict[str, Any]], trail: tuple[str, ...]
                     ) -> list[IngredientVerdict]:
    manifests = store.get("manifests") or {}
    manifest = manifests.get(label) or {}
    out: list[IngredientVerdict] = []
    for ing in manifest.get("ingredients") or []:
        if not isinstance(ing, dict):
            continue
        child = ing.get("active_manifest")
        child = str(child) if child else None
        recorded_codes = _recorded(ing) if child else None
        recorded = Check(_state_from(*recorded_codes), recorded_codes[0]) if recorded_codes else None
        delta = deltas.get((label, str(ing.get("label", ""))))
        rechecked: Check | None = None
        if child and delta is not None:
            fail, ok = _apply_delta(*(recorded_codes or ([], [])), delta)
            rechecked = Check(_state_from(fail, ok), fail)
        if child is None:
            state, codes = "missing", []
        elif rechecked is not None:
            state, codes = rechecked.state, rechecked.codes
        elif recorded is not None:
            state, codes = recorded.state, recorded.codes
        else:
            state, codes = ("valid", []) if child in manifests else ("invalid", ["ingredient.manifest.missing"])
        described = _describe(manifests.get(child) or {}, certificates.get(child or "")) if child else _Described()
        children: list[IngredientVerdict] = []
        if child and child in manifests and child not in trail and len(trail) < _MAX_DEPTH:
            children = _ingredient_tree(store, certificates, child, deltas, (*trail, child))
        out.append(IngredientVerdict(
            title=str(ing.get("title") or described.title or "(untitled)"),
            relationship=str(ing.get("relationship") or "componentOf"),
            format=ing.get("format"), state=state, codes=codes, recorded=recorded, rechecked=rechecked,
            manifest=child, signer=described.signer, issuer=described.issuer, generator=described.generator,
            digital_source_type=described.digital_source_type, signing_time=described.signing_time,
            actions=described.actions, ingredients=children,
        ))
    return out


def _verdict_from_store(path: Path, outcome: _c2pa.ReadOutcome) -> Verdict:
    store = outcome.store
    label = store.get("active_manifest")
    manifests = store.get("manifests") or {}
    if not label or label not in manifests:
        return Verdict(path=str(path), state="missing")
    results = (store.get("validation_results") or {}).get("activeManifest")
    if isinstance(results, dict):
        failure_entries = results.get("failure") or []
        successes = _codes(results.get("success"))
    else:  # older SDK shape: a flat list of problems
        failure_entries = store.get("validation_status") or []
        successes = []
    codes = _codes(failure_entries)
    raw_state = str(store.get("validation_state") or "").lower()
    state = raw_state if raw_state in ("trusted", "valid", "invalid") else _state_from(codes, successes)
    described = _describe(manifests[label], outcome.certificates.get(label))
    return Verdict(
        path=str(path), state=state, codes=codes, signer=described.signer, issuer=described.issuer,
        generator=described.generator, digital_source_type=described.digital_source_type,
        signing_time=described.signing_time, signing_time_source=described.signing_time_source,
        actions=described.actions, title=described.title, format=described.format or media_type(path),
        manifest=str(label),
        failures=[{"code": str(e.get("code")), "explanation": str(e.get("explanation", ""))}
                  for e in failure_entries if isinstance(e, dict) and e.get("code")],
        ingredients=_ingredient_tree(store, outcome.certificates, str(label), _deltas(store), (str(label),)),
    )


def _check_file(path: Path) -> None:
    if not path.exists():
        raise MediaError(f"{path}: no such file", hint="check the path")
    if not path.is_file():
        raise MediaError(f"{path}: not a file", hint="give a media file (reelpipe audit walks folders)")


def bmff_truncation(path: Path) -> str | None:
    """Why an MP4/MOV file is cut short (a top-level box runs past the end of the file), or None.

    C2PA would report a truncated signed clip as ``assertion.bmffHash.mismatch``, which is true but hides
    the cause; an unsigned one might even read as ``missing``. Walking the top-level box headers costs a few
    reads and says what happened. Files that are not ISO BMFF are left to the C2PA reader.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[4:8] != b"ftyp":
            return None
        offset = 0
        while offset + 8 <= size:
            fh.seek(offset)
            header = fh.read(16)
            box_size = int.from_bytes(header[0:4], "big")
            box_type = header[4:8].decode("latin-1")
            if box_size == 1 and len(header) >= 16:
                box_size = int.from_bytes(header[8:16], "big")
            elif box_size == 0:  # "extends to the end of the file"
                return None
            if box_size < 8:
                return f"box at byte {offset} has an impossible size ({box_size})"
            if offset + box_size > size:
                return (f"box '{box_type}' at byte {offset} needs {box_size} bytes but the file ends "
                        f"{size - offset} bytes after it starts")
            offset += box_size
    return None


def read_verdict(path: Path, context: Any) -> Verdict:
    """Read ``path`` with a prepared C2PA context and return its verdict (for callers verifying many files).

    Raises:
        MediaError: the file does not exist.
        ProvenanceError: the file is not readable media (not a video, truncated, unsupported type).
    """
    path = Path(path)
    _check_file(path)
    try:
        truncated = bmff_truncation(path)
    except OSError as exc:
        raise MediaError(f"{path}: cannot read ({exc.strerror or exc})", hint="check the file's permissions") from exc
    if truncated:
        raise ProvenanceError(f"{path}: truncated or malformed MP4/MOV: {truncated}",
                              hint="the download or render was cut short: fetch or render it again")
    try:
        outcome = _c2pa.read_store(path, context)
    except _c2pa.ManifestNotFound:
        return Verdict(path=str(path), state="missing")
    except _c2pa.RemoteManifest as exc:
        return Verdict(path=str(path), state="missing", codes=["manifest.remote"],
                       failures=[{"code": "manifest.remote", "explanation": str(exc)}])
    except _c2pa.C2paError as exc:
        if _c2pa.is_manifest_damage(exc):
            explanation = _c2pa.error_text(exc)
            return Verdict(path=str(path), state="invalid", codes=["manifest.unreadable"],
                           failures=[{"code": "manifest.unreadable", "explanation": explanation}])
        raise ProvenanceError(
            f"{path}: not a readable media file ({_c2pa.error_text(exc)})",
            hint="the file is not media, is truncated, or its type is not supported "
                 "(MP4/MOV video, JPEG/PNG/WebP images, WAV/MP3/M4A audio)") from exc
    return _verdict_from_store(path, outcome)


def anchors_pem(anchors: list[TrustAnchor]) -> str:
    """The anchors as one PEM bundle."""
    return "".join(a.pem for a in anchors)


def verify_with_anchors(path: Path, anchors: list[TrustAnchor]) -> Verdict:
    """:func:`verify` with an already loaded trust list."""
    return read_verdict(Path(path), _c2pa.make_context(anchors_pem=anchors_pem(anchors)))


def verify(path: Path, *, trust: list[Path] | None = None, identity: Identity | None = None) -> Verdict:
    """Read ``path``'s C2PA manifest and give it a verdict. Never goes online.

    Args:
        path: the media file.
        trust: extra PEM trust anchor files (``--trust``, the recipe's ``provenance.trust``); the config
            folder's ``trust/*.pem`` are always trusted.
        identity: the user's identity, whose root (and config folder's ``trust/``) is trusted; default: the
            identity in the config folder, if any.

    Returns:
        The :class:`Verdict`; ``missing`` when there is no manifest.

    Raises:
        MediaError: the file does not exist.
        ProvenanceError: the file is not readable media.
        UsageError: a trust file is missing or not PEM.
    """
    home = identity.home if identity is not None else None
    return verify_with_anchors(Path(path), load_trust_anchors(trust, identity=identity, home=home))


# --- policy ----------------------------------------------------------------------------------------------

_RANK = {"trusted": 2, "valid": 1, "invalid": 0, "missing": 0}


def _check_level(require: str) -> None:
    if require not in POLICY_LEVELS:
        raise UsageError(f"unknown provenance level {require!r}", hint=f"use one of: {', '.join(POLICY_LEVELS)}")


def policy_failures(verdict: Verdict, require: str) -> list[str]:
    """Why ``verdict`` falls below ``require`` (empty when it meets it).

    The levels, strictest first:

    - ``trusted``: the file's own manifest is trusted, and no ingredient anywhere is invalid.
    - ``valid`` (the default): the file's own manifest validates (trusted or not), and no ingredient anywhere
      is invalid.
    - ``present``: a manifest is there, whatever it says: invalid manifests and ingredients are reported but
      do not fail. For sources whose credentials reelpipe cannot validate but whose presence you require.
    - ``off``: nothing is required.

    Ingredients are never required to be *trusted*: a reference image or music file usually has no manifest
    at all (``missing``), which is fine; an ingredient that does not validate is not.

    Raises:
        UsageError: ``require`` is not one of the levels.
    """
    _check_level(require)
    if require == "off":
        return []
    if require == "present":
        return ["no C2PA manifest"] if verdict.state == "missing" else []
    reasons: list[str] = []
    if _RANK[verdict.state] < _RANK[require]:
        if verdict.state == "missing":
            reasons.append(f"no C2PA manifest (requires {require})")
        else:
            reasons.append(f"verdict {verdict.describe()} (requires {require})")
    for trail, item in verdict.invalid_ingredients():
        where = " › ".join(trail)
        reasons.append(f"ingredient '{where}' is invalid" + (f" ({', '.join(item.codes)})" if item.codes else ""))
    return reasons


def meets_policy(verdict: Verdict, require: str) -> bool:
    """Whether ``verdict`` meets the level ``require`` (see :func:`policy_failures` for the rules)."""
    return not policy_failures(verdict, require)


def enforce_policy(verdict: Verdict, require: str, *, name: str) -> None:
    """Raise a :class:`ProvenanceError` naming ``name`` (a shot), the verdict and codes when below the bar.

    Raises:
        ProvenanceError: the verdict does not meet ``require``.
    """
    reasons = policy_failures(verdict, require)
    if reasons:
        raise ProvenanceError(
            f"{name}: provenance {verdict.describe()} is below the recipe's bar '{require}': "
            + "; ".join(reasons) + f" [{verdict.path}]",
            hint="re-render the shot, add the signer's root with --trust / provenance.trust, or lower "
                 "provenance.require in the recipe")
