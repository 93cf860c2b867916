"""Findings: what the numbers of a set of runs show, each with the numbers and run ids it rests on.

overfitting   val_loss rose from its lowest while training loss fell (once per training)
checkpoints   the best epoch's model against the kept one on the test images (results/paired.py)
loss_grew     over a sweep of epochs: test loss grew 1.5x; the images of the shortest and longest say why
chance        test accuracy within noise of 1/k (k classes), or test loss at ln k: it learned nothing
dead_units    ReLU units that output 0 for every training image (measured at the end of a chance-level run)
one_training  trials that are points of one training (a sweep over epochs)
architecture  two configs' layers, as the changes from one to the other
confounded    the settings compared differ in their seed too, or are not a full grid of their keys
losses_differ runs that train different losses: loss values are not comparable
tasks_differ  runs of different tasks (classes, image size): not ranked together
"""

from __future__ import annotations

import math
from typing import Any

from fashionlab.results import paired
from fashionlab.results.model import Finding, Results, RunSummary

LOSS_GREW = 1.5  # test loss this many times its first value, with accuracy flat: the lab's lesson
LN_K_CLOSE = 0.01  # a loss this close to ln k: every class gets the same probability


def all_findings(res: Results) -> list[Finding]:
    found: list[Finding] = []
    found += tasks_differ(res.runs)
    for row in res.runs:
        found += chance(row, res.labels.get(row.run, row.run))
    for group in trainings(res.runs):
        over, pair = overfitting(group, res.labels), paired.checkpoints(group, res.labels)
        for finding in over if pair else []:
            finding.numbers["paired_test"] = True  # the two models' test is said by `checkpoints`, in full
        found += over + pair
    found += one_training(res)
    found += loss_grew(res)
    found += architecture(res)
    found += confounded(res) if len({r.task for r in res.runs}) == 1 else []
    found += losses_differ(res.runs)
    found += optimizer_settings(res.runs, res.keys)
    found += chance_in_means(res)
    return found


def chance_in_means(res: Results) -> list[Finding]:
    """Settings whose mean over seeds mixes runs at chance level with runs that learned (tiny's seed 42
    beside seeds that train): said, with the runs, so a mean is never read as a typical run."""
    said = []
    for setting in res.settings:
        if len(setting.runs) < 2:
            continue
        stuck = [r.run for r in setting.runs if chance(r, "")]
        if stuck and len(stuck) < len(setting.runs):
            numbers = {"at_chance": stuck, "runs": len(setting.runs)}
            said.append(Finding("chance_in_mean", [r.run for r in setting.runs], numbers, setting.describe()))
    return said


def optimizer_settings(rows: list[RunSummary], keys: list[str]) -> list[Finding]:
    """Where the optimizer varies: the learning rate (and sgd's momentum) each one ran at, and whether that
    was Keras's default, so `optimizer=sgd` is not read as the shipped sgd config (momentum 0.9)."""
    if "optimizer.name" not in keys:
        return []
    from fashionlab.config.schema import OPTIMIZERS

    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        name = str(row.config.get("optimizer.name"))
        defaults = OPTIMIZERS.get(name, {})
        entry = seen.setdefault(name, {"name": name, "learning_rate": [], "default": True, "momentum": []})
        given = row.config.get("optimizer.learning_rate")
        rate = given if given is not None else defaults.get("learning_rate")
        if rate not in entry["learning_rate"]:
            entry["learning_rate"].append(rate)
        entry["default"] = entry["default"] and given is None and row.config.get("optimizer.momentum") is None
        if "momentum" in defaults:
            momentum = row.config.get("optimizer.momentum", defaults["momentum"])
            if momentum not in entry["momentum"]:
                entry["momentum"].append(momentum)
    return [Finding("optimizer_settings", [r.run for r in rows], {"optimizers": list(seen.values())})]


def trainings(rows: list[RunSummary]) -> list[list[RunSummary]]:
    """Runs grouped by the training that fed them (a sweep over epochs trains once), shortest first."""
    groups: dict[frozenset[str], list[RunSummary]] = {}
    for row in rows:
        groups.setdefault(frozenset([row.run, *row.shared_training]), []).append(row)
    return [sorted(g, key=lambda r: r.epochs or 0) for g in groups.values()]


def tasks_differ(rows: list[RunSummary]) -> list[Finding]:
    tasks: dict[str, list[str]] = {}
    for row in rows:
        tasks.setdefault(row.task, []).append(row.run)
    if len(tasks) < 2:
        return []
    return [Finding("tasks_differ", [r.run for r in rows], {"tasks": tasks})]


def chance(row: RunSummary, about: str) -> list[Finding]:
    """Learned nothing: test accuracy within three binomial sds of 1/k, or the loss at ln k."""
    if row.test is None or not row.test_samples:
        return []
    k, n = row.classes, row.test_samples
    tolerance = max(3 * math.sqrt((1 / k) * (1 - 1 / k) / n), 0.005)
    at_ln_k = abs(row.test.loss - math.log(k)) < LN_K_CLOSE
    if abs(row.test.accuracy - 1 / k) > tolerance and not at_ln_k:
        return []
    numbers: dict[str, Any] = {
        "test_accuracy": row.test.accuracy, "chance": 1 / k, "classes": k, "test_samples": n,
        "tolerance": tolerance, "test_loss": row.test.loss, "ln_k": math.log(k), "loss_at_ln_k": at_ln_k,
    }  # fmt: skip
    said = [Finding("chance", [row.run], numbers, about)]
    dead = [{**d, "words": row.layers[d["layer"]] if 0 <= d.get("layer", -1) < len(row.layers) else d.get("name")}
            for d in row.dead_units if d.get("dead")]  # fmt: skip
    if dead:
        said.append(Finding("dead_units", [row.run], {"layers": dead}, about))
    return said


def overfitting(group: list[RunSummary], labels: dict[str, str]) -> list[Finding]:
    """Once per training, from its longest run: val_loss from its lowest to its last, loss, test of both."""
    row = group[-1]
    if not row.overfitting or row.best_epoch is None or "val_loss" not in row.at_best or "val_loss" not in row.last:
        return []
    numbers: dict[str, Any] = {
        "best_epoch": row.best_epoch, "last_epoch": row.epochs, "val_loss_best": row.at_best["val_loss"],
        "val_loss_last": row.last["val_loss"], "loss_best": row.at_best.get("loss"), "loss_last": row.last.get("loss"),
    }  # fmt: skip
    if row.test_at_best is not None and row.test is not None:  # the paired test of the two: `checkpoints`
        numbers.update(
            test_accuracy_best=row.test_at_best.accuracy, test_loss_best=row.test_at_best.loss,
            test_accuracy_last=row.test.accuracy, test_loss_last=row.test.loss,
        )  # fmt: skip
    numbers["earlier_trials"] = [labels.get(r.run, r.run) for r in group[:-1]]
    trend = row.overfit_trend or {}
    numbers.update(
        epochs_after=trend.get("epochs_after"), trend_p=trend.get("p"), trend_slope=trend.get("slope"),
        wander=trend.get("wander"),
    )  # fmt: skip
    return [Finding("overfitting", [r.run for r in group], numbers, labels.get(row.run, row.run))]


def trained_again(repeats: list[list[RunSummary]], labels: dict[str, str]) -> list[Finding]:
    """Runs of one config and seed: one run trained n times (the first stands for them), with each one's
    test accuracy, and whether their results are identical."""
    found = []
    for group in repeats:
        accuracy = [r.test.accuracy if r.test else None for r in group]
        loss = [r.test.loss if r.test else None for r in group]
        numbers = {
            "runs": [r.run for r in group], "times": len(group), "test_accuracy": accuracy,
            "identical": len(set(accuracy)) == 1 and len(set(loss)) == 1 and accuracy[0] is not None,
        }  # fmt: skip
        found.append(Finding("trained_again", [r.run for r in group], numbers, labels.get(group[0].run, group[0].run)))
    return found


def one_training(res: Results) -> list[Finding]:
    return [
        Finding(
            "one_training",
            [r.run for r in g],
            {"epochs": [r.epochs for r in g]},
            ", ".join(res.labels[r.run] for r in g),
        )
        for g in trainings(res.runs)
        if len(g) > 1
    ]


def loss_grew(res: Results) -> list[Finding]:
    """Settings that differ only in epochs, whose test loss grew LOSS_GREW times from the shortest to the
    longest: the numbers, and what the two models' images say of why (results/paired.py); whether accuracy
    moved is said by McNemar's test on those images, not by a band."""
    if [k for k in res.keys if k != "seed"] != ["epochs"]:
        return []
    ordered = sorted((s for s in res.settings if s.mean("test_loss") is not None), key=lambda s: s.values["epochs"])
    if len(ordered) < 2:
        return []
    accuracy = [s.mean("test_accuracy") or 0.0 for s in ordered]
    loss = [s.mean("test_loss") or 0.0 for s in ordered]
    if loss[-1] < LOSS_GREW * loss[0]:
        return []
    runs = [r for s in ordered for r in s.runs]
    numbers = {
        "epochs": [s.values["epochs"] for s in ordered], "test_accuracy": accuracy, "test_loss": loss,
        "loss_ratio": loss[-1] / loss[0], "seeds": [len(s.runs) for s in ordered],
        "paired": paired.confidence_over_epochs(res, ordered),
    }  # fmt: skip
    return [Finding("loss_grew", [r.run for r in runs], numbers)]


def architecture(res: Results) -> list[Finding]:
    """Settings whose layers differ, each against the first one's layers."""
    from fashionlab.keys import layers_diff

    if not any(k.startswith("layers.") for k in res.keys) or len(res.settings) < 2:
        return []
    first = min((s.runs[0] for s in res.settings), key=lambda r: r.run)  # the oldest: what was changed
    said = []
    for setting in res.settings:
        other = setting.runs[0]
        if other.layers != first.layers and other is not first:
            changes = layers_diff(first.layers, other.layers)
            numbers = {"from": first.name, "to": other.name, "from_layers": first.layers,
                       "to_layers": other.layers, "changes": changes}  # fmt: skip
            said.append(Finding("architecture", [first.run, other.run], numbers, setting.describe()))
    return said


def confounded(res: Results) -> list[Finding]:
    """Settings that differ in their seeds too, or keys that do not form a full grid."""
    said: list[Finding] = []
    compared = [k for k in res.keys if k != "seed"]
    seeds = {s.describe(): sorted({r.seed for r in s.runs if r.seed is not None}) for s in res.settings}
    if "seed" in res.keys and compared and len(res.settings) > 1 and len({tuple(v) for v in seeds.values()}) > 1:
        said.append(
            Finding("confounded", [r.run for r in res.runs], {"keys": compared, "also": "seed", "seeds": seeds})
        )
    axes = _label_keys(compared)
    if len(axes) > 1:
        values = {k: {repr(r.config.get(k)) if k != "layers" else r.name for r in res.runs} for k in axes}
        cells = {tuple(repr(r.config.get(k)) if k != "layers" else r.name for k in axes) for r in res.runs}
        grid = math.prod(len(v) for v in values.values())
        if len(cells) < grid:
            numbers = {"keys": axes, "settings": len(cells), "full_grid": grid}
            said.append(Finding("not_a_grid", [r.run for r in res.runs], numbers))
    return said


def _label_keys(keys: list[str]) -> list[str]:
    return list(dict.fromkeys("layers" if k.startswith("layers.") else k for k in keys))


def losses_differ(rows: list[RunSummary]) -> list[Finding]:
    losses = sorted({str(r.config.get("loss.name")) for r in rows if r.done and r.config.get("loss.name")})
    if len(losses) < 2:
        return []
    return [Finding("losses_differ", [r.run for r in rows if r.done], {"losses": losses})]


def full_grid(res: Results) -> bool:
    """Whether the settings cover every combination of the keys' values (marginals mean something)."""
    return not res.of("not_a_grid") and not res.of("confounded")
