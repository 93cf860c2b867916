"""Training: data in, run directories out. Prepare data, build the model, train, evaluate, save.

`train` trains one config into a new run; `train_group` trains configs that differ only in `epochs`
with one training to the largest of them (each still gets its own run, identical to a separate
`train`); `resume` continues an interrupted run from its last checkpoint.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import numpy as np

from fashionlab.config import Config, Source, validate
from fashionlab.engine.backend import device, versions
from fashionlab.engine.best import Weights
from fashionlab.engine.build import build_for_training
from fashionlab.engine.inputs import Split, prepare_data
from fashionlab.engine.probes import DEAD_UNIT_IMAGES, dead_units
from fashionlab.engine.programs import population_key, program
from fashionlab.engine.recorder import (
    Diverged,
    Finisher,
    NoHooks,
    Outcome,
    Pruner,
    RunRecorder,
    RunStopped,
    Target,
    TrainingHooks,
    TrainResult,
    save_curves,
)
from fashionlab.engine.tensorboard import TensorBoardLogs, require_tensorflow
from fashionlab.errors import Interrupted, RunError, StorageError, raise_if_stopped
from fashionlab.network import check_trainable
from fashionlab.store import Run, RunStatus, RunStore, read_run

__all__ = ["Diverged", "RunStopped", "TrainResult", "resume", "train", "train_group"]


def train(config: Config, runs_dir: Path | RunStore, hooks: TrainingHooks | None = None) -> TrainResult:
    """Train `config` into a new run directory and return its summary and test metrics."""
    (outcome,) = train_group([config], runs_dir, hooks)
    return _raise_unless_completed(outcome)


def train_group(
    configs: list[Config],
    runs_dir: Path | RunStore,
    hooks: TrainingHooks | None = None,
    pruner: Pruner | None = None,
    command: str | None = None,
    continue_runs: bool = False,
) -> list[Outcome]:
    """Train configs that differ only in `epochs` with one training to the largest of them.

    Each config gets its own run directory, identical to a separate `train` with the same seed: its
    history stops at its own epochs and its model and test metrics are taken at that epoch. Returns,
    per config, its result or the RunStopped that ended it (diverged, pruned, or failed with `cause`).
    Problems found before any run exists (data, backend, config) are raised.

    `continue_runs` (a rerun of a sweep or search): a config with an interrupted or failed run continues
    in that run, from the longest run's last checkpoint, and one whose model and metrics were saved
    before its process died is marked completed, not trained again.
    """
    store = runs_dir if isinstance(runs_dir, RunStore) else RunStore(runs_dir)
    if len({c.group_key() for c in configs}) != 1:
        raise ValueError("train_group needs configs that differ only in epochs")
    earlier = store.unfinished_by_hash() if continue_runs else {}
    outcomes = _saved(configs, earlier)
    todo = sorted((c for c in configs if c.hash() not in outcomes), key=lambda c: c.epochs)
    try:
        trained = _train_todo(todo, store, hooks, pruner, command, earlier) if todo else []
    except Interrupted as stop:  # what became of each config so far, in their order (None: never started)
        outcomes.update({c.hash(): o for c, o in zip(todo, stop.outcomes or [], strict=False)})
        stop.outcomes = [outcomes.get(c.hash()) for c in configs]
        raise
    outcomes.update({c.hash(): o for c, o in zip(todo, trained, strict=True)})
    return [outcomes[c.hash()] for c in configs]


def train_population(
    configs: list[Config], runs_dir: Path | RunStore, hooks: TrainingHooks | None = None, command: str | None = None,
    continue_runs: bool = False,
) -> list[Outcome]:  # fmt: skip
    """Train configs of one population key (engine/programs.py) together, one vmapped program. Configs
    that differ only in epochs share one member (the shared-prefix rule holds); every config gets its own
    run, as a separate `train` would give it. Outcomes come back in the order of `configs`.

    `continue_runs`: as train_group's; an interrupted population continues from its members' common
    checkpoint epoch, each member in its own runs.
    """
    store = runs_dir if isinstance(runs_dir, RunStore) else RunStore(runs_dir)
    if len({population_key(c) for c in configs}) != 1 or population_key(configs[0]) is None:
        raise ValueError("train_population needs configs of one program on the same data, on JAX's fused loop")
    earlier = store.unfinished_by_hash() if continue_runs else {}
    outcomes = _saved(configs, earlier)
    todo = [c for c in configs if c.hash() not in outcomes]
    try:
        if todo:
            _train_population(todo, store, hooks, command, earlier, outcomes)
    except Interrupted as stop:
        stop.outcomes = [outcomes.get(c.hash()) for c in configs]
        raise
    return [outcomes[c.hash()] for c in configs]


def _train_population(
    todo: list[Config], store: RunStore, hooks: TrainingHooks | None, command: str | None, earlier: dict[str, Run],
    outcomes: dict[str, Outcome],
) -> None:  # fmt: skip
    """The training of train_population; fills `outcomes` by config hash, also when interrupted."""
    from fashionlab.engine.population import train_members

    groups: dict[str, list[Config]] = {}
    for config in todo:
        groups.setdefault(config.group_key(), []).append(config)
    members = [sorted(g, key=lambda c: c.epochs) for g in groups.values()]
    for group in members:
        check_trainable(group[-1])
    split = prepare_data(todo[0])
    models = [build_for_training(group[-1], len(split.x_train))[0] for group in members]
    store.check_writable()
    extra = {**_run_info(True, command), "population": len(members)}
    start, histories = _restore_population(models, members, earlier)
    recorders = []
    for k, (group, model) in enumerate(zip(members, models, strict=True)):
        targets = _targets(store, group, {**extra, "seed": group[-1].seed}, earlier, start)
        finish = _finisher(model, split, _loop(model, group[-1], True))
        recorders.append(RunRecorder(
            targets, (hooks or NoHooks()) if k == 0 else NoHooks(), finish, _checkpointer(model), None,
            histories[k], model_weights(model), _draw_curves,
        ))  # fmt: skip  # progress follows the first member: every member runs every epoch with it
    steps = -(-len(split.x_train) // todo[0].batch_size)
    recorders[0].hooks.start(recorders[0].targets[-1].run.id, max(c.epochs for c in todo), steps)
    size = members_that_fit(models[0], todo[0].batch_size, split.x_train[0].size)
    for first in range(0, len(members), size):  # one population at a time where the device holds fewer
        part = slice(first, first + size)
        try:
            got = train_members([g[-1] for g in members[part]], models[part], split, recorders[part], start)
        except Interrupted as stop:
            got = [*(stop.outcomes or []), *(o for r in recorders[first + size :] for o in r.interrupted())]
            _by_config(recorders, got, outcomes)
            raise
        _by_config(recorders[part], got, outcomes)


def _restore_population(
    models: list[Any], members: list[list[Config]], earlier: dict[str, Run]
) -> tuple[int, list[list[dict[str, float]]]]:
    """The epoch every member's earlier run was checkpointed at, with each member's state restored and its
    history to then; (0, empty histories) unless all members have one and it is the same epoch."""
    runs = [earlier.get(group[-1].hash()) for group in members]
    epochs = {run.checkpoint_epoch() if run is not None else 0 for run in runs}
    shortest = min(c.epochs for group in members for c in group)
    if len(epochs) != 1 or not 0 < min(epochs) < shortest:
        return 0, [[] for _ in members]
    restored = [_restore(model, run, shortest) for model, run in zip(models, runs, strict=True)]
    return restored[0][0], [history for _, history in restored]


def _run_info(fused: bool, command: str | None) -> dict[str, Any]:
    """What run.json says of how a run was trained (backend, device, loop, versions, the command)."""
    found = versions()
    return {
        "backend": found["backend"],
        "device": device(),
        "loop": "fused" if fused else "keras.fit",
        "versions": found,
        **({"command": command} if command else {}),  # the launcher's command line, for a trial run elsewhere
    }


def _targets(
    store: RunStore, group: list[Config], extra: dict[str, Any], earlier: dict[str, Run], start: int
) -> list[Target]:
    """The runs one training feeds (configs that differ only in epochs): each config's earlier run
    reopened at `start`, else a new one; runs fed by one training name each other."""
    targets = []
    for config in group:
        run = earlier.get(config.hash())
        if run is not None:
            run.reopen(start)
        else:
            run = store.create(config.name, config.hash(), config.to_yaml(), {**extra, "config": config.resolved()})
        targets.append(Target(config, run))
    if len(targets) > 1:
        for target in targets:
            target.run.update(shared_training=[t.run.id for t in targets if t is not target])
    return targets


def _by_config(recorders: list[RunRecorder], got: list[Outcome], outcomes: dict[str, Outcome]) -> None:
    """A population's outcomes (in any order) by their configs' hashes."""
    by_run = {(o.run.id if isinstance(o, TrainResult) else o.run_id): o for o in got}
    for recorder in recorders:
        for target in recorder.targets:
            if target.run.id in by_run:
                outcomes[target.config.hash()] = by_run[target.run.id]


def members_that_fit(model: Any, batch_size: int, input_size: int) -> int:
    """How many members one population may hold on this device: its memory (where JAX reports it; a GPU
    does, a CPU does not) over a member's estimated need, with a margin. Never an out-of-memory crash:
    a population of more members trains in several parts."""
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    limit = stats.get("bytes_limit")
    if not limit:
        return 1_000_000
    params = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    slots = len(model.optimizer.variables) / max(1, len(model.trainable_variables))
    activations = batch_size * (input_size + sum(int(np.prod(layer.output.shape[1:])) for layer in model.layers))
    per_member = 4 * (params * (2 + slots) + 3 * activations)  # float32 weights, gradients, slots; activations
    return max(1, int(0.5 * (limit - stats.get("bytes_in_use", 0)) // per_member))


def _saved(configs: list[Config], earlier: dict[str, Run]) -> dict[str, Outcome]:
    """By config hash, the earlier runs that saved their model and metrics before their process died,
    now marked completed: these configs are not trained again."""
    found = [c for c in configs if c.hash() in earlier and earlier[c.hash()].training_saved]
    return {c.hash(): _completed(earlier[c.hash()]) for c in found}


def _completed(run: Run) -> TrainResult:
    """A run whose model and metrics were saved before its process died: completed, not trained again."""
    metrics = run.saved_metrics()
    run.mark_completed(metrics)
    save_curves(run, _draw_curves)
    return TrainResult(run, metrics.get("summary", {}), metrics["test"])


def _train_todo(
    todo: list[Config], store: RunStore, hooks: TrainingHooks | None, pruner: Pruner | None, command: str | None,
    earlier: dict[str, Run],
) -> list[Outcome]:  # fmt: skip
    """One training for `todo` (sorted by epochs), continuing earlier runs of theirs where there are some."""
    longest = todo[-1]
    check_trainable(longest)
    if longest.tensorboard:
        require_tensorflow()
    split = prepare_data(longest)
    model, fused = build_for_training(longest, len(split.x_train))
    extra = {**_run_info(fused, command), "seed": longest.seed}
    store.check_writable()
    start, history = _restore(model, earlier.get(longest.hash()), todo[0].epochs)
    targets = _targets(store, todo, extra, earlier, start)
    recorder = RunRecorder(
        targets, hooks or NoHooks(), _finisher(model, split, loop := _loop(model, longest, fused)),
        _checkpointer(model), pruner, history,
        model_weights(model), _draw_curves,
    )  # fmt: skip
    return _fit(longest, split, model, loop, recorder)


def _restore(model: Any, run: Run | None, shortest: int) -> tuple[int, list[dict[str, float]]]:
    """The training state of `run`'s last checkpoint into `model`: (its epoch, the history to it).

    Used only where no run of the group needs an epoch before it (`shortest`); else training starts over.
    """
    done = run.checkpoint_epoch() if run is not None else 0
    if run is None or not 0 < done < shortest or len(run.history()) < done:
        return 0, []
    _load_checkpoint(model, run)
    return done, run.history()[:done]


def _load_checkpoint(model: Any, run: Run) -> None:
    """The training state of `run`'s checkpoint into `model`'s variables."""
    variables = _state_variables(model)
    for variable, array in zip(variables, run.load_checkpoint([tuple(v.shape) for v in variables]), strict=True):
        variable.assign(array)


def resume(run: Run, hooks: TrainingHooks | None = None) -> TrainResult:
    """Continue an interrupted or failed run from its last finished epoch.

    With the fused loop (the default on JAX) the result is identical to a run that was never
    interrupted: the weights, optimizer state and random state come back from the epoch's checkpoint and
    each epoch's shuffle depends only on the seed and the epoch number.
    """
    if run.status in (RunStatus.COMPLETED, RunStatus.RUNNING):
        what = "completed" if run.status == RunStatus.COMPLETED else "still running (its process is alive)"
        raise RunError(f"run {run.id} is {what}; only interrupted or failed runs can be resumed")
    config = validate(run.config(), Source(str(run.config_path), {}))
    if run.info.get("shared_training"):
        raise RunError(f"run {run.id} was trained in a sweep with others; rerun the sweep to finish it")
    if run.training_saved:
        return _completed(run)
    check_trainable(config)
    if config.tensorboard:
        require_tensorflow()
    split = prepare_data(config)
    model, fused = build_for_training(config, len(split.x_train))
    done = run.checkpoint_epoch()
    with RunStore(run.path.parent).exclusive(f"run-{run.id}", f"run {run.id}"):  # two --resume never share it
        if read_run(run.path).status == RunStatus.COMPLETED:
            raise RunError(f"run {run.id} is completed; only interrupted or failed runs can be resumed")
        if done:
            _load_checkpoint(model, run)
        history = run.reopen(done)
        target = Target(config, run)
        recorder = RunRecorder(
            [target], hooks or NoHooks(), _finisher(model, split, loop := _loop(model, config, fused)),
            _checkpointer(model), None, history,
            model_weights(model), _draw_curves,
        )  # fmt: skip
        (outcome,) = _fit(config, split, model, loop, recorder)
    return _raise_unless_completed(outcome)


def _raise_unless_completed(outcome: Outcome) -> TrainResult:
    if isinstance(outcome, TrainResult):
        return outcome
    cause = outcome.cause
    if isinstance(cause, OSError):
        raise StorageError(f"run {outcome.run_id} failed: cannot write to its directory ({cause})") from cause
    if cause is not None:
        raise cause
    raise outcome


def _loop(model: Any, config: Config, fused: bool) -> Any:
    """The fused loop for `model` (None for keras.fit), reusing compiled steps of an earlier trial of the
    same program in this process."""
    if not fused:
        return None
    from fashionlab.engine.fused import FusedLoop

    return FusedLoop(model, config.batch_size, program=program(config))


def _fit(longest: Config, split: Split, model: Any, loop: Any, recorder: RunRecorder) -> list[Outcome]:
    """Run the epochs (fused loop or keras.fit) with the recorder listening; every exit gives outcomes."""
    callbacks = [_keras_callback(recorder)]
    if longest.tensorboard:
        recorder.tensorboard = TensorBoardLogs([(t.config, t.run) for t in recorder.targets])
    initial_epoch = len(recorder.rows)
    recorder.hooks.start(recorder.targets[-1].run.id, longest.epochs, -(-len(split.x_train) // longest.batch_size))
    try:
        if loop is not None:
            loop.fit(
                split.x_train, split.y_train, split.validation, longest.epochs, longest.seed, callbacks, initial_epoch
            )
        else:
            model.fit(
                split.x_train, split.y_train, validation_data=split.validation, epochs=longest.epochs,
                initial_epoch=initial_epoch, batch_size=longest.batch_size, verbose=0, callbacks=callbacks,
            )  # fmt: skip
    except KeyboardInterrupt as exc:
        outcomes = recorder.interrupted()
        raise Interrupted(getattr(exc, "signum", signal.SIGINT), outcomes) from None
    except Exception as exc:
        return recorder.failed(exc)
    finally:
        if recorder.tensorboard is not None:
            recorder.tensorboard.close()
    return recorder.ended()


def _keras_callback(recorder: RunRecorder) -> Any:
    """A Keras callback that hands each batch and epoch to the recorder and stops when it says so."""
    import keras

    class Reporter(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            raise_if_stopped()
            self.started = time.perf_counter()
            self.epoch_index = epoch

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            raise_if_stopped()
            recorder.hooks.batch(self.epoch_index, batch + 1, {k: float(v) for k, v in (logs or {}).items()})

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            row: dict[str, float] = {"epoch": epoch + 1}
            row.update({k: float(v) for k, v in (logs or {}).items()})
            row["seconds"] = round(time.perf_counter() - self.started, 4)
            if recorder.epoch_end(row):
                self.model.stop_training = True

    return Reporter()


def _finisher(model: Any, split: Split, loop: Any) -> Finisher:
    """What finishing a run needs from Keras: its test metrics, the saved model, and the two checks the
    results rest on (the best epoch's model tested, dead ReLU units counted)."""

    def evaluate() -> dict[str, float]:
        if loop is not None:
            scores = loop.evaluate(split.x_test, split.y_test_model)
        else:
            scores = model.evaluate(split.x_test, split.y_test_model, batch_size=256, verbose=0, return_dict=True)
        return {"loss": float(scores["loss"]), "accuracy": float(scores["accuracy"])}

    def finish(target: Target) -> dict[str, float]:
        test = evaluate()
        with target.run.writing_model() as path:
            model.save(path)
        return test

    return Finisher(finish, evaluate, lambda: dead_units(model, split.x_train[:DEAD_UNIT_IMAGES]))


def _draw_curves(run: Run) -> bytes:
    """curves.png of a run whose history is final."""
    from fashionlab.views import plots

    return plots.curves_png([run])


def _state_variables(model: Any) -> list[Any]:
    """Everything training changes: weights, non-trainable state (incl. RNG seeds), optimizer slots."""
    return [*model.trainable_variables, *model.non_trainable_variables, *model.optimizer.variables]


def model_weights(model: Any) -> Weights:
    """The model's own variables (weights and non-trainable state, not the optimizer's) as arrays."""

    def variables() -> list[Any]:
        return [*model.trainable_variables, *model.non_trainable_variables]

    def restore(arrays: list[Any]) -> None:
        for variable, array in zip(variables(), arrays, strict=True):
            variable.assign(array)

    return Weights(
        snapshot=lambda: [np.array(v.value) for v in variables()],
        restore=restore,
        shapes=lambda: [tuple(v.shape) for v in variables()],
    )


def _checkpointer(model: Any) -> Any:
    def checkpoint(run: Run, epoch: int) -> None:
        run.save_checkpoint([np.asarray(v.value) for v in _state_variables(model)], epoch)

    return checkpoint
