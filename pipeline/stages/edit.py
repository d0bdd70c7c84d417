"""The edit stage: trims, transitions and audio into one sequence, rendered in segments.

How it renders (see ARCHITECTURE.md, "Editing facts"):

* **Stream copy** when every clip is used whole, joined by hard cuts, and already matches the output
  (codec, size, frame rate, pixel format, identical parameter sets): the concat demuxer copies the video
  packets untouched; only the audio is re-encoded, in one pass, so audio and video end together.
* **Segments** otherwise: each clip body and each transition window is encoded separately with identical
  encoder settings (in parallel, up to the core count) and the segments are joined by stream copy. A single
  graph that chains ``xfade`` over N inputs decodes every input at once (~1.4 GB for six 720p clips); a
  segment decodes at most two. Audio is cut once for the whole sequence, in the final mux.

All timing is done in frames at the output frame rate, so trims and transitions are frame-accurate and the
output has exactly ``sum(clip frames) - sum(transition frames)`` frames.
"""

from __future__ import annotations

import os
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
from pipeline.media.ffmpeg import run_ffmpeg
from pipeline.media.probe import MediaInfo, probe

__all__ = ["EditClip", "EditResult", "EditSpec", "edit_sequence"]


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


@dataclass
class EditResult:
    """What the edit stage produced."""

    path: Path
    mode: str  # "copy" or "segments"
    frames: int
    duration_s: float
    segments: int
    reencoded_segments: int
    ffmpeg_commands: int


@dataclass(frozen=True)
class _Conformed:
    """A clip conformed to the output: its frame count and the filter chain that produces those frames."""

    index: int  # input index of the clip
    frames: int
    head: int  # frames shared with the previous clip's transition
    tail: int  # frames shared with the next clip's transition
    chain: str  # filters from the raw input to conformed frames


def _frames(seconds: float, fps: int) -> int:
    return int(round(seconds * fps + 1e-9))


def _fmt(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".") or "0"


def _conform_chain(clip: EditClip, info: MediaInfo, spec: EditSpec, frames: int, *, first: bool,
                   last: bool) -> str:
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
    parts += ["setsar=1", "format=yuv420p" if spec.settings.profile != "mezzanine" else "format=yuv422p10le"]
    # never run short by a frame through rounding: clone the last frame, then cut exactly
    parts += ["tpad=stop_mode=clone:stop=3", f"trim=end_frame={frames}", "setpts=PTS-STARTPTS"]
    if first and spec.fade_in > 0:
        parts.append(f"fade=t=in:st=0:d={_fmt(min(spec.fade_in, frames / fps))}")
    if last and spec.fade_out > 0:
        d = min(spec.fade_out, frames / fps)
        parts.append(f"fade=t=out:st={_fmt(frames / fps - d)}:d={_fmt(d)}")
    return ",".join(parts)


def _can_stream_copy(spec: EditSpec, infos: list[MediaInfo]) -> bool:
    if spec.fade_in or spec.fade_out or spec.settings.profile != "web":
        return False
    hashes = set()
    for clip, info in zip(spec.clips, infos):
        v = info.video
        if v is None or clip.transition_in or clip.speed != 1.0:
            return False
        if v.codec != "h264" or (v.width, v.height) != (spec.width, spec.height) or v.pix_fmt != "yuv420p":
            return False
        if abs(v.fps - spec.fps) > 1e-3 or not Path(clip.path).suffix.lower() in (".mp4", ".mov", ".m4v"):
            return False
        whole = clip.start <= 1e-6 and abs(clip.end - v.duration) <= 0.5 / spec.fps
        if not whole:
            return False
        hashes.add(v.extradata_hash)
    return len(hashes) == 1 and None not in hashes


def _concat_list(paths: list[Path], dest: Path) -> Path:
    def q(p: Path) -> str:
        return "'" + str(p.resolve()).replace("'", "'\\''") + "'"

    dest.write_text("ffconcat version 1.0\n" + "".join(f"file {q(p)}\n" for p in paths), encoding="utf-8")
    return dest


def _audio_graph(spec: EditSpec, infos: list[MediaInfo], durations: list[float], first_input: int,
                 total: float) -> tuple[list[str], str]:
    """Extra inputs and the filtergraph that build the whole sequence's audio as ``[aout]``."""
    extra_inputs: list[str] = []
    chains: list[str] = []
    n_inputs = first_input
    labels: list[str] = []
    for k, (clip, info, d) in enumerate(zip(spec.clips, infos, durations)):
        out = f"a{k}"
        fmt = f"aresample={AUDIO_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo"
        if info.audio is None or clip.mute:
            extra_inputs += ["-f", "lavfi", "-t", _fmt(d + 0.1),
                             "-i", f"anullsrc=r={AUDIO_RATE}:cl=stereo"]
            chains.append(f"[{n_inputs}:a]{fmt},atrim=end={_fmt(d)},asetpts=PTS-STARTPTS[{out}]")
            n_inputs += 1
        else:
            parts = ["asetpts=PTS-STARTPTS", f"atrim=start={_fmt(clip.start)}:end={_fmt(clip.end)}",
                     "asetpts=PTS-STARTPTS"]
            if clip.speed != 1.0:
                parts.append(f"atempo={_fmt(clip.speed)}")
            if clip.volume != 1.0:
                parts.append(f"volume={_fmt(clip.volume)}")
            parts += [fmt, f"apad=whole_dur={_fmt(d)}", f"atrim=end={_fmt(d)}", "asetpts=PTS-STARTPTS"]
            chains.append(f"[{first_input - len(spec.clips) + k}:a]" + ",".join(parts) + f"[{out}]")
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
    chains.append(f"[{current}]" + ",".join(tail) + "[aout]")
    return extra_inputs, ";".join(chains)


def _mux(spec: EditSpec, video_list: Path, infos: list[MediaInfo], durations: list[float], total: float,
         frames: int, on_progress: Callable[[float], None] | None) -> None:
    """Join the video by stream copy and build the audio in one pass, into ``spec.output`` atomically."""
    clip_inputs: list[str] = []
    for clip in spec.clips:
        clip_inputs += ["-i", str(Path(clip.path).resolve())]
    first_extra = 1 + len(spec.clips)
    extra_inputs, graph = _audio_graph(spec, infos, durations, first_extra, total)
    movflags = ["-movflags", "+faststart"] if spec.settings.profile != "mezzanine" else []
    with atomic_output(spec.output) as tmp:
        args = ["-f", "concat", "-safe", "0", "-auto_convert", "0", "-i", str(video_list), *clip_inputs, *extra_inputs,
                "-filter_complex", graph, "-map", "0:v", "-map", "[aout]", "-c:v", "copy",
                *audio_args(spec.settings), "-frames:v", str(frames), "-t", _fmt(total), *movflags,
                str(tmp)]
        run_ffmpeg(args, what=f"writing {spec.output.name}", duration=total, on_progress=on_progress)
        info = probe(tmp)
        if info.video is None or info.audio is None:
            raise MediaError(f"the edit of {spec.output.name} came out without "
                             f"{'video' if info.video is None else 'audio'}")


def edit_sequence(spec: EditSpec, *, on_progress: Callable[[float], None] | None = None,
                  workers: int | None = None, tmp_root: Path | None = None) -> EditResult:
    """Edit ``spec.clips`` into ``spec.output`` (written atomically).

    Args:
        spec: clips, trims, transitions and output format.
        on_progress: called with the fraction done (0..1), from one thread at a time.
        workers: segments encoded at once (default: the core count).
        tmp_root: where temporary segments go (default: beside the output).

    Raises:
        MediaError: a clip is unreadable or ffmpeg failed; the output is not written.
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
    for k, clip in enumerate(spec.clips):
        if t_frames[k] > min(n[k], n[k - 1] if k else 0) and k:
            raise MediaError(f"transition into {clip.label or clip.path} is longer than a neighbouring clip")
    total_frames = sum(n) - sum(t_frames)
    total = total_frames / fps
    durations = [x / fps for x in n]

    progress_lock = threading.Lock()
    done_seconds: dict[str, float] = {}
    grand = total * 1.3  # the mux is ~0.3 of the work when it builds audio

    def report(key: str, seconds: float) -> None:
        if on_progress is None:
            return
        with progress_lock:
            done_seconds[key] = seconds
            on_progress(min(1.0, sum(done_seconds.values()) / grand))

    tmp_parent = tmp_root or spec.output.parent
    tmp_parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=".reelpipe-edit-", dir=tmp_parent))
    try:
        if _can_stream_copy(spec, infos):
            listing = _concat_list([Path(c.path) for c in spec.clips], tmpdir / "video.ffconcat")
            _mux(spec, listing, infos, durations, total, total_frames,
                 lambda s: report("mux", s * 1.3))
            return EditResult(path=spec.output, mode="copy", frames=total_frames, duration_s=total,
                              segments=len(spec.clips), reencoded_segments=0, ffmpeg_commands=1)

        conformed = [
            _Conformed(index=k, frames=n[k], head=t_frames[k], tail=t_frames[k + 1] if k + 1 < len(n) else 0,
                       chain=_conform_chain(c, infos[k], spec, n[k], first=k == 0, last=k == len(n) - 1))
            for k, c in enumerate(spec.clips)
        ]
        ext = spec.settings.container_ext
        jobs: list[tuple[str, list[str], int]] = []  # (name, ffmpeg args without output, frames)
        order: list[Path] = []
        for k, c in enumerate(conformed):
            clip = spec.clips[k]
            if k > 0 and c.head:
                prev = conformed[k - 1]
                name = f"seg{len(order):03d}_x{k}{ext}"
                kind, seconds = clip.transition_in  # type: ignore[misc]
                graph = (f"[0:v]{prev.chain},trim=start_frame={prev.frames - c.head},setpts=PTS-STARTPTS[a];"
                         f"[1:v]{c.chain},trim=end_frame={c.head},setpts=PTS-STARTPTS[b];"
                         f"[a][b]xfade=transition={kind}:duration={_fmt(c.head / fps)}:offset=0,"
                         f"trim=end_frame={c.head}[v]")
                args = ["-i", str(Path(spec.clips[k - 1].path).resolve()), "-i", str(Path(clip.path).resolve()),
                        "-filter_complex", graph, "-map", "[v]", "-an"]
                jobs.append((name, args, c.head))
                order.append(tmpdir / name)
            body = c.frames - c.head - c.tail
            if body > 0:
                name = f"seg{len(order):03d}_b{k}{ext}"
                graph = f"[0:v]{c.chain},trim=start_frame={c.head}:end_frame={c.head + body},setpts=PTS-STARTPTS[v]"
                args = ["-i", str(Path(clip.path).resolve()), "-filter_complex", graph, "-map", "[v]", "-an"]
                jobs.append((name, args, body))
                order.append(tmpdir / name)

        cores = os.cpu_count() or 2
        workers = max(1, min(workers or cores, len(jobs)))
        settings = spec.settings
        if workers > 1 and settings.threads == 0:
            settings = EncodeSettings(profile=settings.profile, crf=settings.crf, preset=settings.preset,
                                      gop_seconds=settings.gop_seconds, threads=max(1, cores // workers))

        def encode(job: tuple[str, list[str], int]) -> None:
            name, args, frames = job
            out = tmpdir / name
            run_ffmpeg([*args, *video_args(settings, fps), "-r", str(fps), "-frames:v", str(frames), str(out)],
                       what=f"encoding segment {name} of {spec.output.name}", duration=frames / fps,
                       on_progress=lambda s, key=name: report(key, s))

        with ThreadPoolExecutor(max_workers=workers) as pool:
            for fut in [pool.submit(encode, job) for job in jobs]:
                fut.result()
        listing = _concat_list(order, tmpdir / "video.ffconcat")
        _mux(spec, listing, infos, durations, total, total_frames,
             lambda s: report("mux", s * 0.3))
        return EditResult(path=spec.output, mode="segments", frames=total_frames, duration_s=total,
                          segments=len(jobs), reencoded_segments=len(jobs), ffmpeg_commands=len(jobs) + 1)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
