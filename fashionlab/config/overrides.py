"""`key=value` overrides: short names (lr, epochs), dotted paths (layers.1.units), applied to raw data."""

from __future__ import annotations

import copy
from typing import Any

from fashionlab._catalog import OPTIMIZERS
from fashionlab.config.schema import DEFAULT_NAMES, SECTIONS, SHORT_NAMES, Config, suggest
from fashionlab.config.yaml_lines import Path_, Source, parse_value
from fashionlab.errors import ConfigError


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
        keep = OPTIMIZERS.get(value, {})
        value = {"name": value, **{k: v for k, v in old.items() if k in keep}}
    real = _set_path(data, path, value, text)
    source.overrides[real] = text
