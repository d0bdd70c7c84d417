"""The embedded ``local`` backend: a procedural image-to-video renderer that runs offline on a CPU.

It fits the reference image to the frame (cover-crop) and moves a virtual camera across it with smooth
easing and sub-pixel warps (OpenCV ``warpAffine``), piping raw frames into ffmpeg. Every clip gets a silent
AAC track so the edit stage treats all clips alike. Output is deterministic for a given request.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.backends.base import RenderContext, RenderRequest, RenderResult
from pipeline.errors import RenderError
from pipeline.media.encode import AUDIO_RATE, EncodeSettings, audio_args, video_args
from pipeline.media.ffmpeg import finish_ffmpeg_pipe, open_ffmpeg_pipe

__all__ = ["CAMERA_MOVES", "LocalBackend", "RENDERER_VERSION", "camera_from_prompt", "load_image",
           "render_local_clip"]

RENDERER_VERSION = "local-1"
"""Part of every local render's cache key: bump it when the renderer's output changes."""

CAMERA_MOVES = ("static", "push_in", "pull_out", "pan_left", "pan_right", "tilt_up", "tilt_down")

_PROMPT_VERBS: list[tuple[str, str]] = [
    (r"\b(push(es|ing)?|dolly|zoom(s|ing)?|mov(e|es|ing)) in\b", "push_in"),
    (r"\b(pull(s|ing)?|dolly|zoom(s|ing)?|mov(e|es|ing)) (out|back)\b", "pull_out"),
    (r"\bpan(s|ning)? left\b", "pan_left"),
    (r"\bpan(s|ning)? right\b", "pan_right"),
    (r"\btilt(s|ing)? up\b", "tilt_up"),
    (r"\btilt(s|ing)? down\b", "tilt_down"),
    (r"\b(static|locked[- ]off|still camera|no camera movement)\b", "static"),
]


def camera_from_prompt(prompt: str) -> str:
    """Pick a camera move from camera verbs in ``prompt``: the first one mentioned wins; default push-in."""
    best: tuple[int, str] | None = None
    for pattern, move in _PROMPT_VERBS:
        m = re.search(pattern, prompt, flags=re.IGNORECASE)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), move)
    return best[1] if best else "push_in"


def load_image(path: Path) -> np.ndarray:
    """Read an image as BGR uint8, or raise RenderError naming the file."""
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8) if path.exists() else None
    if data is None:
        raise RenderError(f"{path}: image not found", hint="check the shot's image: path")
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise RenderError(f"{path}: not a readable image", hint="use a JPEG, PNG or WebP file")
    return img


def _ease(t: np.ndarray | float) -> Any:
    """Smooth start and stop (cubic smoothstep) on 0..1."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class _Pose:
    zoom: float  # 1.0 = the cover-fitted frame
    x: float  # offset of the view centre, in fractions of the free travel (-1..1)
    y: float


def _poses(move: str, n: int, amount: float) -> list[_Pose]:
    t = _ease(np.linspace(0.0, 1.0, n)) if n > 1 else np.zeros(1)
    zoom_travel = 0.15 * amount
    pan_zoom = 1.0 + 0.12 * amount  # zoom in a little so a pan has room to travel
    out = []
    for s in np.atleast_1d(t):
        s = float(s)
        if move == "push_in":
            out.append(_Pose(1.0 + zoom_travel * s, 0.0, 0.0))
        elif move == "pull_out":
            out.append(_Pose(1.0 + zoom_travel * (1.0 - s), 0.0, 0.0))
        elif move == "pan_left":  # the camera turns left: the view moves left, content moves right
            out.append(_Pose(pan_zoom, 1.0 - 2.0 * s, 0.0))
        elif move == "pan_right":
            out.append(_Pose(pan_zoom, -1.0 + 2.0 * s, 0.0))
        elif move == "tilt_up":  # the view moves up, content moves down
            out.append(_Pose(pan_zoom, 0.0, 1.0 - 2.0 * s))
        elif move == "tilt_down":
            out.append(_Pose(pan_zoom, 0.0, -1.0 + 2.0 * s))
        else:
            out.append(_Pose(1.0, 0.0, 0.0))
    return out


def _affine(src_w: int, src_h: int, out_w: int, out_h: int, pose: _Pose) -> np.ndarray:
    """The 2x3 matrix mapping source pixels to output pixels for ``pose`` (cover fit, then zoom/offset)."""
    cover = max(out_w / src_w, out_h / src_h)
    scale = cover * pose.zoom
    view_w, view_h = out_w / scale, out_h / scale  # the visible window in source pixels
    free_x, free_y = (src_w - view_w) / 2.0, (src_h - view_h) / 2.0
    cx = src_w / 2.0 + pose.x * max(free_x, 0.0)
    cy = src_h / 2.0 + pose.y * max(free_y, 0.0)
    # out = scale * (src - (cx, cy)) + (out_w/2, out_h/2), with pixel centres at +0.5
    tx = out_w / 2.0 - scale * cx + 0.5 * (scale - 1.0)
    ty = out_h / 2.0 - scale * cy + 0.5 * (scale - 1.0)
    return np.array([[scale, 0.0, tx], [0.0, scale, ty]], dtype=np.float64)


def render_local_clip(
    image: Path,
    dest: Path,
    *,
    seconds: float,
    width: int,
    height: int,
    fps: int,
    camera: Any = None,
    prompt: str = "",
    seed: int = 0,
    settings: EncodeSettings | None = None,
    on_frame: Any = None,
) -> dict[str, Any]:
    """Render ``image`` into an MP4 clip at ``dest`` with a moving virtual camera.

    Args:
        image: the reference image.
        dest: the output file (the caller makes it atomic).
        seconds, width, height, fps: the clip's length and format; frames = round(seconds * fps).
        camera: a move from :data:`CAMERA_MOVES`, or None to read it from ``prompt``.
        prompt: the shot's prompt (camera verbs).
        seed: varies the amount of motion slightly, deterministically.
        on_frame: optional callback ``on_frame(done, total)``.

    Returns:
        A dict describing what was rendered (move, frames).
    """
    import cv2

    settings = settings or EncodeSettings()
    src = load_image(image)
    move = camera if isinstance(camera, str) and camera in CAMERA_MOVES else camera_from_prompt(prompt)
    n = max(1, int(round(seconds * fps)))
    # the seed nudges the amount of motion by up to ±10 %, so re-rolls differ but stay gentle
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(f"{seed}".encode()).digest()[:8], "little"))
    amount = float(0.9 + 0.2 * rng.random())
    # pre-scale a large source down once, so each frame warps from a right-sized image (faster, less aliasing)
    cover = max(width / src.shape[1], height / src.shape[0])
    max_zoom = 1.0 + 0.2 * amount
    if cover * max_zoom < 0.5:
        f = cover * max_zoom * 1.5
        src = cv2.resize(src, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    src_h, src_w = src.shape[:2]

    args = [
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "pipe:0",
        "-f", "lavfi", "-i", f"anullsrc=r={AUDIO_RATE}:cl=stereo",
        "-map", "0:v", "-map", "1:a", "-t", f"{n / fps:.6f}",
        *video_args(settings, fps), *audio_args(settings),
        "-r", str(fps), "-frames:v", str(n), "-movflags", "+faststart", str(dest),
    ]
    proc = open_ffmpeg_pipe(args, what=f"encoding the local render of {image.name}")
    assert proc.stdin is not None
    try:
        for i, pose in enumerate(_poses(move, n, amount)):
            m = _affine(src_w, src_h, width, height, pose)
            frame = cv2.warpAffine(src, m, (width, height), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT101)
            proc.stdin.write(frame.tobytes())
            if on_frame is not None:
                on_frame(i + 1, n)
    except BrokenPipeError:
        pass  # ffmpeg died; finish_ffmpeg_pipe reports why
    finally:
        finish_ffmpeg_pipe(proc, what=f"encoding the local render of {image.name}")
    return {"move": move, "frames": n, "renderer": RENDERER_VERSION}


class LocalBackend:
    """The offline, CPU-only backend (the embedded default)."""

    name = "local"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = dict(config or {})

    def estimate_cost(self, request: RenderRequest) -> float:
        return 0.0

    def preflight(self, request: RenderRequest) -> list[str]:
        if request.image is None:
            raise RenderError(f"shot {request.shot_id!r}: the local backend needs an image",
                              shot_id=request.shot_id)
        return []

    def version(self) -> str:
        return RENDERER_VERSION

    def render(self, request: RenderRequest, dest: Path, ctx: RenderContext) -> RenderResult:
        if request.image is None:
            raise RenderError(f"shot {request.shot_id!r}: the local backend needs an image",
                              shot_id=request.shot_id,
                              hint="give the shot an image:, or use remix_of only with a hosted backend")

        def frame_progress(done: int, total: int) -> None:
            if done == total or done % 10 == 0:
                ctx.on_progress(request.shot_id, "rendering", done / total)

        info = render_local_clip(
            request.image, dest, seconds=request.seconds, width=request.width, height=request.height,
            fps=request.fps, camera=request.camera, prompt=request.prompt, seed=request.seed,
            on_frame=frame_progress,
        )
        info["backend"] = self.name
        if ctx.signer is not None:
            ctx.signer(dest, request, info)
        return RenderResult(path=dest, info=info)
