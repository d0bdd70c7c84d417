"""Depth for the local renderer: the weight-free estimate, depth images, layers (pipeline.depth)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.depth import (
    build_layers,
    estimate_depth,
    fit_planes,
    guided_filter,
    layer_bounds,
    load_depth,
    sky_mask,
)
from pipeline.errors import RenderError


def _landscape(width: int = 480, height: int = 320) -> np.ndarray:
    """Smooth blue sky over textured ground whose texture gets finer toward the horizon."""
    rng = np.random.default_rng(5)
    img = np.zeros((height, width, 3), dtype=np.uint8)
    horizon = int(height * 0.4)
    rows = np.linspace(0, 1, horizon)[:, None]
    img[:horizon, :, 0] = (235 - 30 * rows).astype(np.uint8)  # B
    img[:horizon, :, 1] = (170 - 20 * rows).astype(np.uint8)  # G
    img[:horizon, :, 2] = (110 - 10 * rows).astype(np.uint8)  # R
    ground = rng.random((height - horizon, width, 3)).astype(np.float32)
    ground = cv2.GaussianBlur(ground, (0, 0), 1.0)
    img[horizon:] = np.clip(60 + 120 * ground * np.array([0.5, 0.9, 0.7]), 0, 255).astype(np.uint8)
    return img


def test_estimate_puts_the_sky_far_and_the_bottom_near() -> None:
    img = _landscape()
    nearness = estimate_depth(img)
    assert nearness.shape == img.shape[:2] and nearness.dtype == np.float32
    assert 0.0 <= nearness.min() and nearness.max() <= 1.0
    sky = nearness[: int(320 * 0.35)]
    bottom = nearness[-40:]
    just_below_horizon = nearness[int(320 * 0.45): int(320 * 0.5)]
    assert sky.mean() < 0.1
    assert bottom.mean() > just_below_horizon.mean() + 0.2 > sky.mean()


def test_sky_mask_finds_the_sky_only() -> None:
    img = _landscape()
    mask = sky_mask(img)
    assert mask[: int(320 * 0.35)].mean() > 0.95
    assert mask[int(320 * 0.45):].mean() < 0.02
    # a blue object that does not touch the top edge is not sky
    blob = np.full((200, 300, 3), 120, dtype=np.uint8)
    blob[80:140, 100:200] = (230, 170, 110)
    assert not sky_mask(blob).any()


def test_estimate_is_deterministic_and_works_on_small_and_large_images() -> None:
    img = _landscape()
    assert np.array_equal(estimate_depth(img), estimate_depth(img))
    big = cv2.resize(img, (1600, 1066), interpolation=cv2.INTER_CUBIC)
    assert estimate_depth(big).shape == (1066, 1600)
    assert estimate_depth(img[:24, :32]).shape == (24, 32)


def test_sharp_subject_is_nearer_than_a_blurred_background() -> None:
    rng = np.random.default_rng(2)
    texture = (rng.random((320, 480, 3)) * 255).astype(np.uint8)
    img = cv2.GaussianBlur(texture, (0, 0), 6)  # a soft, out-of-focus background
    img[100:220, 180:300] = texture[100:220, 180:300]  # a sharp subject in the middle
    nearness = estimate_depth(img)
    subject = nearness[130:190, 210:270].mean()
    beside = nearness[130:190, 30:90].mean()  # same rows, so the ground-plane cue is equal
    assert subject > beside + 0.2


def test_guided_filter_keeps_edges_that_a_blur_would_smear() -> None:
    guide = np.zeros((64, 64), dtype=np.float32)
    guide[:, 32:] = 1.0
    rng = np.random.default_rng(0)
    noisy = guide + rng.normal(0, 0.2, guide.shape).astype(np.float32)
    filtered = guided_filter(guide, noisy, 6, 1e-3)
    blurred = cv2.blur(noisy, (13, 13))
    assert np.abs(filtered[:, 28:30] - 0.0).mean() < 0.1 and np.abs(filtered[:, 34:36] - 1.0).mean() < 0.1
    assert np.abs(blurred[:, 30] - 0.0).mean() > 0.2  # a box blur of the same size smears the edge
    assert filtered[:, :28].std() < noisy[:, :28].std() / 3  # and the noise is smoothed away


def test_load_depth_reads_8_and_16_bit_bright_is_near(tmp_path: Path) -> None:
    ramp8 = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))
    cv2.imwrite(str(tmp_path / "d8.png"), ramp8)
    ramp16 = np.tile(np.linspace(1000, 60000, 64).astype(np.uint16), (48, 1))
    cv2.imwrite(str(tmp_path / "d16.png"), ramp16)
    for name in ("d8.png", "d16.png"):
        nearness = load_depth(tmp_path / name, (128, 96))
        assert nearness.shape == (96, 128)
        assert nearness[:, 0].mean() == pytest.approx(0.0, abs=0.01)
        assert nearness[:, -1].mean() == pytest.approx(1.0, abs=0.01)
    flat = tmp_path / "flat.png"
    cv2.imwrite(str(flat), np.full((48, 64), 80, dtype=np.uint8))
    assert np.allclose(load_depth(flat, (64, 48)), 0.5)


def test_load_depth_rejects_missing_unreadable_and_misshapen_files(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="depth image not found"):
        load_depth(tmp_path / "missing.png", (64, 48))
    (tmp_path / "junk.png").write_bytes(b"junk")
    with pytest.raises(RenderError, match="not a readable depth image"):
        load_depth(tmp_path / "junk.png", (64, 48))
    cv2.imwrite(str(tmp_path / "square.png"), np.zeros((64, 64), dtype=np.uint8))
    with pytest.raises(RenderError, match="different shape"):
        load_depth(tmp_path / "square.png", (160, 90))


def test_layer_bounds_split_clusters_and_leave_flat_maps_whole() -> None:
    two = np.zeros((100, 100), dtype=np.float32)
    two[:, 50:] = 0.9
    bounds = layer_bounds(two, 4)
    assert len(bounds) == 1 and 0.2 < bounds[0] < 0.7
    assert layer_bounds(np.full((50, 50), 0.4, dtype=np.float32), 4) == []
    ramp = np.tile(np.linspace(0, 1, 200, dtype=np.float32)[:, None], (1, 50))
    ramp_bounds = layer_bounds(ramp, 4)
    assert len(ramp_bounds) == 3 and ramp_bounds == sorted(ramp_bounds)
    assert layer_bounds(ramp, 1) == []


def test_planes_fit_a_ground_plane_and_join_at_the_cuts() -> None:
    ramp = np.tile(np.linspace(0, 1, 200, dtype=np.float32)[:, None], (1, 300))
    bounds = layer_bounds(ramp, 3)
    planes = fit_planes(ramp, bounds)
    assert len(planes) == 3
    for a, b, _c in planes:
        assert abs(a) < 1e-3 and b > 0  # nearness grows downward, not sideways
    # adjacent planes agree where they meet, so a slope does not tear at the layer edges
    v_cut = [((np.interp(cut, [0, 1], [0, 199])) - 99.5) / 300 for cut in bounds]
    for k, v in enumerate(v_cut):
        lower, upper = planes[k], planes[k + 1]
        assert lower[1] * v + lower[2] == pytest.approx(upper[1] * v + upper[2], abs=0.02)


def test_build_layers_nests_alphas_and_fills_behind_the_foreground() -> None:
    img = np.zeros((120, 160, 3), dtype=np.uint8)
    img[:] = (40, 160, 40)  # green background
    img[40:80, 60:100] = (30, 30, 220)  # red square in front
    nearness = np.zeros((120, 160), dtype=np.float32)
    nearness[40:80, 60:100] = 1.0
    bounds = layer_bounds(nearness, 4)
    layers = build_layers(img, nearness, bounds, fit_planes(nearness, bounds))
    assert len(layers) == 2
    back, front = layers
    assert (back.image[:, :, 3] == 255).all()  # the farthest layer is opaque
    assert front.image[60, 80, 3] == 255 and front.image[10, 10, 3] == 0
    # behind the square, the back layer shows background colour, not the square's red
    assert back.image[60, 80, 1] > 120 and back.image[60, 80, 2] < 100
    assert back.plane[2] < front.plane[2]
