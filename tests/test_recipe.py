"""Recipe loading: every problem with its file:line, and nothing but RecipeError for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import RecipeError
from pipeline.recipe import load_recipe, parse_recipe_text

GOOD = """\
version: 1
output: {path: out/x.mp4, size: 320x180, fps: 30}
shots:
  - id: a
    image: {samples}/coffee.jpg
    prompt: slow push in
    seconds: 2
    trim: {start: 0.5, end: 1.5}
  - id: b
    image: {samples}/chelsea.jpg
    prompt: pan left
    seconds: 2
timeline:
  - shot: a
  - transition: {type: fade, duration: 0.5}
  - shot: b
"""


def problems_of(path: Path) -> list[str]:
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    return [p.format() for p in info.value.problems]


def test_good_recipe_loads_and_resolves_paths(write_recipe):
    loaded = load_recipe(write_recipe(GOOD))
    assert [s.id for s in loaded.recipe.shots] == ["a", "b"]
    assert loaded.resolve("out/x.mp4") == loaded.path.parent / "out" / "x.mp4"


def test_unknown_key_names_line_and_suggests(write_recipe):
    path = write_recipe(GOOD.replace("    seconds: 2\n    trim", "    secnds: 2\n    trim"))
    found = problems_of(path)
    assert len(found) == 1
    assert f"{path}:7:" in found[0]
    assert "unknown key 'secnds'" in found[0] and "did you mean 'seconds'?" in found[0]


def test_every_problem_is_reported_together(write_recipe):
    text = (GOOD.replace("coffee.jpg", "missing.jpg")
                .replace("shot: b", "shot: bb")
                .replace("end: 1.5", "end: 9"))
    path = write_recipe(text)
    found = "\n".join(problems_of(path))
    assert f"{path}:5:" in found and "image not found" in found
    assert f"{path}:16:" in found and "unknown shot 'bb'" in found and "did you mean 'b'?" in found
    assert f"{path}:8:" in found and "past the end of the 2 s clip" in found


def test_transition_longer_than_trimmed_neighbour(write_recipe):
    path = write_recipe(GOOD.replace("duration: 0.5", "duration: 1.5"))
    found = problems_of(path)
    assert any("longer than shot 'a' (1 s after trim)" in p and f"{path}:15:" in p for p in found)


def test_image_that_is_not_an_image(write_recipe, tmp_path):
    bogus = tmp_path / "fake.jpg"
    bogus.write_text("this is not a JPEG")
    path = write_recipe(GOOD.replace("{samples}/coffee.jpg", str(bogus)))
    assert any("not a readable image" in p for p in problems_of(path))


def test_malformed_yaml_has_line(write_recipe):
    path = write_recipe("version: 1\noutput: {path: a.mp4\nshots: []\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert "not valid YAML" in info.value.message
    assert info.value.problems[0].line == 3


def test_inline_api_key_is_refused(write_recipe):
    path = write_recipe(GOOD.replace("shots:", "backend: {name: local, api_key: sk-abc123456}\nshots:"))
    found = "\n".join(problems_of(path))
    assert "environment variable" in found
    assert "sk-abc123456" not in found  # never echo a secret back


def test_duplicate_ids_and_bad_id(write_recipe):
    path = write_recipe(GOOD.replace("id: b", "id: a"))
    assert any("duplicate shot id 'a'" in p for p in problems_of(path))
    path = write_recipe(GOOD.replace("id: b", "id: 'b c'"))
    assert any("may contain only letters" in p for p in problems_of(path))


def test_video_shot_takes_seconds_from_file(write_recipe, make_clip):
    clip = make_clip(seconds=1.5)
    path = write_recipe(GOOD.replace("  - id: b\n    image: {samples}/chelsea.jpg\n    prompt: pan left\n"
                                     "    seconds: 2\n", f"  - id: b\n    video: {clip}\n")
                        .replace("duration: 0.5", "duration: 0.9"))
    load_recipe(path)  # seconds come from the 1.5 s file
    path = write_recipe(GOOD.replace("  - id: b\n    image: {samples}/chelsea.jpg\n    prompt: pan left\n"
                                     "    seconds: 2\n", f"  - id: b\n    video: {clip}\n    trim: {{end: 3}}\n"))
    assert any("past the end of the 1.5 s clip" in p for p in problems_of(path))


def test_missing_recipe_file(tmp_path):
    with pytest.raises(RecipeError, match="no such recipe file"):
        load_recipe(tmp_path / "nope.yaml")


# ---------------------------------------------------------------------------------------- property based

_keys = st.sampled_from(["version", "output", "shots", "timeline", "backend", "id", "image", "prompt",
                         "seconds", "trim", "start", "end", "shot", "transition", "type", "duration", "x"])
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 50), st.floats(-10, 100), st.just(float('nan')),
                     st.text(max_size=12))
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(_keys, inner, max_size=5)), max_leaves=20)


def _mutations(base: dict) -> st.SearchStrategy[dict]:
    def mutate(data: dict, path: list[str], value: object) -> dict:
        import copy

        out = copy.deepcopy(data)
        node = out
        for key in path[:-1]:
            if isinstance(node, dict) and key in node:
                node = node[key]
            elif isinstance(node, list) and node:
                node = node[0]
            else:
                return out
        if isinstance(node, dict):
            node[path[-1]] = value
        return out

    return st.builds(mutate, st.just(base), st.lists(_keys, min_size=1, max_size=4), _values)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.one_of(_values, _mutations(yaml.safe_load(GOOD.replace("{samples}", "/nonexistent")))))
def test_malformed_and_mutated_recipes_only_raise_recipe_error(doc, tmp_path):
    text = yaml.safe_dump(doc) if not isinstance(doc, str) else doc
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_recipe(path)
    except RecipeError as exc:
        assert str(exc)
        for p in exc.problems:
            assert p.file and p.message


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=200))
def test_arbitrary_text_only_raises_recipe_error(text):
    try:
        parse_recipe_text(text, "fuzz.yaml")
    except RecipeError:
        pass


def test_schema_and_reference_problems_come_together(write_recipe):
    path = write_recipe(GOOD.replace("    seconds: 2\n    trim", "    secnds: 2\n    trim")
                        .replace("chelsea.jpg", "missing.jpg").replace("shot: b", "shot: bb"))
    found = "\n".join(problems_of(path))
    assert "unknown key 'secnds'" in found
    assert f"{path}:10:" in found and "image not found" in found
    assert f"{path}:16:" in found and "unknown shot 'bb'" in found
