"""Which Keras backend runs, on which device, with which versions. Keras is imported only after
`use_backend` has set KERAS_BACKEND, since a process can hold only one backend.
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

from fashionlab import compat
from fashionlab.engine import keras_shims
from fashionlab.errors import FashionlabError, raise_if_stopped, signals_deferred
from fashionlab.store import cache_dir

loaded = False  # Keras and its backend imported in full (a signal can cut their import short)


def use_backend(name: str) -> None:
    """Make Keras use `name`. Must run before Keras is imported; a process can hold only one backend."""
    if "keras" in sys.modules:
        import keras

        current = keras.backend.backend()
        if current != name:
            raise FashionlabError(
                f"this process already runs Keras on {current} (Keras holds one backend per process), the config "
                f"asks for {name}: train on {current} (`backend` {current} in the config, or backend={current} as "
                f"an override), or start a fresh process (in a notebook: restart the kernel) and set "
                f"os.environ['KERAS_BACKEND'] = '{name}' before anything imports keras"
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
                "backend tensorflow needs TensorFlow: pip install 'fashionlab[tensorflow]', or use backend: jax"
            ) from None
    os.environ["KERAS_BACKEND"] = name
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if name == "tensorflow":
        import_tensorflow_quietly()
    # A signal raised inside JAX's import can land in a C++ callback of jaxlib and abort the process
    # ("terminate called after throwing an instance of 'nanobind::python_error'"): it waits for the end.
    with signals_deferred():
        _import_keras_without_sklearn()
        if name == "jax":
            _jax_starts()
            _compilation_cache()
    if name != "tensorflow":
        # Keras probes for TensorFlow (seeding, saving) whenever it is installed, which costs ~3 s of
        # import on a JAX or torch run that never uses it. Tell Keras's lazy loader it is absent.
        keras_shims.keras_without_tensorflow()
    global loaded
    loaded = True
    raise_if_stopped()  # a signal that landed in JAX's garbage-collector callback while it loaded


def _jax_starts() -> None:
    """JAX's platform (JAX_PLATFORMS=cuda on a machine without CUDA fails deep inside Keras later): one line."""
    import jax

    try:
        jax.devices()
    except (RuntimeError, AssertionError) as exc:  # AssertionError: a first failure was swallowed inside Keras
        asked = os.environ.get("JAX_PLATFORMS") or os.environ.get("JAX_PLATFORM_NAME") or "its default"
        first = str(exc).splitlines()[0] if str(exc) else "no such platform here"
        raise FashionlabError(
            f"JAX cannot start on {asked} ({first}); unset JAX_PLATFORMS, or set it to a platform this machine "
            "has (cpu)"
        ) from None


TENSORFLOW_NOISE = (
    "All log messages before absl::InitializeLog() is called",
    "oneDNN custom operations are on",
    "cpu_feature_guard",
    "To enable the following instructions",
)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow without its start-up lines: its C++ libraries write them straight to file
    descriptor 2 (absl's "All log messages before absl::InitializeLog()", oneDNN's note on round-off,
    CPU features), past TF_CPP_MIN_LOG_LEVEL. Standard error is caught in a temporary file for the
    import, and every other line is written back (a failed import still says why)."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines = caught.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not any(n in line for n in TENSORFLOW_NOISE)))
            sys.stderr.flush()


UNUSED_BY_KERAS_HERE = ("sklearn", "pandas", "matplotlib")


def _import_keras_without_sklearn() -> None:
    """Import Keras as if scikit-learn, pandas and matplotlib were absent. Keras imports them whenever
    they are installed (mlflow installs the first two): scikit-learn for its sklearn wrappers (~1.3 s),
    pandas to accept DataFrames as input (~0.2 s), matplotlib.pyplot for its image gallery (~0.4 s).
    fashionlab uses none of them through Keras; importing them later in this process works as usual
    (curves.png imports matplotlib's Figure only when it draws; mlflow and optuna import pandas)."""
    with compat.modules_hidden(UNUSED_BY_KERAS_HERE):
        import keras  # noqa: F401


def _compilation_cache() -> None:
    """JAX's persistent compilation cache in fashionlab's cache folder: a run compiles each of its ~27
    programs (steps, evaluation, metrics) once per machine instead of once per process, which saves
    about 4 s of a short run (BENCHMARKS.md). Entries are keyed by the program, JAX version and device,
    so a stale one is never used; the size cap turns on JAX's file lock, which makes the cache safe for
    the processes of a sweep. `FASHIONLAB_CACHE=off` turns it off."""
    folder = cache_dir("jax")
    if folder is None:
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax.config.update("jax_compilation_cache_max_size", 2 * 1024**3)


def accelerator() -> bool:
    """Whether JAX runs on a GPU or TPU here."""
    use_backend("jax")
    import jax

    return jax.default_backend() != "cpu"


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
