"""Provenance through a whole run: clips signed and checked, the output signed with its ingredients."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import ProvenanceError
from pipeline.provenance import new_identity, sign_generated_clip, verify
from pipeline.runner import run_recipe
from tests.conftest import REPO, run_cli
from tests.provenance.provenance_helpers import tamper_video

RECIPE = """\
version: 1
output: {path: out/seq.mp4, size: 320x180, fps: 30}
provenance: {require: REQUIRE, sign: true}
shots:
  - {id: a, image: {samples}/coffee.jpg, prompt: Slow push in., seconds: 1.5}
  - {id: b, image: {samples}/chelsea.jpg, prompt: Pan left., seconds: 1.5}
"""


def test_demo_output_audits_trusted_with_one_ingredient_per_clip(tmp_path):
    text = (REPO / "recipes" / "demo.yaml").read_text()
    text = text.replace("../out/demo.mp4", str(tmp_path / "demo.mp4")).replace("../samples/",
                                                                                str(REPO / "samples") + "/")
    recipe = tmp_path / "demo.yaml"
    recipe.write_text(text)
    result = run_recipe(recipe)
    assert result.provenance["state"] == "trusted"
    audit = run_cli("audit", result.output, "--json")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    report = json.loads(audit.stdout)
    verdict = report["files"][0]["verdict"]
    assert verdict["state"] == "trusted"
    clips = [i for i in verdict["ingredients"] if i["title"] in ("coffee", "cat", "launch")]
    assert sorted(i["title"] for i in clips) == ["cat", "coffee", "launch"]
    assert all(i["state"] == "trusted" for i in clips)
    assert {"c2pa.created", "c2pa.edited"} <= set(verdict["actions"])
    assert [a for a in verdict["actions"] if a == "c2pa.placed"]


def test_every_rendered_clip_carries_a_verdict_in_the_summary(write_recipe):
    result = run_recipe(write_recipe(RECIPE.replace("REQUIRE", "trusted")))
    shots = result.to_dict()["shots"]
    for s in shots:
        assert s["provenance"]["state"] == "trusted"
        assert s["provenance"]["digital_source_type"].endswith("/algorithmicMedia")
        assert s["provenance"]["generator"].startswith("reelpipe")


def test_require_trusted_stops_on_someone_elses_clip(write_recipe, make_clip, tmp_path):
    theirs = make_clip("theirs.mp4", seconds=1)
    other = new_identity(tmp_path / "other-home")
    sign_generated_clip(theirs, identity=other, title="theirs", digital_source_type="trainedAlgorithmicMedia",
                        generator="someone else", model=None, reference_image=None)
    recipe = write_recipe(RECIPE.replace("REQUIRE", "trusted") + f"  - {{id: c, video: {theirs}}}\n")
    result = run_cli("run", recipe)
    assert result.returncode == 1
    assert "shot 'c'" in result.stderr and "valid" in result.stderr and "signingCredential.untrusted" in result.stderr
    assert not (recipe.parent / "out" / "seq.mp4").exists()  # stopped before editing
    # with their root trusted, the same run passes
    trusted = run_cli("run", recipe, "--trust", other.root_cert_path)
    assert trusted.returncode == 0, trusted.stderr


def test_tampered_cached_clip_stops_the_run(write_recipe):
    recipe = write_recipe(RECIPE.replace("REQUIRE", "valid"))
    first = run_recipe(recipe)
    clip = first.plan.shot("a").clip_path
    tamper_video(clip, clip)
    with pytest.raises(ProvenanceError) as info:
        run_recipe(recipe)
    assert "shot 'a'" in info.value.message and "assertion.bmffHash.mismatch" in info.value.message
    assert verify(first.output).state == "trusted"  # the earlier output is untouched


def test_unsigned_clip_is_missing_and_present_policy(write_recipe, make_clip):
    plain = make_clip("plain.mp4", seconds=1)
    recipe = write_recipe(RECIPE.replace("REQUIRE", "valid") + f"  - {{id: c, video: {plain}}}\n")
    with pytest.raises(ProvenanceError, match="missing"):
        run_recipe(recipe)
    relaxed = write_recipe(RECIPE.replace("REQUIRE", "off") + f"  - {{id: c, video: {plain}}}\n", "relaxed.yaml")
    result = run_recipe(relaxed)
    assert result.to_dict()["shots"][2]["provenance"]["state"] == "missing"
    assert result.provenance["state"] == "trusted"


def test_unsigned_output_when_sign_is_false(write_recipe):
    result = run_recipe(write_recipe(RECIPE.replace("REQUIRE", "off").replace("sign: true", "sign: false")))
    assert result.provenance is None
    assert verify(result.output).state == "missing"
