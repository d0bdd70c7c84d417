"""The recipe file: schema (version 1) and :func:`load_recipe`.

A recipe is YAML. Loading collects every problem — YAML syntax, unknown keys (with a "did you mean"),
wrong types, dangling references, missing files, impossible trims and transitions — each with its
``file:line``, and raises one :class:`~pipeline.errors.RecipeError` listing them all. Paths resolve relative
to the recipe file. The JSON Schema (``reelpipe schema``) is generated from the same models.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.errors import Problem, RecipeError

__all__ = [
    "AudioSpec",
    "BackendSpec",
    "LoadedRecipe",
    "OutputSpec",
    "Recipe",
    "Shot",
    "TimelineEntry",
    "Transition",
    "XFADE_TRANSITIONS",
    "Trim",
    "json_schema",
    "load_recipe",
    "parse_size",
]

SHOT_ID = re.compile(r"^[A-Za-z0-9_-]+$")
SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")
COLOR = re.compile(r"^([A-Za-z]{3,20}|#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?)(@(0(\.\d+)?|1(\.0+)?))?$")


def _check_color(value: str) -> str:
    if not COLOR.match(value):
        raise ValueError(f"colour {value!r} must be a name (white), #RRGGBB, optionally with @alpha (black@0.5)")
    return value


def parse_size(value: str) -> tuple[int, int]:
    """Parse ``"1280x720"`` into ``(1280, 720)``."""
    m = SIZE.match(value.strip())
    if not m:
        raise ValueError(f"size must look like 1280x720, got {value!r}")
    w, h = int(m.group(1)), int(m.group(2))
    if w % 2 or h % 2:
        raise ValueError(f"size {value!r}: width and height must be even (H.264 4:2:0)")
    return w, h


def _yaml_off(value: Any) -> Any:
    """YAML 1.1 reads a bare ``off`` as false; a recipe that says ``off`` means the string."""
    return "off" if value is False else value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OutputSpec(_Model):
    """Where and how the finished sequence is written."""

    path: str = Field(description="Output file, relative to the recipe file.")
    size: str = Field("1280x720", description="WIDTHxHEIGHT of the output, even numbers.")
    fps: int = Field(30, ge=1, le=120, description="Output frame rate.")
    profile: Literal["web", "hevc", "mezzanine"] = Field(
        "web", description="web: H.264+AAC MP4; hevc: H.265+AAC MP4; mezzanine: ProRes 422 HQ + PCM in .mov.")
    fade_in: float = Field(0.0, ge=0, description="Seconds of fade in from black at the head.")
    fade_out: float = Field(0.0, ge=0, description="Seconds of fade out to black at the tail.")

    @field_validator("size")
    @classmethod
    def _check_size(cls, v: str) -> str:
        parse_size(v)
        return v

    @property
    def dimensions(self) -> tuple[int, int]:
        return parse_size(self.size)


class BackendSpec(BaseModel):
    """Which render backend renders shots. Backend-specific keys (base_url, api_key_env, ...) are allowed."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: Literal["local", "openai", "fal", "diffusers"] = Field("local", description="The render backend.")
    model: str | None = Field(None, description="Model name for hosted/open-weights backends.")
    concurrency: int | None = Field(None, ge=1, le=32,
                                    description="Shots rendered at once (default: the backend's own).")
    api_key: Any = Field(None, description="Not allowed: keys come from the environment (api_key_env).")

    @field_validator("api_key")
    @classmethod
    def _no_inline_keys(cls, v: Any) -> Any:
        if v is not None:
            raise ValueError("API keys may not be written in a recipe; set api_key_env to the name of an "
                             "environment variable that holds the key")
        return v


class Trim(_Model):
    """The part of a clip to keep, in seconds inside the clip."""

    start: float = Field(0.0, ge=0, description="Seconds into the clip where the shot starts.")
    end: float | None = Field(None, gt=0, description="Seconds into the clip where the shot ends (default: its end).")


class TitleCard(_Model):
    """An animated title card: text over a background, drawn by moviepy."""

    text: str = Field(description="The card's text (newlines make lines).")
    seconds: float = Field(3.0, gt=0, le=60, description="Length of the card.")
    background: str = Field("#000000", description="Background colour, #RRGGBB.")
    color: str = Field("#ffffff", description="Text colour, #RRGGBB.")
    font: str | None = Field(None, description="Font file; default: the bundled DejaVu Sans.")
    size: int = Field(64, ge=6, le=400, description="Text size in pixels.")
    animation: Literal["fade", "rise", "none"] = Field("fade", description="How the text enters.")

    _colors = field_validator("background", "color")(classmethod(lambda cls, v: _check_color(v)))


class Shot(_Model):
    """One shot: rendered from an image and a prompt, a remix of another shot, or an existing clip."""

    id: str = Field(description="Letters, digits, - and _; unique in the recipe.")
    image: str | None = Field(None, description="Reference image (JPEG/PNG/WebP), relative to the recipe.")
    prompt: str | None = Field(None, description="What happens in the shot; camera verbs steer the local renderer.")
    video: str | None = Field(None, description="An existing clip to use as it is (no render).")
    remix_of: str | None = Field(None, description="Id of a rendered shot to remix with a new prompt.")
    seconds: float | None = Field(None, gt=0, le=60, description="Length to render (default 4).")
    size: str | None = Field(None, description="Render size for hosted backends (default: the output size).")
    model: str | None = Field(None, description="Override the backend's model for this shot.")
    camera: str | list[dict[str, Any]] | dict[str, Any] | None = Field(
        None, description="A camera move name, a phrase, one keyframe or a list of keyframed moves; overrides "
                          "the prompt's verbs.")
    depth: str | None = Field(None, description="Optional depth image for 2.5D parallax (local backend).")
    seed: int | None = Field(None, ge=0, description="Seed for deterministic rendering (default 0).")
    trim: Trim | None = Field(None, description="Keep only this part of the clip.")
    speed: float = Field(1.0, ge=0.5, le=2.0, description="Playback speed (0.5–2×); audio tempo follows.")
    volume: float = Field(1.0, ge=0.0, le=4.0, description="Gain applied to the clip's own audio (1 = as is).")
    mute: bool = Field(False, description="Drop the clip's own audio.")
    card: TitleCard | None = Field(None, description="A title card drawn frame by frame (moviepy), no render.")
    effect: str | None = Field(None, description="A frame effect 'module:function' applied with moviepy; the "
                                                 "function takes and returns a moviepy clip.")

    @field_validator("id")
    @classmethod
    def _check_id(cls, v: str) -> str:
        if not SHOT_ID.match(v):
            raise ValueError(f"shot id {v!r} may contain only letters, digits, '-' and '_'")
        return v

    @field_validator("size")
    @classmethod
    def _check_size(cls, v: str | None) -> str | None:
        if v is not None:
            parse_size(v)
        return v


POSITIONS = ("top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom", "bottom-right")
Position = Literal["top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom",
                  "bottom-right"]


class TextBox(_Model):
    """A box behind overlay text."""

    color: str = Field("black@0.5", description="Box colour, ffmpeg syntax (name or #RRGGBB, optional @alpha).")
    padding: int = Field(12, ge=0, le=200, description="Pixels between the text and the box edge.")

    _color = field_validator("color")(classmethod(lambda cls, v: _check_color(v)))


class Overlay(_Model):
    """Something drawn over the sequence for a time range: text, an image, or another shot (picture in picture).

    Times are seconds on the output timeline. Without ``duration``/``end`` an overlay lasts to the end.
    """

    text: str | None = Field(None, description="Text to draw (any Unicode; newlines make lines).")
    image: str | None = Field(None, description="Image file (PNG with alpha for logos), relative to the recipe.")
    pip: str | None = Field(None, description="Id of a shot to show as picture in picture.")
    start: float = Field(0.0, ge=0, description="Timeline second where the overlay appears.")
    duration: float | None = Field(None, gt=0, description="Seconds it stays (default: to the end).")
    position: Position = Field("bottom-left", description="Where it sits: " + ", ".join(POSITIONS) + ".")
    margin: int = Field(40, ge=0, le=2000, description="Pixels from the frame edge.")
    fade_in: float = Field(0.0, ge=0, description="Seconds of fade in.")
    fade_out: float = Field(0.0, ge=0, description="Seconds of fade out.")
    opacity: float = Field(1.0, ge=0, le=1, description="Overall opacity.")
    # text
    font: str | None = Field(None, description="Font file (TTF/OTF); default: the bundled DejaVu Sans.")
    size: int = Field(48, ge=6, le=400, description="Text size in pixels (at the output size).")
    color: str = Field("white", description="Text colour, ffmpeg syntax (name or #RRGGBB).")
    box: TextBox | bool | None = Field(None, description="A box behind the text: true, or {color, padding}.")
    line_spacing: int = Field(8, ge=0, le=200, description="Extra pixels between lines.")
    # image / pip
    scale: float | None = Field(None, gt=0, le=1, description="Width as a fraction of the output width "
                                                              "(image default: natural size; pip default 0.3).")
    clip_start: float = Field(0.0, ge=0, description="pip: seconds into the shot's clip shown first.")

    _color = field_validator("color")(classmethod(lambda cls, v: _check_color(v)))


XFADE_TRANSITIONS = (
    "fade wipeleft wiperight wipeup wipedown slideleft slideright slideup slidedown circlecrop rectcrop "
    "distance fadeblack fadewhite radial smoothleft smoothright smoothup smoothdown circleopen circleclose "
    "vertopen vertclose horzopen horzclose dissolve pixelize diagtl diagtr diagbl diagbr hlslice hrslice "
    "vuslice vdslice hblur fadegrays wipetl wipetr wipebl wipebr squeezeh squeezev zoomin fadefast fadeslow "
    "hlwind hrwind vuwind vdwind coverleft coverright coverup coverdown revealleft revealright revealup "
    "revealdown"
).split()
"""Every transition the bundled ffmpeg's ``xfade`` filter offers (``custom`` excluded). The schema lists
them for editors; ``validate`` checks the name so that it can suggest the nearest one."""


class Transition(_Model):
    """A transition between the two shots around it."""

    type: str = Field("fade", description="An ffmpeg xfade transition name (fade, dissolve, wipeleft, ...).",
                      json_schema_extra={"enum": list(XFADE_TRANSITIONS)})
    duration: float = Field(0.5, gt=0, le=10, description="Seconds; taken from both neighbouring shots.")


class TimelineEntry(_Model):
    """One timeline entry: either a shot reference or a transition."""

    shot: str | None = Field(None, description="Id of the shot to place.")
    transition: Transition | None = Field(None, description="A transition between the shots around it.")


class ProvenanceSpec(_Model):
    """C2PA policy: what clips must carry, and whether the output is signed."""

    require: Literal["trusted", "valid", "present", "off"] = Field(
        "valid", description="Lowest acceptable verdict for every clip before editing.")
    sign: bool = Field(True, description="Sign the output with every clip as an ingredient.")
    trust: list[str] = Field(default_factory=list, description="Extra PEM trust anchors, relative to the recipe.")

    _off = field_validator("require", mode="before")(classmethod(lambda cls, v: _yaml_off(v)))


class QCSpec(_Model):
    """Quality control of rendered clips."""

    policy: Literal["off", "warn", "fail", "rerender"] = Field("warn", description="What a failing clip does.")
    max_attempts: int = Field(2, ge=1, le=5, description="Renders per shot with policy rerender.")
    thresholds: dict[str, float] = Field(default_factory=dict, description="Override QC thresholds by name.")

    _off = field_validator("policy", mode="before")(classmethod(lambda cls, v: _yaml_off(v)))


class BudgetSpec(_Model):
    """Spending limit for hosted renders."""

    max_usd: float | None = Field(None, ge=0, description="Refuse to start a run whose estimate exceeds this.")


class CacheSpec(_Model):
    """Where rendered clips are cached."""

    dir: str = Field(".reelpipe/cache", description="Cache folder, relative to the recipe.")


class MusicSpec(_Model):
    """A music bed under the sequence."""

    path: str = Field(description="Audio file, relative to the recipe.")
    gain_db: float = Field(-12.0, description="Gain applied to the music.")
    fade_in: float = Field(0.0, ge=0, description="Seconds of fade in.")
    fade_out: float = Field(0.0, ge=0, description="Seconds of fade out at the end of the sequence.")
    duck_db: float = Field(0.0, le=0, description="Lower the music by this much under clip audio (0 = off).")


class AudioSpec(_Model):
    """Audio of the sequence."""

    music: MusicSpec | None = None
    loudness_lufs: float = Field(-14.0, ge=-40, le=-5,
                                 description="Integrated loudness target (EBU R128), true peak at most -1 dBTP.")
    normalize: bool = Field(True, description="Normalise loudness to loudness_lufs (silence is left alone).")


class ExportSpec(_Model):
    """Timeline files for traditional editors, relative to the recipe."""

    otio: str | None = None
    fcp_xml: str | None = None
    fcpx: str | None = None
    edl: str | None = None


class Recipe(_Model):
    """A reelpipe recipe, version 1."""

    version: Literal[1] = Field(description="Recipe format version; 1.")
    title: str | None = Field(None, description="Title of the sequence (report, manifest).")
    output: OutputSpec
    backend: BackendSpec = Field(default_factory=lambda: BackendSpec())
    cache: CacheSpec = Field(default_factory=lambda: CacheSpec())
    provenance: ProvenanceSpec = Field(default_factory=lambda: ProvenanceSpec())
    qc: QCSpec = Field(default_factory=lambda: QCSpec())
    budget: BudgetSpec = Field(default_factory=lambda: BudgetSpec())
    shots: list[Shot] = Field(min_length=1, description="The shots, in default timeline order.")
    timeline: list[TimelineEntry] | None = Field(None, description="Order and transitions; default: all shots, hard cuts.")
    overlays: list[Overlay] = Field(default_factory=list, description="Text, images and picture in picture.")
    audio: AudioSpec = Field(default_factory=lambda: AudioSpec())
    export: ExportSpec = Field(default_factory=lambda: ExportSpec())


def json_schema() -> dict[str, Any]:
    """The JSON Schema of recipe version 1 (for editor autocompletion)."""
    schema = Recipe.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://reelpipe.dev/schema/recipe-v1.json"
    return schema


# --------------------------------------------------------------------------------------------- loading

Loc = tuple[Union[str, int], ...]


@dataclass
class _Marks:
    """YAML line/column for every key and value in the document, by path."""

    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    duplicates: list[tuple[Loc, tuple[int, int]]] = field(default_factory=list)

    def find(self, loc: Loc) -> tuple[int, int] | None:
        """The best line for ``loc``: the key itself, else its value, else the nearest parent."""
        probe = tuple(loc)
        while True:
            if probe in self.keys:
                return self.keys[probe]
            if probe in self.values:
                return self.values[probe]
            if not probe:
                return None
            probe = probe[:-1]


def _collect_marks(node: yaml.Node, path: Loc, marks: _Marks) -> None:
    marks.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            child = (*path, key)
            mark = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in seen:
                marks.duplicates.append((child, mark))
            seen.add(key)
            marks.keys[child] = mark
            _collect_marks(value_node, child, marks)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _collect_marks(item, (*path, i), marks)


def _format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _model_fields_at(loc: Loc) -> list[str]:
    """Field names of the model that owns the last element of ``loc`` (for "did you mean")."""
    current: Any = Recipe
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        model = _as_model(current)
        if model is None or part not in model.model_fields:
            return []
        current = model.model_fields[part].annotation
    model = _as_model(current)
    return list(model.model_fields) if model else []


def _as_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found = _as_model(arg)
            if found is not None:
                return found
    return None


def _pydantic_problems(exc: ValidationError, file: str, marks: _Marks) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[Loc, str]] = set()
    for err in exc.errors():
        loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p in
                                                                                ("function-after",))))
        kind = err["type"]
        hint = None
        if kind == "extra_forbidden":
            key = str(loc[-1])
            options = _model_fields_at(loc)
            close = difflib.get_close_matches(key, options, n=1, cutoff=0.6)
            message = f"unknown key {key!r}"
            hint = f"did you mean {close[0]!r}?" if close else (
                f"allowed keys here: {', '.join(options)}" if options else None)
        elif kind == "missing":
            message = f"missing required key {str(loc[-1])!r}"
        else:
            message = err["msg"].removeprefix("Value error, ")
            secret = any(w in str(part).lower() for part in loc for w in ("key", "secret", "token", "password"))
            if not secret and "input" in err and kind not in ("model_type", "dict_type", "list_type") and not isinstance(
                    err["input"], (dict, list)):
                message += f" (got {err['input']!r})"
        dedupe = (loc, message)
        if dedupe in seen:
            continue
        seen.add(dedupe)
        where = marks.find(loc)
        problems.append(Problem(file=file, line=where[0] if where else None, column=where[1] if where else None,
                                path=_format_loc(loc), message=message, hint=hint))
    return problems


@dataclass(frozen=True)
class LoadedRecipe:
    """A validated recipe with its location, so paths can be resolved and problems located."""

    path: Path
    recipe: Recipe
    marks: _Marks

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        """Resolve a path written in the recipe (relative to the recipe file; ``~`` expanded)."""
        p = Path(os.path.expanduser(relative))
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    def problem(self, loc: Loc, message: str, hint: str | None = None) -> Problem:
        where = self.marks.find(loc)
        return Problem(file=str(self.path), line=where[0] if where else None,
                       column=where[1] if where else None, path=_format_loc(loc), message=message, hint=hint)


def _raw_reference_problems(data: dict[str, Any], file: str, marks: _Marks) -> list[Problem]:
    """Missing files and unknown shot references, read from the raw document when the schema check failed,
    so that they are reported in the same pass as the schema's problems."""
    problems: list[Problem] = []
    base = Path(file).resolve().parent

    def add(loc: Loc, message: str, hint: str | None = None) -> None:
        where = marks.find(loc)
        problems.append(Problem(file=file, line=where[0] if where else None, column=where[1] if where else None,
                                path=_format_loc(loc), message=message, hint=hint))

    raw_shots = data.get("shots")
    shots: list[Any] = raw_shots if isinstance(raw_shots, list) else []
    ids = {s["id"] for s in shots if isinstance(s, dict) and isinstance(s.get("id"), str)}
    for i, shot in enumerate(shots):
        if not isinstance(shot, dict):
            continue
        for key in ("image", "video", "depth"):
            value = shot.get(key)
            if isinstance(value, str) and value:
                path = Path(os.path.expanduser(value))
                path = path if path.is_absolute() else base / path
                if not path.is_file():
                    add(("shots", i, key), f"{key} not found: {path.resolve()}",
                        "check the path; it is relative to the recipe file")
    raw_timeline = data.get("timeline")
    timeline: list[Any] = raw_timeline if isinstance(raw_timeline, list) else []
    for j, entry in enumerate(timeline):
        if isinstance(entry, dict) and isinstance(entry.get("shot"), str) and ids and entry["shot"] not in ids:
            close = difflib.get_close_matches(entry["shot"], sorted(ids), n=1)
            add(("timeline", j, "shot"), f"timeline names unknown shot {entry['shot']!r}",
                f"did you mean {close[0]!r}?" if close else f"known shots: {', '.join(sorted(ids))}")
    return problems


def parse_recipe_text(text: str, file: str) -> tuple[Recipe, _Marks]:
    """Parse and schema-validate recipe YAML. Raises RecipeError with every problem found."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506 - SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        col = mark.column + 1 if mark is not None else None
        what = getattr(exc, "problem", None) or str(exc)
        raise RecipeError(f"{file} is not valid YAML", problems=[
            Problem(file=file, line=line, column=col, path="", message=str(what),
                    hint="check indentation and quoting around this line")]) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise RecipeError(f"{file} could not be read as text: {exc}", hint="save the recipe as UTF-8") from None
    marks = _Marks()
    if node is not None:
        _collect_marks(node, (), marks)
    if not isinstance(data, dict):
        raise RecipeError(f"{file} is not a recipe", problems=[
            Problem(file=file, line=1, column=1, path="",
                    message="a recipe is a YAML mapping with version:, output: and shots:",
                    hint="see recipes/demo.yaml for an example")])
    problems = [Problem(file=file, line=m[0], column=m[1], path=_format_loc(loc),
                        message=f"duplicate key {str(loc[-1])!r}", hint="remove one of them")
                for loc, m in marks.duplicates]
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        problems += _pydantic_problems(exc, file, marks)
        problems += _raw_reference_problems(data, file, marks)
        raise RecipeError(f"{file}: {len(problems)} problem(s) in the recipe", problems=problems) from None
    if problems:
        raise RecipeError(f"{file}: {len(problems)} problem(s) in the recipe", problems=problems)
    return recipe, marks


def load_recipe(path: str | Path, *, check_files: bool = True) -> LoadedRecipe:
    """Load, validate and cross-check a recipe file.

    Args:
        path: the recipe YAML.
        check_files: also check that referenced images and clips exist and are readable.

    Returns:
        The validated recipe with its location.

    Raises:
        RecipeError: every problem found, each with ``file:line``.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"{p}: no such recipe file", hint="check the path; see recipes/ for examples") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{p}: cannot read the recipe ({exc})", hint="save the recipe as UTF-8 text") from None
    recipe, marks = parse_recipe_text(text, str(p))
    loaded = LoadedRecipe(path=p.resolve(), recipe=recipe, marks=marks)
    from pipeline.validate import cross_check

    problems = cross_check(loaded, check_files=check_files)
    if problems:
        raise RecipeError(f"{p}: {len(problems)} problem(s) in the recipe", problems=problems)
    return loaded
