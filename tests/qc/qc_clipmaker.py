"""Test clips for QC: a clean pan made from a sample photo, and the defects to inject into copies of it.

Frames are built with OpenCV/NumPy and piped raw into ffmpeg (the way the local renderer encodes), at
320x180, 30 fps, 3 s, so the whole set encodes and analyses in seconds on two cores.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from pipeline.media.encode import EncodeSettings, video_args
from pipeline.media.ffmpeg import finish_ffmpeg_pipe, open_ffmpeg_pipe

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
W, H, FPS, SECONDS = 320, 180, 30, 3.0
N = int(FPS * SECONDS)
PAN_PX_S = 24.0  # a steady pan, so every frame changes a little


def pan_frames(image: Path, n: int = N, *, width: int = W, height: int = H, fps: int = FPS,
               speed: float = PAN_PX_S) -> list[np.ndarray]:
    """A constant-speed horizontal pan across ``image``, cover-fitted with room to travel."""
    src = cv2.imread(str(image), cv2.IMREAD_COLOR)
    assert src is not None, image
    travel = speed * n / fps
    scale = max((width + travel + 4) / src.shape[1], height / src.shape[0])
    ty = (height - src.shape[0] * scale) / 2.0
    frames = []
    for i in range(n):
        x = 2.0 + i * speed / fps
        matrix = np.array([[scale, 0.0, -x], [0.0, scale, ty]], dtype=np.float64)
        frames.append(cv2.warpAffine(src, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT101))
    return frames


def encode(frames: list[np.ndarray], dest: Path, *, fps: int = FPS) -> Path:
    """Encode BGR frames to an H.264 MP4 with the project's encoder settings."""
    h, w = frames[0].shape[:2]
    args = ["-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0",
            *video_args(EncodeSettings(), fps), "-an", str(dest)]
    proc = open_ffmpeg_pipe(args, what=f"encoding test clip {dest.name}")
    assert proc.stdin is not None
    try:
        for frame in frames:
            proc.stdin.write(np.ascontiguousarray(frame).tobytes())
    finally:
        finish_ffmpeg_pipe(proc, what=f"encoding test clip {dest.name}")
    return dest


def shifted(frame: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``frame`` moved by (dx, dy) pixels, edges reflected."""
    matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    return cv2.warpAffine(frame, matrix, (frame.shape[1], frame.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT101)


def _black(frames: list[np.ndarray]) -> list[np.ndarray]:
    frames[45] = np.zeros_like(frames[45])  # 1.50 s
    return frames


def _blank(frames: list[np.ndarray]) -> list[np.ndarray]:
    frames[45] = np.full_like(frames[45], 150)  # 1.50 s, flat grey
    return frames


def _white_flash(frames: list[np.ndarray]) -> list[np.ndarray]:
    f = frames[60].astype(np.float32)  # 2.00 s: 60 % white, the picture still shows through
    frames[60] = np.clip(f * 0.4 + 255 * 0.6, 0, 255).astype(np.uint8)
    return frames


def _colour_flash(frames: list[np.ndarray]) -> list[np.ndarray]:
    f = frames[30].astype(np.int16)  # 1.00 s: a magenta cast for one frame, brightness about the same
    f[..., 2] += 40
    f[..., 0] += 40
    f[..., 1] -= 35
    frames[30] = np.clip(f, 0, 255).astype(np.uint8)
    return frames


def _freeze(frames: list[np.ndarray]) -> list[np.ndarray]:
    for i in range(30, 60):  # 1.00–2.00 s
        frames[i] = frames[30].copy()
    return frames


def _shake(frames: list[np.ndarray]) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    for i in range(30, 75):  # 1.00–2.50 s
        dx, dy = rng.uniform(-4.0, 4.0, size=2)
        frames[i] = shifted(frames[i], float(dx), float(dy))
    return frames


def _pulse(frames: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for i, f in enumerate(frames):  # 4 Hz, ±6 levels, all through
        delta = 6.0 * np.sin(2 * np.pi * 4.0 * i / FPS)
        out.append(np.clip(f.astype(np.float32) + delta, 0, 255).astype(np.uint8))
    return out


def _cut(frames: list[np.ndarray]) -> list[np.ndarray]:
    other = pan_frames(SAMPLES / "chelsea.jpg")
    return frames[:45] + other[45:]  # 1.50 s


DEFECTS: dict[str, Callable[[list[np.ndarray]], list[np.ndarray]]] = {
    "black": _black,
    "blank": _blank,
    "white_flash": _white_flash,
    "colour_flash": _colour_flash,
    "freeze": _freeze,
    "shake": _shake,
    "pulse": _pulse,
    "cut": _cut,
}
