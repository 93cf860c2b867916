"""Search: Optuna picks the trials (TPE by default), a pruner stops the unpromising ones at epoch ends.

    fashionlab search 'lr=loguniform(1e-4,1e-1)' 'layers.1.units=int(16,256)' 'optimizer=choice(adam,sgd)' --trials 30

Axes use the grammar of `sweep` (a list of values: a categorical choice) plus uniform(a,b), loguniform(a,b)
and int(a,b). The study lives in runs/sweeps/<search-id>.db (SQLite): the same command resumes it; its
runs/sweeps/<search-id>.json is a sweep record like any other (`fashionlab compare --sweep <search-id>`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fashionlab import compat
from fashionlab.config import Config, Override, identity_hash, load_config, split_override
from fashionlab.errors import ConfigError, FashionlabError, InputError
from fashionlab.events import Sink, TrialEnded
from fashionlab.experiments import ray_executor
from fashionlab.experiments.batches import Asked, Batches
from fashionlab.experiments.executors import Group
from fashionlab.experiments.grammar import Distribution, parse_space
from fashionlab.experiments.plan import named
from fashionlab.store import Run, RunStatus, RunStore, SweepRecord, TrialOutcome
from fashionlab.store.store import MOVE_STUDY

METRICS = ("val_accuracy", "val_loss", "accuracy", "loss", "test_accuracy", "test_loss")
PRUNERS = ("none", "median", "hyperband")
SAMPLERS = ("tpe", "random")
INTERRUPTED = "fashionlab_interrupted"  # user attr of a trial a killed search left running: asked again
RUN_ATTR = "fashionlab_run"  # user attr: the trial's run id (its folder in the runs directory), for the dashboard
WARMUP_EPOCHS = 1  # the median pruner never stops a trial at its first epoch


@dataclass
class SearchPlan:
    search_id: str
    config_file: str | None
    items: list[str]
    spaces: dict[str, list[Any] | Distribution]
    fixed: list[Override]
    metric: str
    sampler: str
    prune: str
    base: Config  # the config with every space at its first/lowest value, validated

    def config_for(self, values: dict[str, Any]) -> Config:
        """The trial's config: the fixed overrides, then one value per searched key."""
        config = load_config(self.config_file, list(self.fixed) + [(k, v, f"{k}={v}") for k, v in values.items()])
        return named(config, values)

    @property
    def maximize(self) -> bool:
        return "accuracy" in self.metric


def plan_search(config_file: str | None, items: list[str], metric: str, sampler: str, prune: str) -> SearchPlan:
    """Parse and check the search before anything runs (a ConfigError writes nothing)."""
    if metric not in METRICS:
        raise InputError(f"`metric` {metric} is not known; use one of {', '.join(METRICS)}")
    if prune not in PRUNERS:
        raise InputError(f"`prune` {prune} is not known; use {', '.join(PRUNERS)}")
    if sampler not in SAMPLERS:
        raise InputError(f"`sampler` {sampler} is not known; use {' or '.join(SAMPLERS)}")
    spaces: dict[str, list[Any] | Distribution] = {}
    fixed: list[Override] = []
    problems: list[str] = []
    for text in items:
        try:
            key, raw = split_override(text)
            space = parse_space(raw, key, "search axis")
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if key in spaces or any(f[0] == key for f in fixed):
            problems.append(f"search axis '{key}' is given twice")
        elif isinstance(space, list) and len(space) == 1:
            fixed.append((key, space[0], text))
        else:
            spaces[key] = space
    if problems:
        raise ConfigError(problems)
    if not spaces:
        raise ConfigError("a search needs at least one axis to search, e.g. 'lr=loguniform(1e-4,1e-1)'")
    problems = []
    for corner in (0, -1):  # both ends of every range must make a valid config
        overrides = list(fixed) + [(k, _corner(v, corner), f"{k}={_corner(v, corner)}") for k, v in spaces.items()]
        try:
            base = load_config(config_file, overrides)
        except ConfigError as exc:
            problems.extend(p for p in exc.problems if p not in problems)
    if problems:
        raise ConfigError(problems)
    digest = hashlib.sha256(
        json.dumps([config_file, sorted(items), metric, sampler, prune, base.group_key()]).encode()
    ).hexdigest()[:8]
    return SearchPlan(f"search-{digest}", config_file, items, spaces, fixed, metric, sampler, prune, base)


def _corner(space: list[Any] | Distribution, end: int) -> Any:
    if isinstance(space, list):
        return space[end]
    value = space.low if end == 0 else space.high
    return int(value) if space.kind == "int" else value


@dataclass
class SearchResult:
    plan: SearchPlan
    trials: list[TrialOutcome] = field(default_factory=list)
    new: int = 0  # trials trained by this call
    record: SweepRecord | None = None  # as written at the end, with
    runs: list[Run] = field(default_factory=list)  # its trials' runs, in trial order: what the CLI renders

    @property
    def best(self) -> TrialOutcome | None:
        done = [t for t in self.trials if t.completed and t.value is not None]
        if not done:
            return None
        pick = max if self.plan.maximize else min
        return pick(done, key=lambda t: t.value or 0.0)

    @property
    def failed(self) -> list[TrialOutcome]:
        """Failed trials no later trial of their config completed: the search exits 1; a rerun trains them."""
        done = {t.hash for t in self.trials if t.completed}
        return [t for t in self.trials if t.status == RunStatus.FAILED and t.hash not in done]

    def counts(self) -> dict[str, int]:
        """How many trials ended in each status, by status name."""
        counts: dict[str, int] = {}
        for t in self.trials:
            counts[str(t.status)] = counts.get(str(t.status), 0) + 1
        return dict(sorted(counts.items()))


def _pruner(trial: Any, metric: str) -> Any:
    """Reports each epoch to Optuna; True when its pruner says to stop the trial."""

    def prune(row: dict[str, float]) -> bool:
        if metric not in row:
            return False
        trial.report(row[metric], step=int(row["epoch"]))
        return bool(trial.should_prune())

    return prune


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise FashionlabError("search needs Optuna: pip install 'fashionlab[search]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _suggest(trial: Any, key: str, space: list[Any] | Distribution) -> Any:
    if isinstance(space, Distribution):
        if space.kind == "int":
            return trial.suggest_int(key, int(space.low), int(space.high))
        return trial.suggest_float(key, space.low, space.high, log=space.kind == "loguniform")
    labels = [json.dumps(v) if not isinstance(v, str) else v for v in space]
    chosen = trial.suggest_categorical(key, labels)
    return space[labels.index(chosen)]


def check_search(plan: SearchPlan, store: RunStore, ray: Any, population: bool = False) -> None:
    """Everything that can refuse a search before it starts: Optuna, the executor, the runs folder, the study file."""
    if importlib.util.find_spec("optuna") is None:
        _optuna()
    if ray is not None and plan.prune != "none":
        raise InputError("`prune` needs the local executor (it stops trials between epochs); drop one of them")
    if population and (plan.prune != "none" or ray is not None):
        raise InputError("`population` trains several trials as one program, which `prune` (it stops trials one by "
                         "one) and Ray (a task a trial) cannot; drop one of them")  # fmt: skip
    store.check_writable()
    store.check_study(plan.search_id)


def _open_study(plan: SearchPlan, store: RunStore) -> tuple[Any, Any]:
    """The study in its SQLite file (created or resumed) with its sampler and pruner set."""
    optuna = _optuna()
    path = store.study_path(plan.search_id)
    store.check_study(plan.search_id)
    try:
        storage = optuna.storages.RDBStorage(f"sqlite:///{path.resolve()}")
        direction = "maximize" if plan.maximize else "minimize"
        study = optuna.create_study(
            study_name=plan.search_id, storage=storage, direction=direction, load_if_exists=True
        )
    except Exception as exc:  # SQLAlchemy's and SQLite's errors for a damaged file
        raise FashionlabError(f"the study {path} cannot be opened ({exc.__class__.__name__}); {MOVE_STUDY}") from None
    return study, storage


def _configure(study: Any, plan: SearchPlan) -> None:
    optuna = _optuna()
    # A resumed study must not replay the proposals it already made: the sampler's seed moves on with it.
    seed = plan.base.seed + len(study.trials)
    study.sampler = (
        optuna.samplers.RandomSampler(seed=seed) if plan.sampler == "random" else optuna.samplers.TPESampler(seed=seed)
    )
    study.pruner = {
        "none": optuna.pruners.NopPruner(),
        # steps are epoch numbers from 1, and Optuna prunes from step n_warmup_steps on
        "median": optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=WARMUP_EPOCHS + 1),
        "hyperband": optuna.pruners.HyperbandPruner(min_resource=1, max_resource=plan.base.epochs),
    }[plan.prune]


def run_search(
    plan: SearchPlan, runs_dir: Path | RunStore, n_trials: int, events: Sink | None = None, ray: Any = None,
    batch: int = 1, population: bool = False,
) -> SearchResult:  # fmt: skip
    """Run trials until the study holds `n_trials` finished ones (so a rerun finishes an interrupted search).
    With `ray` (RayOptions) trials run as Ray tasks, as many at once as the cluster has room for; pruning
    runs with the local executor. `batch` k: the study is asked k trials at a time, and with `population`
    those of one program train together (experiments/batches.py; neither with pruning nor with Ray)."""
    store = runs_dir if isinstance(runs_dir, RunStore) else RunStore(runs_dir)
    check_search(plan, store, ray, population)
    if ray is not None:  # a cluster that cannot take the trials refuses the search before its study exists
        ray_executor.connect(ray)
    with store.exclusive(plan.search_id, f"search {plan.search_id}"):  # two identical searches never both train
        return _run_search(plan, store, n_trials, events, ray, Batches(batch, population))


def _run_search(
    plan: SearchPlan, store: RunStore, n_trials: int, events: Sink | None, ray: Any, batches: Batches
) -> SearchResult:
    study, storage = _open_study(plan, store)
    earlier = store.find_record(plan.search_id)
    records = {t.number: t for t in earlier.trials if t.number is not None} if earlier else {}
    done_runs = store.completed_by_hash(identity_hash)
    for stale in study.get_trials(deepcopy=False, states=(_optuna().trial.TrialState.RUNNING,)):
        _settle(stale, plan, study, storage, records, done_runs)  # left running by a killed search
    _recover(study, plan, records, done_runs)
    _configure(study, plan)
    result = SearchResult(plan)
    failed = _failed_trainings(records)
    finished = [
        t for t in study.get_trials(deepcopy=False)
        if t.state.is_finished() and not t.user_attrs.get(INTERRUPTED) and t.number not in failed
    ]  # fmt: skip
    _retry(study, failed, done_runs)
    todo = max(0, n_trials - len(finished))
    from fashionlab.experiments.executors import LocalExecutor

    executor = ray_executor.RayExecutor(ray, as_slots_free=True) if ray is not None else LocalExecutor(1)
    result.new = _search(study, plan, store, todo, records, done_runs, events, executor, n_trials, batches)
    result.trials = [records[n] for n in sorted(records)]
    _write_record(store, plan, records, n_trials, "completed")
    result.record, result.runs = store.sweep_runs(plan.search_id)
    return result


def _search(
    study: Any, plan: SearchPlan, store: RunStore, todo: int, records: dict[int, TrialOutcome],
    done_runs: dict[str, Run], events: Sink | None, executor: Any, n_trials: int, batches: Batches,
) -> int:  # fmt: skip
    """Ask/tell through the sweep's executor (in this process, pruning between epochs, or Ray tasks with
    several trials in flight): trials are asked of the study only when the executor has room for them
    (`batches.size` at a time, 1 by default, so each proposal knows every result before it). Returns how
    many trials trained."""
    states = _optuna().trial.TrialState
    left, trained = [todo], [0]

    def ask() -> Asked | None:
        left[0] -= 1
        trial, record, config = _ask(study, plan, done_runs)
        if config is not None:
            return Asked(trial, record, config)
        records[trial.number] = record  # told already: a config error, or a config trained before
        _said(record)
        return None

    def _said(record: TrialOutcome) -> None:
        if events is not None:
            events.emit(TrialEnded(record))
        _write_record(store, plan, records, n_trials, "running")

    def tell_one(asked: Asked, outcome: TrialOutcome) -> bool:
        trial, record, config = asked.trial, asked.record, asked.config
        record.status, record.run_id = outcome.status, outcome.run_id
        records[trial.number] = record
        if outcome.run_id:
            trial.set_user_attr(RUN_ATTR, outcome.run_id)
        if outcome.status == RunStatus.INTERRUPTED:  # left running in the study: the next search settles it
            _write_record(store, plan, records, n_trials, "interrupted")
            return True
        trained[0] += 1
        if outcome.completed and outcome.run_id:
            run = store.read(outcome.run_id)
            record.value = _objective(run.metrics(), plan.metric)
            study.tell(trial, record.value)
            done_runs[config.hash()] = run
        else:
            record.error = outcome.error
            study.tell(trial, state=states.PRUNED if outcome.status == RunStatus.PRUNED else states.FAIL)
        _said(record)
        return not outcome.completed

    def tell(group: Group, outcomes: list[TrialOutcome]) -> bool:
        return any([tell_one(asked, outcome) for asked, outcome in batches.told(group, outcomes)])

    pruner = functools.partial(_pruner, metric=plan.metric)  # without pruning it reports each epoch (NopPruner)
    executor.run(functools.partial(batches.next_group, ask, lambda: left[0] > 0, pruner), store, plan.search_id,
                 tell, events, False)  # fmt: skip
    return trained[0]


def _failed_trainings(records: dict[int, TrialOutcome]) -> dict[int, TrialOutcome]:
    """Trials whose training failed (a full disk, a killed worker): they do not count towards --trials, so
    a rerun trains them again, as a sweep's rerun does. A config the sampler proposed that the validator
    refuses (no hash) would fail the same way again and counts."""
    return {n: r for n, r in records.items() if r.status == RunStatus.FAILED and r.hash}


def _retry(study: Any, failed: dict[int, TrialOutcome], done_runs: dict[str, Run]) -> None:
    """Ask the failed trainings' params again first (each once per rerun; a failed run continues in place)."""
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    again = {r.hash: by_number[n].params for n, r in failed.items() if r.hash not in done_runs and n in by_number}
    for params in again.values():
        study.enqueue_trial(params)


def _values(plan: SearchPlan, params: dict[str, Any]) -> dict[str, Any]:
    """Trial params back to config values (a categorical param is stored as its label)."""
    out = {}
    for key, space in plan.spaces.items():
        if key in params and isinstance(space, list):
            labels = [json.dumps(v) if not isinstance(v, str) else v for v in space]
            out[key] = space[labels.index(params[key])] if params[key] in labels else params[key]
        elif key in params:
            out[key] = params[key]
    return out


def _settle(
    stale: Any, plan: SearchPlan, study: Any, storage: Any, records: dict[int, TrialOutcome], done_runs: dict[str, Run]
) -> None:
    """A trial a killed search left running: completed if its run finished before the kill, else interrupted
    and asked again (its run continues from its last checkpoint)."""
    states = _optuna().trial.TrialState
    values = _values(plan, stale.params)
    record = records.get(stale.number) or TrialOutcome(None, number=stale.number)
    record.values, record.status = values, RunStatus.INTERRUPTED
    try:
        config = plan.config_for(values)
    except ConfigError:
        config = None
    run = done_runs.get(config.hash()) if config is not None and len(values) == len(plan.spaces) else None
    if run is not None:
        value = _objective(run.metrics(), plan.metric)
        storage.set_trial_user_attr(compat.optuna_trial_id(stale), RUN_ATTR, run.id)
        storage.set_trial_state_values(compat.optuna_trial_id(stale), states.COMPLETE, [value])
        record.status, record.run_id, record.value = RunStatus.COMPLETED, run.id, value
        record.hash = str(run.info.config_hash)
    else:  # asked again first, so its interrupted run continues in place (and it counts once)
        storage.set_trial_user_attr(compat.optuna_trial_id(stale), INTERRUPTED, True)
        storage.set_trial_state_values(compat.optuna_trial_id(stale), states.FAIL)
        if config is not None and len(values) == len(plan.spaces):
            study.enqueue_trial(stale.params)
        records.pop(stale.number, None)  # the trial asked again stands for it: no ghost in the record
        return
    records[stale.number] = record


def _recover(study: Any, plan: SearchPlan, records: dict[int, TrialOutcome], done_runs: dict[str, Run]) -> None:
    """Records for finished trials a killed search told the study about but did not write down yet."""
    states = _optuna().trial.TrialState
    for trial in study.get_trials(deepcopy=False):
        if not trial.state.is_finished() or trial.number in records or trial.user_attrs.get(INTERRUPTED):
            continue
        values = _values(plan, trial.params)
        record = TrialOutcome(None, number=trial.number, values=values)
        try:
            config = plan.config_for(values)
            record.hash = config.hash()
        except ConfigError:
            config = None
        run = done_runs.get(record.hash or "")
        if trial.state == states.COMPLETE and run is not None:
            record.status, record.run_id, record.value = RunStatus.COMPLETED, run.id, trial.value
        else:
            record.status = RunStatus.PRUNED if trial.state == states.PRUNED else RunStatus.FAILED
        records[trial.number] = record


def _ask(study: Any, plan: SearchPlan, done_runs: dict[str, Run]) -> tuple[Any, TrialOutcome, Config | None]:
    """The next trial, its record and the config to train; None when it needs no training (told already)."""
    states = _optuna().trial.TrialState
    trial = study.ask()
    values = {key: _suggest(trial, key, space) for key, space in plan.spaces.items()}
    record = TrialOutcome(None, number=trial.number, values=values)
    try:
        config = plan.config_for(values)
    except ConfigError as exc:
        study.tell(trial, state=states.FAIL)
        record.status, record.error = RunStatus.FAILED, "; ".join(exc.problems)
        return trial, record, None
    record.hash = config.hash()
    earlier = done_runs.get(config.hash())
    if earlier is not None:  # the sampler proposed a config trained before: reuse its run
        trial.set_user_attr(RUN_ATTR, earlier.id)
        record.value = _objective(earlier.metrics(), plan.metric)
        study.tell(trial, record.value)
        record.status, record.run_id, record.reused = RunStatus.COMPLETED, earlier.id, True
        return trial, record, None
    return trial, record, config


def _objective(metrics: dict[str, Any], metric: str) -> float:
    if metric.startswith("test_"):
        return float(metrics["test"][metric[5:]])
    return float(metrics["summary"]["best"][metric])


def _write_record(
    store: RunStore, plan: SearchPlan, records: dict[int, TrialOutcome], n_trials: int, state: str
) -> None:
    files = [f"--config {plan.config_file}"] if plan.config_file else []
    store.write_record(
        SweepRecord(
            id=plan.search_id,
            kind="search",
            state=state,
            command=" ".join(["fashionlab", "search", *files, *plan.items]),
            config_files=[plan.config_file],
            items=plan.items,
            axes={k: (str(v) if isinstance(v, Distribution) else v) for k, v in plan.spaces.items()},
            trials=[records[n] for n in sorted(records)],
            search={
                "metric": plan.metric,
                "sampler": plan.sampler,
                "prune": plan.prune,
                "target_trials": n_trials,
                "study": store.study_path(plan.search_id).name,
            },
        )
    )
