"""Planning: a golden plan, cache keys that follow the content, cache hits after a run."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipeline.plan import make_plan

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden" / "plan_demo.json"


def _semantic(plan_dict: dict) -> dict:
    """The plan without content hashes and cache state (those are checked separately)."""
    out = json.loads(json.dumps(plan_dict))
    out.pop("cache_dir")
    out["renders_needed"] = None
    for s in out["shots"]:
        s.pop("clip"), s.pop("cache_key"), s.pop("cached"), s.pop("warnings")
    out["warnings"] = None
    return out


def test_demo_plan_matches_golden():
    plan = make_plan(REPO / "recipes" / "demo.yaml")
    data = _semantic(plan.to_dict(relative=True))
    assert data == json.loads(GOLDEN.read_text())


def test_cache_keys_follow_content(write_recipe, tmp_path):
    text = """\
    version: 1
    output: {path: out.mp4, size: 320x180}
    shots:
      - {id: a, image: IMG, prompt: slow push in, seconds: 2}
    """
    img = tmp_path / "img.jpg"
    img.write_bytes((REPO / "samples" / "coffee.jpg").read_bytes())
    path = write_recipe(text.replace("IMG", str(img)))
    key1 = make_plan(path).shots[0].request.cache_key
    assert re.fullmatch(r"[0-9a-f]{64}", key1)
    assert make_plan(path).shots[0].request.cache_key == key1  # stable
    assert make_plan(write_recipe(text.replace("IMG", str(img)).replace("seconds: 2", "seconds: 3"))) \
        .shots[0].request.cache_key != key1
    assert make_plan(write_recipe(text.replace("IMG", str(img)).replace("slow push in", "pan left"))) \
        .shots[0].request.cache_key != key1
    img.write_bytes((REPO / "samples" / "chelsea.jpg").read_bytes())  # same path, new bytes
    assert make_plan(path).shots[0].request.cache_key != key1


def test_timeline_positions(write_recipe):
    path = write_recipe("""\
    version: 1
    output: {path: out.mp4, size: 320x180}
    shots:
      - {id: a, image: {samples}/coffee.jpg, prompt: push in, seconds: 3, trim: {start: 0.5}}
      - {id: b, image: {samples}/chelsea.jpg, prompt: pan left, seconds: 2}
      - {id: c, remix_of: b, prompt: tilt up}
    timeline:
      - shot: a
      - transition: {type: dissolve, duration: 0.5}
      - shot: c
      - shot: a
    """)
    plan = make_plan(path)
    d = plan.to_dict()
    assert [c["shot"] for c in d["timeline"]] == ["a", "c", "a"]
    assert [c["start_s"] for c in d["timeline"]] == [0.0, 2.0, 4.0]
    assert d["duration_s"] == 6.5
    remix = next(s for s in d["shots"] if s["id"] == "c")
    assert remix["remix_of"] == "b" and remix["seconds"] == 2.0
