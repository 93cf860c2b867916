"""fashionlab: a command-line experiment runner for Keras classifiers on Fashion-MNIST."""

__version__ = "0.1.0"

from fashionlab.config import Config, load_config
from fashionlab.data import CLASS_NAMES, load_data
from fashionlab.runs import list_runs, load_run

__all__ = ["CLASS_NAMES", "Config", "__version__", "list_runs", "load_config", "load_data", "load_run"]
