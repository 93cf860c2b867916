"""fashionlab: a command-line experiment runner for Keras classifiers on Fashion-MNIST.

From Python (a notebook): `fashionlab.train`, `sweep`, `compare`, `evaluate`, `predict` and `load_run`
(fashionlab/api.py, docs/python.md). The public API is loaded on first use, so `import
fashionlab.cli` (and `fashionlab --help`) stays fast.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

__version__ = "0.1.0"

KERAS_BACKENDS = ("tensorflow", "jax", "torch", "numpy", "openvino")  # each the name of the module it needs


def _keras_default_backend() -> None:
    """Keras's own default backend is TensorFlow, which the base install lacks: `import fashionlab`
    and then `import keras` (a notebook) would fail. Imported before Keras, fashionlab makes its own
    default, JAX, Keras's default too, unless KERAS_BACKEND or Keras's keras.json names a backend that
    is installed (the user's choice)."""
    if "keras" in sys.modules or os.environ.get("KERAS_BACKEND"):
        return
    home = Path(os.environ.get("KERAS_HOME") or Path("~/.keras").expanduser())
    try:
        chosen = json.loads((home / "keras.json").read_text()).get("backend")
    except (OSError, ValueError, AttributeError):
        chosen = None
    if chosen not in KERAS_BACKENDS or importlib.util.find_spec(chosen) is None:
        os.environ["KERAS_BACKEND"] = "jax"


_keras_default_backend()

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
