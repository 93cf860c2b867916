"""Sweeps: train every trial of a plan that has no completed run yet, sharing work where it can.

    fashionlab sweep epochs=25,100,150
    fashionlab sweep --config configs/adam.yaml optimizer=adam,sgd,rmsprop lr=0.001,0.01

A trial is identified by the hash of its resolved config, so a rerun of the same sweep finds the
trials that completed (in any earlier sweep or train) and trains only the rest. Trials that differ
only in `epochs` share one training to the largest value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fashionlab.events import Sink, TrialEnded
from fashionlab.experiments.executors import Executor, Group, LocalExecutor, groups_of
from fashionlab.experiments.plan import Plan, Preview, preview
from fashionlab.store import Run, RunStatus, RunStore, SweepRecord, TrialOutcome


@dataclass
class SweepResult:
    plan: Plan
    outcomes: dict[str, TrialOutcome] = field(default_factory=dict)  # by trial hash
    skipped: list[str] = field(default_factory=list)
    stopped_early: bool = False
    record: SweepRecord | None = None  # as written at the end, with
    runs: list[Run] = field(default_factory=list)  # its trials' runs, in trial order: what the CLI renders
    tensorboard_written: list[Run] = field(default_factory=list)  # done before: TensorBoard logs written now
    ahead: Preview | None = None  # what was done before it started, and what it had to train

    @property
    def run_ids(self) -> list[str]:
        return [o.run_id for t in self.plan.trials if (o := self.outcomes.get(t.hash)) and o.run_id]

    @property
    def failed(self) -> list[TrialOutcome]:
        return [o for o in self.outcomes.values() if not o.completed]

    @property
    def state(self) -> str:
        if self.stopped_early:
            return "stopped"
        return "completed" if not self.failed else "completed with failures"


def sweep_record(plan: Plan, outcomes: dict[str, TrialOutcome], state: str) -> SweepRecord:
    """The record of `plan` with every trial's outcome so far (pending where there is none)."""
    trials = []
    for t in plan.trials:
        outcome = outcomes.get(t.hash) or TrialOutcome(t.hash)
        trials.append(TrialOutcome(**{**vars(outcome), "values": t.values, "epochs": t.config.epochs}))
    return SweepRecord(
        id=plan.sweep_id,
        kind="sweep",
        state=state,
        command=plan.command,
        config_files=plan.config_files,
        items=plan.items,
        axes=plan.axes,
        trials=trials,
    )


def run_sweep(
    plan: Plan,
    runs_dir: Path | RunStore,
    jobs: int = 1,
    fail_fast: bool = False,
    events: Sink | None = None,
    executor: Executor | None = None,
    ahead: Preview | None = None,
) -> SweepResult:
    """Train every trial of `plan` that has no completed run yet; write the sweep record as it goes.

    `executor` defaults to `jobs` local processes; `ahead` is the preview the caller showed, if any;
    `events` listens to the stream (fashionlab.events: each training's, and each trial's end).
    """
    store = runs_dir if isinstance(runs_dir, RunStore) else RunStore(runs_dir)
    store.check_writable()  # before any trial, not one failure per trial
    ahead = ahead or preview(plan, store)
    result = SweepResult(plan, ahead=ahead)
    for trial in plan.trials:
        if trial.hash in ahead.done:
            result.outcomes[trial.hash] = TrialOutcome(
                trial.hash, RunStatus.COMPLETED, ahead.done[trial.hash].id, skipped=True
            )
            result.skipped.append(trial.hash)
    store.write_record(sweep_record(plan, result.outcomes, "running"))

    def record(group: Group, outcomes: list[TrialOutcome]) -> bool:
        for outcome in outcomes:
            assert outcome.hash is not None
            result.outcomes[outcome.hash] = outcome
            if outcome.skipped and outcome.hash not in result.skipped:
                result.skipped.append(outcome.hash)
            if events is not None:
                events.emit(TrialEnded(outcome))
        store.append_outcomes(plan.sweep_id, outcomes)  # the record is written whole at the start and the end
        return any(not o.completed for o in outcomes)

    groups = [Group(f"g{i}", [t.config.resolved() for t in g]) for i, g in enumerate(ahead.groups)]
    try:
        run = executor or LocalExecutor(jobs)
        result.stopped_early = run.run(groups_of(groups), store, plan.sweep_id, record, events, fail_fast)
    except KeyboardInterrupt:
        store.write_record(sweep_record(plan, result.outcomes, "interrupted"))
        raise
    store.write_record(sweep_record(plan, result.outcomes, result.state))
    result.record, result.runs = store.sweep_runs(plan.sweep_id)
    wanted = {t.hash for t in plan.trials if t.config.tensorboard}
    earlier = [ahead.done[h] for h in result.skipped if h in wanted and h in ahead.done]
    result.tensorboard_written = tensorboard_afterwards(earlier)
    return result


def tensorboard_afterwards(runs: list[Run]) -> list[Run]:
    """TensorBoard logs, from their history, for completed runs trained before without them (a sweep rerun
    with tensorboard=true finds its trials done: it logs them instead of saying nothing)."""
    todo = [r for r in runs if not r.tensorboard_dir.is_dir()]
    if todo:
        from fashionlab.engine.tensorboard import write_from_history

        for run in todo:
            write_from_history(run)
    return todo
