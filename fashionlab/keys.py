"""A config as flat dotted keys (`optimizer.name`), their short names (`lr`), and layers in words.

A module of its own beside config/, so the tables and --help do not import pydantic's schema with it.
"""

from __future__ import annotations

from typing import Any

NOT_HASHED = ("name", "tensorboard", "repeats")  # a label, logging, how many seeds: not the trial itself, nor a setting
SHORT = {"optimizer.learning_rate": "lr", "optimizer.name": "optimizer", "loss.name": "loss"}


def flatten(data: Any, prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """{'optimizer': {'name': 'sgd'}} -> {'optimizer.name': 'sgd'}; a layer's type is left out of its keys.
    (Into one `out` all the way down: a summary of each of 20,000 runs flattens its config.)"""
    out = {} if out is None else out
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, dict | list):
                flatten(value, f"{prefix}{key}.", out)
            else:
                out[f"{prefix}{key}"] = value
    elif isinstance(data, list) and prefix.startswith("layers."):
        for i, item in enumerate(data):
            if isinstance(item, dict) and len(item) == 1:
                (kind, args) = next(iter(item.items()))
                out[f"{prefix}{i}"] = kind
                flatten(args or {}, f"{prefix}{i}.", out)
            else:
                out[f"{prefix}{i}"] = item
    else:
        out[prefix.rstrip(".")] = data
    return out


def short_key(key: str) -> str:
    """The name people use for a config key: lr for optimizer.learning_rate."""
    return SHORT.get(key, key)


LAYER_NAMES = {"flatten": "Flatten", "dense": "Dense", "dropout": "Dropout", "conv2d": "Conv2D",
               "maxpool2d": "MaxPool2D", "batchnorm": "BatchNormalization", "reshape": "Reshape"}  # fmt: skip
MAIN_ARGUMENT = {"dense": "units", "dropout": "rate", "conv2d": "filters", "maxpool2d": "pool_size",
                 "reshape": "target_shape"}  # fmt: skip


def layer_words(layers: list[Any]) -> list[str]:
    """The config's layers as Keras would print them: Flatten, Dense(16, relu), Dropout(0.2)."""
    out = []
    for item in layers:
        kind, args = (next(iter(item.items())) if isinstance(item, dict) else (str(item), {})) or (str(item), {})
        args = dict(args or {})
        parts = []
        if (main := MAIN_ARGUMENT.get(kind)) in args:
            parts.append(str(args.pop(main)))
        if args.get("activation") not in (None, "linear"):
            parts.append(str(args.pop("activation")))
        args.pop("activation", None)
        parts += [f"{k}={v}" for k, v in args.items() if v is not None]
        name = LAYER_NAMES.get(kind, kind)
        out.append(f"{name}({', '.join(parts)})" if parts else name)
    return out


def layers_diff(before: list[str], after: list[str]) -> list[str]:
    """How `after` differs from `before`, as short phrases: added Dense(16, relu) twice, removed Dropout(0.2),
    changed Dense(128, relu) to Dense(64, relu)."""
    import difflib

    said: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        if tag == "insert":
            said += _counted("added", after[j1:j2])
        elif tag == "delete":
            said += _counted("removed", before[i1:i2])
        elif tag == "replace":
            if i2 - i1 == j2 - j1:
                said += [f"changed {a} to {b}" for a, b in zip(before[i1:i2], after[j1:j2], strict=True)]
            else:
                said += _counted("removed", before[i1:i2]) + _counted("added", after[j1:j2])
    return said


def _counted(verb: str, items: list[str]) -> list[str]:
    times = {1: "", 2: " twice", 3: " three times"}
    out: list[str] = []
    for item in dict.fromkeys(items):
        n = items.count(item)
        out.append(f"{verb} {item}{times.get(n, f' {n} times')}")
    return out


# The metric columns of comparison tables: (key in a run's summary, header, group); any key sorts rows.
METRIC_COLUMNS = [
    # key in the summary, header, group
    ("epochs", "epochs", ""),
    ("loss", "loss", "last"),
    ("accuracy", "acc", "last"),
    ("val_loss", "val_loss", "last"),
    ("val_accuracy", "val_acc", "last"),
    ("best_epoch", "epoch", "best"),
    ("best_loss", "loss", "best"),
    ("best_accuracy", "acc", "best"),
    ("best_val_loss", "val_loss", "best"),
    ("best_val_accuracy", "val_acc", "best"),
    ("max_val_accuracy", "max val_acc", ""),
    ("test_loss", "loss", "test"),
    ("test_accuracy", "acc", "test"),
    ("overfitting", "overfit", ""),
    ("seconds", "time (s)", ""),
]
SORT_KEYS = [key for key, _, _ in METRIC_COLUMNS]
