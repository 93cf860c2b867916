"""Config -> compiled keras.Model, ready to train: layers, optimizer, loss, metrics."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from fashionlab.config import Config, Layer
from fashionlab.engine.backend import use_backend
from fashionlab.errors import ConfigError
from fashionlab.network import from_logits, layer_rows

if TYPE_CHECKING:
    import keras

MAX_STEPS_PER_EXECUTION = 50  # batches per compiled call: same numbers, far less Python overhead


# Keras's own names for the layers, numbered within one model as a fresh process numbers them (dense,
# dense_1, ...): a sweep's trials trained in one process would otherwise be dense_7, dense_8, ...
BASE_NAMES = {"flatten": "flatten", "dense": "dense", "dropout": "dropout", "conv2d": "conv2d",
              "maxpool2d": "max_pooling2d", "batchnorm": "batch_normalization", "reshape": "reshape"}  # fmt: skip


def _keras_layer(layer: Layer, name: str) -> keras.layers.Layer:
    import keras

    a = layer.args()
    if layer.kind == "flatten":
        return keras.layers.Flatten(name=name)
    if layer.kind == "dense":
        return keras.layers.Dense(a["units"], activation=a["activation"], name=name)
    if layer.kind == "dropout":
        return keras.layers.Dropout(a["rate"], name=name)
    if layer.kind == "conv2d":
        return keras.layers.Conv2D(
            a["filters"], a["kernel_size"], strides=a["strides"], padding=a["padding"], activation=a["activation"],
            name=name,
        )  # fmt: skip
    if layer.kind == "maxpool2d":
        return keras.layers.MaxPooling2D(a["pool_size"], strides=a["strides"], padding=a["padding"], name=name)
    if layer.kind == "batchnorm":
        return keras.layers.BatchNormalization(momentum=a["momentum"], epsilon=a["epsilon"], name=name)
    if layer.kind == "reshape":
        return keras.layers.Reshape(tuple(a["target_shape"]), name=name)
    raise AssertionError(f"no Keras layer for {layer.kind}")


def layer_names(config: Config) -> list[str]:
    """Each layer's name in the model: Keras's base name, then _1, _2, ... for the next of its kind."""
    seen: dict[str, int] = {}
    names = []
    for layer in config.layers:
        base = BASE_NAMES.get(layer.kind, layer.kind)
        names.append(f"{base}_{seen[base]}" if seen.get(base) else base)
        seen[base] = seen.get(base, 0) + 1
    return names


def build_model(config: Config) -> keras.Model:
    """The uncompiled keras.Sequential model the config describes."""
    import keras

    layer_rows(config)  # raises ConfigError for impossible shapes before Keras does, with a better message
    return keras.Sequential(
        [keras.Input(tuple(config.input_shape))]
        + [_keras_layer(layer, name) for layer, name in zip(config.layers, layer_names(config), strict=True)],
        name=scope_name(config.name),
    )


def scope_name(name: str) -> str:
    """A model name every backend takes as a scope: TensorFlow's root scopes are [A-Za-z0-9.][A-Za-z0-9_.>/-]*
    ('tutorial-optimizer=adam' is not one); the run keeps the config's own name in its id."""
    import re

    safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)  # no '.' or '/' either: Keras puts them in weight paths
    return safe if safe[:1].isalnum() else f"m{safe}"


def make_optimizer(config: Config) -> keras.optimizers.Optimizer:
    import keras

    spec: dict[str, Any] = {"class_name": config.optimizer.name, "config": config.optimizer.args()}
    try:
        return keras.optimizers.get(spec)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"optimizer: {config.optimizer.name} rejects its arguments: {exc}") from None


def _loss_class(name: str) -> Any:
    import inspect

    import keras

    for attr in dir(keras.losses):
        cls = getattr(keras.losses, attr)
        if inspect.isclass(cls) and issubclass(cls, keras.losses.Loss) and cls is not keras.losses.Loss:
            default = inspect.signature(cls).parameters.get("name")
            if default is not None and default.default == name:
                return cls
    raise ConfigError(f"loss {name} has no Keras class to configure")


def make_loss(config: Config) -> keras.losses.Loss:
    import inspect

    cls = _loss_class(config.loss.name)
    kwargs = {k: v for k, v in config.loss.model_dump().items() if k not in ("name", "from_logits")}
    if "from_logits" in inspect.signature(cls).parameters:
        kwargs["from_logits"] = from_logits(config)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"loss: {config.loss.name} rejects its arguments: {exc}") from None


def make_metrics(config: Config) -> list[Any]:
    import keras

    metric = keras.metrics.SparseCategoricalAccuracy if config.loss.sparse else keras.metrics.CategoricalAccuracy
    return [metric(name="accuracy") for _ in config.metrics]


def compile_model(config: Config, steps_per_execution: int = 1) -> keras.Model:
    """Build and compile. steps_per_execution > 1 runs several batches per call: same numbers, less overhead."""
    model = build_model(config)
    model.compile(
        optimizer=make_optimizer(config),
        loss=make_loss(config),
        metrics=make_metrics(config),
        steps_per_execution=steps_per_execution,
    )
    return model


def steps_per_execution(config: Config, n_train: int) -> int:
    steps = math.ceil(n_train / config.batch_size)
    return max(1, min(MAX_STEPS_PER_EXECUTION, steps))


def build_for_training(config: Config, n_train: int) -> tuple[Any, bool]:
    """The compiled model, built with its optimizer state, and whether the fused loop trains it."""
    use_backend(config.backend)
    import keras

    keras.utils.set_random_seed(config.seed)
    fused = config.fused_loop and keras.backend.backend() == "jax"
    # torch's Keras trainer takes one step per call only
    spe = 1 if fused or keras.backend.backend() == "torch" else steps_per_execution(config, n_train)
    model = compile_model(config, steps_per_execution=spe)
    model.optimizer.build(model.trainable_variables)
    return model, fused
