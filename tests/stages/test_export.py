"""The export stage, checked as an editor would: every written file read back with OpenTimelineIO, its cut
points, transitions and media compared with the rendered sequence to the frame."""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from pipeline.errors import ExportError
from pipeline.media.ffmpeg import run_ffmpeg
from pipeline.media.probe import count_frames, probe
from pipeline.plan import Plan, make_plan
from pipeline.runner import RunResult, run_recipe
from pipeline.stages.export import build_timeline, export_recipe, export_timeline, sequence_frames
from tests.conftest import SAMPLES

FPS = 30

RECIPE = """\
version: 1
title: Export test
output: {path: out/seq.mp4, size: 320x180, fps: 30}
provenance: {require: "off", sign: true}
shots:
  - {id: a, video: a.mp4, trim: {start: 0.5, end: 2.0}}
  - {id: b, image: {samples}/coffee.jpg, prompt: Slow push in., seconds: 2, mute: true}
  - {id: c, video: c.mp4, trim: {start: 0.1, end: 1.6}}
audio:
  music: {path: music.wav, gain_db: -10}
timeline:
  - shot: a
  - transition: {type: fade, duration: 0.5}
  - shot: b
  - transition: {type: wipeleft, duration: 0.2}
  - shot: c
"""
# frames: a 45 (from media frame 15), b 60, c 45 (from media frame 3); transitions 15 (odd) and 6 (even);
# the sequence is 45 + 60 + 45 - 15 - 6 = 129 frames.

QC = {
    "a": {"verdict": "warn", "findings": [
        {"metric": "flicker", "severity": "warn", "start_s": 0.7, "end_s": 0.9, "message": "flicker 3.1"},
        {"metric": "frozen", "severity": "warn", "start_s": 0.0, "end_s": 0.2, "message": "trimmed away"},
    ]},
    "b": {"verdict": "fail", "findings": [
        {"metric": "black", "severity": "fail", "start_s": 1.9, "end_s": 1.9, "message": "black frame"},
    ]},
}


def _lavfi(out: Path, *, video: bool, audio: bool, seconds: float) -> Path:
    args: list[str] = []
    if video:
        args += ["-f", "lavfi", "-i", f"testsrc2=size=320x180:rate={FPS}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=48000:duration={seconds}"]
    if video:
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-ac", "2"] + (["-c:a", "aac"] if video else [])
    run_ffmpeg([*args, str(out)], what="making test media")
    return out


@dataclass
class Project:
    recipe: Path
    result: RunResult

    @property
    def plan(self) -> Plan:
        return self.result.plan


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A three-shot recipe (two given clips, one rendered), run once for the whole module."""
    root = tmp_path_factory.mktemp("export")
    _lavfi(root / "a.mp4", video=True, audio=True, seconds=2)
    _lavfi(root / "c.mp4", video=True, audio=False, seconds=2)
    _lavfi(root / "music.wav", video=False, audio=True, seconds=3)
    recipe = root / "recipe.yaml"
    recipe.write_text(RECIPE.replace("{samples}", str(SAMPLES)), encoding="utf-8")
    with pytest.MonkeyPatch.context() as env:  # module scope: the autouse REELPIPE_HOME fixture is not active
        env.setenv("REELPIPE_HOME", str(root / "home"))
        return Project(recipe=recipe, result=run_recipe(recipe))


def _gray_frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray").astype(np.int16) for f in container.decode(video=0)]


def _clips(track: otio.schema.Track) -> list[otio.schema.Clip]:
    return [item for item in track if isinstance(item, otio.schema.Clip)]


def _transitions(track: otio.schema.Track) -> list[tuple[int, int]]:
    """(start frame, length) of every transition in the track."""
    out = []
    for index, item in enumerate(track):
        if isinstance(item, otio.schema.Transition):
            r = track.range_of_child_at_index(index)
            out.append((round(r.start_time.to_frames()), round(r.duration.to_frames())))
    return out


def _cut_list(track: otio.schema.Track) -> list[tuple[str, int, int, int]]:
    """(name, source start frame, duration, record start frame) of every clip."""
    return [(c.name, round(c.source_range.start_time.to_frames()), round(c.source_range.duration.to_frames()),
             round(track.range_of_child(c).start_time.to_frames())) for c in _clips(track)]


def _resolve(url: str, base: Path) -> Path:
    if url.startswith("file:"):
        return Path(otio.url_utils.filepath_from_url(url))
    return base / url


# --------------------------------------------------------------------------------------------- the cut

def test_timeline_matches_the_render_to_the_frame(project: Project) -> None:
    plan = project.plan
    timeline = build_timeline(plan)
    video = timeline.video_tracks()[0]
    total = count_frames(project.result.output)

    assert total == 129 == sequence_frames(plan) == round(plan.duration_s * FPS)
    assert probe(project.result.output).video.frames == total
    assert timeline.duration() == otio.opentime.RationalTime(total, FPS)
    # each clip shows exactly the media frames the render took from it, handles included
    rendered = {"a": (15, 45), "b": (0, 60), "c": (3, 45)}
    for clip in _clips(video):
        visible = clip.visible_range()
        assert (visible.start_time.to_frames(), visible.duration.to_frames()) == rendered[clip.name]
    # transitions span the frames xfade blends: the incoming clip's timeline_start, for the transition's length
    starts = [round(c.timeline_start * FPS) for c in plan.clips]
    assert _transitions(video) == [(starts[1], 15), (starts[2], 6)] == [(30, 15), (84, 6)]
    for item in video:
        if isinstance(item, otio.schema.Transition):
            assert item.transition_type == otio.schema.TransitionTypes.SMPTE_Dissolve
            # centred on the cut: T/2 each side (the odd frame after the cut)
            assert item.out_offset.value - item.in_offset.value in (0, 1)
    assert [t.metadata["reelpipe"]["xfade"] for t in video if isinstance(t, otio.schema.Transition)] == [
        "fade", "wipeleft"]
    assert _cut_list(video) == [("a", 15, 37, 0), ("b", 7, 50, 37), ("c", 6, 42, 87)]


def test_clip_bodies_show_the_media_frames_the_timeline_names(project: Project) -> None:
    """Decode the output: away from transitions, timeline frame f shows the media frame OTIO maps it to.

    Checked on the testsrc2 clips (a: trimmed, with a tail handle; c: trimmed, with a head handle), whose every
    frame differs; the rendered push-in eases out, so its last frames are too alike to tell apart.
    """
    timeline = build_timeline(project.plan)
    video = timeline.video_tracks()[0]
    output = _gray_frames(project.result.output)
    windows = _transitions(video)
    for clip in [c for c in _clips(video) if c.metadata["reelpipe"]["kind"] == "video"]:
        source = _gray_frames(Path(otio.url_utils.filepath_from_url(clip.media_reference.target_url)))
        placed = video.range_of_child(clip)
        first = round(placed.start_time.to_frames())
        body = [f for f in range(first, first + round(placed.duration.to_frames()))
                if not any(s <= f < s + n for s, n in windows)]
        assert len(body) >= 20
        for f in (body[0], body[len(body) // 2], body[-1]):
            media_frame = round(clip.source_range.start_time.to_frames()) + (f - first)
            errors = [float(np.abs(output[f] - frame).mean()) for frame in source]
            assert int(np.argmin(errors)) == media_frame, (clip.name, f)


def test_audio_and_music_tracks(project: Project) -> None:
    timeline = build_timeline(project.plan)
    clip_audio, music = timeline.audio_tracks()
    assert clip_audio.duration() == timeline.duration()
    kinds = [type(item).__name__ for item in clip_audio]
    # c has no audio: a gap, and no crossfade into it; b is muted: present but disabled
    assert kinds == ["Clip", "Transition", "Clip", "Gap"]
    a, b = _clips(clip_audio)
    assert a.enabled and not b.enabled
    assert _cut_list(clip_audio) == _cut_list(timeline.video_tracks()[0])[:2]
    [bed] = _clips(music)
    assert bed.name == "music" and bed.metadata["reelpipe"]["gain_db"] == -10
    assert bed.source_range.duration.to_frames() == 90  # the 3 s file, shorter than the sequence
    assert Path(otio.url_utils.filepath_from_url(bed.media_reference.target_url)).name == "music.wav"


def test_metadata_carries_prompt_and_provenance(project: Project) -> None:
    provenance = project.result.shot_provenance  # the run's own verdicts: b is signed by reelpipe, a is not
    assert provenance["a"]["state"] == "missing" and provenance["b"]["state"] in ("valid", "trusted")
    timeline = build_timeline(project.plan, qc=QC, provenance={k: provenance[k] for k in ("a", "b")})
    a, b, c = _clips(timeline.video_tracks()[0])
    assert b.metadata["reelpipe"]["prompt"] == "Slow push in."
    assert b.metadata["reelpipe"]["provenance_verdict"] == provenance["b"]["state"]
    assert b.metadata["reelpipe"]["provenance"]["signer"] == provenance["b"]["signer"]
    assert b.metadata["reelpipe"]["qc_verdict"] == "fail"
    assert a.metadata["reelpipe"]["kind"] == "video" and a.metadata["reelpipe"]["prompt"] is None
    assert a.metadata["reelpipe"]["provenance_verdict"] == "missing"
    assert c.metadata["reelpipe"]["provenance"] is None
    assert timeline.metadata["reelpipe"]["frames"] == 129
    for clip in (a, b, c):
        assert Path(otio.url_utils.filepath_from_url(clip.media_reference.target_url)).is_file()


def test_qc_markers_land_at_the_findings(project: Project) -> None:
    timeline = build_timeline(project.plan, qc=QC)
    video = timeline.video_tracks()[0]
    a, b, _ = _clips(video)

    def on_timeline(clip: otio.schema.Clip, marker: otio.schema.Marker) -> tuple[int, int]:
        r = clip.transformed_time_range(marker.marked_range, video)
        return round(r.start_time.to_frames()), round(r.duration.to_frames())

    # a: flicker at 0.7-0.9 s of the clip; the clip starts at 0.5 s at timeline 0 -> frames 6..12
    [flicker] = a.markers
    assert flicker.name == "QC warn: flicker" and flicker.comment == "flicker 3.1"
    assert flicker.color == otio.schema.MarkerColor.YELLOW
    assert on_timeline(a, flicker) == (round((0.7 - 0.5) * FPS), 6)
    # the finding in trimmed-away frames is no marker, but stays in the clip's metadata
    assert [f["metric"] for f in a.metadata["reelpipe"]["qc"]["findings"]] == ["flicker", "frozen"]
    # b: a black frame at 1.9 s, in the frames the wipe into c blends: timeline 30 + 57
    [black] = b.markers
    assert black.color == otio.schema.MarkerColor.RED
    b_start = round(project.plan.clips[1].timeline_start * FPS)
    assert on_timeline(b, black) == (b_start + 57, 0)
    assert b_start + 57 >= _transitions(video)[1][0]


# ----------------------------------------------------------------------------------- files, read back

def test_every_format_reads_back_with_the_same_cut(project: Project, tmp_path: Path) -> None:
    provenance = project.result.shot_provenance
    written = export_timeline(project.plan, otio=tmp_path / "t.otio", fcp_xml=tmp_path / "t.xml",
                              fcpx=tmp_path / "t.fcpxml", edl=tmp_path / "t.edl", qc=QC, provenance=provenance)
    assert set(written) == {"otio", "fcp_xml", "fcpx", "edl"}
    expected = build_timeline(project.plan, qc=QC, provenance=provenance)
    want_video = expected.video_tracks()[0]
    total = otio.opentime.RationalTime(129, FPS)

    # .otio: everything, metadata included
    tl = otio.adapters.read_from_file(str(written["otio"]))
    assert tl.duration() == total
    assert _cut_list(tl.video_tracks()[0]) == _cut_list(want_video)
    assert _transitions(tl.video_tracks()[0]) == _transitions(want_video)
    assert tl.video_tracks()[0][2].metadata["reelpipe"]["prompt"] == "Slow push in."
    assert [len(t) for t in tl.tracks] == [len(t) for t in expected.tracks]

    # FCP 7 XML: cuts, dissolves, audio tracks, markers; media paths resolve
    tl = otio.adapters.read_from_file(str(written["fcp_xml"]))
    assert tl.duration() == total
    assert _cut_list(tl.video_tracks()[0]) == _cut_list(want_video)
    assert _transitions(tl.video_tracks()[0]) == _transitions(want_video)
    assert len(tl.audio_tracks()) == 2
    # the adapter has no "disabled": muted b is left out of the clip audio rather than played
    assert _cut_list(tl.audio_tracks()[0]) == _cut_list(want_video)[:1]
    assert [m.name for m in _clips(tl.video_tracks()[0])[0].markers] == ["QC warn: flicker"]
    text = written["fcp_xml"].read_text(encoding="utf-8")
    assert "<description>Slow push in.</description>" in text
    assert f"<lognote>provenance: {provenance['b']['state']}; qc: fail</lognote>" in text

    # FCPX XML: the same cut points (the centre of each transition), but no transitions
    tl = otio.adapters.read_from_file(str(written["fcpx"]))
    assert tl.duration() == total
    assert _cut_list(tl.video_tracks()[0]) == _cut_list(want_video)
    assert _transitions(tl.video_tracks()[0]) == []

    for tl in (otio.adapters.read_from_file(str(written[k])) for k in ("otio", "fcp_xml", "fcpx")):
        for clip in tl.find_clips():
            assert _resolve(clip.media_reference.target_url, tmp_path).is_file()


def test_edl_events_match_the_timeline(project: Project, tmp_path: Path) -> None:
    edl = export_timeline(project.plan, edl=tmp_path / "t.edl")["edl"]
    text = edl.read_text(encoding="utf-8")
    assert text.startswith("TITLE: Export test")
    assert " D 015 " in text and " D 006 " in text
    assert {"A", "B", "C"} <= {line.split()[1] for line in text.splitlines() if line[:3].isdigit()}

    want = build_timeline(project.plan).video_tracks()[0]
    read_back = otio.adapters.read_from_file(str(edl), rate=FPS)  # keep it: its tracks die with it
    track = read_back.video_tracks()[0]
    assert track.duration() == otio.opentime.RationalTime(129, FPS)
    # an EDL dissolve starts at its record in: the same frames as the timeline's transitions
    assert _transitions(track) == _transitions(want)
    want_clips = {c.name: c for c in _clips(want)}
    covered = 0
    for clip in _clips(track):
        placed = track.range_of_child(clip)
        rec_in = round(placed.start_time.to_frames())
        assert rec_in == covered  # events tile the record side
        covered += round(placed.duration.to_frames())
        # the media frame at every record frame is the one the timeline shows there
        ours = want_clips[clip.name]
        ours_in = round(want.range_of_child(ours).start_time.to_frames())
        assert round(clip.source_range.start_time.to_frames()) == (
            round(ours.source_range.start_time.to_frames()) + rec_in - ours_in)
    assert covered == 129
    # without rate= the adapter assumes 24 fps: frame numbers past 23 are refused, or every timecode reads wrong
    try:
        misread = otio.adapters.read_from_file(str(edl))
    except ValueError as exc:
        assert "beyond 23" in str(exc)
    else:
        assert misread.duration() != otio.opentime.RationalTime(129, FPS)


def test_consolidated_folder_survives_a_move(project: Project, tmp_path: Path) -> None:
    outside = tmp_path / "outside.otio"
    written = export_timeline(project.plan, consolidate=tmp_path / "pkg", otio=outside)
    folder = written["consolidated"]
    assert sorted(p.name for p in (folder / "media").iterdir()) == ["a.mp4", "b.mp4", "c.mp4", "music.wav"]
    for clip in project.plan.clips:
        copied = folder / "media" / f"{clip.shot_id}.mp4"
        assert hashlib.sha256(copied.read_bytes()).digest() == hashlib.sha256(clip.clip_path.read_bytes()).digest()
    # a timeline file outside the folder refers to the consolidated copies by absolute URL
    outside_timeline = otio.adapters.read_from_file(str(outside))
    assert len(outside_timeline.find_clips()) == 6  # 3 shots, the audio of a and b, the music
    for clip in outside_timeline.find_clips():
        assert _resolve(clip.media_reference.target_url, tmp_path).parent == folder / "media"

    moved = tmp_path / "elsewhere" / "project"
    moved.parent.mkdir()
    shutil.move(str(folder), str(moved))
    files = sorted(p.name for p in moved.iterdir() if p.is_file())
    assert files == ["recipe.edl", "recipe.fcpxml", "recipe.otio", "recipe.xml"]
    for name in files:
        kwargs = {"rate": FPS} if name.endswith(".edl") else {}
        tl = otio.adapters.read_from_file(str(moved / name), **kwargs)
        assert tl.duration() == otio.opentime.RationalTime(129, FPS), name
        clips = list(tl.find_clips())
        assert len(clips) >= 3
        for clip in clips:
            url = clip.media_reference.target_url
            assert not url.startswith("file:") and not os.path.isabs(url), (name, url)
            assert (moved / url).is_file(), (name, url)


def test_mezzanine_transcodes_to_prores_once(project: Project, tmp_path: Path) -> None:
    written = export_timeline(project.plan, consolidate=tmp_path / "pkg", mezzanine=True)
    media = written["consolidated"] / "media"
    assert sorted(p.name for p in media.iterdir()) == ["a.mov", "b.mov", "c.mov", "music.wav"]
    for clip in project.plan.clips:
        info = probe(media / f"{clip.shot_id}.mov")
        assert info.video is not None and info.video.codec == "prores"
        assert info.video.frames == probe(clip.clip_path).video.frames
        assert (info.audio is None) == (probe(clip.clip_path).audio is None)
    tl = otio.adapters.read_from_file(str(written["consolidated_otio"]))
    assert {Path(c.media_reference.target_url).suffix for c in tl.video_tracks()[0].find_clips()} == {".mov"}
    # exporting again reuses the ProRes files reelpipe made (they are unchanged), and rewrites the timelines
    stamp = (media / "b.mov").stat().st_mtime_ns
    export_timeline(project.plan, consolidate=tmp_path / "pkg", mezzanine=True)
    assert (media / "b.mov").stat().st_mtime_ns == stamp


def test_export_recipe_writes_the_export_block(project: Project, tmp_path: Path) -> None:
    text = project.recipe.read_text(encoding="utf-8") + "export: {otio: out/block.otio, edl: out/block.edl}\n"
    recipe = project.recipe.with_name("with-export.yaml")
    recipe.write_text(text, encoding="utf-8")
    written = export_recipe(make_plan(recipe))
    assert written == {"otio": recipe.parent / "out" / "block.otio", "edl": recipe.parent / "out" / "block.edl"}
    assert all(p.is_file() for p in written.values())
    assert export_recipe(project.plan) == {}


# ------------------------------------------------------------------------------------------ refusals

def test_never_overwrites_a_file_reelpipe_did_not_write(project: Project, tmp_path: Path) -> None:
    mine = tmp_path / "mine.otio"
    mine.write_text("the user's own work\n", encoding="utf-8")
    with pytest.raises(ExportError) as err:
        export_timeline(project.plan, otio=mine, edl=tmp_path / "new.edl")
    assert str(mine) in err.value.message and "--force" in (err.value.hint or "")
    assert mine.read_text(encoding="utf-8") == "the user's own work\n"
    assert not (tmp_path / "new.edl").exists()  # nothing at all was written

    export_timeline(project.plan, otio=mine, force=True)
    assert otio.adapters.read_from_file(str(mine)).duration().to_frames() == 129
    export_timeline(project.plan, otio=mine)  # reelpipe's own, unchanged file: replaced without --force
    # a timeline re-saved by someone else is theirs again
    mine.write_text(mine.read_text(encoding="utf-8").replace("Export test", "Edited"), encoding="utf-8")
    with pytest.raises(ExportError):
        export_timeline(project.plan, otio=mine)

    with pytest.raises(ExportError, match="recipe's own files"):
        export_timeline(project.plan, otio=project.result.output, force=True)
    with pytest.raises(ExportError, match="both be written"):
        export_timeline(project.plan, otio=tmp_path / "x", edl=tmp_path / "x")
    with pytest.raises(ExportError, match="consolidate"):
        export_timeline(project.plan, otio=tmp_path / "y.otio", mezzanine=True)
    with pytest.raises(ExportError, match="nothing to export"):
        export_timeline(project.plan)


def test_clips_not_rendered_yet_are_named(write_recipe, tmp_path: Path) -> None:
    recipe = write_recipe(textwrap.dedent("""\
        version: 1
        output: {path: out/seq.mp4, size: 320x180, fps: 30}
        shots:
          - {id: first, image: {samples}/coffee.jpg, prompt: Push in., seconds: 1}
          - {id: second, image: {samples}/chelsea.jpg, prompt: Pan right., seconds: 1}
        """))
    plan = make_plan(recipe)
    with pytest.raises(ExportError) as err:
        export_timeline(plan, otio=tmp_path / "x.otio")
    assert "first, second" in err.value.message and "reelpipe run" in (err.value.hint or "")
    with pytest.raises(ExportError):
        build_timeline(plan)
    assert not (tmp_path / "x.otio").exists()


def test_adapter_failures_become_export_errors(project: Project, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    real = otio.adapters.write_to_string

    def broken(timeline: otio.schema.Timeline, adapter_name: str, **kwargs: object) -> str:
        if adapter_name == "fcp_xml":
            raise otio.exceptions.NotSupportedError("no can do")
        return real(timeline, adapter_name, **kwargs)

    monkeypatch.setattr(otio.adapters, "write_to_string", broken)
    with pytest.raises(ExportError, match="FCP 7 XML.*no can do") as err:
        export_timeline(project.plan, otio=tmp_path / "a.otio", fcp_xml=tmp_path / "a.xml")
    assert isinstance(err.value.__cause__, otio.exceptions.NotSupportedError)
    assert not (tmp_path / "a.otio").exists()

    monkeypatch.setattr(otio.adapters, "available_adapter_names", lambda: ["otio_json"])
    with pytest.raises(ExportError) as err:
        export_timeline(project.plan, edl=tmp_path / "a.edl")
    assert "pip install otio-cmx3600-adapter" in (err.value.hint or "")


def test_overlapping_transitions_are_refused(project: Project) -> None:
    plan = copy.copy(project.plan)
    a, b, c = plan.clips
    plan.clips = [a, replace(b, transition_in=("fade", 1.4)), replace(c, transition_in=("fade", 1.4))]
    with pytest.raises(ExportError, match="'b'.*too short"):
        build_timeline(plan)


# ------------------------------------------------------------------------------------------- speed

def test_speed_changes_keep_the_timeline_exact(make_clip, write_recipe, tmp_path: Path) -> None:
    make_clip("one.mp4", seconds=2)
    make_clip("two.mp4", seconds=2)
    recipe = write_recipe("""\
        version: 1
        output: {path: out/fast.mp4, size: 320x180, fps: 30}
        provenance: {require: "off", sign: false}
        shots:
          - {id: one, video: one.mp4}
          - {id: two, video: two.mp4, speed: 2.0}
        timeline:
          - shot: one
          - transition: {type: fade, duration: 0.3}
          - shot: two
        """)
    result = run_recipe(recipe)
    timeline = build_timeline(result.plan)
    video = timeline.video_tracks()[0]
    assert timeline.duration().to_frames() == count_frames(result.output) == 60 + 30 - 9
    one, two = _clips(video)
    assert [fx.time_scalar for fx in two.effects] == [2.0] and not one.effects
    # the head handle (4 timeline frames) is 8 media frames at 2x: the cut is at media frame 8
    assert two.source_range.start_time.to_frames() == 8
    # decoded: a body frame of "two" shows media frame cut + 2 * (frames since the cut)
    output = _gray_frames(result.output)
    source = _gray_frames(tmp_path / "two.mp4")
    first = round(video.range_of_child(two).start_time.to_frames())
    for f in (first + 10, first + 20):
        errors = [float(np.abs(output[f] - frame).mean()) for frame in source]
        assert int(np.argmin(errors)) == 8 + 2 * (f - first)


def test_overlays_get_their_own_tracks_in_otio_only(write_recipe, tmp_path):
    """Titles, logos and picture in picture sit on V2, V3, ... in .otio, where they are in the render."""
    import opentimelineio as otio

    from pipeline.plan import make_plan
    from pipeline.runner import run_recipe
    from pipeline.stages.export import export_timeline

    recipe = write_recipe("""\
    version: 1
    output: {path: out/seq.mp4, size: 320x180, fps: 30}
    provenance: {require: off, sign: false}
    qc: {policy: off}
    shots:
      - {id: a, image: {samples}/coffee.jpg, prompt: Slow push in., seconds: 2}
      - {id: b, image: {samples}/chelsea.jpg, prompt: Pan left., seconds: 2}
    overlays:
      - {text: "Hello", start: 0.5, duration: 1}
      - {image: {samples}/logo.png, position: top-right, scale: 0.2}
      - {pip: b, start: 1, duration: 1, clip_start: 0.5}
    """)
    run_recipe(recipe)
    plan = make_plan(recipe)
    written = export_timeline(plan, otio=tmp_path / "t.otio", fcp_xml=tmp_path / "t.xml",
                              consolidate=tmp_path / "folder")
    timeline = otio.adapters.read_from_file(str(written["otio"]))
    tracks = {t.name: t for t in timeline.video_tracks()}
    assert set(tracks) == {"V1", "V2", "V3", "V4"}
    title, logo, pip = (next(iter(tracks[n].find_clips())) for n in ("V2", "V3", "V4"))
    assert title.media_reference.parameters["text"] == "Hello"
    assert title.range_in_parent().start_time.to_frames() == 15 and title.duration().to_frames() == 30
    assert logo.media_reference.target_url.endswith("logo.png")
    assert logo.range_in_parent().start_time.to_frames() == 0 and logo.duration().to_frames() == 120
    assert pip.source_range.start_time.to_frames() == 15 and pip.range_in_parent().start_time.to_frames() == 30
    fcp = otio.adapters.read_from_file(str(written["fcp_xml"]))
    assert len(fcp.video_tracks()) == 1  # the XML targets get the cut alone
    consolidated = otio.adapters.read_from_file(str(written["consolidated_otio"]))
    urls = [c.media_reference.target_url for c in consolidated.find_clips()
            if isinstance(c.media_reference, otio.schema.ExternalReference)]
    assert any(u.endswith("logo.png") for u in urls) and all(not u.startswith("file:") for u in urls)
