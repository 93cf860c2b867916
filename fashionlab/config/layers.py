"""Layers of a config (`- flatten`, `- dense: {units: 128}`) and the shape each one gives, worked out
without Keras; the names a config chooses from, with the closest one for a misspelt name."""

from __future__ import annotations

import difflib
import math
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    GetJsonSchemaHandler,
    PositiveInt,
    Tag,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from fashionlab._catalog import ACTIVATIONS
from fashionlab.errors import ConfigError


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

    return Annotated[str, AfterValidator(check), WithJsonSchema({"type": "string", "enum": list(options)})]


if TYPE_CHECKING:
    Activation = str
else:
    Activation = choice("activation", ACTIVATIONS)


class Layer(BaseModel):
    """A layer entry: `- flatten` or `- dense: {units: 128, activation: relu}`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
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

    @classmethod
    def __get_pydantic_json_schema__(cls, core: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """`- flatten` (a layer whose settings all have defaults) or `- dense: {units: 128}`."""
        found = handler(core)
        target = handler.resolve_ref_schema(found)
        args = {k: v for k, v in target.items() if k not in ("title", "description")}
        for prop in args.get("properties", {}).values():
            prop.pop("title", None)
        bare = not args.get("required")
        wrapped = {
            "type": "object",
            "properties": {cls.kind: {"anyOf": [args, {"type": "null"}]} if bare else args},
            "required": [cls.kind],
            "additionalProperties": False,
        }
        target.clear()
        target.update({"anyOf": [{"const": cls.kind}, wrapped]} if bare else wrapped)
        return found


class Flatten(Layer):
    kind = "flatten"


class Dense(Layer):
    kind = "dense"
    units: PositiveInt = Field(le=1_000_000)  # neurons in the layer; the last layer needs one per class (10)
    activation: Activation | None = None  # None on the last layer: logits, from_logits inferred


class Dropout(Layer):
    kind = "dropout"
    rate: float = Field(0.2, ge=0.0, lt=1.0)  # fraction of inputs zeroed while training


class Conv2D(Layer):
    kind = "conv2d"
    filters: PositiveInt = Field(le=100_000)
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


class ShapeError(ConfigError):
    """A layer that cannot take the shape it is given."""


class WindowTooLarge(ShapeError):
    """A conv2d kernel or a pooling window larger than its input (with padding valid): no output."""

    def __init__(self, index: int, kind: str, key: str, problem: str) -> None:
        super().__init__(f"layers.{index}.{kind}.{key}: {problem}")
        self.index, self.kind, self.key, self.problem = index, kind, key, problem


def _conv_out(size: int, kernel: int, stride: int, padding: str) -> int:
    return math.ceil(size / stride) if padding == "same" else (size - kernel) // stride + 1


def _window_fits(index: int, layer: Conv2D | MaxPool2D, h: int, w: int) -> None:
    key, size = ("kernel_size", layer.kernel_size) if isinstance(layer, Conv2D) else ("pool_size", layer.pool_size)
    if layer.padding == "valid" and size > min(h, w):
        what = "kernel" if isinstance(layer, Conv2D) else "window"
        raise WindowTooLarge(
            index, layer.kind, key,
            f"a {size}x{size} {what} does not fit its {h}x{w} input (no output is left); use a {key} of at "
            f"most {min(h, w)}, or padding: same",
        )  # fmt: skip


def output_shapes(layers: list[Layer], input_shape: list[int]) -> list[tuple[int, ...]]:
    """Each layer's output shape (without the batch axis), as Keras builds it; a ShapeError says which
    layer cannot take its input."""
    shape, out = tuple(input_shape), []
    for i, layer in enumerate(layers):
        where = f"layers.{i} ({layer.kind})"
        if layer.kind == "flatten":
            shape = (math.prod(shape),)
        elif isinstance(layer, Dense):
            shape = shape[:-1] + (layer.units,)
        elif isinstance(layer, Conv2D | MaxPool2D):
            if len(shape) != 3:
                hw = ", ".join(map(str, input_shape[:2])) if len(input_shape) >= 2 else "height, width"
                fix = (
                    f"; set input_shape: [{hw}, 1] or put '- reshape: {{target_shape: [{hw}, 1]}}' before it"
                    if isinstance(layer, Conv2D) else ""
                )  # fmt: skip
                raise ShapeError(f"{where} needs input of shape (height, width, channels) but gets {list(shape)}{fix}")
            h, w, c = shape
            _window_fits(i, layer, h, w)
            if isinstance(layer, Conv2D):
                k, s, channels = layer.kernel_size, layer.strides, layer.filters
            else:
                k, s, channels = layer.pool_size, layer.strides or layer.pool_size, c
            shape = (_conv_out(h, k, s, layer.padding), _conv_out(w, k, s, layer.padding), channels)
        elif isinstance(layer, Reshape):
            if math.prod(layer.target_shape) != math.prod(shape):
                raise ShapeError(
                    f"{where}: cannot reshape {list(shape)} ({math.prod(shape)} values) "
                    f"into {layer.target_shape} ({math.prod(layer.target_shape)} values)"
                )
            shape = tuple(layer.target_shape)
        out.append(shape)
    return out
