"""Which Keras backend runs, on which device, with which versions. Keras is imported only after
`use_backend` has set KERAS_BACKEND, since a process can hold only one backend.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from fashionlab.errors import FashionlabError


def use_backend(name: str) -> None:
    """Make Keras use `name`. Must run before Keras is imported; a process can hold only one backend."""
    if "keras" in sys.modules:
        import keras

        current = keras.backend.backend()
        if current != name:
            raise FashionlabError(
                f"this process already runs Keras on {current}, the config asks for {name}; "
                "run it in a fresh 'fashionlab' process"
            )
        return
    if name == "torch":
        try:
            import torch  # noqa: F401
        except ImportError:
            raise FashionlabError("backend torch needs PyTorch: pip install torch, or use backend: jax") from None
    elif name == "tensorflow":
        try:
            import importlib.util

            if importlib.util.find_spec("tensorflow") is None:
                raise ImportError
        except ImportError:
            raise FashionlabError(
                "backend tensorflow needs TensorFlow: pip install tensorflow-cpu, or use backend: jax"
            ) from None
    os.environ["KERAS_BACKEND"] = name
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if name != "tensorflow":
        # Keras probes for TensorFlow (seeding, saving) whenever it is installed, which costs ~3 s of
        # import on a JAX or torch run that never uses it. Tell Keras's lazy loader it is absent.
        from keras.src.utils import module_utils

        if module_utils.tensorflow.module is None:
            module_utils.tensorflow._available = False


def device() -> str:
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return str(jax.devices()[0].platform)
    if backend == "torch":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"


def versions() -> dict[str, str]:
    import keras

    out = {"keras": keras.__version__, "numpy": np.__version__, "backend": keras.backend.backend()}
    backend = out["backend"]
    if backend == "jax":
        import jax

        out["jax"] = jax.__version__
    elif backend == "tensorflow":
        import tensorflow as tf

        out["tensorflow"] = tf.__version__
    else:
        import torch

        out["torch"] = torch.__version__
    return out
