"""Sentences about two models on the same test images (results/paired.py): McNemar's exact test, the paired
interval of the per-image loss, and confidence on wrong answers, measured. Each says which two models it is
about; none is a claim about settings (that needs seeds: EVIDENCE.md)."""

from __future__ import annotations

from typing import Any

from fashionlab import metrics
from fashionlab.i18n import _, grouped
from fashionlab.results import Finding

SIGNIFICANT = 0.05


def mcnemar_words(m: dict[str, Any], a: str, b: str) -> str:
    """`355 images right only with A, 273 only with B (McNemar's exact test, p=0.001): A is right on more`."""
    p = metrics.p_text(m["p"])
    head = _("{only_a} images right only with {a}, {only_b} only with {b} (McNemar's exact test, {p})").format(
        only_a=grouped(m["only_a"]), a=a, only_b=grouped(m["only_b"]), b=b, p=p
    )
    if m["p"] >= SIGNIFICANT:
        return head + _(": they are right on about as many images")
    return head + _(": {winner} is right on more of them").format(winner=a if m["only_a"] > m["only_b"] else b)


def loss_words(loss: dict[str, Any] | None, a: str, b: str, loss_a: float | None, loss_b: float | None) -> str:
    if loss is None or loss_a is None or loss_b is None:
        return ""
    ci = _("difference {diff}, 95% CI {low} to {high}").format(
        diff=f"{loss['diff']:+.4f}", low=f"{loss['low']:+.4f}", high=f"{loss['high']:+.4f}"
    )
    if loss["low"] > 0 or loss["high"] < 0:
        lower = b if loss["diff"] > 0 else a
        verdict = _("lower with {model}").format(model=lower)
    else:
        verdict = _("no clear difference")
    return _("Mean loss per image {loss_a} vs {loss_b}: {verdict} ({ci}).").format(
        loss_a=f"{loss_a:.4f}", loss_b=f"{loss_b:.4f}", verdict=verdict, ci=ci
    )


def confidence_words(found: dict[str, Any], a: str, b: str) -> str:
    """Errors, mean confidence on wrong answers and errors above 99%, and the claim only where they show it."""
    ca, cb = found.get("a") or {}, found.get("b") or {}
    if ca.get("confidence_wrong") is None or cb.get("confidence_wrong") is None:
        return ""
    head = _(
        "Errors {errors_a} vs {errors_b}; mean confidence on wrong answers {wrong_a} vs {wrong_b}; errors above "
        "{limit} confidence {sure_a} vs {sure_b}"
    ).format(
        limit="99%",
        errors_a=grouped(ca['errors']), errors_b=grouped(cb['errors']), wrong_a=f"{ca['confidence_wrong']:.3f}",
        wrong_b=f"{cb['confidence_wrong']:.3f}", sure_a=f"{100 * ca['sure_share']:.1f}%",
        sure_b=f"{100 * cb['sure_share']:.1f}%",
    )  # fmt: skip
    change = found.get("confidence_wrong") or {}
    if found.get("more_confident") is True:
        return head + _(": {b} is more confident when it is wrong (rise {low} to {high}, 95% CI).").format(
            b=b, low=f"{change['low']:+.3f}", high=f"{change['high']:+.3f}"
        )
    if found.get("more_confident") is False:
        return head + _(": {b} is less confident when it is wrong (change {low} to {high}, 95% CI).").format(
            b=b, low=f"{change['low']:+.3f}", high=f"{change['high']:+.3f}"
        )
    return head + _(": no clear change in confidence on wrong answers.")


def two_models(found: dict[str, Any], a: str, b: str) -> str:
    """Everything measured about models a and b on the same images, in three short sentences."""
    n = found["mcnemar"]["images"]
    said = _("On the same {n} test images, {text}.").format(n=grouped(n), text=mcnemar_words(found["mcnemar"], a, b))
    loss = loss_words(found.get("loss"), a, b, (found.get("a") or {}).get("mean_loss"),
                      (found.get("b") or {}).get("mean_loss"))  # fmt: skip
    return " ".join(part for part in (said, loss, confidence_words(found, a, b)) if part)


def checkpoints_text(found: Finding) -> str:
    """The best epoch's model against the kept one, of one training."""
    n = found.numbers
    a = _("the epoch-{epoch} model").format(epoch=n["best_epoch"])
    b = _("the epoch-{epoch} model").format(epoch=n["kept_epoch"])
    if n.get("identical"):
        return _("{about}: {a} and {b} give bit-identical answers on every test image.").format(
            about=found.about, a=a, b=b
        )
    return (
        _("{about}: its best epoch's model against the one it kept, two models of one training.").format(
            about=found.about
        )
        + " "
        + two_models(n, a, b)
    )


def runs_text(paired: dict[str, Any], a: str, b: str) -> str:
    """Two one-seed runs' models (a comparison that cannot judge the settings): what the images say of them."""
    return two_models(paired, a, b) + " " + _("This is about these two models, not about their settings.")


def loss_grew_text(n: dict[str, Any]) -> str:
    """Over a sweep of epochs: test loss grew while accuracy stayed flat; why, from the images where measured."""
    e, acc, loss = n["epochs"], n["test_accuracy"], n["test_loss"]
    text = _(
        "From {first} to {last} epochs test loss grew {ratio}x ({loss_first} to {loss_last}) while test accuracy "
        "went from {acc_first} to {acc_last}."
    ).format(
        first=e[0], last=e[-1], acc_first=f"{acc[0]:.4f}", acc_last=f"{acc[-1]:.4f}", ratio=f"{n['loss_ratio']:.1f}",
        loss_first=f"{loss[0]:.4f}", loss_last=f"{loss[-1]:.4f}",
    )  # fmt: skip
    found = n.get("paired")
    if not found:
        return text + " " + _("Why cannot be told without per-image evidence (`fashionlab evaluate` on both runs).")
    a = _("the {epochs}-epoch model").format(epochs=e[0])
    b = _("the {epochs}-epoch model").format(epochs=e[-1])
    said = text + " " + two_models(found, a, b)
    rise = (found.get("loss") or {}).get("diff")
    part = found.get("loss_from_wrong_b")
    if found.get("more_confident") is True and rise is not None and rise < 0 and part is not None:
        said += " " + _(
            "The loss punishes confident mistakes: of the rise in mean loss per image ({rise}), {part} comes from the "
            "images {b} gets wrong and {rest} from those it gets right."
        ).format(rise=f"{-rise:+.4f}", part=f"{part:+.4f}", rest=f"{-rise - part:+.4f}", b=b)
    return said
