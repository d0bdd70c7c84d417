"""reelpipe: turn a recipe file into a finished, provenance-signed video sequence.

The public API::

    from pipeline import load_recipe, make_plan, run_recipe
    recipe = load_recipe("recipes/demo.yaml")
    plan = make_plan(recipe)
    result = run_recipe("recipes/demo.yaml")

Errors derive from :class:`PipelineError` (see :mod:`pipeline.errors`).
"""

from __future__ import annotations

from typing import Any

from pipeline.errors import (
    BackendError,
    BudgetError,
    ExportError,
    MediaError,
    PipelineError,
    ProvenanceError,
    QCError,
    RecipeError,
    RenderError,
    UsageError,
)

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "BudgetError",
    "ExportError",
    "MediaError",
    "PipelineError",
    "ProvenanceError",
    "QCError",
    "RecipeError",
    "RenderError",
    "UsageError",
    "__version__",
    "load_recipe",
    "make_plan",
    "run_recipe",
]


def __getattr__(name: str) -> Any:
    # imported lazily so `import pipeline` stays cheap for the CLI's --help
    if name == "load_recipe":
        from pipeline.recipe import load_recipe

        return load_recipe
    if name == "make_plan":
        from pipeline.plan import make_plan

        return make_plan
    if name == "run_recipe":
        from pipeline.runner import run_recipe

        return run_recipe
    raise AttributeError(name)
