"""The progress of a long command (`dataset`, `train`) as one line on stderr, drawn by rich: on a terminal
one live line (bar, percentage, time left, the figures that matter), redrawn in place; in a file or a CI
log a plain line at the first update, then at most one every `PLAIN_EVERY` seconds, and the last state at
the end. stdout stays free for --json."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Column
from rich.text import Text

PLAIN_EVERY = 10.0  # seconds between plain lines (a file, CI)


class ProgressLine:
    """One progress line, used as a context manager around the work and fed by `update`.

    `console` is where it goes (default: stderr); whether it is live follows the console's
    `is_interactive` (a terminal that is not TERM=dumb; TTY_INTERACTIVE=0/1 overrides)."""

    def __init__(self, console: Console | None = None, every: float = PLAIN_EVERY) -> None:
        self.console = console or Console(stderr=True)
        self.live = self.console.is_interactive
        self.every = every
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            TaskProgressColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn(
                "{task.fields[status]}", table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")
            ),
            console=self.console,
            redirect_stdout=False,
            disable=not self.live,
            expand=True,  # the status, the one column of ratio 1, takes the width left and is cut to it
        )
        self._task = self._progress.add_task("", total=None, visible=False, status="")
        self._printed: float | None = None  # when the last plain line was written
        self._unprinted = False  # an update since then

    def __enter__(self) -> ProgressLine:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._progress.stop()
        if not self.live and self._unprinted:
            self._print_plain()

    def update(self, completed: float, total: float, description: str, status: str) -> None:
        """The work done so far (`completed` of `total`: the bar and the time left), the line's head
        (`description`) and its tail (`status`)."""
        self._progress.update(
            self._task, completed=completed, total=total, description=description, status=status, visible=True
        )
        self._unprinted = True
        if not self.live and (self._printed is None or time.monotonic() - self._printed >= self.every):
            self._print_plain()

    def _print_plain(self) -> None:
        """The line without the bar, as plain text."""
        task = self._progress.tasks[0]
        parts = [column(task) for column in self._progress.columns if not isinstance(column, BarColumn)]
        line = Text(" ").join(part for part in parts if isinstance(part, Text) and part.plain)
        self.console.print(line.plain, soft_wrap=True, highlight=False, markup=False)
        self._printed, self._unprinted = time.monotonic(), False


def dataset_progress(line: ProgressLine, samples: int) -> Callable:
    """The `progress` callback of `shapeopt.data.dataset.generate` for a dataset of `samples` samples:
    the bar counts the samples this run computes; the line names those stored, the failures and the
    seconds per sample."""

    def show(p) -> None:
        line.update(
            p.done,
            p.todo,
            f"[{p.stored}/{samples}] samples",
            f"{p.failed} failed, {p.seconds / max(p.done, 1):.2f} s/sample",
        )

    return show


def training_progress(line: ProgressLine, epochs: int, budget_seconds: float) -> Callable[[dict], None]:
    """The `progress` callback of `surrogates.train` (one history entry per epoch): the bar runs to the
    epoch cap or the time budget, whichever comes first; the line names the epoch and the validation
    loss and C_D error of the best model so far (the one that is kept)."""
    best = {"validation_loss": float("inf"), "validation_cd_error": float("nan")}

    def show(item: dict) -> None:
        if item["validation_loss"] < best["validation_loss"]:
            best.update(item)
        done = max((item["epoch"] + 1) / epochs, item["seconds"] / budget_seconds)
        line.update(
            min(done, 1.0),
            1.0,
            f"epoch {item['epoch']}",
            f"best validation: loss {best['validation_loss']:.3e}, "
            f"C_D error {best['validation_cd_error']:.2e}",
        )

    return show
