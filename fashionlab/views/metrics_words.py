"""What precision, recall, F1 and specificity mean, each in one line with one class's own numbers from the
confusion matrix (`evaluate --explain` and the report): the words the lab asks about, defined where the
student reads them."""

from __future__ import annotations

from typing import Any

from fashionlab.i18n import _


def hardest(report: dict[str, Any]) -> int:
    """The class with the lowest F1: the one whose numbers are worth reading."""
    return min(range(len(report["per_class"])), key=lambda i: report["per_class"][i]["f1"])


def definitions(report: dict[str, Any], k: int | None = None) -> list[str]:
    """One line each for precision, recall, F1 and specificity, with class `k`'s counts (default: the hardest)."""
    k = hardest(report) if k is None else k
    cm = report["confusion_matrix"]
    name = report["class_names"][k]
    n = sum(sum(row) for row in cm)
    tp = cm[k][k]
    called = sum(row[k] for row in cm)  # every image the model called this class
    actual = sum(cm[k])  # every image of this class
    fp, fn = called - tp, actual - tp
    tn = n - tp - fp - fn
    row = report["per_class"][k]
    return [
        _("Precision of {name}: of the {called} images the model called {name}, {tp} are {name}: {tp}/{called} = "
          "{value}. How far to trust the answer \"{name}\".").format(
            name=name, called=f"{called:,}", tp=f"{tp:,}", value=f"{row['precision']:.4f}"),
        _("Recall of {name}: of the {actual} images that are {name}, the model found {tp}: {tp}/{actual} = {value}. "
          "How many of them it misses ({fn}).").format(
            name=name, actual=f"{actual:,}", tp=f"{tp:,}", value=f"{row['recall']:.4f}", fn=f"{fn:,}"),
        _("F1 of {name}: 2 x precision x recall / (precision + recall) = {value}, one number that is low when "
          "either is.").format(name=name, value=f"{row['f1']:.4f}"),
        _("Specificity of {name}: of the {others} images that are not {name}, the model called {tn} something else: "
          "{tn}/{others} = {value}.").format(
            name=name, others=f"{tn + fp:,}", tn=f"{tn:,}", value=f"{row['specificity']:.4f}"),
    ]  # fmt: skip
