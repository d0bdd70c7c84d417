"""Recipe-level editing features: title cards and effects (moviepy), overlays, music — validated and run."""

from __future__ import annotations

import av
import numpy as np
import pytest

from pipeline.errors import RecipeError
from pipeline.media.probe import count_frames, probe
from pipeline.recipe import load_recipe
from pipeline.runner import run_recipe

FX = '''
from moviepy import vfx

def gray(clip):
    return clip.with_effects([vfx.BlackAndWhite()])

def broken(clip):
    raise RuntimeError("boom")
'''

RECIPE = """\
version: 1
output: {path: out/seq.mp4, size: 320x180, fps: 30}
shots:
  - {id: card, card: {text: "Chapter One", seconds: 1.5, background: "#102030", animation: rise}}
  - {id: cup, image: {samples}/coffee.jpg, prompt: Slow push in., seconds: 2, effect: "fx.py:gray"}
  - {id: cat, image: {samples}/chelsea.jpg, prompt: Pan left., seconds: 2}
timeline:
  - shot: card
  - transition: {type: fadeblack, duration: 0.5}
  - shot: cup
  - shot: cat
overlays:
  - {pip: cat, start: 1.5, duration: 1.0, position: top-right, scale: 0.4, margin: 8}
  - {text: "Lower third", start: 2.0, duration: 1.0, box: true, size: 18}
audio:
  music: {path: {samples}/music.m4a, gain_db: -8, fade_out: 1}
"""


def frames_rgb(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").astype(int) for f in c.decode(video=0)]


def test_card_effect_pip_and_music_run(write_recipe, tmp_path):
    (tmp_path / "fx.py").write_text(FX)
    result = run_recipe(write_recipe(RECIPE))
    expected = 1.5 + 2 + 2 - 0.5
    assert abs(result.duration_s - expected) < 1e-9
    out = result.output
    assert count_frames(out) == round(expected * 30)
    info = probe(out)
    assert info.audio is not None and abs(info.audio.duration - expected) < 0.03
    frames = frames_rgb(out)
    card = frames[20]  # the card's background colour (#102030) around the text
    assert abs(card[5, 5] - np.array([0x10, 0x20, 0x30])).max() < 12
    cup = frames[round(2.3 * 30)][100:, :150]  # the effect made the cup shot grey (outside overlays)
    assert float(np.abs(cup[..., 0] - cup[..., 2]).mean()) < 4
    cat = frames[round(4.5 * 30)]  # the untouched shot keeps its colour
    assert float(np.abs(cat[..., 0] - cat[..., 2]).mean()) > 8
    # the picture in picture (a colour shot) sits top-right over the grey cup shot from 1.5 s
    pip = frames[round(2.3 * 30)][8:60, 320 - 8 - 128:320 - 8]
    assert float(np.abs(pip[..., 0] - pip[..., 2]).mean()) > 8
    # a second run re-uses the card, the render and the effect
    again = run_recipe(write_recipe(RECIPE))
    assert not again.render.rendered


def test_broken_effect_fails_that_shot_clearly(write_recipe, tmp_path):
    (tmp_path / "fx.py").write_text(FX)
    recipe = write_recipe(RECIPE.replace("fx.py:gray", "fx.py:broken"))
    with pytest.raises(Exception) as info:
        run_recipe(recipe)
    assert "boom" in str(info.value) and "cup" in str(info.value)


@pytest.mark.parametrize("change,expected", [
    ('{pip: cat, start: 1.5', '{pip: dog, start: 1.5'),
    ('{text: "Lower third"', '{text: "Lower third", image: x.png'),
    ('"fx.py:gray"', '"fx.py:nothing"'),
    ('"fx.py:gray"', '"no colon"'),
    ('background: "#102030"', 'background: "red:x=1"'),
    ('start: 2.0, duration', 'start: 20.0, duration'),
], ids=["pip-unknown", "two-kinds", "no-function", "bad-spec", "bad-colour", "after-end"])
def test_overlay_and_effect_problems_are_recipe_errors(write_recipe, tmp_path, change, expected):
    from pipeline.plan import make_plan

    (tmp_path / "fx.py").write_text(FX)
    recipe = write_recipe(RECIPE.replace(change, expected))
    with pytest.raises(RecipeError) as info:
        make_plan(load_recipe(recipe))
    assert info.value.problems and all(p.line for p in info.value.problems)
