"""The best epoch so far (the one a run's best.weights file keeps): no Keras here.

The monitor is early_stopping's (val_loss by default), else val_loss, else loss without a validation
split: the same epoch the run's summary calls "best".
"""

from __future__ import annotations

import math

from fashionlab.config.schema import EarlyStopping


class BestEpoch:
    """Tracks the best value of the monitored metric, the epoch it came at, and epochs since."""

    def __init__(self, stopping: EarlyStopping | None, history: list[dict[str, float]] | None = None) -> None:
        self.stopping = stopping
        self.value: float | None = None
        self.epoch: int | None = None
        self.wait = 0
        for row in history or []:
            self.update(row)

    def monitor(self, row: dict[str, float]) -> str:
        if self.stopping is not None:
            return self.stopping.monitor
        return "val_loss" if "val_loss" in row else "loss"

    def update(self, row: dict[str, float]) -> bool:
        """Take one epoch's row; True when it is the best so far."""
        key = self.monitor(row)
        value = row.get(key)
        if value is None or not math.isfinite(value):
            self.wait += 1
            return False
        lower = "loss" in key
        delta = self.stopping.min_delta if self.stopping else 0.0
        improved = self.value is None or (value < self.value - delta if lower else value > self.value + delta)
        if improved:
            self.value, self.epoch, self.wait = value, int(row["epoch"]), 0
        else:
            self.wait += 1
        return improved
