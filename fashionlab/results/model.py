"""The typed results every table, summary and report sentence is rendered from.

A run's summary, a setting (runs that differ only in seed), a comparison of two settings on one named
metric with its verdict, and findings (overfitting, chance level, dead units, ...), each holding the
numbers and run ids it rests on, so `--format json` lets anyone recompute it from the run files.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from fashionlab import datasets
from fashionlab.keys import NOT_HASHED, short_key

LAST = ("loss", "accuracy", "val_loss", "val_accuracy")
LOWER_IS_BETTER = ("loss", "seconds", "epoch")
# What each metric key of a summary is, in words (column legends and JSON consumers read these).
METRIC_MEANING = {
    "epochs": "epochs trained",
    "loss": "training loss of the last epoch",
    "accuracy": "training accuracy of the last epoch",
    "val_loss": "validation loss of the last epoch",
    "val_accuracy": "validation accuracy of the last epoch",
    "best_epoch": "the best epoch: lowest val_loss (early stopping's monitor where set; loss without validation)",
    "best_loss": "training loss at the best epoch",
    "best_accuracy": "training accuracy at the best epoch",
    "best_val_loss": "validation loss at the best epoch",
    "best_val_accuracy": "validation accuracy at the best epoch",
    "max_val_accuracy": "the highest validation accuracy of any epoch",
    "test_loss": "test loss of the model the run kept (its last epoch, or the one early stopping restored)",
    "test_accuracy": "test accuracy of the model the run kept (its last epoch, or the one early stopping restored)",
    "overfitting": "after its lowest, val_loss rose with a trend over at least 3 epochs (one-sided p < 0.05), "
    "more than twice its epoch-to-epoch wander, while the training loss fell",
    "seconds": "training time",
}
METRICS = list(METRIC_MEANING)


class Verdict(StrEnum):
    """One setting against another on one metric."""

    BETTER = "better"
    WORSE = "worse"
    INCONCLUSIVE = "inconclusive"  # several seeds each, p >= 0.05
    CANNOT_JUDGE = "cannot judge"  # one seed per setting: a setting cannot be told from its seed
    IDENTICAL = "identical"  # equal results on every seed: they compute the same thing, no test is run


def lower_is_better(metric: str) -> bool:
    return any(word in metric for word in LOWER_IS_BETTER)


@dataclass(frozen=True)
class Tested:
    """A model of one epoch, tested on the test set: its loss and every metric it was compiled with, as
    Keras's evaluate names them (accuracy, ...)."""

    epoch: int
    metrics: dict[str, float]

    @property
    def loss(self) -> float:
        return self.metrics["loss"]

    @property
    def accuracy(self) -> float:
        return self.metrics["accuracy"]


@dataclass
class RunSummary:
    """One run as the results see it: what it was (config, task, layers) and what it measured."""

    run: str
    status: str
    config: dict[str, Any]  # the resolved config as dotted keys
    seed: int | None = None
    classes: int = field(default_factory=lambda: len(datasets.get(None).class_names))
    image: tuple[int, int] = field(default_factory=lambda: datasets.get(None).image_hw)
    data: str = field(default_factory=lambda: datasets.get(None).title)  # the data set's title
    layers: list[str] = field(default_factory=list)  # Flatten, Dense(128, relu), ...
    epochs: int | None = None
    monitor: str | None = None  # what chose the best epoch: val_loss, or loss without validation
    best_epoch: int | None = None
    last: dict[str, float] = field(default_factory=dict)
    at_best: dict[str, float] = field(default_factory=dict)
    max_val_accuracy: float | None = None
    max_val_accuracy_epoch: int | None = None
    test: Tested | None = None  # the model the run kept
    test_at_best: Tested | None = None  # the best epoch's model, where it differs from the kept one
    test_samples: int | None = None
    overfitting: bool | None = None
    overfit_trend: dict[str, Any] | None = None  # metrics.overfit_trend: what `overfitting` was decided from
    seconds: float | None = None
    shared_training: list[str] = field(default_factory=list)  # runs fed by the same training
    restored_epoch: int | None = None  # early stopping restored this epoch's weights
    wander: float | None = None  # sd of val_accuracy over the plateau (the last half of the epochs)
    dead_units: list[dict[str, Any]] = field(default_factory=list)  # per ReLU layer: layer, units, dead
    confidence: dict[str, Any] | None = None  # evidence.confidence of the kept model, measured on the test images
    checkpoints: dict[str, Any] | None = None  # evidence.two_models(best epoch's model, kept model)
    images: Callable[[], Any] | None = field(default=None, repr=False, compare=False)  # its ImageEvidence, read once

    @property
    def task(self) -> str:
        """What the model is asked: 10 classes of 28x28 images (and the data set, where it is not Fashion-MNIST)."""
        task = f"{self.classes} classes of {self.image[0]}x{self.image[1]} images"
        return task if self.data == "Fashion-MNIST" else f"{task} ({self.data})"

    @property
    def name(self) -> str:
        return str(self.config.get("name") or self.run)

    @property
    def done(self) -> bool:
        return self.test is not None

    @property
    def test_accuracy(self) -> float | None:
        return self.test.accuracy if self.test else None

    @property
    def test_loss(self) -> float | None:
        return self.test.loss if self.test else None

    def value(self, key: str) -> Any:
        """A metric by its key (METRICS), None where the run has none."""
        if key in LAST:
            return self.last.get(key)
        if key.startswith("best_") and key != "best_epoch":
            return self.at_best.get(key.removeprefix("best_"))
        if key in ("test_loss", "test_accuracy"):
            return getattr(self, key)
        return getattr(self, key, None)

    def setting(self) -> tuple[tuple[str, str], ...]:
        """Its config without the seed and the name: runs with equal settings are repeats (made once: a
        report asks it of every run several times)."""
        made = self.__dict__.get("_setting")
        if made is None:
            made = tuple(sorted((k, repr(v)) for k, v in self.config.items() if k not in ("seed", *NOT_HASHED)))
            self.__dict__["_setting"] = made
        return made

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"run": self.run, "status": self.status, "task": self.task}
        record.update({k: self.value(k) for k in METRICS})
        record.update(
            max_val_accuracy_epoch=self.max_val_accuracy_epoch,
            tested_epoch=self.test.epoch if self.test else None,
            test_at_best={"epoch": self.test_at_best.epoch, **self.test_at_best.metrics} if self.test_at_best else None,
            val_accuracy_wander=self.wander,
            confidence=self.confidence,
            checkpoints=self.checkpoints,
        )
        return record


@dataclass
class Setting:
    """The runs of one setting (the same config but for the seed)."""

    values: dict[str, Any]  # its value on each key that differs between settings
    runs: list[RunSummary] = field(default_factory=list)
    label: str = ""

    def numbers(self, metric: str) -> list[float]:
        found = (r.value(metric) for r in self.runs)
        return [float(v) for v in found if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)]

    def mean(self, metric: str) -> float | None:
        found = self.numbers(metric)
        return statistics.fmean(found) if found else None

    def describe(self) -> str:
        return self.label or ", ".join(f"{short_key(k)}={v}" for k, v in self.values.items()) or "all runs"


@dataclass
class Comparison:
    """Setting `a` against setting `b` on one metric: a's mean minus b's, its uncertainty, and the verdict."""

    metric: str
    a: str  # the settings' labels
    b: str
    a_runs: list[str]
    b_runs: list[str]
    a_values: list[float]
    b_values: list[float]
    diff: float
    verdict: Verdict
    why: str  # the basis of the verdict, in words: "Welch's t-test, p=0.012" or the noise estimate
    p: float | None = None  # Welch's, adjusted by Holm across the comparisons made together (raw_p: before)
    raw_p: float | None = None
    low: float | None = None  # 95% confidence interval of the difference (Welch)
    high: float | None = None
    noise: float | None = None  # one seed: differences below this cannot be told from noise
    agree: tuple[int, int] | None = None  # seeds (paired by seed value) whose difference has diff's sign, of n
    seeds_needed: int | None = None  # seeds per setting that would likely resolve a difference this size
    basis: dict[str, Any] = field(default_factory=dict)  # one seed: what the noise estimate rests on
    paired: dict[str, Any] | None = None  # one seed: evidence.two_models of the two runs on the same test images

    def to_json(self) -> dict[str, Any]:
        found = {f.name: getattr(self, f.name) for f in fields(self)}  # shallow: asdict's deep copy costs 0.3 ms
        found["agree"] = list(self.agree) if self.agree else None
        return found


@dataclass
class Finding:
    """Something the numbers show, with the numbers and the runs it rests on."""

    kind: str  # overfitting | loss_grew | chance | dead_units | confounded | losses_differ | tasks_differ | ...
    runs: list[str]
    numbers: dict[str, Any]
    about: str = ""  # the label of the run or setting it is about

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Results:
    """What a set of runs shows: their summaries (best first by `sort`), settings and the findings."""

    runs: list[RunSummary]
    keys: list[str]  # config keys that differ between the runs
    sort: str
    settings: list[Setting]
    comparisons: list[Comparison]  # each setting against the first (best) on `sort`, in settings' order
    findings: list[Finding]
    labels: dict[str, str]  # each run's label: what sets it apart

    @property
    def repeated(self) -> bool:
        return any(len(s.runs) > 1 for s in self.settings)

    @property
    def best(self) -> RunSummary | None:
        return self.runs[0] if self.runs and self.runs[0].value(self.sort) is not None else None

    @property
    def best_setting(self) -> Setting | None:
        """The first setting, where it has a number to be best on (not one whose every run diverged or
        failed) and the runs are of one task."""
        if not self.settings or self.of("tasks_differ") or not self.settings[0].numbers(self.sort):
            return None
        return self.settings[0]

    def of(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "sort": self.sort,
            "meaning": {k: METRIC_MEANING[k] for k in METRICS},
            "varying": self.keys,
            "runs": [{**r.to_json(), "label": self.labels.get(r.run)} for r in self.runs],
            "settings": [
                {"label": s.describe(), "values": s.values, "runs": [r.run for r in s.runs]} for s in self.settings
            ],
            "comparisons": [c.to_json() for c in self.comparisons],
            "findings": [f.to_json() for f in self.findings],
        }
