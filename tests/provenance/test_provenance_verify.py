"""Sign a clip, then read it back the way the provenance stage does: trusted, valid, invalid, missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from provenance_helpers import C2PA_FIXTURES, Media, make_clip, raw_manifest, sign_clip

from pipeline import __version__
from pipeline.errors import MediaError, ProvenanceError, UsageError
from pipeline.media.probe import probe, video_packets
from pipeline.provenance import (
    DIGITAL_SOURCE_TYPES,
    Verdict,
    digital_source_type_for_backend,
    enforce_policy,
    meets_policy,
    policy_failures,
    sign_generated_clip,
    verify,
)
from pipeline.secrets import register_secret



def created_action(manifest: dict) -> dict:
    actions = [a for s in manifest["assertions"] if s["label"].startswith("c2pa.actions")
               for a in s["data"]["actions"]]
    return actions[0]


def test_own_clip_is_trusted_and_says_how_it_was_made(media: Media, own_home: Path) -> None:
    verdict = verify(media.trusted)
    assert verdict.state == "trusted"
    assert verdict.codes == []
    assert verdict.signer == "CN=Own Signer, O=Own Studio"
    assert verdict.issuer == "CN=Own Signer Root CA, O=Own Studio"
    assert verdict.generator == f"reelpipe/{__version__}"
    assert verdict.digital_source_type == DIGITAL_SOURCE_TYPES["algorithmicMedia"]
    assert verdict.digital_source_type_name == "algorithmicMedia"
    assert verdict.actions == ["c2pa.created"]
    assert verdict.title == "shot-a"
    assert verdict.signing_time and verdict.signing_time_source == "claimed"
    [reference] = verdict.ingredients
    assert (reference.title, reference.relationship, reference.state) == ("reference.png", "inputTo", "missing")
    assert verdict.summary() == {"state": "trusted", "codes": [], "signer": "CN=Own Signer, O=Own Studio",
                                 "generator": f"reelpipe/{__version__}",
                                 "digital_source_type": DIGITAL_SOURCE_TYPES["algorithmicMedia"]}


def test_signing_leaves_the_media_as_it_was(media: Media) -> None:
    before, after = probe(media.clip), probe(media.trusted)
    assert after.video is not None and before.video is not None and after.audio is not None
    assert (after.video.frames, after.video.width, after.video.height) == (before.video.frames, 320, 180)
    assert abs(after.duration - before.duration) < 1e-6
    assert video_packets(media.trusted) == video_packets(media.clip)


def test_the_created_action_references_the_reference_image(media: Media) -> None:
    manifest = raw_manifest(media.trusted)
    action = created_action(manifest)
    assert action["action"] == "c2pa.created"
    assert action["softwareAgent"]["name"] == "reelpipe local renderer local-1"
    [link] = action["parameters"]["ingredients"]
    [ingredient] = manifest["ingredients"]
    assert link["url"].endswith(ingredient["label"])
    assert manifest["claim_generator_info"][0]["name"] == "reelpipe"


def test_someone_elses_clip_is_valid_but_untrusted_until_their_root_is_given(media: Media, own_home: Path) -> None:
    verdict = verify(media.untrusted)
    assert verdict.state == "valid"
    assert verdict.codes == ["signingCredential.untrusted"]
    assert verdict.signer == "CN=Other Signer, O=Other Studio"
    assert verify(media.untrusted, trust=[media.other.root_cert_path]).state == "trusted"


def test_own_root_is_trusted_through_the_identity_argument_too(media: Media, fresh_home: Path) -> None:
    assert verify(media.trusted).state == "valid"  # a stranger's config folder does not trust it
    assert verify(media.trusted, identity=media.own).state == "trusted"


def test_changed_video_bytes_are_invalid(media: Media, own_home: Path) -> None:
    verdict = verify(media.video_tampered)
    assert verdict.state == "invalid"
    assert "assertion.bmffHash.mismatch" in verdict.codes
    assert verdict.signer == "CN=Own Signer, O=Own Studio"  # the manifest itself is intact
    assert any(f["code"] == "assertion.bmffHash.mismatch" and f["explanation"] for f in verdict.failures)


def test_changed_manifest_bytes_are_invalid(media: Media, own_home: Path) -> None:
    verdict = verify(media.manifest_tampered)
    assert verdict.state == "invalid"
    assert "claimSignature.mismatch" in verdict.codes


def test_a_manifest_damaged_beyond_reading_is_invalid_not_an_error(media: Media, own_home: Path,
                                                                   tmp_path: Path) -> None:
    data = bytearray(media.trusted.read_bytes())
    at = data.index(b"c2pa.signature")
    damaged = tmp_path / "damaged.mp4"
    for offset in range(at + 40, at + 400, 7):  # a few flips inside the signature box: none may crash
        data2 = bytearray(data)
        data2[offset] ^= 0x5A
        damaged.write_bytes(bytes(data2))
        verdict = verify(damaged)
        assert verdict.state in ("invalid", "trusted"), (offset, verdict.describe())
        if verdict.state == "invalid":
            assert verdict.codes


def test_unsigned_clip_is_missing(media: Media, own_home: Path) -> None:
    verdict = verify(media.clip)
    assert (verdict.state, verdict.codes, verdict.signer, verdict.ingredients) == ("missing", [], None, [])


def test_truncated_clip_is_a_clear_error(media: Media, own_home: Path) -> None:
    with pytest.raises(ProvenanceError, match=r"truncated or malformed MP4/MOV: box 'mdat'") as info:
        verify(media.truncated)
    assert "fetch or render it again" in (info.value.hint or "")


def test_not_a_video_is_a_clear_error(media: Media, own_home: Path) -> None:
    with pytest.raises(ProvenanceError, match="notes.mp4: not a readable media file"):
        verify(media.not_video)


def test_a_missing_file_is_a_media_error(tmp_path: Path, own_home: Path) -> None:
    with pytest.raises(MediaError, match="no such file"):
        verify(tmp_path / "nope.mp4")


def test_a_bad_trust_file_is_a_usage_error(media: Media, own_home: Path) -> None:
    with pytest.raises(UsageError, match="not a PEM certificate file"):
        verify(media.trusted, trust=[media.reference])


def test_third_party_clip_is_valid_but_not_trusted_without_its_anchor(own_home: Path) -> None:
    verdict = verify(C2PA_FIXTURES / "video1.mp4")
    assert verdict.state == "valid"
    assert verdict.codes == ["signingCredential.untrusted"]
    assert verdict.signer is not None and verdict.signer.startswith("CN=C2PA Signer")
    assert "O=C2PA Test Signing Cert" in verdict.signer
    assert verdict.generator is not None and "c2patool" in verdict.generator
    assert verdict.actions == ["c2pa.opened"]
    assert verdict.signing_time_source == "timestamp"  # this one carries a TSA timestamp
    [parent] = verdict.ingredients
    assert (parent.title, parent.relationship, parent.state) == ("video1.mp4", "parentOf", "valid")
    assert parent.signer == "CN=Bob, O=Media Publisher Company"
    assert meets_policy(verdict, "valid") and not meets_policy(verdict, "trusted")


def test_third_party_clip_without_manifest_is_missing(own_home: Path) -> None:
    verdict = verify(C2PA_FIXTURES / "video1_no_manifest.mp4")
    assert verdict.state == "missing"
    assert not meets_policy(verdict, "present") and meets_policy(verdict, "off")


def test_signing_refuses_a_file_that_already_has_a_manifest(media: Media, tmp_path: Path) -> None:
    clip = shutil.copyfile(media.trusted, tmp_path / "again.mp4")
    before = clip.read_bytes()
    with pytest.raises(ProvenanceError, match="already carries a C2PA manifest"):
        sign_generated_clip(clip, identity=media.own, title="again", digital_source_type="algorithmicMedia",
                            generator="x", model=None, reference_image=None)
    assert clip.read_bytes() == before


def test_failed_signing_leaves_the_file_and_folder_as_they_were(media: Media, tmp_path: Path) -> None:
    target = shutil.copyfile(media.not_video, tmp_path / "broken.mp4")
    before = target.read_bytes()
    with pytest.raises(ProvenanceError):
        sign_generated_clip(target, identity=media.own, title="broken", digital_source_type="algorithmicMedia",
                            generator="x", model=None, reference_image=None)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4"]  # no temporary left behind


def test_signing_keeps_the_file_mode(media: Media, tmp_path: Path) -> None:
    clip = shutil.copyfile(media.clip, tmp_path / "mode.mp4")
    clip.chmod(0o644)
    sign_generated_clip(clip, identity=media.own, title="mode", digital_source_type="algorithmicMedia",
                        generator="x", model=None, reference_image=None)
    assert clip.stat().st_mode & 0o777 == 0o644


def test_model_and_prompt_are_recorded_and_secrets_are_not(media: Media, tmp_path: Path) -> None:
    secret = "sk-test-do-not-leak-123456"
    register_secret(secret)
    clip = sign_clip(media.clip, tmp_path / "hosted.mp4", media.own, title="hosted",
                     source_type=digital_source_type_for_backend("openai"), model="sora-2",
                     prompt=f"slow push in; key={secret}")
    action = created_action(raw_manifest(clip))
    assert action["digitalSourceType"] == DIGITAL_SOURCE_TYPES["trainedAlgorithmicMedia"]
    assert action["parameters"]["model"] == "sora-2"
    assert action["parameters"]["prompt"] == "slow push in; key=***"
    assert secret.encode() not in clip.read_bytes()


def test_an_unknown_source_type_is_refused(media: Media, tmp_path: Path) -> None:
    clip = shutil.copyfile(media.clip, tmp_path / "x.mp4")
    with pytest.raises(ProvenanceError, match="unknown IPTC digital source type"):
        sign_generated_clip(clip, identity=media.own, title="x", digital_source_type="aiMagic",
                            generator="x", model=None, reference_image=None)


def test_backends_get_honest_source_types() -> None:
    assert digital_source_type_for_backend("local") == "algorithmicMedia"
    assert digital_source_type_for_backend("emulator") == "algorithmicMedia"
    for hosted in ("openai", "fal", "diffusers", "some-new-service"):
        assert digital_source_type_for_backend(hosted) == "trainedAlgorithmicMedia"
    assert DIGITAL_SOURCE_TYPES["compositeWithTrainedAlgorithmicMedia"] == (
        "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia")


def test_the_local_renderer_output_signs_and_verifies(media: Media, own_home: Path, tmp_path: Path) -> None:
    from pipeline.backends.local import render_local_clip

    clip = tmp_path / "rendered.mp4"
    info = render_local_clip(media.reference, clip, seconds=0.5, width=160, height=90, fps=10, prompt="pan left")
    sign_generated_clip(clip, identity=media.own, title="rendered", digital_source_type="algorithmicMedia",
                        generator=f"reelpipe local renderer {info['renderer']}", model=None,
                        reference_image=media.reference, prompt="pan left")
    verdict = verify(clip)
    assert verdict.state == "trusted"
    assert verdict.digital_source_type_name == "algorithmicMedia"


@pytest.mark.parametrize(("state", "codes", "expected"), [
    ("trusted", [], {"trusted": True, "valid": True, "present": True, "off": True}),
    ("valid", ["signingCredential.untrusted"], {"trusted": False, "valid": True, "present": True, "off": True}),
    ("invalid", ["assertion.bmffHash.mismatch"], {"trusted": False, "valid": False, "present": True, "off": True}),
    ("missing", [], {"trusted": False, "valid": False, "present": False, "off": True}),
])
def test_policy_levels(state: str, codes: list[str], expected: dict[str, bool]) -> None:
    verdict = Verdict(path="clip.mp4", state=state, codes=codes)
    assert {level: meets_policy(verdict, level) for level in expected} == expected


def test_unknown_policy_level_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown provenance level 'strict'"):
        policy_failures(Verdict(path="x", state="trusted"), "strict")


def test_enforce_policy_names_the_shot_the_verdict_and_the_codes(media: Media, own_home: Path) -> None:
    verdict = verify(media.video_tampered)
    with pytest.raises(ProvenanceError) as info:
        enforce_policy(verdict, "valid", name="shot 'harbor'")
    message = str(info.value)
    assert "shot 'harbor'" in message and "invalid" in message and "assertion.bmffHash.mismatch" in message
    enforce_policy(verify(media.untrusted), "valid", name="shot 'boat'")  # meets the bar: no error


def test_a_fresh_clip_per_test_is_cheap(tmp_path: Path, media: Media, own_home: Path) -> None:
    clip = make_clip(tmp_path / "fresh.mp4", seconds=0.5)
    sign_clip(clip, tmp_path / "fresh-signed.mp4", media.own, title="fresh")
    assert verify(tmp_path / "fresh-signed.mp4").state == "trusted"
