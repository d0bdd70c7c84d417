"""Frame-level compositing in Python with moviepy — the only module that imports moviepy.

Two things need per-frame Python rather than an ffmpeg filter: an animated title card, and a user effect
given as ``module:function`` (a function that takes a moviepy clip and returns one). moviepy computes the
frames; they are piped into ffmpeg through :mod:`pipeline.media.ffmpeg` with the same encoder settings as
every other clip, and the result is an ordinary clip that the edit stage consumes.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.errors import MediaError
from pipeline.media.encode import AUDIO_RATE, EncodeSettings, audio_args, video_args
from pipeline.media.ffmpeg import finish_ffmpeg_pipe, open_ffmpeg_pipe

__all__ = ["COMPOSE_VERSION", "apply_effect", "load_effect", "render_title_card"]

COMPOSE_VERSION = "compose-1"
"""Part of the cache key of every composed clip: bump it when the output of this module changes."""

DEFAULT_FONT = Path(__file__).resolve().parents[1] / "assets" / "DejaVuSans.ttf"


def load_effect(spec: str, *, search_dir: Path | None = None) -> Callable[[Any], Any]:
    """Resolve ``module:function`` (or ``path/to/file.py:function``, relative to ``search_dir``).

    Raises:
        ValueError: the spec is malformed, the module cannot be imported, or the name is not callable.
    """
    if spec.count(":") != 1:
        raise ValueError(f"effect {spec!r} must look like 'module:function' or 'file.py:function'")
    module_name, func_name = spec.split(":")
    if not module_name or not func_name.isidentifier():
        raise ValueError(f"effect {spec!r} must look like 'module:function' or 'file.py:function'")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_absolute() and search_dir is not None:
                path = search_dir / path
            if not path.is_file():
                raise ValueError(f"effect module file not found: {path}")
            mod_spec = importlib.util.spec_from_file_location(f"reelpipe_effect_{path.stem}", path)
            if mod_spec is None or mod_spec.loader is None:
                raise ValueError(f"cannot load effect module {path}")
            module = importlib.util.module_from_spec(mod_spec)
            mod_spec.loader.exec_module(module)
        else:
            added = False
            if search_dir is not None and str(search_dir) not in sys.path:
                sys.path.insert(0, str(search_dir))
                added = True
            try:
                module = importlib.import_module(module_name)
            finally:
                if added:
                    sys.path.remove(str(search_dir))
    except ValueError:
        raise
    except Exception as exc:  # the user's module failed to import: say which and why
        raise ValueError(f"effect module {module_name!r} could not be imported: {type(exc).__name__}: {exc}") from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ValueError(f"effect {spec!r}: {module_name} has no function {func_name!r}")
    return func  # type: ignore[no-any-return]


def effect_source_file(spec: str, *, search_dir: Path | None = None) -> Path | None:
    """The file that defines an effect (its bytes go into the cache key), when it can be found."""
    try:
        func = load_effect(spec, search_dir=search_dir)
    except ValueError:
        return None
    code = getattr(func, "__code__", None)
    return Path(code.co_filename) if code is not None and Path(code.co_filename).is_file() else None


def _write_frames(clip: Any, dest: Path, *, width: int, height: int, fps: int, n_frames: int,
                  audio_from: Path | None, settings: EncodeSettings, what: str) -> None:
    import numpy as np

    args = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "pipe:0"]
    if audio_from is not None:
        args += ["-i", str(audio_from), "-map", "0:v", "-map", "1:a?"]
    else:
        args += ["-f", "lavfi", "-i", f"anullsrc=r={AUDIO_RATE}:cl=stereo", "-map", "0:v", "-map", "1:a"]
    args += [*video_args(settings, fps), *audio_args(settings), "-frames:v", str(n_frames),
             "-t", f"{n_frames / fps:.6f}", "-movflags", "+faststart", str(dest)]
    proc = open_ffmpeg_pipe(args, what=what)
    assert proc.stdin is not None
    try:
        for i in range(n_frames):
            frame = clip.get_frame(i / fps)
            arr = np.asarray(frame)
            if arr.dtype != np.uint8:
                arr = np.clip(arr, 0, 255).astype(np.uint8)
            if arr.ndim == 2:
                arr = np.stack([arr] * 3, axis=-1)
            if arr.shape[:2] != (height, width):
                import cv2

                arr = cv2.resize(arr[..., :3], (width, height), interpolation=cv2.INTER_AREA)
            proc.stdin.write(np.ascontiguousarray(arr[..., :3]).tobytes())
    except BrokenPipeError:
        pass  # ffmpeg stopped reading: finish_ffmpeg_pipe reports its error
    except Exception as exc:  # the user's effect failed on a frame
        proc.kill()
        proc.wait()
        raise MediaError(f"{what} failed in Python: {type(exc).__name__}: {exc}",
                         hint="fix the effect function; run with --debug for the traceback") from exc
    finish_ffmpeg_pipe(proc, what=what)


def render_title_card(dest: Path, *, text: str, seconds: float, width: int, height: int, fps: int,
                      background: str = "#000000", color: str = "#ffffff", font: Path | None = None,
                      size: int = 64, animation: str = "fade",
                      settings: EncodeSettings | None = None) -> dict[str, Any]:
    """Render an animated title card (text over a solid background) to ``dest`` with moviepy.

    ``animation``: ``fade`` (the text fades in over the first 0.8 s and out over the last 0.5 s),
    ``rise`` (fades in while rising into place), or ``none``.
    """
    from moviepy import ColorClip, CompositeVideoClip, TextClip

    def rgb(hexcolor: str) -> tuple[int, int, int]:
        h = hexcolor.lstrip("#")
        if len(h) < 6:
            raise MediaError(f"title card colour {hexcolor!r} must be #RRGGBB")
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)

    font_path = str((font or DEFAULT_FONT).resolve())
    n = max(1, int(round(seconds * fps)))
    duration = n / fps
    bg = ColorClip(size=(width, height), color=rgb(background), duration=duration)
    # "label" sizes the text box from the text itself; the margin keeps descenders of the last line
    # (moviepy measures lines without them)
    txt = TextClip(font=font_path, text=text, font_size=size, color=color[:7], method="label",
                   margin=(size // 4, size // 2), text_align="center", interline=size // 6, duration=duration)
    tw, th = txt.size
    fade_in, fade_out = min(0.8, duration / 3), min(0.5, duration / 3)

    def opacity(t: float) -> float:
        if animation == "none":
            return 1.0
        a = min(1.0, t / fade_in) if fade_in > 0 else 1.0
        b = min(1.0, (duration - t) / fade_out) if fade_out > 0 else 1.0
        return max(0.0, min(a, b))

    def position(t: float) -> tuple[float, float]:
        x = (width - tw) / 2
        y = (height - th) / 2
        if animation == "rise":
            p = min(1.0, t / max(fade_in, 1e-6))
            y += (1 - p * (2 - p)) * height * 0.08  # ease-out rise into place
        return x, y

    mask_base = txt.mask

    def scaled_mask(get_frame: Any, t: float) -> Any:
        return get_frame(t) * opacity(t)

    if mask_base is not None:
        txt = txt.with_mask(mask_base.transform(scaled_mask))
    card = CompositeVideoClip([bg, txt.with_position(position)], size=(width, height)).with_duration(duration)
    _write_frames(card, dest, width=width, height=height, fps=fps, n_frames=n, audio_from=None,
                  settings=settings or EncodeSettings(), what=f"rendering the title card {dest.name}")
    return {"frames": n, "composer": COMPOSE_VERSION}


def apply_effect(src: Path, dest: Path, effect: Callable[[Any], Any], *, width: int, height: int, fps: int,
                 settings: EncodeSettings | None = None) -> dict[str, Any]:
    """Apply a user effect (moviepy clip -> clip) to ``src`` and write the result to ``dest``.

    The clip's own audio is kept when the effect keeps the clip's length.

    Raises:
        MediaError: the effect raised, or returned something that is not a clip.
    """
    from moviepy import VideoFileClip

    clip = VideoFileClip(str(src), audio=False)
    try:
        try:
            out = effect(clip)
        except Exception as exc:
            raise MediaError(f"the effect on {src.name} raised {type(exc).__name__}: {exc}",
                             hint="fix the effect function; run with --debug for the traceback") from exc
        if not hasattr(out, "get_frame") or getattr(out, "duration", None) is None:
            raise MediaError(f"the effect on {src.name} did not return a moviepy clip with a duration")
        n = max(1, int(round(out.duration * fps)))
        keep_audio = abs(out.duration - clip.duration) < 1.5 / fps
        _write_frames(out, dest, width=width, height=height, fps=fps, n_frames=n,
                      audio_from=src if keep_audio else None, settings=settings or EncodeSettings(),
                      what=f"applying an effect to {src.name}")
    finally:
        clip.close()
    return {"frames": n, "composer": COMPOSE_VERSION}
