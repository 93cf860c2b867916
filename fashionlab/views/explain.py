"""What each layer of a config's network does, in plain sentences with its real shapes and weights.

For `show --explain` and the report: the lab asks what Flatten and Dense do, why ReLU sits in the
hidden layers and softmax (or logits) at the output, and which output neuron is which class.
"""

from __future__ import annotations

import math
from typing import Any

from fashionlab.config import Config, Conv2D, Dense, Dropout, MaxPool2D, Reshape
from fashionlab.network import LayerRow, from_logits, last_activation, layer_rows

ACTIVATIONS = {
    "relu": "ReLU, max(0, x), passes positive sums on and turns negative ones into 0: without a non-linear "
    "step like this between them, stacked Dense layers would add up to a single linear map",
    "sigmoid": "sigmoid squashes each sum into 0..1",
    "tanh": "tanh squashes each sum into -1..1",
    "gelu": "GELU is a smooth ReLU: near 0 for negative sums, near x for positive ones",
    "elu": "ELU is ReLU with a smooth negative part that tends to -1",
    "selu": "SELU is a scaled ELU that keeps activations normalised",
    "softplus": "softplus, log(1 + e^x), is a smooth ReLU",
    "swish": "swish, x * sigmoid(x), is a smooth ReLU",
    "leaky_relu": "leaky ReLU passes positive sums and keeps a small slope for negative ones",
}


def shape_text(shape: tuple[int, ...] | list[int]) -> str:
    """(28, 28) -> 28x28; (784,) -> 784 numbers."""
    return f"{shape[0]:,} numbers" if len(shape) == 1 else "x".join(str(s) for s in shape)


def _dense(layer: Dense, before: tuple[int, ...], row: LayerRow, last: bool, config: Config, told: set[str]) -> str:
    n_in, units = before[-1], layer.units
    weights = f"{n_in:,} x {units:,} weights + {units:,} biases = {row.params:,} parameters"
    if not last:
        act = layer.activation or "linear"
        why = ACTIVATIONS.get(act, f"{act} is applied to each sum") if act not in told else f"{act} as above"
        told.add(act)
        return (
            f"Dense({units}, {act}): {units:,} neurons, each connected to every one of the {n_in:,} inputs: "
            f"{weights}. Each neuron sums its inputs times its weights plus its bias; {why}."
        )
    k = config.num_classes
    text = f"Dense({units}{', ' + layer.activation if layer.activation else ''}), the output layer: "
    text += f"one neuron per class ({k}), each connected to all {n_in:,} inputs: {weights}. "
    act = last_activation(config)
    if act == "softmax":
        text += "Softmax turns the outputs into probabilities that are positive and sum to 1."
    elif act == "linear":
        logits = _from_logits(config)
        text += "No activation: it outputs logits, raw scores where the highest wins. " + (
            "The loss is told from_logits=True and applies softmax itself, which is more exact than a softmax "
            "layer; predict applies softmax to show probabilities."
            if logits
            else "The loss reads them as they are, so predict shows scores, not probabilities."
        )
    else:
        text += ACTIVATIONS.get(act, f"{act} is applied to each output").capitalize() + "."
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
            what = "image" if i == 0 or tuple(before) == tuple(config.input_shape) else "block of feature maps"
            text = (
                f"Flatten turns each {shape_text(before)} {what} into one row of {math.prod(before):,} numbers, "
                "in order; it has no weights and learns nothing."
            )
        elif isinstance(layer, Dense):
            text = _dense(layer, before, row, last, config, told)
        elif isinstance(layer, Conv2D):
            k, c = layer.kernel_size, before[-1]
            act = layer.activation or "linear"
            text = (
                f"Conv2D({layer.filters}, {k}x{k}, {act}) slides {layer.filters} filters of {k}x{k}x{c} weights over "
                f"the {shape_text(before)} input: {k}x{k}x{c} x {layer.filters} + {layer.filters} biases = "
                f"{row.params:,} parameters, and gives {shape_text(row.output_shape)} (a map of where each "
                "filter's pattern appears)."
            )
        elif isinstance(layer, MaxPool2D):
            p = layer.pool_size
            text = (
                f"MaxPool2D({p}) keeps the largest value of each {p}x{p} window: {shape_text(before)} -> "
                f"{shape_text(row.output_shape)}, no weights."
            )
        elif isinstance(layer, Dropout):
            text = (
                f"Dropout({layer.rate:g}) sets a random {100 * layer.rate:g}% of its {shape_text(before)} to 0 "
                "while training (never when testing or predicting), so the network cannot rely on any single "
                "neuron; no weights."
            )
        elif layer.kind == "batchnorm":
            c = before[-1]
            text = (
                f"BatchNormalization rescales each of its {c:,} features to mean 0 and sd 1 over the batch, then "
                f"applies a learned scale and shift: {row.params:,} parameters ({2 * c:,} trained, {2 * c:,} "
                "running statistics)."
            )
        elif isinstance(layer, Reshape):
            text = f"Reshape turns {shape_text(before)} into {shape_text(row.output_shape)}; no weights."
        else:
            text = f"{layer.kind}: {shape_text(before)} -> {shape_text(row.output_shape)}, {row.params:,} parameters."
        said.append(text)
        before = row.output_shape
    return said


def explain(config: Config) -> dict[str, Any]:
    """The network in words: the input, each layer, the output neurons' classes, the total."""
    rows = layer_rows(config)
    h, w = config.image_hw
    names = config.class_names
    return {
        "input": (
            f"Input: each image is {h}x{w} grey pixels, scaled from 0-255 to 0-1, given as "
            f"{shape_text(tuple(config.input_shape))}."
        ),
        "layers": layer_sentences(config),
        "classes": [f"{i} {name}" for i, name in enumerate(names)],
        "output": "Output neuron i stands for class i: " + ", ".join(f"{i} {n}" for i, n in enumerate(names)) + ".",
        "total": f"{sum(r.params for r in rows):,} parameters in all, learned by training"
        + (
            " (BatchNormalization's running statistics are averaged over batches, not trained)."
            if any(layer.kind == "batchnorm" for layer in config.layers)
            else "."
        ),
    }
