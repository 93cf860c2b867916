"""Using a trained run: load its model, evaluate it, predict images, export it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fashionlab import data as fdata
from fashionlab import metrics as fmetrics
from fashionlab.config import Config, run_config
from fashionlab.engine.backend import use_backend
from fashionlab.engine.inputs import resize, select, test_images_for, to_model_input
from fashionlab.errors import InputError, RunError
from fashionlab.network import output_kind
from fashionlab.store import Run, images
from fashionlab.store.images import ImageEvidence, ModelImages


def load_trained(
    run: Run, backend: str | None = None, epoch: str = "last", for_training: bool = True
) -> tuple[Config, Any]:
    """The run's config and Keras model, on the backend it was trained with (or `backend`), with the
    weights of its last epoch (model.keras), of its best epoch ("best") or of a kept epoch ("5"). Without
    `for_training` the model comes without its loss and optimizer (enough to predict, and quicker to load)."""
    if epoch not in ("last", "best") and not str(epoch).isdigit():
        raise InputError(f"`epoch` {epoch} is not known; use last, best or a kept epoch's number")
    config = run_config(run)
    use_backend(backend or run.info.backend or config.backend)
    import keras

    model_file = run.model_path.name
    _check_model_archive(run, config)
    try:
        model = keras.saving.load_model(run.model_path, compile=for_training)
    except Exception as exc:  # Keras raises many kinds for a file that is not its model
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise RunError(
                f"run {run.id}: {model_file} holds Python code (a Lambda layer), which Keras runs only when told to "
                "load unsafely and fashionlab never does; it was not made by this run: retrain it"
            ) from None
        raise RunError(f"run {run.id}: {model_file} cannot be loaded ({exc.__class__.__name__}); retrain it") from None
    if tuple(model.input_shape[1:]) != tuple(config.input_shape) or model.output_shape[-1] != config.num_classes:
        raise RunError(
            f"run {run.id}: {model_file} takes {model.input_shape[1:]} and gives {model.output_shape[1:]}, "
            f"which does not match its {run.config_path.name}; it was not made by this run"
        )
    if epoch == "best":
        from fashionlab.engine import member

        member.restore(model, run.load_best(member.shapes(model)))
    elif epoch != "last":
        from fashionlab.engine import member

        member.restore(model, run.load_epoch(int(epoch), member.shapes(model)))
    return config, model


def _check_model_archive(run: Run, config: Config) -> None:
    """Refuse, before Keras opens it, a model.keras whose members would expand beyond what this config's
    model can hold (weights and optimizer state, 4 bytes each, and its JSON): a zip bomb is a RunError."""
    import zipfile

    from fashionlab.network import layer_rows
    from fashionlab.store import files

    params = sum(r.params for r in layer_rows(config))
    limits = {"model.weights.h5": 4 * params * 5 + 4_000_000, "config.json": 4_000_000, "metadata.json": 100_000}
    try:
        with files.open_regular(run.model_path, files.MAX_ARRAYS) as fh, zipfile.ZipFile(fh) as zf:
            members = zf.infolist()
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise RunError(
            f"run {run.id}: {run.model_path.name} cannot be loaded ({exc.__class__.__name__}); retrain it"
        ) from None
    for member in members:
        limit = limits.get(member.filename, 1_000_000)  # a member a later Keras may add: small, like metadata
        if len(members) > 16 or member.file_size > limit:
            raise RunError(
                f"run {run.id}: {run.model_path.name} holds {member.filename} of {member.file_size:,} bytes, more "
                f"than a model of {params:,} parameters needs; it was not made by this run: retrain it"
            )


def probabilities(model: Any, config: Config, images: np.ndarray) -> np.ndarray:
    """The model's outputs for uint8 images: probabilities where it gives logits (softmax applied) or
    probabilities, raw scores where it gives neither (network.output_kind)."""
    out = np.asarray(model.predict(to_model_input(images, config), batch_size=512, verbose=0))
    return fmetrics.softmax(out) if output_kind(config) == "logits" else out


def evaluate_run(run: Run, epoch: str = "last") -> dict[str, Any]:
    """Test loss/accuracy and per-class metrics of a trained run (its last or best epoch's model), from its
    per-image test evidence (computed once and stored for a run trained before it was kept)."""
    config = run_config(run)
    found = image_evidence(run, epoch)
    report = fmetrics.classification_report(found.true, found.predicted, config.num_classes)
    stored = run.saved_metrics()
    tested = (stored.get("test") if epoch == "last" else stored.get("test_at_best")) or {}
    loss = float(found.loss.mean()) if found.has_probabilities else tested.get("loss")
    report.update(run=run.id, test_loss=loss, test_accuracy=float(found.correct.mean()))
    report["class_names"] = config.class_names
    report["epoch"] = "last" if epoch == "last" else f"best ({found.epoch})"
    report["samples"] = int(found.true.size)
    return report


def image_evidence(run: Run, epoch: str = "last") -> ModelImages:
    """The per-image test evidence of the run's kept model ("last") or its best epoch's ("best"), from its
    images.npz; a run trained before it was kept is evaluated once here and the file written."""
    if epoch not in ("last", "best") and not str(epoch).isdigit():
        raise InputError(f"`epoch` {epoch} is not known; use last, best or a kept epoch's number")
    found = images.read(run)
    if found is None:
        found = _evaluate_images(run)
        images.write(run, found)
    if epoch == "last":
        return found.kept
    if found.best is not None:
        return found.best
    if run.info.best_weights_epoch is None:
        run.check_best_kept()  # says why there is no best model, without loading one
    return found.kept  # the best epoch is the kept one


def _evaluate_images(run: Run) -> ImageEvidence:
    from fashionlab.engine.images import model_images, outputs

    config, model = load_trained(run, for_training=False)
    x_test, y_test = test_images_for(config)
    kind = output_kind(config)
    kept_epoch = run.weights_epoch("last") or 0
    kept = model_images(outputs(model, None, 0, to_model_input(x_test, config)), y_test, kind, kept_epoch)
    best_epoch = run.info.best_weights_epoch
    if best_epoch is None or best_epoch == kept_epoch:
        return ImageEvidence(kept)
    _, model = load_trained(run, epoch="best", for_training=False)
    best = outputs(model, None, 0, to_model_input(x_test, config))
    return ImageEvidence(kept, model_images(best, y_test, kind, int(best_epoch)))


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
    x_test, y_test = select(*config.dataset.load_test(), config)
    probs = probabilities(model, config, x_test[:count])
    return [_prediction(run, config, p, x_test[i], int(y_test[i]), i) for i, p in enumerate(probs)]


def predict_run(run: Run, index: int | None = None, image: str | None = None, epoch: str = "last") -> dict[str, Any]:
    """One prediction: every class's probability, the predicted class and, for a test image, the truth."""
    if (index is None) == (image is None):
        raise InputError("give either `index` N (a test image) or `image` FILE")
    true: int | None = None
    inverted = False
    config = run_config(run)
    if index is not None:
        x_test, y_test = select(*config.dataset.load_test(), config)
        if not 0 <= index < len(x_test):
            raise InputError(
                f"`index` {index} is out of range; the test set has {len(x_test)} images (0-{len(x_test) - 1})"
            )
        pixels, true = x_test[index], int(y_test[index])
    else:
        assert image is not None
        pixels, inverted = fdata.load_image(image, run_config(run).dataset.image_hw)
    config, model = load_trained(run, epoch=epoch, for_training=False)
    probs = probabilities(model, config, pixels[None])[0]
    return _prediction(run, config, probs, pixels, true, index, image, inverted)


def predict_many(
    run: Run, indices: str | None = None, images: list[str] | None = None, epoch: str = "last",
    errors: int | None = None, pixels_too: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Predictions for several test images (`indices`: "0:100", "3,7,9" or "12"), the `errors` most
    confidently wrong test images, or image files (a folder counts as its PNG and JPEG files), in one
    batch; and the accuracy over those with a known class. `pixels_too` keeps what the model saw."""
    config = run_config(run)
    if errors is not None:
        indices = ",".join(map(str, confident_errors(run, errors, epoch)))
    if images:
        files = image_files(images)
        loaded = [fdata.load_image(f, config.dataset.image_hw) for f in files]
        pixels = np.stack([p for p, _ in loaded])
        truths: list[int | None] = [None] * len(files)
        names: list[str | None] = [str(f) for f in files]
        picked: list[int | None] = [None] * len(files)
    else:
        x_test, y_test = select(*config.dataset.load_test(), config)
        chosen = parse_indices(indices or "", len(x_test))
        pixels, truths, names = x_test[chosen], [int(y_test[i]) for i in chosen], [None] * len(chosen)
        picked = list[int | None](chosen)
    config, model = load_trained(run, epoch=epoch, for_training=False)
    probs = probabilities(model, config, pixels)
    rows = [
        {
            k: v
            for k, v in _prediction(run, config, p, pixels[i], truths[i], picked[i], names[i]).items()
            if k != "pixels" or pixels_too
        }
        for i, p in enumerate(probs)
    ]
    known = [r for r in rows if r["correct"] is not None]
    right = sum(1 for r in known if r["correct"])
    chosen_wrong = errors is not None  # picked because they are wrong: an accuracy over them is 0 by construction
    return {"run": run.id, "predictions": rows, "labelled": len(known), "correct": right,
            "accuracy": right / len(known) if known and not chosen_wrong else None}  # fmt: skip


MAX_INDICES = 10_000


def confident_errors(run: Run, n: int, epoch: str = "last") -> list[int]:
    """The test images the model gets wrong with the highest probability on its wrong answer, most first
    (from the run's per-image evidence)."""
    found = image_evidence(run, epoch)
    wrong = np.flatnonzero(~found.correct)
    if not len(wrong):
        raise InputError(f"run {run.id} gets every one of its {found.true.size:,} test images right; no error to show")
    confidence = np.nan_to_num(found.confidence[wrong], nan=0.0)
    order = wrong[np.argsort(-confidence, kind="stable")]
    return [int(i) for i in order[:n]]


def parse_indices(text: str, n: int) -> list[int]:
    """ "12", "0:100" (as Python's slice, end excluded), "0:100:5" or "3,7,9" -> indices into n test images."""
    shown = f"the test set has {n} images (0-{n - 1})"
    try:
        if ":" in text:
            parts = [int(p) if p.strip() else None for p in text.split(":")]
            if len(parts) > 3 or (parts[-1] == 0 and len(parts) == 3):
                raise ValueError
            found = list(range(n))[slice(*parts)]
            ends = [p for p in parts[:2] if p is not None]
            if any(not 0 <= p <= n for p in ends):
                raise IndexError
        else:
            found = [int(p) for p in text.split(",")]
    except ValueError:
        raise InputError(f"`index` {text} is not an index, a range A:B or a list A,B,C of test images") from None
    except IndexError:
        raise InputError(f"`index` {text} reaches outside the test set; {shown}") from None
    if not found:
        raise InputError(f"`index` {text} selects no image; {shown}")
    if bad := [i for i in found if not 0 <= i < n]:
        raise InputError(f"`index` {bad[0]} is out of range; {shown}")
    if len(found) > MAX_INDICES:
        raise InputError(f"`index` {text} selects {len(found)} images; at most {MAX_INDICES} at once")
    return found


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def image_files(paths: list[str]) -> list[Path]:
    """The files given, a folder standing for the PNG and JPEG files in it (sorted by name)."""
    found: list[Path] = []
    for given in map(Path, paths):
        if given.is_dir():
            inside = sorted(p for p in given.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not inside:
                raise InputError(f"folder {given} holds no PNG or JPEG files")
            found += inside
        else:
            found.append(given)
    if len(found) > MAX_INDICES:
        raise InputError(f"{len(found)} images given; at most {MAX_INDICES} at once")
    return found
