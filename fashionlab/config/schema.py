"""The config schema: every key, its type, default and the reason for it (pydantic models).

Config is one experiment; Layer kinds, Optimizer and Loss are its parts. Validation messages name the
closest known option for a misspelt one.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from fashionlab import datasets
from fashionlab._catalog import LOSSES, OPTIMIZERS
from fashionlab.config.layers import (  # noqa: F401  (re-exported: config's public names)
    LAYER_TYPES,
    AnyLayer,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    MaxPool2D,
    Reshape,
    ShapeError,
    WindowTooLarge,
    choice,
    output_shapes,
    suggest,
)
from fashionlab.errors import FashionlabError
from fashionlab.keys import NOT_HASHED  # a label, logging, how many seeds: not the trial itself

BACKENDS = ("jax", "tensorflow", "torch")
UNSUPPORTED_LOSSES = {"ctc": "needs sequence labels", "circle": "needs embedding labels"}
SUPPORTED_LOSSES = [name for name in LOSSES if name not in UNSUPPORTED_LOSSES]
LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "kld": "kl_divergence"}
SPARSE_LOSSES = {"sparse_categorical_crossentropy"}  # every other loss gets one-hot labels
SHORT_NAMES = {"lr": ("optimizer", "learning_rate"), "learning_rate": ("optimizer", "learning_rate")}
SECTIONS = ("layers", "optimizer", "loss", "input_shape", "metrics", "early_stopping")  # keys holding keys or lists
OPTIONAL = ("early_stopping", "classes", "image_size", "data")  # out of the hash when unset: older runs keep theirs
DEFAULT_NAMES = {"optimizer": "adam", "loss": "sparse_categorical_crossentropy"}

# The TensorFlow tutorial model ("Basic classification: Classify images of clothing").
DEFAULT_CONFIG: dict[str, Any] = {
    "name": "tutorial",
    "layers": ["flatten", {"dense": {"units": 128, "activation": "relu"}}, {"dense": {"units": 10}}],
}


if TYPE_CHECKING:
    OptimizerName = str
    LossName = str
else:
    OptimizerName = choice("optimizer", list(OPTIMIZERS))
    LossName = choice("loss", SUPPORTED_LOSSES)


class Optimizer(BaseModel):
    """`optimizer: adam` or `optimizer: {name: sgd, learning_rate: 0.01, momentum: 0.9}`."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    name: OptimizerName
    learning_rate: float | None = Field(None, gt=0.0)  # None: the optimizer's own default

    @model_validator(mode="after")
    def _known_arguments(self) -> Optimizer:
        allowed = OPTIMIZERS[self.name]
        for key, value in (self.model_extra or {}).items():
            if key not in allowed:
                raise PydanticCustomError(
                    "unknown_argument",
                    "{name} has no argument '{key}'{hint}",
                    {"name": self.name, "key": key, "hint": suggest(key, list(allowed))},
                )
            problem = _argument_problem(key, value, allowed[key])
            if problem:
                raise PydanticCustomError(
                    "bad_argument", "{problem} (got {value})",
                    {"name": self.name, "key": key, "problem": problem, "value": value},
                )  # fmt: skip
        return self

    def args(self) -> dict[str, Any]:
        out = {k: v for k, v in self.model_dump().items() if k != "name" and v is not None}
        return out

    @classmethod
    def __get_pydantic_json_schema__(cls, core: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """`optimizer: adam`, or one optimizer's name with only its own arguments, in their ranges."""
        found = handler(core)
        target = handler.resolve_ref_schema(found)
        learning_rate = {k: v for k, v in target["properties"]["learning_rate"].items() if k != "title"}
        forms: list[dict[str, Any]] = [target["properties"]["name"]]
        for name, allowed in OPTIMIZERS.items():
            props = {"name": {"const": name}, "learning_rate": learning_rate}
            props.update({key: _argument_schema(key, default) for key, default in allowed.items() if key not in props})
            forms.append({"type": "object", "properties": props, "required": ["name"], "additionalProperties": False})
        description = target.get("description")
        target.clear()
        target.update({"description": description, "anyOf": forms})
        return found


# The ranges Keras's optimizers take their arguments in (outside them Keras trains nonsense or fails mid-run).
_FRACTIONS = {"beta_1", "beta_2", "rho", "momentum", "ema_momentum"}  # in [0, 1)
_POSITIVE = {"epsilon", "epsilon_1", "epsilon_2", "clipnorm", "clipvalue", "global_clipnorm", "clip_threshold"}
_COUNTS = {"gradient_accumulation_steps", "ema_overwrite_frequency"}  # whole numbers from 1


def _argument_problem(key: str, value: Any, default: object) -> str | None:
    """What is wrong with an optimizer argument's value, or None."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "should be true or false"
    if value is None:
        return None
    if key in _COUNTS:
        return None if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else "should be 1 or more"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "should be a finite number"
    if key in _FRACTIONS and not 0 <= value < 1:
        return "should be at least 0 and less than 1"
    if key in _POSITIVE and not value > 0:
        return "should be greater than 0"
    if key.endswith(("weight_decay", "_strength", "initial_accumulator_value")) and value < 0:
        return "should be 0 or more"
    return None


def _argument_schema(key: str, default: object) -> dict[str, Any]:
    """The JSON Schema of an optimizer argument: the ranges `_argument_problem` checks."""
    if isinstance(default, bool):
        return {"type": "boolean"}
    if key in _COUNTS:
        return {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}
    number: dict[str, Any] = {"type": "number"}
    if key in _FRACTIONS:
        number.update(minimum=0, exclusiveMaximum=1)
    elif key in _POSITIVE:
        number.update(exclusiveMinimum=0)
    elif key.endswith(("weight_decay", "_strength", "initial_accumulator_value")):
        number.update(minimum=0)
    return {"anyOf": [number, {"type": "null"}]}


def with_defaults(resolved: dict[str, Any]) -> dict[str, Any]:
    """A resolved config with its optimizer's arguments left at Keras's defaults written out (the
    learning rate adam trains with when none is given), for trackers that compare runs by their values."""
    out = dict(resolved)
    optimizer = dict(out.get("optimizer") or {})
    for key, default in OPTIMIZERS.get(str(optimizer.get("name")), {}).items():
        if default is not None:
            optimizer.setdefault(key, default)
    out["optimizer"] = optimizer
    return out


def canonical_optimizer(args: dict[str, Any]) -> dict[str, Any]:
    """`{name, **args}` without the arguments at their Keras default, numbers as the default's type."""
    defaults = OPTIMIZERS.get(str(args.get("name")), {})
    out: dict[str, Any] = {}
    for key, value in args.items():
        default = defaults.get(key)
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if key == "name" or key not in defaults or value != default or type(value) is not type(default):
            out[key] = value
    return out


class Loss(BaseModel):
    """`loss: sparse_categorical_crossentropy` or `loss: {name: ..., label_smoothing: 0.1}`."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    name: LossName
    from_logits: bool | None = None  # None: inferred from the last layer's activation

    @model_validator(mode="before")
    @classmethod
    def _alias(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("name") in LOSS_ALIASES:
            return {**value, "name": LOSS_ALIASES[value["name"]]}
        return value

    @model_validator(mode="after")
    def _arguments(self) -> Loss:
        """The loss arguments fashionlab's labels allow: one row per image, so axis is -1 (or 1)."""
        extra = self.model_extra or {}
        if "axis" in extra and extra["axis"] not in (-1, 1):
            raise PydanticCustomError(
                "bad_argument", "axis {value} does not exist: labels and outputs have one row per image, so "
                "axis is -1 (the classes); drop it", {"value": extra["axis"], "key": "axis"},
            )  # fmt: skip
        smoothing = extra.get("label_smoothing")
        if smoothing is not None and (_argument_problem("", smoothing, 0.0) or not 0 <= smoothing <= 1):
            raise PydanticCustomError(
                "bad_argument", "should be between 0 and 1 (got {value})",
                {"value": smoothing, "key": "label_smoothing"},
            )  # fmt: skip
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """`loss: mse` or `loss: {name: ..., label_smoothing: 0.1}`: the names (aliases too) and the
        arguments `_arguments` checks."""
        found = handler(core)
        target = handler.resolve_ref_schema(found)
        names = {"type": "string", "enum": [*SUPPORTED_LOSSES, *LOSS_ALIASES]}
        props = {
            "name": names,
            "from_logits": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
            "label_smoothing": {"type": "number", "minimum": 0, "maximum": 1},
            "axis": {"enum": [-1, 1]},
        }
        description = target.get("description")
        target.clear()
        target.update({"description": description, "anyOf": [names, {"type": "object", "properties": props,
                                                                      "required": ["name"]}]})  # fmt: skip
        return found

    @property
    def sparse(self) -> bool:
        """Integer labels (True) or one-hot labels (False)."""
        return self.name in SPARSE_LOSSES


class EarlyStopping(BaseModel):
    """`early_stopping: {patience: 5, monitor: val_loss, restore_best: true}`, as Keras's EarlyStopping."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    patience: PositiveInt = 5  # epochs without improvement before training stops
    monitor: Literal["val_loss", "val_accuracy", "loss", "accuracy"] = "val_loss"
    min_delta: float = Field(0.0, ge=0.0)  # a change smaller than this is no improvement
    restore_best: bool = True  # stopped early: keep (and test) the best epoch's model, not the last one's

    @property
    def lower_is_better(self) -> bool:
        return "loss" in self.monitor


def _class_items(schema: dict[str, Any]) -> None:
    """`classes` in the JSON Schema: a data set's class names or numbers, each once."""
    names = sorted({n for d in datasets.names() for n in datasets.get(d).class_names})
    most = max(datasets.get(d).num_classes for d in datasets.names())
    items = {"anyOf": [{"type": "string", "enum": names}, {"type": "integer", "minimum": 0, "maximum": most - 1}]}
    schema["anyOf"] = [{"type": "array", "items": items, "minItems": 2, "uniqueItems": True}, {"type": "null"}]


def _data_names(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [{"type": "string", "enum": datasets.names()}, {"type": "null"}]


class Config(BaseModel):
    """One experiment. Defaults reproduce the TensorFlow tutorial with a validation split."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str = Field("experiment", pattern=r"^[A-Za-z0-9_.=,+-]{1,80}$")  # label in run ids (sweeps add key=value)
    seed: int = Field(42, ge=0, le=2**32 - 1)  # same seed + config = same numbers; NumPy's seeds stop at 2**32 - 1
    backend: Literal["jax", "tensorflow", "torch"] = "jax"  # jax trains fastest on CPU (BENCHMARKS.md)
    data: str | None = Field(None, json_schema_extra=_data_names)  # the data set (datasets/); None: Fashion-MNIST
    input_shape: list[PositiveInt] = Field(default_factory=lambda: list(datasets.get(None).image_hw), min_length=1)
    layers: list[AnyLayer] = Field(min_length=1)
    optimizer: Optimizer = Field(default_factory=lambda: Optimizer(name=DEFAULT_NAMES["optimizer"]))
    loss: Loss = Field(default_factory=lambda: Loss(name=DEFAULT_NAMES["loss"]))
    metrics: list[Literal["accuracy"]] = Field(["accuracy"], min_length=1)  # every table and finding reads it
    validation_split: float = Field(0.1, ge=0.0, lt=1.0)  # last 10% of train held out (as Keras): 54,000 left
    epochs: PositiveInt = Field(10, le=10_000)  # the tutorial trains 10
    batch_size: PositiveInt = Field(32, le=60_000)  # Keras's default
    fused_loop: bool = True  # JAX only: data on the device, blocks of steps in one call (~2x faster)
    tensorboard: bool = False  # also write TensorBoard logs into the run (tensorboard --logdir runs/)
    train_samples: PositiveInt | None = Field(None, le=60000)  # None: all 60,000; fewer for quick tries
    test_samples: PositiveInt | None = Field(None, le=10000)  # None: all 10,000
    early_stopping: EarlyStopping | None = None  # None: train every epoch
    repeats: int = Field(1, ge=1, le=100)  # seeds per setting (seed, seed+1, ...): differences judged against them
    classes: list[str | int] | None = Field(None, min_length=2, json_schema_extra=_class_items)  # names or 0-9
    image_size: list[PositiveInt] | None = Field(None, min_length=2, max_length=2)  # [h, w]: images resized

    @field_validator("epochs", "batch_size", "seed", "repeats", mode="before")
    @classmethod
    def _not_a_bool(cls, value: Any) -> Any:
        """YAML's true is not 1 epoch."""
        if isinstance(value, bool):
            raise PydanticCustomError("int_type", "input should be a valid integer")
        return value

    @field_validator("data")
    @classmethod
    def _known_data(cls, name: str | None) -> str | None:
        if name is not None and name not in datasets.names():
            hint = suggest(name, datasets.names())
            raise PydanticCustomError(
                "unknown_choice", "unknown data set '{value}'{hint}", {"value": name, "hint": hint}
            )
        return None if name == datasets.DEFAULT else name  # the default, written or not, is one identity

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, classes: list[str | int] | None, info: ValidationInfo) -> list[str | int] | None:
        if classes is None:
            return None
        names = list(datasets.get(info.data.get("data")).class_names)
        for value in classes:
            known = value in names if isinstance(value, str) else 0 <= value < len(names)
            if not known:
                hint = suggest(str(value), names) if isinstance(value, str) else f"; use 0-{len(names) - 1} or a name"
                raise PydanticCustomError(
                    "unknown_choice", "unknown class '{value}'{hint}", {"value": value, "hint": hint}
                )
        ids = [names.index(c) if isinstance(c, str) else c for c in classes]
        if len(set(ids)) != len(ids):
            raise PydanticCustomError("unknown_choice", "a class is listed twice in {value}", {"value": classes})
        return classes

    @model_validator(mode="after")
    def _enough_images(self) -> Config:
        """validation_split and train_samples leave at least one image to train on and one to validate on."""
        try:
            available = self.dataset.split_counts_of(self.class_ids)[0]
        except FashionlabError:  # the data set cannot be read here: training says so, with what to do
            return self
        n = min(self.train_samples or available, available)
        train = int(n * (1 - self.validation_split))  # as engine.inputs.prepare_data (and Keras) split
        if train < 1 or (self.validation_split > 0 and n - train < 1):
            left = "no image to train on" if train < 1 else "no image to validate on"
            key = "train_samples" if self.train_samples and self.train_samples < available else "validation_split"
            if n < 2:
                fix = "use 2 or more train_samples, or validation_split 0"
            else:
                low, high = math.ceil(1e6 / n) / 1e6, math.floor(1e6 * (1 - 1 / n)) / 1e6
                fix = f"use a validation_split from {low:g} to {high:g} (or 0), or more train_samples"
            raise PydanticCustomError(
                "too_few_images", "{n} training images with validation_split {split} leave {left}; {fix}",
                {"split": self.validation_split, "n": f"{n:,}", "left": left, "fix": fix, "key": key},
            )  # fmt: skip
        return self

    @model_validator(mode="after")
    def _windows_fit(self) -> Config:
        """Every conv2d kernel and pooling window fits the image it slides over (Keras would make a layer
        of negative size); the network's other checks come before training (network.check_trainable)."""
        try:
            output_shapes(self.layers, self.input_shape)
        except WindowTooLarge as exc:
            raise PydanticCustomError(
                "layer_shape", "{problem}", {"problem": exc.problem, "at": ("layers", exc.index, exc.kind, exc.key)}
            ) from None
        except ShapeError:
            pass
        return self

    @property
    def dataset(self) -> datasets.DataSet:
        return datasets.get(self.data)

    @property
    def class_ids(self) -> list[int]:
        """The data set's label of each class the model learns, in its order (all of them by default)."""
        return self.dataset.class_ids(self.classes)

    @property
    def class_names(self) -> list[str]:
        return [self.dataset.class_names[i] for i in self.class_ids]

    @property
    def num_classes(self) -> int:
        return len(self.class_ids)

    @property
    def image_hw(self) -> tuple[int, int]:
        """The images' height and width as the model sees them (the data set's unless image_size resizes them)."""
        return (self.image_size[0], self.image_size[1]) if self.image_size else self.dataset.image_hw

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        if isinstance(value, dict):
            value = dict(value)
            for key in ("optimizer", "loss"):
                if isinstance(value.get(key), str):
                    value[key] = {"name": value[key]}
            name, size = value.get("data"), value.get("image_size")
            if name in datasets.MODULES and name != datasets.DEFAULT and "input_shape" not in value:
                value["input_shape"] = list(size if isinstance(size, list) else datasets.get(name).image_hw)
        return value

    def resolved(self) -> dict[str, Any]:
        """The fully resolved config as plain data: what config.yaml of a run holds."""
        data = self.model_dump(exclude={"layers", "optimizer", "loss"} | ({"data"} if self.data is None else set()))
        layers: list[Any] = []
        for layer in self.layers:
            args = layer.args()
            layers.append(layer.kind if not args else {layer.kind: args})
        opt = {"name": self.optimizer.name, **self.optimizer.args()}
        loss = {k: v for k, v in self.loss.model_dump().items() if v is not None}
        ordered = {"name": data.pop("name"), "seed": data.pop("seed"), "backend": data.pop("backend")}
        ordered["input_shape"] = data.pop("input_shape")
        ordered.update({"layers": layers, "optimizer": opt, "loss": loss})
        ordered.update(data)
        return ordered

    def hash(self) -> str:
        """Short hash of everything that changes the result (name and logging options are left out)."""
        data = self._identity()
        blob = json.dumps(data, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:8]

    def group_key(self) -> str:
        """Hash of everything but name and epochs: configs sharing it can share one training."""
        data = self._identity()
        data.pop("epochs")
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:8]

    def _identity(self) -> dict[str, Any]:
        """The resolved config in one canonical form, so the same training hashes the same however it was
        written: an optimizer argument equal to Keras's default is left out (`lr=0.001` with adam is adam
        as it comes) and whole numbers given for float arguments count as floats (1 == 1.0)."""
        data = self.resolved()
        for key in NOT_HASHED:
            data.pop(key)
        for key in OPTIONAL:
            if data.get(key) is None:
                data.pop(key, None)
        data["optimizer"] = canonical_optimizer(data["optimizer"])
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.resolved(), sort_keys=False, default_flow_style=None)
