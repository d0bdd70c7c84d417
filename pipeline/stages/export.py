"""The export stage: hand the edit to a traditional editor.

reelpipe renders a flattened sequence, but users often finish in Premiere, Resolve, Final Cut, Avid or
Kdenlive. This stage describes the *edit* — which clip, which frames, which transitions — as an
OpenTimelineIO timeline, and writes it as ``.otio``, FCP 7 XML, FCPX XML and CMX 3600 EDL through
OpenTimelineIO's adapters. Optionally it consolidates a self-contained project folder (media copied or
transcoded to ProRes, timeline files with relative references) that can be zipped and opened elsewhere.

How the timeline matches the render, to the frame
-------------------------------------------------
The edit stage (:mod:`pipeline.stages.edit`) works in frames at the output rate: a clip contributes
``n = round(duration * fps)`` frames and a transition of ``t = round(T * fps)`` frames overlaps the last
``t`` frames of the outgoing clip with the first ``t`` frames of the incoming one (``xfade``). OpenTimelineIO
places a transition *around a cut point*: ``in_offset`` frames before the cut come from the incoming
clip's head handle, ``out_offset`` frames after it from the outgoing clip's tail handle. So each clip is cut
``out_offset`` frames before its rendered end and ``in_offset`` frames after its rendered start, with
``in_offset + out_offset = t`` (``t // 2`` before the cut, the rest after it: T/2 each when ``t`` is even).
The transition then spans exactly the frames ``xfade`` blends, and the track is
``sum(n) - sum(t)`` frames long — the output's frame count.

Tracks: ``V1`` (the shots and their transitions), ``A1`` (each clip's own audio, the same cuts, crossfades
where the video dissolves), ``A2`` (the recipe's music bed, when it has one). QC findings become markers on
the clip they were found in, at their time in that clip's media; each clip's prompt, provenance verdict
and QC summary travel in ``metadata["reelpipe"]``.

Overwriting: reelpipe keeps a ledger (``.reelpipe/exports.json`` beside the recipe) of the SHA-256 of
every file it exports. A destination that exists is replaced only when the ledger shows reelpipe wrote it
and it has not changed since; anything else (a user's file, a timeline re-saved from an editor) needs
``force=True``. Every file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import opentimelineio as otio

from pipeline.errors import ExportError, MediaError
from pipeline.fsutil import atomic_output, write_json_atomic, write_text_atomic
from pipeline.media.encode import EncodeSettings, audio_args, video_args
from pipeline.media.ffmpeg import run_ffmpeg
from pipeline.media.probe import MediaInfo, probe
from pipeline.plan import Plan, TimelineClip

__all__ = [
    "FORMATS",
    "build_timeline",
    "export_recipe",
    "export_timeline",
    "missing_clips",
    "sequence_frames",
]

FORMATS: dict[str, tuple[str, str, str]] = {
    # key: (OpenTimelineIO adapter, file suffix, what it is for)
    "otio": ("otio_json", ".otio", "OpenTimelineIO"),
    "fcp_xml": ("fcp_xml", ".xml", "FCP 7 XML (Premiere Pro, DaVinci Resolve)"),
    "fcpx": ("fcpx_xml", ".fcpxml", "FCPX XML (Final Cut Pro)"),
    "edl": ("cmx_3600", ".edl", "CMX 3600 EDL"),
}
"""The timeline formats reelpipe writes, keyed as in the recipe's ``export:`` block."""

_ADAPTER_PACKAGES = {"fcp_xml": "otio-fcp-adapter", "fcpx_xml": "otio-fcpx-xml-adapter",
                     "cmx_3600": "otio-cmx3600-adapter"}

_LEDGER_NAME = "exports.json"
_MEDIA_DIR = "media"

_SEVERITY_COLOR = {
    "fail": otio.schema.MarkerColor.RED,
    "error": otio.schema.MarkerColor.RED,
    "warn": otio.schema.MarkerColor.YELLOW,
    "warning": otio.schema.MarkerColor.YELLOW,
}

Locator = Callable[[Path], str]
"""Maps a media file to the URL a timeline file refers to it by."""


# ----------------------------------------------------------------------------------------------- timing

def _frames(seconds: float, fps: int) -> int:
    """Seconds to whole frames, rounded exactly as the edit stage rounds them."""
    return round(seconds * fps + 1e-9)


def _first_frame(seconds: float, fps: int) -> int:
    """The first source frame the edit keeps for a trim starting at ``seconds``.

    ffmpeg's ``trim=start=`` keeps frames whose timestamp is at or after the start, so a start between two
    frames begins at the later one.
    """
    return max(0, math.ceil(seconds * fps - 1e-6))


def _rt(frames: float, fps: int) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(frames, fps)


def _range(start: float, duration: float, fps: int) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(_rt(start, fps), _rt(duration, fps))


@dataclass(frozen=True)
class _Cut:
    """One timeline clip in frames: the render's frames, and the OTIO cut around its transitions."""

    clip: TimelineClip
    source_start: int  # first media frame the render uses
    frames: int  # timeline frames the render takes from it
    head: int  # timeline frames before the cut at its incoming transition (its head handle)
    tail: int  # timeline frames after the cut at its outgoing transition (its tail handle)

    @property
    def cut_start(self) -> float:
        """The media frame at the cut: the head handle is played at the clip's speed."""
        return self.source_start + self.head * self.clip.speed

    @property
    def cut_frames(self) -> int:
        return self.frames - self.head - self.tail


def _split(transition_frames: int) -> tuple[int, int]:
    """(in_offset, out_offset) of a transition of ``transition_frames``: centred on the cut."""
    before = transition_frames // 2
    return before, transition_frames - before


def _cuts(plan: Plan) -> list[_Cut]:
    fps = plan.fps
    clips = plan.clips
    tframes = [_frames(c.transition_in[1], fps) if c.transition_in and k else 0 for k, c in enumerate(clips)]
    cuts: list[_Cut] = []
    for k, c in enumerate(clips):
        head = _split(tframes[k])[0] if tframes[k] else 0
        tail = _split(tframes[k + 1])[1] if k + 1 < len(clips) and tframes[k + 1] else 0
        cut = _Cut(clip=c, source_start=_first_frame(c.start, fps), frames=_frames(c.duration, fps), head=head,
                   tail=tail)
        if cut.cut_frames <= 0 or tframes[k] + (tframes[k + 1] if k + 1 < len(clips) else 0) > cut.frames:
            raise ExportError(
                f"shot {c.shot_id!r} is {cut.frames} frames long, too short for the transitions on both sides "
                "of it; an editor's timeline cannot hold overlapping transitions",
                hint="shorten the transitions around it or lengthen the shot")
        cuts.append(cut)
    return cuts


# ------------------------------------------------------------------------------------------- metadata

def _jsonable(value: Any) -> Any:
    """A copy of ``value`` made of JSON types only (OTIO metadata holds nothing else)."""
    return json.loads(json.dumps(value, default=str))


def _reel_names(plan: Plan) -> dict[str, str]:
    """A unique CMX 3600 reel name (8 characters, letters, digits, _) per shot."""
    reels: dict[str, str] = {}
    used: set[str] = set()
    for shot in plan.shots:
        base = re.sub(r"[^A-Za-z0-9_]", "_", shot.id).upper()[:8] or "SHOT"
        name, n = base, 1
        while name in used:
            suffix = str(n)
            name = base[: 8 - len(suffix)] + suffix
            n += 1
        used.add(name)
        reels[shot.id] = name
    return reels


def _shot_metadata(plan: Plan, clip: TimelineClip, qc: Mapping[str, Any] | None,
                   provenance: Mapping[str, Any] | None) -> dict[str, Any]:
    shot = plan.shot(clip.shot_id)
    req = shot.request
    shot_qc = qc.get(clip.shot_id) if qc else None
    shot_prov = provenance.get(clip.shot_id) if provenance else None
    verdict = None
    if isinstance(shot_prov, Mapping):
        verdict = next((shot_prov[k] for k in ("verdict", "state", "validation_state") if k in shot_prov), None)
    meta: dict[str, Any] = _jsonable({
        "shot_id": clip.shot_id,
        "kind": shot.kind,
        "prompt": req.prompt if req else None,
        "image": str(req.image) if req and req.image else None,
        "model": req.model if req else None,
        "seed": req.seed if req else None,
        "remix_of": req.remix_of if req else None,
        "cache_key": req.cache_key if req else None,
        "clip": str(clip.clip_path),
        "trim_s": [clip.start, clip.end],
        "speed": clip.speed,
        "volume": clip.volume,
        "mute": clip.mute,
        "provenance_verdict": verdict,
        "provenance": shot_prov,
        "qc_verdict": shot_qc.get("verdict") if isinstance(shot_qc, Mapping) else None,
        "qc": shot_qc,
    })
    return meta


def _fcp7_logging(shot: Mapping[str, Any]) -> dict[str, Any]:
    """The shot's prompt and verdicts as FCP 7 XML logging info and comments (Premiere shows them as the
    clip's Description, Scene and Comment columns); the adapter writes ``metadata["fcp_xml"]`` as elements."""
    verdicts = f"provenance: {shot.get('provenance_verdict') or 'unknown'}; qc: {shot.get('qc_verdict') or 'unknown'}"
    return {
        "logginginfo": {"description": (shot.get("prompt") or "").strip(), "scene": shot.get("shot_id", ""),
                        "lognote": verdicts},
        "comments": {"mastercomment1": verdicts},
    }


def _findings(qc: Mapping[str, Any] | None, shot_id: str) -> list[Mapping[str, Any]]:
    entry = qc.get(shot_id) if qc else None
    if not isinstance(entry, Mapping):
        return []
    found = entry.get("findings") or []
    return [f for f in found if isinstance(f, Mapping)]


def _markers(cut: _Cut, findings: list[Mapping[str, Any]], fps: int) -> list[otio.schema.Marker]:
    """QC findings as markers in the clip's media time; findings in frames the edit does not use are left out
    (they stay in the clip's metadata)."""
    c = cut.clip
    out: list[otio.schema.Marker] = []
    for f in findings:
        try:
            start = float(f.get("start_s", 0.0))
            end = float(f.get("end_s", start))
        except (TypeError, ValueError):
            continue
        end = max(start, end)
        if end < c.start - 1e-9 or start > c.end + 1e-9:
            continue
        severity = str(f.get("severity", "info"))
        metric = str(f.get("metric", "qc"))
        first = _frames(start, fps)
        marker = otio.schema.Marker(
            name=f"QC {severity}: {metric}",
            marked_range=_range(first, max(0, _frames(end, fps) - first), fps),
            color=_SEVERITY_COLOR.get(severity, otio.schema.MarkerColor.BLUE),
            metadata={"reelpipe": _jsonable({"shot_id": c.shot_id, **dict(f)})},
        )
        marker.comment = str(f.get("message", ""))
        marker.metadata["fcp_xml"] = {"comment": marker.comment}  # FCP 7 XML keeps a marker's comment here
        out.append(marker)
    return out


# ------------------------------------------------------------------------------------------- timeline

class _Media:
    """Probes each media file once and hands out media references to it."""

    def __init__(self, fps: int, locate: Locator, probes: dict[Path, MediaInfo] | None = None) -> None:
        self.fps = fps
        self.locate = locate
        self._info: dict[Path, MediaInfo] = probes if probes is not None else {}

    def info(self, path: Path) -> MediaInfo:
        if path not in self._info:
            self._info[path] = probe(path)
        return self._info[path]

    def reference(self, path: Path, name: str) -> otio.schema.ExternalReference:
        info = self.info(path)
        if info.video is not None:
            frames = info.video.frames if abs(info.video.fps - self.fps) < 1e-3 else _frames(
                info.video.duration, self.fps)
        else:
            frames = _frames(info.audio.duration if info.audio else info.duration, self.fps)
        ref = otio.schema.ExternalReference(target_url=self.locate(path),
                                            available_range=_range(0, frames, self.fps))
        ref.name = name
        return ref


def _transition(kind: str, seconds: float, frames: int, fps: int) -> otio.schema.Transition:
    before, after = _split(frames)
    return otio.schema.Transition(
        name=kind, transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
        in_offset=_rt(before, fps), out_offset=_rt(after, fps),
        metadata={"reelpipe": {"xfade": kind, "duration_s": seconds, "frames": frames}})


def _timeline(plan: Plan, locate: Locator, qc: Mapping[str, Any] | None,
              provenance: Mapping[str, Any] | None, media_names: Mapping[Path, str] | None = None,
              probes: dict[Path, MediaInfo] | None = None) -> otio.schema.Timeline:
    fps = plan.fps
    recipe = plan.loaded.recipe
    media = _Media(fps, locate, probes)
    cuts = _cuts(plan)
    reels = _reel_names(plan)
    total = sum(c.cut_frames for c in cuts)

    name = recipe.title or plan.recipe_path.stem
    timeline = otio.schema.Timeline(name=name, global_start_time=_rt(0, fps))
    music = recipe.audio.music
    timeline.metadata["reelpipe"] = _jsonable({
        "recipe": str(plan.recipe_path),
        "title": recipe.title,
        "output": str(plan.output_path),
        "size": f"{plan.width}x{plan.height}",
        "fps": fps,
        "frames": total,
        "duration_s": total / fps,
        "fade_in_s": recipe.output.fade_in,
        "fade_out_s": recipe.output.fade_out,
        "music": music.model_dump() if music else None,
    })

    video = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    audio = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    for k, cut in enumerate(cuts):
        c = cut.clip
        display = (media_names or {}).get(c.clip_path, c.shot_id)
        meta = {"reelpipe": _shot_metadata(plan, c, qc, provenance), "cmx_3600": {"reel": reels[c.shot_id]}}
        effects = [otio.schema.LinearTimeWarp(time_scalar=c.speed)] if abs(c.speed - 1.0) > 1e-9 else []
        if c.transition_in is not None and k > 0:
            t = _frames(c.transition_in[1], fps)
            video.append(_transition(c.transition_in[0], c.transition_in[1], t, fps))
        source = _range(cut.cut_start, cut.cut_frames, fps)
        vclip = otio.schema.Clip(name=c.shot_id, media_reference=media.reference(c.clip_path, display),
                                 source_range=source, metadata=copy.deepcopy(meta))
        vclip.metadata["fcp_xml"] = _fcp7_logging(meta["reelpipe"])
        for fx in effects:
            vclip.effects.append(copy.deepcopy(fx))
        for marker in _markers(cut, _findings(qc, c.shot_id), fps):
            vclip.markers.append(marker)
        video.append(vclip)

        if c.transition_in is not None and k > 0:  # the edit crossfades the audio where the picture dissolves
            t = _frames(c.transition_in[1], fps)
            audio.append(_transition(c.transition_in[0], c.transition_in[1], t, fps))
        if media.info(c.clip_path).audio is not None:
            aclip = otio.schema.Clip(name=c.shot_id, media_reference=media.reference(c.clip_path, display),
                                     source_range=source, metadata=copy.deepcopy(meta))
            aclip.enabled = not c.mute
            for fx in effects:
                aclip.effects.append(copy.deepcopy(fx))
            audio.append(aclip)
        else:
            audio.append(otio.schema.Gap(source_range=_range(0, cut.cut_frames, fps)))
    # a transition needs a clip on both sides: where one side of an audio cut has no audio, cut hard
    _drop_orphan_transitions(audio)
    timeline.tracks.append(video)
    timeline.tracks.append(audio)

    if music is not None:
        path = plan.loaded.resolve(music.path)
        ref = media.reference(path, (media_names or {}).get(path, path.name))
        frames = min(total, int(ref.available_range.duration.value))
        track = otio.schema.Track(name="A2", kind=otio.schema.TrackKind.Audio)
        track.append(otio.schema.Clip(name="music", media_reference=ref, source_range=_range(0, frames, fps),
                                      metadata={"reelpipe": _jsonable(music.model_dump())}))
        timeline.tracks.append(track)
    _overlay_tracks(plan, timeline, media, media_names, total)
    return timeline


def _overlay_tracks(plan: Plan, timeline: otio.schema.Timeline, media: _Media,
                    media_names: Mapping[Path, str] | None, total: int) -> None:
    """One video track above V1 per overlay (V2, V3, ...): the logo or picture-in-picture media where it sits,
    a title as a generator clip carrying its text and style. Only ``.otio`` keeps them (see
    :func:`_adapter_text`): the XML and EDL targets get the cut alone."""
    fps = plan.fps
    for k, o in enumerate(plan.overlays):
        start = _first_frame(o.start, fps)
        frames = min(total, _frames(o.end, fps)) - start
        if frames <= 0:
            continue
        ov = o.spec
        meta = {"reelpipe": _jsonable({"overlay": k, "kind": o.kind, "start_s": o.start, "end_s": o.end,
                                       "position": ov.position, "margin": ov.margin, "opacity": ov.opacity,
                                       "fade_in": ov.fade_in, "fade_out": ov.fade_out, "scale": ov.scale})}
        if o.kind == "pip" and o.pip_shot:
            clip_path = plan.shot(o.pip_shot).clip_path
            ref: otio.core.MediaReference = media.reference(clip_path,
                                                            (media_names or {}).get(clip_path, o.pip_shot))
            source = _range(_first_frame(ov.clip_start, fps), frames, fps)
        elif o.kind == "image" and o.image is not None:
            ref = otio.schema.ExternalReference(target_url=media.locate(o.image))
            ref.name = (media_names or {}).get(o.image, o.image.name)
            source = _range(0, frames, fps)
        else:
            ref = otio.schema.GeneratorReference(
                name="title", generator_kind="reelpipe.text",
                parameters=_jsonable({"text": ov.text, "font": str(o.font) if o.font else None, "size": ov.size,
                                      "color": ov.color}),
                available_range=_range(0, frames, fps))
            source = _range(0, frames, fps)
        track = otio.schema.Track(name=f"V{k + 2}", kind=otio.schema.TrackKind.Video,
                                  metadata={"reelpipe": {"overlay_track": True}})
        if start > 0:
            track.append(otio.schema.Gap(source_range=_range(0, start, fps)))
        name = {"text": "title", "image": "image", "pip": f"pip {o.pip_shot}"}[o.kind]
        track.append(otio.schema.Clip(name=name, media_reference=ref, source_range=source, metadata=meta))
        timeline.tracks.append(track)


def _drop_orphan_transitions(track: otio.schema.Track) -> None:
    """Remove transitions that lack a clip on either side (OpenTimelineIO needs one on both)."""
    for index in range(len(track) - 1, -1, -1):
        item = track[index]
        if isinstance(item, otio.schema.Transition):
            before = track[index - 1] if index > 0 else None
            after = track[index + 1] if index + 1 < len(track) else None
            if not (isinstance(before, otio.schema.Clip) and isinstance(after, otio.schema.Clip)):
                del track[index]


def sequence_frames(plan: Plan) -> int:
    """Frames in the edited sequence: the timeline's duration, and the rendered output's frame count.

    Raises:
        ExportError: transitions overlap inside a shot (see :func:`build_timeline`).
    """
    return sum(c.cut_frames for c in _cuts(plan))


def missing_clips(plan: Plan) -> list[str]:
    """Ids of the timeline's shots whose clip is not on disk (not rendered yet), in timeline order."""
    seen: list[str] = []
    for c in plan.clips:
        if not Path(c.clip_path).is_file() and c.shot_id not in seen:
            seen.append(c.shot_id)
    return seen


def _require_clips(plan: Plan) -> None:
    missing = missing_clips(plan)
    if missing:
        raise ExportError(
            f"{len(missing)} shot(s) of {plan.recipe_path.name} have no rendered clip yet: {', '.join(missing)}",
            hint=f"run 'reelpipe run {plan.recipe_path}' first; export uses the clips it renders")


def build_timeline(plan: Plan, *, qc: Mapping[str, Any] | None = None,
                   provenance: Mapping[str, Any] | None = None) -> otio.schema.Timeline:
    """Describe the plan's edit as an OpenTimelineIO timeline referring to the rendered clips in place.

    Args:
        plan: a plan whose clips are rendered (``reelpipe run`` has run).
        qc: per-shot QC results, ``{shot_id: {"verdict": ..., "findings": [{metric, severity, start_s, end_s,
            message}]}}`` (the ``qc`` entries of a run summary); findings become clip markers.
        provenance: per-shot provenance results (the ``provenance`` entries of a run summary); kept in each
            clip's ``metadata["reelpipe"]``.

    Returns:
        The timeline: tracks V1 (shots and transitions), A1 (clip audio), A2 (music, when the recipe has it);
        media references are absolute ``file://`` URLs.

    Raises:
        ExportError: a clip is not rendered yet, or the cut cannot be expressed as a timeline.
        MediaError: a clip cannot be read.
    """
    _require_clips(plan)
    return _timeline(plan, lambda p: Path(p).resolve().as_uri(), qc, provenance)


# ----------------------------------------------------------------------------------------- serialising

def _silence_disabled_clips(timeline: otio.schema.Timeline) -> None:
    """Replace disabled (muted) clips by gaps: the XML adapters drop ``enabled`` and would play them."""
    for track in timeline.tracks:
        for index, item in enumerate(list(track)):
            if isinstance(item, otio.schema.Clip) and not item.enabled:
                track[index] = otio.schema.Gap(source_range=_range(0, item.source_range.duration.value,
                                                                   int(item.source_range.duration.rate)))
        _drop_orphan_transitions(track)


def _adapter_text(timeline: otio.schema.Timeline, key: str, fps: int) -> str:
    """Serialise ``timeline`` in format ``key``; adapter failures become :class:`ExportError`."""
    adapter, _, label = FORMATS[key]
    if adapter not in otio.adapters.available_adapter_names():
        package = _ADAPTER_PACKAGES.get(adapter, adapter)
        raise ExportError(f"the OpenTimelineIO adapter for {label} ({adapter}) is not installed",
                          hint=f"pip install {package}")
    subject = timeline
    kwargs: dict[str, Any] = {}
    if key == "edl":
        # an EDL holds one picture track; the adapter also rewrites the track it is given, so hand it a copy
        subject = otio.schema.Timeline(name=timeline.name, global_start_time=timeline.global_start_time)
        subject.tracks.append(copy.deepcopy(timeline.video_tracks()[0]))
        kwargs["rate"] = fps
    elif key == "fcp_xml" or key == "fcpx":
        subject = copy.deepcopy(timeline)
        for index in range(len(subject.tracks) - 1, -1, -1):  # overlays live in .otio only
            if subject.tracks[index].metadata.get("reelpipe", {}).get("overlay_track"):
                del subject.tracks[index]
        _silence_disabled_clips(subject)
    try:
        text = otio.adapters.write_to_string(subject, adapter, **kwargs)
    except Exception as exc:  # third-party adapters raise anything from OTIOError to KeyError
        raise ExportError(f"OpenTimelineIO could not write {label}: {type(exc).__name__}: {exc}",
                          hint="run with --debug for the adapter's traceback, and report it") from exc
    return str(text)


# ----------------------------------------------------------------------------------------- the ledger

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Ledger:
    """What reelpipe exported, by absolute path: the SHA-256 each file had when reelpipe wrote it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, dict[str, Any]] = {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            files = data.get("files") if isinstance(data, dict) else None
            if isinstance(files, dict):
                self.files = {str(k): v for k, v in files.items() if isinstance(v, dict)}
        except (OSError, ValueError):
            self.files = {}

    def owns(self, dest: Path) -> bool:
        """Whether ``dest`` is a file reelpipe wrote and nobody changed since."""
        entry = self.files.get(str(dest))
        return entry is not None and dest.is_file() and entry.get("sha256") == _sha256(dest)

    def record(self, dest: Path, **extra: Any) -> None:
        self.files[str(dest)] = {"sha256": _sha256(dest), **extra}

    def save(self) -> None:
        write_json_atomic(self.path, {"version": 1, "files": dict(sorted(self.files.items()))})


# ------------------------------------------------------------------------------------------ exporting

def _absolute(plan: Plan, path: str | os.PathLike[str]) -> Path:
    p = Path(os.path.expanduser(os.fspath(path)))
    return (p if p.is_absolute() else plan.loaded.base_dir / p).resolve()


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "media"


def _media_plan(plan: Plan, mezzanine: bool) -> dict[Path, str]:
    """Consolidated file name (inside ``media/``) of every media file the timeline uses."""
    names: dict[Path, str] = {}
    used: set[str] = set()

    def claim(path: Path, stem: str, suffix: str) -> None:
        if path in names:
            return
        candidate, n = f"{stem}{suffix}", 2
        while candidate.lower() in used:
            candidate, n = f"{stem}-{n}{suffix}", n + 1
        used.add(candidate.lower())
        names[path] = candidate

    for c in plan.clips:
        suffix = ".mov" if mezzanine else (c.clip_path.suffix.lower() or ".mp4")
        claim(c.clip_path, _safe_name(c.shot_id), suffix)
    music = plan.loaded.recipe.audio.music
    if music is not None:
        path = plan.loaded.resolve(music.path)
        stem = _safe_name(path.stem)
        claim(path, stem if stem.lower().startswith("music") else f"music-{stem}", path.suffix.lower())
    for o in plan.overlays:
        if o.kind == "image" and o.image is not None:
            claim(o.image, _safe_name(o.image.stem), o.image.suffix.lower())
        elif o.kind == "pip" and o.pip_shot:
            clip = plan.shot(o.pip_shot).clip_path
            claim(clip, _safe_name(o.pip_shot), ".mov" if mezzanine else (clip.suffix.lower() or ".mp4"))
    return names


def _transcode_mezzanine(src: Path, dest: Path, fps: int, mode: int) -> None:
    settings = EncodeSettings(profile="mezzanine")
    info = probe(src)
    with atomic_output(dest) as tmp:
        args = ["-i", str(src.resolve()), "-map", "0:v:0"]
        if info.audio is not None:
            args += ["-map", "0:a:0"]
        args += [*video_args(settings, fps)]
        if info.audio is not None:
            args += audio_args(settings)
        args += ["-map_metadata", "-1", str(tmp)]
        run_ffmpeg(args, what=f"transcoding {src.name} to ProRes for {dest.name}",
                   duration=info.duration)
        out = probe(tmp)
        if out.video is None or (info.video is not None and out.video.frames != info.video.frames):
            raise MediaError(f"the ProRes copy of {src.name} came out with "
                             f"{out.video.frames if out.video else 0} frames instead of "
                             f"{info.video.frames if info.video else 0}")
        os.chmod(tmp, mode)


def _shareable_mode() -> int:
    """Permissions for exported files: what the user's umask gives a new file (temporary files start 0600,
    but a hand-off folder is meant to be read by others)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _copy_media(src: Path, dest: Path, mode: int) -> None:
    with atomic_output(dest) as tmp:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, mode)


def export_timeline(plan: Plan, *, otio: str | os.PathLike[str] | None = None,
                    fcp_xml: str | os.PathLike[str] | None = None, fcpx: str | os.PathLike[str] | None = None,
                    edl: str | os.PathLike[str] | None = None, consolidate: str | os.PathLike[str] | None = None,
                    mezzanine: bool = False, qc: Mapping[str, Any] | None = None,
                    provenance: Mapping[str, Any] | None = None, force: bool = False) -> dict[str, Path]:
    """Write the plan's edit as timeline files for other editors, and optionally a consolidated folder.

    (The ``otio`` argument shadows the module inside this function, which therefore leaves OpenTimelineIO to
    the helpers it calls.)

    Args:
        plan: a plan whose clips are rendered (``reelpipe run`` has run).
        otio, fcp_xml, fcpx, edl: where to write ``.otio``, FCP 7 XML, FCPX XML and a CMX 3600 EDL. Relative
            paths resolve against the recipe's folder, like the recipe's ``export:`` block.
        consolidate: a folder to make self-contained: ``media/`` with a copy of every clip and the music, and
            the timeline in all four formats (``<recipe>.otio``, ``.xml``, ``.fcpxml``, ``.edl``) referring
            to the copies by relative paths. The other timeline files then refer to the copies too.
        mezzanine: transcode the clips to ProRes 422 HQ (``.mov``) instead of copying them; needs
            ``consolidate``.
        qc: per-shot QC results (see :func:`build_timeline`); findings become markers.
        provenance: per-shot provenance results, kept in clip metadata.
        force: replace destination files that reelpipe did not write (or that changed since it did).

    Returns:
        What was written, by name: ``otio``/``fcp_xml``/``fcpx``/``edl`` for the requested files,
        ``consolidated`` for the folder, and ``consolidated_otio`` etc. for the timeline files inside it.

    Raises:
        ExportError: nothing to export, a clip is not rendered yet, a destination would overwrite a file
            reelpipe did not write (without ``force``), two outputs share a path, or an adapter failed.
            Nothing is written when a destination is refused.
        MediaError: a clip cannot be read, or ffmpeg failed to transcode it.
    """
    requested = {key: _absolute(plan, value) for key, value in
                 (("otio", otio), ("fcp_xml", fcp_xml), ("fcpx", fcpx), ("edl", edl)) if value is not None}
    folder = _absolute(plan, consolidate) if consolidate is not None else None
    if not requested and folder is None:
        raise ExportError("nothing to export: name at least one of otio, fcp_xml, fcpx, edl or consolidate",
                          hint="add an export: block to the recipe, or pass --otio/--fcp-xml/--fcpx/--edl/"
                               "--consolidate")
    if mezzanine and folder is None:
        raise ExportError("mezzanine copies need a consolidated folder to go into",
                          hint="pass --consolidate DIR along with --mezzanine")
    _require_clips(plan)
    if folder is not None and folder.exists() and not folder.is_dir():
        raise ExportError(f"{folder} exists and is not a folder", hint="choose another --consolidate path")

    # every file this export writes: timeline files by key, media copies by source
    targets: dict[str, Path] = dict(requested)
    media_names: dict[Path, str] = {}
    media_dests: dict[Path, Path] = {}
    if folder is not None:
        stem = _safe_name(plan.recipe_path.stem)
        for key, (_, suffix, _) in FORMATS.items():
            targets[f"consolidated_{key}"] = folder / f"{stem}{suffix}"
        media_names = _media_plan(plan, mezzanine)
        media_dests = {src: folder / _MEDIA_DIR / name for src, name in media_names.items()}
        for src in media_dests:
            if not src.is_file():
                raise ExportError(f"{src}: no such media file", hint="check the recipe's audio.music path")

    destinations = list(targets.values()) + list(media_dests.values())
    seen: dict[Path, str] = {}
    for key, dest in list(targets.items()) + [(f"media {d.name}", d) for d in media_dests.values()]:
        if dest in seen:
            raise ExportError(f"{seen[dest]} and {key} would both be written to {dest}",
                              hint="give each export its own file name")
        seen[dest] = key
    music = plan.loaded.recipe.audio.music
    protected = {Path(c.clip_path).resolve() for c in plan.clips} | {plan.output_path.resolve(), plan.recipe_path}
    if music is not None:
        protected.add(plan.loaded.resolve(music.path))
    for dest in destinations:
        if dest in protected:
            raise ExportError(f"{dest} is one of the recipe's own files; an export may not replace it",
                              hint="choose another path for the export")
        if dest.is_dir():
            raise ExportError(f"{dest} is a folder; an export writes a file there",
                              hint="choose a file name for the export")

    ledger = _Ledger(plan.work_dir / _LEDGER_NAME)
    refused = [d for d in destinations if d.exists() and not (force or ledger.owns(d))]
    if refused:
        lines = "\n".join(f"  {d}" for d in refused)
        raise ExportError(f"{len(refused)} destination(s) exist and were not written by reelpipe "
                          f"(or changed since):\n{lines}",
                          hint="choose other paths, or pass --force to replace them; "
                               "nothing was written")

    # serialise everything first, so an adapter failure leaves no half-written export behind
    def locator_for(timeline_file: Path) -> Locator:
        if folder is None:
            return lambda p: Path(p).resolve().as_uri()

        def locate(p: Path) -> str:
            copy_path = media_dests[p]
            if timeline_file.parent == folder or folder in timeline_file.parents:
                return Path(os.path.relpath(copy_path, timeline_file.parent)).as_posix()
            return copy_path.resolve().as_uri()

        return locate

    texts: dict[str, str] = {}
    probes: dict[Path, MediaInfo] = {}  # media are probed once, from the originals: copies hold the same frames
    for key, dest in targets.items():
        fmt = key.removeprefix("consolidated_")
        timeline = _timeline(plan, locator_for(dest), qc, provenance, media_names or None, probes)
        texts[key] = _adapter_text(timeline, fmt, plan.fps)

    written: dict[str, Path] = {}
    mode = _shareable_mode()
    try:
        for src, dest in media_dests.items():
            entry = ledger.files.get(str(dest), {})
            src_sha = _sha256(src)
            if (dest.is_file() and entry.get("source_sha256") == src_sha and entry.get("mezzanine") == mezzanine
                    and ledger.owns(dest)):
                continue  # already there, unchanged: a re-export does not transcode again
            is_clip = any(c.clip_path == src for c in plan.clips)
            if mezzanine and is_clip:
                _transcode_mezzanine(src, dest, plan.fps, mode)
            else:
                _copy_media(src, dest, mode)
            ledger.record(dest, source=str(src), source_sha256=src_sha, mezzanine=mezzanine and is_clip)
        for key, dest in targets.items():
            try:
                write_text_atomic(dest, texts[key], mode=mode)
            except OSError as exc:
                raise ExportError(f"could not write {dest}: {exc.strerror or exc}",
                                  hint="check that the folder exists and is writable") from exc
            ledger.record(dest, format=key.removeprefix("consolidated_"))
            written[key] = dest
    except OSError as exc:
        raise ExportError(f"could not copy media into {folder}: {exc.strerror or exc}",
                          hint="check free space and permissions of the folder") from exc
    finally:
        try:
            ledger.save()
        except OSError:
            pass  # the ledger only guards later overwrites; failing to save it never fails an export
    if folder is not None:
        written["consolidated"] = folder
    return written


def export_recipe(plan: Plan, *, qc: Mapping[str, Any] | None = None, provenance: Mapping[str, Any] | None = None,
                  force: bool = False) -> dict[str, Path]:
    """Export what the recipe's ``export:`` block asks for (paths relative to the recipe).

    Returns:
        What was written (see :func:`export_timeline`); empty when the recipe asks for nothing.

    Raises:
        ExportError, MediaError: see :func:`export_timeline`.
    """
    spec = plan.loaded.recipe.export
    wanted = {k: getattr(spec, k) for k in FORMATS if getattr(spec, k) is not None}
    if not wanted:
        return {}
    return export_timeline(plan, qc=qc, provenance=provenance, force=force, **wanted)
