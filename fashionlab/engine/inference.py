"""Using a trained run: load its model, evaluate it, predict images, export it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from fashionlab import data as fdata
from fashionlab import metrics as fmetrics
from fashionlab.config import Config, Source, validate
from fashionlab.engine.backend import use_backend
from fashionlab.engine.inputs import encode_labels, resize, select, test_images_for, to_model_input
from fashionlab.errors import FashionlabError, InputError, RunError
from fashionlab.network import output_kind
from fashionlab.store import Run


def load_trained(
    run: Run, backend: str | None = None, epoch: str = "last", for_training: bool = True
) -> tuple[Config, Any]:
    """The run's config and Keras model, on the backend it was trained with (or `backend`), with the
    weights of its last epoch (model.keras) or of its best epoch ("best"). Without `for_training` the
    model comes without its loss and optimizer (enough to predict, and quicker to load)."""
    if epoch not in ("last", "best"):
        raise InputError(f"`epoch` {epoch} is not known; use last or best")
    config = validate(run.config(), Source(str(run.config_path), {}))
    use_backend(backend or str(run.info.get("backend", config.backend)))
    import keras

    model_file = run.model_path.name
    try:
        model = keras.saving.load_model(run.model_path, compile=for_training)
    except Exception as exc:  # Keras raises many kinds for a file that is not its model
        raise RunError(f"run {run.id}: {model_file} cannot be loaded ({exc.__class__.__name__}); retrain it") from None
    if tuple(model.input_shape[1:]) != tuple(config.input_shape) or model.output_shape[-1] != config.num_classes:
        raise RunError(
            f"run {run.id}: {model_file} takes {model.input_shape[1:]} and gives {model.output_shape[1:]}, "
            f"which does not match its {run.config_path.name}; it was not made by this run"
        )
    if epoch == "best":
        from fashionlab.engine.fit import model_weights

        weights = model_weights(model)
        weights.restore(run.load_best(weights.shapes()))
    return config, model


def probabilities(model: Any, config: Config, images: np.ndarray) -> np.ndarray:
    """The model's outputs for uint8 images: probabilities where it gives logits (softmax applied) or
    probabilities, raw scores where it gives neither (network.output_kind)."""
    out = np.asarray(model.predict(to_model_input(images, config), batch_size=512, verbose=0))
    return fmetrics.softmax(out) if output_kind(config) == "logits" else out


def evaluate_run(run: Run, epoch: str = "last") -> dict[str, Any]:
    """Test loss/accuracy and per-class metrics of a trained run (its last or best epoch's model)."""
    config, model = load_trained(run, epoch=epoch)
    x_test, y_test = test_images_for(config)
    scores = model.evaluate(
        to_model_input(x_test, config), encode_labels(y_test, config), batch_size=512, verbose=0, return_dict=True
    )
    probs = probabilities(model, config, x_test)
    report = fmetrics.classification_report(y_test, probs.argmax(axis=1), config.num_classes)
    report.update(run=run.id, test_loss=float(scores["loss"]), test_accuracy=float(scores["accuracy"]))
    report["class_names"] = config.class_names
    report["epoch"] = "last" if epoch == "last" else f"best ({run.info.get('best_weights_epoch')})"
    report["samples"] = len(y_test)
    return report


def _prediction(
    run: Run, config: Config, probs: np.ndarray, pixels: np.ndarray, true: int | None, index: int | None,
    image: str | None = None, inverted: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """One image's prediction as the views and --json show it: probabilities, or scores where the
    model does not give probabilities (then "probabilities" is None)."""
    predicted = int(np.argmax(probs))
    names = config.class_names
    values = {name: float(p) for name, p in zip(names, probs, strict=True)}
    scores = output_kind(config) == "scores"
    return {
        "run": run.id,
        "index": index,
        "image_file": image,
        "inverted": inverted,
        "output": "scores" if scores else "probabilities",
        "probabilities": None if scores else values,
        "scores": values if scores else None,
        "predicted": predicted,
        "predicted_name": names[predicted],
        "true": true,
        "true_name": names[true] if true is not None else None,
        "correct": (predicted == true) if true is not None else None,
        "pixels": resize(pixels[None], config.image_hw)[0].tolist(),  # what the model sees
    }


def predict_test_images(run: Run, count: int, epoch: str = "last") -> list[dict[str, Any]]:
    """Predictions for the first `count` test images in one batch (what one prediction gives for each)."""
    config, model = load_trained(run, epoch=epoch)
    x_test, y_test = select(*fdata.load_test(), config)
    probs = probabilities(model, config, x_test[:count])
    return [_prediction(run, config, p, x_test[i], int(y_test[i]), i) for i, p in enumerate(probs)]


def predict_run(run: Run, index: int | None = None, image: str | None = None, epoch: str = "last") -> dict[str, Any]:
    """One prediction: every class's probability, the predicted class and, for a test image, the truth."""
    if (index is None) == (image is None):
        raise InputError("give either `index` N (a test image) or `image` FILE")
    true: int | None = None
    inverted = False
    config = validate(run.config(), Source(str(run.config_path), {}))
    if index is not None:
        x_test, y_test = select(*fdata.load_test(), config)
        if not 0 <= index < len(x_test):
            raise InputError(
                f"`index` {index} is out of range; the test set has {len(x_test)} images (0-{len(x_test) - 1})"
            )
        pixels, true = x_test[index], int(y_test[index])
    else:
        assert image is not None
        pixels, inverted = fdata.load_image(image)
    config, model = load_trained(run, epoch=epoch, for_training=False)
    probs = probabilities(model, config, pixels[None])[0]
    return _prediction(run, config, probs, pixels, true, index, image, inverted)


EXPORT_FORMATS = {  # fashionlab name: (Keras export format, file suffix, package a user may need)
    "savedmodel": ("tf_saved_model", "", "tensorflow-cpu"),
    "onnx": ("onnx", ".onnx", "onnx tf2onnx"),
    "tflite": ("litert", ".tflite", "tensorflow-cpu (or ai-edge-litert)"),
}


def export_run(run: Run, fmt: str, out: Path | None = None, epoch: str = "last") -> Path:
    """Export the run's model with Keras's model.export; a missing package is named in the error."""
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"`format` {fmt} is not known; use {', '.join(EXPORT_FORMATS)}")
    keras_format, suffix, package = EXPORT_FORMATS[fmt]
    target = out or run.export_path(fmt, suffix)
    if target.exists():
        raise InputError(f"{target} already exists; remove it or give another `out`")
    # The exporters are TensorFlow's: load the (backend-independent) model on TensorFlow when it is here.
    backend = "tensorflow" if importlib.util.find_spec("tensorflow") else None
    config, model = load_trained(run, backend, epoch)
    model(np.zeros((1, *config.input_shape), dtype=np.float32))  # exporters need a model that has been called
    try:
        model.export(str(target), format=keras_format, verbose=False)
    except (ImportError, ModuleNotFoundError) as exc:
        raise FashionlabError(
            f"exporting to {fmt} needs a package that is not installed ({exc}); pip install {package}"
        ) from None
    except Exception as exc:  # Keras and the converters raise many kinds
        raise FashionlabError(
            f"exporting run {run.id} to {fmt} failed: {exc.__class__.__name__}: {str(exc).splitlines()[0]}"
        ) from None
    return target
