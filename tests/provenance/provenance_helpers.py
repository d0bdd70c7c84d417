"""Helpers for the provenance tests: tiny clips, signing, tampering (imported by conftest and tests).

Everything is real: tiny H.264 clips made with ffmpeg's lavfi sources (320x180, 1 s), identities generated
with ``cryptography``, manifests signed and read with c2pa-python. Two identities: ``own`` (the user's, its
root trusted through the config folder) and ``other`` (someone else's, not trusted unless passed as --trust).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from pipeline.media.ffmpeg import run_ffmpeg
from pipeline.provenance import Identity, sign_generated_clip

REPO = Path(__file__).resolve().parents[2]
C2PA_FIXTURES = REPO / ".." / "shared" / "fixtures" / "c2pa"


def mdat_offset(data: bytes) -> tuple[int, int]:
    """(offset, size) of the top-level ``mdat`` box of an MP4."""
    offset = 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset:offset + 4], "big")
        kind = data[offset + 4:offset + 8]
        if size == 1:
            size = int.from_bytes(data[offset + 8:offset + 16], "big")
        if kind == b"mdat":
            return offset, size
        offset += size
    raise AssertionError("no mdat box")


def tamper_video(src: Path, dest: Path) -> Path:
    """Copy ``src`` with one byte of the video data flipped (the manifest untouched)."""
    data = bytearray(src.read_bytes())
    offset, size = mdat_offset(bytes(data))
    data[offset + size // 2] ^= 0xFF
    dest.write_bytes(bytes(data))
    return dest


def tamper_manifest(src: Path, dest: Path, marker: bytes) -> Path:
    """Copy ``src`` with one letter of ``marker`` changed inside the signed claim (the video untouched)."""
    data = src.read_bytes()
    assert data.count(marker) == 1, f"{marker!r} should occur once, in the claim"
    at = data.index(marker)
    dest.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:])
    return dest


@dataclass(frozen=True)
class Media:
    """The session's media: sources, and signed/tampered/broken variants (read-only: copy to change)."""

    folder: Path
    clip: Path  # unsigned clip
    reference: Path  # the reference image (PNG)
    overlay: Path  # an overlay logo (PNG)
    music: Path  # a music bed (WAV)
    own: Identity
    other: Identity
    trusted: Path  # signed by own
    untrusted: Path  # signed by other
    video_tampered: Path
    manifest_tampered: Path
    truncated: Path
    not_video: Path
    composite_good: Path  # trusted + untrusted clips, overlay, music
    composite_bad: Path  # built from the tampered clip


def make_clip(dest: Path, *, seconds: float = 1.0) -> Path:
    """A tiny H.264+AAC clip (320x180, 10 fps) made with lavfi sources."""
    run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=10:duration={seconds}",
                "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2",
                "-shortest", str(dest)], what="making a provenance test clip")
    return dest


def sign_clip(src: Path, dest: Path, identity: Identity, *, title: str, source_type: str = "algorithmicMedia",
              reference: Path | None = None, prompt: str | None = None, model: str | None = None) -> Path:
    """Copy ``src`` to ``dest`` and sign it as a generated clip."""
    shutil.copyfile(src, dest)
    sign_generated_clip(dest, identity=identity, title=title, digital_source_type=source_type,
                        generator="reelpipe local renderer local-1", model=model, reference_image=reference,
                        prompt=prompt)
    return dest


EDIT = {
    "trims": [{"shot": "shot-a", "start": 0.25, "end": 1.0}],
    "transitions": [{"type": "fade", "duration": 0.5, "between": ["shot-a", "shot-b"]}],
    "overlays": [{"image": "logo.png", "position": "top-right", "opacity": 0.8}],
    "audio": {"music": "music.wav", "gain_db": -12},
    "size": [320, 180],
}


def raw_manifest(path: Path) -> dict:
    """The active manifest as c2pa reads it (what any other C2PA tool would see)."""
    import json

    import c2pa

    with c2pa.Reader(str(path), context=c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": False}})) \
            as reader:
        store = json.loads(reader.json())
    return store["manifests"][store["active_manifest"]]
