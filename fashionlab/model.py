"""Config -> keras.Model, and the network's shapes worked out without Keras (for `show`). No I/O.

Keras is imported inside the functions that need it, so validating and showing a config stays fast.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fashionlab.config import Config, Conv2D, Dense, Dropout, Layer, MaxPool2D, Reshape
from fashionlab.errors import ConfigError, FashionlabError

if TYPE_CHECKING:
    import keras

IMAGE_SHAPES = ([28, 28], [28, 28, 1], [784])
NUM_CLASSES = 10


@dataclass
class LayerRow:
    name: str
    output_shape: tuple[int, ...]
    params: int
    activation: str


def _conv_out(size: int, kernel: int, stride: int, padding: str) -> int:
    return math.ceil(size / stride) if padding == "same" else (size - kernel) // stride + 1


def layer_rows(config: Config) -> list[LayerRow]:
    """Each layer's output shape (without the batch axis), parameter count and activation.

    Matches Keras's own model.summary() (tests/test_model.py checks every shipped config).
    """
    shape = tuple(config.input_shape)
    rows: list[LayerRow] = []
    for i, layer in enumerate(config.layers):
        params, activation = 0, "-"
        where = f"layers.{i} ({layer.kind})"
        if layer.kind == "flatten":
            shape = (math.prod(shape),)
        elif isinstance(layer, Dense):
            params = shape[-1] * layer.units + layer.units
            shape = shape[:-1] + (layer.units,)
            activation = layer.activation or "linear"
        elif isinstance(layer, Conv2D):
            if len(shape) != 3:
                raise ConfigError(
                    f"{where} needs input of shape (height, width, channels) but gets {list(shape)}; "
                    "set input_shape: [28, 28, 1] or put '- reshape: {target_shape: [28, 28, 1]}' before it"
                )
            h, w, c = shape
            k, s = layer.kernel_size, layer.strides
            shape = (_conv_out(h, k, s, layer.padding), _conv_out(w, k, s, layer.padding), layer.filters)
            params = k * k * c * layer.filters + layer.filters
            activation = layer.activation or "linear"
        elif isinstance(layer, MaxPool2D):
            if len(shape) != 3:
                raise ConfigError(f"{where} needs input of shape (height, width, channels) but gets {list(shape)}")
            p, s = layer.pool_size, layer.strides or layer.pool_size
            shape = (_conv_out(shape[0], p, s, layer.padding), _conv_out(shape[1], p, s, layer.padding), shape[2])
        elif layer.kind == "batchnorm":
            params = 4 * shape[-1]
        elif isinstance(layer, Reshape):
            if math.prod(layer.target_shape) != math.prod(shape):
                raise ConfigError(
                    f"{where}: cannot reshape {list(shape)} ({math.prod(shape)} values) "
                    f"into {layer.target_shape} ({math.prod(layer.target_shape)} values)"
                )
            shape = tuple(layer.target_shape)
        elif isinstance(layer, Dropout):
            activation = f"dropout {layer.rate:g}"
        rows.append(LayerRow(layer.kind, shape, params, activation))
    return rows


def last_activation(config: Config) -> str:
    for layer in reversed(config.layers):
        act = getattr(layer, "activation", "absent")
        if act != "absent":
            return act or "linear"
    return "linear"


def outputs_logits(config: Config) -> bool:
    """True when the last layer has no squashing activation, so the loss must read logits."""
    return last_activation(config) in ("linear",)


def from_logits(config: Config) -> bool | None:
    """The loss's from_logits, inferred from the last layer, or an error for the classic contradictions."""
    logits = outputs_logits(config)
    explicit = config.loss.from_logits
    if explicit is True and last_activation(config) in ("softmax", "sigmoid"):
        raise ConfigError(
            f"loss.from_logits is true but the last layer already applies {last_activation(config)}, so the loss "
            "would apply it twice and train badly; drop from_logits (fashionlab infers it) or remove the activation"
        )
    if explicit is False and logits and "crossentropy" in config.loss.name:
        raise ConfigError(
            "loss.from_logits is false but the last layer has no activation, so it outputs logits, not probabilities; "
            "drop from_logits (fashionlab infers it) or add activation: softmax to the last layer"
        )
    return logits if explicit is None else explicit


def check_trainable(config: Config) -> None:
    """Refuse, with the reason, a network that cannot take 28x28 images or give 10 class scores."""
    if config.input_shape not in IMAGE_SHAPES:
        raise ConfigError(
            f"input_shape {config.input_shape} does not match Fashion-MNIST's 28x28 images; use [28, 28] "
            "(or [28, 28, 1] before conv2d layers). Networks of other shapes can still be looked at with "
            "'fashionlab show'"
        )
    rows = layer_rows(config)
    out = rows[-1].output_shape
    if out != (NUM_CLASSES,):
        raise ConfigError(
            f"the network outputs shape {list(out)} but Fashion-MNIST has {NUM_CLASSES} classes; "
            f"end with a flatten (if needed) and a dense layer of units: {NUM_CLASSES}"
        )
    from_logits(config)


def use_backend(name: str) -> None:
    """Make Keras use `name`. Must run before Keras is imported; a process can hold only one backend."""
    if "keras" in sys.modules:
        import keras

        current = keras.backend.backend()
        if current != name:
            raise FashionlabError(
                f"this process already runs Keras on {current}, the config asks for {name}; "
                "run it in a fresh 'fashionlab' process"
            )
        return
    if name == "torch":
        try:
            import torch  # noqa: F401
        except ImportError:
            raise FashionlabError("backend torch needs PyTorch: pip install torch, or use backend: jax") from None
    elif name == "tensorflow":
        try:
            import importlib.util

            if importlib.util.find_spec("tensorflow") is None:
                raise ImportError
        except ImportError:
            raise FashionlabError(
                "backend tensorflow needs TensorFlow: pip install tensorflow-cpu, or use backend: jax"
            ) from None
    os.environ["KERAS_BACKEND"] = name
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if name != "tensorflow":
        # Keras probes for TensorFlow (seeding, saving) whenever it is installed, which costs ~3 s of
        # import on a JAX or torch run that never uses it. Tell Keras's lazy loader it is absent.
        from keras.src.utils import module_utils

        if module_utils.tensorflow.module is None:
            module_utils.tensorflow._available = False


def _keras_layer(layer: Layer) -> keras.layers.Layer:
    import keras

    a = layer.args()
    if layer.kind == "flatten":
        return keras.layers.Flatten()
    if layer.kind == "dense":
        return keras.layers.Dense(a["units"], activation=a["activation"])
    if layer.kind == "dropout":
        return keras.layers.Dropout(a["rate"])
    if layer.kind == "conv2d":
        return keras.layers.Conv2D(
            a["filters"], a["kernel_size"], strides=a["strides"], padding=a["padding"], activation=a["activation"]
        )
    if layer.kind == "maxpool2d":
        return keras.layers.MaxPooling2D(a["pool_size"], strides=a["strides"], padding=a["padding"])
    if layer.kind == "batchnorm":
        return keras.layers.BatchNormalization(momentum=a["momentum"], epsilon=a["epsilon"])
    if layer.kind == "reshape":
        return keras.layers.Reshape(tuple(a["target_shape"]))
    raise AssertionError(f"no Keras layer for {layer.kind}")


def build_model(config: Config) -> keras.Model:
    """The uncompiled keras.Sequential model the config describes."""
    import keras

    layer_rows(config)  # raises ConfigError for impossible shapes before Keras does, with a better message
    return keras.Sequential(
        [keras.Input(tuple(config.input_shape))] + [_keras_layer(layer) for layer in config.layers],
        name=config.name.replace(".", "_"),
    )


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
