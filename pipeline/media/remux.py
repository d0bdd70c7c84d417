"""Stream-copy a range of whole GOPs out of a clip with PyAV (no decode, no re-encode)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from pipeline.errors import MediaError

__all__ = ["copy_gops", "keyframe_indices"]


def _frame_index(pts: int, time_base: Fraction, fps: int) -> int:
    return int(round(float(pts * time_base * fps)))


def keyframe_indices(path: Path, fps: int) -> tuple[list[int], int]:
    """Display-order frame indices of the keyframes of the first video stream, and the frame count."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            tb = stream.time_base
            assert tb is not None
            keys: list[int] = []
            frames = 0
            first_pts: int | None = None
            packets = [(int(p.pts), p.is_keyframe) for p in container.demux(stream)
                       if p.size and p.pts is not None]
            if packets:
                first_pts = min(p for p, _ in packets)
            for pts, is_key in packets:
                frames += 1
                if is_key:
                    keys.append(_frame_index(pts - (first_pts or 0), tb, fps))
            return sorted(keys), frames
    except Exception as exc:
        raise MediaError(f"{path}: cannot read its video packets ({exc})") from exc


def copy_gops(src: Path, dest: Path, start_frame: int, end_frame: int, fps: int) -> int:
    """Copy the video packets of frames ``[start_frame, end_frame)`` of ``src`` into ``dest`` (MP4).

    ``start_frame`` must be a keyframe and ``end_frame`` a keyframe or the end of the clip, with closed
    GOPs, so the packets in that range decode on their own. Timestamps are shifted to start at 0.

    Returns:
        The number of packets (frames) written.
    """
    import av

    try:
        with av.open(str(src)) as inp:
            istream = inp.streams.video[0]
            tb = istream.time_base
            assert tb is not None
            packets = [(int(p.pts), p) for p in inp.demux(istream) if p.size and p.pts is not None]
            first_pts = min(pts for pts, _ in packets) if packets else 0
            chosen = [(pts, p) for pts, p in packets
                      if start_frame <= _frame_index(pts - first_pts, tb, fps) < end_frame]
            if not chosen:
                raise MediaError(f"{src}: no packets between frames {start_frame} and {end_frame}")
            shift = min(pts for pts, _ in chosen)
            with av.open(str(dest), "w", format="mp4") as out:
                ostream = out.add_stream_from_template(istream)
                for pts, p in chosen:
                    p.pts = pts - shift
                    if p.dts is not None:
                        p.dts = int(p.dts) - shift
                    p.stream = ostream
                    out.mux(p)
            return len(chosen)
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError(f"{src}: stream copy of frames {start_frame}–{end_frame} failed ({exc})") from exc
