"""Cross-checks of a schema-valid recipe: references, files, trims and transitions.

Everything here runs before anything renders, and returns every problem found (never raises for one).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import MediaError, Problem
from pipeline.recipe import XFADE_TRANSITIONS

if TYPE_CHECKING:
    from pipeline.recipe import LoadedRecipe, Shot

__all__ = ["DEFAULT_SECONDS", "XFADE_TRANSITIONS", "ShotTiming", "cross_check", "shot_timings"]

DEFAULT_SECONDS = 4.0




@dataclass(frozen=True)
class ShotTiming:
    """How long a shot's clip is and which part of it the timeline uses."""

    clip_seconds: float  # the length of the (rendered or given) clip
    start: float  # trim start inside the clip
    end: float  # trim end inside the clip
    speed: float

    @property
    def duration(self) -> float:
        """Seconds the shot occupies on the timeline."""
        return (self.end - self.start) / self.speed


def _shot_index(loaded: LoadedRecipe) -> dict[str, int]:
    return {s.id: i for i, s in enumerate(loaded.recipe.shots)}


def _clip_seconds(loaded: LoadedRecipe, shot: Shot, seen: set[str] | None = None) -> float | None:
    """The clip length of ``shot``: its ``seconds``, its remix source's, or the probed video's."""
    if shot.card is not None:
        return shot.card.seconds
    if shot.video:
        from pipeline.media.probe import probe

        try:
            info = probe(loaded.resolve(shot.video))
        except MediaError:
            return None
        return info.video.duration if info.video else None
    if shot.seconds is not None:
        return shot.seconds
    if shot.remix_of:
        seen = seen or set()
        if shot.remix_of in seen:
            return None
        seen.add(shot.id)
        idx = _shot_index(loaded)
        if shot.remix_of in idx:
            return _clip_seconds(loaded, loaded.recipe.shots[idx[shot.remix_of]], seen)
        return None
    return DEFAULT_SECONDS


def shot_timings(loaded: LoadedRecipe) -> dict[str, ShotTiming]:
    """Clip length and trim of every shot whose length is known."""
    out: dict[str, ShotTiming] = {}
    for shot in loaded.recipe.shots:
        length = _clip_seconds(loaded, shot)
        if length is None:
            continue
        start = shot.trim.start if shot.trim else 0.0
        end = shot.trim.end if shot.trim and shot.trim.end is not None else length
        out[shot.id] = ShotTiming(clip_seconds=length, start=start, end=end, speed=shot.speed)
    return out


def _check_image(loaded: LoadedRecipe, loc: tuple[str | int, ...], value: str) -> Problem | None:
    import cv2
    import numpy as np

    path = loaded.resolve(value)
    if not path.is_file():
        return loaded.problem(loc, f"image not found: {path}", "check the path; it is relative to the recipe file")
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
        img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except OSError as exc:
        return loaded.problem(loc, f"cannot read image {path}: {exc}", "check the file's permissions")
    if img is None:
        return loaded.problem(loc, f"not a readable image: {path}", "use a JPEG, PNG or WebP file")
    return None


def _writable_dir(path: Path) -> bool:
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


def cross_check(loaded: LoadedRecipe, *, check_files: bool = True) -> list[Problem]:
    """Every problem a schema cannot see: references, files, trims, transitions, output folder."""
    recipe = loaded.recipe
    problems: list[Problem] = []
    ids = _shot_index(loaded)

    # unique ids
    seen: dict[str, int] = {}
    for i, shot in enumerate(recipe.shots):
        if shot.id in seen:
            problems.append(loaded.problem(("shots", i, "id"), f"duplicate shot id {shot.id!r}",
                                           f"shot {seen[shot.id]} already uses it; ids must be unique"))
        seen.setdefault(shot.id, i)

    # what each shot is made from
    for i, shot in enumerate(recipe.shots):
        base: tuple[str | int, ...] = ("shots", i)
        sources = [k for k in ("image", "video", "remix_of", "card") if getattr(shot, k)]
        if len(sources) > 1:
            problems.append(loaded.problem((*base, sources[1]),
                                           f"shot {shot.id!r} has both {sources[0]} and {sources[1]}",
                                           "a shot is rendered from image + prompt, remixes another shot, "
                                           "or uses an existing video — pick one"))
        elif not sources:
            problems.append(loaded.problem(base, f"shot {shot.id!r} has no image, video, remix_of or card",
                                           "give it image: and prompt: to render, or video: to use a clip"))
        if (shot.image or shot.remix_of) and not shot.prompt:
            problems.append(loaded.problem(base, f"shot {shot.id!r} needs a prompt to render",
                                           "describe framing, action, timing, light and sound"))
        if shot.video and (shot.prompt or shot.seconds or shot.camera):
            extra = [k for k in ("prompt", "seconds", "camera") if getattr(shot, k)]
            problems.append(loaded.problem((*base, extra[0]),
                                           f"shot {shot.id!r} uses an existing video; {extra[0]!r} does not apply",
                                           "remove it, or render from an image instead of video:"))
        if shot.remix_of:
            if shot.remix_of not in ids:
                close = difflib.get_close_matches(shot.remix_of, list(ids), n=1)
                problems.append(loaded.problem((*base, "remix_of"), f"remix_of names unknown shot {shot.remix_of!r}",
                                               f"did you mean {close[0]!r}?" if close else None))
            else:
                src = recipe.shots[ids[shot.remix_of]]
                if src.video or src.remix_of == shot.id or src.id == shot.id:
                    problems.append(loaded.problem((*base, "remix_of"),
                                                   f"shot {shot.id!r} cannot remix {src.id!r}",
                                                   "remix a shot that is rendered from an image"))
        if shot.card is not None and (shot.prompt or shot.seconds):
            card_extra = "prompt" if shot.prompt else "seconds"
            problems.append(loaded.problem((*base, card_extra), f"shot {shot.id!r} is a title card; {card_extra!r} "
                                           "does not apply", "set the card's length with card.seconds"))
        if shot.card is not None and shot.card.font and check_files and not loaded.resolve(shot.card.font).is_file():
            problems.append(loaded.problem((*base, "card", "font"), f"font not found: {loaded.resolve(shot.card.font)}"))
        if shot.effect is not None:
            problems += [loaded.problem((*base, "effect"), msg) for msg in _effect_problems(shot.effect, loaded)]
        if shot.camera is not None:
            problems += [loaded.problem((*base, "camera"), msg) for msg in _camera_problems(shot.camera)]
        if check_files:
            if shot.image:
                prob = _check_image(loaded, (*base, "image"), shot.image)
                if prob:
                    problems.append(prob)
            if shot.depth:
                prob = _check_image(loaded, (*base, "depth"), shot.depth)
                if prob:
                    problems.append(prob)
            if shot.video:
                path = loaded.resolve(shot.video)
                if not path.is_file():
                    problems.append(loaded.problem((*base, "video"), f"video not found: {path}",
                                                   "check the path; it is relative to the recipe file"))
                else:
                    from pipeline.media.probe import probe

                    try:
                        info = probe(path)
                        if info.video is None:
                            problems.append(loaded.problem((*base, "video"), f"{path} has no video stream"))
                    except MediaError as exc:
                        problems.append(loaded.problem((*base, "video"), exc.message, exc.hint))

    # trims
    timings = shot_timings(loaded) if check_files else {}
    for i, shot in enumerate(recipe.shots):
        t = timings.get(shot.id)
        if shot.trim is None or t is None:
            continue
        loc: tuple[str | int, ...] = ("shots", i, "trim")
        if t.end <= t.start:
            problems.append(loaded.problem((*loc, "end"), f"trim end {t.end:g} s is not after start {t.start:g} s"))
        elif t.end > t.clip_seconds + 1e-6:
            problems.append(loaded.problem((*loc, "end"),
                                           f"trim end {t.end:g} s is past the end of the {t.clip_seconds:g} s clip",
                                           f"use an end of at most {t.clip_seconds:g}"))
        if t.start >= t.clip_seconds:
            problems.append(loaded.problem((*loc, "start"),
                                           f"trim start {t.start:g} s is past the end of the {t.clip_seconds:g} s clip"))

    # timeline
    entries = recipe.timeline
    if entries is not None:
        shots_in_order: list[tuple[int, str | None, float]] = []  # (entry index, shot id | None, transition s)
        for j, entry in enumerate(entries):
            loc = ("timeline", j)
            if (entry.shot is None) == (entry.transition is None):
                problems.append(loaded.problem(loc, "a timeline entry is either shot: ID or transition: {...}",
                                               "split it into two entries"))
                continue
            if entry.shot is not None:
                if entry.shot not in ids:
                    close = difflib.get_close_matches(entry.shot, list(ids), n=1)
                    problems.append(loaded.problem((*loc, "shot"), f"timeline names unknown shot {entry.shot!r}",
                                                   f"did you mean {close[0]!r}?" if close else
                                                   f"known shots: {', '.join(ids)}"))
                shots_in_order.append((j, entry.shot, 0.0))
            else:
                assert entry.transition is not None
                if entry.transition.type not in XFADE_TRANSITIONS:
                    close = difflib.get_close_matches(entry.transition.type, XFADE_TRANSITIONS, n=1)
                    problems.append(loaded.problem((*loc, "transition", "type"),
                                                   f"unknown transition {entry.transition.type!r}",
                                                   f"did you mean {close[0]!r}?" if close else
                                                   "see 'reelpipe schema' or the README for the list"))
                shots_in_order.append((j, None, entry.transition.duration))
        # transitions must sit between two shots and fit inside both
        for k, (j, sid, dur) in enumerate(shots_in_order):
            if sid is not None:
                continue
            prev = shots_in_order[k - 1] if k > 0 else None
            nxt = shots_in_order[k + 1] if k + 1 < len(shots_in_order) else None
            loc = ("timeline", j, "transition")
            if prev is None or nxt is None or prev[1] is None or nxt[1] is None:
                problems.append(loaded.problem(loc, "a transition must stand between two shots",
                                               "use output.fade_in / fade_out for fades from/to black"))
                continue
            for neighbour in (prev[1], nxt[1]):
                t = timings.get(neighbour)
                if t is not None and dur > t.duration + 1e-6:
                    problems.append(loaded.problem((*loc, "duration"),
                                                   f"transition of {dur:g} s is longer than shot {neighbour!r} "
                                                   f"({t.duration:g} s after trim)",
                                                   "shorten the transition or lengthen the shot"))
        # a shot with transitions on both sides must hold both
        for k, (j, sid, _) in enumerate(shots_in_order):
            if sid is None or sid not in timings:
                continue
            head = shots_in_order[k - 1][2] if k > 0 and shots_in_order[k - 1][1] is None else 0.0
            tail = shots_in_order[k + 1][2] if k + 1 < len(shots_in_order) and shots_in_order[k + 1][1] is None \
                else 0.0
            if head and tail and head + tail > timings[sid].duration + 1e-6:
                problems.append(loaded.problem(("timeline", j, "shot"),
                                               f"shot {sid!r} ({timings[sid].duration:g} s) is shorter than its two "
                                               f"transitions together ({head + tail:g} s)",
                                               "shorten a transition or lengthen the shot"))
        if not any(sid for _, sid, _ in shots_in_order):
            problems.append(loaded.problem(("timeline",), "the timeline places no shot"))

    # output and extra files
    out = loaded.resolve(recipe.output.path)
    if out.exists() and out.is_dir():
        problems.append(loaded.problem(("output", "path"), f"output path {out} is a folder",
                                       "give a file name such as out/sequence.mp4"))
    elif not _writable_dir(out.parent):
        problems.append(loaded.problem(("output", "path"), f"output folder {out.parent} is not writable",
                                       "choose a folder you can write to"))
    if check_files and recipe.audio.music is not None:
        music = loaded.resolve(recipe.audio.music.path)
        if not music.is_file():
            problems.append(loaded.problem(("audio", "music", "path"), f"music file not found: {music}"))
    for k, ov in enumerate(recipe.overlays):
        loc = ("overlays", k)
        kinds = [x for x in ("text", "image", "pip") if getattr(ov, x) is not None]
        if len(kinds) != 1:
            problems.append(loaded.problem(loc, "an overlay has exactly one of text:, image: or pip:" +
                                           (f" (this one has {', '.join(kinds)})" if kinds else ""),
                                           "split it into separate overlays"))
        if ov.pip is not None and ov.pip not in ids:
            close = difflib.get_close_matches(ov.pip, list(ids), n=1)
            problems.append(loaded.problem((*loc, "pip"), f"pip names unknown shot {ov.pip!r}",
                                           f"did you mean {close[0]!r}?" if close else None))
        if check_files and ov.image is not None:
            prob = _check_image(loaded, (*loc, "image"), ov.image)
            if prob:
                problems.append(prob)
        if check_files and ov.font is not None and not loaded.resolve(ov.font).is_file():
            problems.append(loaded.problem((*loc, "font"), f"font not found: {loaded.resolve(ov.font)}",
                                           "give a TTF/OTF file, or leave font: out for the bundled DejaVu Sans"))
        if ov.duration is not None and ov.fade_in + ov.fade_out > ov.duration + 1e-6:
            problems.append(loaded.problem((*loc, "fade_in"), "the overlay's fades are longer than the overlay"))
    if recipe.qc.thresholds:
        from pipeline.qc import check_thresholds

        for msg in check_thresholds(dict(recipe.qc.thresholds)):
            problems.append(loaded.problem(("qc", "thresholds"), msg))
    for k, anchor in enumerate(recipe.provenance.trust):
        if check_files and not loaded.resolve(anchor).is_file():
            problems.append(loaded.problem(("provenance", "trust", k), f"trust anchor not found: {anchor}"))
    return problems


def _effect_problems(spec: str, loaded: LoadedRecipe) -> list[str]:
    """Check that an effect 'module:function' names something callable (importing the user's module)."""
    from pipeline.media.compose import load_effect

    try:
        load_effect(spec, search_dir=loaded.base_dir)
    except ValueError as exc:
        return [str(exc)]
    return []


def _camera_problems(value: object) -> list[str]:
    try:
        from pipeline.camera import validate_camera  # the camera-language module, when present
    except ImportError:
        from pipeline.backends.local import CAMERA_MOVES

        if isinstance(value, str) and value not in CAMERA_MOVES:
            close = difflib.get_close_matches(value, CAMERA_MOVES, n=1)
            return [f"unknown camera move {value!r}" + (f"; did you mean {close[0]!r}?" if close else
                                                       f"; use one of {', '.join(CAMERA_MOVES)}")]
        return []
    return list(validate_camera(value))
