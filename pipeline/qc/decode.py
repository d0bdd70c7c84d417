"""Decode a clip once, with PyAV, into the small frames QC analyses.

Every frame is scaled by swscale (area filter) to :data:`ANALYSIS_LONG_SIDE` pixels on its long side, as BGR
and as grayscale. The first and last frames are also kept at :data:`DETAIL_LONG_SIDE` for the comparison with
the reference image, where alignment needs more detail.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import MediaError

__all__ = ["ANALYSIS_LONG_SIDE", "DETAIL_LONG_SIDE", "ClipFrames", "read_clip_frames"]

ANALYSIS_LONG_SIDE = 320
"""Long side, in pixels, of the frames every per-frame metric is computed on."""

DETAIL_LONG_SIDE = 640
"""Long side of the first and last frames kept for the reference comparison."""


@dataclass
class ClipFrames:
    """A decoded clip, ready for analysis.

    Attributes:
        path: the clip.
        width, height: the clip's own (output) frame size.
        fps: frames per second (from the stream's average rate; estimated from timestamps if absent).
        times: presentation time of each frame, seconds from the first frame.
        bgr: ``(n, h, w, 3)`` uint8 frames at analysis size.
        gray: ``(n, h, w)`` uint8 luma at analysis size.
        first_detail, last_detail: BGR first and last frames at detail size.
    """

    path: Path
    width: int
    height: int
    fps: float
    times: np.ndarray
    bgr: np.ndarray
    gray: np.ndarray
    first_detail: np.ndarray
    last_detail: np.ndarray

    @property
    def count(self) -> int:
        """Number of decoded frames."""
        return int(self.gray.shape[0])

    @property
    def duration(self) -> float:
        """Seconds from the first frame's start to the last frame's end."""
        return float(self.times[-1] + 1.0 / self.fps) if self.count else 0.0

    @property
    def output_scale(self) -> float:
        """Multiply a distance in analysis pixels by this to get output pixels."""
        return self.width / float(self.gray.shape[2])


def _scaled_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    scale = min(1.0, long_side / float(max(width, height)))
    # even sizes keep swscale's chroma handling exact; never below 16 px
    return max(16, round(width * scale / 2) * 2), max(16, round(height * scale / 2) * 2)


def read_clip_frames(path: Path) -> ClipFrames:
    """Decode every frame of ``path``'s first video stream at analysis size.

    Raises:
        MediaError: the file is missing, has no video stream, or cannot be decoded; the message names it.
    """
    import av
    import cv2

    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: no such file", hint="check the clip's path")
    if path.is_dir():
        raise MediaError(f"{path}: is a folder, not a video file", hint="name the clip files themselves")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: has no video stream", hint="QC needs a video clip")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            width, height = stream.codec_context.width, stream.codec_context.height
            aw, ah = _scaled_size(width, height, ANALYSIS_LONG_SIDE)
            dw, dh = _scaled_size(width, height, DETAIL_LONG_SIDE)
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else 0.0
            time_base = stream.time_base
            bgr: list[np.ndarray] = []
            times: list[float | None] = []
            first_frame: Any = None
            last_frame: Any = None
            for frame in container.decode(stream):
                if first_frame is None:
                    first_frame = frame.reformat(width=dw, height=dh, format="bgr24",
                                                 interpolation="AREA").to_ndarray()
                last_frame = frame
                bgr.append(frame.reformat(width=aw, height=ah, format="bgr24",
                                          interpolation="AREA").to_ndarray())
                pts = frame.pts
                times.append(float(pts * time_base) if pts is not None and time_base is not None else None)
            if not bgr:
                raise MediaError(f"{path}: the video stream has no decodable frames",
                                 hint="re-render or re-download the clip")
            last_detail = last_frame.reformat(width=dw, height=dh, format="bgr24",
                                              interpolation="AREA").to_ndarray()
    except MediaError:
        raise
    except Exception as exc:  # PyAV raises many error types; all mean "not readable video"
        raise MediaError(
            f"{path}: not a readable video file ({type(exc).__name__}: {exc})",
            hint="re-render or re-download the clip; QC reads MP4/MOV/MKV/WebM",
        ) from exc

    n = len(bgr)
    known = [t for t in times if t is not None]
    if len(known) == n:
        t_arr = np.asarray(times, dtype=np.float64)
        t_arr -= t_arr[0]
        if fps <= 0 and n > 1 and t_arr[-1] > 0:
            fps = (n - 1) / t_arr[-1]
    else:
        fps = fps if fps > 0 else 30.0
        t_arr = np.arange(n, dtype=np.float64) / fps
    if fps <= 0:
        fps = 30.0
    frames = np.stack(bgr)
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in bgr])
    return ClipFrames(path=path, width=width, height=height, fps=fps, times=t_arr, bgr=frames, gray=gray,
                      first_detail=first_frame, last_detail=last_detail)
