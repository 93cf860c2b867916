"""The one stream of what training does, from the loop to whatever listens: the terminal's bars, the
queue of a `--jobs` worker (the same objects cross the process boundary: they pickle), a notebook, the
dashboard. The engine's Progress callback emits the first three, the trainer RunEnded once each run's outcome
is read back from the store; a sweep or search emits TrialEnded as each trial's outcome is recorded.

    loop -> Progress callback -> sink.emit(event) -> bars                   (one process)
    loop -> Progress callback -> worker's queue -> sweep's loop -> bars    (--jobs N)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from fashionlab.store import TrialOutcome


@dataclass(frozen=True)
class RunStarted:
    """A training began: `label` names it within a sweep ("g0"), `run` its (longest) run."""

    label: str
    run: str
    trials: int  # the trials it feeds (configs that differ only in epochs, or a population's)
    epochs: int
    steps: int  # per epoch


@dataclass(frozen=True)
class BatchEnded:
    label: str
    epoch: int  # from 0, as Keras counts
    step: int  # from 1
    logs: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EpochEnded:
    label: str
    row: dict[str, float]  # history.csv's row: epoch (from 1), the metrics, seconds


@dataclass(frozen=True)
class RunEnded:
    """A run of a training ended (completed, diverged, pruned or failed): its status as the store has it."""

    label: str
    run: str
    status: str


@dataclass(frozen=True)
class TrialEnded:
    """A trial of a sweep or search was recorded: completed (trained or found done), failed, pruned."""

    outcome: TrialOutcome


Event = RunStarted | BatchEnded | EpochEnded | RunEnded | TrialEnded


class Sink(Protocol):
    """Whatever listens to the stream."""

    def emit(self, event: Event) -> None: ...
