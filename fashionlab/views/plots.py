"""Figures as PNG bytes (matplotlib, Agg). Callers write them atomically where they belong."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fashionlab.data import CLASS_NAMES
from fashionlab.i18n import _, class_word, grouped

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from fashionlab.config import Config
    from fashionlab.store import Run


def _figure(width: float, height: float) -> Figure:
    import os

    os.environ.pop("MPLBACKEND", None)  # fashionlab draws with Agg; MPLBACKEND=nonsense fails matplotlib's import
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(fig: Figure) -> bytes:
    """The figure as PNG bytes; matplotlib's layout warnings (a crowded legend) stay out of the terminal."""
    import warnings

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fig.savefig(buf, format="png", metadata={"Software": "fashionlab"})  # the safe writer's mark
    return buf.getvalue()


def _legend(ax: Any, entries: int) -> None:
    """A legend inside the axes that stays readable with many entries (two columns, smaller type)."""
    ax.legend(fontsize=7 if entries <= 8 else 6, ncol=1 if entries <= 8 else 2, loc="best", framealpha=0.8)


def _training_groups(runs: list[Run]) -> list[list[Run]]:
    """Runs fed by one training together (shortest first), each other run on its own; in input order."""
    groups: list[list[Run]] = []
    placed: dict[str, list[Run]] = {}
    for run in runs:
        shared = [placed[i] for i in run.info.shared_training or [] if i in placed]
        if shared:
            shared[0].append(run)
            placed[run.id] = shared[0]
        else:
            placed[run.id] = [run]
            groups.append(placed[run.id])
    return [sorted(g, key=lambda r: len(r.history())) for g in groups]


def _group_label(group: list[Run], labels: dict[str, str]) -> tuple[str, list[str]]:
    """The group's legend label (what its trials share) and each trial's own part (what differs)."""
    parts = [labels.get(r.id, r.id).split(", ") for r in group]
    common = [p for p in parts[0] if all(p in q for q in parts)]
    own = [
        ", ".join(p for p in q if p not in common) or labels.get(r.id, r.id) for q, r in zip(parts, group, strict=True)
    ]
    if len(group) == 1:
        return labels.get(group[0].id, group[0].id), own
    shared = _("(one training: {trials})").format(trials=", ".join(own))
    return (", ".join(common) + " " if common else "") + shared, own


ENDS = ("s", "D", "^", "v", "P", "X")  # the end of each trial of a shared training, named in the legend (never a
# text label on the curve: at 150 epochs it overprinted the line or ran past the axes)


def _best_epoch(history: list[dict[str, float]]) -> int | None:
    if not history or "val_loss" not in history[0]:
        return None
    finite = [v if np.isfinite(v) else np.inf for v in (row["val_loss"] for row in history)]
    return int(np.argmin(finite))


def curves_png(runs: list[Run], labels: dict[str, str] | None = None) -> bytes:
    """Loss and accuracy per epoch, training solid and validation dashed, runs overlaid.

    Runs that share one training are drawn once, with a hollow marker where each of them ends; a dot marks each
    run's best epoch (lowest val_loss). Legends use `labels` (what sets each run apart), else run ids.
    """
    from matplotlib.ticker import MaxNLocator

    labels = labels or {}
    fig = _figure(11, 4.2)
    ax_loss, ax_acc = fig.subplots(1, 2)
    groups = [g for g in _training_groups(runs) if g[-1].history()]
    for i, group in enumerate(groups):
        history = group[-1].history()
        color = f"C{i % 10}"
        epochs = [row["epoch"] for row in history]
        label, own = _group_label(group, labels)
        for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            ax.plot(epochs, [row.get(key, np.nan) for row in history], color=color, label=label)
            if f"val_{key}" in history[0]:
                ax.plot(epochs, [row.get(f"val_{key}", np.nan) for row in history], color=color, linestyle="--")
        for j, (run, part) in enumerate(zip(group, own, strict=True)):
            mine = history[: len(run.history())]
            best = _best_epoch(mine)
            if best is not None:
                ax_loss.plot(epochs[best], mine[best]["val_loss"], "o", color=color, markersize=7)
                ax_acc.plot(epochs[best], mine[best].get("val_accuracy", np.nan), "o", color=color, markersize=7)
            if len(group) > 1 and mine:  # where each trial of a shared training ends: a marker the legend names
                marker = ENDS[j % len(ENDS)]
                ends = _("{trial} ends").format(trial=part)
                for ax, key in ((ax_loss, "val_loss"), (ax_acc, "val_accuracy")):
                    ax.plot(epochs[len(mine) - 1], mine[-1].get(key, np.nan), marker, color=color, markersize=9,
                            markerfacecolor="white", label=ends if ax is ax_acc else None)  # fmt: skip
    for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.set_xlabel(_("epoch"))
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs, never 1.25
        ax.set_title(key, fontsize=10)
    fig.suptitle(_("solid: train, dashed: validation, dot: best epoch"), fontsize=9)
    if len(runs) == 1:
        ax_loss.legend(["loss", "val_loss"], fontsize=8)
        ax_acc.legend(["accuracy", "val_accuracy"], fontsize=8)
        fig.suptitle(labels.get(runs[0].id, runs[0].id) + " (" + _("solid: train, dashed: validation, dot: best epoch")
                     + ")", fontsize=10)  # fmt: skip
    elif groups:
        _legend(ax_acc, len(ax_acc.get_legend_handles_labels()[1]))
    return _png(fig)


def grid_png(images: np.ndarray, labels: np.ndarray, n: int = 5, names: list[str] | None = None) -> bytes:
    """An n x n grid of images with their class names, like the tutorial's first figure."""
    fig = _figure(2 * n, 2 * n + 0.3)
    axes = fig.subplots(n, n)
    for i, ax in enumerate(axes.flat):
        ax.imshow(images[i], cmap="binary")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(class_word((names or CLASS_NAMES)[int(labels[i])], original=False), fontsize=10)
    return _png(fig)


def confusion_png(report: dict[str, Any]) -> bytes:
    """The confusion matrix as a heat map with counts, rows true and columns predicted."""
    cm = np.asarray(report["confusion_matrix"])
    fig = _figure(8.5, 7.5)
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues")
    names = [class_word(n, original=False) for n in report["class_names"]]
    k = len(names)
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel(_("predicted"))
    ax.set_ylabel(_("true class"))
    threshold = cm.max() / 2
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                str(cm[i, j]),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if cm[i, j] > threshold else "black",
            )
    accuracy = f"{report['test_accuracy']:.4f}"
    ax.set_title(_("{run}: test accuracy {accuracy}").format(run=report["run"], accuracy=accuracy), fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return _png(fig)


def reliability_png(models: list[tuple[str, dict[str, Any]]]) -> bytes:
    """A reliability diagram (Guo et al. 2017): per confidence bin, how often the answers given with that
    confidence were right, one line per model (evidence.calibration), the diagonal where they would match;
    below it, how many answers fall in each bin."""
    fig = _figure(7, 6.5)
    top, bottom = fig.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    top.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label=_("calibrated: right as often as sure"))
    for i, (name, found) in enumerate(models):
        bins = found["bins"]
        centres = (np.arange(bins) + 0.5) / bins
        seen = [j for j in range(bins) if found["images"][j]]
        label = f"{name} (ECE {found['ece']:.3f})"
        top.plot([found["confidence"][j] for j in seen], [found["accuracy"][j] for j in seen], marker="o", label=label)
        width = 0.8 / bins / len(models)
        offset = (i - (len(models) - 1) / 2) * width
        bottom.bar(centres + offset, found["images"], width=width, label=name)
    top.set_ylabel(_("accuracy of the answers in the bin"))
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.set_title(_("Reliability: below the diagonal, more sure than right"), fontsize=10)
    _legend(top, len(models) + 1)
    bottom.set_yscale("log")
    bottom.set_xlabel(_("confidence: the probability of the answer given"))
    bottom.set_ylabel(_("answers"))
    return _png(fig)


def prediction_png(pred: dict[str, Any]) -> bytes:
    """The image beside its probability bars; predicted bar red if wrong, blue if right; true bar blue."""
    fig = _figure(10, 3.8)
    ax_img, ax_bar = fig.subplots(1, 2, width_ratios=[1, 1.6])
    ax_img.imshow(np.asarray(pred["pixels"]), cmap="binary")
    ax_img.set_xticks([])
    ax_img.set_yticks([])
    scores = pred.get("probabilities") is None
    probs = list((pred["scores"] if scores else pred["probabilities"]).values())
    caption = class_word(pred["predicted_name"], original=False) + ("" if scores else f" {100 * max(probs):.0f}%")
    if pred["true_name"] is not None:
        caption += " (" + _("true class: {name}").format(name=class_word(pred["true_name"], original=False)) + ")"
    ax_img.set_xlabel(caption, color="blue" if pred["correct"] in (True, None) else "red")
    names = list((pred["scores"] if scores else pred["probabilities"]).keys())
    bars = ax_bar.bar(range(len(names)), probs, color="#777777")
    bars[pred["predicted"]].set_color("red" if pred["correct"] is False else "blue")
    if pred["true"] is not None:
        bars[pred["true"]].set_color("blue")
    ax_bar.set_xticks(range(len(names)), [class_word(n, original=False) for n in names], rotation=45, ha="right")
    if scores:
        ax_bar.set_ylabel(_("score (not a probability: no softmax)"))
    else:
        ax_bar.set_ylim(0, 1)
        ax_bar.set_ylabel(_("probability"))
    return _png(fig)


GRID_COLUMNS = 3  # images per row of the prediction grid, each with its bars beside it
MAX_GRID = 30


def prediction_grid_png(preds: list[dict[str, Any]]) -> bytes:
    """The TensorFlow tutorial's grid: each image with its predicted class and probability under it, and
    its bars beside it; blue when right, red when wrong, grey when the truth is unknown."""
    n = len(preds)
    cols = min(GRID_COLUMNS, n)
    rows = -(-n // cols)
    fig = _figure(4.2 * cols, 2.1 * rows + 0.3)
    axes = np.atleast_2d(fig.subplots(rows, 2 * cols, width_ratios=[1, 1.3] * cols, squeeze=False))
    for k in range(rows * cols):
        ax_img, ax_bar = axes[k // cols, 2 * (k % cols)], axes[k // cols, 2 * (k % cols) + 1]
        ax_img.set_xticks([])
        ax_img.set_yticks([])
        if k >= n:
            ax_img.set_visible(False)
            ax_bar.set_visible(False)
            continue
        pred = preds[k]
        scores = pred.get("probabilities") is None
        values = list((pred["scores"] if scores else pred["probabilities"]).values())
        color = "grey" if pred["correct"] is None else ("blue" if pred["correct"] else "red")
        ax_img.imshow(np.asarray(pred["pixels"]), cmap="binary")
        shown = class_word(pred["predicted_name"], original=False) + ("" if scores else f" {100 * max(values):.0f}%")
        truth = f" ({class_word(pred['true_name'], original=False)})" if pred["true_name"] is not None else ""
        ax_img.set_xlabel(shown + truth, color=color, fontsize=8)
        where = (
            _("test image {i}").format(i=pred["index"])
            if pred.get("index") is not None
            else Path(str(pred["image_file"])).name
        )
        ax_img.set_title(where, fontsize=7, color="#555555")
        bars = ax_bar.bar(range(len(values)), values, color="#777777")
        bars[pred["predicted"]].set_color("red" if pred["correct"] is False else color)
        if pred["true"] is not None:
            bars[pred["true"]].set_color("blue")
        ax_bar.set_xticks(range(len(values)), [str(i) for i in range(len(values))], fontsize=6)
        ax_bar.tick_params(axis="y", labelsize=6)
        if not scores:
            ax_bar.set_ylim(0, 1)
    fig.suptitle(_("Predicted class and probability (true class); bars: every class's probability, blue right, "
                   "red wrong"), fontsize=9)  # fmt: skip
    names = list((preds[0].get("probabilities") or preds[0].get("scores") or {}).keys()) if preds else []
    if names and names != [str(i) for i in range(len(names))]:  # the bars' numbers, as classes (digits: themselves)
        fig.supxlabel(_("bars: {key}").format(key=", ".join(f"{i} {name}" for i, name in enumerate(names))),
                      fontsize=8)  # fmt: skip
    return _png(fig)


MAX_DRAWN = 32  # layers up to this many neurons are drawn whole; bigger ones show 6, an ellipsis, 6
SHOWN_OF_BIG = 6
PASS_THROUGH = ("flatten", "reshape", "dropout", "batchnorm")  # same neurons, no new connections


MAX_DRAWN_COLUMNS = 12  # more layers than this are drawn as the first 6, a count, and the last 6


def network_png(config: Config) -> bytes:
    """Neurons as circles and their connections as lines; big layers are summarised with an ellipsis."""
    import math

    from fashionlab.network import layer_rows

    columns = [(_("input") + f" {list(config.input_shape)}", math.prod(config.input_shape))]
    for row in layer_rows(config):
        if row.name in PASS_THROUGH:
            continue
        extra = f", {row.activation}" if row.activation not in ("-", "linear") else ""
        columns.append((f"{row.name}{extra}\n{list(row.output_shape)}", math.prod(row.output_shape)))
    if len(columns) > MAX_DRAWN_COLUMNS:  # a summary: the first and last layers, the count of those between
        keep = MAX_DRAWN_COLUMNS // 2
        hidden = len(columns) - 2 * keep
        columns = [*columns[:keep], (_("{n} more layers").format(n=grouped(hidden)), 0), *columns[-keep:]]
    fig = _figure(max(6.0, 2.4 * len(columns)), 7)
    ax = fig.subplots()
    ax.axis("off")
    positions: list[list[float | None]] = []
    for _label, n in columns:
        ys: list[float | None]
        if n == 0:
            ys = [None]
        elif n <= MAX_DRAWN:
            ys = [float(y) for y in np.linspace(1, -1, n)] if n > 1 else [0.0]
        else:
            ys = [float(y) for y in np.linspace(1, 0.2, SHOWN_OF_BIG)]
            ys += [None] + [float(y) for y in np.linspace(-0.2, -1, SHOWN_OF_BIG)]
        positions.append(ys)
    radius = min(0.07, 0.8 / max(len([y for y in p if y is not None]) or 1 for p in positions))
    for x in range(len(columns) - 1):
        left = [y for y in positions[x] if y is not None]
        right = [y for y in positions[x + 1] if y is not None]
        if not left or not right:
            continue
        alpha = max(0.08, min(0.7, 6 / (len(left) * len(right)) ** 0.5))
        for y0 in left:
            for y1 in right:
                ax.plot([x, x + 1], [y0, y1], color="#777777", linewidth=0.6, alpha=alpha, zorder=1)
    for x, ((label, n), ys) in enumerate(zip(columns, positions, strict=True)):
        if n == 0:
            ax.text(x, 0, "⋯", ha="center", va="center", fontsize=28)
            ax.text(x, -1.15, label, ha="center", va="top", fontsize=9)
            continue
        for y in ys:
            if y is None:
                ax.text(x, 0, "⋮", ha="center", va="center", fontsize=22)
            else:
                ax.add_patch(_circle(x, y, radius, "#55a868" if x == 0 else "#4c72b0"))
        ax.text(x, -1.15, _("{n} neurons").format(n=grouped(n)) + f"\n{label}", ha="center", va="top", fontsize=9)
    names = list(config.class_names)
    last = [y for y in positions[-1] if y is not None]
    named = len(last) == len(names) == len(positions[-1])  # each output neuron is a class: say which
    for i, y in enumerate(last if named else []):
        ax.text(
            len(columns) - 1 + 1.8 * radius,
            y,
            f"{i} {class_word(names[i], original=False)}",
            ha="left",
            va="center",
            fontsize=8,
        )
    ax.set_xlim(-0.6, len(columns) - (0.4 if not named else -0.3))
    ax.set_ylim(-1.55, 1.15)
    ax.set_title(f"{config.name}: {' -> '.join(grouped(n) if n else '...' for _label, n in columns)}", fontsize=11)
    return _png(fig)


def _circle(x: float, y: float, radius: float, color: str) -> Any:
    from matplotlib.patches import Ellipse

    return Ellipse((x, y), 2 * radius * 1.4, 2 * radius, color=color, zorder=2)


def settings_curves_png(settings: list[tuple[str, list[Run]]]) -> bytes:
    """Each setting's mean learning curve over its seeds with a band of ± one standard deviation."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(11, 4.2)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, (label, runs) in enumerate(settings):
        histories = [h for h in (r.history() for r in runs) if h]
        if not histories:
            continue
        length = min(len(h) for h in histories)
        epochs = np.arange(1, length + 1)
        color = f"C{i % 10}"
        for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            for name, style in ((key, "-"), (f"val_{key}", "--")):
                if name not in histories[0][0]:
                    continue
                values = np.array([[row.get(name, np.nan) for row in h[:length]] for h in histories])
                mean, sd = values.mean(axis=0), values.std(axis=0, ddof=1) if len(values) > 1 else 0 * values[0]
                shown = f"{label} (n={len(histories)})" if style == "-" else None
                ax.plot(epochs, mean, style, color=color, label=shown)
                ax.fill_between(epochs, mean - sd, mean + sd, color=color, alpha=0.15, linewidth=0)
    for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.set_xlabel(_("epoch"))
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(key, fontsize=10)
    fig.suptitle(_("mean over seeds ± 1 sd (solid: train, dashed: validation)"), fontsize=9)
    _legend(ax_acc, len(settings))
    return _png(fig)
