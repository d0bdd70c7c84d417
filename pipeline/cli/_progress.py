"""A rich progress display for runs: one live line per shot, one bar for the edit."""

from __future__ import annotations

import threading
from types import TracebackType

from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from pipeline.cli._common import err_console

__all__ = ["RichReporter"]


class RichReporter:
    """Implements :class:`pipeline.runner.Reporter` with rich progress bars on stderr."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled and err_console.is_terminal
        self._lock = threading.Lock()
        self._progress = Progress(
            TextColumn("{task.description:<28}"), BarColumn(), TextColumn("{task.fields[state]:<12}"),
            TimeElapsedColumn(), console=err_console, transient=False, disable=not self.enabled,
        )
        self._shots: dict[str, TaskID] = {}
        self._edit: TaskID | None = None
        self._stage: TaskID | None = None  # the running stage without a bar of its own (qc, sign, ...)
        self.notes: list[str] = []

    def __enter__(self) -> RichReporter:
        self._progress.__enter__()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.__exit__(et, ev, tb)

    def stage(self, name: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            if self._stage is not None:
                self._progress.update(self._stage, completed=1.0, state="done")
                self._stage = None
            if self._edit is not None:
                self._progress.update(self._edit, completed=1.0, state="done")
            if name == "edit" and self._edit is None:
                self._edit = self._progress.add_task("edit", total=1.0, state="encoding")
            elif name not in ("render", "edit"):
                self._stage = self._progress.add_task(name, total=1.0, state="running")

    def finish(self) -> None:
        """Mark whatever is still running as done (the run has returned)."""
        with self._lock:
            for task in (self._stage, self._edit):
                if task is not None:
                    self._progress.update(task, completed=1.0, state="done")

    def shot(self, shot_id: str, state: str, fraction: float | None) -> None:
        with self._lock:
            task = self._shots.get(shot_id)
            if task is None:
                task = self._progress.add_task(f"shot {shot_id}", total=1.0, state=state)
                self._shots[shot_id] = task
            kwargs: dict[str, object] = {"state": state}
            if fraction is not None:
                kwargs["completed"] = fraction
            self._progress.update(task, **kwargs)  # type: ignore[arg-type]

    def edit(self, fraction: float) -> None:
        with self._lock:
            if self._edit is None:
                self._edit = self._progress.add_task("edit", total=1.0, state="encoding")
            self._progress.update(self._edit, completed=fraction, state="done" if fraction >= 1 else "encoding")

    def note(self, text: str) -> None:
        with self._lock:
            self.notes.append(text)
            self._progress.console.print(text, markup=False, style="yellow")
