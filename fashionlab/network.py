"""The network a config describes, worked out without Keras: each layer's output shape, parameters and
activation (for `show`), whether it outputs logits, and whether it can train on its data set at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fashionlab.config import Config, Conv2D, Dense, Dropout
from fashionlab.config.layers import output_shapes
from fashionlab.errors import ConfigError
from fashionlab.i18n import _


@dataclass
class LayerRow:
    name: str
    output_shape: tuple[int, ...]
    params: int
    activation: str


def layer_rows(config: Config) -> list[LayerRow]:
    """Each layer's output shape (without the batch axis), parameter count and activation.

    Matches Keras's own model.summary() (tests/test_model.py checks every shipped config).
    """
    shapes = output_shapes(config.layers, config.input_shape)
    rows: list[LayerRow] = []
    for layer, before, shape in zip(config.layers, [tuple(config.input_shape), *shapes], shapes, strict=False):
        params, activation = 0, "-"
        if isinstance(layer, Dense):
            params = before[-1] * layer.units + layer.units
            activation = layer.activation or "linear"
        elif isinstance(layer, Conv2D):
            k = layer.kernel_size
            params = k * k * before[-1] * layer.filters + layer.filters
            activation = layer.activation or "linear"
        elif layer.kind == "batchnorm":
            params = 4 * shape[-1]
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


def image_shapes(config: Config) -> list[list[int]]:
    """The input shapes that fit the config's images: [h, w], [h, w, 1] or [h*w]."""
    h, w = config.image_hw
    return [[h, w], [h, w, 1], [h * w]]


def check_trainable(config: Config) -> None:
    """Refuse, with the reason, a network that cannot take the images or give one score per class."""
    h, w = config.image_hw
    if config.input_shape not in image_shapes(config):
        resize = (
            f"; or resize the images to it with image_size: {config.input_shape[:2]}"
            if len(config.input_shape) in (2, 3) and config.image_size is None
            else ""
        )
        resized = " (as image_size resizes them)" if config.image_size else ""
        raise ConfigError(
            f"input_shape {config.input_shape} does not match the {h}x{w} images of {config.dataset.title}{resized}; "
            f"use [{h}, {w}] (or [{h}, {w}, 1] before conv2d layers){resize}"
        )
    rows = layer_rows(config)
    out = rows[-1].output_shape
    k = config.num_classes
    if out != (k,):
        what = f"{config.dataset.title} has" if config.classes is None else "the config's classes are"
        raise ConfigError(
            f"the network outputs shape {list(out)} but {what} {k} classes; "
            f"end with a flatten (if needed) and a dense layer of units: {k}"
        )
    from_logits(config)
    check_memory(config)


def output_kind(config: Config) -> str:
    """What the last layer gives: "probabilities" (softmax), "logits" (no activation, a cross-entropy
    loss: softmax turns them into probabilities) or "scores" (anything else, e.g. mse without softmax)."""
    last = last_activation(config)
    if last == "softmax":
        return "probabilities"
    if last == "linear" and "crossentropy" in config.loss.name:
        return "logits"
    return "scores"


def advice(config: Config) -> list[tuple[str, str]]:
    """What is worth saying about a valid config before it trains: (level, sentence), level note or warning."""
    said: list[tuple[str, str]] = []
    if output_kind(config) == "scores":
        last = last_activation(config)
        layer = _("no activation") if last == "linear" else _("activation {name}").format(name=last)
        said.append(
            (
                "warning",
                _(
                    "loss {loss} with {layer} on the last layer trains scores, not probabilities, so predict shows "
                    "scores; add activation: softmax to the last layer to get probabilities (as the shipped config "
                    "mse does)"
                ).format(loss=config.loss.name, layer=layer),
            )
        )
    if not config.loss.sparse:
        said.append(
            (
                "note",
                _(
                    "labels are one-hot encoded for {loss}: Keras wants a row of {k} numbers per image (one per class) "
                    "for it, not the class number, and fashionlab converts them for you"
                ).format(loss=config.loss.name, k=config.num_classes),
            )
        )
    return said


# Optimizer state per weight, in copies of the weights (Keras's optimizers: adam keeps m and v, ...).
OPTIMIZER_SLOTS = {"sgd": 1, "rmsprop": 1, "adagrad": 1, "lion": 1, "adafactor": 1}  # the rest keep 2
PROCESS_BYTES = 1.0e9  # Python, JAX or TensorFlow, Keras and the compiled programs, before any array
# Under `ulimit -v` XLA's allocator and threads reserve address space beyond the bytes they use: measured on
# the tutorial model (0.45 GB of arrays, 0.9 GB for the process) a 2 GB limit fails at its first 169 MB
# array (RESOURCE_EXHAUSTED) and 3 GB trains; this rule asks for 2.4 GB.
AS_PER_BYTE, AS_MARGIN = 2.0, 0.5e9


@dataclass
class MemoryEstimate:
    """What a training holds in memory at its peak, worked out from the shapes before anything is built."""

    parameters: int
    weights_bytes: float  # weights, gradients, optimizer state, the best epoch's copy and the checkpoint's
    activations_bytes: float  # one batch forward and backward, and an evaluation batch
    images_bytes: float  # the training and test images as the model takes them (float32)

    @property
    def total(self) -> float:
        return PROCESS_BYTES + self.weights_bytes + self.activations_bytes + self.images_bytes


def memory_estimate(config: Config, members: int = 1) -> MemoryEstimate:
    """The memory one training of `config` needs (`members` models trained together multiply the weights
    and activations). Float32 throughout; a generous estimate, not a measurement."""
    rows = layer_rows(config)
    params = sum(r.params for r in rows)
    slots = OPTIMIZER_SLOTS.get(config.optimizer.name, 2)
    weights = 4.0 * params * (4 + slots) * members  # weights, gradients, slots, best copy, checkpoint buffer
    per_image = math.prod(config.input_shape) + sum(math.prod(r.output_shape) for r in rows)
    activations = 4.0 * per_image * (3 * config.batch_size + 512) * members
    h, w = config.image_hw
    images = (config.train_samples or 60_000) + (config.test_samples or 10_000)
    return MemoryEstimate(params, weights, activations, 4.0 * images * h * w * 2)


def memory_available() -> tuple[float, float]:
    """(this machine's memory, what is free of it now) in bytes, from /proc/meminfo and the cgroup's limit."""
    total = free = float("inf")
    try:
        with open("/proc/meminfo") as fh:
            info = {line.split(":")[0]: float(line.split()[1]) * 1024 for line in fh if ":" in line}
        total, free = info.get("MemTotal", total), info.get("MemAvailable", info.get("MemFree", free))
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            limit = fh.read().strip()
        if limit.isdigit():
            total, free = min(total, float(limit)), min(free, float(limit))
    except OSError:
        pass
    return total, free


def address_space_limit() -> float:
    """The address space this process may take in all (RLIMIT_AS, `ulimit -v`); infinite without a limit."""
    import resource

    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    return float("inf") if limit == resource.RLIM_INFINITY or limit < 0 else float(limit)


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n < 1e12 else f"{n / 1e12:,.0f} TB"


def check_memory(config: Config, members: int = 1) -> MemoryEstimate:
    """Refuse, with the figures, a training that would need more memory than this machine has free."""
    need = memory_estimate(config, members)
    total, free = memory_available()
    limit = address_space_limit()
    space = PROCESS_BYTES + AS_PER_BYTE * (need.total - PROCESS_BYTES) + AS_MARGIN
    if space > limit:
        raise ConfigError(
            f"training this network needs about {_gb(space)} of address space, and this process may take only "
            f"{_gb(limit)} (ulimit -v); raise the limit "
            "(ulimit -v unlimited) or use fewer units or filters, a smaller image_size or batch_size"
        )
    if need.total > 0.9 * free:
        raise ConfigError(
            f"training this network needs about {_gb(need.total)} of memory ({need.parameters:,} parameters: "
            f"{_gb(need.weights_bytes)} with {config.optimizer.name}'s state; activations of a batch of "
            f"{config.batch_size}: {_gb(need.activations_bytes)}; images: {_gb(need.images_bytes)}); this machine "
            f"has {_gb(total)}, {_gb(free)} of it free; use fewer units or filters, a smaller image_size or batch_size"
        )
    return need
