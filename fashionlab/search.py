"""Search: Optuna picks the trials (TPE by default), a pruner stops the unpromising ones at epoch ends.

    fashionlab search lr=loguniform(1e-4,1e-1) layers.1.units=int(16,256) optimizer=choice(adam,sgd) --trials 30

Axes use the grammar of `sweep` (a list of values becomes a categorical choice) plus the ranges
uniform(a,b), loguniform(a,b) and int(a,b). The study lives in runs/sweeps/<search-id>.db (SQLite),
so rerunning the same command resumes it, and runs/sweeps/<search-id>.json is a sweep record like any
other, so `fashionlab compare --sweep <search-id>` shows it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fashionlab.config import Config, Override, load_config, split_override
from fashionlab.errors import ConfigError, FashionlabError
from fashionlab.runs import now, write_json
from fashionlab.sweep import Distribution, SweepProgress, completed_runs, parse_space, sweeps_dir

METRICS = ("val_accuracy", "val_loss", "accuracy", "loss", "test_accuracy", "test_loss")
PRUNERS = ("none", "median", "hyperband")
SAMPLERS = ("tpe", "random")


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
        return load_config(self.config_file, list(self.fixed) + [(k, v, f"{k}={v}") for k, v in values.items()])

    @property
    def maximize(self) -> bool:
        return "accuracy" in self.metric


def plan_search(config_file: str | None, items: list[str], metric: str, sampler: str, prune: str) -> SearchPlan:
    """Parse and check the search before anything runs (a ConfigError writes nothing)."""
    from fashionlab.errors import InputError

    if metric not in METRICS:
        raise InputError(f"--metric {metric} is not known; use one of {', '.join(METRICS)}")
    if prune not in PRUNERS:
        raise InputError(f"--prune {prune} is not known; use {', '.join(PRUNERS)}")
    if sampler not in SAMPLERS:
        raise InputError(f"--sampler {sampler} is not known; use {' or '.join(SAMPLERS)}")
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
        raise ConfigError("a search needs at least one axis to search, e.g. lr=loguniform(1e-4,1e-1)")
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
    trials: list[dict[str, Any]] = field(default_factory=list)
    new: int = 0

    @property
    def best(self) -> dict[str, Any] | None:
        done = [t for t in self.trials if t["status"] == "completed" and t.get("value") is not None]
        if not done:
            return None
        pick = max if self.plan.maximize else min
        return pick(done, key=lambda t: t["value"])


class _Pruning:
    """train()'s progress hook that reports each epoch to Optuna and asks whether to stop."""

    def __init__(self, trial: Any, metric: str, progress: SweepProgress | None, label: str) -> None:
        self.trial, self.metric, self.progress, self.label = trial, metric, progress, label

    def start(self, run_id: str, epochs: int, steps: int) -> None:
        if self.progress:
            self.progress.group_start(self.label, 1, epochs, steps)

    def batch(self, epoch: int, step: int, logs: dict[str, float]) -> None:
        pass

    def epoch(self, row: dict[str, float]) -> str | None:
        if self.progress:
            self.progress.epoch(self.label, row)
        if self.metric in row:
            self.trial.report(row[self.metric], step=int(row["epoch"]))
            if self.trial.should_prune():
                return "prune"
        return None


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise FashionlabError("search needs Optuna: pip install 'fashionlab[search]' (make test installs it)") from None
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


def check_executor(plan: SearchPlan, ray: Any) -> None:
    if ray is not None and plan.prune != "none":
        from fashionlab.errors import InputError

        raise InputError("--prune needs the local executor (it stops trials between epochs); drop one of them")


def run_search(
    plan: SearchPlan, runs_dir: Path, n_trials: int, progress: SweepProgress | None = None, ray: Any = None
) -> SearchResult:
    """Run trials until the study holds `n_trials` finished ones (so a rerun finishes an interrupted search).

    With `ray` (cluster.RayOptions) trials run as Ray tasks, as many at once as the cluster has room
    for; pruning needs each epoch reported to the study as it ends, so it runs with the local executor.
    """
    check_executor(plan, ray)
    optuna = _optuna()
    from fashionlab.train import TrainResult, TrialError, train_group

    sweeps_dir(runs_dir).mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.RDBStorage(f"sqlite:///{(sweeps_dir(runs_dir) / plan.search_id).resolve()}.db")
    study = optuna.create_study(
        study_name=plan.search_id,
        storage=storage,
        direction="maximize" if plan.maximize else "minimize",
        load_if_exists=True,
    )
    records: dict[int, dict[str, Any]] = _load_trial_records(runs_dir, plan)
    states = optuna.trial.TrialState
    done_runs = completed_runs(runs_dir)
    for stale in study.get_trials(deepcopy=False, states=(states.RUNNING,)):  # left by a killed search
        _settle(stale, plan, storage, states, records, done_runs)
    # A resumed study must not replay the proposals it already made: the sampler's seed moves on with it.
    seed = plan.base.seed + len(study.trials)
    study.sampler = (
        optuna.samplers.RandomSampler(seed=seed) if plan.sampler == "random" else optuna.samplers.TPESampler(seed=seed)
    )
    study.pruner = {
        "none": optuna.pruners.NopPruner(),
        "median": optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
        "hyperband": optuna.pruners.HyperbandPruner(min_resource=1, max_resource=plan.base.epochs),
    }[plan.prune]
    result = SearchResult(plan)
    finished = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    if ray is not None:
        result.new = _search_on_ray(study, plan, runs_dir, n_trials - len(finished), records, done_runs, progress, ray)
        result.trials = [records[n] for n in sorted(records)]
        _write_record(runs_dir, plan, records, n_trials, "completed")
        return result
    for _ in range(max(0, n_trials - len(finished))):
        trial, record, config = _ask(study, plan, done_runs)
        if config is not None:
            hook = _Pruning(trial, plan.metric, progress, f"t{trial.number}")
            (outcome,) = train_group([config], runs_dir, hook, capture=True)
            result.new += 1
            if isinstance(outcome, TrainResult):
                value = _objective({"summary": outcome.summary, "test": outcome.test}, plan.metric)
                study.tell(trial, value)
                record.update(status="completed", run_id=outcome.run.id, value=value)
                done_runs[config.hash()] = outcome.run
            else:
                assert isinstance(outcome, TrialError)
                study.tell(trial, state=states.PRUNED if outcome.status == "pruned" else states.FAIL)
                record.update(status=outcome.status, run_id=outcome.run_id, error=str(outcome))
        records[trial.number] = record
        if progress:
            progress.trial_done({**record, "hash": record.get("hash") or f"trial {trial.number}"})
        _write_record(runs_dir, plan, records, n_trials, "running")
    _write_record(runs_dir, plan, records, n_trials, "completed")
    result.trials = [records[n] for n in sorted(records)]
    return result


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
    stale: Any,
    plan: SearchPlan,
    storage: Any,
    states: Any,
    records: dict[int, dict[str, Any]],
    done_runs: dict[str, Any],
) -> None:
    """A trial a killed search left running: completed if its run finished before the kill, else failed."""
    values = _values(plan, stale.params)
    record: dict[str, Any] = {"number": stale.number, "values": values, "status": "interrupted"}
    try:
        config = plan.config_for(values)
    except ConfigError:
        config = None
    run = done_runs.get(config.hash()) if config is not None and len(values) == len(plan.spaces) else None
    if run is not None:
        value = _objective(run.metrics(), plan.metric)
        storage.set_trial_state_values(stale._trial_id, states.COMPLETE, [value])
        record.update(status="completed", run_id=run.id, value=value, hash=run.info.get("config_hash"))
    else:
        storage.set_trial_state_values(stale._trial_id, states.FAIL)
    records[stale.number] = {**records.get(stale.number, {}), **record}


def _ask(study: Any, plan: SearchPlan, done_runs: dict[str, Any]) -> tuple[Any, dict[str, Any], Config | None]:
    """The next trial, its record and the config to train; None when it needs no training (told already)."""
    states = _optuna().trial.TrialState
    trial = study.ask()
    values = {key: _suggest(trial, key, space) for key, space in plan.spaces.items()}
    record: dict[str, Any] = {"number": trial.number, "values": values}
    try:
        config = plan.config_for(values)
    except ConfigError as exc:
        study.tell(trial, state=states.FAIL)
        record.update(status="failed", error="; ".join(exc.problems), hash=None, run_id=None)
        return trial, record, None
    record["hash"] = config.hash()
    earlier = done_runs.get(config.hash())
    if earlier is not None:  # the sampler proposed a config trained before: reuse its run
        value = _objective(earlier.metrics(), plan.metric)
        study.tell(trial, value)
        record.update(status="completed", run_id=earlier.id, value=value, reused=True)
        return trial, record, None
    return trial, record, config


def _search_on_ray(
    study: Any,
    plan: SearchPlan,
    runs_dir: Path,
    todo: int,
    records: dict[int, dict[str, Any]],
    done_runs: dict[str, Any],
    progress: SweepProgress | None,
    options: Any,
) -> int:
    """Ask/tell with several trials in flight as Ray tasks; returns how many were trained."""
    from fashionlab import cluster
    from fashionlab.runs import read_run

    optuna = _optuna()
    states = optuna.trial.TrialState
    ray = cluster.connect(options)
    task = cluster.make_task(ray, options, {plan.base.backend})
    slots = max(1, int(ray.cluster_resources().get("CPU", 1) // options.cpus_per_trial))
    in_flight: dict[Any, tuple[Any, dict[str, Any]]] = {}
    trained = 0
    while todo > 0 or in_flight:
        while todo > 0 and len(in_flight) < slots:
            todo -= 1
            trial, record, config = _ask(study, plan, done_runs)
            if config is None:  # told already: a config error, or a config trained before
                records[trial.number] = record
                continue
            in_flight[task.remote([config.resolved()], f"t{trial.number}")] = (trial, record)
        if not in_flight:
            continue
        (ready,), _ = ray.wait(list(in_flight), num_returns=1)
        trial, record = in_flight.pop(ready)
        trained += 1
        try:
            outcomes, files, host = ray.get(ready)
        except Exception as exc:  # a lost worker: the trial failed, the search goes on
            outcomes, files, host = (
                [{"hash": record["hash"], "status": "failed", "run_id": None, "error": str(exc)[:200]}],
                {},
                "",
            )
        cluster.land(runs_dir, outcomes, files, host)
        (outcome,) = outcomes
        record.update(status=outcome["status"], run_id=outcome.get("run_id"))
        if outcome["status"] == "completed":
            run = read_run(runs_dir / outcome["run_id"])
            record["value"] = _objective(run.metrics(), plan.metric)
            study.tell(trial, record["value"])
            done_runs[record["hash"]] = run
        else:
            record["error"] = outcome.get("error")
            study.tell(trial, state=states.FAIL)
        records[trial.number] = record
        if progress:
            progress.trial_done(record)
        _write_record(runs_dir, plan, records, len(records), "running")
    return trained


def _objective(metrics: dict[str, Any], metric: str) -> float:
    if metric.startswith("test_"):
        return float(metrics["test"][metric[5:]])
    return float(metrics["summary"]["best"][metric])


def _load_trial_records(runs_dir: Path, plan: SearchPlan) -> dict[int, dict[str, Any]]:
    path = sweeps_dir(runs_dir) / f"{plan.search_id}.json"
    try:
        data = json.loads(path.read_text())
        return {int(t["number"]): t for t in data.get("trials", []) if "number" in t}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _write_record(
    runs_dir: Path, plan: SearchPlan, records: dict[int, dict[str, Any]], n_trials: int, state: str
) -> None:
    write_json(
        sweeps_dir(runs_dir) / f"{plan.search_id}.json",
        {
            "id": plan.search_id,
            "kind": "search",
            "state": state,
            "updated": now(),
            "command": " ".join(
                ["fashionlab", "search", *([f"--config {plan.config_file}"] if plan.config_file else []), *plan.items]
            ),
            "config_files": [plan.config_file],
            "items": plan.items,
            "axes": {k: (str(v) if isinstance(v, Distribution) else v) for k, v in plan.spaces.items()},
            "metric": plan.metric,
            "sampler": plan.sampler,
            "prune": plan.prune,
            "target_trials": n_trials,
            "study": f"{plan.search_id}.db",
            "trials": [records[n] for n in sorted(records)],
        },
    )
