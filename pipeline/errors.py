"""The whole exception tree of reelpipe.

Every error the library raises on purpose derives from :class:`PipelineError`; the CLI maps it to a
one-paragraph message and an exit code, and shows a traceback only with ``--debug``::

    PipelineError                 exit 1 unless stated
    ├── UsageError                exit 2  bad command line, unknown file kind, nothing to do
    ├── RecipeError               exit 2  the recipe file is malformed or inconsistent (collects every problem)
    ├── RenderError                       a shot could not be rendered
    │   ├── BackendError                  a render service answered with an error or could not be reached
    │   └── BudgetError           exit 2  the estimated cost exceeds the budget; nothing was submitted
    ├── MediaError                        ffmpeg failed, or a media file is missing, corrupt or unreadable
    ├── ProvenanceError                   C2PA reading/signing failed, or a clip is below the provenance bar
    ├── QCError                           quality control found a clip that fails the recipe's policy
    └── ExportError                       writing a timeline for another editor failed

Third-party exceptions are translated at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BackendError",
    "BudgetError",
    "ExportError",
    "MediaError",
    "PipelineError",
    "Problem",
    "ProvenanceError",
    "QCError",
    "RecipeError",
    "RenderError",
    "UsageError",
]


class PipelineError(Exception):
    """Base of every error reelpipe raises on purpose.

    Args:
        message: what went wrong, naming the file and place.
        hint: what the user can do about it.
        stage: the pipeline stage that failed (set by the runner).
    """

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None, stage: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.stage = stage

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class UsageError(PipelineError):
    """The command line or its arguments are wrong."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One problem found in a recipe: where it is and what is wrong."""

    file: str
    line: int | None
    column: int | None
    path: str  # dotted location inside the recipe, e.g. ``shots[1].trim.end``
    message: str
    hint: str | None = None

    def location(self) -> str:
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}" + (f":{self.column}" if self.column else "")

    def format(self) -> str:
        where = f" ({self.path})" if self.path else ""
        text = f"{self.location()}: {self.message}{where}"
        if self.hint:
            text += f" — {self.hint}"
        return text


class RecipeError(PipelineError):
    """A recipe is malformed or inconsistent. Carries every problem found, each with its file:line."""

    exit_code = 2

    def __init__(self, message: str, *, problems: list[Problem] | None = None, hint: str | None = None) -> None:
        self.problems: list[Problem] = list(problems or [])
        if self.problems:
            message = message + "\n" + "\n".join("  " + p.format() for p in self.problems)
        super().__init__(message, hint=hint)


class RenderError(PipelineError):
    """A shot could not be rendered."""

    def __init__(self, message: str, *, hint: str | None = None, shot_id: str | None = None,
                 stage: str | None = None) -> None:
        super().__init__(message, hint=hint, stage=stage)
        self.shot_id = shot_id


class BackendError(RenderError):
    """A render service answered with an error, or could not be reached.

    ``retryable`` says whether trying again later may succeed (429, 5xx, dropped connection);
    ``code`` carries the service's own error code where it gave one (e.g. ``moderation_blocked``).
    """

    def __init__(self, message: str, *, hint: str | None = None, shot_id: str | None = None,
                 status: int | None = None, code: str | None = None, retryable: bool = False) -> None:
        super().__init__(message, hint=hint, shot_id=shot_id)
        self.status = status
        self.code = code
        self.retryable = retryable


class BudgetError(RenderError):
    """The estimated cost of a run exceeds its budget; nothing was submitted."""

    exit_code = 2


class MediaError(PipelineError):
    """ffmpeg failed, or a media file is missing, corrupt or unreadable."""


class ProvenanceError(PipelineError):
    """C2PA reading or signing failed, or a clip is below the recipe's provenance bar."""


class QCError(PipelineError):
    """Quality control found a clip that fails the recipe's policy."""


class ExportError(PipelineError):
    """Writing a timeline for another editor failed."""
