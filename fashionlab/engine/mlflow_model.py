"""The MLflow model fashionlab logs, as MLflow's "models from code": this file is copied into each
logged model, so loading one needs MLflow, numpy and Keras with any backend, not fashionlab.

The model is the run's exported standalone model (engine/export.py): raw uint8 images in, shaped
(n, height, width) as the data set has them, probabilities per class out, in the class order of the
model's metadata (`class_names`). Its signature describes the output only: with an input schema,
`mlflow models serve` casts JSON floats (pixels / 255) to uint8 (all 0) before the model sees them;
without it, JSON integers 0-255 are taken as pixels and floats are refused (HTTP 400). Keras loads
it on the backend already imported, else on KERAS_BACKEND, else on the one the run trained with
where it is installed, else on any installed.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import mlflow
import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE


def _choose_backend(recorded: str | None) -> None:
    if "keras" in sys.modules or os.environ.get("KERAS_BACKEND"):
        return
    modules = {"jax": "jax", "tensorflow": "tensorflow", "torch": "torch"}
    for backend in [recorded or "", *modules]:
        if backend in modules and importlib.util.find_spec(modules[backend]) is not None:
            os.environ["KERAS_BACKEND"] = backend
            return


class FashionlabModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc, name-defined]
    def load_context(self, context):  # type: ignore[no-untyped-def]  # MLflow reads the hints: none
        metadata = getattr(context, "model_config", None) or {}
        _choose_backend(metadata.get("keras_backend"))
        import keras

        self.model = keras.saving.load_model(context.artifacts["model"], compile=False)
        self.shape = tuple(self.model.inputs[0].shape[1:])

    # np.ndarray: a hint MLflow takes as "no schema to infer" (no input validation, which would cast
    # floats to uint8, and none of its "add type hints" warnings, in ANSI colours, on every load).
    def predict(self, context, model_input: np.ndarray, params=None):  # type: ignore[no-untyped-def]
        if isinstance(model_input, dict):  # MLflow passes named tensors by name
            model_input = model_input["image"]
        images = np.asarray(model_input)
        if images.dtype != np.uint8:
            whole = np.issubdtype(images.dtype, np.integer)  # JSON's integers: int64
            if not whole or (images.size and (images.min() < 0 or images.max() > 255)):
                h, w = self.shape[:2]
                raise MlflowException(
                    f"images are pixels 0-255 (uint8, or whole numbers in JSON) shaped (n, {h}, {w}), not "
                    f"{images.dtype}{' in 0-1: send the pixels, not pixels / 255' if not whole else ''}",
                    INVALID_PARAMETER_VALUE,
                )
            images = images.astype(np.uint8)
        return np.asarray(self.model.predict(images.reshape((-1, *self.shape)), verbose=0), dtype=np.float32)


mlflow.models.set_model(FashionlabModel())
