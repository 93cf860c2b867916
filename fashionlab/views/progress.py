"""Progress displays on stderr: Rich bars on a terminal, plain per-epoch lines in a log.

The CLI gives each display the console to draw on; nothing here creates one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fashionlab.events import BatchEnded, EpochEnded, Event, RunStarted, TrialEnded
from fashionlab.i18n import _
from fashionlab.store import RunStatus, TrialOutcome

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID


def _bars(console: Console, clock: Any) -> Any:
    """A transient Rich progress display: description, bar, n/total, info, then `clock`. At 80 columns the
    info gives way (cut with an ellipsis), never the counts or the description, and the bar stays readable."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Column

    columns = (
        TextColumn("{task.description}", table_column=Column(no_wrap=True)),
        BarColumn(bar_width=16),
        MofNCompleteColumn(table_column=Column(no_wrap=True)),
        TextColumn("{task.fields[info]}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
    )
    return Progress(*columns, clock, console=console, transient=True)


class _Bars:
    """Shows its bars only on a terminal, where they can redraw; stops them on the way out."""

    progress: Any
    console: Console

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress.live.is_started:
            self.progress.stop()

    def show(self) -> None:
        if self.console.is_terminal:
            self.progress.start()


class TrainProgressBars(_Bars):
    """Epoch and step bars while one training works: a sink of its events (fashionlab.events)."""

    def __init__(self, console: Console, notes: list[str] | None = None) -> None:
        from rich.progress import TimeRemainingColumn

        self.console = console
        self.notes = notes or []  # said once training starts, when the config has passed every check
        self.progress = _bars(console, TimeRemainingColumn())
        self.epochs: TaskID | None = None
        self.steps: TaskID | None = None

    def emit(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.start(event.run, event.epochs, event.steps)
        elif isinstance(event, BatchEnded):
            self.batch(event.epoch, event.step, event.logs)
        elif isinstance(event, EpochEnded):
            self.epoch(event.row)

    def start(self, run_id: str, epochs: int, steps_per_epoch: int) -> None:
        """Called once training begins, so an early error leaves stderr with just its line."""
        self.console.print(_("Training run {run}").format(run=run_id), markup=False)
        for note in self.notes:
            self.console.print(note, markup=False)
        self.show()  # a log, where bars cannot redraw, gets the per-epoch lines below
        self.epochs = self.progress.add_task(_("epochs"), total=epochs, info="")
        self.steps = self.progress.add_task(_("epoch {n}").format(n=1), total=steps_per_epoch, info="")

    def batch(self, epoch: int, step: int, logs: dict[str, float]) -> None:
        info = f"loss {logs.get('loss', float('nan')):.4f} acc {logs.get('accuracy', float('nan')):.4f}"
        description = _("epoch {n}").format(n=epoch + 1)
        self.progress.update(self.steps, completed=step, description=description, info=info)  # type: ignore[arg-type]

    def epoch(self, row: dict[str, float]) -> None:
        info = " ".join(f"{k} {row[k]:.4f}" for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in row)
        short = f"val_acc {row['val_accuracy']:.4f}" if "val_accuracy" in row else f"acc {row.get('accuracy', 0):.4f}"
        self.progress.update(self.epochs, completed=row["epoch"], info=short)  # type: ignore[arg-type]
        self.progress.reset(self.steps)  # type: ignore[arg-type]
        seconds = f"({row['seconds']:.1f}s)"  # no space: Rich wraps at any whitespace, a no-break space too
        self.console.print(_("epoch {n}: {numbers} {seconds}").format(n=int(row["epoch"]), numbers=info,
                                                                       seconds=seconds), markup=False)  # fmt: skip


class SweepProgressBars(_Bars):
    """One bar for the trials of a sweep or search and one per training under way: a sink of their events."""

    def __init__(self, console: Console, total: int, done: int = 0) -> None:
        from rich.progress import TimeElapsedColumn

        self.console = console
        self.progress = _bars(console, TimeElapsedColumn())
        self.trials = self.progress.add_task(_("trials"), total=total, info="", completed=done)
        self.groups: dict[str, Any] = {}

    def __enter__(self) -> SweepProgressBars:
        self.show()
        return self

    def emit(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.group_start(event.label, event.trials, event.epochs, event.steps)
        elif isinstance(event, EpochEnded):
            self.epoch(event.label, event.row)
        elif isinstance(event, TrialEnded):
            self.trial_done(event.outcome)

    def group_start(self, label: str, trials: int, epochs: int, steps: int) -> None:
        what = _("{n} trials").format(n=trials) if trials > 1 else _("1 trial")
        self.groups[label] = self.progress.add_task(
            "  " + _("training ({what})").format(what=what), total=epochs, info=""
        )

    def epoch(self, label: str, row: dict[str, float]) -> None:
        if label not in self.groups:
            return
        info = f"val_acc {row['val_accuracy']:.4f}" if "val_accuracy" in row else f"acc {row.get('accuracy', 0):.4f}"
        self.progress.update(self.groups[label], completed=row["epoch"], info=info)

    def trial_done(self, outcome: TrialOutcome) -> None:
        from fashionlab.views.tables import status_word

        self.progress.advance(self.trials)
        if outcome.status == RunStatus.PRUNED:
            self.console.print(
                _("Trial {run} pruned ({values})").format(run=outcome.run_id, values=outcome.values or ""), markup=False
            )
        elif not outcome.completed:
            said = f"run {outcome.run_id} {outcome.status}: "  # the error names its run already: say it once
            error = (outcome.error or "").removeprefix(said)
            self.console.print(_("Trial {label} {status}: {error}").format(
                label=outcome.label, status=status_word(str(outcome.status)), error=error), markup=False)  # fmt: skip
        elif self.console.is_jupyter:  # a notebook has no bars that redraw: a line per trial instead
            self.console.print(_("Trial completed: {run}").format(run=outcome.run_id), markup=False)
