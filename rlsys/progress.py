"""Rich progress bars for long work (steps, epochs, episodes)."""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def make_progress(console: Console | None = None) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
        console=console or Console(file=sys.stderr), transient=False,
    )


@contextlib.contextmanager
def step_progress(total: int, start: int = 0, description: str = "steps") -> Iterator[Callable[[str], None]]:
    """`with step_progress(n) as advance: ... advance("status text")` — one tick per call."""
    with make_progress() as progress:
        task = progress.add_task(description, total=total, completed=start, status="")

        def advance(status: str = "") -> None:
            progress.update(task, advance=1, status=status)

        yield advance
