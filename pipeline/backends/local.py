"""The embedded ``local`` backend: an offline, CPU-only image-to-video renderer with a real camera.

A shot's camera is planned by :func:`pipeline.camera.plan_camera` (from the recipe's ``camera:`` or the
prompt's camera verbs) and flown by a virtual pinhole camera over the photo:

* pan, tilt and zoom rotate the camera or change its lens: one homography per frame, no depth needed;
* push in / pull out (dolly), truck, pedestal and orbit move the camera: the photo is cut into depth layers
  (:mod:`pipeline.depth` — an estimate from image cues, or the shot's ``depth:`` image), each layer is a
  plane warped with its own homography per frame, nearer layers move more (parallax), and what they uncover
  is filled by inpainting done once per layer, not per frame.

The frame is fitted to the photo once (cover crop), then zoomed in just enough that no frame of the whole
path looks past the photo's edge (no black borders, no stretched edges); a path that would need more than
``max_overscan`` is scaled down, with a warning. Frames are piped raw into ffmpeg with the shared encoder
settings, with a silent AAC track, so the edit stage can stream-copy clips. The same request and seed give
identical frames.
"""

from __future__ import annotations

import os

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.backends.base import RenderContext, RenderRequest, RenderResult
from pipeline.camera import (
    CAMERA_HFOV_DEGREES,
    CAMERA_MOVES,
    MOVE_SPECS,
    CameraPlan,
    plan_camera,
    with_amounts,
)
from pipeline.errors import RecipeError, RenderError
from pipeline.media.encode import AUDIO_RATE, EncodeSettings, audio_args, video_args
from pipeline.media.ffmpeg import finish_ffmpeg_pipe, open_ffmpeg_pipe

__all__ = [
    "CAMERA_MOVES",
    "RENDERER_VERSION",
    "LocalBackend",
    "LocalRenderOptions",
    "camera_from_prompt",
    "load_image",
    "render_local_clip",
]

RENDERER_VERSION = "local-2"
"""Part of every local render's cache key: bump it when the renderer's output changes."""

_NEAR_FAR = 0.1  # disparity of the farthest point relative to the nearest (depth range 10:1)
_PARALLAX = {"dolly": 0.04, "truck": 0.04, "pedestal": 0.04, "orbit": 0.06}
"""At amount 1, the nearest layer moves this share of the frame width more than the farthest (for a dolly:
at the frame's edge). An orbit keeps its subject still, so it gets more, or it would hardly show."""
_ANALYSIS_SIZE = 512  # long side of the image the depth layers are planned on


@dataclass(frozen=True)
class LocalRenderOptions:
    """Renderer settings, from the recipe's ``backend:`` block (``{name: local, parallax: 0.5}``).

    Attributes:
        layers: depth layers for moves with parallax (1 turns parallax off; 2–8).
        parallax: scales the parallax of dolly, truck, pedestal and orbit moves (0..2, 1 = default). Below 1
            it flattens the depth (0: the camera still travels, the photo moves as one flat plane); above 1
            the camera travels farther.
        max_overscan: the most the renderer may zoom in to keep the camera path inside the photo; a path
            that needs more is scaled down, with a warning.
    """

    layers: int = 4
    parallax: float = 1.0
    max_overscan: float = 1.5

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LocalRenderOptions:
        """Read the options from a backend block; other keys are ignored.

        Raises:
            RecipeError: an option has a wrong type or is out of range.
        """
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in config and config[f.name] is not None:
                values[f.name] = config[f.name]
        try:
            opts = cls(layers=int(values.get("layers", cls.layers)),
                       parallax=float(values.get("parallax", cls.parallax)),
                       max_overscan=float(values.get("max_overscan", cls.max_overscan)))
        except (TypeError, ValueError) as exc:
            raise RecipeError(f"backend: a local renderer option is not a number ({exc})",
                              hint="layers is a whole number; parallax, max_overscan are numbers") from None
        if not 1 <= opts.layers <= 8:
            raise RecipeError(f"backend.layers must be 1..8, got {opts.layers}")
        if not 0.0 <= opts.parallax <= 2.0:
            raise RecipeError(f"backend.parallax must be 0..2, got {opts.parallax:g}")
        if not 1.0 <= opts.max_overscan <= 3.0:
            raise RecipeError(f"backend.max_overscan must be 1..3, got {opts.max_overscan:g}")
        return opts

    def cache_tag(self) -> str:
        """A short tag for the cache key: empty for the defaults, else a hash of the options."""
        if self == LocalRenderOptions():
            return ""
        text = f"{self.layers}|{self.parallax:.6g}|{self.max_overscan:.6g}"
        return hashlib.sha256(text.encode()).hexdigest()[:8]


def camera_from_prompt(prompt: str) -> str:
    """The first camera move the prompt asks for (``static`` if none moves). Kept for older callers; use
    :func:`pipeline.camera.plan_camera` for the full path."""
    return plan_camera(prompt, None, 4.0).primary_move


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


# -----------------------------------------------------------------------------------------------------------
# Camera geometry
# -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scene:
    """What the camera needs to know about the photo's depth (disparity = 1/depth, nearest = 1)."""

    planes: tuple[tuple[float, float, float], ...]  # per layer, nearness planes (see pipeline.depth.Plane)
    spread: float  # disparity range of the photo
    focus: float  # disparity of the subject (centre of the frame)


_FLAT_SCENE = _Scene(planes=((0.0, 0.0, 0.5),), spread=0.9, focus=0.55)


def _disparity(nearness: float | np.ndarray) -> Any:
    return _NEAR_FAR + (1.0 - _NEAR_FAR) * nearness


def _seed_jitter(plan: CameraPlan, seed: int) -> CameraPlan:
    """Scale default amounts by one factor in 0.9..1.1 drawn from the seed, so re-rolls differ a little.

    One factor for the whole plan keeps its shape (a pan left then right still returns); written amounts
    are not changed.
    """
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(f"{seed}".encode()).digest()[:8], "little"))
    factor = float(0.9 + 0.2 * rng.random())
    return with_amounts(plan, lambda seg: 1.0 if seg.explicit_amount else factor)


@dataclass(frozen=True)
class _Path:
    """Per-frame camera parameters, before the base zoom and the source size are applied."""

    yaw: np.ndarray  # radians, + turns right
    pitch: np.ndarray  # radians, + tips up
    zoom: np.ndarray  # focal length multiplier (lens zoom and dolly compensation)
    centre: np.ndarray  # (n, 3) camera position, in units of the nearest depth
    orbit: np.ndarray  # radians the camera has arced (its yaw is turned back by this much)


def _camera_path(plan: CameraPlan, times: np.ndarray, scene: _Scene, options: LocalRenderOptions,
                 motion: float) -> _Path:
    """Turn the plan's axis tracks into camera parameters for each frame time.

    Translations are sized by parallax: at amount 1, the nearest layer moves ``_PARALLAX[axis]`` of the
    frame width more than the farthest. Tracks are centred (pan, tilt, truck, pedestal, orbit) or start at
    their widest (zoom, dolly) so the path uses the photo evenly.
    """
    tracks = {k: v * motion for k, v in plan.axis_tracks(times).items()}
    for axis in ("yaw", "pitch", "truck", "pedestal", "orbit"):
        t = tracks[axis]
        tracks[axis] = t - (t.max() + t.min()) / 2.0 if t.size else t
    for axis in ("zoom", "dolly"):
        t = tracks[axis]
        tracks[axis] = t - t.min() if t.size else t
    nominal = {spec.axis: spec.nominal for spec in MOVE_SPECS.values() if spec.axis}
    tan_half = math.tan(math.radians(CAMERA_HFOV_DEGREES) / 2.0)
    focal_per_width = 0.5 / tan_half  # focal length in frame widths
    boost = max(1.0, options.parallax)  # below 1 the depth is flattened instead (see _Geometry.build)
    spread = max(scene.spread, 0.2)
    # a sideways move of 1 (in units of the nearest depth) shifts the nearest layer by focal * 1 and the
    # farthest by focal * (1 - spread): size it so the difference is the parallax share of the frame width
    shift = {axis: boost * p / (focal_per_width * spread) for axis, p in _PARALLAX.items()}
    n = times.size
    yaw = np.radians(tracks["yaw"] * nominal["yaw"])
    pitch = np.radians(tracks["pitch"] * nominal["pitch"])
    zoom = 1.0 + tracks["zoom"] * nominal["zoom"] / 100.0
    # dolly: travel sized by parallax; the lens makes up the rest of the subject's growth
    dolly = tracks["dolly"]
    subject_scale = 1.0 + dolly * nominal["dolly"] / 100.0
    # never closer than 60 % of the nearest depth
    tz = np.minimum(dolly * 2.0 * boost * _PARALLAX["dolly"] / spread, 0.4)
    zoom = zoom * subject_scale * (1.0 - tz * scene.focus)
    centre = np.zeros((n, 3))
    centre[:, 0] = tracks["truck"] * shift["truck"]
    centre[:, 1] = -tracks["pedestal"] * shift["pedestal"]  # image y points down: up is negative
    centre[:, 2] = tz
    # orbit: arc around the subject at depth 1/focus, turning to keep it centred
    arc = np.clip(tracks["orbit"] * shift["orbit"] * scene.focus, -0.5, 0.5)
    orbit = np.arcsin(arc)
    radius = 1.0 / max(scene.focus, 1e-3)
    centre[:, 0] += radius * np.sin(orbit)
    centre[:, 2] += radius * (1.0 - np.cos(orbit))
    return _Path(yaw=yaw, pitch=pitch, zoom=zoom, centre=centre, orbit=orbit)


def _rotations(yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Camera-to-world rotations (n, 3, 3): turn by ``yaw`` (right positive), then tip by ``pitch`` (up)."""
    n = yaw.size
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    zero, one = np.zeros(n), np.ones(n)
    r_yaw = np.stack([np.stack([cy, zero, sy], -1), np.stack([zero, one, zero], -1),
                      np.stack([-sy, zero, cy], -1)], 1)
    r_pitch = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, cp, -sp], -1),
                        np.stack([zero, sp, cp], -1)], 1)
    out: np.ndarray = r_yaw @ r_pitch
    return out


@dataclass(frozen=True)
class _Geometry:
    """Everything that maps source pixels to output pixels for one source size."""

    src_w: int
    src_h: int
    out_w: int
    out_h: int
    cover: float  # output pixels per source pixel when the frame is cover-fitted
    f_ref: float  # focal length of the photo's camera, in source pixels
    plane_w: tuple[np.ndarray, ...]  # per layer: disparity = w . (x, y, 1) in source pixels

    @classmethod
    def build(cls, src_w: int, src_h: int, out_w: int, out_h: int, scene: _Scene,
              relief: float = 1.0) -> _Geometry:
        """Geometry for a source of ``src_w`` x ``src_h`` pixels; ``relief`` (0..1) flattens the depth
        toward the subject's (0: one flat plane)."""
        cover = max(out_w / src_w, out_h / src_h)
        view_w = out_w / cover  # source pixels across the frame
        f_ref = (view_w / 2.0) / math.tan(math.radians(CAMERA_HFOV_DEGREES) / 2.0)
        cx, cy = (src_w - 1) / 2.0, (src_h - 1) / 2.0
        k = (1.0 - _NEAR_FAR) * relief  # disparity = focus + relief * (disparity(nearness) - focus)
        ws = []
        for a, b, c in scene.planes:
            alpha, beta = k * a / src_w, k * b / src_w
            gamma = scene.focus + relief * (_disparity(c) - scene.focus)
            ws.append(np.array([alpha, beta, gamma - alpha * cx - beta * cy]))
        return cls(src_w, src_h, out_w, out_h, cover, f_ref, tuple(ws))

    def k_ref_inv(self) -> np.ndarray:
        cx, cy = (self.src_w - 1) / 2.0, (self.src_h - 1) / 2.0
        return np.array([[1.0 / self.f_ref, 0.0, -cx / self.f_ref], [0.0, 1.0 / self.f_ref, -cy / self.f_ref],
                         [0.0, 0.0, 1.0]])

    def motions(self, path: _Path) -> np.ndarray:
        """(frames, layers, 3, 3): each layer's plane-induced motion ``R K_ref^-1 + t w^T`` per frame."""
        r = np.transpose(_rotations(path.yaw - path.orbit, path.pitch), (0, 2, 1))  # world-to-camera
        t = -np.einsum("nij,nj->ni", r, path.centre)
        rk = r @ self.k_ref_inv()
        w = np.stack(self.plane_w)  # (layers, 3)
        out: np.ndarray = rk[:, None, :, :] + t[:, None, :, None] * w[None, :, None, :]
        return out

    def k_out(self, focal: float) -> np.ndarray:
        return np.array([[focal, 0.0, (self.out_w - 1) / 2.0], [0.0, focal, (self.out_h - 1) / 2.0],
                         [0.0, 0.0, 1.0]])

    def focal(self, base_zoom: float, zoom: np.ndarray) -> np.ndarray:
        """Output focal length (output pixels) per frame."""
        return self.f_ref * self.cover * base_zoom * zoom

    def inside(self, motions: np.ndarray, focal: np.ndarray, margin: float = 1.0) -> bool:
        """True when every output frame, for every layer, maps to points inside the source image."""
        qx = np.array([0.0, self.out_w - 1.0, 0.0, self.out_w - 1.0]) - (self.out_w - 1) / 2.0
        qy = np.array([0.0, 0.0, self.out_h - 1.0, self.out_h - 1.0]) - (self.out_h - 1) / 2.0
        # K_out^-1 q for the four corners, per frame: (frames, 3, 4)
        rays = np.empty((focal.size, 3, 4))
        rays[:, 0, :] = qx[None, :] / focal[:, None]
        rays[:, 1, :] = qy[None, :] / focal[:, None]
        rays[:, 2, :] = 1.0
        try:
            inv = np.linalg.inv(motions)  # (frames, layers, 3, 3)
        except np.linalg.LinAlgError:
            return False
        pts = np.einsum("nkij,njc->nkic", inv, rays)
        z = pts[:, :, 2, :]
        if np.any(z <= 1e-9):
            return False
        x, y = pts[:, :, 0, :] / z, pts[:, :, 1, :] / z
        return bool(np.all(x >= margin) and np.all(x <= self.src_w - 1 - margin)
                    and np.all(y >= margin) and np.all(y <= self.src_h - 1 - margin))


def _solve_framing(geometry: _Geometry, plan: CameraPlan, times: np.ndarray, scene: _Scene,
                   options: LocalRenderOptions) -> tuple[float, float, list[str]]:
    """The smallest base zoom (>= 1) that keeps the whole path inside the photo, and the motion scale.

    Returns ``(base_zoom, motion, warnings)``; ``motion`` < 1 when the path had to be scaled down.
    """
    def fits(base: float, motion: float) -> bool:
        path = _camera_path(plan, times, scene, options, motion)
        return geometry.inside(geometry.motions(path), geometry.focal(base, path.zoom))

    # check a subsample of frames while searching (the path is smooth), all frames at the end
    def zoom_for(motion: float) -> float | None:
        if fits(1.0, motion):
            return 1.0
        if not fits(options.max_overscan, motion):
            return None
        lo, hi = 1.0, options.max_overscan
        for _ in range(18):
            mid = (lo + hi) / 2.0
            lo, hi = (lo, mid) if fits(mid, motion) else (mid, hi)
        return hi

    warnings: list[str] = []
    base = zoom_for(1.0)
    motion = 1.0
    if base is None:
        lo, hi = 0.0, 1.0
        for _ in range(14):
            mid = (lo + hi) / 2.0
            lo, hi = (mid, hi) if zoom_for(mid) is not None else (lo, mid)
        motion = lo
        base = zoom_for(motion) or options.max_overscan
        warnings.append(f"the camera path needs more picture than the image has: moves reduced to "
                        f"{motion:.0%} of the size asked for (use smaller amounts, or a wider image)")
    return base, motion, warnings


# -----------------------------------------------------------------------------------------------------------
# Rendering
# -----------------------------------------------------------------------------------------------------------


def _analysis_image(src: np.ndarray) -> np.ndarray:
    import cv2

    h, w = src.shape[:2]
    scale = min(1.0, _ANALYSIS_SIZE / max(h, w))
    if scale >= 1.0:
        return src
    return cv2.resize(src, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def _nearness(analysis: np.ndarray, depth: Path | None) -> np.ndarray:
    """Nearness for the analysis copy of the photo: from the depth image when given, else estimated."""
    from pipeline.depth import estimate_depth, load_depth

    if depth is not None:
        return load_depth(Path(depth), (analysis.shape[1], analysis.shape[0]))
    return estimate_depth(analysis)


def _scene_from(nearness: np.ndarray, layers: int) -> tuple[_Scene, list[float]]:
    from pipeline.depth import fit_planes, layer_bounds

    bounds = layer_bounds(nearness, layers)
    planes = fit_planes(nearness, bounds)
    h, w = nearness.shape
    centre = nearness[h // 4: 3 * h // 4, w // 4: 3 * w // 4]
    lo, hi = (float(v) for v in np.percentile(nearness, (2, 98)))
    scene = _Scene(planes=tuple(planes), spread=(1.0 - _NEAR_FAR) * (hi - lo),
                   focus=float(_disparity(float(np.median(centre)))))
    return scene, bounds


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
    on_frame: Callable[[int, int], None] | None = None,
    depth: Path | None = None,
    options: LocalRenderOptions | None = None,
) -> dict[str, Any]:
    """Render ``image`` into an MP4 clip at ``dest`` with a planned, moving virtual camera.

    Args:
        image: the reference image.
        dest: the output file (the caller makes it atomic).
        seconds, width, height, fps: the clip's length and format; frames = round(seconds * fps).
        camera: the recipe's ``camera:`` (a name, a phrase, or keyframes), or None to read the prompt.
        prompt: the shot's prompt (camera verbs).
        seed: varies default move sizes by up to ±10 %, deterministically.
        settings: encoder settings (shared with the edit stage).
        on_frame: optional callback ``on_frame(done, total)``.
        depth: an optional depth image (bright = near) for parallax moves; estimated when None.
        options: renderer options (layers, parallax, max overscan).

    Returns:
        A JSON-ready dict: ``move`` (the first move), ``frames``, ``renderer``, ``camera`` (the plan as
        rendered), ``depth`` (``estimated``, ``file`` or ``none``), ``layers``, ``overscan``, ``warnings``.

    Raises:
        RenderError: the image or depth file is unreadable, or the camera value is invalid.
        MediaError: ffmpeg failed.
    """
    import cv2

    settings = settings or EncodeSettings()
    options = options or LocalRenderOptions()
    try:
        plan = plan_camera(prompt, camera, seconds)
    except RecipeError as exc:
        raise RenderError(exc.message, hint=exc.hint) from None
    plan = _seed_jitter(plan, seed)
    src = load_image(image)
    n = max(1, round(seconds * fps))
    times = np.arange(n, dtype=np.float64) / fps

    # depth is planned on a small copy of the photo, so the framing can be solved before the final resize
    use_depth = plan.needs_depth and options.layers > 1 and options.parallax > 0
    scene = _FLAT_SCENE
    bounds: list[float] = []
    small_nearness: np.ndarray | None = None
    if use_depth:
        small_nearness = _nearness(_analysis_image(src), depth)
        scene, bounds = _scene_from(small_nearness, options.layers)
    relief = min(1.0, options.parallax)
    geometry = _Geometry.build(src.shape[1], src.shape[0], width, height, scene, relief)
    base_zoom, motion, render_warnings = _solve_framing(geometry, plan, times, scene, options)
    path = _camera_path(plan, times, scene, options, motion)

    # resize the photo once so each frame samples it near 1:1 (faster, and no aliasing when it is large)
    nearest_scale = 1.0 / (1.0 - float(path.centre[:, 2].max()))  # how much the nearest layer can grow
    needed = geometry.cover * base_zoom * float(path.zoom.max()) * nearest_scale
    if needed < 1.0 / 1.5:
        f = needed * 1.25
        src = cv2.resize(src, (max(2, round(src.shape[1] * f)), max(2, round(src.shape[0] * f))),
                         interpolation=cv2.INTER_AREA)
        geometry = _Geometry.build(src.shape[1], src.shape[0], width, height, scene, relief)

    if small_nearness is not None:
        from pipeline.depth import build_layers, load_depth, refine_depth

        nearness = (load_depth(Path(depth), (src.shape[1], src.shape[0])) if depth is not None
                    else refine_depth(small_nearness, src))
        built = build_layers(src, nearness, bounds, list(scene.planes))
        layer_images = [_Layer.from_bgra(layer.image, opaque=k == 0) for k, layer in enumerate(built)]
    else:
        layer_images = [_Layer.from_bgra(cv2.cvtColor(src, cv2.COLOR_BGR2BGRA), opaque=True)]

    motions = geometry.motions(path)
    focal = geometry.focal(base_zoom, path.zoom)
    what = f"encoding the local render of {image.name}"
    args = [
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "pipe:0",
        "-f", "lavfi", "-i", f"anullsrc=r={AUDIO_RATE}:cl=stereo",
        "-map", "0:v", "-map", "1:a", "-t", f"{n / fps:.6f}",
        *video_args(settings, fps), *audio_args(settings),
        "-r", str(fps), "-frames:v", str(n), "-movflags", "+faststart", str(dest),
    ]
    proc = open_ffmpeg_pipe(args, what=what)
    assert proc.stdin is not None
    previous: tuple[bytes, bytes] | None = None  # (pose key, frame) — holds repeat the frame exactly
    try:
        for i in range(n):
            key = motions[i].tobytes() + focal[i:i + 1].tobytes()
            if previous is not None and previous[0] == key:
                frame_bytes = previous[1]
            else:
                k_out = geometry.k_out(float(focal[i]))
                frame = _compose(layer_images, [k_out @ motions[i, k] for k in range(len(layer_images))],
                                 width, height)
                frame_bytes = frame.tobytes()
                previous = (key, frame_bytes)
            proc.stdin.write(frame_bytes)
            if on_frame is not None:
                on_frame(i + 1, n)
    except BrokenPipeError:
        pass  # ffmpeg died; finish_ffmpeg_pipe reports why
    finally:
        finish_ffmpeg_pipe(proc, what=what)
    return {
        "move": plan.primary_move,
        "frames": n,
        "renderer": RENDERER_VERSION,
        "camera": plan.to_dict(),
        "depth": ("file" if depth is not None else "estimated") if use_depth else "none",
        "layers": len(layer_images),
        "overscan": round(base_zoom, 4),
        "motion_scale": round(motion, 4),
        "warnings": [*plan.warnings, *render_warnings],
    }


@dataclass(frozen=True)
class _Layer:
    """A layer ready for per-frame warping: premultiplied BGRA and the box where its alpha is non-zero."""

    bgra: np.ndarray
    box: tuple[int, int, int, int]  # x, y, width, height in source pixels
    opaque: bool

    @classmethod
    def from_bgra(cls, bgra: np.ndarray, *, opaque: bool) -> _Layer:
        import cv2

        if opaque:
            return cls(bgra, (0, 0, bgra.shape[1], bgra.shape[0]), True)
        alpha = bgra[:, :, 3]
        premultiplied = bgra.copy()
        for c in range(3):  # premultiplied colour: warping then blends colour and coverage consistently
            premultiplied[:, :, c] = cv2.multiply(bgra[:, :, c], alpha, scale=1.0 / 255.0)
        x, y, w, h = cv2.boundingRect((alpha > 0).astype(np.uint8))
        return cls(premultiplied, (x, y, w, h), False)


def _warp(image: np.ndarray, homography: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Warp ``image`` by ``homography`` (source to output) into an image of ``size`` (transparent outside).

    When the homography is affine to within 0.05 px over the output (every truck and pedestal frame, most
    dolly frames), the cheaper affine warp is used; the pixels differ by less than interpolation noise.
    """
    import cv2

    w, h = size
    inverse = np.linalg.inv(homography)  # output -> source
    probe = np.array([[0.0, 0.0, 1.0], [w, 0.0, 1.0], [0.0, h, 1.0], [w, h, 1.0], [w / 2, h / 2, 1.0]]).T
    mapped = inverse @ probe
    src = (mapped[:2] / mapped[2]).T.astype(np.float32)
    affine = cv2.getAffineTransform(probe[:2, :3].T.astype(np.float32), src[:3])
    error = np.abs(affine @ probe[:, 3:] - src[3:].T).max()
    flags = cv2.INTER_LINEAR
    if error < 0.05:
        out: np.ndarray = cv2.warpAffine(image, affine, size, flags=flags | cv2.WARP_INVERSE_MAP,
                                         borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    else:
        out = cv2.warpPerspective(image, homography, size, flags=flags, borderMode=cv2.BORDER_CONSTANT,
                                  borderValue=(0, 0, 0, 0))
    return out


def _compose(layers: list[_Layer], homographies: list[np.ndarray], width: int, height: int) -> np.ndarray:
    """Warp each layer with its homography and stack them back to front into one BGR frame.

    The first layer is opaque and fills the frame. Each nearer layer is warped only inside the box its
    pixels land in, and composited there with premultiplied alpha (``out = fg + out * (1 - a)``).
    """
    import cv2

    out = _warp(layers[0].bgra, homographies[0], (width, height))
    for layer, h in zip(layers[1:], homographies[1:]):
        bx, by, bw, bh = layer.box
        if bw == 0 or bh == 0:
            continue
        corners = np.array([[bx, by, 1.0], [bx + bw, by, 1.0], [bx, by + bh, 1.0], [bx + bw, by + bh, 1.0]]).T
        mapped = h @ corners
        xs, ys = mapped[0] / mapped[2], mapped[1] / mapped[2]
        x0, y0 = max(0, math.floor(xs.min()) - 2), max(0, math.floor(ys.min()) - 2)
        x1, y1 = min(width, math.ceil(xs.max()) + 2), min(height, math.ceil(ys.max()) + 2)
        if x1 <= x0 or y1 <= y0:
            continue
        shift = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0], [0.0, 0.0, 1.0]])
        warped = _warp(layer.bgra, shift @ h, (x1 - x0, y1 - y0))
        inverse = 255 - warped[:, :, 3]
        kept = cv2.multiply(out[y0:y1, x0:x1], cv2.merge([inverse] * 4), scale=1.0 / 255.0)
        out[y0:y1, x0:x1] = cv2.add(kept, warped)
    frame: np.ndarray = cv2.cvtColor(out, cv2.COLOR_BGRA2BGR)
    return frame


class LocalBackend:
    """The offline, CPU-only backend (the embedded default).

    Args:
        config: the recipe's ``backend:`` block; ``layers``, ``parallax`` and ``max_overscan`` tune the
            renderer (see :class:`LocalRenderOptions`), other keys are ignored.
    """

    name = "local"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = dict(config or {})
        self.options = LocalRenderOptions.from_config(self.config)
        # shots render side by side: each keeps one core busy warping frames in Python while its ffmpeg
        # encodes on the other, so two at a time fill a small machine
        self.concurrency = int(self.config.get("concurrency") or min(2, os.cpu_count() or 1))

    def estimate_cost(self, request: RenderRequest) -> float:
        """Local renders are free."""
        return 0.0

    def preflight(self, request: RenderRequest) -> list[str]:
        """Check the request; return the camera plan's warnings (unsupported moves, timing, clamping).

        Raises:
            RenderError: no image, a missing depth file, or an invalid camera value.
        """
        if request.image is None:
            raise RenderError(f"shot {request.shot_id!r}: the local backend needs an image",
                              shot_id=request.shot_id,
                              hint="give the shot an image:, or use remix_of only with a hosted backend")
        if request.depth is not None and not Path(request.depth).is_file():
            raise RenderError(f"shot {request.shot_id!r}: depth image not found: {request.depth}",
                              shot_id=request.shot_id, hint="check the shot's depth: path")
        try:
            plan = plan_camera(request.prompt, request.camera, request.seconds)
        except RecipeError as exc:
            raise RenderError(f"shot {request.shot_id!r}: {exc.message}", shot_id=request.shot_id,
                              hint=exc.hint) from None
        return self._config_warnings() + list(plan.warnings)

    _KNOWN_KEYS = ("name", "model", "concurrency", "layers", "parallax", "max_overscan", "strict", "recipe_dir")

    def _config_warnings(self) -> list[str]:
        """Unknown keys in the backend block (a typo would otherwise be silently ignored)."""
        import difflib

        out = []
        for key in self.config:
            if key not in self._KNOWN_KEYS:
                close = difflib.get_close_matches(key, self._KNOWN_KEYS, n=1)
                out.append(f"backend.{key} is not a local backend setting and is ignored"
                           + (f" (did you mean {close[0]!r}?)" if close else ""))
        return out

    def version(self) -> str:
        """The renderer version for cache keys (with a tag when the options differ from the defaults)."""
        tag = self.options.cache_tag()
        return f"{RENDERER_VERSION}+{tag}" if tag else RENDERER_VERSION

    def render(self, request: RenderRequest, dest: Path, ctx: RenderContext) -> RenderResult:
        """Render ``request`` into ``dest``, then sign it with ``ctx.signer`` when the run signs."""
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
            on_frame=frame_progress, depth=request.depth, options=self.options,
        )
        info["backend"] = self.name
        if ctx.signer is not None:
            ctx.signer(dest, request, info)
        return RenderResult(path=dest, info=info)
