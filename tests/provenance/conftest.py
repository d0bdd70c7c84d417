"""Signed, tampered and broken clips for the provenance tests, made once per session.

Everything is real: tiny H.264 clips made with ffmpeg's lavfi sources (320x180, 1 s), identities generated
with ``cryptography``, manifests signed and read with c2pa-python. Two identities: ``own`` (the user's, its
root trusted through the config folder) and ``other`` (someone else's, not trusted unless passed as --trust).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from provenance_helpers import EDIT, Media, make_clip, sign_clip, tamper_manifest, tamper_video

from pipeline.media.ffmpeg import run_ffmpeg
from pipeline.provenance import Ingredient, new_identity, sign_composite


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    folder = tmp_path_factory.mktemp("provenance-media")
    clip = make_clip(folder / "unsigned.mp4")
    reference = folder / "reference.png"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x36", "-frames:v", "1", str(reference)],
               what="making a reference image")
    overlay = folder / "logo.png"
    run_ffmpeg(["-f", "lavfi", "-i", "color=c=orange:size=32x32", "-frames:v", "1", str(overlay)],
               what="making an overlay image")
    music = folder / "music.wav"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=220:sample_rate=48000:duration=1", str(music)],
               what="making a music bed")

    own = new_identity(folder / "own-home", common_name="Own Signer", organization="Own Studio")
    other = new_identity(folder / "other-home", common_name="Other Signer", organization="Other Studio")

    trusted = sign_clip(clip, folder / "shot-a.mp4", own, title="shot-a", reference=reference)
    untrusted = sign_clip(clip, folder / "shot-b.mp4", other, title="shot-b", reference=reference)
    video_tampered = tamper_video(trusted, folder / "shot-a-tampered.mp4")
    marked = sign_clip(clip, folder / "marked.mp4", own, title="title-marker-0123")
    manifest_tampered = tamper_manifest(marked, folder / "manifest-tampered.mp4", b"title-marker-0123")
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(trusted.read_bytes()[: trusted.stat().st_size * 2 // 3])
    not_video = folder / "notes.mp4"
    not_video.write_text("these are my notes, not a video\n" * 20, encoding="utf-8")

    composite_good = shutil.copyfile(clip, folder / "sequence.mp4")
    sign_composite(composite_good, identity=own, edit=EDIT, ingredients=[
        Ingredient(trusted, "shot-a"), Ingredient(untrusted, "shot-b"),
        Ingredient(overlay, "logo.png", role="image"), Ingredient(music, "music.wav", role="audio")])
    composite_bad = shutil.copyfile(clip, folder / "sequence-bad.mp4")
    sign_composite(composite_bad, identity=own, edit=EDIT, ingredients=[
        Ingredient(trusted, "shot-a"), Ingredient(video_tampered, "shot-a-tampered")])
    return Media(folder=folder, clip=clip, reference=reference, overlay=overlay, music=music, own=own,
                 other=other, trusted=trusted, untrusted=untrusted, video_tampered=video_tampered,
                 manifest_tampered=manifest_tampered, truncated=truncated, not_video=not_video,
                 composite_good=composite_good, composite_bad=composite_bad)


@pytest.fixture
def own_home(media: Media, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the ``own`` identity the user's (``REELPIPE_HOME``); nothing in it is changed by tests."""
    monkeypatch.setenv("REELPIPE_HOME", str(media.own.home))
    return media.own.home


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty config folder of the test's own."""
    home = tmp_path / "home"
    monkeypatch.setenv("REELPIPE_HOME", str(home))
    return home
