"""fashionlab: a command-line experiment runner for Keras classifiers on Fashion-MNIST.

From Python (a notebook): `fashionlab.train`, `sweep`, `compare`, `evaluate`, `predict` and `load_run`
(fashionlab/api.py, README "From Python"). The public API is loaded on first use, so `import
fashionlab.cli` (and `fashionlab --help`) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "Config": "fashionlab.config",
    "load_config": "fashionlab.config",
    "CLASS_NAMES": "fashionlab.data",
    "load_data": "fashionlab.data",
    "RunStore": "fashionlab.store",
    "train": "fashionlab.api",
    "sweep": "fashionlab.api",
    "compare": "fashionlab.api",
    "evaluate": "fashionlab.api",
    "predict": "fashionlab.api",
    "load_run": "fashionlab.api",
    "Run": "fashionlab.store",
    "expand": "fashionlab.experiments.plan",
    "run_sweep": "fashionlab.experiments.sweep",
}
__all__ = [*_API, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        module, _, attr = _API[name].partition(":")
        return getattr(importlib.import_module(module), attr or name)
    raise AttributeError(f"module 'fashionlab' has no attribute {name!r}")
