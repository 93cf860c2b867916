"""Numbers computed from results: history summaries, overfitting, per-class metrics (numpy; pvalues for tests)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


def summarize_history(history: list[dict[str, float]]) -> dict[str, Any]:
    """Last and best epoch (lowest val_loss, or loss without validation) and an overfitting verdict."""
    if not history:
        return {"epochs": 0}
    monitor = "val_loss" if "val_loss" in history[0] else "loss"
    values = [row.get(monitor, float("nan")) for row in history]
    finite = [v if np.isfinite(v) else np.inf for v in values]
    best_i = int(np.argmin(finite))
    last, best = history[-1], history[best_i]
    timed = [row["seconds"] for row in history[1:] if "seconds" in row] or [history[0].get("seconds", 0.0)]
    summary: dict[str, Any] = {
        "epochs": len(history),
        "monitor": monitor,
        "last_epoch": int(last["epoch"]),
        "best_epoch": int(best["epoch"]),
        "last": {k: last[k] for k in KEYS if k in last},
        "best": {k: best[k] for k in KEYS if k in best},
        "seconds_per_epoch": float(np.mean(timed)),
        "seconds_total": float(sum(row.get("seconds", 0.0) for row in history)),
    }
    summary["overfitting"], summary["verdict"] = overfitting(history, best_i)
    if monitor == "val_loss" and best_i < len(history) - 1:
        summary["overfit_trend"] = overfit_trend(history, best_i)
    return summary


OVERFIT_AFTER = 3  # epochs after val_loss's minimum that a rising trend needs before it is called one
OVERFIT_P = 0.05  # one-sided: the slope of val_loss over those epochs is above 0
OVERFIT_WANDER = 2.0  # and it rose more than this many times its median epoch-to-epoch change


def overfit_trend(history: list[dict[str, float]], best_i: int) -> dict[str, Any]:
    """The numbers overfitting is decided from (EVIDENCE.md): the epochs after val_loss's minimum, a
    one-sided trend test over them (least-squares slope > 0, pvalues.slope_above_zero), the rise from the
    minimum to the last epoch, val_loss's own epoch-to-epoch wander (median absolute change over the run),
    and whether the training loss fell meanwhile. `overfits` holds only when all say so."""
    values = [float(row["val_loss"]) for row in history]
    after = values[best_i:]
    wander = float(np.median(np.abs(np.diff(values)))) if len(values) > 1 else 0.0
    trend: dict[str, Any] = {
        "epochs_after": len(after) - 1,
        "rise": after[-1] - after[0],
        "wander": wander,
        "loss_fell": history[-1]["loss"] < history[best_i]["loss"],
        "slope": None,
        "p": None,
    }
    if len(after) - 1 >= OVERFIT_AFTER and np.all(np.isfinite(after)):
        from fashionlab import pvalues

        trend.update(pvalues.slope_above_zero(after))
    trend["overfits"] = bool(
        trend["p"] is not None
        and trend["p"] < OVERFIT_P
        and trend["rise"] > OVERFIT_WANDER * wander
        and trend["loss_fell"]
    )
    return trend


def overfitting(history: list[dict[str, float]], best_i: int) -> tuple[bool, str]:
    """Whether val_loss has a rising trend after its minimum, larger than its epoch-to-epoch wander, while
    the training loss fell (overfit_trend), in words; a one-epoch bump is not overfitting."""
    if "val_loss" not in history[0]:
        return False, "No validation split, so overfitting cannot be seen (set validation_split: 0.2)."
    last, best = history[-1], history[best_i]
    if best_i == len(history) - 1:
        return False, f"No overfitting: val_loss was still falling at the last epoch ({int(last['epoch'])})."
    t = overfit_trend(history, best_i)
    if t["overfits"]:
        return True, (
            f"Overfitting: val_loss was lowest ({best['val_loss']:.4f}) at epoch {int(best['epoch'])} and rose to "
            f"{last['val_loss']:.4f} by epoch {int(last['epoch'])}, a rising trend over {t['epochs_after']} epochs "
            f"(p = {t['p']:.2g}) well beyond its epoch-to-epoch wander of {t['wander']:.4f}, while loss kept "
            f"falling ({best['loss']:.4f} -> {last['loss']:.4f}); by val_loss the model of epoch "
            f"{int(best['epoch'])} is the best, and the run keeps its weights beside the last epoch's."
        )
    return False, f"No clear overfitting: {not_yet(t, int(best['epoch']), int(last['epoch']))}"


def not_yet(t: dict[str, Any], best: int, last: int) -> str:
    """Why a rise of val_loss after its minimum is not (yet) overfitting, in English (metrics.json)."""
    head = f"val_loss was lowest at epoch {best} of {last}; "
    if t["epochs_after"] < OVERFIT_AFTER:
        return head + (
            f"the epochs after it ({t['epochs_after']}) are too few to tell a trend from its epoch-to-epoch wander "
            f"(about {t['wander']:.4f}); at least {OVERFIT_AFTER} are needed."
        )
    if t["rise"] <= OVERFIT_WANDER * t["wander"]:
        return (
            head + f"its change since ({t['rise']:+.4f}) is within its epoch-to-epoch wander (about {t['wander']:.4f})."
        )
    if t["p"] is None or t["p"] >= OVERFIT_P:
        p = "n/a" if t["p"] is None else f"{t['p']:.2g}"
        return head + f"its {t['epochs_after']} epochs since show no rising trend (p = {p})."
    return head + "it rose, but the training loss did not fall meanwhile."


def verdict_words(summary: dict[str, Any]) -> str:
    """The summary's overfitting verdict in the chosen language (metrics.json keeps it in English)."""
    from fashionlab.i18n import _, language

    if language() == "en" or "last" not in summary:
        return str(summary.get("verdict", ""))
    last, best = summary["last_epoch"], summary["best_epoch"]
    if "val_loss" not in summary["last"]:
        return _("No validation split, so overfitting cannot be seen (set validation_split: 0.2).")
    if best == last:
        return _("No overfitting: val_loss was still falling at the last epoch ({epoch}).").format(epoch=last)
    t = summary.get("overfit_trend")
    if not isinstance(t, dict) or summary.get("overfitting"):
        return str(summary.get("verdict", ""))
    head = _("No clear overfitting: val_loss was lowest at epoch {best} of {last}; ").format(best=best, last=last)
    wander = f"{t['wander']:.4f}"
    if t["epochs_after"] < OVERFIT_AFTER:
        return head + _(
            "the epochs after it ({n}) are too few to tell a trend from its epoch-to-epoch wander (about {wander}); "
            "at least {need} are needed."
        ).format(n=t["epochs_after"], wander=wander, need=OVERFIT_AFTER)
    if t["rise"] <= OVERFIT_WANDER * t["wander"]:
        return head + _("its change since ({rise}) is within its epoch-to-epoch wander (about {wander}).").format(
            rise=f"{t['rise']:+.4f}", wander=wander
        )
    if t["p"] is None or t["p"] >= OVERFIT_P:
        p = "n/a" if t["p"] is None else f"{t['p']:.2g}"
        return head + _("its {n} epochs since show no rising trend (p = {p}).").format(n=t["epochs_after"], p=p)
    return head + _("it rose, but the training loss did not fall meanwhile.")


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = 10) -> dict[str, Any]:
    """Confusion matrix (rows: true, columns: predicted) and per-class precision/recall/F1/specificity."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    total = cm.sum()
    tp = np.diag(cm).astype(float)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    tn = total - tp - fp - fn
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        specificity = np.where(tn + fp > 0, tn / (tn + fp), 0.0)
    per_class = [
        {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "specificity": float(specificity[i]),
            "support": int(cm[i].sum()),
        }
        for i in range(num_classes)
    ]
    macro = {k: float(np.mean([row[k] for row in per_class])) for k in ("precision", "recall", "f1", "specificity")}
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "per_class": per_class,
        "macro": macro,
        "confusion_matrix": cm.tolist(),
    }


def softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n-1); sd is 0 for a single value."""
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def welch(a: list[float], b: list[float], confidence: float = 0.95) -> dict[str, float] | None:
    """Welch's t-test of mean(a) - mean(b): the difference, its confidence interval and the p-value
    (pvalues.welch: scipy.stats.ttest_ind's numbers with unequal variances). None when either side has fewer
    than 2 values."""
    return welch_many([(a, b)], confidence)[0]


def welch_many(pairs: list[tuple[list[float], list[float]]], confidence: float = 0.95) -> list[dict[str, float] | None]:
    """`welch` of each pair, with one vectorized pvalues.welch per shape of pairs (a table of 1,000
    settings makes 1,000 tests: one call each took 2 ms, one call for all of them 20 ms)."""
    found: list[dict[str, float] | None] = [None] * len(pairs)
    shapes: dict[tuple[int, int], list[int]] = {}
    for i, (a, b) in enumerate(pairs):
        if len(a) < 2 or len(b) < 2:
            continue
        if np.std(a) == 0 and np.std(b) == 0:  # identical repeats: the test is undefined, the difference exact
            diff = float(np.mean(a) - np.mean(b))
            found[i] = {"diff": diff, "low": diff, "high": diff, "p": 0.0 if diff else 1.0}
        else:
            shapes.setdefault((len(a), len(b)), []).append(i)
    if not shapes:
        return found
    from fashionlab import pvalues

    for chosen in shapes.values():
        mine = np.array([pairs[i][0] for i in chosen], dtype=float)
        theirs = np.array([pairs[i][1] for i in chosen], dtype=float)
        result = {k: v.tolist() for k, v in pvalues.welch(mine, theirs, confidence).items()}
        for j, i in enumerate(chosen):
            found[i] = {k: result[k][j] for k in ("diff", "low", "high", "p")}
    return found


def holm(ps: list[float]) -> list[float]:
    """Holm's step-down adjustment of p-values tested together (Holm 1979): the i-th smallest times
    (m - i), kept monotone, at most 1; in the order given. Controls the chance of any false 'better'."""
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i] = running
    return adjusted


def p_text(p: float) -> str:
    """A p-value for people: p=0.051 (never rounded across 0.05), p<0.001."""
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def finite(data: Any) -> Any:
    """`data` with every NaN or infinite float as None: JSON has no NaN, and jq, JavaScript and most
    parsers refuse Python's NaN/Infinity tokens (a diverged run's loss is printed as null)."""
    if isinstance(data, float | np.floating):
        return float(data) if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [finite(v) for v in data]
    return data
