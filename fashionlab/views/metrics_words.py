"""What precision, recall, F1 and specificity mean, each in one line with one class's own numbers from the
confusion matrix (`evaluate --explain` and the report): the words the lab asks about, defined where the
student reads them."""

from __future__ import annotations

from typing import Any

from fashionlab.i18n import _, class_word, grouped


def hardest(report: dict[str, Any]) -> int:
    """The class with the lowest F1: the one whose numbers are worth reading."""
    return min(range(len(report["per_class"])), key=lambda i: report["per_class"][i]["f1"])


def definitions(report: dict[str, Any], k: int | None = None) -> list[str]:
    """One line each for precision, recall, F1 and specificity, with class `k`'s counts (default: the hardest)."""
    k = hardest(report) if k is None else k
    cm = report["confusion_matrix"]
    name = class_word(report["class_names"][k], original=False)
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
            name=name, called=grouped(called), tp=grouped(tp), value=f"{row['precision']:.4f}"),
        _("Recall of {name}: of the {actual} images that are {name}, the model found {tp}: {tp}/{actual} = {value}. "
          "How many of them it misses ({fn}).").format(
            name=name, actual=grouped(actual), tp=grouped(tp), value=f"{row['recall']:.4f}", fn=grouped(fn)),
        _("F1 of {name}: 2 x precision x recall / (precision + recall) = {value}, one number that is low when "
          "either is.").format(name=name, value=f"{row['f1']:.4f}"),
        _("Specificity of {name}: of the {others} images that are not {name}, the model called {tn} something else: "
          "{tn}/{others} = {value}.").format(
            name=name, others=grouped(tn + fp), tn=grouped(tn), value=f"{row['specificity']:.4f}"),
    ]  # fmt: skip


def tutorial_code(result: dict[str, Any], config: Any) -> list[str]:
    """`predict --index N --explain`: the TensorFlow tutorial's lines and what each gave for this run and image,
    with its real values (the class, the argmax, the split)."""
    from fashionlab.data import split_counts

    counts = split_counts(config)
    i, k = result["index"], result["predicted"]
    probabilities = result.get("probabilities") or {}
    top = max(probabilities.values()) if probabilities else None
    true = result.get("true")
    lines = [
        _("(train_images, train_labels), (test_images, test_labels) = {load}: this is "
          "test_images[{i}], one of {test} test images.").format(i=i, test=grouped(counts.test),
                                                                 load=config.dataset.tutorial_load),
        _("model.fit(train_images, train_labels, epochs={epochs}, validation_split={split}): it trained on "
          "{train} images and validated on the last {validation} of the {available}, never on the test set.").format(
            epochs=config.epochs, split=config.validation_split, train=grouped(counts.train),
            validation=grouped(counts.validation), available=grouped(counts.available)),
        _("predictions = model.predict(test_images): predictions[{i}] is the row of {k} numbers above, one per "
          "class.").format(i=i, k=config.num_classes),
    ]  # fmt: skip
    if top is not None:
        lines.append(_("np.argmax(predictions[{i}]) = {k}: the position of the largest, {p}.").format(
            i=i, k=k, p=f"{top:.4f}"))  # fmt: skip
    lines.append(_("class_names[{k}] = '{name}'.").format(k=k, name=result["predicted_name"]))
    if true is not None:
        said = (_("test_labels[{i}] = {t} ('{name}'): the prediction is right.") if true == k
                else _("test_labels[{i}] = {t} ('{name}'): the prediction is wrong."))  # fmt: skip
        lines.append(said.format(i=i, t=true, name=result["true_name"]))
    return lines
