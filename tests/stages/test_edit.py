"""The edit stage, probed as a user would: frames, durations, streams, stream-copied packets."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import MediaError
from pipeline.media.probe import count_frames, probe, video_packets
from pipeline.stages.edit import EditClip, EditSpec, edit_sequence


def spec(clips: list[EditClip], out: Path, **kw) -> EditSpec:
    return EditSpec(clips=clips, output=out, width=320, height=180, fps=30, **kw)


def test_trim_is_frame_accurate(make_clip, tmp_path):
    clip = make_clip(seconds=4)
    out = tmp_path / "trim.mp4"
    result = edit_sequence(spec([EditClip(clip, 0.5, 3.0)], out))
    assert result.frames == 75
    assert count_frames(out) == 75
    info = probe(out)
    assert abs(info.video.duration - 2.5) < 1 / 30
    assert abs(info.audio.duration - 2.5) < 0.03


def test_trim_keeps_the_right_frames(tmp_path, make_clip):
    """The first frame after a 0.5 s trim is source frame 15: compare against a decode of the source."""
    import av
    import numpy as np

    clip = make_clip(seconds=2)
    out = tmp_path / "t.mp4"
    edit_sequence(spec([EditClip(clip, 0.5, 1.5)], out))
    with av.open(str(clip)) as c:
        src = [f.to_ndarray(format="gray") for f in c.decode(video=0)]
    with av.open(str(out)) as c:
        first = next(iter(c.decode(video=0))).to_ndarray(format="gray")
    errors = [float(np.abs(first.astype(int) - s.astype(int)).mean()) for s in src]
    assert int(np.argmin(errors)) == 15


def test_fades_total_duration_to_the_frame(make_clip, tmp_path):
    a, b, c = (make_clip(f"{n}.mp4", seconds=3) for n in "abc")
    out = tmp_path / "fades.mp4"
    clips = [EditClip(a, 0.0, 3.0), EditClip(b, 0.5, 3.0, transition_in=("fade", 0.5)),
             EditClip(c, 0.0, 2.0, transition_in=("wipeleft", 1.0))]
    result = edit_sequence(spec(clips, out))
    expected = 3.0 + 2.5 + 2.0 - 0.5 - 1.0
    assert result.mode == "segments"
    assert count_frames(out) == round(expected * 30)
    info = probe(out)
    assert abs(info.video.duration - expected) < 1 / 30
    assert abs(info.audio.duration - expected) < 0.03
    assert info.audio.sample_rate == 48000 and info.audio.channels == 2


def test_stream_copy_leaves_video_packets_identical(tmp_path):
    from pipeline.backends.local import render_local_clip

    root = Path(__file__).resolve().parents[2] / "samples"
    clips = []
    for name, image in (("a", "coffee.jpg"), ("b", "chelsea.jpg")):
        path = tmp_path / f"{name}.mp4"
        render_local_clip(root / image, path, seconds=1.0, width=320, height=180, fps=30, camera="push_in")
        clips.append(path)
    out = tmp_path / "copy.mp4"
    result = edit_sequence(spec([EditClip(p, 0.0, 1.0) for p in clips], out))
    assert result.mode == "copy" and result.reencoded_segments == 0
    assert video_packets(out) == video_packets(clips[0]) + video_packets(clips[1])
    info = probe(out)
    # audio is rebuilt in one pass, so it ends with the video (no AAC priming build-up)
    assert abs(info.audio.duration - 2.0) < 0.03


def test_mismatched_clips_are_conformed(make_clip, tmp_path):
    big = make_clip("big.mp4", seconds=1, size="640x480", fps=25)  # 4:3 at 25 fps
    silent = make_clip("silent.mp4", seconds=1, size="320x180", fps=30, audio=False)
    out = tmp_path / "conform.mp4"
    result = edit_sequence(spec([EditClip(big, 0, 1), EditClip(silent, 0, 1)], out))
    info = probe(out)
    assert result.mode == "segments"
    assert (info.video.width, info.video.height, info.video.fps) == (320, 180, 30)
    assert count_frames(out) == 60
    assert info.audio is not None and abs(info.audio.duration - 2.0) < 0.03


def test_head_and_tail_fade_from_black(make_clip, tmp_path):
    import av
    import numpy as np

    clip = make_clip(seconds=2)
    out = tmp_path / "fade.mp4"
    edit_sequence(spec([EditClip(clip, 0, 2)], out, fade_in=0.5, fade_out=0.5))
    with av.open(str(out)) as c:
        means = [float(f.to_ndarray(format="gray").mean()) for f in c.decode(video=0)]
    assert means[0] < 20 and means[-1] < 20  # black at head and tail
    assert means[30] > 60  # full picture in the middle


def test_corrupt_clip_fails_clearly_and_writes_nothing(tmp_path, make_clip):
    good = make_clip(seconds=1)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(good.read_bytes()[:2000])
    out = tmp_path / "never.mp4"
    with pytest.raises(MediaError) as info:
        edit_sequence(spec([EditClip(good, 0, 1), EditClip(bad, 0, 1)], out))
    assert "bad.mp4" in str(info.value)
    assert not out.exists()
    assert not any(p.name.startswith(".never") for p in tmp_path.iterdir())
