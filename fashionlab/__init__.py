"""fashionlab: a command-line experiment runner for Keras classifiers on Fashion-MNIST."""

__version__ = "0.1.0"

from fashionlab.config import Config, load_config  # noqa: E402
from fashionlab.data import CLASS_NAMES, load_data  # noqa: E402
from fashionlab.runs import list_runs, load_run  # noqa: E402

__all__ = ["CLASS_NAMES", "Config", "__version__", "list_runs", "load_config", "load_data", "load_run"]
