"""Benchmark for the edit stage (issue 5): reelpipe vs one hand-written single-pass ffmpeg command vs moviepy 2.x.

Not a test: run it by hand. ::

    python tests/benchmarks/bench_edit.py [--quick] [--skip-moviepy] [--workdir DIR] [--json FILE]
                                          [--repeat N] [--foreign-gop] [--ssim-all] [--scenarios abc]
                                          [--timeout S]

Same run, same clips: 6 × 8 s 1280x720 30 fps H.264 + AAC clips made once with ffmpeg's ``testsrc2`` (a
different hue per clip) and ``sine`` (a different frequency per clip). By default they are encoded with
reelpipe's own encoder settings (``video_args(EncodeSettings(), 30)`` + ``audio_args``: fixed 2 s closed GOPs,
the same parameter sets), as clips from reelpipe's local renderer are, so the smart cut may copy whole GOPs.
``--foreign-gop`` makes them with x264's defaults instead (other parameter sets, GOP 250, scene cuts): then
nothing can be copied and reelpipe re-encodes every segment.

Three scenarios, each run by three tools on the same files:

* (a) every clip trimmed to 0.5–7.0 s, joined by hard cuts;
* (b) the same trims with 5 ``fade`` crossfades of 0.5 s;
* (c) (b) + a text title (DejaVuSans, 3 s, faded in and out), the logo top-right at 0.8 opacity for the whole
  sequence and a music bed at −12 dB (``samples/music.m4a`` looped once, by stream loop, to the sequence's
  length, the same file for every tool).

Every tool loudness-normalises the result to −14 LUFS (true peak −1 dBTP, LRA 20), since reelpipe does so by
default: reelpipe measures and then normalises linearly (two passes over the audio only), the single-pass
command runs one-pass ``loudnorm`` inside its graph, moviepy gets the same one-pass ``loudnorm`` through the
``ffmpeg_params`` of its audio writer (moviepy has no loudness normaliser of its own).

The tools:

* ``reelpipe``: ``edit_sequence(EditSpec(...))`` in a child Python process (interpreter start-up and imports
  included in its wall time; the ``inner`` column is the time inside ``edit_sequence`` alone);
* ``ffmpeg-1pass``: one ffmpeg process with a hand-written ``-filter_complex`` (trim/concat, xfade/acrossfade,
  drawtext/overlay/amix/loudnorm), libx264 with reelpipe's preset/CRF/GOP, AAC 192k (note: this ffmpeg's
  ``xfade`` only accepts unsubsampled formats, so the chained graph converts every frame after the first
  crossfade to yuv444p and back; ``--ssim-all`` shows what that costs);
* ``moviepy``: ``VideoFileClip(...).subclipped``, ``concatenate_videoclips`` (a) or ``CrossFadeIn`` +
  ``with_start`` in a ``CompositeVideoClip`` (b, c), ``TextClip`` with the font file, ``ImageClip`` logo,
  ``CompositeAudioClip``; ``write_videofile(codec="libx264", audio_codec="aac", preset=<reelpipe's>,
  threads=2, ffmpeg_params=["-crf", <reelpipe's>])``, in a child Python process.

Measured for each: wall seconds, CPU seconds (user + sys of the whole process tree, from
``getrusage(RUSAGE_CHILDREN)`` deltas; this script makes itself a child subreaper so orphaned grandchildren
are reaped and counted too), and the peak RSS of the process tree (the sum of the RSS of every descendant,
sampled every 50 ms from ``/proc``; MB = 10^6 bytes). Every output is probed (frames, duration) and reelpipe's
is compared by SSIM, frame by frame, with the same frames rendered losslessly from the sources (the
single-pass graph's video, decoded straight into ffmpeg's ``ssim`` filter, no intermediate file): frames
identical to the reference (SSIM 1.0, i.e. copied packets) are counted apart, and each run of re-encoded
frames must reach SSIM ≥ 0.98. For (a), the output's video packets are also compared byte for byte with the
sources' packets, to show that untouched GOPs were copied.

``--quick`` is a smoke test: 3 clips × 4 s at 640x360, trimmed 0.5–4.0 s so that a whole GOP is still
copyable. The issue's targets are stated for the full-size run; quick-mode PASS/FAIL lines are indicative.
On a shared or small machine, timings are noisy: use ``--repeat`` (median of N runs for reelpipe and the
single-pass command; moviepy runs once).

Exit code: 0 when every run succeeded (whatever the targets say), 1 when a run failed, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SAMPLES = ROOT / "samples"
FONT = SAMPLES / "fonts" / "DejaVuSans.ttf"
LOGO = SAMPLES / "logo.png"
MUSIC = SAMPLES / "music.m4a"
TITLE = "Harbor at dusk"
SCENARIOS = ("a", "b", "c")
SCENARIO_NAMES = {"a": "hard cuts with trims", "b": "crossfades", "c": "crossfades + title + logo + music"}
TOOLS = ("reelpipe", "ffmpeg-1pass", "moviepy")
SSIM_TARGET = 0.98
RSS_TARGET_MB = 400.0
MB = 1_000_000


class BenchError(Exception):
    """A setup problem, reported without a traceback."""


# ------------------------------------------------------------------------------------------------ config


@dataclass(frozen=True)
class Config:
    """The clips and the timeline, shared by every tool."""

    n_clips: int = 6
    seconds: float = 8.0
    width: int = 1280
    height: int = 720
    fps: int = 30
    trim_start: float = 0.5
    trim_end: float = 7.0
    xfade: float = 0.5
    title_start: float = 0.5
    title_end: float = 3.5
    title_fade: float = 0.5
    logo_width_frac: float = 0.2
    logo_opacity: float = 0.8
    music_gain_db: float = -12.0
    lufs: float = -14.0
    true_peak: float = -1.0
    lra: float = 20.0
    foreign_gop: bool = False

    @property
    def clip_frames(self) -> int:
        return round((self.trim_end - self.trim_start) * self.fps)

    @property
    def xfade_frames(self) -> int:
        return round(self.xfade * self.fps)

    def total_frames(self, scenario: str) -> int:
        t = 0 if scenario == "a" else self.xfade_frames
        return self.n_clips * self.clip_frames - (self.n_clips - 1) * t

    def total(self, scenario: str) -> float:
        return self.total_frames(scenario) / self.fps

    @property
    def margin(self) -> int:
        return round(40 * self.height / 720)

    @property
    def font_size(self) -> int:
        return round(48 * self.height / 720)

    @property
    def logo_width(self) -> int:
        return max(2, round(self.width * self.logo_width_frac / 2) * 2)

    @property
    def crf(self) -> int:
        from pipeline.media.encode import EncodeSettings

        return EncodeSettings().crf

    @property
    def preset(self) -> str:
        from pipeline.media.encode import EncodeSettings

        return EncodeSettings().preset


def _fmt(x: float) -> str:
    text = f"{x:.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _loudnorm(cfg: Config) -> str:
    return f"loudnorm=I={_fmt(cfg.lufs)}:TP={_fmt(cfg.true_peak)}:LRA={_fmt(cfg.lra)},aresample=48000"


# ------------------------------------------------------------------------------------------------- media


def _ffmpeg(args: list[str], what: str) -> str:
    from pipeline.media.ffmpeg import run_ffmpeg

    return " ".join(run_ffmpeg(args, what=what))


def make_clips(cfg: Config, workdir: Path) -> list[Path]:
    """Make (or reuse) the test clips."""
    from pipeline.errors import MediaError
    from pipeline.media.encode import EncodeSettings, audio_args, video_args
    from pipeline.media.probe import probe

    kind = "x264default" if cfg.foreign_gop else "reelpipe"
    clips = []
    made = reused = 0
    for k in range(cfg.n_clips):
        path = workdir / f"clip{k}_{cfg.width}x{cfg.height}_{cfg.fps}fps_{_fmt(cfg.seconds)}s_{kind}.mp4"
        expected = round(cfg.seconds * cfg.fps)
        if path.exists():
            try:
                v = probe(path).video
                if v is not None and (v.width, v.height, v.frames) == (cfg.width, cfg.height, expected):
                    clips.append(path)
                    reused += 1
                    continue
            except MediaError:
                pass  # unreadable: make it again
        if cfg.foreign_gop:
            vargs = ["-c:v", "libx264", "-preset", cfg.preset, "-crf", str(cfg.crf), "-pix_fmt", "yuv420p"]
        else:
            vargs = video_args(EncodeSettings(), cfg.fps)
        tmp = path.with_name(path.stem + ".part.mp4")
        _ffmpeg(["-f", "lavfi", "-i",
                 f"testsrc2=size={cfg.width}x{cfg.height}:rate={cfg.fps}:duration={_fmt(cfg.seconds)}",
                 "-f", "lavfi", "-i", f"sine=frequency={220 + 110 * k}:sample_rate=48000:duration={_fmt(cfg.seconds)}",
                 "-filter:v", f"hue=h={60 * k}", "-map", "0:v", "-map", "1:a", *vargs,
                 *audio_args(EncodeSettings()), str(tmp)], what=f"making test clip {k}")
        tmp.replace(path)
        clips.append(path)
        made += 1
    how = ("x264 defaults (GOP 250, scene cuts, other parameter sets): nothing copyable" if cfg.foreign_gop
           else "reelpipe's own encoder settings (video_args(EncodeSettings(), fps) + audio_args), "
                f"closed {EncodeSettings().gop_seconds:g} s GOPs, as the local renderer writes them")
    print(f"clips: {cfg.n_clips} × {_fmt(cfg.seconds)} s {cfg.width}x{cfg.height} {cfg.fps} fps H.264+AAC "
          f"(testsrc2 + sine), encoded with {how}; {made} made, {reused} reused, in {workdir}")
    return clips


def make_music(cfg: Config, workdir: Path, seconds: float) -> Path:
    """The music bed looped to ``seconds`` (one file, used by every tool)."""
    path = workdir / f"music_bed_{_fmt(seconds)}s.m4a"
    if not path.exists():
        tmp = path.with_name(path.stem + ".part.m4a")
        _ffmpeg(["-stream_loop", "-1", "-i", str(MUSIC), "-t", _fmt(seconds + 0.2), "-map", "0:a",
                 "-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-ac", "2", str(tmp)], what="looping the music bed")
        tmp.replace(path)
    return path


# ----------------------------------------------------------------------------------- single-pass graph


def single_pass_graph(cfg: Config, scenario: str, clips: list[Path], music: Path | None, audio: bool = True,
                      exact: bool = False) -> tuple[list[str], str, str, str | None]:
    """The hand-written one-graph edit: inputs, filtergraph, video label, audio label.

    With ``exact`` (the SSIM reference, video only), crossfades are built window by window and joined with
    ``concat`` instead of chaining ``xfade`` over whole clips: this ffmpeg's ``xfade`` only takes unsubsampled
    formats, so a chain converts *every* frame to yuv444p and back, which a lossless reference must not do.
    """
    from pipeline.media.ffmpeg import escape_filter_value

    inputs: list[str] = []
    chains: list[str] = []
    for p in clips:
        inputs += ["-i", str(p)]
    s, e = _fmt(cfg.trim_start), _fmt(cfg.trim_end)
    for k in range(len(clips)):
        chains.append(f"[{k}:v]setpts=PTS-STARTPTS,trim=start={s}:end={e},setpts=PTS-STARTPTS,format=yuv420p[v{k}]")
        if audio:
            chains.append(f"[{k}:a]asetpts=PTS-STARTPTS,atrim=start={s}:end={e},asetpts=PTS-STARTPTS[a{k}]")
    n = len(clips)
    t = cfg.xfade_frames / cfg.fps
    if scenario == "a":
        pairs = "".join(f"[v{k}][a{k}]" if audio else f"[v{k}]" for k in range(n))
        chains.append(f"{pairs}concat=n={n}:v=1:a={1 if audio else 0}[vcat]" + ("[acat]" if audio else ""))
        v, a = "vcat", "acat"
    elif exact:
        if audio:
            raise ValueError("the exact graph is video only")
        nf, tf_ = cfg.clip_frames, cfg.xfade_frames
        pieces: list[str] = []
        for k in range(n):
            parts = []
            if k > 0:
                parts.append((f"h{k}", f"trim=end_frame={tf_}"))
            parts.append((f"b{k}", f"trim=start_frame={tf_ if k > 0 else 0}:end_frame={nf - tf_ if k < n - 1 else nf}"))
            if k < n - 1:
                parts.append((f"t{k}", f"trim=start_frame={nf - tf_}"))
            chains.append(f"[v{k}]split={len(parts)}" + "".join(f"[s{lab}]" for lab, _ in parts))
            for lab, trim in parts:
                chains.append(f"[s{lab}]{trim},setpts=PTS-STARTPTS[{lab}]")
            if k > 0:
                chains.append(f"[t{k - 1}][h{k}]xfade=transition=fade:duration={_fmt(t)}:offset=0,"
                              f"trim=end_frame={tf_},setpts=PTS-STARTPTS,format=yuv420p[w{k}]")
                pieces.append(f"[w{k}]")
            pieces.append(f"[b{k}]")
        chains.append("".join(pieces) + f"concat=n={len(pieces)}:v=1:a=0[vcat]")
        v, a = "vcat", ""
    else:
        d = cfg.clip_frames / cfg.fps
        v, a = "v0", "a0"
        for k in range(1, n):
            offset = k * (d - t)
            chains.append(f"[{v}][v{k}]xfade=transition=fade:duration={_fmt(t)}:offset={_fmt(offset)}[x{k}]")
            v = f"x{k}"
            if audio:
                chains.append(f"[{a}][a{k}]acrossfade=d={_fmt(t)}:c1=tri:c2=tri[y{k}]")
                a = f"y{k}"
    if scenario == "c":
        ts, te, tf = cfg.title_start, cfg.title_end, cfg.title_fade
        alpha = (f"if(lt(t,{_fmt(ts)}),0,if(lt(t,{_fmt(ts + tf)}),(t-{_fmt(ts)})/{_fmt(tf)},"
                 f"if(lt(t,{_fmt(te - tf)}),1,if(lt(t,{_fmt(te)}),({_fmt(te)}-t)/{_fmt(tf)},0))))")
        chains.append(f"[{v}]drawtext=fontfile={escape_filter_value(str(FONT))}:text='{TITLE}'"
                      f":fontsize={cfg.font_size}:fontcolor=white:x={cfg.margin}:y=h-text_h-{cfg.margin}"
                      f":alpha='{alpha}':enable='between(t,{_fmt(ts)},{_fmt(te)})'[titled]")
        logo_idx = n
        inputs += ["-loop", "1", "-framerate", str(cfg.fps), "-i", str(LOGO)]
        chains.append(f"[{logo_idx}:v]format=rgba,scale={cfg.logo_width}:-2,"
                      f"colorchannelmixer=aa={_fmt(cfg.logo_opacity)}[logo]")
        chains.append(f"[titled][logo]overlay=x=main_w-overlay_w-{cfg.margin}:y={cfg.margin}:shortest=1[vfinal]")
        v = "vfinal"
        if audio:
            assert music is not None
            inputs += ["-i", str(music)]
            total = _fmt(cfg.total(scenario))
            chains.append(f"[{n + 1}:a]atrim=end={total},volume={_fmt(cfg.music_gain_db)}dB[mus]")
            chains.append(f"[{a}][mus]amix=inputs=2:duration=first:normalize=0[mixed]")
            a = "mixed"
    if audio:
        chains.append(f"[{a}]{_loudnorm(cfg)}[aout]")
        return inputs, ";".join(chains), v, "aout"
    return inputs, ";".join(chains), v, None


def single_pass_argv(cfg: Config, scenario: str, clips: list[Path], music: Path | None, out: Path) -> list[str]:
    from pipeline.media.encode import EncodeSettings, audio_args, video_args
    from pipeline.media.ffmpeg import ffmpeg_exe

    inputs, graph, v, a = single_pass_graph(cfg, scenario, clips, music)
    return [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *inputs,
            "-filter_complex", graph, "-map", f"[{v}]", "-map", f"[{a}]",
            *video_args(EncodeSettings(), cfg.fps), *audio_args(EncodeSettings()), "-movflags", "+faststart",
            str(out)]


# ------------------------------------------------------------------------------------------ child runs


def child_main(job_path: Path) -> int:
    """Run one tool for one scenario (inside the measured child process)."""
    job = json.loads(job_path.read_text(encoding="utf-8"))
    cfg = Config(**job["cfg"])
    try:
        if job["tool"] == "reelpipe":
            result = _child_reelpipe(cfg, job)
        else:
            result = _child_moviepy(cfg, job)
    except Exception as exc:  # noqa: BLE001 - any failure is reported by the parent from stderr
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        hint = getattr(exc, "hint", None)
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
        return 1
    Path(job["result"]).write_text(json.dumps(result), encoding="utf-8")
    return 0


def _child_reelpipe(cfg: Config, job: dict[str, Any]) -> dict[str, Any]:
    from pipeline.stages.edit import EditClip, EditOverlay, EditSpec, MusicBed, edit_sequence

    scenario = job["scenario"]
    out = Path(job["out"])
    clips = [EditClip(path=Path(p), start=cfg.trim_start, end=cfg.trim_end, label=f"clip{k}",
                      transition_in=("fade", cfg.xfade) if k and scenario != "a" else None)
             for k, p in enumerate(job["clips"])]
    overlays: list[EditOverlay] = []
    music = None
    if scenario == "c":
        overlays = [
            EditOverlay(kind="text", start=cfg.title_start, end=cfg.title_end, position="bottom-left",
                        margin=cfg.margin, fade_in=cfg.title_fade, fade_out=cfg.title_fade, text=TITLE, font=FONT,
                        size=cfg.font_size),
            EditOverlay(kind="image", start=0.0, end=cfg.total(scenario), position="top-right", margin=cfg.margin,
                        opacity=cfg.logo_opacity, image=LOGO, scale=cfg.logo_width_frac),
        ]
        music = MusicBed(path=Path(job["music"]), gain_db=cfg.music_gain_db)
    spec = EditSpec(clips=clips, output=out, width=cfg.width, height=cfg.height, fps=cfg.fps, overlays=overlays,
                    music=music, loudness_lufs=cfg.lufs, true_peak_db=cfg.true_peak)
    start = time.perf_counter()
    res = edit_sequence(spec, tmp_root=out.parent)
    inner = time.perf_counter() - start
    edit = {k: v for k, v in asdict(res).items() if k not in ("commands", "path")}
    return {"inner_s": inner, "edit": edit}


def _child_moviepy(cfg: Config, job: dict[str, Any]) -> dict[str, Any]:
    import logging

    logging.disable(logging.WARNING)
    from moviepy import (
        AudioFileClip,
        CompositeAudioClip,
        CompositeVideoClip,
        ImageClip,
        TextClip,
        VideoFileClip,
        afx,
        concatenate_videoclips,
        vfx,
    )

    scenario = job["scenario"]
    out = Path(job["out"])
    start = time.perf_counter()
    sources = [VideoFileClip(p, audio_fps=48000) for p in job["clips"]]
    parts = [c.subclipped(cfg.trim_start, cfg.trim_end) for c in sources]
    extra = []
    if scenario == "a":
        final = concatenate_videoclips(parts)
    else:
        t = cfg.xfade
        layers = []
        at = 0.0
        for k, part in enumerate(parts):
            effects: list[Any] = []
            if k > 0:
                effects += [vfx.CrossFadeIn(t), afx.AudioFadeIn(t)]
            if k < len(parts) - 1:
                effects.append(afx.AudioFadeOut(t))
            part = part.with_effects(effects).with_start(at)
            layers.append(part)
            at += part.duration - t
        if scenario == "c":
            title = TextClip(font=str(FONT), text=TITLE, font_size=cfg.font_size, color="white")
            title = (title.with_start(cfg.title_start).with_duration(cfg.title_end - cfg.title_start)
                     .with_position((cfg.margin, cfg.height - title.h - cfg.margin))
                     .with_effects([vfx.CrossFadeIn(cfg.title_fade), vfx.CrossFadeOut(cfg.title_fade)]))
            total = layers[-1].end
            logo = ImageClip(str(LOGO)).resized(width=cfg.logo_width).with_opacity(cfg.logo_opacity)
            logo = logo.with_duration(total).with_position((cfg.width - logo.w - cfg.margin, cfg.margin))
            layers += [title, logo]
        final = CompositeVideoClip(layers, size=(cfg.width, cfg.height))
        if scenario == "c":
            bed = AudioFileClip(job["music"], fps=48000)
            extra.append(bed)
            bed = bed.subclipped(0, min(bed.duration, final.duration)).with_effects(
                [afx.MultiplyVolume(10 ** (cfg.music_gain_db / 20))])
            final = final.with_audio(CompositeAudioClip([final.audio, bed]).with_duration(final.duration))
    # moviepy has no loudness normaliser: its audio writer runs the same one-pass loudnorm as the
    # single-pass command, then the video writer muxes that file
    audio_file = out.with_name(out.stem + "-audio.m4a")
    final.audio.write_audiofile(str(audio_file), fps=48000, codec="aac", bitrate="192k",
                                ffmpeg_params=["-af", _loudnorm(cfg)], logger=None)
    final.write_videofile(str(out), fps=cfg.fps, codec="libx264", audio=str(audio_file), preset=cfg.preset,
                          threads=2, ffmpeg_params=["-crf", str(cfg.crf)], logger=None)
    inner = time.perf_counter() - start
    audio_file.unlink(missing_ok=True)
    for c in [final, *parts, *sources, *extra]:
        try:
            c.close()
        except Exception:  # noqa: BLE001, S110 - closing is best effort
            pass
    return {"inner_s": inner}


# ----------------------------------------------------------------------------------------- measurement


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _make_subreaper() -> bool:
    """Orphaned grandchildren get re-parented to this process (so their RSS and CPU stay in the tree)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(36, 1, 0, 0, 0) == 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _descendants() -> dict[int, int]:
    """RSS (bytes) of every live descendant of this process, by pid."""
    me = os.getpid()
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2:].split()
        pid, ppid = int(name), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * _PAGE
    out: dict[int, int] = {}
    stack = list(children.get(me, []))
    while stack:
        pid = stack.pop()
        out[pid] = rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return out


class _Sampler(threading.Thread):
    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self.max_procs = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            tree = _descendants()
            self.peak = max(self.peak, sum(tree.values()))
            self.max_procs = max(self.max_procs, len(tree))
            self.samples += 1
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    rc: int
    max_procs: int
    stderr: str = ""
    inner_s: float | None = None
    child: dict[str, Any] = field(default_factory=dict)


def _cpu_children() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _reap_leftovers(grace: float = 5.0) -> None:
    """Wait for (then kill) descendants that outlived the measured process, and reap them."""
    deadline = time.monotonic() + grace
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        alive = _descendants()
        if not alive:
            return
        if time.monotonic() > deadline:
            for pid in alive:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace
        time.sleep(0.05)


def measure(argv: list[str], cwd: Path, log: Path, timeout: float) -> Run:
    """Run ``argv`` and measure its whole process tree."""
    cpu0 = _cpu_children()
    sampler = _Sampler()
    with open(log, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT,
                                start_new_session=True)
        sampler.start()
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = -9
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            sampler.stop()
            _reap_leftovers(0.0)
            raise
        wall = time.perf_counter() - start
        _reap_leftovers()
        sampler.stop()
    cpu = _cpu_children() - cpu0
    text = log.read_text(encoding="utf-8", errors="replace")
    if rc == -9:
        text += f"\n(killed after the {timeout:.0f} s timeout)"
    return Run(wall_s=wall, cpu_s=cpu, peak_rss_mb=sampler.peak / MB, rc=rc, max_procs=sampler.max_procs,
               stderr=text)


# ------------------------------------------------------------------------------------------------ checks


def check_output(path: Path) -> dict[str, Any]:
    from pipeline.media.probe import probe
    from pipeline.stages.edit import measure_loudness

    info = probe(path)
    v, a = info.video, info.audio
    lufs, peak = measure_loudness(path) if a else (None, None)
    return {"frames": v.frames if v else 0, "video_s": v.duration if v else 0.0,
            "audio_s": a.duration if a else 0.0, "duration_s": info.duration,
            "size": f"{v.width}x{v.height}" if v else "-", "fps": v.fps if v else 0.0,
            "lufs": lufs, "peak_dbfs": peak}


def ssim_against_reference(cfg: Config, scenario: str, clips: list[Path], out: Path, stats: Path) -> dict[str, Any]:
    """Per-frame SSIM of ``out`` against the same frames rendered losslessly from the sources."""
    from pipeline.media.ffmpeg import escape_filter_value

    inputs, graph, v, _ = single_pass_graph(cfg, scenario, clips, None, audio=False, exact=True)
    idx = len([x for x in inputs if x == "-i"])
    graph += (f";[{idx}:v]setpts=PTS-STARTPTS[test];[{v}]setpts=PTS-STARTPTS[ref];"
              f"[test][ref]ssim=stats_file={escape_filter_value(str(stats))}[cmp]")
    _ffmpeg([*inputs, "-i", str(out), "-filter_complex", graph, "-map", "[cmp]", "-f", "null", "-"],
            what=f"comparing {out.name} with its reference by SSIM")
    values = []
    for line in stats.read_text(encoding="utf-8").splitlines():
        m = re.search(r"All:([\d.]+|inf)", line)
        if m:
            values.append(1.0 if m.group(1) == "inf" else float(m.group(1)))
    stats.unlink(missing_ok=True)
    identical = [x >= 0.9999995 for x in values]
    runs: list[list[float]] = []  # runs of re-encoded (not identical) frames
    for x, same in zip(values, identical):
        if same:
            if runs and runs[-1]:
                runs.append([])
            continue
        if not runs:
            runs.append([])
        runs[-1].append(x)
    runs = [r for r in runs if r]
    reenc = [x for x, same in zip(values, identical) if not same]
    return {
        "frames_compared": len(values),
        "identical_frames": sum(identical),
        "reencoded_frames": len(reenc),
        "reencoded_runs": len(runs),
        "mean_all": statistics.fmean(values) if values else None,
        "mean_reencoded": statistics.fmean(reenc) if reenc else None,
        "min_run_mean": min(statistics.fmean(r) for r in runs) if runs else None,
        "min_frame": min(reenc) if reenc else None,
    }


def copied_packets(out: Path, clips: list[Path]) -> dict[str, int]:
    """How many of ``out``'s video packets are byte-identical to a source packet."""
    from pipeline.media.probe import video_packets

    source: set[bytes] = set()
    for p in clips:
        source.update(hashlib.sha1(b).digest() for b in video_packets(p))
    packets = video_packets(out)
    same = sum(1 for b in packets if hashlib.sha1(b).digest() in source)
    return {"packets": len(packets), "identical_to_source": same}


# --------------------------------------------------------------------------------------------------- main


def _tail(text: str, lines: int = 8) -> str:
    kept = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n      ".join(kept[-lines:]) or "(no message)"


def _ratio(x: float | None, y: float | None) -> float | None:
    if x is None or y is None or y <= 0:
        return None
    return x / y


def run_tool(tool: str, cfg: Config, scenario: str, clips: list[Path], music: Path | None, outdir: Path,
             repeat: int, timeout: float) -> dict[str, Any]:
    out = outdir / f"{scenario}-{tool}.mp4"
    runs: list[Run] = []
    n = 1 if tool == "moviepy" else repeat
    for i in range(n):
        out.unlink(missing_ok=True)
        if tool == "ffmpeg-1pass":
            argv = single_pass_argv(cfg, scenario, clips, music, out)
            result_file = None
        else:
            job = outdir / f"{scenario}-{tool}.job.json"
            result_file = outdir / f"{scenario}-{tool}.result.json"
            result_file.unlink(missing_ok=True)
            job.write_text(json.dumps({"tool": tool, "scenario": scenario, "cfg": asdict(cfg),
                                       "clips": [str(p) for p in clips], "music": str(music) if music else None,
                                       "out": str(out), "result": str(result_file)}), encoding="utf-8")
            argv = [sys.executable, str(Path(__file__).resolve()), "--child", str(job)]
        run = measure(argv, outdir, outdir / f"{scenario}-{tool}.log", timeout)
        if result_file is not None and run.rc == 0 and result_file.exists():
            run.child = json.loads(result_file.read_text(encoding="utf-8"))
            run.inner_s = run.child.get("inner_s")
        runs.append(run)
        if run.rc != 0 or not out.exists():
            return {"tool": tool, "ok": False, "error": _tail(run.stderr), "out": str(out)}
    walls = [r.wall_s for r in runs]
    inner = [r.inner_s for r in runs if r.inner_s is not None]
    rec: dict[str, Any] = {
        "tool": tool, "ok": True, "out": str(out), "runs": len(runs),
        "wall_s": statistics.median(walls), "wall_all_s": walls,
        "inner_s": statistics.median(inner) if inner else None,
        "cpu_s": statistics.median(r.cpu_s for r in runs),
        "peak_rss_mb": max(r.peak_rss_mb for r in runs),
        "max_procs": max(r.max_procs for r in runs),
    }
    if tool == "ffmpeg-1pass":
        rec["command"] = subprocess.list2cmdline(argv)
    if runs[-1].child.get("edit"):
        rec["edit"] = runs[-1].child["edit"]
    rec["check"] = check_output(out)
    return rec


def _pf(ok: bool | None) -> str:
    return "n/a " if ok is None else ("PASS" if ok else "FAIL")


def evaluate(scenario: str, res: dict[str, dict[str, Any]], cfg: Config) -> list[dict[str, Any]]:
    """The issue's targets for one scenario."""
    rp, ff, mp = res.get("reelpipe", {}), res.get("ffmpeg-1pass", {}), res.get("moviepy", {})
    rw = rp.get("wall_s") if rp.get("ok") else None
    fw = ff.get("wall_s") if ff.get("ok") else None
    mw = mp.get("wall_s") if mp.get("ok") else None
    mp_speedup = _ratio(mw, rw)
    rp_vs_ff = _ratio(rw, fw)
    targets: list[dict[str, Any]] = []

    def add(name: str, value: float | None, ok: bool | None, text: str) -> None:
        targets.append({"target": name, "value": value, "ok": ok, "text": text})

    need = {"a": 50.0, "b": 6.0, "c": 3.0}[scenario]
    add(f"moviepy/reelpipe wall ≥ {need:g}×", mp_speedup, None if mp_speedup is None else mp_speedup >= need,
        "n/a" if mp_speedup is None else f"{mp_speedup:.1f}×")
    if scenario == "a":
        edit = rp.get("edit") or {}
        pk = rp.get("packets") or {}
        copied = edit.get("copied_frames")
        ok = None if copied is None else (copied > 0 and pk.get("identical_to_source", 0) >= copied)
        add("untouched video packets copied", copied, ok,
            "n/a" if copied is None else f"copied_frames={copied}, output packets identical to source: "
                                         f"{pk.get('identical_to_source', '?')}/{pk.get('packets', '?')}")
    else:
        limit = 0.5 if scenario == "b" else 1.0
        add(f"reelpipe/ffmpeg-1pass wall ≤ {limit:g}×", rp_vs_ff, None if rp_vs_ff is None else rp_vs_ff <= limit,
            "n/a" if rp_vs_ff is None else f"{rp_vs_ff:.2f}×")
    rss = rp.get("peak_rss_mb") if rp.get("ok") else None
    add(f"reelpipe peak RSS ≤ {RSS_TARGET_MB:g} MB", rss, None if rss is None else rss <= RSS_TARGET_MB,
        "n/a" if rss is None else f"{rss:.0f} MB")
    ss = rp.get("ssim") or {}
    if ss.get("reencoded_frames"):
        v = ss["min_run_mean"]
        add(f"re-encoded parts SSIM ≥ {SSIM_TARGET:g}", v, v >= SSIM_TARGET,
            f"min over {ss['reencoded_runs']} re-encoded runs {v:.4f} (mean {ss['mean_reencoded']:.4f}, "
            f"worst frame {ss['min_frame']:.4f})")
    elif ss.get("frames_compared"):
        add(f"re-encoded parts SSIM ≥ {SSIM_TARGET:g}", 1.0, True, "no re-encoded frames; all identical")
    else:
        add(f"re-encoded parts SSIM ≥ {SSIM_TARGET:g}", None, None, "n/a")
    if rp.get("ok"):
        frames = rp["check"]["frames"]
        expected = cfg.total_frames(scenario)
        add("reelpipe frame count", frames, frames == expected, f"{frames} (expected {expected})")
    return targets


def print_scenario(scenario: str, cfg: Config, res: dict[str, dict[str, Any]], targets: list[dict[str, Any]]) -> None:
    expected = cfg.total_frames(scenario)
    print(f"\n({scenario}) {SCENARIO_NAMES[scenario]}: expected {expected} frames = {expected / cfg.fps:.3f} s")
    print(f"  {'tool':<14}{'wall s':>9}{'inner s':>9}{'CPU s':>9}{'peak RSS MB':>13}{'procs':>7}"
          f"{'frames':>8}{'video s':>9}{'audio s':>9}{'LUFS':>7}")
    for tool in TOOLS:
        r = res.get(tool)
        if r is None:
            print(f"  {tool:<14}{'skipped':>9}")
            continue
        if not r["ok"]:
            print(f"  {tool:<14}{'FAILED':>9}  {r['error']}")
            continue
        c = r["check"]
        inner = f"{r['inner_s']:.2f}" if r.get("inner_s") is not None else "-"
        mark = "" if c["frames"] == expected else " !"
        print(f"  {tool:<14}{r['wall_s']:>9.2f}{inner:>9}{r['cpu_s']:>9.2f}{r['peak_rss_mb']:>13.0f}"
              f"{r['max_procs']:>7}{c['frames']:>8}{c['video_s']:>9.3f}{c['audio_s']:>9.3f}"
              f"{c['lufs'] if c['lufs'] is not None else float('nan'):>7.1f}{mark}")
    rp = res.get("reelpipe") or {}
    if rp.get("edit"):
        e = rp["edit"]
        lufs = f"{e['loudness_lufs']:.1f} LUFS" if e.get("loudness_lufs") is not None else "-"
        print(f"  reelpipe EditResult: mode={e['mode']} segments={e['segments']} "
              f"reencoded_segments={e['reencoded_segments']} copied_frames={e['copied_frames']} "
              f"ffmpeg_commands={e['ffmpeg_commands']} loudness={lufs}")
    for tool in TOOLS:
        ss = (res.get(tool) or {}).get("ssim")
        if ss:
            mr = f"{ss['mean_reencoded']:.4f}" if ss["mean_reencoded"] is not None else "-"
            print(f"  SSIM {tool} vs lossless reference: {ss['frames_compared']} frames, "
                  f"{ss['identical_frames']} identical, {ss['reencoded_frames']} re-encoded in "
                  f"{ss['reencoded_runs']} runs (mean {mr}), mean of all {ss['mean_all']:.4f}")
    ratios = []
    mp_rp = _ratio((res.get("moviepy") or {}).get("wall_s"), rp.get("wall_s"))
    rp_ff = _ratio(rp.get("wall_s"), (res.get("ffmpeg-1pass") or {}).get("wall_s"))
    cpu_rp_ff = _ratio(rp.get("cpu_s"), (res.get("ffmpeg-1pass") or {}).get("cpu_s"))
    if mp_rp is not None:
        ratios.append(f"moviepy/reelpipe {mp_rp:.1f}×")
    if rp_ff is not None:
        ratios.append(f"reelpipe/ffmpeg-1pass {rp_ff:.2f}× (CPU {cpu_rp_ff:.2f}×)" if cpu_rp_ff else
                      f"reelpipe/ffmpeg-1pass {rp_ff:.2f}×")
    if ratios:
        print("  wall ratios: " + ", ".join(ratios))
    for t in targets:
        print(f"  [{_pf(t['ok'])}] {t['target']}: {t['text']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 clips × 4 s at 640x360")
    parser.add_argument("--skip-moviepy", action="store_true", help="skip the (slow) moviepy baseline")
    parser.add_argument("--workdir", type=Path, help="make/reuse the clips here and keep the outputs")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--repeat", type=int, default=1, help="runs of reelpipe and ffmpeg-1pass (median)")
    parser.add_argument("--foreign-gop", action="store_true", help="clips with x264 defaults (nothing copyable)")
    parser.add_argument("--ssim-all", action="store_true", help="SSIM the baselines' outputs too")
    parser.add_argument("--scenarios", default="abc", help="which scenarios to run (default: abc)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before a run is killed")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args.child)
    scenarios = [s for s in SCENARIOS if s in args.scenarios]
    if not scenarios or any(s not in SCENARIOS for s in args.scenarios):
        parser.error("--scenarios takes letters among a, b, c")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not args.skip_moviepy:
        import importlib.util

        if importlib.util.find_spec("moviepy") is None:
            raise BenchError("moviepy is not installed: pip install 'moviepy>=2', or pass --skip-moviepy")
    for p in (FONT, LOGO, MUSIC):
        if not p.exists():
            raise BenchError(f"{p}: sample file missing (run from a full checkout)")
    cfg = (Config(n_clips=3, seconds=4.0, width=640, height=360, trim_end=4.0, foreign_gop=args.foreign_gop)
           if args.quick else Config(foreign_gop=args.foreign_gop))
    if not _make_subreaper():
        print("note: could not become a child subreaper; orphaned grandchildren are not measured")

    with tempfile.TemporaryDirectory(prefix="bench-edit-") as tmp:
        keep = args.workdir is not None
        workdir = (args.workdir or Path(tmp)).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        outdir = workdir / ("out-quick" if args.quick else "out")
        outdir.mkdir(exist_ok=True)
        from pipeline.errors import MediaError
        from pipeline.media.ffmpeg import ffmpeg_exe

        print(f"edit benchmark{' (--quick smoke test; targets are for the full run)' if args.quick else ''}: "
              f"{os.cpu_count()} cores, ffmpeg {ffmpeg_exe()}")
        try:
            clips = make_clips(cfg, workdir)
            music = make_music(cfg, workdir, cfg.total("c")) if "c" in scenarios else None
        except MediaError as exc:
            raise BenchError(f"could not make the test media: {exc}") from exc
        d = cfg.trim_end - cfg.trim_start
        print(f"timeline: each clip trimmed {_fmt(cfg.trim_start)}–{_fmt(cfg.trim_end)} s ({cfg.clip_frames} frames); "
              f"(b)/(c) {cfg.n_clips - 1} fade crossfades of {_fmt(cfg.xfade)} s; (c) title "
              f"{_fmt(cfg.title_start)}–{_fmt(cfg.title_end)} s with {_fmt(cfg.title_fade)} s fades, logo top-right "
              f"{cfg.logo_width} px wide at {cfg.logo_opacity:g} opacity, music bed {_fmt(cfg.music_gain_db)} dB "
              f"(looped to the sequence length); every tool normalises to {_fmt(cfg.lufs)} LUFS "
              f"(reelpipe: measured two-pass linear; baselines: one-pass loudnorm); x264 preset {cfg.preset} "
              f"crf {cfg.crf}; {d:g} s per clip")
        if args.skip_moviepy:
            print("moviepy: skipped (--skip-moviepy)")
        report: dict[str, Any] = {"config": asdict(cfg), "quick": args.quick, "cores": os.cpu_count(),
                                  "workdir": str(workdir) if keep else None, "scenarios": {}}
        failed = False
        for scenario in scenarios:
            res: dict[str, dict[str, Any]] = {}
            for tool in TOOLS:
                if tool == "moviepy" and args.skip_moviepy:
                    continue
                print(f"  running ({scenario}) {tool} ...", flush=True)
                try:
                    res[tool] = run_tool(tool, cfg, scenario, clips, music, outdir, args.repeat, args.timeout)
                except MediaError as exc:
                    res[tool] = {"tool": tool, "ok": False, "error": str(exc)}
                failed |= not res[tool]["ok"]
            for tool, r in res.items():
                if not r["ok"] or (tool != "reelpipe" and not args.ssim_all):
                    continue
                try:
                    r["ssim"] = ssim_against_reference(cfg, scenario, clips, Path(r["out"]),
                                                       outdir / f"{scenario}-{tool}.ssim.log")
                    if tool == "reelpipe" and scenario == "a":
                        r["packets"] = copied_packets(Path(r["out"]), clips)
                except MediaError as exc:
                    r["ssim_error"] = str(exc)
                    print(f"  SSIM of {tool} failed: {exc}")
            targets = evaluate(scenario, res, cfg)
            print_scenario(scenario, cfg, res, targets)
            report["scenarios"][scenario] = {"name": SCENARIO_NAMES[scenario],
                                             "expected_frames": cfg.total_frames(scenario),
                                             "results": res, "targets": targets}
            if not keep:
                for tool in TOOLS:
                    (outdir / f"{scenario}-{tool}.mp4").unlink(missing_ok=True)
        all_t = [t for s in report["scenarios"].values() for t in s["targets"]]
        print(f"\nsummary: {sum(t['ok'] is True for t in all_t)} PASS, {sum(t['ok'] is False for t in all_t)} FAIL, "
              f"{sum(t['ok'] is None for t in all_t)} n/a" + (" (quick mode: indicative only)" if args.quick else ""))
        if keep:
            print(f"outputs and logs kept in {outdir}")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
            print(f"figures written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
