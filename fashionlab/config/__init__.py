"""The experiment config: schema, YAML loading with line numbers, `key=value` overrides, validation.

Every problem is collected and reported at once, each with where it came from (file and line, or the
override that caused it), the key's path, and a did-you-mean where a name is misspelt.
"""

from fashionlab.config.overrides import Override, apply_overrides, parse_override, resolve_key, split_override
from fashionlab.config.schema import (
    BACKENDS,
    DEFAULT_CONFIG,
    LAYER_TYPES,
    Config,
    Conv2D,
    Dense,
    Dropout,
    Layer,
    Loss,
    MaxPool2D,
    Optimizer,
    Reshape,
    suggest,
    with_defaults,
)
from fashionlab.config.shipped import find_config, shipped
from fashionlab.config.validate import identity_hash, json_schema, load_config, run_config, validate
from fashionlab.config.yaml_lines import Source, parse_value, read_yaml

__all__ = [
    "BACKENDS",
    "DEFAULT_CONFIG",
    "LAYER_TYPES",
    "Config",
    "Conv2D",
    "Dense",
    "Dropout",
    "Layer",
    "Loss",
    "MaxPool2D",
    "Optimizer",
    "Override",
    "Reshape",
    "Source",
    "apply_overrides",
    "find_config",
    "identity_hash",
    "json_schema",
    "load_config",
    "parse_override",
    "parse_value",
    "read_yaml",
    "resolve_key",
    "run_config",
    "shipped",
    "split_override",
    "suggest",
    "validate",
    "with_defaults",
]
