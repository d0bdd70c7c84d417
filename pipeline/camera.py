"""Camera language: turn camera verbs in a prompt, or an explicit ``camera:`` value, into a keyframed path.

A shot's camera is planned once, from one of three sources (first wins):

1. the recipe's ``camera:`` — a move name (``push_in``), a phrase (``"slow push in, then pan left"``), or a
   list of keyframed moves (``[{move: hold, duration: 0.5}, {move: push_in, duration: 2}]``);
2. the camera verbs in the prompt (``"Start static 0.5 s, 2 s slow push in, 1 s hold, 1.5 s pan left"``);
3. a default: a slow push in over the whole shot.

The result is a :class:`CameraPlan`: timed :class:`CameraSegment` s (start, duration, move, amount, easing)
that cover the shot, plus warnings (words the renderer cannot do, timing that had to be scaled, amounts that
were clamped) and notes (what was assumed). It is pure data with no I/O, so ``reelpipe lint`` can print it
and QC can ask :func:`hold_intervals` where the camera is meant to stand still.

How a prompt is read (the rules ``the README (The local renderer)`` documents):

* The prompt is cut into phrases at full stops, semicolons, commas and the words *then*, *and then*,
  *followed by*, *after that*, *next*, *finally*, *before*. Phrases play one after another.
* Moves inside one phrase happen together (*push in while panning right*, *pan left and tilt up*); a phrase
  that starts with *while*, *as*, *simultaneously* or *at the same time* joins the phrase before it.
* A phrase may carry a duration (*2 s*, *for 3 seconds*, *1.5-second*), a start (*at 2 s*, *after 1 s*),
  a range (*from 1 s to 3 s*, *2–4 s*), a speed word (*subtle*, *slow*, *fast*, *dramatic*), an explicit
  amount (*10 degrees*, *30 %*, *1.5x*) and an easing (*linear*, *ease in*, *ease out*).
* Phrases without a duration share the time the others leave; if the durations add up to more than the
  shot, they are scaled to fit (a warning); if they add up to less, the camera holds for the rest (a note).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from pipeline.errors import RecipeError

__all__ = [
    "AXES",
    "CAMERA_MOVES",
    "EASINGS",
    "MAX_AMOUNT",
    "MOVE_SPECS",
    "CameraPlan",
    "CameraSegment",
    "MoveSpec",
    "PromptReport",
    "analyze_prompt",
    "camera_phrases",
    "canonical_move",
    "hold_intervals",
    "plan_camera",
    "validate_camera",
]

# -----------------------------------------------------------------------------------------------------------
# The vocabulary: moves, axes, easings
# -----------------------------------------------------------------------------------------------------------

AXES: tuple[str, ...] = ("yaw", "pitch", "zoom", "dolly", "truck", "pedestal", "orbit")
"""The degrees of freedom of the virtual camera. A move drives one axis in one direction."""

CAMERA_HFOV_DEGREES = 50.0
"""The virtual lens: horizontal field of view of the un-zoomed frame (a ~38 mm lens on full frame)."""


@dataclass(frozen=True)
class MoveSpec:
    """What one canonical move does.

    Attributes:
        name: the canonical name (``pan_left``).
        axis: the axis it drives, or None for ``hold``.
        sign: +1 or -1 along that axis.
        needs_depth: whether the renderer needs a depth map (camera translation makes parallax).
        nominal: the size of the move at ``amount: 1``, in ``unit``.
        unit: ``deg`` (rotation), ``pct`` (zoom/scale percent, or parallax as percent of frame width).
        summary: one line for the docs and ``reelpipe lint``.
    """

    name: str
    axis: str | None
    sign: int
    needs_depth: bool
    nominal: float
    unit: str
    summary: str


def _spec(name: str, axis: str | None, sign: int, depth: bool, nominal: float, unit: str,
          summary: str) -> MoveSpec:
    return MoveSpec(name, axis, sign, depth, nominal, unit, summary)


MOVE_SPECS: dict[str, MoveSpec] = {
    s.name: s
    for s in (
        _spec("hold", None, 0, False, 0.0, "", "the camera stands still"),
        _spec("push_in", "dolly", +1, True, 15.0, "pct",
              "the camera travels toward the subject: it grows ~15 %, near things grow more (parallax)"),
        _spec("pull_out", "dolly", -1, True, 15.0, "pct", "the camera travels back from the subject"),
        _spec("zoom_in", "zoom", +1, False, 20.0, "pct", "the lens zooms in ~20 %; no parallax"),
        _spec("zoom_out", "zoom", -1, False, 20.0, "pct", "the lens zooms out ~20 %; no parallax"),
        _spec("pan_left", "yaw", -1, False, 8.0, "deg",
              "the camera turns left ~8°: the picture slides right"),
        _spec("pan_right", "yaw", +1, False, 8.0, "deg",
              "the camera turns right ~8°: the picture slides left"),
        _spec("tilt_up", "pitch", +1, False, 5.0, "deg", "the camera tips up ~5°: the picture slides down"),
        _spec("tilt_down", "pitch", -1, False, 5.0, "deg", "the camera tips down ~5°: the picture slides up"),
        _spec("truck_left", "truck", -1, True, 4.0, "pct",
              "the camera slides left: near things pass ~4 % of the frame faster than far ones"),
        _spec("truck_right", "truck", +1, True, 4.0, "pct", "the camera slides right (parallax)"),
        _spec("pedestal_up", "pedestal", +1, True, 4.0, "pct", "the camera rises straight up (parallax)"),
        _spec("pedestal_down", "pedestal", -1, True, 4.0, "pct", "the camera sinks straight down (parallax)"),
        _spec("orbit_left", "orbit", -1, True, 2.0, "deg",
              "the camera arcs ~2° left around the subject: the foreground slides right, the background "
              "left"),
        _spec("orbit_right", "orbit", +1, True, 2.0, "deg", "the camera arcs right around the subject"),
    )
}
"""Every canonical move, keyed by name."""

_ALIASES: dict[str, str] = {"static": "hold", "dolly_in": "push_in", "dolly_out": "pull_out"}

CAMERA_MOVES: tuple[str, ...] = (
    "static", "hold", "push_in", "pull_out", "dolly_in", "dolly_out", "zoom_in", "zoom_out",
    "pan_left", "pan_right", "tilt_up", "tilt_down", "truck_left", "truck_right",
    "pedestal_up", "pedestal_down", "orbit_left", "orbit_right",
)
"""Every name a recipe's ``camera:`` accepts (``static`` = ``hold``; ``dolly_in``/``dolly_out`` =
``push_in``/``pull_out``)."""

EASINGS: tuple[str, ...] = ("ease_in_out", "linear", "ease_in", "ease_out")
"""Easing curves: ``ease_in_out`` (the default: smooth start and stop), ``linear``, ``ease_in`` (smooth
start), ``ease_out`` (smooth stop)."""

MAX_AMOUNT = 4.0
"""The largest ``amount`` accepted (4× the default move). The renderer may still reduce a move that needs
more picture than the image has, and says so."""

DEFAULT_MOVE = ("push_in", 0.6)
"""What an image gets when nothing asks for a camera move: a slow push in."""


def canonical_move(name: str) -> str:
    """The canonical move for a name from :data:`CAMERA_MOVES` (``static`` -> ``hold``, ``dolly_in`` ->
    ``push_in``). Raises KeyError for an unknown name."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in MOVE_SPECS:
        raise KeyError(name)
    return key


def _ease(kind: str, x: np.ndarray) -> np.ndarray:
    """Eased progress for raw progress ``x`` in [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    out: np.ndarray
    if kind == "linear":
        out = x
    elif kind == "ease_in":  # smooth start, full speed at the end
        out = x * x
    elif kind == "ease_out":  # full speed at the start, smooth stop
        out = 1.0 - (1.0 - x) * (1.0 - x)
    else:  # ease_in_out: cubic smoothstep, zero velocity at both ends
        out = x * x * (3.0 - 2.0 * x)
    return out


# -----------------------------------------------------------------------------------------------------------
# The plan
# -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CameraSegment:
    """One timed move of the camera path.

    Attributes:
        move: a canonical move name (a key of :data:`MOVE_SPECS`).
        start: seconds from the start of the shot.
        duration: seconds; the move goes from 0 to its full extent over this time.
        amount: the size of the move relative to its default (1.0); 0.5 is half as far.
        easing: one of :data:`EASINGS`.
        explicit_amount: True when the amount was written (``amount:``, ``10 degrees``), False when it comes
            from a default and speed words (the renderer may vary defaults slightly with the seed).
        source: the words it came from, or ``recipe``, or ``fill`` for the holds that pad the timing.
    """

    move: str
    start: float
    duration: float
    amount: float = 1.0
    easing: str = "ease_in_out"
    explicit_amount: bool = False
    source: str = ""

    @property
    def end(self) -> float:
        """When the move finishes, in seconds."""
        return self.start + self.duration

    @property
    def spec(self) -> MoveSpec:
        """The :class:`MoveSpec` of :attr:`move`."""
        return MOVE_SPECS[self.move]

    @property
    def moves_camera(self) -> bool:
        """True for a move that changes the picture (not a hold, not a zero amount)."""
        return self.spec.axis is not None and self.amount > 0 and self.duration > 0

    def extent(self) -> str:
        """The size of the move in words: ``"5.6°"``, ``"+14%"``, ``"3.2% parallax"``, or ``""``."""
        spec = self.spec
        if spec.axis is None:
            return ""
        value = spec.nominal * self.amount
        if spec.unit == "deg":
            return f"{value:.1f}°"
        if spec.axis in ("truck", "pedestal"):
            return f"{value:.1f}% parallax"
        return f"{'+' if spec.sign > 0 else '-'}{value:.0f}%"

    def progress(self, times: np.ndarray) -> np.ndarray:
        """Eased progress (0..1) of this move at each time in ``times`` (seconds)."""
        if self.duration <= 0:
            return (np.asarray(times, dtype=np.float64) >= self.start).astype(np.float64)
        raw = (np.asarray(times, dtype=np.float64) - self.start) / self.duration
        return _ease(self.easing, raw)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times rounded to the millisecond)."""
        out: dict[str, Any] = {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "duration": round(self.duration, 3),
            "move": self.move,
        }
        if self.spec.axis is not None:
            out.update(amount=round(self.amount, 3), extent=self.extent(), easing=self.easing)
        out["source"] = self.source
        return out


@dataclass(frozen=True)
class CameraPlan:
    """A keyframed camera path for one shot.

    Attributes:
        seconds: the shot's length.
        segments: timed moves, sorted by start; together with the fill holds they cover ``[0, seconds]``.
            Overlapping segments happen at the same time (a push in while panning).
        origin: ``recipe`` (the shot's ``camera:``), ``prompt`` (camera verbs), or ``default``.
        warnings: things the user should know changed: unsupported moves and what is used instead,
            timing scaled to fit, amounts clamped.
        notes: assumptions that need no action: holds that pad the timing, a direction taken by default.
    """

    seconds: float
    segments: tuple[CameraSegment, ...]
    origin: str
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def needs_depth(self) -> bool:
        """True when a move translates the camera (dolly, truck, pedestal, orbit): parallax needs depth."""
        return any(s.moves_camera and s.spec.needs_depth for s in self.segments)

    @property
    def primary_move(self) -> str:
        """The first move that changes the picture, or ``static`` (kept for older callers)."""
        for s in self.segments:
            if s.moves_camera:
                return s.move
        return "static"

    def moves(self) -> list[str]:
        """The distinct moves that change the picture, in order of first appearance."""
        seen: list[str] = []
        for s in self.segments:
            if s.moves_camera and s.move not in seen:
                seen.append(s.move)
        return seen

    def axis_tracks(self, times: Sequence[float] | np.ndarray) -> dict[str, np.ndarray]:
        """The camera's position on every axis at each time, in units of each move's default extent.

        The value of an axis is the sum over its segments of ``sign * amount * eased progress``: a move
        keeps the camera where it left it, so ``pan_left`` then ``pan_right`` returns to the start.
        """
        t = np.asarray(times, dtype=np.float64)
        tracks = {axis: np.zeros_like(t) for axis in AXES}
        for seg in self.segments:
            spec = seg.spec
            if spec.axis is None or not seg.amount:
                continue
            tracks[spec.axis] = tracks[spec.axis] + spec.sign * seg.amount * seg.progress(t)
        return tracks

    def describe(self) -> str:
        """One line: ``0.0–0.5 s hold · 0.5–2.5 s push_in (+9%) · ...``."""
        parts = []
        for s in self.segments:
            extent = s.extent()
            parts.append(f"{s.start:.1f}–{s.end:.1f} s {s.move}" + (f" ({extent})" if extent else ""))
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: segments, hold intervals, warnings and notes."""
        return {
            "seconds": round(self.seconds, 3),
            "origin": self.origin,
            "segments": [s.to_dict() for s in self.segments],
            "holds": [[round(a, 3), round(b, 3)] for a, b in hold_intervals(self)],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }


def hold_intervals(plan: CameraPlan) -> list[tuple[float, float]]:
    """The intervals ``(start, end)`` in seconds where the plan keeps the camera still.

    Everything in ``[0, plan.seconds]`` not covered by a moving segment: intended holds, the fill after the
    last move, and the whole shot for ``static``. QC uses it so an intended hold is not reported as frozen.
    """
    moving = sorted((max(0.0, s.start), min(plan.seconds, s.end)) for s in plan.segments if s.moves_camera)
    out: list[tuple[float, float]] = []
    cursor = 0.0
    for a, b in moving:
        if a > cursor + 1e-9:
            out.append((cursor, a))
        cursor = max(cursor, b)
    if plan.seconds > cursor + 1e-9:
        out.append((cursor, plan.seconds))
    return out


# -----------------------------------------------------------------------------------------------------------
# Reading camera language
# -----------------------------------------------------------------------------------------------------------

_NUM = r"\d+(?:\.\d+)?"
_SEC = r"(?:s|sec|secs|second|seconds|с|сек|секунд[аы]?)\b"
_WORD_NUMBERS = {"a": 1.0, "an": 1.0, "one": 1.0, "two": 2.0, "three": 3.0, "four": 4.0, "five": 5.0,
                 "six": 6.0, "seven": 7.0, "eight": 8.0, "nine": 9.0, "ten": 10.0, "twelve": 12.0,
                 "half a": 0.5, "half": 0.5}
_ADV = r"(?:\s+(?:slowly|gently|gradually|steadily|smoothly|quickly|rapidly|subtly|slightly|fast|softly))?"
_OBJ = r"(?:the|a|an|her|his|their|its|them|him|it|my|your|our)"

_DIRECTION_OF: dict[str, str] = {}
for _words, _dir in (
    (("in", "into", "inward", "inwards", "forward", "forwards", "closer", "toward", "towards"), "in"),
    (("out", "outward", "outwards", "back", "backward", "backwards", "away"), "out"),
    (("left", "leftward", "leftwards"), "left"),
    (("right", "rightward", "rightwards"), "right"),
    (("up", "upward", "upwards"), "up"),
    (("down", "downward", "downwards"), "down"),
    (("влево", "налево"), "left"),
    (("вправо", "направо"), "right"),
    (("вверх", "наверх"), "up"),
    (("вниз",), "down"),
    (("вперёд", "вперед"), "in"),
    (("назад",), "out"),
    (("clockwise",), "left"),  # seen from above, a camera circling clockwise moves to its own left
    (("counterclockwise", "counter-clockwise", "anticlockwise", "anti-clockwise", "counter clockwise"),
     "right"),
):
    for _w in _words:
        _DIRECTION_OF[_w] = _dir

_DIR_WORD = (r"(?P<dir>in(?:to|wards?)?|forwards?|closer|towards?|out(?:wards?)?|back(?:wards?)?|away|"
             r"left(?:wards?)?|right(?:wards?)?|up(?:wards?)?|down(?:wards?)?)")


@dataclass
class _Mention:
    """One camera move named in a phrase."""

    move: str | None  # a canonical move; None for a word that adds no move (rack focus, handheld)
    start: int
    end: int
    text: str
    factor: float = 1.0  # a substitute's strength (a whip pan is a fast pan)
    amount: float | None = None  # an explicit amount, relative to the default
    warning: str | None = None  # may hold "{instead}", filled when the phrase is complete
    note: str | None = None


_Handler = Callable[["re.Match[str]"], list[_Mention]]


def _m(move: str | None, match: re.Match[str], **kw: Any) -> _Mention:
    return _Mention(move=move, start=match.start(), end=match.end(), text=match.group(0).strip(), **kw)


def _directional(moves: dict[str, str], default: str | None, what: str) -> _Handler:
    """A handler that picks a move by the ``dir`` group; without one, ``default`` with a note."""

    def handle(match: re.Match[str]) -> list[_Mention]:
        word = (match.groupdict().get("dir") or "").strip()
        direction = _DIRECTION_OF.get(re.sub(r"\s+", " ", word))
        if direction is None or direction not in moves:
            if default is None:
                return []
            return [_m(default, match, note=f"“{match.group(0).strip()}” names no direction: {what} "
                                             f"{default.split('_')[-1]} ({default})")]
        return [_m(moves[direction], match)]

    return handle


def _fixed(move: str | None, *, factor: float = 1.0, warning: str | None = None,
           note: str | None = None) -> _Handler:
    def handle(match: re.Match[str]) -> list[_Mention]:
        return [_m(move, match, factor=factor, warning=warning, note=note)]

    return handle


def _crane(match: re.Match[str]) -> list[_Mention]:
    word = (match.group("cdir") or "").strip()
    said = match.group(0).strip()
    if word in ("down", "low", "lower", "descends"):
        return [_m("pedestal_down", match, warning=f"“{said}”: the local renderer can't swing a crane; "
                                                       "using pedestal_down instead")]
    if word in ("over", "across", "above", "overhead"):
        return [_m("pedestal_up", match, warning=f"“{said}”: the local renderer can't fly over the scene; "
                                                     "using pedestal_up with tilt_down instead"),
                _m("tilt_down", match)]
    return [_m("pedestal_up", match, warning=f"“{said}”: the local renderer can't swing a crane; "
                                                 "using pedestal_up instead")]


def _whip(match: re.Match[str]) -> list[_Mention]:
    direction = _DIRECTION_OF.get((match.group("dir") or "").strip(), "right")
    move = f"pan_{direction}"
    return [_m(move, match, factor=2.5, warning=f"“{match.group(0).strip()}”: rendered as a fast {move} "
                                                  "(no motion blur)")]


def _pan_from_to(match: re.Match[str]) -> list[_Mention]:
    return [_m(f"pan_{match.group('b')}", match)]


def _push_or_dolly(match: re.Match[str]) -> list[_Mention]:
    direction = _DIRECTION_OF.get((match.group("dir") or "").strip())
    move = {"in": "push_in", "out": "pull_out", "left": "truck_left", "right": "truck_right",
            "up": "pedestal_up", "down": "pedestal_down"}.get(direction or "")
    return [_m(move, match)] if move else []


_GENERIC_DIRECTIONS = {"in": "push_in", "out": "pull_out", "left": "truck_left", "right": "truck_right",
                       "up": "pedestal_up", "down": "pedestal_down"}

# (pattern, handler, gated): a gated pattern uses an everyday verb ("moves", "rises", "turns") and counts only
# when the camera is its subject ("the camera moves in") or the phrase starts with it ("Move in slowly").
_PATTERNS: list[tuple[re.Pattern[str], _Handler, bool]] = [
    (re.compile(p, re.IGNORECASE), h, g) for p, h, g in [
        # --- moves the renderer cannot do: a warning and a stand-in --------------------------------------
        (r"\b(?:dolly[- ]zoom|zolly|vertigo(?:[- ](?:effect|shot|zoom))?|contra[- ]zoom)\b",
         _fixed("push_in", warning="“{text}”: the local renderer can't hold the subject while the background "
                                   "stretches; using push_in instead"), False),
        ((r"\b(?:rack(?:s|ed|ing)?[- ]focus(?:es|ed|ing)?|focus[- ](?:pull|rack|shift)s?|refocus(?:es|ing)?|"
         r"(?:pull|pulls|pulling|shift|shifts|shifting|change|changes|changing)\s+(?:the\s+)?focus)\b"),
         _fixed(None, warning="“{text}”: the local renderer keeps the whole frame in focus; {instead}"),
         False),
        (r"\b(?:hand[- ]?held|shaky[- ]?cam|shaky\s+camera|camera\s+shake|shaking\s+camera)\b",
         _fixed(None, warning="“{text}”: the local renderer keeps the camera steady; {instead}"), False),
        (r"\b(?:follow(?:s|ed|ing)?[- ](?:shot|cam)|follow(?:s|ing)?\s+" + _OBJ + r"\b|tracking[- ]shot|"
         r"tracks?\s+" + _OBJ + r"\b|steadicam)",
         _fixed("push_in", factor=0.7, warning="“{text}”: nothing moves in a still image to follow; "
                                               "using a slow push_in instead"), False),
        ((r"\b(?:crane|jib)(?:s|ed|ing)?(?:[- ]shot)?"
         r"(?:\s+(?P<cdir>over|across|above|overhead|up|down|low))?\b"),
         _crane, False),
        (r"\bwhip[- ]?pan(?:s|ned|ning)?(?:\s+(?:to\s+(?:the\s+)?)?(?P<dir>left|right))?\b", _whip, False),
        ((r"\b(?:dutch(?:\s+(?:angle|tilt))?|barrel[- ]roll|camera\s+roll(?:s|ing)?|"
         r"roll(?:s|ing)?\s+(?:the\s+camera|clockwise|counter[- ]?clockwise))\b"),
         _fixed(None, warning="“{text}”: the local renderer keeps the horizon level; {instead}"), False),
        ((r"\b(?:fly(?:ing)?[- ]?(?:over|through|by)|flies\s+(?:over|through|toward|towards|into)|"
         r"drone\s+(?:shot|move|flight)|fpv)\b"),
         _fixed("push_in", warning="“{text}”: the local renderer can't fly through the scene; "
                                   "using push_in instead"), False),
        ((r"\b(?:360(?:°|-degree|\s+degrees?)?(?:\s+(?:orbit|spin|turn|rotation|pan))?|"
         r"full\s+(?:orbit|circle|rotation)|spin(?:s|ning)?\s+around)\b"),
         _fixed("orbit_right", warning="“{text}”: the local renderer can arc only a few degrees; "
                                       "using orbit_right instead"), False),
        # --- stand still ------------------------------------------------------------------------------
        ((r"\b(?:(?:do\s+not|don't|dont|never|no\s+need\s+to)\s+move\s+the\s+camera|"
         r"camera\s+(?:does\s+not|doesn't|doesnt|never|won't)\s+move|"
         r"without\s+(?:any\s+)?camera\s+(?:movement|motion)|no\s+(?:camera\s+)?(?:movement|motion|moves?))\b"),
         _fixed("hold"), False),
        ((r"\b(?:static(?:\s+(?:camera|shot|frame))?|stationary(?:\s+camera)?|locked[- ]?off|"
          r"lock(?:s|ed)?\s+off|"
         r"motionless|still\s+camera|tripod\s+shot|"
         r"camera\s+(?:is\s+|stays\s+|remains\s+|holds\s+)?(?:still|static|steady|fixed|locked)|"
         r"(?:stays?|remains?)\s+(?:still|put|static)|"
         r"hold(?:s|ing)?(?!\s+(?:a|an|the|his|her|their|its|my|onto|on\s+to|up|hands|it|them)\b)|"
         r"pause(?:s|d)?|(?:a\s+)?beat|freeze(?:s)?|rest(?:s|ing)?\s+on)\b"), _fixed("hold"), False),
        # --- zoom (no parallax) -----------------------------------------------------------------------
        (r"\b(?:crash|snap|punch)[- ]?(?:zoom|in)\b(?:[- ]in\b)?", _fixed("zoom_in", factor=2.0), False),
        (r"\bzoom(?:s|ed|ing)?" + _ADV + r"(?:[- ]" + _DIR_WORD + r")?\b",
         _directional({"in": "zoom_in", "out": "zoom_out"}, "zoom_in", "zooming"), False),
        # --- pan and tilt (rotation, no parallax) -----------------------------------------------------
        (r"\bpan(?:s|ned|ning)?" + _ADV + r"(?:\s+across)?\s+from\s+(?:the\s+)?(?P<a>left|right)\s+to\s+"
         r"(?:the\s+)?(?P<b>left|right)\b", _pan_from_to, False),
        (r"\b(?P<a>left|right)[- ]to[- ](?P<b>left|right)\s+pan\b", _pan_from_to, False),
        (r"\b(?P<dir>left(?:wards?)?|right(?:wards?)?)\s+pan\b",
         _directional({"left": "pan_left", "right": "pan_right"}, None, "panning"), False),
        (r"\bpan(?:s|ned|ning)?" + _ADV + r"(?:\s+(?:across|over))?"
         r"(?:\s+(?:to|toward|towards)\s+(?:the\s+)?|\s+)"
         r"(?P<dir>left(?:wards?)?|right(?:wards?)?)\b",
         _directional({"left": "pan_left", "right": "pan_right"}, None, "panning"), False),
        (r"\bpan(?:s|ned|ning)?\b", _directional({}, "pan_right", "panning"), False),
        (r"\btilt(?:s|ed|ing)?" + _ADV + r"(?:\s+(?:to|toward|towards)\s+(?:the\s+)?|\s+)"
         r"(?P<dir>up(?:wards?)?|down(?:wards?)?)\b",
         _directional({"up": "tilt_up", "down": "tilt_down"}, None, "tilting"), False),
        (r"\btilt(?:s|ed|ing)?\b(?![- ]shift)", _directional({}, "tilt_up", "tilting"), False),
        # --- dolly, push, pull (translation along the lens axis) --------------------------------------
        (r"\b(?:push(?:es|ed|ing)?|dolly|dollies|dollied|dollying)" + _ADV + r"[- ]" + _DIR_WORD + r"\b",
         _push_or_dolly, False),
        (r"\bpull(?:s|ed|ing)?" + _ADV + r"[- ](?P<dir>out|back(?:wards?)?|away)\b(?!\s+" + _OBJ + r"\b)",
         _directional({"out": "pull_out"}, None, "pulling"), False),
        (r"\b(?:push|dolly)(?:[- ]shot)?\b", _directional({}, "push_in", "dollying"), False),
        (r"\b(?:retreat(?:s|ing)?|recede(?:s|ing)?|back(?:s|ing)?\s+(?:away|up|off|out))\b",
         _fixed("pull_out"), True),
        (r"\bapproach(?:es|ing)?\b", _fixed("push_in"), True),
        # --- truck and pedestal (sideways and vertical translation) -----------------------------------
        (r"\b(?:truck(?:s|ed|ing)?|track(?:s|ed|ing)?|crab(?:s|bed|bing)?|strafe(?:s|d)?|strafing)" + _ADV +
         r"(?:\s+sideways)?\s+(?:to\s+(?:the\s+)?)?(?P<dir>left(?:wards?)?|right(?:wards?)?)\b",
         _directional({"left": "truck_left", "right": "truck_right"}, None, "trucking"), False),
        (r"\btruck(?:s|ed|ing)?\b", _directional({}, "truck_right", "trucking"), False),
        (r"\b(?:pedestal(?:s|ed|ing)?|boom(?:s|ed|ing)?)" + _ADV
         + r"\s+(?P<dir>up(?:wards?)?|down(?:wards?)?)\b",
         _directional({"up": "pedestal_up", "down": "pedestal_down"}, None, "moving"), False),
        (r"\b(?:pedestal(?:s|ed|ing)?|boom(?:s|ed|ing)?)\b", _directional({}, "pedestal_up", "moving"),
         False),
        # --- orbit ------------------------------------------------------------------------------------
        (r"\b(?:orbit(?:s|ed|ing)?|"
         r"arc(?:s|ed|ing)?(?=[- ](?:shot|around|left|right|to|clockwise|counter|anti))"
         r"(?:[- ]shot)?|(?:circl(?:e|es|ed|ing)|revolv(?:e|es|ed|ing)|rotat(?:e|es|ed|ing))(?=\s+around))"
         + _ADV + r"(?:\s+around(?:\s+" + _OBJ + r"(?:\s+\w+)?)?)?"
         r"(?:\s+(?:to\s+(?:the\s+)?|toward(?:s)?\s+(?:the\s+)?)?(?P<dir>left|right|clockwise|"
         r"counter[- ]?clockwise|anti[- ]?clockwise))?\b",
         _directional({"left": "orbit_left", "right": "orbit_right"}, "orbit_right", "orbiting"), False),
        # --- everyday verbs with the camera as subject -----------------------------------------------
        (r"\b(?:turn(?:s|ed|ing)?|swivel(?:s|led|ling)?|swing(?:s|ing)?|look(?:s|ing)?)" + _ADV +
         r"\s+(?:to\s+(?:the\s+)?)?(?P<dir>left|right|up|down)\b",
         _directional({"left": "pan_left", "right": "pan_right", "up": "tilt_up", "down": "tilt_down"}, None,
                      "turning"), True),
        (r"\b(?:move|moves|moved|moving|creep(?:s|ing)?|glide(?:s|d)?|gliding|drift(?:s|ed|ing)?|"
         r"travel(?:s|led|ling|ing)?|go(?:es)?|slide(?:s)?|sliding|float(?:s|ing)?|edge(?:s)?|inch(?:es)?|"
         r"step(?:s)?)" + _ADV + r"\s+(?:to\s+(?:the\s+)?)?" + _DIR_WORD + r"\b",
         _directional(_GENERIC_DIRECTIONS, None, "moving"), True),
        ((r"\b(?:rise(?:s)?|rising|lift(?:s|ing)?|ascend(?:s|ing)?|climb(?:s|ing)?|elevate(?:s)?|raise(?:s)?)"
         r"(?:\s+(?:up|upwards?))?\b"), _fixed("pedestal_up"), True),
        (r"\b(?:descend(?:s|ing)?|lower(?:s|ing)?|sink(?:s|ing)?|drop(?:s|ping)?)(?:\s+(?:down|downwards?))?\b",
         _fixed("pedestal_down"), True),
        # --- Russian, the language of the prompt guide this vocabulary follows ----------------------
        (r"\b(?:статичн\w*|неподвижн\w*|пауз\w*|стоп[- ]кадр\w*|замира\w*|замер\w*)", _fixed("hold"), False),
        (r"\b(?:наезд\w*|приближени\w*)", _fixed("push_in"), False),
        (r"\b(?:отъезд\w*|отдалени\w*)", _fixed("pull_out"), False),
        (r"\bпанорам\w*(?:\s+(?P<dir>влево|вправо|налево|направо))?",
         _directional({"left": "pan_left", "right": "pan_right"}, "pan_right", "panning"), False),
        (r"\bнаклон\w*(?:\s+камеры)?\s+(?P<dir>вверх|вниз)",
         _directional({"up": "tilt_up", "down": "tilt_down"}, None, "tilting"), False),
        (r"\b(?:облёт|облет|орбит)\w*(?:\s+(?P<dir>влево|вправо|налево|направо))?",
         _directional({"left": "orbit_left", "right": "orbit_right"}, "orbit_right", "orbiting"), False),
        ((r"\b(?:смещается|сдвигается|движется|едет|плывёт|плывет)\s+(?P<dir>влево|вправо|вперёд|вперед|назад|"
         r"вверх|вниз)"), _directional(_GENERIC_DIRECTIONS, None, "moving"), True),
        (r"\b(?:поднимается|подъём|подъем)", _fixed("pedestal_up"), True),
        (r"\bопуска\w*", _fixed("pedestal_down"), True),
    ]
]

_SPEEDS: list[tuple[re.Pattern[str], float]] = [
    (re.compile(p, re.IGNORECASE), f) for p, f in [
        (r"\b(?:imperceptibl[ey]|barely|micro)\b", 0.35),
        (r"\b(?:subtl[ey]|subtly|slight(?:ly)?|tiny|minimal|a\s+touch|a\s+hint)\b", 0.5),
        ((r"\b(?:slow(?:ly|er)?|gentl[ey]|leisurely|unhurried|lazy|lazily|gradual(?:ly)?|creeping|"
         r"soft(?:ly)?(?!\s+(?:light|focus|glow|backlight|shadows?|morning|window|daylight|sunlight)))\b"
         r"(?![- ]?mo(?:tion)?\b)"), 0.7),
        ((r"\b(?:fast(?:er)?|quick(?:ly)?|rapid(?:ly)?|swift(?:ly)?|brisk(?:ly)?|speedy|"
         r"energetic(?:ally)?)\b"), 1.6),
        (r"\b(?:dramatic(?:ally)?|aggressive(?:ly)?|sweeping)\b", 1.8),
        (r"\b(?:едва|слегка|лёгк\w*|легк\w*|небольш\w*)", 0.5),
        (r"\b(?:медленн\w*|плавн\w*)", 0.7),
        (r"\b(?:быстр\w*|резк\w*)", 1.6),
    ]
]
_INTENSIFIER = re.compile(r"\b(?:very|extremely|super|really|ultra)[\s-]+$", re.IGNORECASE)

_EASING_WORDS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p, re.IGNORECASE), e) for p, e in [
        (r"\b(?:ease[sd]?[- ]in[- ](?:and[- ])?out|smooth\s+start\s+and\s+stop)\b", "ease_in_out"),
        (r"\b(?:linear(?:ly)?|constant\s+speed|steady\s+speed|even\s+speed|mechanical(?:ly)?)\b", "linear"),
        (r"\b(?:ease[sd]?[- ]in|accelerat\w*|speeds?\s+up|picks?\s+up\s+speed)\b", "ease_in"),
        ((r"\b(?:ease[sd]?[- ]out|decelerat\w*|slow(?:s|ing)?\s+(?:down|to\s+a\s+(?:stop|halt))|"
         r"comes?\s+to\s+(?:a\s+)?(?:rest|stop|halt)|settl(?:e|es|ing)\b)"), "ease_out"),
    ]
]

_RANGE = re.compile(r"\b(?:from|between)\s+(?P<a>" + _NUM + r")\s*(?:" + _SEC + r")?"
                    r"\s*(?:to|and|until|till|-)\s*(?P<b>" + _NUM + r")\s*" + _SEC
                    + r"|\b(?P<a2>" + _NUM + r")\s*(?:s\b)?\s*-\s*(?P<b2>" + _NUM + r")\s*" + _SEC,
                    re.IGNORECASE)
_LAST = re.compile(r"\b(?:for\s+|in\s+|over\s+|during\s+)?the\s+(?:last|final)\s+(?P<n>" + _NUM +
                   r"|half\s+a|a|one|two|three|four|five|six|seven|eight|nine|ten)\s*" + _SEC, re.IGNORECASE)
_START = re.compile(r"\b(?:at|after|from|starting\s+at|beginning\s+at|через)\s+(?:the\s+)?"
                    r"(?P<n>" + _NUM + r")\s*" + _SEC +
                    r"(?:\s+mark)?", re.IGNORECASE)
_DURATION = re.compile(r"(?<![\w.])(?P<n>" + _NUM + r"|half\s+a|an?|one|two|three|four|five|six|seven|"
                       r"eight|nine|ten|twelve)\s*(?:-\s*)?"
                       r"(?P<u>s|sec|secs|seconds?|ms|milliseconds?|с|сек|секунд[аы]?)\b", re.IGNORECASE)
_DEGREES = re.compile(r"(?P<n>" + _NUM + r")\s*(?:°|º|deg\b|degrees?\b)", re.IGNORECASE)
_PERCENT = re.compile(r"(?P<n>" + _NUM + r")\s*(?:%|percent\b|per\s+cent\b)", re.IGNORECASE)
_FACTOR = re.compile(r"(?<![\w.])(?P<n>" + _NUM + r")\s*(?:x|×)(?!\w)", re.IGNORECASE)
_NEGATION = re.compile(r"\b(?:no|not|never|without|don't|dont|doesn't|doesnt|avoid|nor|instead\s+of)\b"
                       r"(?:\s+[\w'-]+){0,3}\s*$", re.IGNORECASE)
_CAMERA_SUBJECT = re.compile(r"\b(?:camera|cam|lens|view|shot|we|pov|viewer|камера)\b", re.IGNORECASE)
_JOIN_PREVIOUS = re.compile(r"^\s*(?:and\s+)?(?:while|as|simultaneously|meanwhile|at\s+the\s+same\s+time|"
                            r"all\s+the\s+while|одновременно|пока|в\s+то\s+же\s+время)\b", re.IGNORECASE)
_SPLIT = re.compile(r"(?<!\d)\.(?!\d)|[;!?\n:]|,|\band\s+then\b|\bthen\b|\bafter\s+that\b|\bafterwards?\b|"
                    r"\bfollowed\s+by\b|\bnext\b|\bfinally\b|\bbefore\b|\blater\b|\bзатем\b|\bпотом\b|"
                    r"\bпосле\s+этого\b|\bдалее\b", re.IGNORECASE)
_FILLER = frozenset({
    "a", "an", "the", "and", "or", "start", "starts", "starting", "begin", "begins", "beginning", "first",
    "then", "now", "slowly", "gently", "gradually", "steadily", "smoothly", "quickly", "slow", "gentle",
    "subtle", "subtly", "slight", "slightly", "fast", "quick", "very", "camera", "s", "sec", "secs", "second",
    "seconds", "for", "over", "during", "in", "with", "just", "please", "let", "lets", "let's", "it",
    "старт", "сначала", "медленно", "плавно", "и",
})
_SPEED_ONLY_WORDS = frozenset({
    "a", "an", "the", "and", "very", "extremely", "really", "super", "everything", "all", "of", "it", "keep",
    "keeps", "movement", "movements", "motion", "moves", "camera", "please",
})


def _number(text: str) -> float:
    text = re.sub(r"\s+", " ", text.strip().lower())
    if text in _WORD_NUMBERS:
        return _WORD_NUMBERS[text]
    return float(text)


def _normalize(prompt: str) -> str:
    text = prompt.replace("’", "'").replace("–", "-").replace("—", " - ").replace("\u00a0", " ")
    return re.sub(r"(\d),(\d)", r"\1.\2", text)  # decimal comma: "0,5 s"


def _split_phrases(text: str) -> list[tuple[int, str]]:
    """Cut ``text`` into phrases; returns (offset, phrase) pairs, empty phrases dropped."""
    out: list[tuple[int, str]] = []
    pos = 0
    for m in _SPLIT.finditer(text):
        if text[pos:m.start()].strip():
            out.append((pos, text[pos:m.start()]))
        pos = m.end()
    if text[pos:].strip():
        out.append((pos, text[pos:]))
    return out


def _gate_ok(phrase: str, start: int) -> bool:
    """For everyday verbs: the camera is the subject, or the phrase starts with the verb (imperative)."""
    prefix = phrase[:start]
    if _CAMERA_SUBJECT.search(prefix[-40:]):
        return True
    words = re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?|\d+(?:\.\d+)?", prefix.lower())
    return all(w in _FILLER or re.fullmatch(r"\d+(?:\.\d+)?", w) for w in words)


def _find_mentions(phrase: str) -> tuple[list[_Mention], list[str]]:
    """All camera moves named in ``phrase`` (non-overlapping, in order) and notes about negated ones."""
    taken: list[tuple[int, int]] = []
    found: list[_Mention] = []
    notes: list[str] = []
    for pattern, handler, gated in _PATTERNS:
        for match in pattern.finditer(phrase):
            if any(match.start() < b and a < match.end() for a, b in taken):
                continue
            if gated and not _gate_ok(phrase, match.start()):
                continue
            mentions = handler(match)
            if not mentions:
                continue
            taken.append((match.start(), match.end()))
            is_hold = all(x.move == "hold" for x in mentions)
            if not is_hold and _NEGATION.search(phrase[max(0, match.start() - 40):match.start()]):
                notes.append(f"“{phrase[max(0, match.start() - 12):match.end()].strip()}”: read as a move "
                             "not to make; left out")
                continue
            found.extend(mentions)
    found.sort(key=lambda x: x.start)
    return found, notes


def _speed_factor(phrase: str) -> tuple[float, list[str]]:
    factor = 1.0
    words: list[str] = []
    for pattern, f in _SPEEDS:
        for match in pattern.finditer(phrase):
            value = f
            if _INTENSIFIER.search(phrase[:match.start()]):
                value = f ** 1.5
            factor *= value
            words.append(match.group(0))
    return float(min(max(factor, 0.2), 2.5)), words


def _easing(phrase: str) -> str | None:
    for pattern, easing in _EASING_WORDS:
        if pattern.search(phrase):
            return easing
    return None


def _amount_for(spec: MoveSpec, value: float, unit: str) -> float | None:
    """Convert an explicit size (``deg``, ``pct`` or ``x``) to a relative amount for ``spec``, or None."""
    axis = spec.axis
    if axis is None:
        return None
    if unit == "x":
        if axis not in ("zoom", "dolly"):
            return None
        unit, value = "pct", (value - 1.0) * 100.0 if value >= 1 else (1.0 / value - 1.0) * 100.0
    if unit == "deg":
        if spec.unit != "deg":
            return None
        return value / spec.nominal
    # percent
    if axis in ("yaw", "pitch"):  # a share of the frame: turn it into degrees of the virtual lens
        half = math.radians(CAMERA_HFOV_DEGREES / 2.0) if axis == "yaw" else math.atan(
            math.tan(math.radians(CAMERA_HFOV_DEGREES / 2.0)) * 9.0 / 16.0)
        degrees = math.degrees(math.atan(value / 100.0 * 2.0 * math.tan(half)))
        return degrees / spec.nominal
    if axis == "orbit":
        return None
    return value / spec.nominal


@dataclass
class _Group:
    """Moves that happen together, with their timing."""

    mentions: list[_Mention]
    text: str
    start: float | None = None
    duration: float | None = None
    speed: float = 1.0
    easing: str | None = None
    origin: str = "prompt"
    explicit: dict[int, float] = field(default_factory=dict)  # mention index -> explicit amount


@dataclass
class _Reading:
    groups: list[_Group]
    warnings: list[str]
    notes: list[str]


def _read_phrases(prompt: str, seconds: float) -> _Reading:
    """Read camera language into groups of simultaneous moves, in order."""
    text = _normalize(prompt)
    groups: list[_Group] = []
    warnings: list[str] = []
    notes: list[str] = []
    pending_start: float | None = None
    pending_duration: float | None = None
    pending_speed = 1.0
    join_next = False
    for _offset, raw in _split_phrases(text):
        phrase = raw.strip()
        work = phrase
        start: float | None = None
        duration: float | None = None
        # times: ranges first, then "the last N s", then starts, then plain durations
        m = _RANGE.search(work)
        if m:
            a = float(m.group("a") or m.group("a2"))
            b = float(m.group("b") or m.group("b2"))
            if b > a:
                start, duration = a, b - a
            work = work[:m.start()] + " " * (m.end() - m.start()) + work[m.end():]
        m = _LAST.search(work)
        if m and start is None:
            n = _number(m.group("n"))
            start, duration = max(0.0, seconds - n), n
            work = work[:m.start()] + " " * (m.end() - m.start()) + work[m.end():]
        m = _START.search(work)
        if m and start is None:
            start = float(m.group("n"))
            work = work[:m.start()] + " " * (m.end() - m.start()) + work[m.end():]
        m = _DURATION.search(work)
        if m and duration is None:
            n = _number(m.group("n"))
            duration = n / 1000.0 if m.group("u").lower().startswith("m") else n
            work = work[:m.start()] + " " * (m.end() - m.start()) + work[m.end():]
        mentions, negated = _find_mentions(work)
        notes.extend(negated)
        speed, speed_words = _speed_factor(work)
        easing = _easing(work)
        joins = bool(_JOIN_PREVIOUS.match(phrase)) or join_next
        join_next = False

        if not mentions:
            words = re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", work.lower())
            spoken = " ".join(speed_words).lower()
            if speed_words and all(w in _SPEED_ONLY_WORDS or w in spoken for w in words):
                # "Pan right, slowly." — a speed on its own belongs to the move before it (or the next one)
                if groups:
                    groups[-1].speed *= speed
                else:
                    pending_speed *= speed
                continue
            if easing and groups and groups[-1].easing is None:
                groups[-1].easing = easing  # "Zoom in, slowing to a stop."
                continue
            if _JOIN_PREVIOUS.match(phrase) and not words[1:]:
                join_next = True  # "Simultaneously, tilt up."
                continue
            if start is not None:
                pending_start, pending_duration = start, duration  # "After 2 s, pan left." / "2-4 s: pan"
                continue
            if duration is not None and start is None and groups and groups[-1].duration is None \
                    and not [w for w in words if w not in _FILLER]:
                groups[-1].duration = duration  # "Pan left, for 2 seconds."
            continue

        moving = [x for x in mentions if x.move != "hold"]
        if moving:
            mentions = moving  # "hold on the face while pushing in": the move wins
        if start is None and pending_start is not None:
            start = pending_start
            duration = duration if duration is not None else pending_duration
        pending_start, pending_duration = None, None
        group = _Group(mentions=mentions, text=phrase, start=start, duration=duration,
                       speed=speed * pending_speed, easing=easing)
        pending_speed = 1.0
        _attach_amounts(group, work, warnings)
        if joins and groups:
            prev = groups[-1]
            for x in group.mentions:  # keep this phrase's own speed words for its moves
                x.factor *= group.speed / prev.speed
            prev.mentions.extend(group.mentions)
            for idx, value in group.explicit.items():
                prev.explicit[len(prev.mentions) - len(group.mentions) + idx] = value
            prev.duration = prev.duration if prev.duration is not None else group.duration
            prev.start = prev.start if prev.start is not None else group.start
            prev.text = f"{prev.text}; {group.text}"
            continue
        groups.append(group)
    for g in groups:
        _finish_group(g, warnings, notes)
    return _Reading(groups, warnings, notes)


def _attach_amounts(group: _Group, work: str, warnings: list[str]) -> None:
    """Give explicit sizes (``10 degrees``, ``30 %``, ``1.5x``) to the nearest move that takes that unit."""
    for pattern, unit in ((_DEGREES, "deg"), (_PERCENT, "pct"), (_FACTOR, "x")):
        for match in pattern.finditer(work):
            value = float(match.group("n"))
            best: tuple[int, int, float] | None = None
            for idx, mention in enumerate(group.mentions):
                if mention.move is None:
                    continue
                amount = _amount_for(MOVE_SPECS[mention.move], value, unit)
                if amount is None:
                    continue
                distance = min(abs(match.start() - mention.end), abs(mention.start - match.end()))
                if best is None or distance < best[0]:
                    best = (distance, idx, amount)
            if best is None:
                moves = ", ".join(x.move for x in group.mentions if x.move) or "no move"
                warnings.append(f"“{match.group(0).strip()}” doesn't apply to {moves}; ignored")
                continue
            group.explicit[best[1]] = best[2]


def _finish_group(group: _Group, warnings: list[str], notes: list[str]) -> None:
    """Fill in the stand-in wording of unsupported moves; a group of only those becomes a hold."""
    real = [x for x in group.mentions if x.move is not None]
    instead = "the other moves in that phrase are kept" if real else "holding instead"
    for x in group.mentions:
        if x.warning:
            warnings.append(x.warning.format(text=x.text, instead=instead))
        if x.note:
            notes.append(x.note)
    if not real:
        group.mentions = [_Mention(move="hold", start=0, end=0, text=group.text)]
        group.explicit = {}
    elif len(real) < len(group.mentions):
        keep = [i for i, x in enumerate(group.mentions) if x.move is not None]
        group.explicit = {keep.index(i): v for i, v in group.explicit.items() if i in keep}
        group.mentions = real


# -----------------------------------------------------------------------------------------------------------
# Timing: lay groups out on the shot's clock
# -----------------------------------------------------------------------------------------------------------

_MIN_SHARE = 0.5  # seconds at least for a move without a duration, when it has to share


def _fit_run(durations: list[float | None], window: float) -> tuple[list[float], float]:
    """Durations for a run of groups played one after another inside ``window`` seconds.

    Returns the durations and the factor the written ones were scaled by (1.0 when they fit).
    """
    given = sum(d for d in durations if d is not None)
    open_count = sum(1 for d in durations if d is None)
    if open_count == 0:
        scale = window / given if given > window + 1e-9 else 1.0
        return [float(d) * scale for d in durations if d is not None], scale
    free = window - given
    share = min(_MIN_SHARE, window / len(durations))
    if free >= open_count * share - 1e-9:
        each = free / open_count
        return [each if d is None else float(d) for d in durations], 1.0
    scale = max(window - open_count * share, 0.0) / given if given else 1.0
    return [share if d is None else float(d) * scale for d in durations], scale


def _layout(groups: list[_Group], seconds: float, warnings: list[str], notes: list[str],
            *, seed_amounts: bool = True) -> list[CameraSegment]:
    """Turn groups into timed segments covering ``[0, seconds]``."""
    segments: list[CameraSegment] = []

    def emit(group: _Group, start: float, duration: float) -> None:
        easing = group.easing or "ease_in_out"
        for idx, mention in enumerate(group.mentions):
            assert mention.move is not None
            if idx in group.explicit:
                amount, explicit = group.explicit[idx], True
            else:
                amount, explicit = mention.factor * group.speed, False
            if amount > MAX_AMOUNT + 1e-9:
                warnings.append(f"“{mention.text}”: amount {amount:.2f} is more than the renderer allows; "
                                f"clamped to {MAX_AMOUNT:g}")
                amount = MAX_AMOUNT
            source = "recipe" if group.origin == "recipe" else mention.text
            segments.append(CameraSegment(move=mention.move, start=start, duration=duration,
                                          amount=0.0 if mention.move == "hold" else amount,
                                          easing=easing, explicit_amount=explicit, source=source))

    # fixed ranges ("from 1 s to 3 s") stand on their own; starts ("at 2 s") anchor the groups after them
    runs: list[tuple[float, list[_Group]]] = [(0.0, [])]
    for g in groups:
        if g.start is not None and g.duration is not None:
            start, duration = g.start, g.duration
            if start >= seconds:
                warnings.append(f"“{g.text}” starts at {start:g} s, after the shot's {seconds:g} s end; "
                                "left out")
                continue
            if start + duration > seconds + 1e-9:
                warnings.append(f"“{g.text}” runs to {start + duration:g} s, past the shot's {seconds:g} s "
                                "end; "
                                f"cut to {seconds - start:.2f} s")
                duration = seconds - start
            emit(g, start, duration)
        elif g.start is not None:
            if g.start >= seconds:
                warnings.append(f"“{g.text}” starts at {g.start:g} s, after the shot's {seconds:g} s end; "
                                "left out")
                continue
            runs.append((g.start, [g]))
        else:
            runs[-1][1].append(g)
    runs = [r for r in runs if r[1]]
    runs.sort(key=lambda r: r[0])
    for i, (run_start, run) in enumerate(runs):
        window_end = runs[i + 1][0] if i + 1 < len(runs) else seconds
        window = max(window_end - run_start, 0.0)
        durations, scale = _fit_run([g.duration for g in run], window)
        if scale < 1.0 - 1e-6:
            asked = sum(g.duration or 0.0 for g in run)
            where = f"the {window:g} s from {run_start:g} s" if run_start > 0 or window_end < seconds \
                else f"the shot's {seconds:g} s"
            warnings.append(f"the camera timing asks for {asked:g} s but {where} leave room for less: "
                            f"durations scaled by {scale:.2f} to fit")
        cursor = run_start
        for g, d in zip(run, durations):
            if d > 1e-9:
                emit(g, cursor, d)
            cursor += d
    segments.sort(key=lambda s: (s.start, s.move))
    return _fill_holds(segments, seconds, notes)


def _fill_holds(segments: list[CameraSegment], seconds: float, notes: list[str]) -> list[CameraSegment]:
    """Pad the time no segment covers with fill holds, and say how much was padded."""
    covered = sorted((s.start, s.end) for s in segments)
    gaps: list[tuple[float, float]] = []
    cursor = 0.0
    for a, b in covered:
        if a > cursor + 1e-6:
            gaps.append((cursor, a))
        cursor = max(cursor, b)
    if seconds > cursor + 1e-6:
        gaps.append((cursor, seconds))
    fills = [CameraSegment(move="hold", start=a, duration=b - a, amount=0.0, source="fill") for a, b in gaps]
    padded = sum(b - a for a, b in gaps)
    if fills and segments and padded >= 0.05:
        notes.append(f"the camera moves cover {seconds - padded:.2f} s of the {seconds:g} s shot; "
                     f"it holds for the other {padded:.2f} s")
    out = sorted([*segments, *fills], key=lambda s: (s.start, s.move))
    return out


# -----------------------------------------------------------------------------------------------------------
# Explicit camera values from the recipe
# -----------------------------------------------------------------------------------------------------------

_KEYFRAME_KEYS = ("move", "start", "duration", "amount", "easing")


def _is_name(value: str) -> bool:
    return bool(re.fullmatch(r"\s*[A-Za-z][A-Za-z_-]*\s*", value))


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _name_problem(name: object, where: str) -> str | None:
    if not isinstance(name, str):
        return f"{where}must be a move name, got {type(name).__name__} {name!r}"
    try:
        canonical_move(name)
    except KeyError:
        return (f"{where}unknown camera move {name!r}" + (_suggest(name, CAMERA_MOVES)
                                                          or f"; use one of {', '.join(CAMERA_MOVES)}"))
    return None


def _number_problem(value: object, where: str, what: str, *, low: float, low_ok: bool,
                    high: float | None = None) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        return f"{where}must be a number ({what}), got {value!r}"
    v = float(value)
    if v < low or (v == low and not low_ok) or (high is not None and v > high):
        bound = f"{'at least' if low_ok else 'more than'} {low:g}"
        bound += f" and at most {high:g}" if high else ""
        return f"{where}must be {bound} ({what}), got {value!r}"
    return None


def validate_camera(value: object) -> list[str]:
    """List what is wrong with an explicit ``camera:`` value (empty when it is fine).

    Accepted forms: None; a move name from :data:`CAMERA_MOVES`; a phrase of camera language (a string with
    spaces, read like a prompt); one keyframe mapping; or a non-empty list of keyframe mappings with keys
    ``move`` (a name, or a list of names that happen together), ``start`` (seconds, >= 0), ``duration``
    (seconds, > 0), ``amount`` (0..4, relative to the default) and ``easing`` (one of :data:`EASINGS`).
    Timing against the shot's length is not checked here: :func:`plan_camera` fits it and warns.
    """
    if value is None:
        return []
    if isinstance(value, str):
        if not value.strip():
            return ["camera: is empty; give a move name such as 'push_in', or leave it out"]
        if _is_name(value):
            problem = _name_problem(value, "")
            return [problem] if problem else []
        reading = _read_phrases(value, 60.0)
        if not reading.groups:
            names = ", ".join(CAMERA_MOVES[:6])
            return [(f"no camera move found in {value!r}; use a move name ({names}, ...) "
                    "or camera verbs such as 'slow push in, then pan left'")]
        return []
    if isinstance(value, dict):
        return _keyframe_problems(value, "")
    if isinstance(value, (list, tuple)):
        if not value:
            return ["camera: the list of keyframes is empty"]
        problems: list[str] = []
        for i, item in enumerate(value):
            where = f"keyframe {i + 1}: "
            if isinstance(item, str):
                problem = _name_problem(item, where)
                problems += [problem] if problem else []
            elif isinstance(item, dict):
                problems += _keyframe_problems(item, where)
            else:
                problems.append(f"{where}must be a mapping like {{move: pan_left, duration: 2}}, "
                                f"got {type(item).__name__}")
        return problems
    return [f"camera: must be a move name or a list of keyframes, got {type(value).__name__}"]


def _keyframe_problems(item: dict[Any, Any], where: str) -> list[str]:
    problems: list[str] = []
    for key in item:
        if key not in _KEYFRAME_KEYS:
            problems.append(f"{where}unknown key {key!r}" + (_suggest(str(key), _KEYFRAME_KEYS)
                                                            or f"; use {', '.join(_KEYFRAME_KEYS)}"))
    if "move" not in item:
        problems.append(f"{where}needs a move (e.g. move: push_in)")
    else:
        moves = item["move"]
        names = moves if isinstance(moves, list) else [moves]
        if not names:
            problems.append(f"{where}move: the list of moves is empty")
        for name in names:
            problem = _name_problem(name, f"{where}move: ")
            problems += [problem] if problem else []
    checks = (("start", "seconds from the start of the shot", 0.0, True, None),
              ("duration", "seconds", 0.0, False, None),
              ("amount", "relative to the default move, 1 = default", 0.0, True, MAX_AMOUNT))
    for key, what, low, low_ok, high in checks:
        if key in item and item[key] is not None:
            problem = _number_problem(item[key], f"{where}{key}: ", what, low=low, low_ok=low_ok, high=high)
            problems += [problem] if problem else []
    if "easing" in item and item["easing"] not in EASINGS:
        problems.append(f"{where}easing: unknown easing {item['easing']!r}"
                        + (_suggest(str(item["easing"]), EASINGS) or f"; use one of {', '.join(EASINGS)}"))
    return problems


def _groups_from_value(value: Any) -> list[_Group]:
    """Groups from a validated explicit ``camera:`` value that is a name, a mapping or a list."""
    items = value if isinstance(value, (list, tuple)) else [value]
    groups: list[_Group] = []
    for item in items:
        spec = {"move": item} if isinstance(item, str) else dict(item)
        names = spec["move"] if isinstance(spec["move"], list) else [spec["move"]]
        mentions = [_Mention(move=canonical_move(n), start=0, end=0, text=str(n)) for n in names]
        group = _Group(mentions=mentions, text=str(item), origin="recipe",
                       start=float(spec["start"]) if spec.get("start") is not None else None,
                       duration=float(spec["duration"]) if spec.get("duration") is not None else None,
                       easing=spec.get("easing"))
        if spec.get("amount") is not None:
            group.explicit = {i: float(spec["amount"]) for i in range(len(mentions))}
        groups.append(group)
    return groups


# -----------------------------------------------------------------------------------------------------------
# The entry point
# -----------------------------------------------------------------------------------------------------------


def plan_camera(prompt: str, camera: str | list[Any] | dict[str, Any] | None, seconds: float) -> CameraPlan:
    """Plan the camera path of one shot.

    Args:
        prompt: the shot's prompt; its camera verbs are read when ``camera`` is None.
        camera: the recipe's explicit ``camera:`` (see :func:`validate_camera` for the forms); it overrides
            the prompt.
        seconds: the shot's length; the segments are timed to fill it exactly.

    Returns:
        A :class:`CameraPlan` whose segments cover ``[0, seconds]``.

    Raises:
        RecipeError: ``camera`` is not a valid camera value, or ``seconds`` is not positive.
    """
    if not (isinstance(seconds, (int, float)) and seconds > 0 and math.isfinite(seconds)):
        raise RecipeError(f"a shot's seconds must be a positive number, got {seconds!r}")
    seconds = float(seconds)
    warnings: list[str] = []
    notes: list[str] = []
    if camera is not None:
        problems = validate_camera(camera)
        if problems:
            raise RecipeError("camera: " + "; ".join(problems),
                              hint="see the README (The local renderer) for camera names and keyframe syntax")
        if isinstance(camera, str) and not _is_name(camera):
            reading = _read_phrases(camera, seconds)
            for g in reading.groups:
                g.origin = "recipe"
            groups, warnings, notes = reading.groups, reading.warnings, reading.notes
        else:
            groups = _groups_from_value(camera)
        if prompt and _read_phrases(prompt, seconds).groups:
            notes.append("the recipe's camera: overrides the camera words in the prompt")
        segments = _layout(groups, seconds, warnings, notes)
        return CameraPlan(seconds, tuple(segments), "recipe", tuple(warnings), tuple(notes))
    reading = _read_phrases(prompt or "", seconds)
    warnings, notes = reading.warnings, reading.notes
    if not reading.groups:
        move, amount = DEFAULT_MOVE
        notes.append(f"no camera move in the prompt: a slow {move.replace('_', ' ')} "
                     "(write a camera verb such as 'pan left' or 'static' to choose)")
        seg = CameraSegment(move=move, start=0.0, duration=seconds, amount=amount, source="default")
        return CameraPlan(seconds, (seg,), "default", tuple(warnings), tuple(notes))
    segments = _layout(reading.groups, seconds, warnings, notes)
    return CameraPlan(seconds, tuple(segments), "prompt", tuple(warnings), tuple(notes))


def with_amounts(plan: CameraPlan, scale: Callable[[CameraSegment], float]) -> CameraPlan:
    """A copy of ``plan`` with every moving segment's amount multiplied by ``scale(segment)``."""
    segments = tuple(replace(s, amount=s.amount * scale(s)) if s.moves_camera else s for s in plan.segments)
    return replace(plan, segments=segments)


# -----------------------------------------------------------------------------------------------------------
# Prompt lint: the five parts of an image-to-video prompt
# -----------------------------------------------------------------------------------------------------------

PROMPT_PARTS: tuple[str, ...] = ("framing", "action", "timing", "light", "sound")
"""The five parts of a well-formed image-to-video prompt: shot type and framing; what moves and how; when
(timing); light and atmosphere; sound."""

_PART_PATTERNS: dict[str, re.Pattern[str]] = {
    "framing": re.compile(
        r"\b(?:(?:extreme\s+)?(?:wide|medium|close|long|full|establishing|cowboy|two|insert|macro|aerial|"
        r"overhead|master|tight|group)[- ]?(?:up\s+)?(?:shot|angle|view)|close[- ]?ups?|closeup|"
        r"bird'?s[- ]eye(?:\s+view)?|top[- ]down|low[- ]angle|high[- ]angle|eye[- ]level|"
        r"over[- ]the[- ]shoulder|\d{2,3}\s?mm|wide[- ]angle|telephoto|fisheye|anamorphic|lens|"
        r"(?:shallow\s+)?depth\s+of\s+field|bokeh|"
        r"framing|framed|centered|centred|rule\s+of\s+thirds|in\s+the\s+foreground|in\s+the\s+background|"
        r"symmetrical|composition)\b", re.IGNORECASE),
    "action": re.compile(
        r"\b(?:walk(?:s|ing)?|run(?:s|ning)?|turn(?:s|ing)?|rais(?:e|es|ing)|lift(?:s|ing)?|ris(?:e|es|ing)|"
        r"fall(?:s|ing)?|flow(?:s|ing)?|drift(?:s|ing)?|sway(?:s|ing)?|wav(?:e|es|ing)|blink(?:s|ing)?|"
        r"smil(?:e|es|ing)|steam(?:s|ing)?|flicker(?:s|ing)?|spin(?:s|ning)?|open(?:s|ing)?|"
        r"clos(?:e|es|ing)(?![- ]?ups?\b)|"
        r"fl(?:y|ies|ying)|swim(?:s|ming)?|pour(?:s|ing)?|blow(?:s|ing)?|rustl(?:e|es|ing)|ripple(?:s|ing)?|"
        r"float(?:s|ing)?|nod(?:s|ding)?|glanc(?:e|es|ing)|breath(?:e|es|ing)|dances?|dancing|jump(?:s|ing)?|"
        r"lands?|launch(?:es|ing)?|moves?|moving|swirl(?:s|ing)?|twinkl(?:e|es|ing)|crash(?:es|ing)?|"
        r"splash(?:es|ing)?|curl(?:s|ing)?|looks?|looking|stretch(?:es|ing)?|yawn(?:s|ing)?)\b",
        re.IGNORECASE),
    "timing": re.compile(
        r"(?:\b\d+(?:[.,]\d+)?\s*-?\s*(?:s|sec|secs|seconds?|ms)\b|\b(?:then|start(?:s|ing)?|first|finally|"
        r"afterwards?|meanwhile|while|until|before|after|hold(?:s)?|pause|beat|at\s+the\s+end|halfway|"
        r"(?:one|two|three|four|five|half\s+a)\s+seconds?)\b)", re.IGNORECASE),
    "light": re.compile(
        r"\b(?:light(?:s|ing)?|lit|backlight|backlit|rim\s+light|key\s+light|golden\s+hour|blue\s+hour|sunset|"
        r"sunrise|dusk|dawn|noon|midday|night|moonlight|moonlit|neon|candle(?:light)?|lamp(?:light)?|haze|hazy|"
        r"fog(?:gy)?|mist(?:y)?|overcast|cloudy|sunny|sun|sunlight|shadows?|silhouette(?:d)?|glow(?:s|ing)?|"
        r"warm|cool|cold|harsh|contrast|volumetric|god\s+rays|high[- ]key|low[- ]key|atmospher(?:e|ic)|"
        r"daylight|twilight|bright|dim|dark|gloomy|moody|colou?r\s+(?:palette|grade|grading)|tones?)\b",
        re.IGNORECASE),
    "sound": re.compile(
        r"\b(?:sounds?|audio|music|ambien(?:t|ce)|noise|hum(?:s|ming)?|buzz(?:es|ing)?|whisper(?:s|ing)?|"
        r"voices?|dialog(?:ue)?|says|speaks|narrat(?:ion|or|es)|footsteps|birdsong|birds?|chirp(?:s|ing)?|"
        r"gulls?|wind|rain|thunder|rumble|murmur(?:s|ing)?|chatter|traffic|silence|silent|quiet|guitar|piano|"
        r"drums?|score|sfx|echo(?:es|ing)?|bells?|ring(?:s|ing)?|crackl(?:e|es|ing)|sizzl(?:e|es|ing)|clink(?:s)?|"
        r"splash(?:es)?|roar(?:s|ing)?|hiss(?:es|ing)?|soundtrack|melody|song|tick(?:s|ing)?|waves\s+crash\w*)\b",
        re.IGNORECASE),
}

_VAGUE = re.compile(
    r"\b(?:animat(?:e|es|ed|ing|ion)|bring\s+(?:it|this|them|the\s+(?:image|photo|picture|scene))\s+to\s+life|"
    r"(?:make|makes|making)\s+(?:it|this|them|the\s+(?:image|photo|picture|scene|camera))\s+"
    r"(?:move|moving|come\s+alive|alive|dynamic|cinematic)|add\s+(?:some\s+)?(?:motion|movement|dynamism)|"
    r"(?:comes?|come)\s+(?:alive|to\s+life)|(?:some|more|dynamic|cinematic)\s+(?:movement|motion)|"
    r"camera\s+(?:movement|motion|moves?)(?=\s*(?:[.,;!]|$))|moving\s+picture|in\s+motion)\b", re.IGNORECASE)


@dataclass(frozen=True)
class PromptReport:
    """What ``reelpipe lint`` says about one prompt.

    Attributes:
        parts: for each of :data:`PROMPT_PARTS`, the words that show it is present (empty: missing).
        vague: ``(phrase, suggestion)`` for each vague motion word ("animate", "make it move").
        plan: the camera plan read from the shot.
    """

    parts: dict[str, list[str]]
    vague: list[tuple[str, str]]
    plan: CameraPlan

    @property
    def missing(self) -> list[str]:
        """The prompt parts with no evidence."""
        return [p for p in PROMPT_PARTS if not self.parts.get(p)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"parts": {p: self.parts.get(p, []) for p in PROMPT_PARTS}, "missing": self.missing,
                "vague": [{"phrase": a, "suggestion": b} for a, b in self.vague],
                "camera": self.plan.to_dict()}


def camera_phrases(prompt: str) -> list[str]:
    """The words in ``prompt`` that name camera moves (supported or not), in order."""
    out: list[str] = []
    for _offset, phrase in _split_phrases(_normalize(prompt)):
        mentions, _notes = _find_mentions(phrase)
        out += [x.text for x in mentions if x.text not in out]
    return out


def _suggest_camera_verb(prompt: str) -> str:
    """A camera verb that suits the framing the prompt describes."""
    text = prompt.lower()
    if re.search(r"\b(?:wide|landscape|establishing|panorama|skyline|vista|aerial)\b", text):
        return "slow pan right (or 'slow truck right' for parallax)"
    if re.search(r"\b(?:tall|tower|rocket|building|tree|waterfall|mountain)\b", text):
        return "slow tilt up"
    if re.search(r"\b(?:portrait|face|close[- ]?up|closeup|macro|detail)\b", text):
        return "slow push in"
    return "slow push in (or pan left/right, tilt up/down, truck, orbit)"


def analyze_prompt(prompt: str, camera: Any, seconds: float) -> PromptReport:
    """Lint one shot's prompt: which of the five parts it has, vague motion words, and its camera plan.

    Args:
        prompt: the shot's prompt.
        camera: the shot's explicit ``camera:`` (or None).
        seconds: the shot's length.

    Raises:
        RecipeError: ``camera`` is invalid (see :func:`plan_camera`).
    """
    text = _normalize(prompt or "")
    plan = plan_camera(text, camera, seconds)
    parts: dict[str, list[str]] = {}
    for part, pattern in _PART_PATTERNS.items():
        words: list[str] = []
        for match in pattern.finditer(text):
            word = re.sub(r"\s+", " ", match.group(0).strip())
            if word.lower() not in (w.lower() for w in words):
                words.append(word)
        parts[part] = words
    vague_spans = [(m.start(), m.end(), m.group(0).strip()) for m in _VAGUE.finditer(text)]
    moves = camera_phrases(text)
    action = [w for w in parts["action"] if w.lower() not in (m.lower() for m in moves)
              and not any(w.lower() in v.lower() for _a, _b, v in vague_spans)]
    parts["action"] = moves + action
    if camera is not None:
        parts["action"].insert(0, "camera: " + (", ".join(plan.moves()) or "static"))
        if not isinstance(camera, str) or not _is_name(camera):
            parts["timing"].insert(0, "camera: keyframes")
    camera_moves = plan.origin != "default" and bool(plan.moves())
    vague: list[tuple[str, str]] = []
    for _start, _end, phrase in vague_spans:
        if camera_moves:
            suggestion = "the camera path is already set; say what moves in the picture, or drop the word"
        else:
            suggestion = f"name the move with a camera verb, e.g. '{_suggest_camera_verb(text)}'"
        vague.append((phrase, suggestion))
    return PromptReport(parts=parts, vague=vague, plan=plan)
