"""The edit stage: trims, transitions, overlays and audio into one sequence, rendered in segments.

How it renders (see ARCHITECTURE.md, "Editing facts"):

* All timing is done in frames at the output rate, so trims and transitions are frame-accurate and the
  output has exactly ``sum(clip frames) - sum(transition frames)`` frames.
* The timeline is cut into **segments**: each clip body and each transition window. A segment is encoded on
  its own (in parallel, up to the core count) with identical encoder settings, and the segments are joined
  with the concat demuxer by stream copy. A single graph that chains ``xfade`` over N inputs decodes every
  input at once (~1.4 GB for six 720p clips); a segment decodes at most two clips plus its overlays.
* **Smart cut**: a body that no overlay or fade touches, from a clip that already matches the output
  (H.264 at the output size and rate, with the same parameter sets our encoder writes), is not re-encoded:
  its whole GOPs are copied packet for packet, and only the partial GOPs at a cut that does not fall on a
  keyframe are re-encoded. When every clip is used whole and joined by hard cuts, nothing is re-encoded.
* Overlays (text, images, picture in picture) are evaluated in timeline time inside each segment, so one
  that spans a segment boundary comes out exactly as in a one-pass render.
* **Audio** is built once for the whole sequence (clip audio with trims, speed, volume and crossfades, a
  music bed with fades and ducking), measured, loudness-normalised in one linear pass (EBU R128, default
  −14 LUFS, true peak ≤ −1 dBTP) and muxed with the joined video. Cutting audio per segment would add AAC
  priming at every join.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import MediaError
from pipeline.fsutil import atomic_output
from pipeline.media.encode import AUDIO_RATE, EncodeSettings, audio_args, video_args
from pipeline.media.ffmpeg import escape_filter_value, ffmpeg_measure, run_ffmpeg
from pipeline.media.probe import MediaInfo, probe
from pipeline.media.remux import copy_gops, keyframe_indices

__all__ = ["EditClip", "EditOverlay", "EditResult", "EditSpec", "MusicBed", "edit_sequence"]

DEFAULT_FONT = Path(__file__).resolve().parents[1] / "assets" / "DejaVuSans.ttf"


@dataclass(frozen=True)
class EditClip:
    """One clip on the timeline, as the edit stage sees it."""

    path: Path
    start: float  # seconds inside the clip
    end: float
    speed: float = 1.0
    volume: float = 1.0
    mute: bool = False
    transition_in: tuple[str, float] | None = None  # (xfade type, seconds) with the previous clip
    label: str = ""


@dataclass(frozen=True)
class EditOverlay:
    """Something drawn over the timeline from ``start`` to ``end`` (seconds): text, an image or a clip."""

    kind: str  # "text", "image" or "pip"
    start: float
    end: float
    position: str = "bottom-left"
    margin: int = 40
    fade_in: float = 0.0
    fade_out: float = 0.0
    opacity: float = 1.0
    text: str | None = None
    font: Path | None = None
    size: int = 48
    color: str = "white"
    box_color: str | None = None
    box_padding: int = 12
    line_spacing: int = 8
    image: Path | None = None
    scale: float | None = None  # width as a fraction of the output width
    clip: Path | None = None  # picture in picture source
    clip_start: float = 0.0  # seconds inside the pip clip shown at ``start``


@dataclass(frozen=True)
class MusicBed:
    """A music bed under the whole sequence."""

    path: Path
    gain_db: float = -12.0
    fade_in: float = 0.0
    fade_out: float = 0.0
    duck_db: float = 0.0  # 0: off; negative: how strongly clip audio pushes the music down


@dataclass(frozen=True)
class EditSpec:
    """What to edit and how to encode it."""

    clips: list[EditClip]
    output: Path
    width: int
    height: int
    fps: int
    settings: EncodeSettings = field(default_factory=EncodeSettings)
    fade_in: float = 0.0
    fade_out: float = 0.0
    overlays: list[EditOverlay] = field(default_factory=list)
    music: MusicBed | None = None
    loudness_lufs: float | None = -14.0  # None: leave levels as they are
    true_peak_db: float = -1.0


@dataclass
class EditResult:
    """What the edit stage produced."""

    path: Path
    mode: str  # "copy" (no video re-encoded) or "segments"
    frames: int
    duration_s: float
    segments: int
    reencoded_segments: int
    copied_frames: int
    ffmpeg_commands: int
    loudness_lufs: float | None = None  # measured on the output (EBU R128 integrated)
    true_peak_db: float | None = None
    commands: list[list[str]] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ helpers


def _frames(seconds: float, fps: int) -> int:
    return int(round(seconds * fps + 1e-9))


def _fmt(x: float) -> str:
    text = f"{x:.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


@dataclass(frozen=True)
class _Segment:
    """A run of output frames ``[f0, f1)`` rendered as one file."""

    name: str
    kind: str  # "body", "xfade", "copy"
    f0: int
    f1: int
    clip: int  # the clip index (the second clip for an xfade)
    local0: int = 0  # first conformed-frame index inside the clip (body/copy)

    @property
    def frames(self) -> int:
        return self.f1 - self.f0


def _conform_chain(clip: EditClip, info: MediaInfo, spec: EditSpec, frames: int) -> str:
    """Filters that turn a clip's video into exactly ``frames`` conformed frames at the output format."""
    w, h, fps = spec.width, spec.height, spec.fps
    parts = ["setpts=PTS-STARTPTS", f"trim=start={_fmt(clip.start)}:end={_fmt(clip.end)}",
             "setpts=PTS-STARTPTS"]
    if clip.speed != 1.0:
        parts.append(f"setpts=PTS/{_fmt(clip.speed)}")
    parts.append(f"fps={fps}")
    v = info.video
    if v is None or (v.width, v.height) != (w, h):
        parts += [f"scale={w}:{h}:force_original_aspect_ratio=decrease:flags=bicubic",
                  f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black"]
    parts += ["setsar=1", "format=yuv422p10le" if spec.settings.profile == "mezzanine" else "format=yuv420p"]
    # never run short by a frame through rounding: clone the last frame, then cut exactly
    parts += ["tpad=stop_mode=clone:stop=3", f"trim=end_frame={frames}", "setpts=PTS-STARTPTS"]
    return ",".join(parts)


def _source(clip: EditClip, info: MediaInfo, spec: EditSpec, chain: str, local0: int, frames: int,
            decode: list[str] | None = None) -> tuple[list[str], str]:
    """Input arguments and filters that give conformed frames ``[local0, local0 + frames)`` of a clip.

    When the clip already runs at the output rate and speed, ffmpeg seeks straight to the first frame
    (input ``-ss`` half a frame early, then decodes from the keyframe before it and drops what precedes),
    so a segment late in a clip does not decode the clip from its start. Otherwise the whole conform chain
    runs from the clip's start and the frames are selected after it.
    """
    path = str(Path(clip.path).resolve())
    decode = decode or []
    v = info.video
    if v is not None and abs(v.fps - spec.fps) < 1e-3 and clip.speed == 1.0:
        fps = spec.fps
        first = _frames(clip.start, fps) + local0
        seek = ["-ss", _fmt((first - 0.5) / fps)] if first > 0 else []
        parts = ["setpts=PTS-STARTPTS", f"fps={fps}"]
        if (v.width, v.height) != (spec.width, spec.height):
            parts += [f"scale={spec.width}:{spec.height}:force_original_aspect_ratio=decrease:flags=bicubic",
                      f"pad={spec.width}:{spec.height}:(ow-iw)/2:(oh-ih)/2:color=black"]
        parts += ["setsar=1", "format=yuv422p10le" if spec.settings.profile == "mezzanine" else "format=yuv420p",
                  "tpad=stop_mode=clone:stop=3", f"trim=end_frame={frames}", "setpts=PTS-STARTPTS"]
        return [*decode, *seek, "-i", path], ",".join(parts)
    return [*decode, "-i", path], f"{chain},trim=start_frame={local0}:end_frame={local0 + frames},setpts=PTS-STARTPTS"


def _xy(position: str, margin: int, w: str, h: str, ow: str, oh: str) -> tuple[str, str]:
    """Position expressions: ``w``/``h`` name the frame size, ``ow``/``oh`` the overlay's size."""
    horiz = "left" if "left" in position else "right" if "right" in position else "center"
    vert = "top" if position.startswith("top") else "bottom" if position.startswith("bottom") else "middle"
    x = {"left": f"{margin}", "center": f"({w}-{ow})/2", "right": f"{w}-{ow}-{margin}"}[horiz]
    y = {"top": f"{margin}", "middle": f"({h}-{oh})/2", "bottom": f"{h}-{oh}-{margin}"}[vert]
    return x, y


def _alpha_expr(a: float, b: float, fade_in: float, fade_out: float, opacity: float) -> str:
    """Piecewise-linear alpha over local time ``t`` for an overlay shown on [a, b)."""
    fi, fo = max(fade_in, 1e-6), max(fade_out, 1e-6)
    return (f"{_fmt(opacity)}*if(lt(t,{_fmt(a)}),0,if(lt(t,{_fmt(a + fi)}),(t-{_fmt(a)})/{_fmt(fi)},"
            f"if(lt(t,{_fmt(b - fo)}),1,if(lt(t,{_fmt(b)}),({_fmt(b)}-t)/{_fmt(fo)},0))))")


def _overlay_filters(seg: _Segment, spec: EditSpec, base: str, next_input: int, tmpdir: Path,
                     text_files: dict[int, Path]) -> tuple[list[str], list[str], str]:
    """Extra inputs, filter chains and the final label for the overlays that touch ``seg``."""
    fps = spec.fps
    t0, t1 = seg.f0 / fps, seg.f1 / fps
    inputs: list[str] = []
    chains: list[str] = []
    current = base
    extra_inputs = 0
    for k, ov in enumerate(spec.overlays):
        if ov.end <= t0 or ov.start >= t1:
            continue
        a, b = ov.start - t0, ov.end - t0  # the overlay's range in the segment's local time
        out = f"o{k}"
        enable = f"enable='between(t,{_fmt(a)},{_fmt(b)})'"
        if ov.kind == "text":
            font = escape_filter_value(str((ov.font or DEFAULT_FONT).resolve()))
            textfile = escape_filter_value(str(text_files[k]))
            x, y = _xy(ov.position, ov.margin, "w", "h", "text_w", "text_h")
            opts = [f"fontfile={font}", f"textfile={textfile}", "expansion=none", f"fontsize={ov.size}",
                    f"fontcolor={ov.color}", f"line_spacing={ov.line_spacing}", f"x={x}", f"y={y}",
                    f"alpha='{_alpha_expr(a, b, ov.fade_in, ov.fade_out, ov.opacity)}'", enable]
            if ov.box_color:
                opts += ["box=1", f"boxcolor={ov.box_color}", f"boxborderw={ov.box_padding}"]
            chains.append(f"[{current}]drawtext=" + ":".join(opts) + f"[{out}]")
        else:
            idx = next_input + extra_inputs
            extra_inputs += 1
            lo = max(ov.start, t0)  # timeline second of the layer's first frame in this segment
            hi = min(ov.end, t1)
            n = _frames(hi - lo, fps) + 2
            if ov.kind == "image":
                assert ov.image is not None
                # decode, scale and fade the still once, then repeat that frame (the loop filter), rather
                # than decoding and scaling the image again for every output frame
                inputs += ["-i", str(ov.image.resolve())]
                layer = ["format=rgba"]
                if ov.scale:
                    layer.append(f"scale={max(2, int(round(spec.width * ov.scale / 2)) * 2)}:-2")
                if ov.opacity < 1:
                    layer.append(f"colorchannelmixer=aa={_fmt(ov.opacity)}")
                layer += [f"loop=loop={n - 1}:size=1:start=0", f"setpts=N/{fps}/TB+{_fmt(lo)}/TB"]
            else:
                assert ov.clip is not None
                cs = ov.clip_start + (lo - ov.start)
                inputs += ["-ss", "0", "-t", "100000", "-i", str(ov.clip.resolve())]
                layer = ["setpts=PTS-STARTPTS", f"trim=start={_fmt(cs)}:end={_fmt(cs + (hi - lo) + 2 / fps)}",
                         f"setpts=PTS-STARTPTS+{_fmt(lo)}/TB", f"fps={fps}", "format=rgba",
                         f"scale={max(2, int(round(spec.width * (ov.scale or 0.3) / 2)) * 2)}:-2"]
            if ov.opacity < 1 and ov.kind != "image":
                layer.append(f"colorchannelmixer=aa={_fmt(ov.opacity)}")
            if ov.fade_in > 0:
                layer.append(f"fade=t=in:st={_fmt(ov.start)}:d={_fmt(ov.fade_in)}:alpha=1")
            if ov.fade_out > 0:
                layer.append(f"fade=t=out:st={_fmt(ov.end - ov.fade_out)}:d={_fmt(ov.fade_out)}:alpha=1")
            layer.append(f"setpts=PTS-{_fmt(t0)}/TB")
            chains.append(f"[{idx}:v]" + ",".join(layer) + f"[l{k}]")
            x, y = _xy(ov.position, ov.margin, "main_w", "main_h", "overlay_w", "overlay_h")
            chains.append(f"[{current}][l{k}]overlay=x={x}:y={y}:eof_action=pass:{enable}[{out}]")
        current = out
    return inputs, chains, current


def _touches_overlay(seg: _Segment, spec: EditSpec) -> bool:
    t0, t1 = seg.f0 / spec.fps, seg.f1 / spec.fps
    return any(ov.start < t1 and ov.end > t0 for ov in spec.overlays)


def _touches_fade(seg: _Segment, spec: EditSpec, total_frames: int) -> bool:
    head = _frames(spec.fade_in, spec.fps)
    tail = total_frames - _frames(spec.fade_out, spec.fps)
    return (spec.fade_in > 0 and seg.f0 < head) or (spec.fade_out > 0 and seg.f1 > tail)


@functools.lru_cache(maxsize=16)
def _encoder_extradata(width: int, height: int, fps: int, settings: EncodeSettings) -> str | None:
    """The parameter-set hash our encoder writes at this format (what a copyable clip must carry)."""
    with tempfile.TemporaryDirectory(prefix="reelpipe-probe-") as d:
        out = Path(d) / "probe.mp4"
        run_ffmpeg(["-f", "lavfi", "-i", f"color=black:s={width}x{height}:r={fps}:d={2 / fps}",
                    *video_args(settings, fps), "-an", str(out)], what="probing the encoder's parameter sets")
        v = probe(out).video
        return v.extradata_hash if v else None


def _copyable(clip: EditClip, info: MediaInfo, spec: EditSpec) -> bool:
    v = info.video
    if v is None or spec.settings.profile != "web" or clip.speed != 1.0:
        return False
    if v.codec != "h264" or (v.width, v.height) != (spec.width, spec.height) or v.pix_fmt != "yuv420p":
        return False
    if abs(v.fps - spec.fps) > 1e-3 or Path(clip.path).suffix.lower() not in (".mp4", ".mov", ".m4v"):
        return False
    return v.extradata_hash is not None and v.extradata_hash == _encoder_extradata(
        spec.width, spec.height, spec.fps, EncodeSettings(profile="web", crf=spec.settings.crf,
                                                          preset=spec.settings.preset,
                                                          gop_seconds=spec.settings.gop_seconds))


def _concat_list(paths: list[Path], dest: Path) -> Path:
    def q(p: Path) -> str:
        return "'" + str(p.resolve()).replace("'", "'\\''") + "'"

    dest.write_text("ffconcat version 1.0\n" + "".join(f"file {q(p)}\n" for p in paths), encoding="utf-8")
    return dest


# ------------------------------------------------------------------------------------------------- audio


def _audio_inputs_and_graph(spec: EditSpec, infos: list[MediaInfo], durations: list[float],
                            total: float) -> tuple[list[str], str]:
    """Inputs and the filtergraph that build the whole sequence's audio as ``[aout]``."""
    inputs: list[str] = []
    chains: list[str] = []
    labels: list[str] = []
    fmt = f"aresample={AUDIO_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo"
    n = 0
    for k, (clip, info, d) in enumerate(zip(spec.clips, infos, durations)):
        out = f"a{k}"
        if info.audio is None or clip.mute:
            inputs += ["-f", "lavfi", "-t", _fmt(d + 0.1), "-i", f"anullsrc=r={AUDIO_RATE}:cl=stereo"]
            chains.append(f"[{n}:a]{fmt},atrim=end={_fmt(d)},asetpts=PTS-STARTPTS[{out}]")
        else:
            inputs += ["-i", str(Path(clip.path).resolve())]
            parts = ["asetpts=PTS-STARTPTS", f"atrim=start={_fmt(clip.start)}:end={_fmt(clip.end)}",
                     "asetpts=PTS-STARTPTS"]
            if clip.speed != 1.0:
                parts.append(f"atempo={_fmt(clip.speed)}")
            if clip.volume != 1.0:
                parts.append(f"volume={_fmt(clip.volume)}")
            parts += [fmt, f"apad=whole_dur={_fmt(d)}", f"atrim=end={_fmt(d)}", "asetpts=PTS-STARTPTS"]
            chains.append(f"[{n}:a]" + ",".join(parts) + f"[{out}]")
        n += 1
        labels.append(out)
    current = labels[0]
    for k in range(1, len(labels)):
        nxt = f"j{k}"
        t = spec.clips[k].transition_in
        if t:
            chains.append(f"[{current}][{labels[k]}]acrossfade=d={_fmt(t[1])}:c1=tri:c2=tri[{nxt}]")
        else:
            chains.append(f"[{current}][{labels[k]}]concat=n=2:v=0:a=1[{nxt}]")
        current = nxt
    tail = [f"apad=whole_dur={_fmt(total)}", f"atrim=end={_fmt(total)}"]
    if spec.fade_in > 0:
        tail.append(f"afade=t=in:st=0:d={_fmt(spec.fade_in)}")
    if spec.fade_out > 0:
        tail.append(f"afade=t=out:st={_fmt(max(0.0, total - spec.fade_out))}:d={_fmt(spec.fade_out)}")
    music = spec.music
    if music is None:
        chains.append(f"[{current}]" + ",".join(tail) + "[aout]")
        return inputs, ";".join(chains)
    inputs += ["-i", str(music.path.resolve())]
    m = [fmt, "asetpts=PTS-STARTPTS", f"apad=whole_dur={_fmt(total)}", f"atrim=end={_fmt(total)}",
         f"volume={_fmt(music.gain_db)}dB"]
    if music.fade_in > 0:
        m.append(f"afade=t=in:st=0:d={_fmt(music.fade_in)}")
    if music.fade_out > 0:
        m.append(f"afade=t=out:st={_fmt(max(0.0, total - music.fade_out))}:d={_fmt(music.fade_out)}")
    chains.append(f"[{n}:a]" + ",".join(m) + "[mus]")
    if music.duck_db < 0:
        # the clips' own audio drives a compressor on the music: louder dialogue, deeper duck
        ratio = min(20.0, 1.0 + abs(music.duck_db) / 2.0)
        chains.append(f"[{current}]asplit=2[voice][sc]")
        chains.append(f"[mus][sc]sidechaincompress=threshold=0.01:ratio={_fmt(ratio)}:attack=20:release=300"
                      f":knee=2[ducked]")
        chains.append("[voice][ducked]amix=inputs=2:duration=first:normalize=0," + ",".join(tail) + "[aout]")
    else:
        chains.append(f"[{current}][mus]amix=inputs=2:duration=first:normalize=0," + ",".join(tail) + "[aout]")
    return inputs, ";".join(chains)


_JSON_BLOCK = re.compile(r"\{[^{}]*\"input_i\"[^{}]*\}", re.S)


def _measure_loudnorm(wav: Path, target: float, tp: float) -> dict[str, str] | None:
    text = ffmpeg_measure(["-i", str(wav), "-af", f"loudnorm=I={_fmt(target)}:TP={_fmt(tp)}:LRA=20"
                           ":print_format=json", "-f", "null", "-"], what="measuring loudness")
    m = _JSON_BLOCK.search(text)
    if not m:
        return None
    data: dict[str, str] = json.loads(m.group(0))
    try:
        if not math.isfinite(float(data["input_i"])) or float(data["input_i"]) < -70:
            return None  # silence: nothing to normalise
    except ValueError:
        return None
    return data


def _normalise_filter(wav: Path, loudness: float | None, peak: float | None, target: float,
                      true_peak: float) -> list[str]:
    """The ``-af`` that brings ``wav`` to ``target`` LUFS with its true peak at most ``true_peak`` dBTP.

    A plain gain when that keeps the peak under the ceiling (exact and cheap: the common case); otherwise
    two-pass ``loudnorm`` (linear when it can be, with LRA 20 so it rarely has to fall back to dynamic).
    Silence is left alone.
    """
    if loudness is None or loudness < -70:
        return []
    gain = target - loudness
    if peak is None or peak + gain <= true_peak:
        return ["-af", f"volume={gain:.2f}dB"]
    measured = _measure_loudnorm(wav, target, true_peak)
    if not measured:
        return []
    return ["-af", (f"loudnorm=I={_fmt(target)}:TP={_fmt(true_peak)}:LRA=20"
                    f":measured_I={measured['input_i']}:measured_TP={measured['input_tp']}"
                    f":measured_LRA={measured['input_lra']}:measured_thresh={measured['input_thresh']}"
                    f":offset={measured['target_offset']}:linear=true,aresample={AUDIO_RATE}")]


def measure_loudness(path: Path) -> tuple[float | None, float | None]:
    """Integrated loudness (LUFS) and true peak (dBTP) of a file's audio, by ffmpeg's ``ebur128``."""
    text = ffmpeg_measure(["-i", str(path), "-map", "0:a:0", "-af", "ebur128=peak=true", "-f", "null", "-"],
                          what=f"measuring the loudness of {path.name}")
    return _parse_ebur128(text)


def _parse_ebur128(text: str) -> tuple[float | None, float | None]:
    """Integrated loudness and true peak from the summary ``ebur128`` prints at the end of a run."""
    summary = text[text.rfind("Summary:"):] if "Summary:" in text else text
    i = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    p = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)

    def num(m: re.Match[str] | None) -> float | None:
        if not m or m.group(1) == "-inf":
            return None
        return float(m.group(1))

    return num(i), num(p)


# -------------------------------------------------------------------------------------------------- edit


def edit_sequence(spec: EditSpec, *, on_progress: Callable[[float], None] | None = None,
                  workers: int | None = None, tmp_root: Path | None = None) -> EditResult:
    """Edit ``spec.clips`` into ``spec.output`` (written atomically; nothing is written on failure).

    Args:
        spec: clips, trims, transitions, overlays, audio and output format.
        on_progress: called with the fraction done (0..1), from one thread at a time.
        workers: segments encoded at once (default: the core count).
        tmp_root: where temporary segments go (default: beside the output).

    Raises:
        MediaError: a clip is unreadable or ffmpeg failed.
    """
    if not spec.clips:
        raise MediaError("nothing to edit: the timeline is empty")
    infos = [probe(c.path) for c in spec.clips]
    for clip, info in zip(spec.clips, infos):
        if info.video is None:
            raise MediaError(f"{clip.path}: no video stream", hint="use a clip with video")
    fps = spec.fps
    n = [_frames((c.end - c.start) / c.speed, fps) for c in spec.clips]
    t_frames = [0] + [_frames(c.transition_in[1], fps) if c.transition_in else 0 for c in spec.clips[1:]]
    for k in range(1, len(spec.clips)):
        if t_frames[k] > min(n[k], n[k - 1]):
            raise MediaError(f"the transition into {spec.clips[k].label or spec.clips[k].path} is longer than a "
                             "neighbouring clip")
    total_frames = sum(n) - sum(t_frames)
    total = total_frames / fps
    durations = [x / fps for x in n]
    offsets = []  # timeline frame where each clip's first conformed frame sits
    acc = 0
    for k in range(len(n)):
        acc -= t_frames[k]
        offsets.append(acc)
        acc += n[k]

    # the segments, in timeline order
    segments: list[_Segment] = []
    for k in range(len(n)):
        head = t_frames[k]
        tail = t_frames[k + 1] if k + 1 < len(n) else 0
        if k > 0 and head:
            segments.append(_Segment(f"x{k}", "xfade", offsets[k], offsets[k] + head, k))
        if n[k] - head - tail > 0:
            segments.append(_Segment(f"b{k}", "body", offsets[k] + head, offsets[k] + n[k] - tail, k, head))

    # smart cut: split untouched bodies of copy-compatible clips into re-encoded edges and copied GOPs
    planned: list[_Segment] = []
    keyframes: dict[int, tuple[list[int], int]] = {}
    for seg in segments:
        k = seg.clip
        clip = spec.clips[k]
        if (seg.kind != "body" or _touches_overlay(seg, spec) or _touches_fade(seg, spec, total_frames)
                or not _copyable(clip, infos[k], spec)):
            planned.append(seg)
            continue
        if k not in keyframes:
            keyframes[k] = keyframe_indices(Path(clip.path), fps)
        keys, clip_frames = keyframes[k]
        src0 = _frames(clip.start, fps) + seg.local0  # source frame of the body's first frame
        src1 = src0 + seg.frames
        k1 = next((x for x in keys if x >= src0), None)
        ends = [x for x in keys if x <= src1] + ([clip_frames] if src1 == clip_frames else [])
        e = max(ends) if ends else None
        if k1 is None or e is None or e <= k1:
            planned.append(seg)
            continue
        if k1 > src0:
            planned.append(_Segment(f"{seg.name}h", "body", seg.f0, seg.f0 + (k1 - src0), k, seg.local0))
        planned.append(_Segment(f"{seg.name}c", "copy", seg.f0 + (k1 - src0), seg.f0 + (e - src0), k, k1))
        if e < src1:
            planned.append(_Segment(f"{seg.name}t", "body", seg.f0 + (e - src0), seg.f1, k,
                                    seg.local0 + (e - src0)))

    progress_lock = threading.Lock()
    done: dict[str, float] = {}
    encode_weight = sum(s.frames for s in planned if s.kind != "copy") / fps
    grand = encode_weight + 0.25 * total + 1e-6

    def report(key: str, seconds: float) -> None:
        if on_progress is None:
            return
        with progress_lock:
            done[key] = seconds
            on_progress(min(1.0, sum(done.values()) / grand))

    tmp_parent = tmp_root or spec.output.parent
    tmp_parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=".reelpipe-edit-", dir=tmp_parent))
    commands: list[list[str]] = []
    try:
        text_files: dict[int, Path] = {}
        for k, ov in enumerate(spec.overlays):
            if ov.kind == "text":
                text_files[k] = tmpdir / f"text{k}.txt"
                text_files[k].write_text(ov.text or "", encoding="utf-8")
        chains = [_conform_chain(c, infos[k], spec, n[k]) for k, c in enumerate(spec.clips)]
        ext = spec.settings.container_ext
        cores = os.cpu_count() or 2
        encodes = [s for s in planned if s.kind != "copy"]
        workers = max(1, min(workers or cores, max(1, len(encodes))))
        settings = spec.settings
        if workers > 1 and settings.threads == 0:
            settings = EncodeSettings(profile=settings.profile, crf=settings.crf, preset=settings.preset,
                                      gop_seconds=settings.gop_seconds, threads=max(1, cores // workers))

        # with segments encoding side by side, one decoding thread per input keeps memory flat (frame
        # threading holds a frame per thread) at no cost in wall time: the cores are busy encoding
        decode = ["-threads", "1"] if workers > 1 else []
        # and a shorter x264 lookahead (6 frames instead of veryfast's 10: ~16 MB less per encoder at 720p,
        # no change to the parameter sets, a negligible one to quality at CRF 18)
        lookahead = ["-rc-lookahead", "6"] if workers > 1 and spec.settings.profile == "web" else []

        def out_path(seg: _Segment) -> Path:
            return tmpdir / f"seg{planned.index(seg):03d}_{seg.name}{ext if seg.kind != 'copy' else '.mp4'}"

        def encode(seg: _Segment) -> None:
            k = seg.clip
            clip = spec.clips[k]
            if seg.kind == "copy":
                src_last = seg.local0 + seg.frames
                copy_gops(Path(clip.path), out_path(seg), seg.local0, src_last, fps)
                report(seg.name, 0.0)
                return
            if seg.kind == "xfade":
                prev = spec.clips[k - 1]
                kind, _ = clip.transition_in  # type: ignore[misc]
                head = seg.frames
                in_a, chain_a = _source(prev, infos[k - 1], spec, chains[k - 1], n[k - 1] - head, head, decode)
                in_b, chain_b = _source(clip, infos[k], spec, chains[k], 0, head, decode)
                graph = [f"[0:v]{chain_a}[xa]", f"[1:v]{chain_b}[xb]",
                         f"[xa][xb]xfade=transition={kind}:duration={_fmt(head / fps)}:offset=0,"
                         f"trim=end_frame={head},setpts=PTS-STARTPTS[base]"]
                args = [*in_a, *in_b]
                first_extra = 2
            else:
                in_a, chain_a = _source(clip, infos[k], spec, chains[k], seg.local0, seg.frames, decode)
                graph = [f"[0:v]{chain_a}[base]"]
                args = in_a
                first_extra = 1
            current = "base"
            if _touches_fade(seg, spec, total_frames):
                # fades from/to black are timed on the output timeline: shift the segment there, fade, shift back
                t0 = _fmt(seg.f0 / fps)
                fades = []
                if spec.fade_in > 0:
                    fades.append(f"fade=t=in:st=0:d={_fmt(spec.fade_in)}")
                if spec.fade_out > 0:
                    fades.append(f"fade=t=out:st={_fmt(total - spec.fade_out)}:d={_fmt(spec.fade_out)}")
                graph.append(f"[base]setpts=PTS+{t0}/TB,{','.join(fades)},setpts=PTS-{t0}/TB[faded]")
                current = "faded"
            ov_inputs, ov_chains, current = _overlay_filters(seg, spec, current, first_extra, tmpdir, text_files)
            graph += ov_chains
            argv = [*args, *ov_inputs, "-filter_complex", ";".join(graph), "-map", f"[{current}]", "-an",
                    *video_args(settings, fps), *lookahead, "-r", str(fps), "-frames:v", str(seg.frames),
                    str(out_path(seg))]
            commands.append(run_ffmpeg(argv, what=f"encoding segment {seg.name} of {spec.output.name}",
                                       duration=seg.frames / fps,
                                       on_progress=functools.partial(report, seg.name)))

        def build_audio() -> tuple[Path, float | None, float | None]:
            """Mix the whole sequence's audio, measure it (EBU R128), normalise it, encode it, verify it."""
            wav = tmpdir / "audio.wav"
            a_inputs, a_graph = _audio_inputs_and_graph(spec, infos, durations, total)
            mix = [*a_inputs, "-filter_complex", a_graph + ";[aout]asplit=2[amix][ameter];"
                   "[ameter]ebur128=peak=true,anullsink", "-map", "[amix]", "-c:a", "pcm_f32le",
                   "-ar", str(AUDIO_RATE), str(wav)]
            audio_filter: list[str] = []
            if spec.loudness_lufs is None:
                commands.append(run_ffmpeg(mix[:mix.index("-filter_complex") + 1] + [a_graph] +
                                           ["-map", "[aout]", "-c:a", "pcm_f32le", "-ar", str(AUDIO_RATE), str(wav)],
                                           what=f"mixing the audio of {spec.output.name}"))
            else:
                loudness, peak = _parse_ebur128(ffmpeg_measure(mix, what=f"mixing the audio of {spec.output.name}"))
                audio_filter = _normalise_filter(wav, loudness, peak, spec.loudness_lufs, spec.true_peak_db)
            encoded = tmpdir / ("audio-pcm.wav" if spec.settings.profile == "mezzanine" else "audio.m4a")
            commands.append(run_ffmpeg(["-i", str(wav), *audio_filter, *audio_args(spec.settings), "-t", _fmt(total),
                                        str(encoded)], what=f"encoding the audio of {spec.output.name}"))
            lufs, peak = measure_loudness(encoded) if spec.loudness_lufs is not None else (None, None)
            return encoded, lufs, peak

        # the audio is built while the video segments encode
        with ThreadPoolExecutor(max_workers=1) as audio_pool:
            audio_future = audio_pool.submit(build_audio)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for fut in [pool.submit(encode, s) for s in planned]:
                    fut.result()
            audio_file, lufs, peak = audio_future.result()

        listing = _concat_list([out_path(s) for s in planned], tmpdir / "video.ffconcat")
        movflags = ["-movflags", "+faststart"] if spec.settings.profile != "mezzanine" else []
        with atomic_output(spec.output) as tmp:
            commands.append(run_ffmpeg(
                ["-f", "concat", "-safe", "0", "-auto_convert", "0", "-i", str(listing), "-i", str(audio_file),
                 "-map", "0:v", "-map", "1:a", "-c", "copy", "-frames:v", str(total_frames), "-t", _fmt(total),
                 *movflags, str(tmp)],
                what=f"writing {spec.output.name}", duration=total,
                on_progress=lambda s: report("mux", s * 0.25)))
            info = probe(tmp)
            if info.video is None or info.audio is None:
                raise MediaError(f"the edit of {spec.output.name} came out without "
                                 f"{'video' if info.video is None else 'audio'}")
        reencoded = [s for s in planned if s.kind != "copy"]
        return EditResult(
            path=spec.output, mode="copy" if not reencoded else "segments", frames=total_frames,
            duration_s=total, segments=len(planned), reencoded_segments=len(reencoded),
            copied_frames=sum(s.frames for s in planned if s.kind == "copy"),
            ffmpeg_commands=len(commands), loudness_lufs=lufs, true_peak_db=peak, commands=commands)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
