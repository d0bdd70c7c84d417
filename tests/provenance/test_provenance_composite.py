"""The edited sequence is signed with every clip, image and audio file as an ingredient."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from provenance_helpers import Media, raw_manifest, sign_clip

from pipeline.errors import MediaError, ProvenanceError
from pipeline.provenance import (
    DIGITAL_SOURCE_TYPES,
    Ingredient,
    audit_paths,
    composite_source_type,
    meets_policy,
    policy_failures,
    sign_composite,
    verify,
)



def test_the_sequence_lists_every_clip_image_and_audio_file(media: Media, own_home: Path) -> None:
    verdict = verify(media.composite_good)
    assert verdict.state == "trusted"
    assert verdict.actions == ["c2pa.created", "c2pa.placed", "c2pa.placed", "c2pa.placed", "c2pa.placed",
                               "c2pa.edited"]
    # the clips are procedural (algorithmicMedia): the honest composite term is compositeSynthetic
    assert verdict.digital_source_type_name == "compositeSynthetic"
    titles = [(i.title, i.relationship, i.state) for i in verdict.ingredients]
    assert titles == [("shot-a", "componentOf", "trusted"), ("shot-b", "componentOf", "valid"),
                      ("logo.png", "componentOf", "missing"), ("music.wav", "componentOf", "missing")]
    shot_a, shot_b = verdict.ingredients[:2]
    assert shot_a.recorded is not None and shot_a.recorded.state == "trusted"
    assert shot_a.rechecked is not None and shot_a.rechecked.state == "trusted"
    assert shot_b.codes == ["signingCredential.untrusted"]
    assert shot_b.signer == "CN=Other Signer, O=Other Studio"
    assert shot_a.digital_source_type == DIGITAL_SOURCE_TYPES["algorithmicMedia"]
    # each clip carries its own manifest, with its own reference image inside
    assert [(i.title, i.relationship) for i in shot_a.ingredients] == [("reference.png", "inputTo")]
    assert meets_policy(verdict, "valid") and meets_policy(verdict, "trusted")


def test_each_placed_action_references_its_ingredient_and_the_edit_is_recorded(media: Media) -> None:
    manifest = raw_manifest(media.composite_good)
    actions = [a for s in manifest["assertions"] if s["label"].startswith("c2pa.actions")
               for a in s["data"]["actions"]]
    labels = [i["label"] for i in manifest["ingredients"]]
    placed = [a for a in actions if a["action"] == "c2pa.placed"]
    assert [a["parameters"]["ingredients"][0]["url"].rsplit("/", 1)[1] for a in placed] == labels
    assert [a["description"] for a in placed] == ["clip shot-a", "clip shot-b", "image logo.png",
                                                  "audio music.wav"]
    edited = actions[-1]
    assert edited["action"] == "c2pa.edited"
    assert edited["parameters"]["trims"] == [{"shot": "shot-a", "start": 0.25, "end": 1.0}]
    assert edited["parameters"]["transitions"][0]["type"] == "fade"
    assert edited["parameters"]["transitions"][0]["between"] == ["shot-a", "shot-b"]
    assert edited["parameters"]["overlays"] == [{"image": "logo.png", "position": "top-right", "opacity": 0.8}]
    assert json.loads(edited["parameters"]["size"]) == [320, 180]  # number arrays are kept as JSON text
    assert "2 clips edited into one sequence" in edited["description"]


def test_a_sequence_built_from_a_tampered_clip_reads_trusted_but_fails_naming_the_clip(
        media: Media, own_home: Path) -> None:
    verdict = verify(media.composite_bad)
    assert verdict.state == "trusted"  # the top-level signature is fine...
    bad = [(trail, item.codes) for trail, item in verdict.invalid_ingredients()]
    assert bad == [(["shot-a-tampered"], ["assertion.bmffHash.mismatch"])]  # ...the ingredient is not
    assert not meets_policy(verdict, "valid")
    assert not meets_policy(verdict, "trusted")
    assert meets_policy(verdict, "present") and meets_policy(verdict, "off")
    assert policy_failures(verdict, "valid") == [
        "ingredient 'shot-a-tampered' is invalid (assertion.bmffHash.mismatch)"]
    report = audit_paths([media.composite_bad], trust=None, require="valid")
    assert not report.passed
    assert "shot-a-tampered" in report.files[0].reasons[0]


def test_ingredient_validation_is_rechecked_against_the_auditors_trust_list(
        media: Media, fresh_home: Path) -> None:
    # an auditor who does not trust "own": the clip recorded as trusted is re-checked as merely valid
    verdict = verify(media.composite_good)
    assert verdict.state == "valid"
    shot_a = verdict.ingredients[0]
    assert shot_a.recorded is not None and shot_a.recorded.state == "trusted"
    assert shot_a.rechecked is not None and shot_a.rechecked.state == "valid"
    assert shot_a.rechecked.codes == ["signingCredential.untrusted"]
    # and one who also trusts "other" sees shot-b as trusted, though it was recorded untrusted
    verdict = verify(media.composite_good, trust=[media.own.root_cert_path, media.other.root_cert_path])
    shot_b = verdict.ingredients[1]
    assert shot_b.recorded is not None and shot_b.recorded.state == "valid"
    assert shot_b.rechecked is not None and shot_b.rechecked.state == "trusted"


def test_a_sequence_of_a_sequence_keeps_the_whole_tree(media: Media, own_home: Path, tmp_path: Path) -> None:
    outer = shutil.copyfile(media.clip, tmp_path / "outer.mp4")
    sign_composite(outer, identity=media.own, edit={}, ingredients=[Ingredient(media.composite_bad, "reel-1")])
    verdict = verify(outer)
    assert verdict.state == "trusted"
    [(trail, item)] = verdict.invalid_ingredients()
    assert trail == ["reel-1", "shot-a-tampered"]
    assert item.recorded is not None and item.rechecked is None  # deeper levels carry what was recorded
    assert policy_failures(verdict, "valid") == [
        "ingredient 'reel-1 › shot-a-tampered' is invalid (assertion.bmffHash.mismatch)"]


def test_a_trained_model_clip_makes_a_composite_with_trained_algorithmic_media(
        media: Media, own_home: Path, tmp_path: Path) -> None:
    hosted = sign_clip(media.clip, tmp_path / "hosted.mp4", media.own, title="hosted",
                       source_type="trainedAlgorithmicMedia", model="sora-2")
    clips = [Ingredient(media.trusted, "shot-a"), Ingredient(hosted, "hosted")]
    assert composite_source_type(clips) == "compositeWithTrainedAlgorithmicMedia"
    assert composite_source_type([Ingredient(media.trusted, "shot-a")]) == "compositeSynthetic"
    assert composite_source_type([Ingredient(media.clip, "unsigned")]) == "composite"
    out = shutil.copyfile(media.clip, tmp_path / "seq.mp4")
    sign_composite(out, identity=media.own, edit={}, ingredients=clips)
    assert verify(out).digital_source_type_name == "compositeWithTrainedAlgorithmicMedia"


def test_a_missing_ingredient_file_is_a_media_error(media: Media, tmp_path: Path) -> None:
    out = shutil.copyfile(media.clip, tmp_path / "seq.mp4")
    with pytest.raises(MediaError, match="ingredient 'gone' not found"):
        sign_composite(out, identity=media.own, edit={}, ingredients=[Ingredient(tmp_path / "gone.mp4", "gone")])


def test_a_bad_role_is_refused(media: Media, tmp_path: Path) -> None:
    out = shutil.copyfile(media.clip, tmp_path / "seq.mp4")
    with pytest.raises(ProvenanceError, match="unknown role 'font'"):
        sign_composite(out, identity=media.own, edit={}, ingredients=[Ingredient(media.overlay, "x", role="font")])


def test_only_video_outputs_are_signed(media: Media, tmp_path: Path) -> None:
    out = shutil.copyfile(media.music, tmp_path / "mix.wav")
    with pytest.raises(ProvenanceError, match="signs MP4/MOV video"):
        sign_composite(out, identity=media.own, edit={}, ingredients=[])
