"""Raw data -> Config with every problem at once, each with its file and line; and the JSON Schema."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from fashionlab.config.overrides import Override, apply_overrides
from fashionlab.config.schema import (
    DEFAULT_CONFIG,
    LAYER_TYPES,
    Config,
    suggest,
)
from fashionlab.config.shipped import find_config
from fashionlab.config.yaml_lines import Path_, Source, read_yaml
from fashionlab.errors import ConfigError, RunError


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
        fields = _fields_at(loc[:-1])
        if loc[-1] in Config.model_fields and len(loc) > 1:
            msg = f"'{loc[-1]}' is a top-level key of the config (beside layers:), not a setting here"
        elif not fields:
            msg = f"unknown key '{loc[-1]}'; {loc[-2] if len(loc) > 1 else 'this'} takes no settings"
        else:
            msg = f"unknown key '{loc[-1]}'{suggest(str(loc[-1]), fields)}"
    elif loc[:1] == ("metrics",) and kind == "literal_error":
        msg = (
            f"'{err['input']}' is not a per-epoch metric here (only accuracy is); precision, recall, F1, "
            "specificity and the confusion matrix of a trained run come from 'fashionlab evaluate'"
        )
    elif kind in ("bad_argument", "too_few_images") or kind == "unknown_argument":
        loc = loc + (ctx["key"],)
        msg = err["msg"]
    elif kind == "layer_shape":
        loc = tuple(ctx["at"])
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


def identity_hash(resolved: dict[str, Any]) -> str | None:
    """The hash a run's stored config has today (None if it no longer validates): runs hashed by an
    older fashionlab are still recognised as the same trial."""
    try:
        return Config.model_validate(resolved).hash()
    except (ValidationError, TypeError, ValueError):
        return None


def load_config(path: str | Path | None = None, overrides: Sequence[str | Override] = ()) -> Config:
    """Read a YAML config (or the built-in tutorial default), apply overrides, validate everything."""
    if path is None:
        data, source = copy.deepcopy(DEFAULT_CONFIG), Source(None, {})
    else:
        data, source = read_yaml(find_config(path)[0])
    data = apply_overrides(data, list(overrides), source)
    return validate(data, source)


# ---------------------------------------------------------------- JSON Schema for editors


def json_schema() -> dict[str, Any]:
    """The config's JSON Schema, as pydantic generates it from the models (each part says its own YAML
    shape: `- flatten`, `- dense: {...}`, `optimizer: adam`), for editors and the jsonschema package."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "fashionlab experiment config",
        **Config.model_json_schema(),
    }


class _RunLike(Protocol):
    @property
    def config_path(self) -> Any: ...

    def config(self) -> dict[str, Any]: ...


def run_config(run: _RunLike) -> Config:
    """A run's config.yaml read back as a Config (what it was trained with); one that no longer validates
    (edited by hand, or written by another version) makes the run unusable: a RunError (exit 5), not a
    config error of the user's command."""
    try:
        return validate(run.config(), Source(str(run.config_path), {}))
    except ConfigError as exc:
        raise RunError(
            f"{'; '.join(exc.problems)}; the run cannot be used with a {run.config_path.name} that does not validate: "
            "restore the file or train it again"
        ) from None
