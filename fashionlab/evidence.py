"""Evidence about trained models on the test images themselves (EVIDENCE.md): two models on the same
images (McNemar's exact test, a paired interval of the per-image loss) and one model's confidence
(errors, mean confidence on wrong answers, the share of errors above 99%, expected calibration error
and its reliability diagram). The tests are pvalues' (scipy.special's distributions, checked against
scipy.stats); the numbers are what the findings carry.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from fashionlab.store.images import ModelImages

BINS = 15  # calibration: equal-width confidence bins (Guo et al. 2017)
SURE = 0.99  # "confidently wrong": an error given more than this probability
SIGNIFICANT = 0.05


def same_images(a: ModelImages, b: ModelImages) -> bool:
    """Both were tested on the same images (the same true classes in the same order)."""
    return a.true.shape == b.true.shape and bool(np.array_equal(a.true, b.true))


def identical(a: ModelImages, b: ModelImages) -> bool:
    """Bit-identical answers, confidences and losses on the same images: the two compute the same thing."""
    return (
        same_images(a, b)
        and np.array_equal(a.predicted, b.predicted)
        and np.array_equal(a.confidence, b.confidence, equal_nan=True)
        and np.array_equal(a.log_p_true, b.log_p_true, equal_nan=True)
    )


def mcnemar(a: ModelImages, b: ModelImages) -> dict[str, Any]:
    """McNemar's exact test (the exact binomial test on the discordant images, pvalues.sign_test): `only_a`
    images only a gets right, `only_b` only b; p two-sided. Both right or both wrong say nothing about which
    is better."""
    from fashionlab import pvalues

    right_a, right_b = a.correct, b.correct
    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    p = pvalues.sign_test(only_a, only_a + only_b)
    return {"images": int(a.true.size), "only_a": only_a, "only_b": only_b, "p": p,
            "right_a": int(right_a.sum()), "right_b": int(right_b.sum())}  # fmt: skip


def paired_loss(a: ModelImages, b: ModelImages, confidence: float = 0.95) -> dict[str, Any] | None:
    """Mean per-image loss of a minus b on the same images, with its paired t interval (pvalues.paired, as
    scipy.stats.ttest_rel); None for models without probabilities."""
    from fashionlab import pvalues

    if not (a.has_probabilities and b.has_probabilities):
        return None
    diff = a.loss - b.loss
    if not np.isfinite(diff).all():
        return None
    mean = float(diff.mean())
    if float(diff.std()) == 0.0:
        return {"diff": mean, "low": mean, "high": mean, "p": 1.0 if mean == 0 else 0.0}
    found = pvalues.paired(a.loss, b.loss, confidence)
    return {"diff": mean, "low": found["low"], "high": found["high"], "p": found["p"]}


def confidence(m: ModelImages, bins: int = BINS) -> dict[str, Any]:
    """How sure one model is, measured: its errors, mean confidence on wrong and on right answers, the share
    of errors above 99% confidence, the mean loss and the expected calibration error over `bins` bins."""
    n, wrong = int(m.true.size), ~m.correct
    found: dict[str, Any] = {"epoch": m.epoch, "images": n, "errors": int(wrong.sum())}
    if not m.has_probabilities:
        return found
    conf = m.confidence.astype("float64")
    found.update(
        mean_loss=float(m.loss.mean()),
        confidence_wrong=float(conf[wrong].mean()) if wrong.any() else None,
        confidence_right=float(conf[~wrong].mean()) if (~wrong).any() else None,
        sure_errors=int(np.sum(conf[wrong] > SURE)),
        sure_share=float(np.mean(conf[wrong] > SURE)) if wrong.any() else None,
        ece=calibration(m, bins)["ece"],
    )
    return found


def calibration(m: ModelImages, bins: int = BINS) -> dict[str, Any]:
    """The reliability diagram's numbers: per equal-width confidence bin its images, mean confidence and
    accuracy; ECE = sum over bins of (images / n) x |accuracy - confidence| (Guo et al. 2017)."""
    conf, right = m.confidence.astype("float64"), m.correct
    which = np.clip(np.ceil(conf * bins).astype(int) - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    sums = np.bincount(which, weights=conf, minlength=bins)
    hits = np.bincount(which, weights=right.astype("float64"), minlength=bins)
    seen = counts > 0
    mean_conf = np.where(seen, sums / np.maximum(counts, 1), np.nan)
    accuracy = np.where(seen, hits / np.maximum(counts, 1), np.nan)
    ece = float(np.sum(counts[seen] / conf.size * np.abs(accuracy[seen] - mean_conf[seen])))
    return {"bins": bins, "images": counts.tolist(), "confidence": _list(mean_conf), "accuracy": _list(accuracy),
            "ece": ece}  # fmt: skip


def confidence_change(a: ModelImages, b: ModelImages, confidence: float = 0.95) -> dict[str, Any] | None:
    """Mean confidence on wrong answers, b minus a, with Welch's interval (the two models' errors are different
    images; pvalues.welch): "more confident when wrong" is said only where it excludes 0 (EVIDENCE.md)."""
    from fashionlab import pvalues

    if not (a.has_probabilities and b.has_probabilities):
        return None
    wa, wb = a.confidence[~a.correct].astype("float64"), b.confidence[~b.correct].astype("float64")
    if len(wa) < 2 or len(wb) < 2:
        return None
    diff = float(wb.mean() - wa.mean())
    if wa.std() == 0 and wb.std() == 0:
        return {"diff": diff, "low": diff, "high": diff, "p": 1.0 if diff == 0 else 0.0}
    found = pvalues.welch(wb, wa, confidence)
    return {"diff": diff, "low": float(found["low"]), "high": float(found["high"]), "p": float(found["p"])}


def two_models(a: ModelImages, b: ModelImages) -> dict[str, Any] | None:
    """Everything said about two models on the same images: McNemar, the paired loss, each one's confidence
    and the change in confidence on wrong answers; None where they were not tested on the same images."""
    if not same_images(a, b):
        return None
    loss = paired_loss(a, b)
    from_wrong = float(np.mean((b.loss - a.loss) * ~b.correct)) if loss is not None else None
    return {
        "identical": identical(a, b), "mcnemar": mcnemar(a, b), "loss": loss,
        "a": confidence(a), "b": confidence(b), "confidence_wrong": confidence_change(a, b),
        "loss_from_wrong_b": from_wrong,  # of b's mean loss minus a's, what the images b gets wrong add
    }  # fmt: skip


def _list(values: np.ndarray) -> list[float | None]:
    return [None if not math.isfinite(v) else float(v) for v in values]
