"""What each layer of a config's network does, in plain sentences with its real shapes and weights.

For `show --explain` and the report: the lab asks what Flatten and Dense do, why ReLU sits in the
hidden layers and softmax (or logits) at the output, and which output neuron is which class.
"""

from __future__ import annotations

import math
from typing import Any

from fashionlab.config import Config, Conv2D, Dense, Dropout, MaxPool2D, Reshape
from fashionlab.i18n import _, class_word, grouped
from fashionlab.network import LayerRow, from_logits, last_activation, layer_rows


def activation_words(name: str) -> str:
    """What an activation does, in the chosen language."""
    return {
        "relu": _("ReLU, max(0, x), passes positive sums on and turns negative ones into 0: without a non-linear "
                  "step like this between them, stacked Dense layers would add up to a single linear map"),
        "sigmoid": _("sigmoid squashes each sum into 0..1"),
        "tanh": _("tanh squashes each sum into -1..1"),
        "gelu": _("GELU is a smooth ReLU: near 0 for negative sums, near x for positive ones"),
        "elu": _("ELU is ReLU with a smooth negative part that tends to -1"),
        "selu": _("SELU is a scaled ELU that keeps activations normalised"),
        "softplus": _("softplus, log(1 + e^x), is a smooth ReLU"),
        "swish": _("swish, x * sigmoid(x), is a smooth ReLU"),
        "leaky_relu": _("leaky ReLU passes positive sums and keeps a small slope for negative ones"),
    }.get(name) or _("{name} is applied to each sum").format(name=name)  # fmt: skip


def shape_text(shape: tuple[int, ...] | list[int]) -> str:
    """(28, 28) -> 28x28; (784,) -> 784 numbers."""
    return _("{n} numbers").format(n=grouped(shape[0])) if len(shape) == 1 else "x".join(str(s) for s in shape)


def _dense(layer: Dense, before: tuple[int, ...], row: LayerRow, last: bool, config: Config, told: set[str]) -> str:
    n_in, units = before[-1], layer.units
    weights = _("{n_in} x {units} weights + {units} biases = {params} parameters").format(
        n_in=grouped(n_in), units=grouped(units), params=grouped(row.params)
    )
    if not last:
        act = layer.activation or "linear"
        why = activation_words(act) if act not in told else _("{name} as above").format(name=act)
        told.add(act)
        return _(
            "Dense({units}, {act}): {n} neurons, each connected to every one of the {n_in} inputs: {weights}. "
            "Each neuron sums its inputs times its weights plus its bias; {why}."
        ).format(units=units, act=act, n=grouped(units), n_in=grouped(n_in), weights=weights, why=why)
    name = f"Dense({units}{', ' + layer.activation if layer.activation else ''})"
    text = (
        _(
            "{name}, the output layer: one neuron per class ({k}), each connected to all {n_in} inputs: {weights}."
        ).format(name=name, k=config.num_classes, n_in=grouped(n_in), weights=weights)
        + " "
    )
    act = last_activation(config)
    if act == "softmax":
        text += _("Softmax turns the outputs into probabilities that are positive and sum to 1.")
    elif act == "linear":
        text += _("No activation: it outputs logits, raw scores where the highest wins.") + " " + (
            _("The loss is told from_logits=True and applies softmax itself, which is more exact than a softmax "
              "layer; predict applies softmax to show probabilities.")
            if _from_logits(config)
            else _("The loss reads them as they are, so predict shows scores, not probabilities.")
        )  # fmt: skip
    else:
        words = activation_words(act)
        text += words[0].upper() + words[1:] + "."
    return text


def _from_logits(config: Config) -> bool:
    try:
        return bool(from_logits(config))
    except Exception:
        return False


def layer_sentences(config: Config) -> list[str]:
    """One or two sentences per layer, in order, with its input and output shapes and parameters."""
    rows = layer_rows(config)
    before: tuple[int, ...] = tuple(config.input_shape)
    said: list[str] = []
    told: set[str] = set()  # activations already explained
    for i, (layer, row) in enumerate(zip(config.layers, rows, strict=True)):
        last = i == len(rows) - 1 or all(r.params == 0 for r in rows[i + 1 :])
        if layer.kind == "flatten":
            image = all(earlier.kind in ("reshape", "dropout", "batchnorm") for earlier in config.layers[:i])
            text = (
                _("Flatten turns each {shape} image into one row of {n} numbers, in order; it has no weights and "
                  "learns nothing.")
                if image
                else _("Flatten turns each {shape} block of feature maps into one row of {n} numbers, in order; it "
                       "has no weights and learns nothing.")
            ).format(shape=shape_text(before), n=grouped(math.prod(before)))  # fmt: skip
        elif isinstance(layer, Dense):
            text = _dense(layer, before, row, last, config, told)
        elif isinstance(layer, Conv2D):
            k, c = layer.kernel_size, before[-1]
            act = layer.activation or "linear"
            text = _(
                "Conv2D({f}, {k}x{k}, {act}) slides {f} filters of {k}x{k}x{c} weights over the {shape} input: "
                "{k}x{k}x{c} x {f} + {f} biases = {params} parameters, and gives {out} (a map of where each "
                "filter's pattern appears)."
            ).format(f=layer.filters, k=k, c=c, act=act, shape=shape_text(before), params=grouped(row.params),
                     out=shape_text(row.output_shape))  # fmt: skip
        elif isinstance(layer, MaxPool2D):
            p = layer.pool_size
            text = _(
                "MaxPool2D({p}) keeps the largest value of each {p}x{p} window: {before} -> {after}, no weights."
            ).format(p=p, before=shape_text(before), after=shape_text(row.output_shape))
        elif isinstance(layer, Dropout):
            text = _(
                "Dropout({rate}) sets a random {percent} of its {shape} to 0 while training (never when testing or "
                "predicting), so the network cannot rely on any single neuron; no weights."
            ).format(rate=f"{layer.rate:g}", percent=f"{100 * layer.rate:g}%", shape=shape_text(before))
        elif layer.kind == "batchnorm":
            c = before[-1]
            text = _(
                "BatchNormalization rescales each of its {c} features to mean 0 and sd 1 over the batch, then "
                "applies a learned scale and shift: {params} parameters ({half} trained, {half} running statistics)."
            ).format(c=grouped(c), params=grouped(row.params), half=grouped(2 * c))
        elif isinstance(layer, Reshape):
            text = _("Reshape turns {before} into {after}; no weights.").format(
                before=shape_text(before), after=shape_text(row.output_shape)
            )
        else:
            text = _("{kind}: {before} -> {after}, {params} parameters.").format(
                kind=layer.kind,
                before=shape_text(before),
                after=shape_text(row.output_shape),
                params=grouped(row.params),
            )
        said.append(text)
        before = row.output_shape
    return said


def explain(config: Config) -> dict[str, Any]:
    """The network in words: the input, each layer, the output neurons' classes, the total."""
    rows = layer_rows(config)
    h, w = config.image_hw
    names = config.class_names
    return {
        "input": _("Input: each image is {h}x{w} grey pixels, scaled from 0-255 to 0-1, given as {shape}.").format(
            h=h, w=w, shape=shape_text(tuple(config.input_shape))
        ),
        "layers": layer_sentences(config),
        "classes": [f"{i} {class_word(name)}" for i, name in enumerate(names)],
        "output": _("Output neuron i stands for class i: {classes}.").format(
            classes=", ".join(f"{i} {class_word(n)}" for i, n in enumerate(names))
        )
        if names != [str(i) for i in range(len(names))]
        else _("Output neuron i stands for class i, named {first} to {last}.").format(first=names[0], last=names[-1]),
        "total": _("{n} parameters in all, learned by training").format(n=grouped(sum(r.params for r in rows)))
        + (
            _(" (BatchNormalization's running statistics are averaged over batches, not trained).")
            if any(layer.kind == "batchnorm" for layer in config.layers)
            else "."
        ),
    }
