"""The use cases that train: train and resume one run, sweep a plan, search a space.

Each listens to the event stream it is given (fashionlab.events) and adds one listener of its own: the
curves of each run that completed, drawn as its trial ends (in this process, whatever trained it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fashionlab.config import Config
from fashionlab.engine.outcomes import TrainResult
from fashionlab.events import Event, Sink, TrialEnded
from fashionlab.experiments.plan import Plan, Preview
from fashionlab.experiments.sweep import SweepResult, run_sweep
from fashionlab.results import Results, collect
from fashionlab.store import Run, RunStore
from fashionlab.views import sweeps as sweep_words


@dataclass
class Logged:
    """What went to MLflow: the tracking URI and experiments.tracking's count (None: nothing was asked)."""

    uri: str
    counts: Any
    total: int
    group: str | None

    def sentence(self) -> str:
        return sweep_words.logged_sentence(self.counts.new, self.total, self.uri, self.group)


@dataclass
class Trained:
    """One run trained (or continued) to completion."""

    result: TrainResult
    results: Results  # the run as the comparison model sees it (its table's row)
    logged: Logged | None = None

    @property
    def run(self) -> Run:
        return self.result.run


@dataclass
class Swept:
    """A sweep's trials trained (or found done), compared, and what was found, in sentences."""

    result: SweepResult
    results: Results  # the comparison of its trials (findings, verdicts)
    sentence: str  # the closing line: how many completed, what a rerun does, where the record is
    curves: bytes | None = None  # the trials' curves in one PNG, when asked for
    logged: Logged | None = None

    @property
    def runs(self) -> list[Run]:
        return self.result.runs

    @property
    def plan(self) -> Plan:
        return self.result.plan

    @property
    def record(self) -> Any:
        """The sweep's record as it wrote it (store.SweepRecord: .id, .trials)."""
        return self.result.record

    @property
    def failed(self) -> list[Any]:
        """The trials that did not complete (their TrialOutcomes)."""
        return self.result.failed


@dataclass
class Searched:
    result: Any  # experiments.search.SearchResult
    results: Results
    sentence: str
    logged: Logged | None = None

    @property
    def runs(self) -> list[Run]:
        return self.result.runs

    @property
    def failed(self) -> list[Any]:
        """The trials that did not complete (their TrialOutcomes)."""
        return self.result.failed


class Curves:
    """The listener that draws each completed run's curves.png as its trial ends (a failure leaves
    `curves_error` in run.json, and the run completed: a picture must not undo a finished training)."""

    def __init__(self, store: RunStore, inner: Sink | None) -> None:
        self.store, self.inner = store, inner

    def emit(self, event: Event) -> None:
        if self.inner is not None:
            self.inner.emit(event)
        outcome = event.outcome if isinstance(event, TrialEnded) else None
        if outcome is not None and outcome.completed and not outcome.skipped and outcome.run_id:
            draw_curves(self.store.load(outcome.run_id))


def draw_curves(run: Run) -> None:
    from fashionlab.views import plots

    try:
        run.write_curves(plots.curves_png([run]))
    except Exception as exc:
        run.record_curves_error(f"{exc.__class__.__name__}: {exc}".splitlines()[0])


def _log(
    mlflow: str | None, runs: list[Run], group: str | None = None, axes: dict[str, Any] | None = None
) -> Logged | None:
    """The runs logged to MLflow at `mlflow` (a tracking URI; None: not asked)."""
    if mlflow is None:
        return None
    from fashionlab.experiments import tracking

    with tracking.quiet():
        counts = tracking.log_runs(runs, mlflow, group, axes)
    return Logged(mlflow, counts, len(runs), group)


def check_mlflow(mlflow: str | None) -> None:
    """A tracking URI tried before anything trains (a bad one, or MLflow missing, is refused in one line)."""
    if mlflow is not None:
        from fashionlab.experiments import tracking

        tracking.check_uri(mlflow)


def train(
    config: Config, runs: RunStore | Path | str, events: Sink | None = None, mlflow: str | None = None
) -> Trained:
    """Train `config` into a new run (in the runs folder `runs`), draw its curves, log it to MLflow (`mlflow`:
    a tracking URI)."""
    from fashionlab.engine.fit import TrainPlan

    check_mlflow(mlflow)
    return _trained(TrainPlan.of(config, runs, events), mlflow)


def resume(run: Run, events: Sink | None = None, mlflow: str | None = None) -> Trained:
    """Continue an interrupted or failed run from its last finished epoch (engine/fit.py), as `train` does."""
    from fashionlab.engine.fit import TrainPlan

    check_mlflow(mlflow)
    return _trained(TrainPlan([], RunStore(run.path.parent), events, resume=run), mlflow)


def _trained(plan: Any, mlflow: str | None) -> Trained:
    from fashionlab.engine.fit import train as fit
    from fashionlab.engine.outcomes import completed
    from fashionlab.errors import Interrupted

    try:
        (outcome,) = fit(plan)
    except Interrupted:
        for found in plan.outcomes.values():  # runs it completed before the signal keep their curves
            if isinstance(found, TrainResult):
                draw_curves(found.run)
        raise
    result = completed(outcome)
    draw_curves(result.run)
    return Trained(result, collect([result.run]), _log(mlflow, [result.run]))


def sweep(
    plan: Plan, runs: RunStore, *, executor: Any = None, jobs: int = 1, fail_fast: bool = False,
    events: Sink | None = None, ahead: Preview | None = None, mlflow: str | None = None,
    sort: str = "test_accuracy", curves: bool = False,
) -> Swept:  # fmt: skip
    """Train the plan's trials that have no completed run yet (experiments/sweep.py), draw each one's curves,
    log them to MLflow, compare them (results model) and say what happened. `curves`: the trials' curves in
    one PNG too (`Swept.curves`)."""
    check_mlflow(mlflow)
    result = run_sweep(plan, runs, jobs, fail_fast, Curves(runs, events), executor, ahead)
    res = collect(result.runs, sort, list(plan.axes))
    picture = None
    if curves and res:
        from fashionlab.views import groups

        picture = groups.curves_png(result.runs, res)
    logged = _log(mlflow, result.runs, plan.sweep_id, plan.axes)
    before = ahead or result.ahead
    assert before is not None  # run_sweep keeps the preview it trained from
    sentence = sweep_words.sweep_sentence(result, runs.record_path(plan.sweep_id), before)
    return Swept(result, res, sentence, picture, logged)


def search(
    plan: Any, runs: RunStore, trials: int, *, events: Sink | None = None, ray: Any = None, batch: int = 1,
    together: bool = False, mlflow: str | None = None, sort: str = "test_accuracy",
) -> Searched:  # fmt: skip
    """Run an Optuna study until it holds `trials` finished trials (experiments/search.py), draw each new
    run's curves, log them to MLflow, compare them and say what happened."""
    from fashionlab.experiments import search as searching

    check_mlflow(mlflow)
    result = searching.run_search(plan, runs, trials, Curves(runs, events), ray, batch, together)
    logged = _log(mlflow, result.runs, plan.search_id, result.record.axes if result.record else None)
    sentence = sweep_words.search_sentence(result, runs.study_path(plan.search_id))
    return Searched(result, collect(result.runs, sort, None), sentence, logged)


def interrupted_sentence(runs: RunStore, group: str) -> str:
    """What a signal left of a sweep or search, and how to finish it."""
    return sweep_words.interrupted_sentence(runs.find_record(group))
