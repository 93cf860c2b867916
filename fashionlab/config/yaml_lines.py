"""YAML with line numbers: configs read into plain data plus the line of every key, for error messages."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import yaml

from fashionlab.config.shipped import not_found
from fashionlab.errors import ConfigError

DEFAULT_SOURCE = "built-in default"


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

# Integers as YAML 1.2 reads them: `epochs: 010` is no octal 8 (YAML 1.1) but text that the schema reads as
# ten; 0o17 and 0x1f as written.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:int"]
    for first, resolvers in _Loader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)

Path_ = tuple[Any, ...]
MAX_DEPTH = 20  # nesting of lists and mappings: a config has at most 4 (layers: - dense: {...})


MAX_CONFIG_BYTES = 1_000_000  # configs are a few hundred bytes; anything this big is not one


def _read_small_file(p: Path) -> str:
    """The text of a regular file of at most MAX_CONFIG_BYTES: never a device, a FIFO or a huge file."""
    try:
        info = p.stat()
    except FileNotFoundError:
        raise ConfigError(not_found(p)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"config file {p} is not a regular file; give a YAML file")
    if info.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {p} is {info.st_size:,} bytes; a config is at most {MAX_CONFIG_BYTES:,}")
    try:
        return p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {p}: {exc}") from None


def _refuse_aliases(text: str, p: Path) -> None:
    """YAML anchors and aliases (&a, *a) can blow a few lines up into billions of values, and deep nesting
    takes the parser minutes before a RecursionError: configs refuse both, as overrides do."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise ConfigError(
                f"{p} line {line}: YAML anchors and aliases (&name, *name) are not "
                "supported in configs; write the values out"
            )
        depth += isinstance(event, yaml.CollectionStartEvent) - isinstance(event, yaml.CollectionEndEvent)
        if depth > MAX_DEPTH:
            raise ConfigError(f"{p} line {line}: nested more than {MAX_DEPTH} deep; no config key takes that")


def _line_map(node: yaml.Node, path: Path_, out: dict[Path_, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key, child in node.value:
            if key.value in seen:
                raise ConfigError(f"line {key.start_mark.line + 1}: key '{key.value}' is given twice; keep one")
            seen.add(key.value)
            out[path + (key.value,)] = key.start_mark.line + 1
            _line_map(child, path + (key.value,), out)
            out[path + (key.value,)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, child in enumerate(node.value):
            _line_map(child, path + (i,), out)


MAX_VALUE_CHARS = 100_000  # a key=value override or a sweep axis; a list of 10,000 seeds fits


def parse_value(text: str) -> Any:
    """A command-line value read as YAML: 0.01 -> float, [a,b] -> list, adam -> 'adam'. Held to what a config
    file is held to: no anchors or aliases (a few characters of them expand to billions of values), no
    nesting deeper than a config has, at most MAX_VALUE_CHARS characters."""
    if len(text) > MAX_VALUE_CHARS:
        raise ConfigError(f"value '{text[:30]}...' is {len(text):,} characters; a value is at most {MAX_VALUE_CHARS:,}")
    try:
        depth = 0
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise ConfigError(
                    f"value '{_shorten(text)}': YAML anchors and aliases (&name, *name) are not supported in "
                    "overrides; write the values out"
                )
            depth += isinstance(event, yaml.CollectionStartEvent) - isinstance(event, yaml.CollectionEndEvent)
            if depth > MAX_DEPTH:
                raise ConfigError(
                    f"value '{_shorten(text)}' is nested more than {MAX_DEPTH} deep; no config key takes that"
                )
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        return text


def _shorten(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


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
    text = _read_small_file(p)
    try:
        _refuse_aliases(text, p)
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
        try:
            _line_map(node, (), lines)
        except ConfigError as exc:
            raise ConfigError(f"{p} {exc}") from None
    return data, Source(str(p), lines)
