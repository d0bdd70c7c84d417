"""Contact sheets: thumbnails across a clip (one strip per shot) and a grid of the whole sequence.

Frames are fetched with PyAV by seeking to the keyframe before each wanted time and decoding forward, so a
strip costs a few GOPs of decoding, not the whole clip. Only timecodes (and ASCII-safe shot ids) are drawn
into the images; everything else a person reads is HTML text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import MediaError

__all__ = [
    "Thumb",
    "contact_grid",
    "contact_strip",
    "encode_image",
    "grab_frames",
    "sample_times",
]

_BG = (24, 24, 24)
_FG = (235, 235, 235)


@dataclass(frozen=True)
class Thumb:
    """One thumbnail: its time in the clip, its BGR pixels, and a label drawn under it."""

    time_s: float
    image: np.ndarray
    label: str


def sample_times(duration: float, count: int) -> list[float]:
    """``count`` times spread across ``duration``, each at the middle of an equal slice."""
    if duration <= 0 or count <= 0:
        return [0.0] if count > 0 else []
    return [duration * (i + 0.5) / count for i in range(count)]


def grab_frames(path: Path, times: Sequence[float], *, width: int) -> list[tuple[float, np.ndarray]]:
    """Decode the frames shown at ``times`` (seconds), scaled to ``width`` pixels wide, as BGR arrays.

    Returns ``(actual_time, frame)`` pairs in the order of ``times``; a time past the end gives the last
    frame.

    Raises:
        MediaError: the file is missing or has no decodable video.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file", hint="the clip may have been removed from the cache")
    out: list[tuple[float, np.ndarray]] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            cc = stream.codec_context
            height = max(2, round(width * cc.height / max(1, cc.width) / 2) * 2)
            time_base = stream.time_base
            if time_base is None:
                raise MediaError(f"{path}: the video stream has no time base")
            start = float(stream.start_time * time_base) if stream.start_time is not None else 0.0
            for wanted in times:
                target = start + max(0.0, float(wanted))
                container.seek(int(target / time_base), stream=stream, backward=True, any_frame=False)
                chosen = None
                for frame in container.decode(stream):
                    t = float(frame.pts * time_base) if frame.pts is not None else target
                    chosen = (t - start, frame)
                    if t >= target - 1e-3:
                        break
                if chosen is None:
                    continue
                t, frame = chosen
                out.append((t, frame.reformat(width=width, height=height, format="bgr24",
                                              interpolation="AREA").to_ndarray()))
    except MediaError:
        raise
    except Exception as exc:  # PyAV raises many error types; all mean "not readable video"
        raise MediaError(f"{path}: could not read frames for the contact sheet ({type(exc).__name__}: {exc})",
                         hint="re-render the clip") from exc
    if not out:
        raise MediaError(f"{path}: no decodable frames for the contact sheet")
    return out


def _ascii(text: str) -> str:
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)


def _label_band(width: int, label: str, *, height: int = 22) -> np.ndarray:
    import cv2

    band = np.full((height, width, 3), _BG, dtype=np.uint8)
    text = _ascii(label)
    scale = 0.42
    (tw, _th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    while tw > width - 8 and len(text) > 4:  # shorten to fit
        text = text[:-2]
        (tw, _th), _ = cv2.getTextSize(text + "~", cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    if text != _ascii(label):
        text += "~"
    cv2.putText(band, text, (4, height - 7), cv2.FONT_HERSHEY_SIMPLEX, scale, _FG, 1, cv2.LINE_AA)
    return band


def _tile(thumb: Thumb, width: int, height: int) -> np.ndarray:
    import cv2

    img = thumb.image
    if img.shape[1] != width or img.shape[0] != height:
        img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    return np.vstack([img, _label_band(width, thumb.label)])


def contact_strip(thumbs: Sequence[Thumb], *, gap: int = 4) -> np.ndarray:
    """Thumbnails side by side, each labelled underneath, on a dark background."""
    if not thumbs:
        raise ValueError("contact_strip needs at least one thumbnail")
    h, w = thumbs[0].image.shape[:2]
    tiles = [_tile(t, w, h) for t in thumbs]
    spacer = np.full((tiles[0].shape[0], gap, 3), _BG, dtype=np.uint8)
    parts: list[np.ndarray] = []
    for i, tile in enumerate(tiles):
        if i:
            parts.append(spacer)
        parts.append(tile)
    return np.hstack(parts)


def contact_grid(thumbs: Sequence[Thumb], *, columns: int, gap: int = 4) -> np.ndarray:
    """Thumbnails in rows of ``columns``, each labelled underneath, with a margin all round."""
    if not thumbs:
        raise ValueError("contact_grid needs at least one thumbnail")
    h, w = thumbs[0].image.shape[:2]
    tiles = [_tile(t, w, h) for t in thumbs]
    th, tw = tiles[0].shape[:2]
    columns = max(1, min(columns, len(tiles)))
    rows = (len(tiles) + columns - 1) // columns
    sheet = np.full((gap + rows * (th + gap), gap + columns * (tw + gap), 3), _BG, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = gap + r * (th + gap), gap + c * (tw + gap)
        sheet[y:y + th, x:x + tw] = tile
    return sheet


def encode_image(image: np.ndarray, *, fmt: str = ".png", quality: int = 85) -> bytes:
    """Encode a BGR image as PNG (``fmt='.png'``) or JPEG (``'.jpg'``) bytes."""
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 6]
    ok, buf = cv2.imencode(fmt, image, params)
    if not ok:
        raise MediaError(f"could not encode a {fmt} image for the report")
    return buf.tobytes()
