"""Looking inside a trained model for what the results rest on: ReLU units that never fire."""

from __future__ import annotations

from typing import Any

import numpy as np

DEAD_UNIT_IMAGES = 2000  # training images a chance-level model is run on to find ReLU units that never fire


def activation_name(layer: Any) -> str:
    """A layer's activation by name ("relu", "softmax"; "" where it has none)."""
    return str(getattr(getattr(layer, "activation", None), "__name__", "") or "")


def dead_units(model: Any, x: np.ndarray) -> list[dict[str, Any]]:
    """Per ReLU layer: its units and how many output 0 for every one of these images."""
    import keras

    out: list[dict[str, Any]] = []
    values = keras.ops.convert_to_tensor(x)
    for i, layer in enumerate(model.layers):
        values = layer(values, training=False)
        if activation_name(layer) == "relu":
            fired = np.asarray(keras.ops.convert_to_numpy(values)).reshape(len(x), -1).max(axis=0) > 0
            out.append({"layer": i, "name": layer.name, "units": int(fired.size), "dead": int((~fired).sum())})
    return out
