"""Sign what reelpipe makes: each rendered clip, and the edited sequence with every clip as an ingredient.

Both functions sign a file *in place, atomically*: the signed copy is written beside it and renamed over it,
so a crash leaves the unsigned file, never a half-written one. Signing must be the last write: any remux
afterwards breaks the manifest's hash of the video (``assertion.bmffHash.mismatch``).

What a rendered clip's manifest says::

    claim generator   reelpipe/<version>
    c2pa.created      digitalSourceType: algorithmicMedia (local renderer) | trainedAlgorithmicMedia (models)
                      softwareAgent: the renderer; parameters: model, prompt (optional), ingredientIds
    ingredient        the reference image, relationship inputTo (carrying its own manifest, if it has one)

What the sequence's manifest says::

    c2pa.created      compositeWithTrainedAlgorithmicMedia (or compositeSynthetic / composite, see below)
    c2pa.placed       one per clip, image and audio file, each referencing its ingredient
    c2pa.edited       the edit as parameters: trims, transitions, overlays, audio
    ingredients       every clip, overlay image and audio file as componentOf, each carrying its own manifest

Nothing secret goes into a manifest: every string passes through :func:`pipeline.secrets.redact`.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import MediaError, ProvenanceError
from pipeline.fsutil import atomic_output
from pipeline.provenance import _c2pa
from pipeline.provenance.identity import Identity, load_trust_anchors
from pipeline.provenance.verify import anchors_pem
from pipeline.provenance.vocabulary import (
    claim_generator,
    digital_source_type_name,
    digital_source_type_uri,
    media_type,
)
from pipeline.secrets import redact

__all__ = ["RELATIONSHIPS", "ROLES", "Ingredient", "composite_source_type", "sign_composite", "sign_generated_clip"]

RELATIONSHIPS = ("componentOf", "inputTo", "parentOf")
ROLES = ("clip", "image", "audio")



@dataclass(frozen=True)
class Ingredient:
    """A file that went into a composite.

    Attributes:
        path: the file (a clip, an overlay image, an audio file).
        title: how the manifest names it (the audit shows this title: use the shot id or file name).
        relationship: ``componentOf`` (part of the result) | ``inputTo`` | ``parentOf``.
        role: ``clip`` | ``image`` | ``audio``.
    """

    path: Path
    title: str
    relationship: str = "componentOf"
    role: str = "clip"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _cbor_safe(value: Any) -> Any:
    """Make ``value`` survive c2pa's JSON -> CBOR conversion unchanged, and redact secrets in strings.

    c2pa-rs 0.91 turns an array made only of numbers into a CBOR byte string (``[0.5, 7.0]`` reads back as
    ``""``, ``[1, 2]`` as ``"AQI="``), so such arrays are written as their JSON text instead. Mixed arrays
    and objects are fine.
    """
    if isinstance(value, dict):
        return {str(k): _cbor_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = list(value)
        if items and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in items):
            return json.dumps(items)
        return [_cbor_safe(x) for x in items]
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(str(value))  # paths, enums, dataclass reprs: their text


def _check_target(path: Path) -> str:
    if not path.is_file():
        raise MediaError(f"{path}: no such file to sign", hint="the render or edit stage should have written it")
    fmt = media_type(path)
    if fmt is None or not fmt.startswith("video/"):
        raise ProvenanceError(f"{path}: reelpipe signs MP4/MOV video; {path.suffix or 'no extension'} "
                              "is not supported here", hint="write the output as .mp4 or .mov")
    return fmt


def _refuse_existing_manifest(path: Path) -> None:
    """Signing replaces a file's manifest store; refuse rather than silently drop someone's provenance."""
    context = _c2pa.make_context(verify=False)
    try:
        _c2pa.read_store(path, context)
    except _c2pa.ManifestNotFound:
        return
    except _c2pa.C2paError as exc:
        if _c2pa.is_manifest_damage(exc):
            return  # a broken store carries no provenance worth keeping
        raise _c2pa.translate_c2pa_error(exc, path=path, doing="checking for an existing manifest") from exc
    raise ProvenanceError(
        f"{path}: the file already carries a C2PA manifest; signing would replace it",
        hint="sign freshly rendered or edited files only; audit this one with 'reelpipe audit'")


def _sign_in_place(path: Path, fmt: str, *, identity: Identity, manifest: dict[str, Any],
                   streamed: list[tuple[dict[str, Any], Path, str]], trust: list[Path] | None) -> None:
    """Build ``manifest``, add ``streamed`` ingredients (json, file, mime), sign ``path`` atomically."""
    anchors = load_trust_anchors(trust, identity=identity, home=identity.home)
    # the trust list is used while signing too, so each ingredient's validation is recorded as trusted
    # where the user trusts its signer
    context = _c2pa.make_context(anchors_pem=anchors_pem(anchors))
    chain_pem, key_pem = identity.read_chain_pem(), identity.read_key_pem()
    doing = "signing"
    try:
        builder = _c2pa.open_builder(manifest, context)
        try:
            for ingredient_json, ingredient_path, ingredient_fmt in streamed:
                doing = f"adding the ingredient {ingredient_path}"
                _add_ingredient(builder, ingredient_json, ingredient_path, ingredient_fmt)
            doing = "signing"
            with _c2pa.open_signer(alg=identity.alg, chain_pem=chain_pem, key_pem=key_pem) as signer, \
                    atomic_output(path) as tmp:
                with open(path, "rb") as source, open(tmp, "w+b") as dest:
                    builder.sign(signer, fmt, source, dest)
                shutil.copymode(path, tmp)  # mkstemp made it 0600; keep the file's own mode
        finally:
            builder.close()
    except _c2pa.C2paError as exc:
        raise _c2pa.translate_c2pa_error(exc, path=path, doing=doing) from exc
    except OSError as exc:
        raise ProvenanceError(f"{path}: {doing} failed: {exc.strerror or exc}",
                              hint="check that the file and its folder are writable") from exc


def _add_ingredient(builder: Any, ingredient_json: dict[str, Any], path: Path, fmt: str) -> None:
    with open(path, "rb") as stream:
        try:
            builder.add_ingredient(ingredient_json, fmt, stream)
            return
        except _c2pa.C2paError:
            if ingredient_json.get("relationship") != "inputTo":
                raise
    # inputTo arrived with C2PA 2.x; an SDK that rejects it gets the older, still honest componentOf
    with open(path, "rb") as stream:
        builder.add_ingredient({**ingredient_json, "relationship": "componentOf"}, fmt, stream)


def sign_generated_clip(path: Path, *, identity: Identity, title: str, digital_source_type: str,
                        generator: str, model: str | None, reference_image: Path | None,
                        prompt: str | None = None) -> None:
    """Sign a freshly rendered clip in place: ``c2pa.created`` with its reference image as an ingredient.

    Args:
        path: the clip (MP4/MOV), written by a renderer and not yet signed.
        identity: who signs (:func:`~pipeline.provenance.identity.ensure_identity`).
        title: the manifest's title (the shot id or file name).
        digital_source_type: an IPTC short name or URI that honestly says how the clip was made (see
            :data:`~pipeline.provenance.vocabulary.DIGITAL_SOURCE_TYPES` and
            :func:`~pipeline.provenance.vocabulary.digital_source_type_for_backend`).
        generator: the software that rendered it (``reelpipe local renderer local-1``, ``openai``).
        model: the model name, when a model made it.
        reference_image: the still image the clip was made from, added as an ``inputTo`` ingredient.
        prompt: the prompt, if the user wants it recorded (it becomes public with the file).

    Raises:
        MediaError: ``path`` or ``reference_image`` does not exist.
        ProvenanceError: the file already carries a manifest, or signing failed.
    """
    path = Path(path)
    fmt = _check_target(path)
    try:
        source_uri = digital_source_type_uri(digital_source_type)
    except ValueError as exc:
        raise ProvenanceError(str(exc)) from exc
    _refuse_existing_manifest(path)
    name, version = claim_generator()
    parameters: dict[str, Any] = {}
    if model:
        parameters["model"] = model
    if prompt:
        parameters["prompt"] = prompt
    manifest: dict[str, Any] = {
        "claim_generator_info": [{"name": name, "version": version}],
        "title": title,
        "format": fmt,
        "ingredients": [],
    }
    streamed: list[tuple[dict[str, Any], Path, str]] = []
    if reference_image is not None:
        reference_image = Path(reference_image)
        if not reference_image.is_file():
            raise MediaError(f"{reference_image}: reference image not found", hint="check the shot's image: path")
        ingredient = {"title": reference_image.name, "relationship": "inputTo", "label": "reference-image"}
        image_fmt = media_type(reference_image)
        if image_fmt is not None:
            streamed.append((ingredient, reference_image, image_fmt))
        else:  # a type C2PA cannot read: record it by name only
            manifest["ingredients"].append({**ingredient, "format": "application/octet-stream"})
        parameters["ingredientIds"] = ["reference-image"]
    created: dict[str, Any] = {
        "action": "c2pa.created",
        "when": _now(),
        "digitalSourceType": source_uri,
        "softwareAgent": {"name": generator},
        "description": f"image-to-video render ({digital_source_type_name(source_uri)})",
    }
    if parameters:
        created["parameters"] = parameters
    manifest["assertions"] = [{"label": "c2pa.actions.v2", "data": {"actions": [_cbor_safe(created)]}}]
    manifest = _cbor_safe(manifest)
    _sign_in_place(path, fmt, identity=identity, manifest=manifest, streamed=streamed, trust=None)


_COMPOSITE_BY_SOURCE = (
    # the strongest claim any clip makes decides: one trained-model clip makes the sequence a composite
    # with trained algorithmic media; procedural clips alone make it a composite of synthetic elements
    ({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"}, "compositeWithTrainedAlgorithmicMedia"),
    ({"algorithmicMedia", "compositeSynthetic", "dataDrivenMedia", "digitalCreation"}, "compositeSynthetic"),
)


def _ingredient_source_type(path: Path) -> str | None:
    """The digitalSourceType a file's own manifest claims (quick read, no validation), if any."""
    context = _c2pa.make_context(verify=False)
    try:
        outcome = _c2pa.read_store(path, context)
    except _c2pa.C2paError:
        return None
    store = outcome.store
    manifest = (store.get("manifests") or {}).get(store.get("active_manifest") or "") or {}
    for assertion in manifest.get("assertions") or []:
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            for action in (assertion.get("data") or {}).get("actions") or []:
                if isinstance(action, dict) and action.get("digitalSourceType"):
                    return digital_source_type_name(str(action["digitalSourceType"]))
    return None


def composite_source_type(ingredients: list[Ingredient]) -> str:
    """The honest IPTC source type (short name) of a sequence edited from ``ingredients``.

    ``compositeWithTrainedAlgorithmicMedia`` when any clip says a trained model made it, ``compositeSynthetic``
    when the synthetic clips are all procedural, ``composite`` when no clip says.
    """
    claimed = {t for t in (_ingredient_source_type(i.path) for i in ingredients if i.role == "clip") if t}
    for sources, composite in _COMPOSITE_BY_SOURCE:
        if claimed & sources:
            return composite
    return "composite"


def _edit_description(edit: dict[str, Any], ingredients: list[Ingredient]) -> str:
    if isinstance(edit.get("description"), str) and edit["description"].strip():
        return str(edit["description"])
    clips = sum(1 for i in ingredients if i.role == "clip")
    parts = [f"{clips} clip{'s' if clips != 1 else ''} edited into one sequence"]
    for key in ("trims", "transitions", "overlays", "audio"):
        value = edit.get(key)
        if value:
            parts.append(f"{len(value) if isinstance(value, (list, dict)) else 1} {key}")
    return ", ".join(parts)


def sign_composite(path: Path, *, identity: Identity, ingredients: list[Ingredient], edit: dict[str, Any],
                   trust: list[Path] | None = None, digital_source_type: str | None = None) -> None:
    """Sign the edited sequence in place, listing every clip, image and audio file as an ingredient.

    Call it last: nothing may write ``path`` afterwards.

    Args:
        path: the edited sequence (MP4/MOV) straight from the edit stage.
        identity: who signs.
        ingredients: every clip, overlay image and audio file, in timeline order; each is embedded with its
            own manifest (its validation is recorded, so a tampered clip shows in the audit).
        edit: what the edit did, recorded as the ``c2pa.edited`` parameters (e.g. ``trims``, ``transitions``,
            ``overlays``, ``audio``; an optional ``description``). Values must be JSON-like.
        trust: extra anchors (the recipe's ``provenance.trust``) for recording the ingredients' validation.
        digital_source_type: override the source type :func:`composite_source_type` derives from the clips.

    Raises:
        MediaError: the file or an ingredient file does not exist.
        ProvenanceError: bad ingredient description, the file already carries a manifest, or signing failed.
    """
    path = Path(path)
    fmt = _check_target(path)
    for ing in ingredients:
        if ing.relationship not in RELATIONSHIPS:
            raise ProvenanceError(f"ingredient {ing.title!r}: unknown relationship {ing.relationship!r}",
                                  hint=f"use one of: {', '.join(RELATIONSHIPS)}")
        if ing.role not in ROLES:
            raise ProvenanceError(f"ingredient {ing.title!r}: unknown role {ing.role!r}",
                                  hint=f"use one of: {', '.join(ROLES)}")
        if not Path(ing.path).is_file():
            raise MediaError(f"{ing.path}: ingredient {ing.title!r} not found",
                             hint="sign the sequence before deleting the clips it was made from")
    _refuse_existing_manifest(path)
    try:
        source_uri = digital_source_type_uri(digital_source_type or composite_source_type(ingredients))
    except ValueError as exc:
        raise ProvenanceError(str(exc)) from exc
    name, version = claim_generator()
    when = _now()
    actions: list[dict[str, Any]] = [{
        "action": "c2pa.created", "when": when, "digitalSourceType": source_uri,
        "softwareAgent": {"name": name, "version": version},
    }]
    streamed: list[tuple[dict[str, Any], Path, str]] = []
    by_name: list[dict[str, Any]] = []
    for index, ing in enumerate(ingredients):
        label = f"ingredient-{index}"
        ingredient_json = {"title": ing.title, "relationship": ing.relationship, "label": label}
        ing_fmt = media_type(Path(ing.path))
        if ing_fmt is not None:
            streamed.append((ingredient_json, Path(ing.path), ing_fmt))
        else:  # C2PA cannot read this type (e.g. a font file): record it by name only
            by_name.append({**ingredient_json, "format": "application/octet-stream"})
        actions.append({"action": "c2pa.placed", "when": when, "description": f"{ing.role} {ing.title}",
                        "parameters": {"ingredientIds": [label]}})
    reserved = {"description", "ingredients", "ingredientIds", "ingredient"}
    edited: dict[str, Any] = {
        "action": "c2pa.edited", "when": when, "softwareAgent": {"name": name, "version": version},
        "description": _edit_description(edit, ingredients),
    }
    parameters = {k: v for k, v in edit.items() if k not in reserved}
    if parameters:
        edited["parameters"] = parameters
    actions.append(edited)
    manifest = _cbor_safe({
        "claim_generator_info": [{"name": name, "version": version}],
        "title": path.name,
        "format": fmt,
        "ingredients": by_name,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": actions}}],
    })
    _sign_in_place(path, fmt, identity=identity, manifest=manifest, streamed=streamed, trust=trust)
