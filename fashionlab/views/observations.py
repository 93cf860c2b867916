"""Sentences a lab report can stand behind, computed from each trial's own numbers.

Every number is a trial's own: its test metrics (the model of its last epoch) and its last epoch's
training and validation values. Trials that are points of one training (a sweep over epochs) are said to
be so, and settings are compared with each other, not seeds of one setting with each other.
"""

from __future__ import annotations

import statistics
from typing import Any

from fashionlab import metrics
from fashionlab.views.compare import settings_label, short_key

SIGNIFICANT = 0.05  # p below this: a difference, not seed noise
SEED_SPREAD = 0.01  # test accuracy of one setting over seeds spans about this much here (REFERENCE.md)


def seconds(value: float) -> str:
    """38.6 s, 2 min 5 s, 1 h 3 min: how long for people."""
    if value < 90:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 90:
        return f"{minutes} min {secs} s"
    return f"{minutes // 60} h {minutes % 60} min"


def _setting(row: dict[str, Any]) -> str:
    """A row's setting: its config without the seed and the name."""
    return repr(sorted((k, repr(v)) for k, v in row["config"].items() if k not in ("seed", "name")))


def _one_training(rows: list[dict[str, Any]]) -> bool:
    """True when these trials were all fed by one training (they name each other as shared)."""
    ids = {r["run"] for r in rows}
    return len(rows) > 1 and all(ids - {r["run"]} <= set(r.get("shared_training", [])) for r in rows)


def _value_label(value: Any) -> str:
    return str(value) if not isinstance(value, float) else f"{value:g}"


def observations(rows: list[dict[str, Any]], keys: list[str]) -> list[str]:
    """The report's observations about these comparison rows (views.compare.compare_row)."""
    done = [r for r in rows if r.get("test_accuracy") is not None]
    if not done:
        return ["No run has finished, so there is nothing to compare yet."]
    keys = [k for k in keys if k not in ("seed", "name")]
    notes = [*_winner(done, keys, rows)]
    notes += [note for key in keys if (note := _effect_of(key, done, keys))]
    notes += [_overfits(r, keys, rows) for r in done if r.get("overfitting")]
    if (gap := _largest_gap(done, keys, rows)) is not None:
        notes.append(gap)
    notes.append(_time(done))
    losses = sorted({str(r["config"].get("loss.name")) for r in done if r["config"].get("loss.name")})
    if len(losses) > 1:
        notes.append(
            f"The runs train different losses ({', '.join(losses)}): their loss values are not comparable, "
            "so these observations compare accuracy."
        )
    return notes


def _winner(done: list[dict[str, Any]], keys: list[str], rows: list[dict[str, Any]]) -> list[str]:
    by_setting: dict[str, list[dict[str, Any]]] = {}
    for r in done:
        by_setting.setdefault(_setting(r), []).append(r)
    means = {s: statistics.fmean(r["test_accuracy"] for r in rs) for s, rs in by_setting.items()}
    ranked = sorted(by_setting, key=lambda s: -means[s])
    best = by_setting[ranked[0]]
    label = settings_label(best[0], keys, rows)
    seeds = f", mean of {len(best)} seeds" if len(best) > 1 else ""
    restored = best[0].get("restored_epoch") if len(best) == 1 else None
    which = f"the model of epoch {restored}, restored by early stopping" if restored else "the model of its last epoch"
    first = (
        f"Highest test accuracy: {label}, {means[ranked[0]]:.4f}{seeds} "
        f"(test loss {statistics.fmean(r['test_loss'] for r in best):.4f}; {which})."
    )
    if len(ranked) == 1:
        return [first]
    if any(len(rs) > 1 for rs in by_setting.values()):
        return [first, _versus(best, [by_setting[s] for s in ranked[1:]], keys, rows)]
    second = by_setting[ranked[1]]
    diff = means[ranked[0]] - means[ranked[1]]
    text = f"Next: {settings_label(second[0], keys, rows)}, {means[ranked[1]]:.4f} ({100 * diff:.2f} points lower)."
    if _one_training([best[0], second[0]]):
        text += " The two are points of one training: the difference is what the extra epochs did."
    elif diff < SEED_SPREAD and max(len(best), len(second)) == 1:
        text += (
            f" With one seed per setting a difference below about {100 * SEED_SPREAD:.0f} point cannot be told "
            "from seed noise; run each setting with several seeds (seed=1,2,3) to judge it."
        )
    return [first, text]


def _versus(
    best: list[dict[str, Any]], others: list[list[dict[str, Any]]], keys: list[str], rows: list[dict[str, Any]]
) -> str:
    """The best setting against each other one in test accuracy: difference, 95% CI and p (Welch's t-test)."""
    mine = [r["test_accuracy"] for r in best]
    parts = []
    for other in others:
        theirs = [r["test_accuracy"] for r in other]
        label = f"{settings_label(best[0], keys, rows)} vs {settings_label(other[0], keys, rows)}"
        test = metrics.welch(mine, theirs)
        if test is None:
            diff = statistics.fmean(mine) - statistics.fmean(theirs)
            parts.append(f"{label}: {diff:+.4f}, not judged (a setting with one seed: add --repeats 3)")
        elif test["p"] >= SIGNIFICANT:
            parts.append(f"{label}: {test['diff']:+.4f}, within seed noise ({metrics.p_text(test['p'])})")
        else:
            seeds = f"{len(mine)} seeds each" if len(mine) == len(theirs) else f"{len(mine)} and {len(theirs)} seeds"
            parts.append(
                f"{label}: {test['diff']:+.4f} (95% CI {test['low']:.3f} to {test['high']:.3f}, "
                f"{metrics.p_text(test['p'])}, {seeds})"
            )
    return "Test accuracy, " + "; ".join(parts) + "."


def _effect_of(key: str, done: list[dict[str, Any]], keys: list[str]) -> str | None:
    """What each value of `key` gave, in the order of its values (averaged over the other settings)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in done:
        groups.setdefault(_value_label(r["config"].get(key)), []).append(r)
    if len(groups) < 2:
        return None
    values = [r["config"].get(key) for r in done]
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):  # 25, 100, 150 in order
        groups = dict(sorted(groups.items(), key=lambda item: float(item[0])))
    parts = [f"{value}: {statistics.fmean(r['test_accuracy'] for r in rs):.4f}" for value, rs in groups.items()]
    others = " averaged over the other settings" if len(keys) > 1 else ""
    text = f"Test accuracy by {short_key(key)}{others}: {', '.join(parts)}."
    if _one_training(done) and len(keys) == 1:
        text += (
            f" These trials are points of one training (the same run, stopped after {', '.join(groups)} "
            f"{short_key(key)}), so they differ only in how long it trained."
        )
    return text


def _overfits(r: dict[str, Any], keys: list[str], rows: list[dict[str, Any]]) -> str:
    return (
        f"{settings_label(r, keys, rows)} overfits: val_loss was lowest at epoch {r['best_epoch']} of "
        f"{r['epochs']} ({r['best_val_loss']:.4f}) and ended at {r['val_loss']:.4f} while the training loss "
        f"kept falling (to {r['loss']:.4f})."
    )


def _largest_gap(done: list[dict[str, Any]], keys: list[str], rows: list[dict[str, Any]]) -> str | None:
    gaps = [
        (r["accuracy"] - r["val_accuracy"], r)
        for r in done
        if r.get("accuracy") is not None and r.get("val_accuracy") is not None
    ]
    if not gaps:
        return None
    gap, r = max(gaps, key=lambda g: g[0])
    if gap <= 0:
        return (
            "At the end of training every trial's validation accuracy was at or above its training accuracy: "
            "no sign of overfitting in accuracy."
        )
    return (
        f"At the end of training the largest gap between training and validation accuracy is "
        f"{100 * gap:.1f} points ({settings_label(r, keys, rows)}: {r['accuracy']:.4f} against "
        f"{r['val_accuracy']:.4f} after epoch {r['epochs']})."
    )


def _time(done: list[dict[str, Any]]) -> str:
    """Training time, counting a shared training once (its longest trial's time)."""
    trainings: dict[frozenset[str], float] = {}
    for r in done:
        group = frozenset([r["run"], *r.get("shared_training", [])])
        trainings[group] = max(trainings.get(group, 0.0), r.get("seconds") or 0.0)
    n = len(trainings)
    return (
        f"Training took {seconds(sum(trainings.values()))} in all: {n} training{'s' if n != 1 else ''} "
        f"for {len(done)} trial{'s' if len(done) != 1 else ''}."
    )
