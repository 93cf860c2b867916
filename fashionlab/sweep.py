"""Sweeps: expand axes into trials (pure), then train the missing ones, sharing work where it can.

    fashionlab sweep epochs=25,100,150
    fashionlab sweep --config configs/adam.yaml optimizer=adam,sgd,rmsprop lr=0.001,0.01

A trial is identified by the hash of its resolved config, so a rerun of the same sweep finds the
trials that completed (in any earlier sweep or train) and trains only the rest. Trials that differ
only in `epochs` share one training to the largest value.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import queue as queue_mod
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fashionlab.config import (
    Config,
    Override,
    Source,
    load_config,
    parse_value,
    split_override,
    validate,
)
from fashionlab.errors import ConfigError, FashionlabError
from fashionlab.runs import Run, list_runs, now, read_run, write_json

SWEEPS = "sweeps"
MAX_TRIALS = 10_000

# ---------------------------------------------------------------- parsing axes


def split_top(text: str) -> list[str]:
    """Split on commas that are not inside brackets, braces, parentheses or quotes."""
    parts, depth, quote, current = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += ch
    parts.append(current.strip())
    return parts


def _number(text: str, what: str) -> float:
    value = parse_value(text)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{what}: '{text}' is not a number")
    return value


def _clean(x: float) -> float | int:
    """Round away float noise (0.30000000000000004 -> 0.3) and keep whole numbers as ints."""
    y = float(f"{x:.12g}")
    return int(y) if y.is_integer() and abs(y) < 2**53 else y


@dataclass(frozen=True)
class Distribution:
    """A range to search rather than a list of values: uniform, loguniform or int."""

    kind: str
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.kind}({_clean(self.low)}, {_clean(self.high)})"


DISTRIBUTIONS = ("uniform", "loguniform", "int")


def parse_space(raw: str, key: str, what: str = "sweep axis") -> list[Any] | Distribution:
    """One axis: a list of values (a,b,c | [a,b,c] | range | logspace | choice) or a search distribution."""
    text = raw.strip()
    match = re.fullmatch(r"(\w+)\((.*)\)", text, flags=re.S)
    if match and match.group(1) in DISTRIBUTIONS:
        where = f"{what} '{key}={raw}'"
        func, args = match.group(1), [a for a in split_top(match.group(2)) if a != ""]
        if len(args) != 2:
            raise ConfigError(f"{where}: {func} takes (low, high)")
        low, high = (_number(a, where) for a in args)
        if not low < high:
            raise ConfigError(f"{where}: low must be below high")
        if func == "loguniform" and low <= 0:
            raise ConfigError(f"{where}: loguniform needs low > 0")
        if func == "int" and (low != int(low) or high != int(high)):
            raise ConfigError(f"{where}: int takes whole numbers")
        return Distribution(func, low, high)
    return parse_values(raw, key, what)


def parse_values(raw: str, key: str, what: str = "sweep axis") -> list[Any]:
    """The values of one axis: a,b,c | [a,b,c] | range(..) | logspace(..) | choice(..)."""
    text = raw.strip()
    where = f"{what} '{key}={raw}'"
    match = re.fullmatch(r"(\w+)\((.*)\)", text, flags=re.S)
    if match:
        func, args = match.group(1), [a for a in split_top(match.group(2)) if a != ""]
        if func in DISTRIBUTIONS:
            raise ConfigError(
                f"{where}: {func}(...) is a range to search, not a list of values; "
                f"use 'fashionlab search {key}={text}', or list values for a sweep"
            )
        if func == "choice":
            return [parse_value(a) for a in args]
        if func == "range":
            if not 1 <= len(args) <= 3:
                raise ConfigError(f"{where}: range takes (stop), (start, stop) or (start, stop, step)")
            nums = [_number(a, where) for a in args]
            start, stop, step = (
                (0, nums[0], 1) if len(nums) == 1 else (nums[0], nums[1], nums[2] if len(nums) == 3 else 1)
            )
            if step == 0:
                raise ConfigError(f"{where}: the step of range cannot be 0")
            count = math.ceil(round((stop - start) / step, 9))  # 0.3 / 0.1 is 2.9999999999999996
            if count <= 0:
                raise ConfigError(f"{where}: range({start}, {stop}, {step}) is empty (stop is excluded)")
            if count > MAX_TRIALS:
                raise ConfigError(f"{where}: {count} values is too many (at most {MAX_TRIALS})")
            return [_clean(start + i * step) for i in range(count)]
        if func == "logspace":
            if len(args) != 3:
                raise ConfigError(f"{where}: logspace takes (a, b, n): n values from 10^a to 10^b")
            a, b, n = (_number(x, where) for x in args)
            if n < 1 or n != int(n):
                raise ConfigError(f"{where}: n in logspace(a, b, n) must be a whole number of at least 1")
            n = int(n)
            return [_clean(10 ** (a + (b - a) * i / (n - 1))) if n > 1 else _clean(10**a) for i in range(n)]
        raise ConfigError(
            f"{where}: unknown function '{func}'; use range(...), logspace(...), choice(...) "
            "or, with 'fashionlab search', uniform(...), loguniform(...), int(...)"
        )
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    items = split_top(text)
    if any(item == "" for item in items):
        raise ConfigError(f"{where}: an empty value; write values as a,b,c or [a,b,c]")
    return [parse_value(item) for item in items]


@dataclass
class Axis:
    key: str
    values: list[Any]
    text: str


def parse_axes(items: list[str]) -> tuple[list[Axis], list[Override]]:
    """Split command-line items into axes (several values) and fixed overrides (one value)."""
    axes: list[Axis] = []
    fixed: list[Override] = []
    problems: list[str] = []
    for text in items:
        try:
            key, raw = split_override(text)
            values = parse_values(raw, key)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if any(a.key == key for a in axes) or any(f[0] == key for f in fixed):
            problems.append(f"sweep axis '{key}' is given twice; list all its values in one: {key}=a,b,c")
        elif len(values) == 1:
            fixed.append((key, values[0], text))
        else:
            axes.append(Axis(key, values, text))
    if problems:
        raise ConfigError(problems)
    return axes, fixed


# ---------------------------------------------------------------- expanding


@dataclass
class Trial:
    config: Config
    values: dict[str, Any]  # this trial's value on each axis (and its config file, when several)

    @property
    def hash(self) -> str:
        return self.config.hash()


@dataclass
class Plan:
    sweep_id: str
    axes: dict[str, list[Any]]
    trials: list[Trial]
    config_files: list[str | None]
    items: list[str]

    def groups(self, trials: list[Trial] | None = None) -> list[list[Trial]]:
        """Trials that differ only in epochs, each group sorted by epochs: one training per group."""
        by_key: dict[str, list[Trial]] = {}
        for trial in trials if trials is not None else self.trials:
            by_key.setdefault(trial.config.group_key(), []).append(trial)
        return [sorted(g, key=lambda t: t.config.epochs) for g in by_key.values()]

    def epochs_cost(self, trials: list[Trial] | None = None) -> tuple[int, int]:
        """(epochs trained with sharing, epochs that separate runs would train)."""
        trials = self.trials if trials is None else trials
        shared = sum(g[-1].config.epochs for g in self.groups(trials))
        return shared, sum(t.config.epochs for t in trials)


def expand(config_files: list[str | None], items: list[str]) -> Plan:
    """The cartesian product of config files and axes, every config validated before anything runs."""
    axes, fixed = parse_axes(items)
    files = config_files or [None]
    combos = list(itertools.product(*(a.values for a in axes)))
    if len(files) * len(combos) > MAX_TRIALS:
        raise ConfigError(f"the sweep has {len(files) * len(combos)} trials, more than {MAX_TRIALS}; narrow an axis")
    trials: list[Trial] = []
    problems: list[str] = []
    seen: set[str] = set()
    for path in files:
        for combo in combos:
            overrides = list(fixed) + [
                (a.key, v, f"{a.key}={json.dumps(v) if not isinstance(v, str) else v}")
                for a, v in zip(axes, combo, strict=True)
            ]
            try:
                config = load_config(path, overrides)
            except ConfigError as exc:
                problems.extend(p for p in exc.problems if p not in problems)
                continue
            values = {a.key: v for a, v in zip(axes, combo, strict=True)}
            if len(files) > 1:
                values = {"config": path or "(default)", **values}
            if config.hash() not in seen:
                seen.add(config.hash())
                trials.append(Trial(config, values))
    if problems:
        raise ConfigError(problems)
    axes_out = {a.key: a.values for a in axes}
    if len(files) > 1:
        axes_out = {"config": [f or "(default)" for f in files], **axes_out}
    digest = hashlib.sha256(json.dumps(sorted(t.hash for t in trials)).encode()).hexdigest()[:8]
    return Plan(f"sweep-{digest}", axes_out, trials, list(files), list(items))


# ---------------------------------------------------------------- the sweep record


def sweeps_dir(runs_dir: Path) -> Path:
    return runs_dir / SWEEPS


def record_path(runs_dir: Path, sweep_id: str) -> Path:
    return sweeps_dir(runs_dir) / f"{sweep_id}.json"


def load_record(runs_dir: Path, sweep_id: str) -> dict[str, Any]:
    path = record_path(runs_dir, sweep_id)
    matches = [path] if path.is_file() else sorted(sweeps_dir(runs_dir).glob(f"*{sweep_id}*.json"))
    if len(matches) != 1:
        known = ", ".join(p.stem for p in sorted(sweeps_dir(runs_dir).glob("*.json"))[-5:]) or "none yet"
        raise FashionlabError(f"no sweep '{sweep_id}' in {sweeps_dir(runs_dir)}/ (recent: {known})")
    try:
        data = json.loads(matches[0].read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise FashionlabError(f"sweep record {matches[0]} is unreadable ({exc})") from None
    if not isinstance(data, dict) or "trials" not in data:
        raise FashionlabError(f"sweep record {matches[0]} is not a fashionlab sweep")
    return data


def write_record(runs_dir: Path, plan: Plan, status: dict[str, dict[str, Any]], state: str) -> None:
    sweeps_dir(runs_dir).mkdir(parents=True, exist_ok=True)
    record = {
        "id": plan.sweep_id,
        "state": state,
        "updated": now(),
        "command": " ".join(["fashionlab", "sweep", *(f"--config {f}" for f in plan.config_files if f), *plan.items]),
        "config_files": plan.config_files,
        "items": plan.items,
        "axes": plan.axes,
        "trials": [
            {"hash": t.hash, "values": t.values, "epochs": t.config.epochs, **status.get(t.hash, {"status": "pending"})}
            for t in plan.trials
        ],
    }
    write_json(record_path(runs_dir, plan.sweep_id), record)


def completed_runs(runs_dir: Path) -> dict[str, Run]:
    """The newest completed run of each config hash: the trials a sweep can skip."""
    done: dict[str, Run] = {}
    for run in list_runs(runs_dir):
        if run.status == "completed" and (run.path / "model.keras").is_file():
            done[str(run.info.get("config_hash"))] = run
    return done


# ---------------------------------------------------------------- running


class SweepProgress(Protocol):
    def group_start(self, label: str, trials: int, epochs: int, steps: int) -> None: ...
    def batch(self, label: str, epoch: int, step: int) -> None: ...
    def epoch(self, label: str, row: dict[str, float]) -> None: ...
    def trial_done(self, outcome: dict[str, Any]) -> None: ...


class _Forward:
    """train()'s progress hooks, forwarded as events to a queue (or a callable) with the group's label."""

    def __init__(self, label: str, trials: int, send: Callable[[tuple[Any, ...]], None]) -> None:
        self.label, self.trials, self.send = label, trials, send

    def start(self, run_id: str, epochs: int, steps_per_epoch: int) -> None:
        self.send(("group_start", self.label, self.trials, epochs, steps_per_epoch))

    def batch(self, epoch: int, step: int, logs: dict[str, float]) -> None:
        self.send(("batch", self.label, epoch, step))

    def epoch(self, row: dict[str, float]) -> str | None:
        self.send(("epoch", self.label, row))
        return None


def run_group(
    config_dicts: list[dict[str, Any]], runs_dir: str, label: str, send: Any, log_dir: str
) -> list[dict[str, Any]]:
    """Train one group of trials (in this process or a worker); report each trial's outcome."""

    configs = [validate(d, Source(None, {})) for d in config_dicts]
    with _group_lock(Path(runs_dir), configs[0].group_key()):
        # Another sweep may have trained (some of) these while this one waited for the lock.
        done = completed_runs(Path(runs_dir))
        outcomes = [
            {"hash": c.hash(), "status": "completed", "run_id": done[c.hash()].id} for c in configs if c.hash() in done
        ]
        todo = [c for c in configs if c.hash() not in done]
        if todo:
            outcomes += _train_configs(todo, runs_dir, label, send, log_dir)
    return outcomes


@contextlib.contextmanager
def _group_lock(runs_dir: Path, key: str) -> Iterator[None]:
    """Only one process at a time trains a given group, so concurrent sweeps never duplicate a trial."""
    import fcntl

    locks = runs_dir / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{key}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _train_configs(configs: list[Config], runs_dir: str, label: str, send: Any, log_dir: str) -> list[dict[str, Any]]:
    from fashionlab.train import TrialError, train_group

    forward = _Forward(label, len(configs), send if callable(send) else send.put)
    try:
        results = train_group(configs, Path(runs_dir), forward, capture=True)
    except Exception as exc:  # before any run directory existed: data, backend, config problems
        log = Path(log_dir) / f"{label}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(traceback.format_exc())
        message = str(exc) if isinstance(exc, FashionlabError) else f"{exc.__class__.__name__}: {exc}"
        return [
            {"hash": c.hash(), "status": "failed", "run_id": None, "error": message, "log": str(log)} for c in configs
        ]
    outcomes = []
    for config, result in zip(configs, results, strict=True):
        if isinstance(result, TrialError):
            outcomes.append(
                {"hash": config.hash(), "status": result.status, "run_id": result.run_id, "error": str(result)}
            )
        else:
            outcomes.append({"hash": config.hash(), "status": "completed", "run_id": result.run.id})
    return outcomes


def thread_env(threads: int) -> dict[str, str]:
    """Environment that limits every framework in a trial's process to `threads` threads."""
    xla = os.environ.get("XLA_FLAGS", "")
    return {
        "XLA_FLAGS": f"{xla} --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={threads}".strip(),
        **dict.fromkeys(
            ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"), str(threads)
        ),
        "TF_NUM_INTEROP_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"),
    }


def _init_worker(threads: int) -> None:
    """Give each worker process its share of the cores, before any framework is imported.

    On Linux a worker also dies with the sweep process (kill -9 included), so no orphan keeps training.
    """
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    os.environ.update(thread_env(threads))


@dataclass
class SweepResult:
    plan: Plan
    status: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def run_ids(self) -> list[str]:
        return [s["run_id"] for t in self.plan.trials if (s := self.status.get(t.hash)) and s.get("run_id")]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [s for s in self.status.values() if s["status"] not in ("completed",)]


def run_sweep(
    plan: Plan,
    runs_dir: Path,
    jobs: int = 1,
    fail_fast: bool = False,
    progress: SweepProgress | None = None,
    ray: Any = None,
) -> SweepResult:
    """Train every trial of `plan` that has no completed run yet; write the sweep record as it goes."""
    result = SweepResult(plan)
    done = completed_runs(runs_dir)
    pending: list[Trial] = []
    for trial in plan.trials:
        run = done.get(trial.hash)
        if run is not None:
            result.status[trial.hash] = {"status": "completed", "run_id": run.id, "skipped": True}
            result.skipped.append(trial.hash)
        else:
            pending.append(trial)
    write_record(runs_dir, plan, result.status, "running")
    groups = plan.groups(pending)
    log_dir = str(sweeps_dir(runs_dir) / plan.sweep_id)

    def record(outcomes: list[dict[str, Any]]) -> bool:
        failed = False
        for outcome in outcomes:
            result.status[outcome["hash"]] = {k: v for k, v in outcome.items() if k != "hash"}
            failed |= outcome["status"] != "completed"
            if progress:
                progress.trial_done(outcome)
        write_record(runs_dir, plan, result.status, "running")
        return failed

    def dispatch(event: tuple[Any, ...]) -> None:
        if progress:
            getattr(progress, event[0])(*event[1:])

    try:
        if ray is not None:  # cluster.RayOptions: every group as a Ray task
            from fashionlab import cluster

            configs = [[t.config.resolved() for t in g] for g in groups]
            result.stopped_early = cluster.run_groups(configs, runs_dir, ray, record, fail_fast)
        elif jobs <= 1 or len(groups) <= 1:
            for i, group in enumerate(groups):
                outcomes = run_group([t.config.resolved() for t in group], str(runs_dir), f"g{i}", dispatch, log_dir)
                if record(outcomes) and fail_fast:
                    result.stopped_early = True
                    break
        else:
            result.stopped_early = _run_parallel(groups, runs_dir, jobs, fail_fast, dispatch, record, log_dir)
    except KeyboardInterrupt:
        write_record(runs_dir, plan, result.status, "interrupted")
        raise
    state = "stopped" if result.stopped_early else ("completed" if not result.failed else "completed with failures")
    write_record(runs_dir, plan, result.status, state)
    return result


def _run_parallel(
    groups: list[list[Trial]],
    runs_dir: Path,
    jobs: int,
    fail_fast: bool,
    dispatch: Callable[[tuple[Any, ...]], None],
    record: Callable[[list[dict[str, Any]]], bool],
    log_dir: str,
) -> bool:
    """Groups in `jobs` worker processes; their progress events come back through a managed queue."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // jobs)
    stopped = False
    with ctx.Manager() as manager:
        events = manager.Queue()
        with ProcessPoolExecutor(
            max_workers=jobs, mp_context=ctx, initializer=_init_worker, initargs=(threads,)
        ) as pool:
            futures = {
                pool.submit(run_group, [t.config.resolved() for t in g], str(runs_dir), f"g{i}", events, log_dir): g
                for i, g in enumerate(groups)
            }
            waiting = set(futures)
            while waiting:
                for event in _drain(events):
                    dispatch(event)
                finished, waiting = wait(waiting, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in finished:
                    for event in _drain(events):
                        dispatch(event)
                    if record(future.result()) and fail_fast:
                        stopped = True
                        for other in waiting:
                            other.cancel()
                if stopped:
                    waiting = {f for f in waiting if not f.cancelled()}
    return stopped


def _drain(events: Any) -> Iterator[tuple[Any, ...]]:
    while True:
        try:
            yield events.get_nowait()
        except queue_mod.Empty:
            return


def sweep_runs(runs_dir: Path, sweep_id: str) -> tuple[dict[str, Any], list[Run]]:
    """A sweep's record and its trials' runs, in trial order (trials without a run are left out)."""
    record = load_record(runs_dir, sweep_id)
    runs = []
    for trial in record["trials"]:
        if trial.get("run_id"):
            path = runs_dir / trial["run_id"]
            if path.is_dir():
                runs.append(read_run(path))
    return record, runs
