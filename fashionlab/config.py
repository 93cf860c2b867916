"""The experiment config: schema, YAML loading with line numbers, `key=value` overrides, validation.

Every problem is collected and reported at once, each with where it came from (file and line, or the
override that caused it), the key's path, and a did-you-mean where a name is misspelt.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PositiveInt,
    Tag,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from fashionlab._catalog import ACTIVATIONS, LOSSES, OPTIMIZERS
from fashionlab.errors import ConfigError

BACKENDS = ("jax", "tensorflow", "torch")
UNSUPPORTED_LOSSES = {"ctc": "needs sequence labels", "circle": "needs embedding labels"}
SUPPORTED_LOSSES = [name for name in LOSSES if name not in UNSUPPORTED_LOSSES]
LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "kld": "kl_divergence"}
SPARSE_LOSSES = {"sparse_categorical_crossentropy"}  # every other loss gets one-hot labels
SHORT_NAMES = {"lr": ("optimizer", "learning_rate"), "learning_rate": ("optimizer", "learning_rate")}
DEFAULT_SOURCE = "built-in default"
NOT_HASHED = ("name", "tensorboard")  # labels and logging: the same trial whatever their value
SECTIONS = ("layers", "optimizer", "loss", "input_shape", "metrics")  # keys that hold more keys or a list
DEFAULT_NAMES = {"optimizer": "adam", "loss": "sparse_categorical_crossentropy"}

# The TensorFlow tutorial model ("Basic classification: Classify images of clothing").
DEFAULT_CONFIG: dict[str, Any] = {
    "name": "tutorial",
    "layers": ["flatten", {"dense": {"units": 128, "activation": "relu"}}, {"dense": {"units": 10}}],
}


def suggest(word: str, options: list[str] | tuple[str, ...]) -> str:
    """'; did you mean 'x'?' when a close match exists, else the list of what is allowed."""
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    shown = ", ".join(str(o) for o in options[:12]) + (", ..." if len(options) > 12 else "")
    return f"; allowed: {shown}"


def choice(kind: str, options: list[str]) -> Any:
    """A string type restricted to `options`, whose error names the closest option."""

    def check(value: str) -> str:
        if value not in options:
            raise PydanticCustomError(
                "unknown_choice",
                "unknown {kind} '{value}'{hint}",
                {"kind": kind, "value": value, "hint": suggest(value, options)},
            )
        return value

    return Annotated[str, AfterValidator(check)]


if TYPE_CHECKING:
    Activation = str
    OptimizerName = str
    LossName = str
else:
    Activation = choice("activation", ACTIVATIONS)
    OptimizerName = choice("optimizer", list(OPTIMIZERS))
    LossName = choice("loss", SUPPORTED_LOSSES)


class Layer(BaseModel):
    """A layer entry: `- flatten` or `- dense: {units: 128, activation: relu}`."""

    model_config = ConfigDict(extra="forbid")
    kind: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {}
        if isinstance(value, dict) and list(value) == [cls.kind]:
            inner = value[cls.kind]
            return {} if inner is None else inner
        return value

    def args(self) -> dict[str, Any]:
        return self.model_dump()


class Flatten(Layer):
    kind = "flatten"


class Dense(Layer):
    kind = "dense"
    units: PositiveInt  # neurons in the layer; the last layer needs one per class (10)
    activation: Activation | None = None  # None on the last layer: logits, from_logits inferred


class Dropout(Layer):
    kind = "dropout"
    rate: float = Field(0.2, ge=0.0, lt=1.0)  # fraction of inputs zeroed while training


class Conv2D(Layer):
    kind = "conv2d"
    filters: PositiveInt
    kernel_size: PositiveInt = 3
    strides: PositiveInt = 1
    padding: Literal["valid", "same"] = "valid"
    activation: Activation | None = None


class MaxPool2D(Layer):
    kind = "maxpool2d"
    pool_size: PositiveInt = 2
    strides: PositiveInt | None = None  # None: same as pool_size
    padding: Literal["valid", "same"] = "valid"


class BatchNorm(Layer):
    kind = "batchnorm"
    momentum: float = Field(0.99, gt=0.0, lt=1.0)
    epsilon: float = Field(0.001, gt=0.0)


class Reshape(Layer):
    kind = "reshape"
    target_shape: list[PositiveInt] = Field(min_length=1)


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls for cls in (Flatten, Dense, Dropout, Conv2D, MaxPool2D, BatchNorm, Reshape)
}


def _layer_tag(value: Any) -> str | None:
    if isinstance(value, Layer):
        return value.kind
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value)))
    return None


if TYPE_CHECKING:
    AnyLayer = Layer
else:
    AnyLayer = Annotated[
        Union[tuple(Annotated[cls, Tag(kind)] for kind, cls in LAYER_TYPES.items())],  # noqa: UP007
        Discriminator(_layer_tag),
    ]


class Optimizer(BaseModel):
    """`optimizer: adam` or `optimizer: {name: sgd, learning_rate: 0.01, momentum: 0.9}`."""

    model_config = ConfigDict(extra="allow")
    name: OptimizerName
    learning_rate: float | None = Field(None, gt=0.0)  # None: the optimizer's own default

    @model_validator(mode="after")
    def _known_arguments(self) -> Optimizer:
        allowed = OPTIMIZERS[self.name]
        for key in self.model_extra or {}:
            if key not in allowed:
                raise PydanticCustomError(
                    "unknown_argument",
                    "{name} has no argument '{key}'{hint}",
                    {"name": self.name, "key": key, "hint": suggest(key, allowed)},
                )
        return self

    def args(self) -> dict[str, Any]:
        out = {k: v for k, v in self.model_dump().items() if k != "name" and v is not None}
        return out


class Loss(BaseModel):
    """`loss: sparse_categorical_crossentropy` or `loss: {name: ..., label_smoothing: 0.1}`."""

    model_config = ConfigDict(extra="allow")
    name: LossName
    from_logits: bool | None = None  # None: inferred from the last layer's activation

    @model_validator(mode="before")
    @classmethod
    def _alias(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("name") in LOSS_ALIASES:
            return {**value, "name": LOSS_ALIASES[value["name"]]}
        return value

    @property
    def sparse(self) -> bool:
        """Integer labels (True) or one-hot labels (False)."""
        return self.name in SPARSE_LOSSES


class Config(BaseModel):
    """One experiment. Defaults reproduce the TensorFlow tutorial with a validation split."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("experiment", pattern=r"^[A-Za-z0-9_.-]{1,40}$")  # label in run ids
    seed: int = Field(42, ge=0)  # same seed + config = same numbers
    backend: Literal["jax", "tensorflow", "torch"] = "jax"  # jax trains fastest on CPU (BENCHMARKS.md)
    input_shape: list[PositiveInt] = Field(default_factory=lambda: [28, 28], min_length=1)
    layers: list[AnyLayer] = Field(min_length=1)
    optimizer: Optimizer = Field(default_factory=lambda: Optimizer(name=DEFAULT_NAMES["optimizer"]))
    loss: Loss = Field(default_factory=lambda: Loss(name=DEFAULT_NAMES["loss"]))
    metrics: list[Literal["accuracy"]] = ["accuracy"]
    validation_split: float = Field(0.1, ge=0.0, lt=1.0)  # last 10% of train held out (as Keras): 54,000 left
    epochs: PositiveInt = 10  # the tutorial trains 10
    batch_size: PositiveInt = 32  # Keras's default
    fused_loop: bool = True  # JAX only: data on the device, blocks of steps in one call (~2x faster)
    tensorboard: bool = False  # also write TensorBoard logs into the run (tensorboard --logdir runs/)
    train_samples: PositiveInt | None = Field(None, le=60000)  # None: all 60,000; fewer for quick tries
    test_samples: PositiveInt | None = Field(None, le=10000)  # None: all 10,000

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        if isinstance(value, dict):
            value = dict(value)
            for key in ("optimizer", "loss"):
                if isinstance(value.get(key), str):
                    value[key] = {"name": value[key]}
        return value

    def resolved(self) -> dict[str, Any]:
        """The fully resolved config as plain data: what config.yaml of a run holds."""
        data = self.model_dump(exclude={"layers", "optimizer", "loss"})
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
        data = self.resolved()
        for key in NOT_HASHED:
            data.pop(key)
        blob = json.dumps(data, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:8]

    def group_key(self) -> str:
        """Hash of everything but name and epochs: configs sharing it can share one training."""
        data = self.resolved()
        for key in (*NOT_HASHED, "epochs"):
            data.pop(key)
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:8]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.resolved(), sort_keys=False, default_flow_style=None)


# ---------------------------------------------------------------- YAML with line numbers


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads 1e-3 as a float (YAML 1.1 wants 1.0e-3)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)

Path_ = tuple[Any, ...]


def _line_map(node: yaml.Node, path: Path_, out: dict[Path_, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, child in node.value:
            out[path + (key.value,)] = key.start_mark.line + 1
            _line_map(child, path + (key.value,), out)
            out[path + (key.value,)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, child in enumerate(node.value):
            _line_map(child, path + (i,), out)


def parse_value(text: str) -> Any:
    """A command-line value read as YAML: 0.01 -> float, [a,b] -> list, adam -> 'adam'."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        return text


class Source:
    """Where each key of a raw config came from, for error messages."""

    def __init__(self, file: str | None, lines: dict[Path_, int]) -> None:
        self.file = file
        self.lines = lines
        self.overrides: dict[Path_, str] = {}

    def where(self, path: Path_) -> str:
        for n in range(len(path), -1, -1):
            if path[:n] in self.overrides:
                return f"override '{self.overrides[path[:n]]}'"
        if self.file is None:
            return DEFAULT_SOURCE
        for n in range(len(path), 0, -1):
            if path[:n] in self.lines:
                return f"{self.file} line {self.lines[path[:n]]}"
        return self.file


def read_yaml(path: str | Path) -> tuple[dict[str, Any], Source]:
    """Load a config file into plain data plus the line of every key."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {p} not found; the shipped ones are in configs/ (e.g. configs/adam.yaml)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {p}: {exc}") from None
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{p}{where}: not valid YAML ({problem}); check the indentation and colons") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{p}: a config must be a mapping of keys (name:, layers:, epochs: ...), not {type(data).__name__}"
        )
    lines: dict[Path_, int] = {}
    if node is not None:
        _line_map(node, (), lines)
    return data, Source(str(p), lines)


# ---------------------------------------------------------------- overrides


def split_override(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override '{text}' is not key=value (e.g. epochs=5 or optimizer.learning_rate=0.01)")
    return key.strip(), value.strip()


def _leaf_paths(data: Any, path: Path_ = ()) -> list[Path_]:
    out: list[Path_] = []
    if isinstance(data, dict):
        for k, v in data.items():
            out.append(path + (k,))
            out.extend(_leaf_paths(v, path + (k,)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.extend(_leaf_paths(v, path + (i,)))
    return out


def resolve_key(data: dict[str, Any], key: str) -> Path_:
    """Turn `epochs`, `lr`, `layers.1.units` or `optimizer.momentum` into a path into `data`."""
    if key in SHORT_NAMES:
        return SHORT_NAMES[key]
    parts: list[Any] = [int(p) if p.lstrip("-").isdigit() else p for p in key.split(".")]
    optimizer = data.get("optimizer", DEFAULT_NAMES["optimizer"])
    optimizer_name = (
        optimizer
        if isinstance(optimizer, str)
        else (optimizer or {}).get("name")
        if isinstance(optimizer, dict | None)
        else None
    )
    if len(parts) == 1 and key in OPTIMIZERS.get(str(optimizer_name), []):
        return ("optimizer", key)
    if len(parts) == 1 and key not in Config.model_fields:
        matches = sorted({p for p in _leaf_paths(data) if p[-1] == key and not isinstance(p[0], int)}, key=str)
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            shown = ", ".join(".".join(str(x) for x in m) for m in matches)
            raise ConfigError(f"override key '{key}' is ambiguous: it could be {shown}; use the full path")
        known = list(Config.model_fields) + list(SHORT_NAMES)
        raise ConfigError(f"unknown override key '{key}'{suggest(key, known)}")
    if parts[0] not in Config.model_fields:
        raise ConfigError(f"unknown override key '{key}'{suggest(str(parts[0]), list(Config.model_fields))}")
    if len(parts) > 1 and parts[0] not in SECTIONS:
        raise ConfigError(f"override '{key}=...': {parts[0]} is a value, not a section")
    return tuple(parts)


def _set_path(data: dict[str, Any], path: Path_, value: Any, text: str) -> Path_:
    """Set `value` at `path`, stepping through a layer's type key (`layers.1.units`). Returns the real path."""
    node: Any = data
    real: list[Any] = []
    for i, part in enumerate(path):
        last = i == len(path) - 1
        # `layers.1.units`: step into {dense: {...}} without naming 'dense'
        if isinstance(node, dict) and len(node) == 1 and part not in node and real and real[0] == "layers":
            (kind,) = node
            if node[kind] is None:
                node[kind] = {}
            if isinstance(node[kind], dict):
                real.append(kind)
                node = node[kind]
        if isinstance(node, list):
            if not isinstance(part, int) or not -len(node) <= part < len(node):
                raise ConfigError(f"override '{text}': index {part} is out of range (there are {len(node)} entries)")
            part = part % len(node)
        elif isinstance(node, str) and real and real[0] == "layers":
            raise ConfigError(f"override '{text}': layer {real[-1]} is '{node}', which has no '{part}'")
        elif not isinstance(node, dict):
            raise ConfigError(f"override '{text}': {'.'.join(map(str, real))} is a value, not a section")
        real.append(part)
        if last:
            node[part] = value
        else:
            if isinstance(node, dict) and node.get(part) is None:
                node[part] = {}
            node = node[part]
    return tuple(real)


Override = tuple[str, Any, str]  # key, value, and the text shown in error messages


def parse_override(text: str) -> Override:
    key, raw = split_override(text)
    return key, parse_value(raw), text


def apply_overrides(data: dict[str, Any], overrides: list[str | Override], source: Source) -> dict[str, Any]:
    """Apply `key=value` overrides to raw config data (a copy), recording each for error messages."""
    data = copy.deepcopy(data)
    for item in overrides:
        key, value, text = parse_override(item) if isinstance(item, str) else item
        try:
            _apply(data, key, value, text, source)
        except ConfigError:
            raise
        except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
            # a safety net under the specific messages: whatever the input, a ConfigError and never a crash
            raise ConfigError(f"override '{text}' cannot be applied to this config ({exc})") from None
    return data


def _apply(data: dict[str, Any], key: str, value: Any, text: str, source: Source) -> None:
    path = resolve_key(data, key)
    if path[0] in ("optimizer", "loss") and len(path) > 1:
        current = data.get(path[0], DEFAULT_NAMES[path[0]])
        data[path[0]] = {"name": current} if isinstance(current, str) else current
    if path == ("optimizer",) and isinstance(value, str) and isinstance(data.get("optimizer"), dict):
        # optimizer=sgd keeps the arguments that sgd also takes (learning_rate, ...)
        old = data["optimizer"]
        keep = OPTIMIZERS.get(value, [])
        value = {"name": value, **{k: v for k, v in old.items() if k in keep}}
    real = _set_path(data, path, value, text)
    source.overrides[real] = text


# ---------------------------------------------------------------- validation


def _fields_at(loc: Path_) -> list[str]:
    if len(loc) == 0:
        return list(Config.model_fields)
    if loc[0] == "layers" and len(loc) == 3 and loc[2] in LAYER_TYPES:
        return list(LAYER_TYPES[str(loc[2])].model_fields)
    return []


def _problem(err: Any, source: Source) -> str:
    loc: Path_ = tuple(err["loc"])
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        msg = f"unknown key '{loc[-1]}'{suggest(str(loc[-1]), _fields_at(loc[:-1]))}"
    elif kind == "unknown_argument":
        loc = loc + (ctx["key"],)
        msg = err["msg"]
    elif kind == "union_tag_invalid":
        msg = f"unknown layer '{ctx['tag']}'{suggest(str(ctx['tag']), list(LAYER_TYPES))}"
    elif kind == "union_tag_not_found":
        msg = "a layer is a name (- flatten) or one name with its settings (- dense: {units: 10})"
    elif kind == "missing":
        msg = f"missing required key '{loc[-1]}'"
    elif kind == "unknown_choice":
        msg = err["msg"]
    else:
        msg = f"{err['msg'][0].lower()}{err['msg'][1:]} (got {err['input']!r})"
    path = ".".join(str(p) for p in loc) or "(top level)"
    return f"{source.where(loc)}: {path}: {msg}"


def validate(data: dict[str, Any], source: Source) -> Config:
    """Raw data -> Config, or one ConfigError listing every problem with its location."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(err, source) for err in exc.errors()]
        problems.sort(key=lambda text: int(m.group(1)) if (m := re.search(r" line (\d+): ", text)) else 0)
        raise ConfigError(list(dict.fromkeys(problems))) from None


def load_config(path: str | Path | None = None, overrides: Sequence[str | Override] = ()) -> Config:
    """Read a YAML config (or the built-in tutorial default), apply overrides, validate everything."""
    if path is None:
        data, source = copy.deepcopy(DEFAULT_CONFIG), Source(None, {})
    else:
        data, source = read_yaml(path)
    data = apply_overrides(data, list(overrides), source)
    return validate(data, source)


# ---------------------------------------------------------------- JSON Schema for editors


def json_schema() -> dict[str, Any]:
    """The config's JSON Schema in the shape the YAML is written (`- flatten`, `- dense: {...}`)."""
    schema = Config.model_json_schema()
    schema.pop("$defs", None)
    args: dict[str, Any] = {}
    for kind, cls in LAYER_TYPES.items():
        layer = cls.model_json_schema()
        layer.pop("title", None)
        for prop in layer.get("properties", {}).values():
            prop.pop("title", None)
            if prop.get("anyOf") and {"type": "string"} in prop["anyOf"]:  # activation
                prop["anyOf"] = [{"enum": ACTIVATIONS}, {"type": "null"}]
        args[kind] = layer
    bare = [k for k, cls in LAYER_TYPES.items() if not any(f.is_required() for f in cls.model_fields.values())]
    wrapped = [
        {
            "type": "object",
            "properties": {k: a if k not in bare else {"anyOf": [a, {"type": "null"}]}},
            "required": [k],
            "additionalProperties": False,
        }
        for k, a in args.items()
    ]
    layer_item = {"anyOf": [{"enum": bare}, *wrapped]}
    optimizer_args: dict[str, Any] = {arg: {} for name in OPTIMIZERS for arg in OPTIMIZERS[name]}
    props = schema["properties"]
    props["layers"] = {"type": "array", "minItems": 1, "items": layer_item, "description": "Keras layers, in order"}
    optimizer_object = {
        "type": "object",
        "properties": {"name": {"enum": list(OPTIMIZERS)}, **optimizer_args},
        "required": ["name"],
        "additionalProperties": False,
    }
    props["optimizer"] = {"anyOf": [{"enum": list(OPTIMIZERS)}, optimizer_object]}
    loss_names = SUPPORTED_LOSSES + list(LOSS_ALIASES)
    loss_object = {
        "type": "object",
        "properties": {"name": {"enum": loss_names}, "from_logits": {"type": ["boolean", "null"]}},
        "required": ["name"],
    }
    props["loss"] = {"anyOf": [{"enum": loss_names}, loss_object]}
    for prop in props.values():
        prop.pop("title", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "fashionlab experiment config",
        **schema,
        "required": ["layers"],
    }
