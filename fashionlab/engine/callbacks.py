"""A training's bookkeeping as Keras callbacks, one per concern, as Keras's own trainer hosts them.

One training may feed several runs (configs that differ only in epochs): each run takes the history up to
its own epochs and is finished there. The callbacks of one training share a `Training` (its runs, its
history, why it stopped); `keras.fit` and engine/loop.py call them the same way, through
`keras.callbacks.CallbackList`, in the order `callbacks()` gives:

    RunHistory -> Divergence -> TensorBoardLogs -> BestWeights (early stopping) -> Completion
    -> Checkpoint -> Progress (the events) -> Pruning

This module imports Keras: engine/fit.py imports it once the backend is chosen (after building the model).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras

from fashionlab import evidence as fevidence
from fashionlab import metrics as fmetrics
from fashionlab.config import Config
from fashionlab.engine.best import BestEpoch, Weights
from fashionlab.engine.outcomes import (
    CHANCE_MARGIN,
    DIVERGED_LOSS,
    Diverged,
    Outcome,
    Pruner,
    RunStopped,
    TrainResult,
)
from fashionlab.engine.tensorboard import TensorBoardWriters
from fashionlab.errors import raise_if_stopped
from fashionlab.events import BatchEnded, EpochEnded, RunStarted, Sink
from fashionlab.store import Run, RunStatus, images
from fashionlab.store.images import ModelImages


class Target:
    """One run fed by the training: it takes the history up to its own epochs, then is finished."""

    def __init__(self, config: Config, run: Run) -> None:
        self.config = config
        self.run = run
        self.result: TrainResult | None = None

    @property
    def open(self) -> bool:
        return self.result is None and self.run.info.status == RunStatus.RUNNING


@dataclass
class Finisher:
    """What finishing a run needs from the framework (fit.py gives Keras's): test and save the model, test
    the weights as they are now, count the ReLU units that never fire."""

    finish: Callable[[Target], dict[str, float]]  # tests and saves the model; returns its test metrics
    evaluate: Callable[[], dict[str, float]]
    dead_units: Callable[[], list[dict[str, Any]]]
    images: Callable[[int], ModelImages]  # the weights as they are now, per test image (epoch: theirs)


@dataclass
class Training:
    """What the callbacks of one training share: the runs it feeds, its history, why it stopped."""

    targets: list[Target]
    rows: list[dict[str, float]]
    weights: Weights
    best: BestEpoch = field(init=False)
    diverged: str | None = None
    pruned: bool = False
    stopped_early: int | None = None  # the epoch early stopping ended the training
    restored_best: bool = False  # early stopping put the best epoch's weights back
    fed: list[Target] = field(default_factory=list)  # the runs the last epoch went into

    def __post_init__(self) -> None:
        self.best = BestEpoch(self.longest.config.early_stopping, self.rows)

    @property
    def longest(self) -> Target:
        return self.targets[-1]

    def feeding(self, epoch: int) -> list[Target]:
        return [t for t in self.targets if t.open and t.config.epochs >= epoch]

    def interrupted(self) -> list[Outcome]:
        """Stopped by a signal: open runs are marked interrupted (their checkpoint keeps their epochs)."""
        outcomes: list[Outcome] = []
        for target in self.targets:
            if target.open:
                target.run.mark_interrupted()
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
                    target.run.mark_failed(error)
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
                run.mark_pruned(f"pruned after epoch {len(self.rows)}", partial)
                outcomes.append(RunStopped(f"run {run.id} was pruned", run.id, RunStatus.PRUNED))
                continue
            reason = self.diverged or "training stopped early"
            run.mark_diverged(reason, partial)
            message = (
                f"run {run.id} diverged: {reason}; lower the learning rate "
                "(e.g. lr=0.001) or use an adaptive optimizer such as adam"
            )
            outcomes.append(Diverged(message, run.id, RunStatus.DIVERGED))
        return outcomes


class Callback(keras.callbacks.Callback):
    def __init__(self, training: Training) -> None:
        super().__init__()
        self.training = training

    def stop(self) -> None:
        self.model.stop_training = True


class RunHistory(Callback):
    """Each finished epoch as a row (its logs and seconds) into history.csv of every run it feeds."""

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        row: dict[str, float] = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        row["seconds"] = round(time.perf_counter() - self.started, 4)
        rows = self.training.rows
        rows.append(row)
        self.training.fed = self.training.feeding(epoch + 1)
        for target in self.training.fed:
            target.run.record_epochs(rows)


class Divergence(Callback):
    """A NaN, infinite or absurd loss stops the training (like keras.callbacks.TerminateOnNaN, per epoch)."""

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        loss = self.training.rows[-1].get("loss", 0.0)
        if not math.isfinite(loss) or loss > DIVERGED_LOSS:
            what = f"became {loss}" if not math.isfinite(loss) else f"exploded to {loss:.3g}"
            self.training.diverged = f"loss {what} in epoch {epoch + 1}"
            self.stop()


class TensorBoardLogs(Callback):
    """Each run's scalars in TensorBoard's layout, and its test metrics once it completed."""

    def __init__(self, training: Training) -> None:
        super().__init__(training)
        self.writers: TensorBoardWriters | None = None
        self.tested: set[str] = set()

    def on_train_begin(self, logs: Any = None) -> None:
        self.writers = TensorBoardWriters([(t.config, t.run) for t in self.training.targets])

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        assert self.writers is not None
        for target in self.training.fed:
            self.writers.epoch(target.run, self.training.rows[-1])
        self.write_tests()

    def write_tests(self) -> None:
        for target in self.training.targets:
            if target.result is not None and target.run.id not in self.tested and self.writers is not None:
                self.writers.test(target.run, target.result.test, len(target.run.history()))
                self.tested.add(target.run.id)

    def close(self) -> None:
        """Called on every exit (fit.py): the test metrics of runs completed so far, then the files closed."""
        if self.writers is not None:
            self.write_tests()
            self.writers.close()


class BestWeights(Callback):
    """The best epoch's weights into each run it feeds; early stopping (restoring them) when patience ends."""

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        training, epoch = self.training, epoch + 1
        best = training.best
        if best.update(training.rows[-1]) and not training.diverged:
            best.arrays = training.weights.snapshot()
            for target in training.feeding(epoch):
                target.run.save_best(best.arrays, epoch)
        stopping = training.longest.config.early_stopping
        if not best.should_stop or training.diverged or stopping is None:
            return
        training.stopped_early = epoch
        restored = stopping.restore_best and best.epoch != epoch
        training.restored_best = restored
        if restored:
            training.weights.restore(best.arrays or training.longest.run.load_best(training.weights.shapes()))
        for target in training.targets:
            if target.open and target.config.epochs > epoch:
                target.run.record_stopped_early(epoch, best.epoch, restored)
        self.stop()


class Completion(Callback):
    """At a run's last epoch (its own, or early stopping's): test and save the model, close it completed."""

    def __init__(self, training: Training, finisher: Finisher) -> None:
        super().__init__(training)
        self.finisher = finisher

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        training, epoch = self.training, epoch + 1
        if training.diverged:
            return
        for target in training.targets:
            at_its_end = target.config.epochs == epoch or (training.stopped_early and target.config.epochs >= epoch)
            if target.open and at_its_end:
                target.result = self.complete(target)

    def complete(self, target: Target) -> TrainResult:
        """The model as it is now tested and saved; the run completed once its model and metrics are durable
        (its curves are drawn after the training returns, by the experiment that asked for it)."""
        test = self.finisher.finish(target)
        summary = fmetrics.summarize_history(self.training.rows[: target.config.epochs])
        kept_epoch = self.training.best.epoch if self.training.restored_best else summary.get("last_epoch")
        kept = self.finisher.images(int(kept_epoch or len(self.training.rows)))
        found: dict[str, Any] = {"summary": summary, "test": test, **self.checks(target, test)}
        best = found.pop("images_at_best", None)
        images.write(target.run, images.ImageEvidence(kept, best))
        found["confidence"] = {"kept": fevidence.confidence(kept), "best": fevidence.confidence(best) if best else None}
        if best is not None:  # two models of one training on the same images: McNemar, paired loss (EVIDENCE.md)
            found["checkpoints"] = fevidence.two_models(best, kept)
        target.run.write_metrics(found)
        target.run.mark_completed(found)
        return TrainResult(target.run, summary, test)

    def checks(self, target: Target, test: dict[str, float]) -> dict[str, Any]:
        """What the results rest on beyond the test: the best epoch's model tested where the run kept
        another (`test_at_best`), and a chance-level model's dead ReLU units (`dead_units`)."""
        found: dict[str, Any] = {}
        training = self.training
        best, weights = training.best, training.weights
        other = best.epoch is not None and best.epoch != len(training.rows) and not training.restored_best
        if best.arrays is not None and other:
            current = weights.snapshot()
            weights.restore(best.arrays)
            try:
                found["test_at_best"] = {"epoch": best.epoch, **self.finisher.evaluate()}
                found["images_at_best"] = self.finisher.images(int(best.epoch or 0))
            finally:
                weights.restore(current)
        k = target.config.num_classes
        near = abs(test.get("accuracy", 0.0) - 1 / k) < CHANCE_MARGIN or abs(test.get("loss", 0.0) - math.log(k)) < 0.01
        if near:
            found["dead_units"] = self.finisher.dead_units()
        return found


class Checkpoint(Callback):
    """The full training state after each epoch, into the longest run (the one a rerun continues), after
    the shorter runs of that epoch completed: none trains twice (like keras.callbacks.BackupAndRestore)."""

    def __init__(self, training: Training, state: Callable[[], list[Any]]) -> None:
        super().__init__(training)
        self.state = state

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        longest = self.training.longest
        if longest.open and not self.training.diverged:
            longest.run.save_checkpoint(self.state(), epoch + 1)


class Progress(Callback):
    """The training's events (fashionlab.events) into its sink, and the safe points where a signal stops it."""

    def __init__(self, training: Training, sink: Sink, label: str, trials: int) -> None:
        super().__init__(training)
        self.sink, self.label, self.trials = sink, label, trials

    def on_train_begin(self, logs: Any = None) -> None:
        run = self.training.longest.run.id
        self.sink.emit(RunStarted(self.label, run, self.trials, self.params["epochs"], self.params["steps"]))

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        raise_if_stopped()
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        raise_if_stopped()
        self.sink.emit(BatchEnded(self.label, self.epoch, batch + 1, {k: float(v) for k, v in (logs or {}).items()}))

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.sink.emit(EpochEnded(self.label, self.training.rows[-1]))


class Pruning(Callback):
    """A search's pruner, given each epoch that did not diverge, the last too (it reports the epoch to the
    study: Optuna's dashboard draws every epoch); True stops the training as pruned, but at the last epoch
    (a trial that trained every epoch is a result, not a trial to stop)."""

    def __init__(self, training: Training, pruner: Pruner) -> None:
        super().__init__(training)
        self.pruner = pruner

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if self.training.diverged:
            return
        stop = self.pruner(self.training.rows[-1])
        if stop and epoch + 1 < (self.params or {}).get("epochs", float("inf")):
            self.training.pruned = True
            self.stop()


class Ended(Callback):
    """At the end of the training, the runs it did not finish: pruned or diverged."""

    def __init__(self, training: Training) -> None:
        super().__init__(training)
        self.outcomes: list[Outcome] = []

    def on_train_end(self, logs: Any = None) -> None:
        self.outcomes = self.training.ended()


def callbacks(
    training: Training, finisher: Finisher, state: Callable[[], list[Any]], events: tuple[Sink, str, int] | None,
    pruner: Pruner | None, tensorboard: bool,
) -> list[Callback]:  # fmt: skip
    """One training's callbacks, in the order they must see each epoch."""
    found: list[Callback] = [RunHistory(training), Divergence(training)]
    if tensorboard:
        found.append(TensorBoardLogs(training))
    found += [BestWeights(training), Completion(training, finisher), Checkpoint(training, state)]
    if events is not None:  # (sink, label, trials)
        found.append(Progress(training, *events))
    if pruner is not None:
        found.append(Pruning(training, pruner))
    return [*found, Ended(training)]
