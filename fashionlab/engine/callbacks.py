"""A training's bookkeeping as Keras callbacks, as Keras's own trainer hosts them (keras.fit, or the fused
loop of engine/loop.py through `keras.callbacks.CallbackList`).

Each callback keeps its own state, reads only the `logs` it is given and acts on the training only through
`model.stop_training`:

    Divergence          stops a training whose loss became NaN, infinite or absurd
    EarlyStopping       keras.callbacks.EarlyStopping (restore_best_weights), resumable from a history
    Recorder            the only writer to the store: history, best weights, checkpoints, each run completed
    TensorBoardLogs     TensorBoard's files, like keras.callbacks.TensorBoard
    Progress            the events (fashionlab.events) into a sink
    Pruning             a search's pruner

One training may feed several runs (configs that differ only in epochs): the Recorder completes each at
its own last epoch. What the loop's end means for the runs still open (early stopping, pruning,
divergence) the trainer tells the Recorder after the loop (`Recorder.close`); each run's outcome is then
read back from the store (engine/fit.py).

This module imports Keras: engine/fit.py imports it once the backend is chosen (after building the model).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from typing import Any

import keras

from fashionlab import evidence as fevidence
from fashionlab import metrics as fmetrics
from fashionlab.config import Config
from fashionlab.config.schema import EarlyStopping as Stopping
from fashionlab.engine.best import BestEpoch
from fashionlab.engine.member import Member
from fashionlab.engine.outcomes import CHANCE_MARGIN, DIVERGED_LOSS, Pruner
from fashionlab.engine.tensorboard import TensorBoardWriters
from fashionlab.errors import raise_if_stopped
from fashionlab.events import BatchEnded, EpochEnded, RunStarted, Sink
from fashionlab.store import Run, RunStatus, files, images, read_run

Logs = dict[str, Any] | None  # what Keras hands a callback: metric name -> number


def row_of(epoch: int, logs: Logs) -> dict[str, float]:
    """One epoch's logs as history.csv's row (epoch counted from 1)."""
    return {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}


def divergence(epoch: int, logs: Logs) -> str | None:
    """Why this epoch's loss means the training diverged, or None."""
    loss = float((logs or {}).get("loss", 0.0))
    if math.isfinite(loss) and loss <= DIVERGED_LOSS:
        return None
    what = f"became {loss}" if not math.isfinite(loss) else f"exploded to {loss:.3g}"
    return f"loss {what} in epoch {epoch + 1}"


class Target:
    """One run fed by the training: it takes the history up to its own epochs, then is finished."""

    def __init__(self, config: Config, run: Run) -> None:
        self.config = config
        self.run = run
        self.done = False  # completed, or ended otherwise, by the Recorder

    def feeds(self, epoch: int) -> bool:
        """Whether epoch `epoch` (from 1) is one of its own."""
        return not self.done and self.config.epochs >= epoch


class Divergence(keras.callbacks.Callback):
    """A NaN, infinite or absurd loss stops the training (keras.callbacks.TerminateOnNaN, per epoch: that one
    prints to standard output, and the fused loop checks `stop_training` at epoch ends)."""

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        if divergence(epoch, logs) is not None:
            self.model.stop_training = True


class EarlyStopping(keras.callbacks.EarlyStopping):
    """keras.callbacks.EarlyStopping, which a resumed training first shows the epochs it already had (and the
    best epoch's weights, kept by the run): it stops where one uninterrupted training would have."""

    def __init__(self, stopping: Stopping, history: list[dict[str, float]], best: Callable[[], list[Any]]) -> None:
        mode = "min" if stopping.lower_is_better else "max"
        super().__init__(stopping.monitor, stopping.min_delta, stopping.patience, mode=mode,
                         restore_best_weights=stopping.restore_best)  # fmt: skip
        self.history, self.load_best = history, best

    def on_train_begin(self, logs: Logs = None) -> None:
        super().on_train_begin(logs)
        self._set_monitor_op()
        best, wait = None, 0
        for epoch, row in enumerate(self.history):  # what on_epoch_end did with them, stopping aside
            current, wait = row.get(self.monitor), wait + 1
            if current is not None and math.isfinite(current) and self._is_improvement(current, best):
                best, self.best_epoch, wait = current, epoch, 0
        self.best, self.wait = best, wait
        if self.history and self.restore_best_weights and best is not None:
            self.best_weights = self.load_best()

    @property
    def stopped_at(self) -> int | None:
        """The epoch (from 1) it stopped the training at, if it did."""
        return self.stopped_epoch + 1 if self.stopped_epoch else None


class Recorder(keras.callbacks.Callback):
    """The only writer to the store. Each epoch: its row into history.csv of every run it feeds, the best
    epoch's weights, the runs whose last epoch it was tested, saved and completed, and the longest run's
    checkpoint (the state a rerun continues from, like keras.callbacks.BackupAndRestore)."""

    def __init__(self, targets: list[Target], history: list[dict[str, float]], member: Member) -> None:
        super().__init__()
        self.targets, self.rows, self.member = targets, list(history), member
        self.best = BestEpoch(self.longest.config.early_stopping, self.rows)
        self.best_arrays: list[Any] | None = None  # the best epoch's weights, once seen in this process

    @property
    def longest(self) -> Target:
        return self.targets[-1]

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        row = row_of(epoch, logs)
        row["seconds"] = round(time.perf_counter() - self.started, 4)
        self.rows.append(row)
        fed = [t for t in self.targets if t.feeds(epoch + 1)]
        for target in fed:
            target.run.record_epochs(self.rows)
        if divergence(epoch, logs) is not None:
            return
        if self.best.update(row):
            self.best_arrays = self.member.snapshot()
            for target in fed:
                target.run.save_best(self.best_arrays, epoch + 1)
        kept = [t for t in fed if files.keeps_epoch(epoch + 1) and t.config.epochs != epoch + 1]
        arrays = self.member.snapshot() if kept else []
        for target in kept:  # the last epoch's weights are its model's
            target.run.keep_epoch(arrays, epoch + 1)
        for target in fed:
            if target.config.epochs == epoch + 1:
                self.complete(target, restored=False)
        if not self.longest.done:
            self.longest.run.save_checkpoint(self.member.state(), epoch + 1)

    def close(self, stopped_early: int | None, pruned: bool) -> None:
        """After the loop: the runs it did not reach the end of, as the trainer says why (early stopping
        restored the best weights first, where it was asked to), else diverged."""
        last = len(self.rows)
        why = divergence(last - 1, self.rows[-1]) if self.rows else None
        for target in [t for t in self.targets if not t.done]:
            target.done = True
            run, partial = target.run, {"summary": fmetrics.summarize_history(self.rows[: target.config.epochs])}
            if stopped_early and why is None:
                stopping = target.config.early_stopping
                restored = bool(stopping and stopping.restore_best) and self.best.epoch != last
                run.record_stopped_early(last, self.best.epoch, restored)
                self.complete(target, restored)
            elif pruned and why is None:
                run.mark_pruned(f"pruned after epoch {last}", partial)
            else:
                run.mark_diverged(why or "training stopped early", partial)

    def interrupted(self) -> None:
        """Stopped by a signal: open runs are marked interrupted (their checkpoint keeps their epochs)."""
        for target in self.targets:
            if not target.done:
                target.run.mark_interrupted()

    def failed(self, exc: BaseException) -> None:
        """The training raised: open runs are marked failed with the error's first line."""
        error = f"{exc.__class__.__name__}: {exc}".splitlines()[0]
        for target in self.targets:
            if not target.done:
                with contextlib.suppress(OSError):  # the disk that failed the run may refuse this too: its dead
                    target.run.mark_failed(error)  # pid then marks it interrupted

    def complete(self, target: Target, restored: bool) -> None:
        """The model as it is now tested and saved; the run completed once its model and metrics are durable
        (its curves are drawn after the training returns, by whoever asked for it)."""
        target.done = True
        test = self.member.evaluate()
        with target.run.writing_model() as path:
            self.member.save(path)
        summary = fmetrics.summarize_history(self.rows[: target.config.epochs])
        kept = self.member.images(int(self.best.epoch or 0) if restored else int(summary.get("last_epoch") or 0))
        found: dict[str, Any] = {"summary": summary, "test": test, **self.checks(target, test, restored)}
        best = found.pop("images_at_best", None)
        images.write(target.run, images.ImageEvidence(kept, best))
        found["confidence"] = {"kept": fevidence.confidence(kept), "best": fevidence.confidence(best) if best else None}
        if best is not None:  # two models of one training on the same images: McNemar, paired loss (EVIDENCE.md)
            found["checkpoints"] = fevidence.two_models(best, kept)
        target.run.write_metrics(found)
        target.run.mark_completed(found)

    def checks(self, target: Target, test: dict[str, float], restored: bool) -> dict[str, Any]:
        """What the results rest on beyond the test: the best epoch's model tested where the run kept
        another (`test_at_best`), and a chance-level model's dead ReLU units (`dead_units`)."""
        found: dict[str, Any] = {}
        best, member = self.best, self.member
        other = best.epoch is not None and best.epoch != len(self.rows) and not restored
        if self.best_arrays is not None and other:
            current = member.snapshot()
            member.restore(self.best_arrays)
            try:
                found["test_at_best"] = {"epoch": best.epoch, **member.evaluate()}
                found["images_at_best"] = member.images(int(best.epoch or 0))
            finally:
                member.restore(current)
        k = target.config.num_classes
        near = abs(test.get("accuracy", 0.0) - 1 / k) < CHANCE_MARGIN or abs(test.get("loss", 0.0) - math.log(k)) < 0.01
        if near:
            found["dead_units"] = member.dead_units()
        return found


class TensorBoardLogs(keras.callbacks.Callback):
    """Each run's scalars in TensorBoard's layout, and its test metrics once it completed (read back from
    the store when the training ends: `close`, on every exit)."""

    def __init__(self, targets: list[tuple[Config, Run]]) -> None:
        super().__init__()
        self.targets = targets
        self.writers: TensorBoardWriters | None = None

    def on_train_begin(self, logs: Logs = None) -> None:
        self.writers = TensorBoardWriters(self.targets)

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        assert self.writers is not None
        for config, run in self.targets:
            if config.epochs >= epoch + 1:
                self.writers.epoch(run, row_of(epoch, logs))

    def close(self) -> None:
        if self.writers is None:
            return
        for _config, run in self.targets:
            now = read_run(run.path)
            if now.status == RunStatus.COMPLETED:
                self.writers.test(run, now.saved_metrics().get("test", {}), len(now.history()))
        self.writers.close()


class Progress(keras.callbacks.Callback):
    """The training's events (fashionlab.events) into its sink, and the safe points where a signal stops it."""

    def __init__(self, sink: Sink, label: str, run: str, trials: int) -> None:
        super().__init__()
        self.sink, self.label, self.run, self.trials = sink, label, run, trials

    def on_train_begin(self, logs: Logs = None) -> None:
        self.sink.emit(RunStarted(self.label, self.run, self.trials, self.params["epochs"], self.params["steps"]))

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        raise_if_stopped()
        self.epoch, self.started = epoch, time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: Logs = None) -> None:
        raise_if_stopped()
        self.sink.emit(BatchEnded(self.label, self.epoch, batch + 1, {k: float(v) for k, v in (logs or {}).items()}))

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        row = {**row_of(epoch, logs), "seconds": round(time.perf_counter() - self.started, 4)}
        self.sink.emit(EpochEnded(self.label, row))


class Pruning(keras.callbacks.Callback):
    """A search's pruner, given each epoch that did not diverge, the last too (it reports the epoch to the
    study: Optuna's dashboard draws every epoch); True stops the training as pruned, but at the last epoch
    (a trial that trained every epoch is a result, not a trial to stop)."""

    def __init__(self, pruner: Pruner) -> None:
        super().__init__()
        self.pruner, self.pruned = pruner, False

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        if divergence(epoch, logs) is not None:
            return
        if self.pruner(row_of(epoch, logs)) and epoch + 1 < (self.params or {}).get("epochs", float("inf")):
            self.pruned = True
            self.model.stop_training = True


def callbacks(
    targets: list[Target], history: list[dict[str, float]], member: Member,
    events: tuple[Sink, str, str, int] | None, pruner: Pruner | None,
) -> list[keras.callbacks.Callback]:  # fmt: skip
    """One training's callbacks: those that stop it first (early stopping restores the best weights at the
    loop's end, before the Recorder completes the runs it stopped), then the Recorder, then the listeners."""
    config = targets[-1].config
    found: list[keras.callbacks.Callback] = [Divergence()]
    if config.early_stopping is not None:
        found.append(EarlyStopping(config.early_stopping, history, lambda: targets[-1].run.load_best(member.shapes())))
    found.append(Recorder(targets, history, member))
    if config.tensorboard:
        found.append(TensorBoardLogs([(t.config, t.run) for t in targets]))
    if events is not None:  # (sink, label, run, trials)
        found.append(Progress(*events))
    if pruner is not None:
        found.append(Pruning(pruner))
    return found
