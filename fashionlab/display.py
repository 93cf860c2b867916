"""Progress displays on stderr: Rich bars on a terminal, plain per-epoch lines in a log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import TaskID

err = Console(stderr=True, highlight=False)


def _bars(clock: Any) -> Any:
    """A transient Rich progress display on stderr: description, bar, n/total, info, then `clock`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"))
    return Progress(*columns, clock, console=err, transient=True)


class _Display:
    """Shows its bars only on a terminal, where they can redraw; stops them on the way out."""

    progress: Any

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress.live.is_started:
            self.progress.stop()

    def show(self) -> None:
        if err.is_terminal:
            self.progress.start()


class RichProgress(_Display):
    """Epoch and step bars on stderr while train() works."""

    def __init__(self) -> None:
        from rich.progress import TimeRemainingColumn

        self.progress = _bars(TimeRemainingColumn())
        self.epochs: TaskID | None = None
        self.steps: TaskID | None = None

    def start(self, run_id: str, epochs: int, steps_per_epoch: int) -> None:
        """Called once training begins, so an early error leaves stderr with just its line."""
        err.print(f"Training run {run_id}")
        self.show()  # a log, where bars cannot redraw, gets the per-epoch lines below
        self.epochs = self.progress.add_task("epochs", total=epochs, info="")
        self.steps = self.progress.add_task("epoch 1", total=steps_per_epoch, info="")

    def batch(self, epoch: int, step: int, logs: dict[str, float]) -> None:
        info = f"loss {logs.get('loss', float('nan')):.4f} acc {logs.get('accuracy', float('nan')):.4f}"
        self.progress.update(self.steps, completed=step, description=f"epoch {epoch + 1}", info=info)  # type: ignore[arg-type]

    def epoch(self, row: dict[str, float]) -> None:
        info = " ".join(f"{k} {row[k]:.4f}" for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in row)
        self.progress.update(self.epochs, completed=row["epoch"], info=info)  # type: ignore[arg-type]
        self.progress.reset(self.steps)  # type: ignore[arg-type]
        err.print(f"epoch {int(row['epoch'])}: {info} ({row['seconds']:.1f} s)")


class SweepDisplay(_Display):
    """One bar for the sweep's trials and one per training under way, on stderr."""

    def __init__(self, total: int) -> None:
        from rich.progress import TimeElapsedColumn

        self.progress = _bars(TimeElapsedColumn())
        self.trials = self.progress.add_task("trials", total=total, info="")
        self.groups: dict[str, Any] = {}

    def __enter__(self) -> SweepDisplay:
        self.show()
        return self

    def group_start(self, label: str, trials: int, epochs: int, steps: int) -> None:
        what = f"{trials} trials" if trials > 1 else "1 trial"
        self.groups[label] = self.progress.add_task(f"  training ({what})", total=epochs, info="")

    def batch(self, label: str, epoch: int, step: int) -> None:
        pass

    def epoch(self, label: str, row: dict[str, float]) -> None:
        if label not in self.groups:
            return
        info = f"val_acc {row['val_accuracy']:.4f}" if "val_accuracy" in row else f"acc {row.get('accuracy', 0):.4f}"
        self.progress.update(self.groups[label], completed=row["epoch"], info=info)

    def trial_done(self, outcome: dict[str, Any]) -> None:
        self.progress.advance(self.trials)
        if outcome["status"] == "pruned":
            err.print(f"Trial {outcome.get('run_id')} pruned ({outcome.get('values', '')})")
        elif outcome["status"] != "completed":
            err.print(f"Trial {outcome.get('run_id') or outcome['hash']} {outcome['status']}: {outcome.get('error')}")
