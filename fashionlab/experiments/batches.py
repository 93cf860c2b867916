"""A search's trials asked k at a time (Optuna's ask for k, then tell each its result): the ones of one
program (engine/programs.py: they differ in seed, learning rate or epochs) train together as one
population, one compiled program for all of them; the others one by one.

With k = 1 (the default) a search asks each trial after the one before it has been told, so its sampler
knows every earlier result; a batch of k trades that for throughput where a population is fast (a GPU).
Pruning stops trials one by one between epochs, so a trial with a pruner always trains alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fashionlab.config import Config
from fashionlab.experiments.executors import Group
from fashionlab.store import RunStatus, TrialOutcome


@dataclass
class Asked:
    """One trial asked of the study: Optuna's trial, the record the search keeps of it, its config."""

    trial: Any
    record: TrialOutcome
    config: Config


class Batches:
    """Groups to train from trials asked `size` at a time; the trials behind each group, to tell."""

    def __init__(self, size: int, population: bool) -> None:
        self.size, self.population = max(1, size), population
        self.pending: list[Group] = []
        self.members: dict[str, list[Asked]] = {}

    def next_group(
        self, ask: Callable[[], Asked | None], more: Callable[[], bool], pruner: Callable[[Any], Any]
    ) -> Group | None:
        """The next group to train: asks up to `size` trials (`ask` returns None for one told already)
        while `more()` says the search wants more, and groups them."""
        if not self.pending:
            asked: list[Asked] = []
            while len(asked) < self.size and more():
                one = ask()
                if one is not None:
                    asked.append(one)
            self._group(asked, pruner)
        return self.pending.pop(0) if self.pending else None

    def _group(self, asked: list[Asked], pruner: Callable[[Any], Any]) -> None:
        from fashionlab.engine.programs import population_key

        by_program: dict[str, list[Asked]] = {}
        for one in asked:
            key = population_key(one.config) if self.population and len(asked) > 1 else None
            by_program.setdefault(key if key is not None else f"alone-{one.trial.number}", []).append(one)
        for members in by_program.values():
            label = "t" + "+".join(str(m.trial.number) for m in members)
            self.members[label] = members
            unique = {m.config.hash(): m.config.resolved() for m in members}  # a config asked twice trains once
            alone = len(members) == 1
            self.pending.append(Group(label, list(unique.values()), pruner(members[0].trial) if alone else None))

    def told(self, group: Group, outcomes: list[TrialOutcome]) -> list[tuple[Asked, TrialOutcome]]:
        """Each trial of `group` with its outcome (interrupted where the training gave it none)."""
        by_hash = {o.hash: o for o in outcomes}
        return [
            (m, by_hash.get(m.config.hash()) or TrialOutcome(m.config.hash(), RunStatus.INTERRUPTED))
            for m in self.members.pop(group.label)
        ]
