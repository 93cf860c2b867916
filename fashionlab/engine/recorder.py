"""Bookkeeping of a training: each epoch into the runs it feeds, divergence and pruning, finished runs.

A training may feed several runs (configs that differ only in epochs): each run takes the history up to
its own epochs and is finished there. The recorder knows nothing of Keras; fit.py calls it from a
Keras callback and gives it a `finish` function that tests and saves the model.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fashionlab import metrics as fmetrics
from fashionlab.config import Config
from fashionlab.engine.best import BestEpoch, Weights
from fashionlab.errors import FashionlabError
from fashionlab.store import Run, RunStatus, now

DIVERGED_LOSS = 1e4  # a classifier guessing uniformly scores ln(10) = 2.3; far above that, training has blown up

CHANCE_MARGIN = 0.05  # test accuracy this close to 1/k: worth looking for dead units (results decide)

Pruner = Callable[[dict[str, float]], bool]  # called after each epoch; True stops the training as pruned


class TrainingHooks(Protocol):
    """What training reports while it works; the CLI draws it, tests may ignore it."""

    def start(self, run_id: str, epochs: int, steps_per_epoch: int) -> None: ...
    def batch(self, epoch: int, step: int, logs: dict[str, float]) -> None: ...
    def epoch(self, row: dict[str, float]) -> None: ...


class NoHooks:
    def start(self, run_id: str, epochs: int, steps_per_epoch: int) -> None:
        pass

    def batch(self, epoch: int, step: int, logs: dict[str, float]) -> None:
        pass

    def epoch(self, row: dict[str, float]) -> None:
        pass


@dataclass
class TrainResult:
    """A completed run: its summary (last and best epoch, overfitting) and test metrics."""

    run: Run
    summary: dict[str, Any]
    test: dict[str, float]


class RunStopped(FashionlabError):
    """A run that did not complete: `run_id` names its directory, which keeps its history and error."""

    def __init__(self, message: str, run_id: str, status: RunStatus, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.status = status
        self.cause = cause  # the exception that failed the training, if one did


class Diverged(RunStopped):
    """The loss became NaN, infinite or absurdly large."""


Outcome = TrainResult | RunStopped


class Target:
    """One run fed by the training: it takes the history up to its own epochs, then is finished."""

    def __init__(self, config: Config, run: Run) -> None:
        self.config = config
        self.run = run
        self.result: TrainResult | None = None

    @property
    def open(self) -> bool:
        return self.result is None and self.run.info.get("status") == RunStatus.RUNNING


@dataclass
class Finisher:
    """How a run is finished (fit.py gives Keras's): test and save the model, test the weights as they
    are now, count the ReLU units that never fire."""

    finish: Callable[[Target], dict[str, float]]  # tests and saves the model; returns its test metrics
    evaluate: Callable[[], dict[str, float]] | None = None
    dead_units: Callable[[], list[dict[str, Any]]] | None = None

    def __call__(self, target: Target) -> dict[str, float]:
        return self.finish(target)


Finish = Finisher | Callable[[Target], dict[str, float]]
Checkpoint = Callable[[Run, int], None]
Draw = Callable[[Run], bytes]  # curves.png of a run whose history is final


def save_curves(run: Run, draw: Draw) -> None:
    """curves.png of a completed run; a failure leaves `curves_error` in run.json (`fashionlab curves`
    draws it later) and the run completed: a picture must not undo a finished training."""
    try:
        run.write_curves(draw(run))
    except Exception as exc:
        run.update(curves_error=f"{exc.__class__.__name__}: {exc}".splitlines()[0])


class RunRecorder:
    """After every epoch: history.csv of each open run; at a run's last epoch: test, model, metrics."""

    def __init__(
        self,
        targets: list[Target],
        hooks: TrainingHooks,
        finish: Finish,
        checkpoint: Checkpoint,
        pruner: Pruner | None = None,
        history: list[dict[str, float]] | None = None,
        weights: Weights | None = None,
        draw: Draw | None = None,
    ) -> None:
        self.targets, self.hooks, self.finish, self.checkpoint, self.pruner = targets, hooks, finish, checkpoint, pruner
        self.draw = draw
        self.rows: list[dict[str, float]] = list(history or [])
        self.diverged: str | None = None
        self.pruned = False
        self.weights = weights
        self.best = BestEpoch(targets[-1].config.early_stopping, self.rows)
        self.tensorboard: Any = None  # engine.tensorboard.TensorBoardLogs, where the config asks for them
        self.stopped_early: int | None = None  # the epoch early stopping ended the training
        self.restored_best = False  # early stopping put the best epoch's weights back

    def epoch_end(self, row: dict[str, float]) -> bool:
        """Record one finished epoch; True when the training must stop (diverged or pruned)."""
        epoch = int(row["epoch"])
        loss = row.get("loss", 0.0)
        self.rows.append(row)
        if not math.isfinite(loss) or loss > DIVERGED_LOSS:
            what = f"became {loss}" if not math.isfinite(loss) else f"exploded to {loss:.3g}"
            self.diverged = f"loss {what} in epoch {epoch}"
        for target in self.targets:
            if target.open and target.config.epochs >= epoch:
                target.run.write_history(self.rows)
                target.run.update(epochs_done=epoch)
                if self.tensorboard is not None:
                    self.tensorboard.epoch(target.run, row)
        self.keep_best(row, epoch)
        for target in self.targets:
            at_its_end = target.config.epochs == epoch or (self.stopped_early and target.config.epochs >= epoch)
            if target.open and at_its_end and not self.diverged:
                target.result = self.complete(target)
        longest = self.targets[-1]
        if longest.open and not self.diverged:
            # after the shorter runs of this epoch completed: a rerun continues from here, none trains twice
            self.checkpoint(longest.run, epoch)
        self.hooks.epoch(row)
        if self.pruner is not None and not self.diverged and self.pruner(row):
            self.pruned = True
        return bool(self.diverged) or self.pruned or bool(self.stopped_early)

    def keep_best(self, row: dict[str, float], epoch: int) -> None:
        """The best epoch's weights into each open run; early stopping (restoring them) when patience ends."""
        if self.best.update(row) and self.weights is not None and not self.diverged:
            self.best.arrays = self.weights.snapshot()
            for target in self.targets:
                if target.open and target.config.epochs >= epoch:
                    target.run.save_best(self.best.arrays, epoch)
        stopping = self.targets[-1].config.early_stopping
        if not self.best.should_stop or self.diverged or stopping is None:
            return
        self.stopped_early = epoch
        restored = stopping.restore_best and self.weights is not None and self.best.epoch != epoch
        self.restored_best = restored
        if restored and self.weights is not None:
            arrays = self.best.arrays or self.targets[-1].run.load_best(self.weights.shapes())
            self.weights.restore(arrays)
        for target in self.targets:
            if target.open and target.config.epochs > epoch:
                target.run.update(stopped_early={"epoch": epoch, "best_epoch": self.best.epoch, "restored": restored})

    def complete(self, target: Target) -> TrainResult:
        """Test and save the model as it is now (`finish`) and close the run as completed.

        The run is completed as soon as its model and metrics are durable; its curves come after, so a
        process killed while drawing them leaves a completed run (`fashionlab curves` redraws them).
        """
        run = target.run
        test = self.finish(target)
        summary = fmetrics.summarize_history(self.rows[: target.config.epochs])
        found: dict[str, Any] = {"summary": summary, "test": test}
        found.update(self.checks(target, test))
        run.write_metrics(found)
        run.mark_completed(found)
        if self.tensorboard is not None:
            self.tensorboard.test(run, test, len(self.rows))
        if self.draw is not None:
            save_curves(run, self.draw)
        return TrainResult(run, summary, test)

    def checks(self, target: Target, test: dict[str, float]) -> dict[str, Any]:
        """What the results rest on beyond the test: the best epoch's model tested where the run kept
        another (`test_at_best`), and a chance-level model's dead ReLU units (`dead_units`)."""
        found: dict[str, Any] = {}
        finisher = self.finish if isinstance(self.finish, Finisher) else None
        now_epoch, best = len(self.rows), self.best
        other = best.epoch is not None and best.epoch != now_epoch and not self.restored_best
        if finisher and finisher.evaluate and self.weights and best.arrays is not None and other:
            current = self.weights.snapshot()
            self.weights.restore(best.arrays)
            try:
                found["test_at_best"] = {"epoch": best.epoch, **finisher.evaluate()}
            finally:
                self.weights.restore(current)
        k = target.config.num_classes
        near = abs(test.get("accuracy", 0.0) - 1 / k) < CHANCE_MARGIN or abs(test.get("loss", 0.0) - math.log(k)) < 0.01
        if finisher and finisher.dead_units and near:
            found["dead_units"] = finisher.dead_units()
        return found

    def interrupted(self) -> list[Outcome]:
        """Stopped by a signal: open runs are marked interrupted (their checkpoint keeps their epochs)."""
        outcomes: list[Outcome] = []
        for target in self.targets:
            if target.open:
                target.run.update(status=RunStatus.INTERRUPTED, ended=now())
            message = f"run {target.run.id} was interrupted after epoch {len(self.rows)}"
            outcomes.append(target.result or RunStopped(message, target.run.id, RunStatus.INTERRUPTED))
        return outcomes

    def failed(self, exc: BaseException) -> list[Outcome]:
        """The training raised: open runs are marked failed with the error; finished ones keep their result."""
        error = f"{exc.__class__.__name__}: {exc}".splitlines()[0]
        for target in self.targets:
            if target.open:
                # the disk that failed the run may refuse this too; its dead pid then marks it interrupted
                with contextlib.suppress(OSError):
                    target.run.update(status=RunStatus.FAILED, ended=now(), error=error)
        return [
            t.result or RunStopped(f"run {t.run.id} failed: {error}", t.run.id, RunStatus.FAILED, cause=exc)
            for t in self.targets
        ]

    def ended(self) -> list[Outcome]:
        """The training returned: runs not finished by then were pruned or diverged."""
        outcomes: list[Outcome] = []
        for target in self.targets:
            if target.result is not None:
                outcomes.append(target.result)
                continue
            run = target.run
            partial = {"summary": fmetrics.summarize_history(self.rows[: target.config.epochs])}
            if self.pruned:
                error = f"pruned after epoch {len(self.rows)}"
                run.update(status=RunStatus.PRUNED, ended=now(), error=error, metrics=partial)
                outcomes.append(RunStopped(f"run {run.id} was pruned", run.id, RunStatus.PRUNED))
                continue
            reason = self.diverged or "training stopped early"
            run.update(status=RunStatus.DIVERGED, ended=now(), error=reason, metrics=partial)
            message = (
                f"run {run.id} diverged: {reason}; lower the learning rate "
                "(e.g. lr=0.001) or use an adaptive optimizer such as adam"
            )
            outcomes.append(Diverged(message, run.id, RunStatus.DIVERGED))
        return outcomes
