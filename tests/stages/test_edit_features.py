"""Editing features probed as a user would: overlays by pixels, loudness by EBU R128, sync, smart cut."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.backends.local import render_local_clip
from pipeline.media.encode import EncodeSettings
from pipeline.media.ffmpeg import ffmpeg_exe, run_ffmpeg
from pipeline.media.probe import count_frames, probe
from pipeline.stages.edit import EditClip, EditOverlay, EditSpec, MusicBed, edit_sequence, measure_loudness

REPO = Path(__file__).resolve().parents[2]
W, H, FPS = 320, 180, 30


def gray_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="gray").astype(np.int16) for f in c.decode(video=0)]


def black_clip(tmp_path: Path, name: str = "black.mp4", seconds: float = 3.0) -> Path:
    out = tmp_path / name
    run_ffmpeg(["-f", "lavfi", "-i", f"color=black:s={W}x{H}:r={FPS}:d={seconds}", "-f", "lavfi", "-i",
                f"anullsrc=r=48000:cl=stereo", "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast",
                "-pix_fmt", "yuv420p", "-c:a", "aac", str(out)], what="black clip")
    return out


def our_clip(tmp_path: Path, name: str, seconds: float) -> Path:
    """A testsrc2 clip (every frame distinct) encoded exactly as reelpipe encodes, so it can be stream-copied."""
    from pipeline.media.encode import audio_args, video_args

    out = tmp_path / name
    run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r={FPS}:d={seconds}", "-f", "lavfi", "-i",
                f"sine=f=440:d={seconds}:sample_rate=48000", *video_args(EncodeSettings(), FPS),
                *audio_args(EncodeSettings()), "-t", str(seconds), str(out)], what="test clip")
    return out


def local_clip(tmp_path: Path, name: str, image: str, seconds: float, camera: str = "push_in") -> Path:
    out = tmp_path / name
    render_local_clip(REPO / "samples" / image, out, seconds=seconds, width=W, height=H, fps=FPS, camera=camera)
    return out


def test_title_appears_in_its_region_and_frames_only(tmp_path):
    clip = black_clip(tmp_path)
    out = tmp_path / "title.mp4"
    title = EditOverlay(kind="text", start=1.0, end=2.0, text="TITLE", size=40, color="white",
                        position="bottom-left", margin=10)
    edit_sequence(EditSpec([EditClip(clip, 0, 3)], out, W, H, FPS, overlays=[title], loudness_lufs=None))
    frames = gray_frames(out)
    assert len(frames) == 90
    region = (slice(H - 70, H), slice(0, W // 2))  # bottom-left
    other = (slice(0, H // 2), slice(W // 2, W))  # top-right
    lit = [float((f[region] > 128).mean()) for f in frames]
    assert all(v == 0 for v in lit[:29]) and all(v == 0 for v in lit[61:])  # absent outside 1.0–2.0 s
    assert all(v > 0.02 for v in lit[31:59])  # present inside it
    assert all(float((f[other] > 128).mean()) == 0 for f in frames)  # and only where it was put


def test_logo_opacity(tmp_path):
    clip = black_clip(tmp_path)
    logo = tmp_path / "white.png"
    import cv2

    cv2.imwrite(str(logo), np.full((40, 80, 3), 255, np.uint8))
    out = tmp_path / "logo.mp4"
    ov = EditOverlay(kind="image", start=0, end=3, image=logo, opacity=0.5, position="top-right", margin=20)
    edit_sequence(EditSpec([EditClip(clip, 0, 3)], out, W, H, FPS, overlays=[ov], loudness_lufs=None))
    f = gray_frames(out)[45]
    inside = float(f[30:50, W - 90:W - 30].mean())
    assert abs(inside - 255 * 0.5) < 12, inside  # half-transparent white over black
    assert float(f[100:, :100].mean()) < 20


def test_hostile_text_renders_literally_and_cannot_alter_the_graph(tmp_path):
    clip = black_clip(tmp_path)
    odd_dir = tmp_path / "we'ird:[font],dir;x"
    odd_dir.mkdir()
    font = odd_dir / "font.ttf"
    shutil.copy(REPO / "samples" / "fonts" / "DejaVuSans.ttf", font)
    hostile = "It's 10:30 \\ [out]; drawbox=c=red:t=fill, null\nline 2 ' \" ] ["
    out = tmp_path / "hostile.mp4"
    ov = EditOverlay(kind="text", start=0, end=3, text=hostile, font=font, size=14, position="top-left")
    edit_sequence(EditSpec([EditClip(clip, 0, 3)], out, W, H, FPS, overlays=[ov], loudness_lufs=None))
    frames = gray_frames(out)
    assert len(frames) == 90
    assert float((frames[40][:60] > 128).mean()) > 0.01  # the text was drawn
    # no injected red drawbox: the frame stays grey text on black
    with av.open(str(out)) as c:
        rgb = next(iter(c.decode(video=0))).to_ndarray(format="rgb24").astype(int)
    assert float(np.abs(rgb[..., 0] - rgb[..., 1]).mean()) < 3


def test_text_expansions_stay_literal(tmp_path):
    """drawtext would expand %{pts} into a changing number; ours must draw the same characters every frame."""
    clip = black_clip(tmp_path)
    box = (slice(50, 130), slice(40, 280))

    def change(path: Path) -> float:
        f = gray_frames(path)
        return max(float(np.abs(f[10][box] - g[box]).mean()) for g in f[20:80:10])

    ours = tmp_path / "ours.mp4"
    ov = EditOverlay(kind="text", start=0, end=3, text="%{pts}", size=60, position="center")
    edit_sequence(EditSpec([EditClip(clip, 0, 3)], ours, W, H, FPS, overlays=[ov], loudness_lufs=None))
    expanded = tmp_path / "expanded.mp4"  # what an unescaped text= would do
    font = str(REPO / "samples" / "fonts" / "DejaVuSans.ttf")
    run_ffmpeg(["-i", str(clip), "-vf", f"drawtext=fontfile={font}:text=%{{pts}}:fontsize=60:fontcolor=white:"
                "x=(w-text_w)/2:y=(h-text_h)/2", "-c:v", "libx264", "-preset", "ultrafast", str(expanded)],
               what="expanded")
    assert change(expanded) > 3 * change(ours) + 0.5, (change(expanded), change(ours))


def test_loudness_normalised_to_target(tmp_path):
    clip = black_clip(tmp_path, seconds=4)
    music = tmp_path / "music.wav"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=330:sample_rate=44100:duration=6", "-af", "volume=-20dB",
                str(music)], what="music")
    out = tmp_path / "loud.mp4"
    result = edit_sequence(EditSpec([EditClip(clip, 0, 4)], out, W, H, FPS, loudness_lufs=-16.0,
                                    music=MusicBed(music, gain_db=0, fade_in=0.5, fade_out=0.5)))
    lufs, peak = measure_loudness(out)
    assert lufs is not None and abs(lufs + 16.0) <= 1.0
    assert result.loudness_lufs is not None and abs(result.loudness_lufs - lufs) < 0.2
    assert peak is not None and peak <= -1.0 + 0.5
    assert probe(out).audio.sample_rate == 48000


def test_music_ducks_under_clip_audio(tmp_path):
    speech = tmp_path / "speech.mp4"  # 1 kHz tone from 1 s to 2 s, silence elsewhere
    run_ffmpeg(["-f", "lavfi", "-i", f"color=black:s={W}x{H}:r={FPS}:d=3", "-f", "lavfi", "-i",
                "aevalsrc='if(between(t,1,2),0.5*sin(2*PI*1000*t),0)':s=48000:d=3", "-c:v", "libx264",
                "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", str(speech)], what="speech")
    music = tmp_path / "music.wav"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=200:sample_rate=48000:duration=4", str(music)], what="music")
    out = tmp_path / "duck.wav"
    edited = tmp_path / "duck.mp4"
    edit_sequence(EditSpec([EditClip(speech, 0, 3)], edited, W, H, FPS, loudness_lufs=None,
                           music=MusicBed(music, gain_db=-6, duck_db=-20)))
    # isolate the music band (200 Hz) and compare its level with and without the speech tone
    run_ffmpeg(["-i", str(edited), "-af", "lowpass=f=400,lowpass=f=400", "-ac", "1", "-ar", "48000", str(out)],
               what="band")
    import wave

    with wave.open(str(out)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(float)
    rms = lambda a, b: float(np.sqrt(np.mean(pcm[int(a * 48000):int(b * 48000)] ** 2)))  # noqa: E731
    assert 20 * np.log10(rms(0.2, 0.9) / rms(1.3, 1.9)) > 3  # the music drops by more than 3 dB under speech


def test_speed_change_keeps_audio_in_sync(tmp_path):
    src = tmp_path / "sync.mp4"  # a white flash and a beep, both at 2.0–2.1 s
    run_ffmpeg(["-f", "lavfi", "-i", f"color=black:s={W}x{H}:r={FPS}:d=4,drawbox=c=white:t=fill:"
                "enable='between(t,2,2.1)'", "-f", "lavfi", "-i",
                "aevalsrc='if(between(t,2,2.1),0.8*sin(2*PI*1000*t),0)':s=48000:d=4", "-c:v", "libx264",
                "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", str(src)], what="sync")
    for speed in (2.0, 0.5):
        out = tmp_path / f"speed{speed}.mp4"
        edit_sequence(EditSpec([EditClip(src, 0, 4, speed=speed)], out, W, H, FPS, loudness_lufs=None))
        frames = gray_frames(out)
        assert len(frames) == round(4 / speed * FPS)
        flash = next(i for i, f in enumerate(frames) if f.mean() > 128) / FPS
        wav = tmp_path / f"speed{speed}.wav"
        run_ffmpeg(["-i", str(out), "-ac", "1", "-c:a", "pcm_s16le", str(wav)], what="wav")
        import wave

        with wave.open(str(wav)) as w:
            pcm = np.abs(np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(float))
        beep = int(np.argmax(pcm > 0.2 * pcm.max())) / 48000
        assert abs(flash - 2.0 / speed) <= 1.5 / FPS
        assert abs(beep - flash) <= 1.5 / FPS, (speed, flash, beep)


def test_smart_cut_at_non_keyframe_decodes_cleanly_without_dup_or_drop(tmp_path):
    a = our_clip(tmp_path, "a.mp4", 5)
    b = our_clip(tmp_path, "b.mp4", 5)
    out = tmp_path / "smart.mp4"
    clips = [EditClip(a, 0.5, 4.7), EditClip(b, 0.3, 5.0)]  # cuts off keyframes at both ends
    result = edit_sequence(EditSpec(clips, out, W, H, FPS, loudness_lufs=None))
    assert result.copied_frames >= 60  # whole GOPs were copied, not re-encoded
    assert result.reencoded_segments >= 1
    expected = round(4.2 * FPS) + round(4.7 * FPS)
    assert count_frames(out) == expected
    errors = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(out), "-f", "null", "-"],
                            capture_output=True, text=True).stderr
    assert errors.strip() == ""
    got = gray_frames(out)
    src_a, src_b = gray_frames(a), gray_frames(b)
    wanted = src_a[15:141] + src_b[9:150]
    # every output frame matches the source frame it should be, and no other (no dup, no drop)
    for i in range(0, expected, 3):
        diffs = [float(np.abs(got[i] - s).mean()) for s in wanted[max(0, i - 2):i + 3]]
        assert int(np.argmin(diffs)) == min(i, 2), i
        assert diffs[min(i, 2)] < 4.0


def test_reencoded_parts_keep_quality(tmp_path):
    a = local_clip(tmp_path, "a.mp4", "rocket.jpg", 3, "tilt_up")
    out = tmp_path / "q.mp4"
    edit_sequence(EditSpec([EditClip(a, 0.4, 2.9)], out, W, H, FPS, loudness_lufs=None))
    text = subprocess.run([ffmpeg_exe(), "-i", str(out), "-i", str(a), "-filter_complex",
                           "[1:v]trim=start_frame=12:end_frame=87,setpts=PTS-STARTPTS[ref];[0:v][ref]ssim",
                           "-f", "null", "-"], capture_output=True, text=True).stderr
    ssim = float(text.rsplit("All:", 1)[1].split()[0])
    assert ssim >= 0.98


@pytest.mark.parametrize("profile,vcodec,acodec,ext", [("hevc", "hevc", "aac", ".mp4"),
                                                         ("mezzanine", "prores", "pcm_s16le", ".mov")])
def test_output_profiles(tmp_path, profile, vcodec, acodec, ext):
    a = local_clip(tmp_path, "a.mp4", "coffee.jpg", 1)
    out = tmp_path / f"p{ext}"
    edit_sequence(EditSpec([EditClip(a, 0, 1)], out, W, H, FPS, settings=EncodeSettings(profile=profile),
                           loudness_lufs=None))
    info = probe(out)
    assert info.video.codec == vcodec and info.audio.codec == acodec
    assert count_frames(out) == 30
