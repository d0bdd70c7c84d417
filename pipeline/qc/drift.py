"""Drift from the reference image: align a frame to the reference, then compare structure and colour.

Image-to-video models start from the reference image, then wander. The first frame is compared with the
reference after aligning the two (ORB features and a RANSAC similarity transform; the reference is
cover-fitted to the frame as a starting point and as the fallback when features do not match), so a crop,
a zoom or a pan does not count as drift. Structure is compared with SSIM on luma, colour with the
Bhattacharyya distance of CIELAB histograms, both only where the aligned reference covers the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import MediaError

__all__ = ["Comparison", "compare_to_reference", "load_reference", "ssim"]

_COMPARE_LONG_SIDE = 256  # generated frames keep the layout, not the fine texture: compare coarse
_MIN_INLIERS = 12
_MIN_OVERLAP = 0.3


@dataclass(frozen=True)
class Comparison:
    """How a frame compares with a reference image.

    Attributes:
        ssim: structural similarity of luma over the overlap (1 = identical).
        colour: Bhattacharyya distance of CIELAB colour histograms over the overlap (0 = identical).
        aligned: whether feature matching found the transform (False: the cover-fit fallback was used).
        inliers: features agreeing with that transform.
        overlap: fraction of the frame the aligned reference covers.
    """

    ssim: float
    colour: float
    aligned: bool
    inliers: int
    overlap: float


def load_reference(path: Path) -> np.ndarray:
    """Read a reference image as BGR uint8.

    Raises:
        MediaError: it is missing or not a readable image; the message names it.
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: reference image not found", hint="check the --reference / image: path")
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise MediaError(f"{path}: not a readable image", hint="use a JPEG, PNG or WebP reference image")
    return image


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean structural similarity of two same-sized grayscale images (Gaussian window, sigma 1.5).

    With ``mask`` (bool), the mean is taken over the masked pixels only.
    """
    import cv2

    x = a.astype(np.float32)
    y = b.astype(np.float32)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(img: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(img, (7, 7), 1.5)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    smap = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    if mask is not None:
        if not mask.any():
            return 0.0
        return float(smap[mask].mean())
    return float(smap.mean())


def _colour_distance(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Bhattacharyya distance (0 same, 1 disjoint) of 8x8x8-bin CIELAB histograms over ``mask``.

    Lab rather than hue/saturation: hue is noise in dark and grey pixels, which made a correct reference
    of a night sky read as a colour mismatch.
    """
    import cv2

    m = mask.astype(np.uint8) * 255
    hists: list[np.ndarray] = []
    for img in (a, b):
        lab = cv2.cvtColor(img, cv2.COLOR_BGR2LAB)
        h = cv2.calcHist([lab], [0, 1, 2], m, [8, 8, 8], [0, 256, 0, 256, 0, 256])
        total = float(h.sum())
        hists.append(np.asarray(h / total if total > 0 else h, dtype=np.float32))
    return float(cv2.compareHist(hists[0], hists[1], cv2.HISTCMP_BHATTACHARYYA))


def _cover_fit(ref: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Scale ``ref`` to cover ``width x height``; return it and the centred-crop transform."""
    import cv2

    scale = max(width / ref.shape[1], height / ref.shape[0])
    size = (max(1, round(ref.shape[1] * scale)), max(1, round(ref.shape[0] * scale)))
    scaled = cv2.resize(ref, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    matrix = np.array([[1.0, 0.0, (width - size[0]) / 2.0], [0.0, 1.0, (height - size[1]) / 2.0]])
    return scaled, matrix


def _feature_transform(ref: np.ndarray, frame: np.ndarray) -> tuple[np.ndarray | None, int]:
    import cv2

    orb = cv2.ORB.create(nfeatures=1500)
    g_ref = cv2.cvtColor(ref, cv2.COLOR_BGR2GRAY)
    g_frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    kp_r, des_r = orb.detectAndCompute(g_ref, None)
    kp_f, des_f = orb.detectAndCompute(g_frame, None)
    if des_r is None or des_f is None or len(kp_r) < _MIN_INLIERS or len(kp_f) < _MIN_INLIERS:
        return None, 0
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(des_r, des_f)
    if len(matches) < _MIN_INLIERS:
        return None, 0
    src = np.array([kp_r[m.queryIdx].pt for m in matches], dtype=np.float32)
    dst = np.array([kp_f[m.trainIdx].pt for m in matches], dtype=np.float32)
    matrix, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0)
    count = int(inliers.sum()) if inliers is not None else 0
    if matrix is None or count < _MIN_INLIERS:
        return None, count
    scale = math.hypot(float(matrix[0, 0]), float(matrix[1, 0]))
    if not 0.4 < scale < 3.0:
        return None, count
    return matrix, count


def compare_to_reference(frame: np.ndarray, reference: np.ndarray) -> Comparison:
    """Align ``reference`` (BGR, any size) onto ``frame`` (BGR) and compare them over the overlap."""
    import cv2

    h, w = frame.shape[:2]
    scaled, matrix = _cover_fit(reference, w, h)
    found, inliers = _feature_transform(scaled, frame)
    aligned = False
    ones = np.full(scaled.shape[:2], 255, dtype=np.uint8)
    if found is not None:
        found_cover = cv2.warpAffine(ones, found, (w, h), flags=cv2.INTER_NEAREST)
        if float((found_cover > 0).mean()) >= _MIN_OVERLAP:
            matrix, aligned = found, True
    warped = cv2.warpAffine(scaled, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    cover_u8 = cv2.warpAffine(ones, matrix, (w, h), flags=cv2.INTER_NEAREST)
    cover = cv2.erode(cover_u8, np.ones((5, 5), np.uint8)) > 0
    overlap = float(cover.mean())
    # compare coarse: models keep the layout, not the texture
    f = _COMPARE_LONG_SIDE / max(w, h)
    size = (max(8, round(w * f)), max(8, round(h * f)))
    small_frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    small_ref = cv2.resize(warped, size, interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(cover.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    if not small_mask.any():
        return Comparison(ssim=0.0, colour=1.0, aligned=False, inliers=inliers, overlap=0.0)
    score = ssim(cv2.cvtColor(small_frame, cv2.COLOR_BGR2GRAY), cv2.cvtColor(small_ref, cv2.COLOR_BGR2GRAY),
                 small_mask)
    colour = _colour_distance(small_frame, small_ref, small_mask)
    return Comparison(ssim=score, colour=colour, aligned=aligned, inliers=inliers, overlap=overlap)
