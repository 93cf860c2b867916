"""Training one group of a sweep's trials (those that differ only in epochs), wherever it runs: in the
sweep's process, a worker process or a Ray task. Its progress travels as fashionlab.events, emitted by
the engine straight into the sink it is given.
"""

from __future__ import annotations

import contextlib
import traceback
from typing import TYPE_CHECKING, Any

from fashionlab.config import Config, Source, identity_hash, validate
from fashionlab.errors import FashionlabError, Interrupted
from fashionlab.events import Sink
from fashionlab.store import RunStatus, RunStore, TrialOutcome

if TYPE_CHECKING:
    from fashionlab.engine.outcomes import Pruner


def run_group(
    config_dicts: list[dict[str, Any]], runs_dir: str, label: str, sink: Sink | None, log_id: str,
    command: str | None = None, pruner: Pruner | None = None,
) -> list[TrialOutcome]:  # fmt: skip
    """Train one group of trials (in this process or a worker); each trial's outcome, never an exception
    but a signal (Interrupted, carrying the outcomes of the trials that had started).

    The group's locks are held throughout; a config with an interrupted or failed earlier run continues in
    it (a rerun of an interrupted sweep). `sink` takes the training's events (None: nobody listens);
    `log_id` names the folder for the log of a training that fails before its runs exist.
    """
    from fashionlab.engine.fit import TrainPlan, train

    store = RunStore(runs_dir)
    configs = [validate(d, Source(None, {})) for d in config_dicts]
    with contextlib.ExitStack() as locks:  # a population holds several groups: each locked, in one order
        for key in sorted({c.group_key() for c in configs}):
            locks.enter_context(store.lock(key))
        # Another sweep may have trained (some of) these while this one waited for the lock: their runs
        # are read (only those whose ids name these configs), not the whole folder.
        done = store.completed_by_hash(identity_hash, store.runs_with_hash({c.hash() for c in configs}))
        outcomes = [TrialOutcome(c.hash(), RunStatus.COMPLETED, done[c.hash()].id, skipped=True) for c in configs
                    if c.hash() in done]  # fmt: skip  # trained by another sweep
        todo = [c for c in configs if c.hash() not in done]
        if not todo:
            return outcomes
        plan = TrainPlan(todo, store, sink, label, pruner, command, continue_runs=True)
        try:
            results = train(plan)
        except Interrupted as stop:  # what became of the trials that started: as the store says
            started = [(c, plan.outcomes[c.hash()]) for c in todo if c.hash() in plan.outcomes]
            stop.outcomes = outcomes + [_outcome(c, r) for c, r in started]
            raise
        except Exception as exc:  # before any run directory existed: data, backend, config problems
            log = store.log_path(log_id, label)
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(traceback.format_exc())
            message = str(exc) if isinstance(exc, FashionlabError) else f"{exc.__class__.__name__}: {exc}"
            return outcomes + [
                TrialOutcome(c.hash(), RunStatus.FAILED, None, error=message, log=str(log)) for c in todo
            ]
    return outcomes + [_outcome(c, r) for c, r in zip(todo, results, strict=True)]


def _outcome(config: Config, result: Any) -> TrialOutcome:
    """A training's TrainResult or RunStopped as the trial's outcome."""
    from fashionlab.engine.outcomes import RunStopped

    if isinstance(result, RunStopped):
        return TrialOutcome(config.hash(), result.status, result.run_id, error=str(result))
    return TrialOutcome(config.hash(), RunStatus.COMPLETED, result.run.id)
