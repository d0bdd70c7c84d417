"""Encoder settings shared by every stage that writes video, so segments can be joined by stream copy.

Two files encoded with the same :class:`EncodeSettings` at the same size and frame rate carry identical
H.264 parameter sets, which is what lets the edit stage join separately encoded segments (and clips from the
local renderer) with the concat demuxer and ``-c copy``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AUDIO_RATE", "EncodeSettings", "audio_args", "video_args"]

AUDIO_RATE = 48_000


@dataclass(frozen=True)
class EncodeSettings:
    """How video is encoded. ``profile`` names the output profile (``web``, ``hevc``, ``mezzanine``)."""

    profile: str = "web"
    crf: int = 18
    preset: str = "veryfast"
    gop_seconds: float = 1.0  # closed 1 s GOPs: a smart cut re-encodes at most a second at each cut
    threads: int = 0  # 0: let the encoder decide

    @property
    def container_ext(self) -> str:
        return ".mov" if self.profile == "mezzanine" else ".mp4"


def video_args(settings: EncodeSettings, fps: int) -> list[str]:
    """ffmpeg output arguments for the video stream (codec, quality, GOP, pixel format, colour tags)."""
    gop = max(1, int(round(settings.gop_seconds * fps)))
    color = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]
    threads = ["-threads", str(settings.threads)] if settings.threads else []
    if settings.profile == "mezzanine":
        return ["-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le", "-vendor", "apl0",
                *color, *threads]
    if settings.profile == "hevc":
        return ["-c:v", "libx265", "-preset", settings.preset, "-crf", str(settings.crf + 4),
                "-pix_fmt", "yuv420p", "-tag:v", "hvc1", "-g", str(gop),
                "-x265-params", f"keyint={gop}:min-keyint={gop}:scenecut=0:log-level=error", *color, *threads]
    # web: H.264 High, closed GOPs of fixed length, no scene-cut keyframes (predictable cut points)
    return ["-c:v", "libx264", "-preset", settings.preset, "-crf", str(settings.crf), "-profile:v", "high",
            "-pix_fmt", "yuv420p", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
            "-flags", "+cgop", *color, *threads,
            # pin the VUI's sample aspect ratio so every encode writes identical parameter sets, whether its
            # input declared a SAR (filters) or not (raw frames from the local renderer)
            "-bsf:v", "h264_metadata=sample_aspect_ratio=1/1"]


def audio_args(settings: EncodeSettings) -> list[str]:
    """ffmpeg output arguments for the audio stream: AAC 48 kHz stereo, PCM for the mezzanine profile."""
    if settings.profile == "mezzanine":
        return ["-c:a", "pcm_s16le", "-ar", str(AUDIO_RATE), "-ac", "2"]
    return ["-c:a", "aac", "-b:a", "192k", "-ar", str(AUDIO_RATE), "-ac", "2"]
