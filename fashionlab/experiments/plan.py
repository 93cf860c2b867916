"""Sweep plans: the cartesian product of config files and axes as trials (pure), the groups that share
one training, and a preview of what is done and what is left, which the dry run and the sweep both use.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from fashionlab.config import Config, identity_hash, load_config
from fashionlab.errors import ConfigError
from fashionlab.experiments.grammar import MAX_TRIALS, parse_axes
from fashionlab.keys import short_key
from fashionlab.store import Run, RunStore


def named(config: Config, values: dict[str, Any]) -> Config:
    """The config with a name that says what this trial is: `tutorial-optimizer=sgd-epochs=25`.

    The name is a label (not hashed), so a trial named so still matches an earlier run of its config.
    """
    if not values:
        return config
    parts = [
        f"{short_key(k)}={v:.3g}" if isinstance(v, float) else f"{short_key(k)}={v}"
        for k, v in values.items()
        if k != "config"
    ]
    name = re.sub(r"[^A-Za-z0-9_.=,+-]", "_", "-".join([config.name, *parts]))[:80]
    return config.model_copy(update={"name": name})


def repeated(config: Config, values: dict[str, Any]) -> list[tuple[Config, dict[str, Any]]]:
    """One config per seed for `repeats: N` (seed, seed+1, ...), each with its seed among its values."""
    if config.repeats <= 1:
        return [(config, values)]
    return [
        (config.model_copy(update={"seed": config.seed + i}), {**values, "seed": config.seed + i})
        for i in range(config.repeats)
    ]


@dataclass
class PlannedTrial:
    config: Config
    values: dict[str, Any]  # this trial's value on each axis (and its config file, when several)

    @property
    def hash(self) -> str:
        return self.config.hash()


@dataclass
class Plan:
    sweep_id: str
    axes: dict[str, list[Any]]
    trials: list[PlannedTrial]
    config_files: list[str | None]
    items: list[str]

    @property
    def command(self) -> str:
        """The command line that makes this plan again."""
        files = (f"--config {f}" for f in self.config_files if f)
        return " ".join(["fashionlab", "sweep", *files, *self.items])

    def groups(self, trials: list[PlannedTrial] | None = None) -> list[list[PlannedTrial]]:
        """Trials that differ only in epochs, each group sorted by epochs: one training per group."""
        by_key: dict[str, list[PlannedTrial]] = {}
        for trial in trials if trials is not None else self.trials:
            by_key.setdefault(trial.config.group_key(), []).append(trial)
        return [sorted(g, key=lambda t: t.config.epochs) for g in by_key.values()]

    def epochs_cost(self, trials: list[PlannedTrial] | None = None) -> tuple[int, int]:
        """(epochs trained with sharing, epochs that separate runs would train)."""
        trials = self.trials if trials is None else trials
        shared = sum(g[-1].config.epochs for g in self.groups(trials))
        return shared, sum(t.config.epochs for t in trials)


def expand(config_files: list[str | None], items: list[str]) -> Plan:
    """The cartesian product of config files and axes, every config validated before anything runs."""
    axes, fixed = parse_axes(items)
    files = config_files or [None]
    count = len(files) * math.prod(len(a.values) for a in axes)  # counted before the grid is built
    if count > MAX_TRIALS:
        raise ConfigError(f"the sweep has {count:,} trials, more than {MAX_TRIALS:,}; narrow an axis")
    combos = list(itertools.product(*(a.values for a in axes)))
    trials: list[PlannedTrial] = []
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
            for seeded, seeded_values in repeated(config, values):
                if seeded.hash() not in seen:
                    seen.add(seeded.hash())
                    trials.append(PlannedTrial(named(seeded, seeded_values), seeded_values))
    if problems:
        raise ConfigError(problems)
    axes_out = {a.key: a.values for a in axes}
    seeds = sorted({t.config.seed for t in trials})
    if "seed" not in axes_out and len(seeds) > 1:  # repeats: the seeds are an axis of the table
        axes_out["seed"] = seeds
    if len(files) > 1:
        axes_out = {"config": [f or "(default)" for f in files], **axes_out}
    digest = hashlib.sha256(json.dumps(sorted(t.hash for t in trials)).encode()).hexdigest()[:8]
    return Plan(f"sweep-{digest}", axes_out, trials, list(files), list(items))


@dataclass
class Preview:
    """A plan against the runs directory: which trials are done, which groups are left to train."""

    plan: Plan
    done: dict[str, Run]  # hash -> its completed run
    pending: list[PlannedTrial] = field(default_factory=list)
    groups: list[list[PlannedTrial]] = field(default_factory=list)
    epochs_to_train: int = 0
    epochs_if_separate: int = 0
    unfinished: dict[str, Run] = field(default_factory=dict)  # hash -> its interrupted run, continued in place
    populations: int = 0  # groups of trainings that train together as one program (--population on)


def preview(plan: Plan, store: RunStore, populations: bool = False) -> Preview:
    """What a sweep of `plan` would train now: the trials without a completed run, in their groups (with
    `populations`, the groups of one program merged into one group each, trained together)."""
    every = store.runs()  # the one scan of the runs folder a sweep makes
    done = store.completed_by_hash(identity_hash, every)
    pending = [t for t in plan.trials if t.hash not in done]
    shared, separate = plan.epochs_cost(pending)
    earlier = store.unfinished_by_hash(every)
    unfinished = {t.hash: earlier[t.hash] for t in pending if t.hash in earlier}
    groups = plan.groups(pending)
    merged = merge_populations(groups) if populations else groups
    together = sum(1 for g in merged if len({t.config.group_key() for t in g}) > 1)
    return Preview(plan, done, pending, merged, shared, separate, unfinished, together)


MAX_MEMBERS = 64  # trainings in one population at most (the engine splits further where memory is short)


def merge_populations(groups: list[list[PlannedTrial]]) -> list[list[PlannedTrial]]:
    """Groups whose trainings compile to one program on the same data (engine/programs.py) merged, so
    each merged group trains as one population; the rest stay as they are."""
    from fashionlab.engine.programs import population_key

    merged: list[list[PlannedTrial]] = []
    by_key: dict[str, list[list[PlannedTrial]]] = {}
    for group in groups:
        key = population_key(group[0].config)
        if key is None:
            merged.append(group)
        else:
            by_key.setdefault(key, []).append(group)
    for found in by_key.values():
        for start in range(0, len(found), MAX_MEMBERS):
            merged.append([t for g in found[start : start + MAX_MEMBERS] for t in g])
    return merged
