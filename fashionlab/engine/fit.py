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
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fashionlab.config import Config, run_config
from fashionlab.engine.backend import device, versions
from fashionlab.engine.build import build_for_training
from fashionlab.engine.inputs import prepare_data
from fashionlab.engine.member import Member
from fashionlab.engine.outcomes import Diverged, Outcome, Pruner, RunStopped, TrainResult, completed
from fashionlab.engine.programs import population_key, program
from fashionlab.engine.tensorboard import require_tensorflow
from fashionlab.errors import Interrupted, RunError, signals_deferred
from fashionlab.events import RunEnded, Sink
from fashionlab.network import check_trainable
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
    # by config hash, each config's outcome as read back from the store so far (also after a signal)
    outcomes: dict[str, Outcome] = field(default_factory=dict, repr=False)
    failures: dict[str, BaseException] = field(default_factory=dict, repr=False)  # by run id: what raised

    @classmethod
    def of(cls, config: Config, runs: Path | str | RunStore, events: Sink | None = None) -> TrainPlan:
        return cls([config], runs if isinstance(runs, RunStore) else RunStore(Path(runs)), events)


def train(plan: TrainPlan) -> list[Outcome]:
    """Train the plan; per config (in its order), its result or the RunStopped that ended it (diverged,
    pruned, or failed with `cause`), read back from the store. Problems found before any run exists (data,
    backend, config) raise; a signal raises Interrupted, and `plan.outcomes` says what became of each config
    that started (by its hash)."""
    if plan.resume is not None:
        return [_resume(plan, plan.resume)]
    hashes = {c.hash() for c in plan.configs}
    plan.earlier = plan.runs.unfinished_by_hash(plan.runs.runs_with_hash(hashes)) if plan.continue_runs else {}
    with contextlib.ExitStack() as held:
        _hold_earlier(plan, held)
        members = _members(plan.configs)
        plan.outcomes.update(_saved(plan.configs, plan.earlier))
        todo = [left for m in members if (left := [c for c in m if c.hash() not in plan.outcomes])]
        if todo:
            _train(todo, plan)
    return [plan.outcomes[c.hash()] for c in plan.configs]


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
        _train([[config]], plan)
    return plan.outcomes[config.hash()]


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


def _train(members: list[list[Config]], plan: TrainPlan) -> None:
    """Build, restore and train `members` (one group, or a population); fills `plan.outcomes` by config
    hash, read back from the store after each part's loop (also when a signal stopped it)."""
    for member in members:
        check_trainable(member[-1])
    if any(m[-1].tensorboard for m in members):
        require_tensorflow()
    split = prepare_data(members[0][-1])
    built = [build_for_training(member[-1], len(split.x_train)) for member in members]
    models, fused = [model for model, _ in built], built[0][1]
    plan.runs.check_writable()
    loop = _loop(models, members[0][-1]) if fused else None
    trainings = [
        Member(model, split, member[-1], loop, k) for k, (member, model) in enumerate(zip(members, models, strict=True))
    ]
    start, histories = _restore(trainings, members, plan.earlier)
    info = {**_run_info(fused, plan.command), **({"population": len(members)} if len(members) > 1 else {})}
    targets = [_targets(plan, member, {**info, "seed": member[-1].seed}, start) for member in members]
    size = members_that_fit(models[0], members[0][-1].batch_size, split.x_train[0].size) if len(models) > 1 else 1
    for first in range(0, len(members), size):  # one population at a time where the device holds fewer
        part = slice(first, first + size)
        try:
            _fit(trainings[part], targets[part], histories[part], loop, plan, start, progress=first == 0)
            ended = [t.run for group in targets[part] for t in group]
        except Interrupted:
            for target in (t for group in targets[first + size :] for t in group):
                target.run.mark_interrupted()  # never started: their runs wait for a rerun
            raise
        finally:
            for target in (t for group in targets for t in group):
                found = _outcome(target.run, plan.failures.get(target.run.id))
                if target.config.hash() not in plan.outcomes and found is not None:
                    plan.outcomes[target.config.hash()] = found
        if plan.events is not None:
            for run in ended:
                plan.events.emit(RunEnded(plan.label, run.id, str(read_run(run.path).status)))


def _fit(
    members: list[Member], targets: list[list[Any]], histories: list[list[Any]], loop: Any, plan: TrainPlan,
    start: int, progress: bool,
) -> None:  # fmt: skip
    """The epochs of one population (one model, or several on the fused loop) with their callbacks; on every
    exit each run it feeds is left completed, or marked with why not."""
    import keras

    from fashionlab.engine.callbacks import EarlyStopping, Pruning, Recorder, TensorBoardLogs, callbacks

    lists = []
    for k, (member, group, history) in enumerate(zip(members, targets, histories, strict=True)):
        sink = plan.events if progress and k == 0 else None  # every member runs every epoch with the first
        events = (sink, plan.label, group[-1].run.id, len(plan.configs) or 1) if sink is not None else None
        lists.append(callbacks(group, history, member, events, plan.pruner))
    longest = members[0].config
    epochs = max(m.config.epochs for m in members)
    steps = -(-len(members[0].split.x_train) // longest.batch_size)
    split = members[0].split
    try:
        if loop is not None:
            hosted = [keras.callbacks.CallbackList(cb, model=m.model, epochs=epochs, steps=steps, verbose=0)
                      for cb, m in zip(lists, members, strict=True)]  # fmt: skip
            seeds = [m.config.seed for m in members]
            loop.fit(split.x_train, split.y_train, split.validation, [m.config.epochs for m in members], seeds,
                     hosted, start)  # fmt: skip
        else:
            members[0].model.fit(
                split.x_train, split.y_train, validation_data=split.validation, epochs=longest.epochs,
                initial_epoch=start, batch_size=longest.batch_size, verbose=0, callbacks=lists[0],
            )  # fmt: skip
    except KeyboardInterrupt as exc:
        for found in lists:
            _of(found, Recorder).interrupted()
        raise Interrupted(getattr(exc, "signum", signal.SIGINT)) from None
    except Exception as exc:
        for found in lists:
            _of(found, Recorder).failed(exc)
        plan.failures.update({t.run.id: exc for group in targets for t in group})
    else:
        with signals_deferred():  # the runs an early stop or a pruner ended are recorded whole
            for found in lists:
                early, pruning = _of(found, EarlyStopping), _of(found, Pruning)
                stopped = early.stopped_at if early is not None else None
                _of(found, Recorder).close(stopped, pruning is not None and pruning.pruned)
    finally:
        for found in lists:
            if (board := _of(found, TensorBoardLogs)) is not None:
                board.close()


def _of(found: list[Any], kind: type) -> Any:
    """The callback of this kind among one training's, or None."""
    return next((c for c in found if isinstance(c, kind)), None)


def _outcome(run: Run, cause: BaseException | None = None) -> Outcome | None:
    """What became of a run, read back from the store: its result, or why it stopped (None: still running)."""
    now = read_run(run.path)
    status = now.status
    if status == RunStatus.COMPLETED:
        metrics = now.saved_metrics()
        return TrainResult(now, metrics.get("summary", {}), metrics.get("test", {}))
    error = now.info.error or ""
    if status == RunStatus.DIVERGED:
        message = (f"run {run.id} diverged: {error}; lower the learning rate (e.g. lr=0.001) or use an adaptive "
                   "optimizer such as adam")  # fmt: skip
        return Diverged(message, run.id, status)
    if status == RunStatus.PRUNED:
        return RunStopped(f"run {run.id} was pruned", run.id, status)
    if status == RunStatus.INTERRUPTED:
        return RunStopped(f"run {run.id} was interrupted after epoch {len(now.history())}", run.id, status)
    if status == RunStatus.FAILED:
        return RunStopped(f"run {run.id} failed: {error}", run.id, status, cause=cause)
    return None


def _restore(models: list[Member], members: list[list[Config]], earlier: dict[str, Run]) -> tuple[int, list[list[Any]]]:
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
        variables = model.state_variables()
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
