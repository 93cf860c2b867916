"""Training: data in, run directories out. One builder, `train(plan)`, for every way a run is trained.

A plan names configs of one group (they differ only in `epochs`: one training to the largest feeds a
run per config, each identical to a separate training with the same seed) or of one population (groups
of one program, trained together by one vmapped loop, engine/loop.py). `continue_runs` (a rerun of a
sweep or search) continues a config's interrupted or failed run in place; `resume` continues one run.

The training itself is a Keras-style loop (keras.fit, or the fused loop on JAX) hosting the callbacks of
engine/callbacks.py: history, divergence, TensorBoard, best weights and early stopping, completion,
checkpoint, progress, pruning. `train` returns each config's outcome; drawing curves is the caller's.
"""

from __future__ import annotations

import contextlib
import functools
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fashionlab.config import Config, run_config
from fashionlab.engine.backend import device, versions
from fashionlab.engine.best import Weights
from fashionlab.engine.build import build_for_training
from fashionlab.engine.inputs import Split, prepare_data
from fashionlab.engine.outcomes import Outcome, Pruner, RunStopped, TrainResult, completed
from fashionlab.engine.probes import DEAD_UNIT_IMAGES, dead_units
from fashionlab.engine.programs import population_key, program
from fashionlab.engine.tensorboard import require_tensorflow
from fashionlab.errors import Interrupted, RunError
from fashionlab.events import Sink
from fashionlab.network import check_trainable, output_kind
from fashionlab.store import Run, RunStatus, RunStore, read_run

__all__ = ["RunStopped", "TrainPlan", "completed", "train"]


@dataclass
class TrainPlan:
    """What one training is: its configs, the runs folder, who listens, and which earlier runs it continues."""

    configs: list[Config]
    runs: RunStore
    events: Sink | None = None  # who listens to its stream (the first member's, in a population)
    label: str = "run"  # names the training in its events (a sweep's group: g0, g1, ...)
    pruner: Pruner | None = None  # a search's: asked after each epoch
    command: str | None = None  # the launching command line, for a trial trained elsewhere
    continue_runs: bool = False  # continue each config's interrupted or failed run, if it has one
    resume: Run | None = None  # continue this interrupted or failed run (its own config)
    earlier: dict[str, Run] = field(default_factory=dict, repr=False)  # by config hash: what is continued

    @classmethod
    def of(cls, config: Config, runs: Path | str | RunStore, events: Sink | None = None) -> TrainPlan:
        return cls([config], runs if isinstance(runs, RunStore) else RunStore(Path(runs)), events)


def train(plan: TrainPlan) -> list[Outcome]:
    """Train the plan; per config (in its order), its result or the RunStopped that ended it (diverged,
    pruned, or failed with `cause`). Problems found before any run exists (data, backend, config) raise;
    a signal raises Interrupted, whose `outcomes` say what became of each config (None: never started)."""
    if plan.resume is not None:
        return [_resume(plan, plan.resume)]
    hashes = {c.hash() for c in plan.configs}
    plan.earlier = plan.runs.unfinished_by_hash(plan.runs.runs_with_hash(hashes)) if plan.continue_runs else {}
    with contextlib.ExitStack() as held:
        _hold_earlier(plan, held)
        members = _members(plan.configs)
        outcomes = _saved(plan.configs, plan.earlier)
        todo = [left for m in members if (left := [c for c in m if c.hash() not in outcomes])]
        try:
            if todo:
                _train(todo, plan, outcomes)
        except Interrupted as stop:
            stop.outcomes = [outcomes.get(c.hash()) for c in plan.configs]
            raise
    return [outcomes[c.hash()] for c in plan.configs]


def _hold_earlier(plan: TrainPlan, held: contextlib.ExitStack) -> None:
    """Take the lock of every earlier run the plan continues (the lock `train --resume` takes: one writer
    per run), waiting for a resume that holds one; a run that was finished meanwhile is not continued."""
    for key, run in sorted(plan.earlier.items()):
        held.enter_context(plan.runs.exclusive(f"run-{run.id}", f"run {run.id}", wait=True))
        now = read_run(run.path)
        if now.status in (RunStatus.INTERRUPTED, RunStatus.FAILED) or now.training_saved:
            plan.earlier[key] = now  # completed by a resume while this waited: taken as it is
        else:
            del plan.earlier[key]


def _members(configs: list[Config]) -> list[list[Config]]:
    """The plan's trainings: its configs by group (differing only in epochs), each sorted by epochs."""
    groups: dict[str, list[Config]] = {}
    for config in configs:
        groups.setdefault(config.group_key(), []).append(config)
    if len(groups) > 1 and (len({population_key(c) for c in configs}) != 1 or population_key(configs[0]) is None):
        raise ValueError("a training needs configs that differ only in epochs, or of one population (JAX's fused loop)")
    return [sorted(g, key=lambda c: c.epochs) for g in groups.values()]


def _resume(plan: TrainPlan, run: Run) -> Outcome:
    """Continue an interrupted or failed run from its last finished epoch.

    With the fused loop (the default on JAX) the result is identical to a run that was never
    interrupted: the weights, optimizer state and random state come back from the epoch's checkpoint and
    each epoch's shuffle depends only on the seed and the epoch number.
    """
    if run.status in (RunStatus.COMPLETED, RunStatus.RUNNING):
        what = "completed" if run.status == RunStatus.COMPLETED else "still running (its process is alive)"
        raise RunError(f"run {run.id} is {what}; only interrupted or failed runs can be resumed")
    config = run_config(run)
    if run.info.shared_training:
        raise RunError(f"run {run.id} was trained in a sweep with others; rerun the sweep to finish it")
    plan.earlier = {config.hash(): run}
    if run.training_saved:
        return _completed(run)
    run.checkpoint_epoch()  # a checkpoint that is not this run's is refused before anything is written
    with plan.runs.exclusive(f"run-{run.id}", f"run {run.id}"):  # two --resume never share it
        if read_run(run.path).status == RunStatus.COMPLETED:
            raise RunError(f"run {run.id} is completed; only interrupted or failed runs can be resumed")
        outcomes: dict[str, Outcome] = {}
        _train([[config]], plan, outcomes)
    return outcomes[config.hash()]


def _saved(configs: list[Config], earlier: dict[str, Run]) -> dict[str, Outcome]:
    """By config hash, the earlier runs that saved their model and metrics before their process died,
    now marked completed: these configs are not trained again."""
    found = [c for c in configs if c.hash() in earlier and earlier[c.hash()].training_saved]
    return {c.hash(): _completed(earlier[c.hash()]) for c in found}


def _completed(run: Run) -> TrainResult:
    """A run whose model and metrics were saved before its process died: completed, not trained again."""
    metrics = run.saved_metrics()
    if run.status != RunStatus.COMPLETED:
        run.mark_completed(metrics)
    return TrainResult(run, metrics.get("summary", {}), metrics["test"])


def _train(members: list[list[Config]], plan: TrainPlan, outcomes: dict[str, Outcome]) -> None:
    """Build, restore and train `members` (one group, or a population); fills `outcomes` by config hash,
    also when interrupted."""
    for member in members:
        check_trainable(member[-1])
    if any(m[-1].tensorboard for m in members):
        require_tensorflow()
    split = prepare_data(members[0][-1])
    built = [build_for_training(member[-1], len(split.x_train)) for member in members]
    models, fused = [model for model, _ in built], built[0][1]
    plan.runs.check_writable()
    start, histories = _restore(models, members, plan.earlier)
    from fashionlab.engine.callbacks import Training  # Keras's callbacks: once the backend is chosen

    info = {**_run_info(fused, plan.command), **({"population": len(members)} if len(members) > 1 else {})}
    trainings = [
        Training(_targets(plan, member, {**info, "seed": member[-1].seed}, start), list(history), model_weights(model))
        for member, model, history in zip(members, models, histories, strict=True)
    ]
    size = members_that_fit(models[0], members[0][-1].batch_size, split.x_train[0].size) if len(models) > 1 else 1
    for first in range(0, len(members), size):  # one population at a time where the device holds fewer
        part = slice(first, first + size)
        try:
            got = _fit(trainings[part], models[part], fused, split, plan, start, progress=first == 0)
        except Interrupted as stop:
            got = [*(stop.outcomes or []), *(o for t in trainings[first + size :] for o in t.interrupted())]
            _by_config(trainings, got, outcomes)
            raise
        _by_config(trainings[part], got, outcomes)


def _fit(
    trainings: list[Any], models: list[Any], fused: bool, split: Split, plan: TrainPlan, start: int, progress: bool
) -> list[Outcome]:
    """The epochs of one population (one model, or several on the fused loop) with their callbacks; every
    exit gives outcomes."""
    import keras

    from fashionlab.engine.callbacks import TensorBoardLogs, callbacks

    longest = trainings[0].longest.config
    loop = _loop(models, longest) if fused else None
    lists = []
    for k, (training, model) in enumerate(zip(trainings, models, strict=True)):
        sink = plan.events if progress and k == 0 else None  # every member runs every epoch with the first
        found = callbacks(
            training, _finisher(model, k, loop, split, longest), functools.partial(_state_arrays, model),
            (sink, plan.label, len(plan.configs) or 1) if sink is not None else None,
            plan.pruner,
            training.longest.config.tensorboard,
        )  # fmt: skip
        lists.append(found)
    epochs = max(t.longest.config.epochs for t in trainings)
    steps = -(-len(split.x_train) // longest.batch_size)
    try:
        if loop is not None:
            hosted = [keras.callbacks.CallbackList(cb, model=m, epochs=epochs, steps=steps, verbose=0)
                      for cb, m in zip(lists, models, strict=True)]  # fmt: skip
            seeds = [t.longest.config.seed for t in trainings]
            loop.fit(split.x_train, split.y_train, split.validation, [t.longest.config.epochs for t in trainings],
                     seeds, hosted, start)  # fmt: skip
        else:
            models[0].fit(
                split.x_train, split.y_train, validation_data=split.validation, epochs=longest.epochs,
                initial_epoch=start, batch_size=longest.batch_size, verbose=0, callbacks=lists[0],
            )  # fmt: skip
    except KeyboardInterrupt as exc:
        stopped = [o for t in trainings for o in t.interrupted()]
        raise Interrupted(getattr(exc, "signum", signal.SIGINT), stopped) from None
    except Exception as exc:
        return [o for t in trainings for o in t.failed(exc)]
    finally:
        for found in lists:
            for callback in found:
                if isinstance(callback, TensorBoardLogs):
                    callback.close()
    return [o for found in lists for o in found[-1].outcomes]


def _restore(models: list[Any], members: list[list[Config]], earlier: dict[str, Run]) -> tuple[int, list[list[Any]]]:
    """The epoch every member's earlier run was checkpointed at, each member's training state restored and
    its history to then; (0, empty histories) unless all have one at the same epoch, before any run of the
    plan needs to end (then training starts over)."""
    runs = [earlier.get(member[-1].hash()) for member in members]
    done = {run.checkpoint_epoch() if run is not None else 0 for run in runs}
    shortest = min(c.epochs for member in members for c in member)
    start = done.pop() if len(done) == 1 else 0
    if not 0 < start < shortest or any(run is None or len(run.history()) < start for run in runs):
        return 0, [[] for _ in members]
    for model, run in zip(models, runs, strict=True):
        assert run is not None
        variables = _state_variables(model)
        for variable, array in zip(variables, run.load_checkpoint([tuple(v.shape) for v in variables]), strict=True):
            variable.assign(array)
    return start, [run.history()[:start] for run in runs if run is not None]


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


def _targets(plan: TrainPlan, group: list[Config], info: dict[str, Any], start: int) -> list[Any]:
    """The runs one training feeds (configs that differ only in epochs): each config's earlier run
    reopened at `start`, else a new one; runs fed by one training name each other."""
    from fashionlab.engine.callbacks import Target

    targets = []
    for config in group:
        run = plan.earlier.get(config.hash())
        if run is not None:
            run.reopen(start)
        else:
            run = plan.runs.create(config.name, config.hash(), config.to_yaml(), {**info, "config": config.resolved()})
        targets.append(Target(config, run))
    if len(targets) > 1:
        for target in targets:
            target.run.record_shared_training([t.run.id for t in targets if t is not target])
    return targets


def _by_config(trainings: list[Any], got: list[Outcome], outcomes: dict[str, Outcome]) -> None:
    """A population's outcomes (in any order) by their configs' hashes."""
    by_run = {(o.run.id if isinstance(o, TrainResult) else o.run_id): o for o in got}
    for training in trainings:
        for target in training.targets:
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


def _loop(models: list[Any], config: Config) -> Any:
    """The fused loop for `models`, reusing compiled steps of an earlier trial of the same program."""
    from fashionlab.engine.loop import Loop

    return Loop(models, config.batch_size, program=program(config))


def _finisher(model: Any, k: int, loop: Any, split: Split, config: Config) -> Any:
    """What finishing a run needs from Keras: its test metrics, the saved model, the per-image test evidence,
    and the two checks the results rest on (the best epoch's model tested, dead ReLU units counted)."""
    from fashionlab.engine.callbacks import Finisher, Target
    from fashionlab.engine.images import model_images, outputs

    def evaluate() -> dict[str, float]:
        if loop is not None:
            scores = loop.evaluate(k, split.x_test, split.y_test_model)
        else:
            scores = model.evaluate(split.x_test, split.y_test_model, batch_size=256, verbose=0, return_dict=True)
        return {"loss": float(scores["loss"]), "accuracy": float(scores["accuracy"])}

    def finish(target: Target) -> dict[str, float]:
        test = evaluate()
        with target.run.writing_model() as path:
            model.save(path)
        return test

    def images(epoch: int) -> Any:
        return model_images(outputs(model, loop, k, split.x_test), split.y_test, output_kind(config), epoch)

    return Finisher(finish, evaluate, lambda: dead_units(model, split.x_train[:DEAD_UNIT_IMAGES]), images)


def _state_variables(model: Any) -> list[Any]:
    """Everything training changes: weights, non-trainable state (incl. RNG seeds), optimizer slots."""
    return [*model.trainable_variables, *model.non_trainable_variables, *model.optimizer.variables]


def _state_arrays(model: Any) -> list[Any]:
    return [np.asarray(v.value) for v in _state_variables(model)]


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
