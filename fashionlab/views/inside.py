"""Inside the network, drawn: what each unit of the first layer looks for, a tiny network's every weight, and
one image's way through the layers (engine/inside.py gives the numbers)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fashionlab.i18n import _, class_word, grouped
from fashionlab.views.plots import _figure, _png

MAX_UNITS = 64  # unit pictures in one grid; a larger layer shows its most varied ones (and says so)
TINY = 16  # a network whose input and every layer has at most this many units is drawn weight by weight


def unit_images(
    found: dict[str, Any], units: list[int] | None = None
) -> tuple[str, list[np.ndarray], list[int], int] | None:
    """The first layer that sees the image, one picture per unit: a Dense layer on the flattened image (its
    kernel's column u as the image's shape) or a Conv2D's filters (mean over input channels). Its name, the
    pictures, their unit numbers (the most varied MAX_UNITS where it has more) and its total units."""
    h, w = found["image_hw"]
    for layer in found["weights"]:
        kernel = layer["kernel"]
        if layer["kind"] == "Dense" and kernel.shape[0] % (h * w) == 0:
            channels = kernel.shape[0] // (h * w)
            pictures = [kernel[:, u].reshape(h, w, channels).mean(axis=2) for u in range(kernel.shape[1])]
        elif layer["kind"] == "Conv2D":
            pictures = [kernel[:, :, :, f].mean(axis=2) for f in range(kernel.shape[3])]
        else:
            return None
        if units is not None:  # the units another epoch's picture shows, for a side by side
            return layer["name"], [pictures[u] for u in units], units, len(pictures)
        units = list(range(len(pictures)))
        if len(units) > MAX_UNITS:
            units = sorted(sorted(units, key=lambda u: -float(np.std(pictures[u])))[:MAX_UNITS])
        return layer["name"], [pictures[u] for u in units], units, len(pictures)
    return None


def epoch_title(found: dict[str, Any]) -> str:
    """Which weights these are: "epoch 7 (the best)", "epoch 10 (the last)", "epoch 5"."""
    number = found.get("epoch_number")
    if found["epoch"] in ("last", "best"):
        which = _("the last") if found["epoch"] == "last" else _("the best")
        return _("epoch {n} ({which})").format(n=number, which=which) if number else which
    return _("epoch {n}").format(n=number)


def weights_png(
    found: dict[str, Any], best: dict[str, Any] | None = None, reference: dict[str, Any] | None = None
) -> bytes:
    """What each unit of the first layer looks for (blue: the unit adds where the pixel is bright, red: it
    subtracts; white: 0), at the epoch given, beside the same units at another (`best`), in epoch order; with
    `reference` (the run's last epoch), its units on its colour scale, so that pictures of several epochs agree."""
    grids = [(f, epoch_title(f)) for f in ([found] if best is None else [found, best])]
    grids.sort(key=lambda g: g[0].get("epoch_number") or 0)  # the earlier epoch on the left
    latest = unit_images(reference or grids[-1][0])
    if not latest:
        return network_png(found)
    shown = [unit_images(f, latest[2]) for f, _t in grids]  # the latest's units, on one colour scale
    scaled = [latest] if reference is not None else shown  # `reference`: one scale for every epoch of a run
    limit = max(max(float(np.percentile(np.abs(np.stack(s[1])), 99.5)) for s in scaled if s), 1e-9)
    cols = min(8, len(latest[1]))
    rows = math.ceil(len(latest[1]) / cols)
    fig = _figure(1.3 * cols * len(grids) + 0.6, 1.35 * rows + 0.9)
    figures: list[Any] = list(fig.subfigures(1, len(grids), squeeze=False).flat) if len(grids) > 1 else [fig]
    for sub, (_found, title), picked in zip(figures, grids, shown, strict=True):
        assert picked is not None
        name, pictures, units, total = picked
        conv = any(w["name"] == name and w["kind"] == "Conv2D" for w in found["weights"])
        ax = sub.add_subplot()
        ax.set_axis_off()
        label = _("filter {u}") if conv else _("unit {u}")
        tiles, places = _montage(pictures, cols)  # one image, not an axes per unit: 10 times quicker to draw
        ax.imshow(tiles, cmap="RdBu", vmin=-limit, vmax=limit, interpolation="nearest")
        for (x, y), u in zip(places, units, strict=True):
            ax.text(x, y, label.format(u=u), ha="center", va="bottom", fontsize=7)
        said = (_("{name}: {n} filters") if conv else _("{name}: {n} units")).format(name=name, n=total)
        if total > len(pictures) and len(grids) == 1 and reference is None:
            said += " " + _("(the {k} most varied)").format(k=len(pictures))
        elif total > len(pictures):
            said += " " + _("(the {k} most varied at epoch {n})").format(
                k=len(pictures), n=(reference or grids[-1][0]).get("epoch_number")
            )
        sub.suptitle(f"{title} · {said} · " + _("colours to ±{limit}").format(limit=f"{limit:.3g}"), fontsize=9)
    return _png(fig)


def _montage(pictures: list[np.ndarray], cols: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The pictures in rows of `cols`, blank (NaN) between them with room above each for its label; and where
    each label goes (its tile's top centre)."""
    h, w = pictures[0].shape
    gap, above = max(1, w // 6), max(2, round(h * 0.45))
    rows = math.ceil(len(pictures) / cols)
    tiles = np.full((rows * (h + above), cols * (w + gap) - gap), np.nan)
    places = []
    for k, picture in enumerate(pictures):
        top, left = (k // cols) * (h + above) + above, (k % cols) * (w + gap)
        tiles[top : top + h, left : left + w] = picture
        places.append((left + (w - 1) / 2, top - 0.7))
    return tiles, places


def is_tiny(found: dict[str, Any]) -> bool:
    dense = [w for w in found["weights"] if w["kind"] == "Dense"]
    return (
        bool(dense)
        and len(dense) == len(found["weights"])
        and all(w["kernel"].shape[0] <= 64 and w["kernel"].shape[1] <= TINY for w in dense)
    )


def network_png(found: dict[str, Any], reference: dict[str, Any] | None = None) -> bytes:
    """A small network weight by weight, as TensorFlow Playground draws it: each weight a line whose width
    is its size and colour its sign (blue +, orange -), each neuron a circle coloured by its bias; with
    `reference` (another epoch), line widths on its scale."""
    dense = [w for w in found["weights"] if w["kind"] == "Dense"]
    sizes = [dense[0]["kernel"].shape[0], *(w["kernel"].shape[1] for w in dense)]
    fig = _figure(2.2 * len(sizes) + 1, 0.32 * max(sizes) + 1.6)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ys = [np.linspace(1, 0, n) if n > 1 else np.array([0.5]) for n in sizes]  # the first at the top
    from matplotlib.colors import LinearSegmentedColormap

    signs = LinearSegmentedColormap.from_list("playground", ["#ff7f0e", "#ffffff", "#1f77b4"])  # -, 0, +
    widths = [w for w in (reference or found)["weights"] if w["kind"] == "Dense"]  # `reference`: one width scale
    top = max(float(np.abs(w["kernel"]).max()) for w in widths) or 1.0
    from matplotlib.collections import LineCollection

    for k, layer in enumerate(dense):  # every weight of a layer as one collection of lines
        kernel = layer["kernel"]
        i, j = np.meshgrid(np.arange(kernel.shape[0]), np.arange(kernel.shape[1]), indexing="ij")
        segments = np.stack([np.stack([np.full(i.size, k), ys[k][i.ravel()]], 1),
                             np.stack([np.full(i.size, k + 1), ys[k + 1][j.ravel()]], 1)], 1)  # fmt: skip
        weight = kernel.ravel()
        ax.add_collection(LineCollection(list(segments), colors=np.where(weight > 0, "#1f77b4", "#ff7f0e"),
                                         linewidths=0.2 + 3 * np.abs(weight) / top, alpha=0.75, zorder=1))  # fmt: skip
    names = [class_word(n) for n in found["class_names"]]
    for k, n in enumerate(sizes):
        bias = dense[k - 1]["bias"] if k else None
        shade = np.asarray(bias) if bias is not None else np.zeros(n)
        scale = float(np.abs(shade).max()) or 1.0
        ax.scatter([k] * n, ys[k], s=160, c=shade, cmap=signs, vmin=-scale, vmax=scale, edgecolors="#333", zorder=2)
        dead = [int(u) for u in found.get("dead", {}).get(dense[k - 1]["layer"], [])] if k else []
        if dead:  # 0 for every training image tried: no line out of it carries anything
            ax.scatter([k] * len(dead), ys[k][dead], s=60, marker="x", color="#d62728", zorder=3)
        if k == 0:
            h, w = found["image_hw"]
            header = _("{n} inputs: the {h}x{w} pixels, row by row").format(n=n, h=h, w=w)
        else:
            layer = dense[k - 1]
            header = f"{layer['name']}: {n} ({layer['activation'] or 'linear'})"
        ax.text(k, 1.05, header, ha="center", va="bottom", fontsize=8)
        if k == len(sizes) - 1 and n == len(names):
            for y, name in zip(ys[k], names, strict=True):
                ax.text(k + 0.08, y, name, va="center", fontsize=8)
    ax.set_title(
        _("Every weight: width its size, blue positive, orange negative; circles: each neuron's bias (x: dead)"),
        fontsize=9,
        pad=22,
    )
    ax.set_xlim(-0.6, len(sizes) - 0.4)
    return _png(fig)


FEATURE_MAPS = 12  # feature maps drawn per conv layer: the most active ones


def _feature_maps(ax: Any, layer: dict[str, Any], out: np.ndarray) -> None:
    """A conv layer's output for the image: its most active channels' feature maps (height x width) side by
    side, each on its own scale from 0 (dark) to its largest value (bright); dead channels (0 for every
    training image tried) left out and counted."""
    channels, (h, w) = out.shape[-1], out.shape[:2]
    dead = {int(u) for u in layer["dead"]}
    alive = [c for c in range(channels) if c not in dead]
    picked = sorted(sorted(alive, key=lambda c: -float(out[:, :, c].mean()))[:FEATURE_MAPS])
    gap = max(1, w // 6)
    strip = np.full((h, len(picked) * (w + gap)), np.nan)
    for k, c in enumerate(picked):
        top = float(out[:, :, c].max())
        strip[:, k * (w + gap) : k * (w + gap) + w] = out[:, :, c] / top if top > 0 else 0.0
        ax.text(k * (w + gap) + w / 2, -0.8, str(c), ha="center", va="bottom", fontsize=6)
    ax.imshow(strip, cmap="magma", vmin=0, vmax=1, interpolation="nearest", aspect="equal")
    ax.set_axis_off()
    what = f"{layer['name']} ({layer['kind']}{', ' + layer['activation'] if layer['activation'] else ''}): "
    what += _("{n} feature maps of {h}x{w}").format(n=channels, h=h, w=w)
    if len(picked) < channels:
        what += ", " + _("the {k} most active shown (numbered)").format(k=len(picked))
    if dead:
        what += ", " + _("{k} dead").format(k=len(dead))
    ax.set_title(what, fontsize=8, loc="left", pad=10)


def inside_png(found: dict[str, Any]) -> bytes:
    """One image through the network: the image, each layer's outputs (dead ReLU units crossed), the logits
    and the probabilities with the answer."""
    layers = list(found["layers"])
    if (
        layers
        and layers[-1]["activation"] in (None, "linear")
        and np.asarray(layers[-1]["output"]).size == len(found["logits"])
    ):
        layers = layers[:-1]  # a last layer without activation outputs the logits, drawn below with their classes
    fig = _figure(10, 1.4 * (len(layers) + 2) + 0.6)
    grid = fig.add_gridspec(len(layers) + 2, 4)
    image_ax = fig.add_subplot(grid[:2, 0])
    image_ax.imshow(found["pixels"], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    image_ax.set_axis_off()
    image_ax.set_title(_("the image"), fontsize=9)
    for row, layer in enumerate(layers):
        out = np.asarray(layer["output"])
        ax = fig.add_subplot(grid[row, 1:])
        if out.ndim == 3:  # a conv layer's feature maps, drawn as images
            _feature_maps(ax, layer, out)
            continue
        flat = out.reshape(-1)
        if len(flat) > 16:  # one line per value, in one collection: a bar per value takes a second to draw
            ax.vlines(np.arange(len(flat)), 0, flat, color="#1f77b4", linewidth=max(0.8, min(4.0, 400 / len(flat))))
            ax.set_xlim(-1, len(flat))
        else:
            ax.bar(range(len(flat)), flat, width=1.0, color="#1f77b4")
        dead = [int(u) for u in layer["dead"] if u < len(flat)]
        if dead:
            ax.plot(dead, [0] * len(dead), "x", color="#d62728", markersize=4)
        what = f"{layer['name']} ({layer['kind']}{', ' + layer['activation'] if layer['activation'] else ''}): "
        what += _("{n} values").format(n=out.size)
        if len(layer["dead"]):
            what += ", " + _("{k} dead units (x)").format(k=len(layer["dead"]))
        ax.set_title(what, fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
    names = [class_word(n) for n in found["class_names"]]
    logits_ax = fig.add_subplot(grid[len(layers), 1:])
    logits_ax.bar(names, found["logits"], color="#7f7f7f")
    logits_ax.set_title(_("logits: the last layer's sums, before softmax"), fontsize=8, loc="left")
    logits_ax.tick_params(labelsize=7, labelrotation=30)
    probs_ax = fig.add_subplot(grid[len(layers) + 1, 1:])
    colors = ["#1f77b4" if i == found["predicted"] else "#c7c7c7" for i in range(len(names))]
    probs_ax.bar(names, found["probabilities"], color=colors)
    answer = names[found["predicted"]]
    said = _("softmax: the probabilities; argmax {k} = {name} ({p:.1%})").format(
        k=found["predicted"], name=answer, p=float(found["probabilities"][found["predicted"]])
    )
    if found.get("true") is not None:
        said += "; " + _("true class: {name}").format(name=names[found["true"]])
    probs_ax.set_title(said, fontsize=8, loc="left")
    probs_ax.tick_params(labelsize=7, labelrotation=30)
    return _png(fig)


def report_part(inside: dict[str, Any]) -> tuple[list[str], list[tuple[str, bytes]]]:
    """The report's section inside the best run's network: its weights (beside another epoch's where kept)
    and one test image's way through its layers, each said in a sentence or two with its numbers."""
    kept, beside, image = inside["weights"], inside.get("beside"), inside["image"]
    words: list[str] = []
    if is_tiny(kept):
        pictures = [(_("Every weight of the network"), network_png(kept))]
        every = np.concatenate([w["kernel"].reshape(-1) for w in kept["weights"]])
        words.append(_(
            "Every weight of this small network at {epoch}, as TensorFlow Playground draws it: a line's width is the "
            "weight's size, its colour its sign (blue positive, orange negative); a neuron's colour is its bias. Its "
            "{n} weights go from {low:.3f} to {high:.3f}."
        ).format(epoch=epoch_title(kept), n=every.size, low=float(every.min()), high=float(every.max())))  # fmt: skip
    else:
        pictures = [(_("What each first-layer unit looks for"), weights_png(kept, beside))]
        picked = unit_images(kept)
        if picked is not None:
            name, shown, _units, total = picked
            h, w = kept["image_hw"]
            conv = next(w for w in kept["weights"] if w["name"] == name)["kind"] == "Conv2D"
            kh, kw = shown[0].shape
            if conv:
                which = _("all {total} filters") if len(shown) == total else _("{shown} of its {total} filters")
            else:
                which = (
                    _("all {total} units")
                    if len(shown) == total
                    else _("{shown} of its {total} units, the most varied")
                )
            which = which.format(shown=len(shown), total=total)
            words.append((_(
                "What each filter of the layer {name} looks for, at {epoch}: its {kh}x{kw} weights, slid over the "
                "image (blue: a bright pixel there raises its output; red: lowers it); {which}."
            ) if conv else _(
                "What each unit of the layer {name} looks for, at {epoch}: a unit's weights on the {h}x{w} pixels "
                "laid out as the image (blue: a bright pixel there raises the unit's sum; red: lowers it); {which}."
            )).format(name=name, epoch=epoch_title(kept), h=h, w=w, kh=kh, kw=kw, which=which))  # fmt: skip
        if beside is not None:
            first = {e["epoch_number"]: _rms(e) for e in (kept, beside)}
            (a, rms_a), (b, rms_b) = sorted(first.items())
            words.append(_(
                "Beside it, the same units at epoch {other}, on one colour scale: the first layer's weights had a "
                "typical size (root mean square) of {rms_a:.4f} at epoch {a} and {rms_b:.4f} at epoch {b}."
            ).format(other=beside["epoch_number"], a=a, b=b, rms_a=rms_a, rms_b=rms_b))  # fmt: skip
    names = [class_word(n) for n in image["class_names"]]
    p = image["probabilities"]
    said = _(
        "Test image {i} ({truth}), the first of the first 300 that this model gets wrong, through its layers: the "
        "last layer's sums (logits) become, through softmax, {probabilities}; the argmax, {answer}, is its answer."
    ) if image.get("true") is not None and image["true"] != image["predicted"] else _(
        "Test image {i} ({truth}) through its layers: the last layer's sums (logits) become, through softmax, "
        "{probabilities}; the argmax, {answer}, is its answer."
    )  # fmt: skip
    true = image["true"] if image.get("true") is not None else image["predicted"]
    listed = list(dict.fromkeys([*(int(c) for c in np.argsort(-p)[:2]), true]))  # the two likeliest, the truth
    probabilities = ", ".join(f"{names[c]} {float(p[c]):.1%}" for c in listed)
    words.append(said.format(i=image["index"], truth=names[true], answer=names[image["predicted"]],
                             probabilities=probabilities))  # fmt: skip
    for layer in image["layers"]:
        if len(layer["dead"]):
            size = np.asarray(layer["output"]).shape[-1]
            words.append(_(
                "{k} of the {n} units of {name} are dead: 0 for every one of the first {m} training images, they take "
                "no part in any answer."
            ).format(k=len(layer["dead"]), n=size, name=layer["name"], m=grouped(image["dead_images"])))  # fmt: skip
    pictures.append((_("One test image through the network"), inside_png(image)))
    return words, pictures


def _rms(found: dict[str, Any]) -> float:
    kernel = found["weights"][0]["kernel"]
    return float(np.sqrt(np.mean(np.square(kernel))))
