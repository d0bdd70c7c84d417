"""Every recipe in recipes/ validates and plans; the fast offline ones also run."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.plan import make_plan
from pipeline.recipe import load_recipe

REPO = Path(__file__).resolve().parents[1]
RECIPES = sorted((REPO / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=[p.name for p in RECIPES])
def test_recipe_validates_and_plans(recipe):
    loaded = load_recipe(recipe)
    plan = make_plan(loaded)
    assert plan.duration_s > 0
    assert len(plan.clips) >= 1


def test_shipped_schema_is_current():
    from pipeline.cli.schema import _generate

    shipped = (REPO / "pipeline" / "recipe.schema.json").read_text()
    assert shipped == _generate(), "run: python -c \"from pipeline.cli.schema import _generate; " \
                                   "open('pipeline/recipe.schema.json','w').write(_generate())\""
