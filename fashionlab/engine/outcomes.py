"""What a training gives back: each run's outcome (completed, or stopped and why). No Keras here:
experiments and the CLI import these without starting a framework. What it reports while it works is
fashionlab.events' stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fashionlab.errors import FashionlabError, StorageError
from fashionlab.store import Run, RunStatus

DIVERGED_LOSS = 1e4  # a classifier guessing uniformly scores ln(10) = 2.3; far above that, training has blown up

CHANCE_MARGIN = 0.05  # test accuracy this close to 1/k: worth looking for dead units (results decide)

Pruner = Callable[[dict[str, float]], bool]  # called after each epoch; True stops the training as pruned


@dataclass
class TrainResult:
    """A completed run: its summary (last and best epoch, overfitting) and test metrics."""

    run: Run
    summary: dict[str, Any]
    test: dict[str, float]


class RunStopped(FashionlabError):
    """A run that did not complete: `run_id` names its directory, which keeps its history and error."""

    def __init__(self, message: str, run_id: str, status: RunStatus, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.status = status
        self.cause = cause  # the exception that failed the training, if one did


class Diverged(RunStopped):
    """The loss became NaN, infinite or absurdly large."""


Outcome = TrainResult | RunStopped


def completed(outcome: Outcome) -> TrainResult:
    """The outcome of a run that had to complete: its result, else the error that says why it did not."""
    if isinstance(outcome, TrainResult):
        return outcome
    cause = outcome.cause
    if isinstance(cause, OSError):
        raise StorageError(f"run {outcome.run_id} failed: cannot write to its directory ({cause})") from cause
    if cause is not None:
        raise cause
    raise outcome


def run_id(outcome: Outcome) -> str:
    return outcome.run.id if isinstance(outcome, TrainResult) else outcome.run_id
