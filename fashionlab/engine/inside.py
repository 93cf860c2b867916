"""Inside a trained network: each layer's weights, and one image's way through it (each layer's output, the
logits, the probabilities, the answer), from the run's own model, with Keras's own intermediate outputs.

A Dense layer's kernel is (inputs, units): unit u's weights are the column kernel[:, u]; for the first
Dense layer after Flatten, input i is pixel (i // width, i % width) of the image (channels last, as
Flatten lays them out), so kernel[:, u].reshape(height, width) is "what unit u looks for". A Conv2D kernel
is (kh, kw, channels in, filters).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fashionlab import metrics as fmetrics
from fashionlab.config import Config
from fashionlab.engine.inference import load_trained
from fashionlab.engine.inputs import test_images_for, to_model_input
from fashionlab.engine.probes import DEAD_UNIT_IMAGES
from fashionlab.engine.probes import activation_name as _activation
from fashionlab.errors import InputError
from fashionlab.network import output_kind
from fashionlab.store import Run


def _layers(model: Any) -> list[Any]:
    return [layer for layer in model.layers if layer.__class__.__name__ != "InputLayer"]


def weights(model: Any) -> list[dict[str, Any]]:
    """Each Dense and Conv2D layer's kernel and bias, as arrays, with its index among the layers."""
    found = []
    for i, layer in enumerate(_layers(model)):
        kind = layer.__class__.__name__
        if kind not in ("Dense", "Conv2D"):
            continue
        kernel = np.asarray(layer.kernel.numpy() if hasattr(layer.kernel, "numpy") else layer.kernel)
        bias = np.asarray(layer.bias.numpy()) if getattr(layer, "bias", None) is not None else None
        found.append({"layer": i, "name": layer.name, "kind": kind, "activation": _activation(layer),
                      "kernel": kernel, "bias": bias})  # fmt: skip
    return found


def activations(model: Any, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's output for the batch `x`: a keras.Model over the layers' outputs, in inference mode."""
    import keras

    layers = _layers(model)
    probe = keras.Model(inputs=model.inputs, outputs=[layer.output for layer in layers])
    outputs = probe(keras.ops.convert_to_tensor(x), training=False)
    return [np.asarray(keras.ops.convert_to_numpy(o)) for o in (outputs if isinstance(outputs, list) else [outputs])]


def dead(model: Any, config: Config) -> dict[int, np.ndarray]:
    """By layer index, the ReLU units that output 0 for every one of the first training images tried."""
    (x_train, _y), _test = config.dataset.load()
    outs = activations(model, to_model_input(x_train[:DEAD_UNIT_IMAGES], config))
    return {
        i: np.flatnonzero(out.reshape(len(out), -1).max(axis=0) <= 0)
        for i, (layer, out) in enumerate(zip(_layers(model), outs, strict=True))
        if _activation(layer) == "relu"
    }


def inside_run(
    run: Run, index: int | None = None, pixels: np.ndarray | None = None, epoch: str = "last"
) -> dict[str, Any]:
    """Test image `index` (or an image's `pixels`) through the run's model: each layer's output, the logits,
    the probabilities, the answer, the true class where known, and the weights, for the views."""
    config, model = load_trained(run, epoch=epoch, for_training=False)
    true = None
    if pixels is None:
        x_test, y_test = test_images_for(config)
        if index is None or not 0 <= index < len(x_test):
            raise InputError(
                f"`index` {index} is out of range; the test set has {len(x_test)} images (0-{len(x_test) - 1})"
            )
        pixels, true = x_test[index], int(y_test[index])
    x = to_model_input(pixels[None], config)
    outs = activations(model, x)
    layers = _layers(model)
    last = layers[-1]
    kind = output_kind(config)
    if _activation(last) == "softmax":  # the logits: the last layer's sums before its softmax
        previous = outs[-2][0].reshape(-1) if len(outs) > 1 else x.reshape(-1)
        logits = previous @ np.asarray(last.kernel.numpy()) + np.asarray(last.bias.numpy())
    else:
        logits = outs[-1][0].reshape(-1)
    probs = fmetrics.softmax(logits[None])[0] if kind == "logits" else outs[-1][0].reshape(-1)
    dead_units = dead(model, config)
    return {
        "run": run.id, "epoch": epoch, "epoch_number": run.weights_epoch(epoch), "index": index, "pixels": pixels,
        "true": true,
        "class_names": list(config.class_names), "image_hw": config.image_hw,
        "layers": [{"index": i, "name": layer.name, "kind": layer.__class__.__name__, "activation": _activation(layer),
                    "output": out[0], "dead": dead_units.get(i, np.array([], dtype=int))}
                   for i, (layer, out) in enumerate(zip(layers, outs, strict=True))],
        "logits": logits, "probabilities": probs, "predicted": int(np.argmax(probs)), "output": kind,
        "weights": weights(model), "dead_images": DEAD_UNIT_IMAGES,
    }  # fmt: skip


def run_weights(run: Run, epoch: str = "last", dead_units: bool = True) -> dict[str, Any]:
    """The run's model's weights (at its last, best or a kept epoch), with what the views need to draw them;
    without `dead_units`, no dead units (a picture drawn beside another, or only for its scale, needs none)."""
    config, model = load_trained(run, epoch=epoch, for_training=False)
    return {
        "run": run.id, "epoch": epoch, "epoch_number": run.weights_epoch(epoch), "image_hw": config.image_hw,
        "input_shape": list(config.input_shape),
        "class_names": list(config.class_names), "weights": weights(model),
        "dead": dead(model, config) if dead_units else {},
    }  # fmt: skip
