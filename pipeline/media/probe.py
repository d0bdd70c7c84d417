"""Probe media files with PyAV (the bundled ffmpeg has no ffprobe)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from pipeline.errors import MediaError

__all__ = ["AudioInfo", "MediaInfo", "VideoInfo", "probe", "video_packets"]


@dataclass(frozen=True)
class VideoInfo:
    """The first video stream of a file."""

    codec: str
    width: int
    height: int
    fps: float
    fps_fraction: str  # e.g. "30/1" or "30000/1001"
    pix_fmt: str | None
    profile: str | None
    frames: int  # counted from the container index when present, else estimated from duration
    duration: float
    extradata_hash: str | None  # identifies the codec parameters (SPS/PPS), for stream-copy decisions


@dataclass(frozen=True)
class AudioInfo:
    """The first audio stream of a file."""

    codec: str
    sample_rate: int
    channels: int
    layout: str
    duration: float


@dataclass(frozen=True)
class MediaInfo:
    """What reelpipe needs to know about a media file."""

    path: str
    format: str
    duration: float
    size_bytes: int
    video: VideoInfo | None
    audio: AudioInfo | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _stream_duration(stream: Any, container_duration: float) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return container_duration


def probe(path: str | Path) -> MediaInfo:
    """Read a media file's container and first video/audio streams.

    Raises:
        MediaError: the file is missing, not media, or unreadable; the message names the file.
    """
    import hashlib

    import av

    p = Path(path)
    if not p.exists():
        raise MediaError(f"{p}: no such file", hint="check the path (relative paths resolve from the recipe)")
    try:
        with av.open(str(p)) as container:
            cdur = float(container.duration / 1_000_000) if container.duration else 0.0
            video = None
            audio = None
            if container.streams.video:
                vs = container.streams.video[0]
                cc = vs.codec_context
                rate = vs.average_rate or vs.guessed_rate or vs.base_rate
                fps = float(rate) if rate else 0.0
                vdur = _stream_duration(vs, cdur)
                frames = int(vs.frames) if vs.frames else int(round(vdur * fps))
                extradata = cc.extradata
                video = VideoInfo(
                    codec=cc.name,
                    width=cc.width,
                    height=cc.height,
                    fps=fps,
                    fps_fraction=str(Fraction(rate)) if rate else "0",
                    pix_fmt=cc.pix_fmt,
                    profile=cc.profile,
                    frames=frames,
                    duration=vdur,
                    extradata_hash=hashlib.sha256(extradata).hexdigest()[:16] if extradata else None,
                )
            if container.streams.audio:
                a = container.streams.audio[0]
                acc = a.codec_context
                audio = AudioInfo(
                    codec=acc.name,
                    sample_rate=acc.sample_rate,
                    channels=acc.channels,
                    layout=acc.layout.name if acc.layout else "",
                    duration=_stream_duration(a, cdur),
                )
            return MediaInfo(
                path=str(p),
                format=container.format.name,
                duration=cdur or (video.duration if video else 0.0),
                size_bytes=p.stat().st_size,
                video=video,
                audio=audio,
            )
    except MediaError:
        raise
    except Exception as exc:  # av raises many error types; all mean "not readable media"
        raise MediaError(
            f"{p}: not a readable media file ({type(exc).__name__}: {exc})",
            hint="re-export or re-download the file; reelpipe reads MP4/MOV/MKV/WebM and still images",
        ) from exc


def video_packets(path: str | Path) -> list[bytes]:
    """Return the raw bytes of every video packet in decode order (for stream-copy checks)."""
    import av

    with av.open(str(path)) as container:
        vs = container.streams.video[0]
        return [bytes(pkt) for pkt in container.demux(vs) if pkt.size]


def count_frames(path: str | Path) -> int:
    """Decode the first video stream and count its frames (exact, slower than :func:`probe`)."""
    import av

    try:
        with av.open(str(path)) as container:
            vs = container.streams.video[0]
            vs.thread_type = "AUTO"
            return sum(1 for _ in container.decode(vs))
    except Exception as exc:
        raise MediaError(f"{path}: could not decode video ({exc})") from exc
