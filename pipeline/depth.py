"""Depth for 2.5D parallax, with no model weights: a monocular estimate from image cues, or a depth image.

Depth here is *nearness*: a float32 map in ``[0, 1]`` where 1 is nearest and 0 farthest — the convention of
the depth images that MiDaS, Depth Anything and most depth tools write (bright = near). A user-supplied depth
image (``depth:`` on a shot) is read in the same convention.

The estimate (:func:`estimate_depth`) combines three cues that hold for most photographs:

* *ground plane*: lower in the frame is nearer (the camera looks at a floor, a street, a landscape);
* *sky*: a smooth, bright or blue region connected to the top edge is as far as anything gets;
* *focus*: sharp detail is nearer than soft detail (photographers focus on the subject in front).

It then refines the map edge-aware with a guided filter (He et al., 2010), so depth edges follow the
image's edges and an object moves as one piece.

For rendering, the map is cut into a few layers (:func:`layer_bounds`), each with a fitted plane
(:func:`fit_planes`) that gives it its own perspective as the camera moves, and colour behind the nearer
layers filled in once per layer by inpainting (:func:`build_layers`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.errors import RenderError

__all__ = [
    "DepthLayer",
    "Plane",
    "build_layers",
    "estimate_depth",
    "fit_planes",
    "guided_filter",
    "layer_bounds",
    "load_depth",
    "refine_depth",
    "sky_mask",
]

Plane = tuple[float, float, float]
"""A nearness plane ``n(u, v) = a*u + b*v + c``, where ``u, v`` are pixel offsets from the image centre
divided by the image width (so it holds at any resolution)."""

_WORK_SIZE = 384  # long side of the image the estimate is computed at


def _gray01(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3:
        image = cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2GRAY)
    return image.astype(np.float32) / (65535.0 if image.dtype == np.uint16 else 255.0)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Edge-preserving smoothing of ``src`` steered by the edges of ``guide`` (He, Sun & Tang, 2010).

    Args:
        guide: grayscale float32 image in [0, 1] (same size as ``src``).
        src: the float32 map to filter.
        radius: window radius in pixels.
        eps: regularisation; smaller keeps more of the guide's edges (1e-4 .. 1e-2 for a [0, 1] guide).

    Returns:
        The filtered map, float32.
    """
    ksize = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, cv2.CV_32F, ksize, borderType=cv2.BORDER_REFLECT)

    g = guide.astype(np.float32)
    p = src.astype(np.float32)
    mean_g, mean_p = box(g), box(p)
    cov_gp = box(g * p) - mean_g * mean_p
    var_g = box(g * g) - mean_g * mean_g
    a = cov_gp / (var_g + eps)
    b = mean_p - a * mean_g
    out: np.ndarray = box(a) * g + box(b)
    return out


def sky_mask(image: np.ndarray) -> np.ndarray:
    """Where the sky is: smooth, bright or blue regions that touch the top edge and sit in the upper half.

    Args:
        image: BGR uint8.

    Returns:
        A boolean mask of the image's size.
    """
    h, w = image.shape[:2]
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    hue, sat, val = (hsv[:, :, i].astype(np.float32) for i in range(3))
    gray = _gray01(image)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    texture = cv2.GaussianBlur(np.abs(gx) + np.abs(gy), (0, 0), max(1.0, w / 100.0))
    smooth = texture < 0.08
    blue = (hue > 85) & (hue < 135) & (sat > 25) & (val > 35)
    bright = (val > 150) & (sat < 60)  # overcast, haze
    candidate = cv2.morphologyEx((smooth & (blue | bright)).astype(np.uint8), cv2.MORPH_OPEN,
                                 np.ones((3, 3), np.uint8))
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(candidate, connectivity=4)
    sky = np.zeros((h, w), dtype=bool)
    for i in range(1, count):
        top = stats[i, cv2.CC_STAT_TOP]
        area = stats[i, cv2.CC_STAT_AREA]
        if top <= max(1, h // 50) and centroids[i][1] < h * 0.5 and area > 0.01 * h * w:
            sky |= labels == i
    sky[int(h * 0.8):] = False  # the bottom of a frame is ground, whatever its colour
    return sky


def estimate_depth(image: np.ndarray) -> np.ndarray:
    """Estimate nearness (1 = near, 0 = far) from one BGR image, with no learned weights.

    Cues: lower in the frame is nearer, sky is farthest, sharp detail is nearer than soft detail; then an
    edge-aware refinement (guided filter) snaps depth edges to image edges. Deterministic.

    Args:
        image: BGR uint8, any size.

    Returns:
        float32 nearness in [0, 1], the image's size.
    """
    h, w = image.shape[:2]
    scale = min(1.0, _WORK_SIZE / max(h, w))
    small = cv2.resize(image, (max(8, round(w * scale)), max(8, round(h * scale))),
                       interpolation=cv2.INTER_AREA) if scale < 1.0 else image
    sh, sw = small.shape[:2]
    gray = _gray01(small)
    # ground plane: nearness grows toward the bottom of the frame
    rows = np.linspace(0.0, 1.0, sh, dtype=np.float32)[:, None]
    ground = np.broadcast_to(rows, (sh, sw))
    # focus: local energy of the Laplacian, smoothed over a region, relative to the sharpest regions
    lap = np.abs(cv2.Laplacian(cv2.GaussianBlur(gray, (0, 0), 0.8), cv2.CV_32F, ksize=3))
    energy = cv2.GaussianBlur(lap, (0, 0), max(2.0, sw / 30.0))
    top = float(np.percentile(energy, 95)) or 1.0
    sharp = np.clip(energy / top, 0.0, 1.0)
    nearness = 0.55 * ground + 0.45 * sharp
    sky = sky_mask(small)
    if sky.any():
        nearness = np.where(sky, 0.0, nearness).astype(np.float32)
    # edge-aware refinement: coarse to fine, so regions become coherent and edges follow the image
    nearness = guided_filter(gray, nearness, max(2, sw // 24), 1e-3)
    nearness = guided_filter(gray, nearness, max(2, sw // 64), 1e-4)
    if sky.any():
        nearness = np.where(sky, np.minimum(nearness, 0.02), nearness)
    lo, hi = (float(v) for v in np.percentile(nearness, (1, 99)))
    nearness = np.clip((nearness - lo) / max(hi - lo, 1e-6), 0.0, 1.0).astype(np.float32)
    if (sh, sw) != (h, w):
        return refine_depth(nearness, image)
    return nearness


def refine_depth(nearness: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Upsample a nearness map to ``image``'s size, snapping its edges to the image's edges.

    Args:
        nearness: float32 map in [0, 1] at any size.
        image: BGR uint8 at the target size (the guide).

    Returns:
        float32 nearness in [0, 1] at the image's size.
    """
    h, w = image.shape[:2]
    up = cv2.resize(nearness.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    radius = max(2, round(max(h, w) / max(nearness.shape) * 2))
    out: np.ndarray = np.clip(guided_filter(_gray01(image), up, radius, 1e-4), 0.0, 1.0).astype(np.float32)
    return out


def load_depth(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Read a depth image (bright = near) as nearness in [0, 1] at ``size`` = (width, height).

    8- and 16-bit grayscale or colour images are accepted; the map is stretched to the full [0, 1] range.

    Raises:
        RenderError: the file is missing or unreadable, or its aspect ratio differs from the image's.
    """
    if not path.is_file():
        raise RenderError(f"{path}: depth image not found", hint="check the shot's depth: path")
    data = np.fromfile(str(path), dtype=np.uint8)
    depth = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_GRAYSCALE) if data.size else None
    if depth is None:
        raise RenderError(f"{path}: not a readable depth image",
                          hint="use an 8- or 16-bit grayscale PNG where bright is near")
    w, h = size
    dh, dw = depth.shape[:2]
    if abs(dw / dh - w / h) > 0.02 * (w / h):
        raise RenderError(f"{path}: the depth image is {dw}x{dh}, a different shape from the image ({w}x{h})",
                          hint="export the depth map at the image's aspect ratio")
    d = depth.astype(np.float32)
    lo, hi = float(d.min()), float(d.max())
    d = (d - lo) / (hi - lo) if hi > lo else np.full_like(d, 0.5)
    return cv2.resize(d, (w, h), interpolation=cv2.INTER_LINEAR if (dw, dh) != (w, h) else cv2.INTER_NEAREST)


# ----------------------------------------------------------------------------------------------------------
# Layers
# ----------------------------------------------------------------------------------------------------------


def layer_bounds(nearness: np.ndarray, count: int, *, min_gap: float = 0.08) -> list[float]:
    """Nearness values that cut the map into at most ``count`` layers (ascending; ``count - 1`` or fewer).

    The cuts sit between clusters of a 1-D k-means on nearness (seeded at quantiles, so it is
    deterministic); cuts closer than ``min_gap`` are merged, and a flat map gives no cuts (one layer).
    """
    if count <= 1:
        return []
    step_y, step_x = max(1, nearness.shape[0] // 128), max(1, nearness.shape[1] // 128)
    values = np.sort(nearness[::step_y, ::step_x].ravel())
    if values[-1] - values[0] < min_gap:
        return []
    centres = np.quantile(values, (np.arange(count) + 0.5) / count)
    for _ in range(20):
        cuts = (centres[1:] + centres[:-1]) / 2.0
        idx = np.searchsorted(cuts, values)
        new = np.array([values[idx == k].mean() if np.any(idx == k) else centres[k] for k in range(count)])
        if np.allclose(new, centres, atol=1e-5):
            break
        centres = new
    cuts = sorted(float(c) for c in (centres[1:] + centres[:-1]) / 2.0)
    merged: list[float] = []
    for c in cuts:
        inside = c - values[0] >= min_gap / 2 and values[-1] - c >= min_gap / 2
        if inside and (not merged or c - merged[-1] >= min_gap):
            merged.append(c)
    return merged


def _uv(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape
    u = (np.arange(w, dtype=np.float32) - (w - 1) / 2.0) / w
    v = (np.arange(h, dtype=np.float32) - (h - 1) / 2.0) / w
    return u, v


def fit_planes(nearness: np.ndarray, bounds: list[float], *, flatten: float = 1.0) -> list[Plane]:
    """Fit a nearness plane to each layer (farthest first), so a layer tilts like the surface it shows.

    Args:
        nearness: the map.
        bounds: from :func:`layer_bounds`.
        flatten: how much of the fitted slope to keep (0 = every layer faces the camera, 1 = full fit); a
            fitted slope is also reduced until the plane stays within [0, 1.2] across the whole frame.

    Returns:
        One :data:`Plane` per layer.
    """
    h, w = nearness.shape
    step = max(1, max(h, w) // 160)
    n = nearness[::step, ::step]
    u, v = _uv((h, w))
    uu, vv = np.meshgrid(u[::step], v[::step])
    labels = np.searchsorted(np.asarray(bounds), n, side="right") if bounds else np.zeros(n.shape, dtype=int)
    corners_u = np.array([u[0], u[-1], u[0], u[-1]])
    corners_v = np.array([v[0], v[0], v[-1], v[-1]])
    planes: list[Plane] = []
    for k in range(len(bounds) + 1):
        sel = labels == k
        if sel.sum() < 12:
            lo = bounds[k - 1] if k > 0 else 0.0
            hi = bounds[k] if k < len(bounds) else 1.0
            planes.append((0.0, 0.0, (lo + hi) / 2.0))
            continue
        A = np.stack([uu[sel], vv[sel], np.ones(int(sel.sum()))], axis=1).astype(np.float64)
        coef, *_ = np.linalg.lstsq(A, n[sel].astype(np.float64), rcond=None)
        a, b, c = (float(x) for x in coef)
        mean_u, mean_v = float(uu[sel].mean()), float(vv[sel].mean())
        centre = a * mean_u + b * mean_v + c  # the plane's value at the layer's centroid stays put
        keep = flatten
        for _ in range(20):
            ka, kb = a * keep, b * keep
            kc = centre - ka * mean_u - kb * mean_v
            vals = ka * corners_u + kb * corners_v + kc
            if vals.min() >= 0.0 and vals.max() <= 1.2:
                break
            keep *= 0.7
        else:
            ka, kb, kc = 0.0, 0.0, centre
        planes.append((ka, kb, float(np.clip(kc, 0.0, 1.2))))
    return planes


@dataclass(frozen=True)
class DepthLayer:
    """One depth layer, ready to warp.

    Attributes:
        image: BGRA uint8 at the source's size. Colour is the photo where this layer or anything farther
            shows, and inpainted where nearer layers cover it (what a moving camera may uncover). Alpha is
            this layer's coverage: everything at least as near as its lower bound, with a soft edge.
        plane: the layer's nearness plane (see :data:`Plane`).
        lower: the nearness where this layer starts (0 for the farthest).
    """

    image: np.ndarray
    plane: Plane
    lower: float


def _inpaint(image: np.ndarray, hole: np.ndarray, work_size: int = 256) -> np.ndarray:
    """Fill ``hole`` (bool) in ``image`` (BGR) from its surroundings, at a reduced size for speed."""
    h, w = image.shape[:2]
    scale = min(1.0, work_size / max(h, w))
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole.astype(np.uint8) * 255, size, interpolation=cv2.INTER_AREA) > 0
    filled = cv2.inpaint(small, small_hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    # smooth the fill a little: Telea leaves streaks along the hole's border direction
    filled = np.where(small_hole[:, :, None], cv2.GaussianBlur(filled, (0, 0), 1.5), filled)
    up = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
    out: np.ndarray = np.where(hole[:, :, None], up, image)
    return out


def build_layers(image: np.ndarray, nearness: np.ndarray, bounds: list[float], planes: list[Plane], *,
                 softness: float = 0.03) -> list[DepthLayer]:
    """Cut ``image`` into depth layers, farthest first, each with the colour behind nearer layers filled.

    Layer ``k`` covers every pixel at least as near as its lower bound (layers are nested, so whatever a
    nearer layer uncovers, a farther one shows). Its edge is a ramp over ``±softness`` of nearness: narrow
    at a depth edge (an occlusion), wide on a smooth slope, where two layers then cross-fade instead of
    tearing apart. Under the part of nearer layers that is fully opaque (plus a small margin), the colour
    is inpainted, so a moving foreground uncovers background rather than a copy of itself.

    Args:
        image: BGR uint8.
        nearness: float32 map of the image's size.
        bounds: from :func:`layer_bounds` (``len(planes) - 1`` values).
        planes: from :func:`fit_planes`.
        softness: half-width of the edge ramp, in nearness.

    Returns:
        ``len(bounds) + 1`` layers; the first is opaque.
    """
    h, w = image.shape[:2]
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    ramps: list[np.ndarray] = [np.ones((h, w), dtype=np.float32)]
    for b in bounds:
        ramp = np.clip((nearness - b) / (2.0 * softness) + 0.5, 0.0, 1.0).astype(np.float32)
        ramps.append(cv2.GaussianBlur(ramp, (0, 0), 0.8))  # anti-aliased even where the ramp is a step
    layers: list[DepthLayer] = []
    for k in range(len(bounds) + 1):
        lower = bounds[k - 1] if k > 0 else 0.0
        alpha = np.round(ramps[k] * 255.0).astype(np.uint8)
        colour = image
        if k < len(bounds):
            hole = cv2.dilate((ramps[k + 1] > 0.98).astype(np.uint8), kernel).astype(bool)
            if hole.any():
                colour = _inpaint(image, hole)
        layers.append(DepthLayer(image=np.dstack([colour, alpha]), plane=planes[k], lower=lower))
    return layers
