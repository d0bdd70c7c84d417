"""The local renderer: motion measured with optical flow, clean edges, determinism, format, backend API."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from pipeline.backends.base import RenderContext, RenderRequest
from pipeline.backends.local import (
    CAMERA_MOVES,
    RENDERER_VERSION,
    LocalBackend,
    LocalRenderOptions,
    camera_from_prompt,
    render_local_clip,
)
from pipeline.errors import RecipeError, RenderError
from pipeline.media.probe import count_frames, probe

W, H, FPS = 320, 180, 24


def _texture(path: Path, width: int = 480, height: int = 320, seed: int = 1) -> Path:
    """A colourful, richly textured test photo with no dark pixels (so a black border would show)."""
    rng = np.random.default_rng(seed)
    noise = rng.random((height, width, 3)).astype(np.float32)
    fine = cv2.GaussianBlur(noise, (0, 0), 1.2)
    coarse = cv2.GaussianBlur(rng.random((height, width, 3)).astype(np.float32), (0, 0), 8)
    img = 0.6 * (fine - fine.min()) / np.ptp(fine) + 0.4 * (coarse - coarse.min()) / np.ptp(coarse)
    cv2.imwrite(str(path), np.round(70 + 180 * img).astype(np.uint8))
    return path


def _halves_depth(path: Path, width: int = 480, height: int = 320) -> Path:
    """A depth image (bright = near): the left half is near, the right half far."""
    depth = np.zeros((height, width), dtype=np.uint8)
    depth[:, : width // 2] = 255
    cv2.imwrite(str(path), depth)
    return path


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _texture(tmp_path_factory.mktemp("photo") / "photo.png")


@pytest.fixture(scope="module")
def depth_map(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _halves_depth(tmp_path_factory.mktemp("depth") / "depth.png")


def _render(photo: Path, dest: Path, *, seconds: float = 1.5, fps: int = FPS, **kw: Any) -> dict[str, Any]:
    return render_local_clip(photo, dest, seconds=seconds, width=W, height=H, fps=fps, **kw)


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ga, gb = (cv2.cvtColor(x, cv2.COLOR_BGR2GRAY) for x in (a, b))
    return cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 3, 21, 3, 5, 1.2, 0)


@pytest.fixture
def measure(tmp_path: Path, photo: Path) -> Callable[..., dict[str, float]]:
    """Render a move and measure the optical flow in the middle of it (frames 16 -> 20 of 36).

    Returns mean ``dx``, ``dy`` (content motion in pixels), ``scale`` (expansion about the centre, per
    frame step), and the same for the left (``near_*``) and right (``far_*``) thirds of the frame.
    """

    def _measure(**kw: Any) -> dict[str, float]:
        dest = tmp_path / "clip.mp4"
        _render(photo, dest, **kw)
        frames = _frames(dest)
        flow = _flow(frames[16], frames[20])[10:-10, 10:-10]
        h, w = flow.shape[:2]
        xs = np.arange(w) - (w - 1) / 2.0
        ys = np.arange(h)[:, None] - (h - 1) / 2.0
        dx, dy = flow[:, :, 0], flow[:, :, 1]
        radial = (dx * xs + dy * ys) / (xs ** 2 + ys ** 2 + 1.0)

        def region(sl: slice) -> dict[str, float]:
            return {"dx": float(dx[:, sl].mean()), "dy": float(dy[:, sl].mean()),
                    "scale": float((dx[:, sl] * np.sign(xs[sl])).mean() / np.abs(xs[sl]).mean())}

        out = {"dx": float(dx.mean()), "dy": float(dy.mean()), "scale": float(radial[20:-20, 20:-20].mean()),
               "magnitude": float(np.hypot(dx, dy).mean())}
        out.update({f"near_{k}": v for k, v in region(slice(0, w // 3)).items()})
        out.update({f"far_{k}": v for k, v in region(slice(2 * w // 3, w)).items()})
        return out

    return _measure


# ---- motion goes the way the words say ---------------------------------------------------------------------

# camera name -> check on the measured flow (content motion: a pan left slides the picture right)
MOTION: dict[str, Callable[[dict[str, float]], bool]] = {
    "static": lambda m: m["magnitude"] < 0.05,
    "hold": lambda m: m["magnitude"] < 0.05,
    "pan_left": lambda m: m["dx"] > 1.0 and abs(m["dy"]) < 0.3 * m["dx"],
    "pan_right": lambda m: m["dx"] < -1.0 and abs(m["dy"]) < 0.3 * -m["dx"],
    "tilt_up": lambda m: m["dy"] > 0.5 and abs(m["dx"]) < 0.3 * m["dy"],
    "tilt_down": lambda m: m["dy"] < -0.5 and abs(m["dx"]) < 0.3 * -m["dy"],
    "zoom_in": lambda m: m["scale"] > 0.003,
    "zoom_out": lambda m: m["scale"] < -0.003,
    "push_in": lambda m: m["scale"] > 0.003,
    "dolly_in": lambda m: m["scale"] > 0.003,
    "pull_out": lambda m: m["scale"] < -0.003,
    "dolly_out": lambda m: m["scale"] < -0.003,
    "truck_left": lambda m: m["dx"] > 0.3,
    "truck_right": lambda m: m["dx"] < -0.3,
    "pedestal_up": lambda m: m["dy"] > 0.3,
    "pedestal_down": lambda m: m["dy"] < -0.3,
    # orbit left: the camera arcs left around the subject, so the foreground slides right, the background left
    "orbit_left": lambda m: m["near_dx"] > 0.2 and m["far_dx"] < -0.2,
    "orbit_right": lambda m: m["near_dx"] < -0.2 and m["far_dx"] > 0.2,
}


def test_every_camera_name_has_a_motion_check() -> None:
    assert set(MOTION) == set(CAMERA_MOVES)


@pytest.mark.parametrize("move", sorted(MOTION))
def test_every_verb_moves_the_way_it_says(move: str, measure: Callable[..., dict[str, float]],
                                          depth_map: Path) -> None:
    m = measure(camera=move, depth=depth_map)
    assert MOTION[move](m), m


@pytest.mark.parametrize(("prompt", "check"), [
    ("Slow pan left.", lambda m: m["dx"] > 0.5),
    ("The camera tilts up slowly", lambda m: m["dy"] > 0.3),
    ("push in while panning right", lambda m: m["scale"] > 0.002 and m["dx"] < -0.5),
    ("Камера делает наезд", lambda m: m["scale"] > 0.003),
])
def test_prompt_verbs_drive_the_same_motion(prompt: str, check: Callable[[dict[str, float]], bool],
                                            measure: Callable[..., dict[str, float]]) -> None:
    m = measure(prompt=prompt)
    assert check(m), m


def test_parallax_moves_near_layers_more_than_far(measure: Callable[..., dict[str, float]],
                                                  depth_map: Path) -> None:
    truck = measure(camera="truck_right", depth=depth_map)
    assert truck["near_dx"] < 2.0 * truck["far_dx"] < 0, truck  # both slide left, the near half much more
    pedestal = measure(camera="pedestal_up", depth=depth_map)
    assert pedestal["near_dy"] > 2.0 * pedestal["far_dy"] > 0, pedestal
    push = measure(camera="push_in", depth=depth_map)
    assert push["near_scale"] > 1.3 * push["far_scale"] > 0, push


def test_pan_tilt_and_zoom_need_no_depth(tmp_path: Path, photo: Path, depth_map: Path,
                                         measure: Callable[..., dict[str, float]]) -> None:
    zoom = measure(camera="zoom_in", depth=depth_map)
    assert zoom["near_scale"] == pytest.approx(zoom["far_scale"], rel=0.25), zoom  # one flat image
    for move in ("pan_left", "tilt_up", "zoom_out"):
        assert _render(photo, tmp_path / f"{move}.mp4", seconds=0.5, camera=move)["depth"] == "none"
    assert _render(photo, tmp_path / "t.mp4", seconds=0.5, camera="truck_left")["depth"] == "estimated"


def test_estimated_depth_bottom_moves_more_than_top(tmp_path: Path, photo: Path) -> None:
    """On a uniformly textured photo the estimate falls back to the ground-plane cue: lower is nearer."""
    dest = tmp_path / "truck.mp4"
    _render(photo, dest, camera=[{"move": "truck_right", "amount": 2}])
    frames = _frames(dest)
    flow = _flow(frames[16], frames[20])[10:-10, 10:-10]
    top, bottom = flow[: flow.shape[0] // 4, :, 0].mean(), flow[-flow.shape[0] // 4:, :, 0].mean()
    assert bottom < 1.5 * top < 0, (top, bottom)


def test_a_hold_has_no_motion_and_the_move_after_it_does(tmp_path: Path, photo: Path) -> None:
    dest = tmp_path / "hold.mp4"
    info = _render(photo, dest, seconds=2.0, prompt="Start static 0.5 s, then 1.5 s pan left")
    assert info["camera"]["holds"] == [[0.0, 0.5]]
    frames = _frames(dest)
    still = _flow(frames[2], frames[10])  # 0.08 s .. 0.42 s: inside the hold
    moving = _flow(frames[24], frames[28])  # 1.0 s .. 1.17 s: mid pan
    assert np.abs(still).mean() < 0.05
    assert moving[:, :, 0].mean() > 1.0


def test_layers_put_the_photo_back_together(tmp_path: Path) -> None:
    """Before a push in starts, the layered frame shows the photo as a flat render does (no seams, no
    inpainted patches showing)."""
    photo = Path(__file__).resolve().parents[2] / "samples" / "coffee.jpg"
    first = {}
    for camera in ("static", "push_in"):
        dest = tmp_path / f"{camera}.mp4"
        info = _render(photo, dest, seconds=0.25, fps=12, camera=camera)
        first[camera] = _frames(dest)[0].astype(np.float32)
        assert info["layers"] == (1 if camera == "static" else 4)
    mse = float(((first["static"] - first["push_in"]) ** 2).mean())
    assert 10 * np.log10(255 ** 2 / mse) > 34


def test_pan_left_then_right_comes_back(tmp_path: Path, photo: Path) -> None:
    dest = tmp_path / "back.mp4"
    _render(photo, dest, seconds=2.0, prompt="pan left, then pan right")
    frames = _frames(dest)
    first, middle, last = (cv2.cvtColor(frames[i], cv2.COLOR_BGR2GRAY).astype(np.float32)
                           for i in (0, 23, 47))
    assert np.abs(first - last).mean() < 0.3 * np.abs(first - middle).mean()


# ---- clean edges -------------------------------------------------------------------------------------------


def _edge_report(frames: list[np.ndarray]) -> tuple[int, float]:
    """(darkest pixel in the 2-pixel frame border over all frames, smallest edge/interior texture ratio)."""
    darkest = 255
    ratio = np.inf
    for f in frames:
        border = np.concatenate([f[:2].reshape(-1, 3), f[-2:].reshape(-1, 3), f[:, :2].reshape(-1, 3),
                                 f[:, -2:].reshape(-1, 3)])
        darkest = min(darkest, int(border.max(axis=1).min()))
        g = f.astype(np.float32).mean(axis=2)
        interior = np.abs(np.diff(g[:, 20:-20], axis=1)).mean()
        edges = min(np.abs(g[:, 0] - g[:, 1]).mean(), np.abs(g[:, -1] - g[:, -2]).mean(),
                    np.abs(g[0] - g[1]).mean(), np.abs(g[-1] - g[-2]).mean())
        ratio = min(ratio, edges / interior)
    return darkest, ratio


EDGE_CASES: list[dict[str, Any]] = [
    *({"camera": m} for m in CAMERA_MOVES if m not in ("static", "hold", "dolly_in", "dolly_out")),
    {"prompt": "Start static 0.5 s, 2 s slow push in, 1 s hold, 1.5 s pan left"},
    {"prompt": "push in while panning right, then tilt up"},
    {"prompt": "gentle orbit left and pedestal up"},
    {"prompt": "fast truck left, then pan right"},
    {"prompt": "pull out and tilt down"},
]


@pytest.mark.parametrize("case", EDGE_CASES, ids=[str(next(iter(c.values()))) for c in EDGE_CASES])
def test_no_black_borders_or_stretched_edges_at_default_amounts(tmp_path: Path, photo: Path,
                                                                  case: dict[str, Any]) -> None:
    dest = tmp_path / "edges.mp4"
    info = _render(photo, dest, seconds=1.5, fps=12, **case)
    assert info["motion_scale"] == 1.0, info["warnings"]  # default amounts fit without being reduced
    darkest, ratio = _edge_report(_frames(dest))
    assert darkest > 40, f"a dark pixel ({darkest}) on the frame's edge: a border shows"
    assert ratio > 0.35, f"edge rows/columns lost their texture (ratio {ratio:.2f}): stretched edges"


def test_a_path_too_big_for_the_photo_is_reduced_with_a_warning_and_stays_clean(tmp_path: Path,
                                                                                  photo: Path) -> None:
    dest = tmp_path / "big.mp4"
    info = _render(photo, dest, seconds=1.0, fps=12, prompt="pan left 40 degrees, then tilt up 30 degrees")
    assert info["motion_scale"] < 1.0
    assert any("reduced to" in w for w in info["warnings"])
    darkest, ratio = _edge_report(_frames(dest))
    assert darkest > 40 and ratio > 0.35


def test_the_edge_check_catches_a_border(tmp_path: Path, photo: Path) -> None:
    """The edge report is not vacuous: a frame with a black bar or a smeared edge fails it."""
    dest = tmp_path / "ok.mp4"
    _render(photo, dest, seconds=0.25, fps=12, camera="static")
    frame = _frames(dest)[0]
    assert _edge_report([frame])[0] > 40
    barred = frame.copy()
    barred[:, -3:] = 0
    assert _edge_report([barred])[0] <= 40
    smeared = frame.copy()
    smeared[:, :6] = smeared[:, 6:7]
    assert _edge_report([smeared])[1] < 0.35


# ---- determinism, format -----------------------------------------------------------------------------------


def test_same_shot_and_seed_give_identical_frames(tmp_path: Path, photo: Path) -> None:
    kw: dict[str, Any] = {"seconds": 1.0, "prompt": "slow orbit left, then push in", "seed": 7}
    _render(photo, tmp_path / "a.mp4", **kw)
    _render(photo, tmp_path / "b.mp4", **kw)
    _render(photo, tmp_path / "c.mp4", **{**kw, "seed": 8})
    a, b, c = (_frames(tmp_path / n) for n in ("a.mp4", "b.mp4", "c.mp4"))
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[-1], c[-1])  # another seed varies the default amounts


@pytest.mark.parametrize(("seconds", "fps"), [(1.3, 24), (0.5, 30), (2.0, 25)])
def test_exact_frame_count_and_silent_aac(tmp_path: Path, photo: Path, seconds: float, fps: int) -> None:
    dest = tmp_path / "fmt.mp4"
    info = _render(photo, dest, seconds=seconds, fps=fps, prompt="tilt down")
    expected = round(seconds * fps)
    assert info["frames"] == expected
    assert count_frames(dest) == expected
    media = probe(dest)
    assert media.video is not None and (media.video.width, media.video.height) == (W, H)
    assert media.video.codec == "h264" and media.video.fps == pytest.approx(fps)
    assert media.audio is not None and media.audio.codec == "aac"
    assert (media.audio.sample_rate, media.audio.channels) == (48000, 2)
    with av.open(str(dest)) as container:
        samples = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio=0)])
    assert np.abs(samples).max() < 1e-4  # silent


def test_info_describes_the_render(tmp_path: Path, photo: Path, depth_map: Path) -> None:
    info = _render(photo, tmp_path / "i.mp4", seconds=1.0, prompt="handheld truck left", depth=depth_map)
    json.dumps(info)
    assert info["renderer"] == RENDERER_VERSION
    assert info["move"] == "truck_left" and info["depth"] == "file" and info["layers"] == 2
    assert info["overscan"] >= 1.0
    assert any("steady" in w for w in info["warnings"])
    assert info["camera"]["segments"][0]["move"] == "truck_left"


def test_big_photo_is_resized_before_warping(tmp_path: Path) -> None:
    big = _texture(tmp_path / "big.png", width=2400, height=1600, seed=3)
    info = render_local_clip(big, tmp_path / "big.mp4", seconds=0.5, width=W, height=H, fps=12,
                             camera="push_in")
    assert info["frames"] == 6 and count_frames(tmp_path / "big.mp4") == 6


# ---- bad input ---------------------------------------------------------------------------------------------


def test_unreadable_inputs_raise_render_errors(tmp_path: Path, photo: Path) -> None:
    with pytest.raises(RenderError, match="image not found"):
        _render(tmp_path / "nope.png", tmp_path / "x.mp4", seconds=0.5)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(RenderError, match="not a readable image"):
        _render(bad, tmp_path / "x.mp4", seconds=0.5)
    with pytest.raises(RenderError, match="depth image not found"):
        _render(photo, tmp_path / "x.mp4", seconds=0.5, camera="truck_left", depth=tmp_path / "none.png")
    wide = tmp_path / "wide.png"
    cv2.imwrite(str(wide), np.zeros((100, 400), dtype=np.uint8))
    with pytest.raises(RenderError, match="different shape"):
        _render(photo, tmp_path / "x.mp4", seconds=0.5, camera="truck_left", depth=wide)
    with pytest.raises(RenderError, match="unknown camera move"):
        _render(photo, tmp_path / "x.mp4", seconds=0.5, camera="pan_sideways")


# ---- the backend -------------------------------------------------------------------------------------------


def _request(photo: Path, **kw: Any) -> RenderRequest:
    fields: dict[str, Any] = {"shot_id": "s1", "prompt": "pan left", "image": photo, "seconds": 0.5,
                              "width": W, "height": H, "fps": 12, "seed": 0}
    fields.update(kw)
    return RenderRequest(**fields)


def test_backend_renders_and_signs(tmp_path: Path, photo: Path) -> None:
    signed: list[tuple[Path, RenderRequest, dict[str, Any]]] = []
    progress: list[float | None] = []
    ctx = RenderContext(work_dir=tmp_path, signer=lambda p, r, i: signed.append((p, r, i)),
                        on_progress=lambda shot, state, frac: progress.append(frac))
    backend = LocalBackend({"name": "local"})
    request = _request(photo, camera=[{"move": "tilt_up", "duration": 0.5}])
    result = backend.render(request, tmp_path / "out.mp4", ctx)
    assert result.path == tmp_path / "out.mp4" and result.path.is_file()
    assert backend.name == "local" and backend.estimate_cost(request) == 0.0
    assert len(signed) == 1 and signed[0][0] == result.path and signed[0][1] is request
    assert signed[0][2]["backend"] == "local" and signed[0][2]["move"] == "tilt_up"
    assert progress and progress[-1] == 1.0


def test_preflight_returns_camera_warnings_and_rejects_bad_requests(tmp_path: Path, photo: Path) -> None:
    backend = LocalBackend()
    assert backend.preflight(_request(photo)) == []
    warnings = backend.preflight(_request(photo, prompt="rack focus, then handheld pan left"))
    assert len(warnings) == 2
    assert "keeps the whole frame in focus" in warnings[0] and "keeps the camera steady" in warnings[1]
    with pytest.raises(RenderError, match="needs an image"):
        backend.preflight(_request(photo, image=None))
    with pytest.raises(RenderError, match="unknown camera move"):
        backend.preflight(_request(photo, camera="zoom_inn"))
    with pytest.raises(RenderError, match="depth image not found"):
        backend.preflight(_request(photo, depth=tmp_path / "missing.png"))


def test_options_change_the_version_for_cache_keys() -> None:
    assert LocalBackend().version() == RENDERER_VERSION
    assert LocalBackend({"name": "local", "parallax": 1.0}).version() == RENDERER_VERSION
    tuned = LocalBackend({"name": "local", "parallax": 0.5, "layers": 3})
    assert tuned.version().startswith(RENDERER_VERSION + "+") and tuned.version() != RENDERER_VERSION
    assert tuned.options == LocalRenderOptions(layers=3, parallax=0.5)
    with pytest.raises(RecipeError, match="layers must be 1..8"):
        LocalBackend({"layers": 0})
    with pytest.raises(RecipeError, match="not a number"):
        LocalBackend({"parallax": "lots"})


def test_parallax_can_be_turned_off(tmp_path: Path, photo: Path, depth_map: Path) -> None:
    dest = tmp_path / "flat.mp4"
    info = render_local_clip(photo, dest, seconds=1.5, width=W, height=H, fps=FPS, camera="truck_right",
                             depth=depth_map, options=LocalRenderOptions(layers=1))
    assert info["layers"] == 1 and info["depth"] == "none"
    frames = _frames(dest)
    flow = _flow(frames[16], frames[20])[10:-10, 10:-10]
    near, far = flow[:, : flow.shape[1] // 3, 0].mean(), flow[:, -flow.shape[1] // 3:, 0].mean()
    assert near < 0 and far < 0 and near == pytest.approx(far, rel=0.25)


def test_camera_from_prompt_is_kept_for_older_callers() -> None:
    assert camera_from_prompt("Slow pan left, then tilt up") == "pan_left"
    assert camera_from_prompt("static") == "static"
