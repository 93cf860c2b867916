"""Training, evaluation and prediction with Keras: data in, run directory out.

The order reads top to bottom: prepare data, build the model, train, evaluate, save.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from fashionlab import data as fdata
from fashionlab import metrics as fmetrics
from fashionlab.config import Config, validate
from fashionlab.config import Source as ConfigSource
from fashionlab.errors import FashionlabError, InputError, RunError, StorageError
from fashionlab.model import check_trainable, compile_model, outputs_logits, use_backend
from fashionlab.runs import Run, create_run, now, write_atomic

DIVERGED_LOSS = 1e4  # a classifier guessing uniformly scores ln(10) = 2.3; far above that, training has blown up
MAX_STEPS_PER_EXECUTION = 50
CHECKPOINT = "checkpoint.npz"  # batches per compiled call: same numbers, far less Python overhead


class Progress(Protocol):
    """What train() reports while it works; the CLI draws it, tests may ignore it."""

    def start(self, run_id: str, epochs: int, steps_per_epoch: int) -> None: ...
    def batch(self, epoch: int, step: int, logs: dict[str, float]) -> None: ...
    def epoch(self, row: dict[str, float]) -> str | None:
        """Called after each epoch is saved; returning "prune" stops the training there (a search's pruner)."""
        ...


class _Quiet:
    def start(self, run_id: str, epochs: int, steps_per_epoch: int) -> None:
        pass

    def batch(self, epoch: int, step: int, logs: dict[str, float]) -> None:
        pass

    def epoch(self, row: dict[str, float]) -> str | None:
        return None


@dataclass
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray  # always integer class ids
    y_test_model: np.ndarray  # the labels in the form the loss wants


def to_model_input(images: np.ndarray, config: Config) -> np.ndarray:
    """uint8 images (n, 28, 28) -> float32 in [0, 1], shaped as the config's input_shape."""
    return (images.astype(np.float32) / 255.0).reshape((-1, *config.input_shape))


def encode_labels(labels: np.ndarray, config: Config) -> np.ndarray:
    """Integer ids for sparse losses, one-hot rows for every other loss (categorical_crossentropy, mse, ...)."""
    if config.loss.sparse:
        return labels.astype(np.int32)
    return np.eye(10, dtype=np.float32)[labels]


def prepare_data(config: Config) -> Split:
    """Load, subset, scale and split the data; the validation set is the last fraction, as Keras does."""
    (x_train, y_train), (x_test, y_test) = fdata.load_data()
    if config.train_samples:
        x_train, y_train = x_train[: config.train_samples], y_train[: config.train_samples]
    if config.test_samples:
        x_test, y_test = x_test[: config.test_samples], y_test[: config.test_samples]
    x = to_model_input(x_train, config)
    y = encode_labels(y_train, config)
    split_at = int(len(x) * (1 - config.validation_split))
    x_val = y_val = None
    if config.validation_split > 0:
        x, x_val, y, y_val = x[:split_at], x[split_at:], y[:split_at], y[split_at:]
    return Split(x, y, x_val, y_val, to_model_input(x_test, config), y_test, encode_labels(y_test, config))


def steps_per_execution(config: Config, n_train: int) -> int:
    steps = math.ceil(n_train / config.batch_size)
    return max(1, min(MAX_STEPS_PER_EXECUTION, steps))


def _device() -> str:
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


class TrialError(FashionlabError):
    """A run that did not complete: `run_id` names its directory, which keeps its history and error."""

    def __init__(self, message: str, run_id: str, status: str) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.status = status


class Diverged(TrialError):
    """The loss became NaN, infinite or absurdly large."""


class _Trial:
    """One run fed by a shared training: it takes the history up to its own epochs, then is finished."""

    def __init__(self, config: Config, run: Run) -> None:
        self.config = config
        self.run = run
        self.result: TrainResult | None = None

    @property
    def open(self) -> bool:
        return self.result is None and self.run.info.get("status") == "running"


def _recorder(trials: list[_Trial], split: Split, progress: Progress, history: list[dict[str, float]]) -> Any:
    import keras

    class Recorder(keras.callbacks.Callback):
        """After every epoch: history.csv of each open run; at a run's last epoch: test, model, metrics."""

        def __init__(self) -> None:
            super().__init__()
            self.rows: list[dict[str, float]] = list(history)
            self.diverged: str | None = None
            self.pruned = False
            self.epoch_index = 0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.started = time.perf_counter()
            self.epoch_index = epoch

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            progress.batch(self.epoch_index, batch + 1, {k: float(v) for k, v in (logs or {}).items()})

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            row: dict[str, float] = {"epoch": epoch + 1}
            row.update({k: float(v) for k, v in (logs or {}).items()})
            row["seconds"] = round(time.perf_counter() - self.started, 4)
            loss = row.get("loss", 0.0)
            self.rows.append(row)
            if not math.isfinite(loss) or loss > DIVERGED_LOSS:
                what = f"became {loss}" if not math.isfinite(loss) else f"exploded to {loss:.3g}"
                self.diverged = f"loss {what} in epoch {epoch + 1}"
                self.model.stop_training = True
            for trial in trials:
                if trial.open and trial.config.epochs >= epoch + 1:
                    trial.run.write_history(self.rows)
                    trial.run.update(epochs_done=epoch + 1)
                    if trial.config.epochs == epoch + 1 and not self.diverged:
                        trial.result = _finish(trial, self.model, self.rows, split)
                    elif len(trials) == 1 and not self.diverged:
                        save_checkpoint(trial.run, self.model, epoch + 1)
            if progress.epoch(row) == "prune" and not self.diverged:
                self.pruned = True
                self.model.stop_training = True

    return Recorder()


def _finish(trial: _Trial, model: Any, rows: list[dict[str, float]], split: Split) -> TrainResult:
    """Test the model as it is now, save it and close the run as completed."""
    scores = model.evaluate(split.x_test, split.y_test_model, batch_size=256, verbose=0, return_dict=True)
    test = {"loss": float(scores["loss"]), "accuracy": float(scores["accuracy"])}
    summary = fmetrics.summarize_history(rows)
    _save_model(model, trial.run)
    trial.run.write_metrics({"summary": summary, "test": test})
    write_curves(trial.run)
    trial.run.update(status="completed", ended=now(), metrics={"summary": summary, "test": test})
    (trial.run.path / CHECKPOINT).unlink(missing_ok=True)
    return TrainResult(trial.run, summary, test)


def _save_model(model: Any, run: Run) -> None:
    tmp = run.path / ".model.tmp.keras"
    model.save(tmp)
    os.replace(tmp, run.model_path)


def _versions() -> dict[str, str]:
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


@dataclass
class TrainResult:
    run: Run
    summary: dict[str, Any]
    test: dict[str, float]


def train(config: Config, runs_dir: Path, progress: Progress | None = None) -> TrainResult:
    """Train `config` into a new run directory and return its summary and test metrics."""
    (result,) = train_group([config], runs_dir, progress)
    if isinstance(result, BaseException):
        raise result
    return result


def train_group(
    configs: list[Config], runs_dir: Path, progress: Progress | None = None, capture: bool = False
) -> list[TrainResult | TrialError]:
    """Train configs that differ only in `epochs` with one training to the largest of them.

    Each config still gets its own run directory, identical to a separate `train` with the same seed:
    its history stops at its own epochs and its model and test metrics are taken at that epoch.
    Returns, per config, its result or the TrialError that ended it (diverged; with `capture`, also any
    exception during training, which otherwise propagates after the runs are marked failed).
    """
    longest = max(configs, key=lambda c: c.epochs)
    if len({c.group_key() for c in configs}) != 1:
        raise ValueError("train_group needs configs that differ only in epochs")
    check_trainable(longest)
    split = prepare_data(longest)
    model, fused = _build(longest, split)
    versions = _versions()
    extra = {
        "backend": versions["backend"],
        "device": _device(),
        "seed": longest.seed,
        "loop": "fused" if fused else "keras.fit",
        "versions": versions,
    }
    check_writable(runs_dir)
    trials = [
        _Trial(c, create_run(runs_dir, c.name, c.hash(), c.to_yaml(), {**extra, "config": c.resolved()}))
        for c in configs
    ]
    if len(trials) > 1:
        for trial in trials:
            trial.run.update(shared_training=[t.run.id for t in trials if t is not trial])
    return _fit(longest, split, model, fused, trials, progress or _Quiet(), capture)


def resume(run: Run, progress: Progress | None = None) -> TrainResult:
    """Continue an interrupted or failed run from its last finished epoch.

    With the fused loop (the default on JAX) the result is identical to a run that was never
    interrupted: the weights, optimizer state and random state come back from the epoch's checkpoint and
    each epoch's shuffle depends only on the seed and the epoch number.
    """
    if run.status in ("completed", "running"):
        what = "completed" if run.status == "completed" else "still running (its process is alive)"
        raise RunError(f"run {run.id} is {what}; only interrupted or failed runs can be resumed")
    config = validate(run.config(), ConfigSource(str(run.path / "config.yaml"), {}))
    if run.info.get("shared_training"):
        raise RunError(f"run {run.id} was trained in a sweep with others; rerun the sweep to finish it")
    check_trainable(config)
    split = prepare_data(config)
    model, fused = _build(config, split)
    done = int(run.info.get("checkpoint_epoch") or 0)
    if done:
        load_checkpoint(run, model)
    history = run.history()[:done]
    run.update(
        status="running", pid=os.getpid(), ended=None, error=None, epochs_done=done,
        resumed=[*run.info.get("resumed", []), {"at": now(), "from_epoch": done}],
    )  # fmt: skip
    run.write_history(history)
    (result,) = _fit(config, split, model, fused, [_Trial(config, run)], progress or _Quiet(), False, history)
    if isinstance(result, BaseException):
        raise result
    return result


def _build(config: Config, split: Split) -> tuple[Any, bool]:
    """The compiled model, built with its optimizer state, and whether the fused loop trains it."""
    use_backend(config.backend)
    import keras

    keras.utils.set_random_seed(config.seed)
    fused = config.fused_loop and keras.backend.backend() == "jax"
    # torch's Keras trainer takes one step per call only
    spe = 1 if fused or keras.backend.backend() == "torch" else steps_per_execution(config, len(split.x_train))
    model = compile_model(config, steps_per_execution=spe)
    model.optimizer.build(model.trainable_variables)
    return model, fused


def _fit(
    longest: Config,
    split: Split,
    model: Any,
    fused: bool,
    trials: list[_Trial],
    progress: Progress,
    capture: bool,
    history: list[dict[str, float]] | None = None,
) -> list[TrainResult | TrialError]:
    recorder = _recorder(trials, split, progress, history or [])
    callbacks = [recorder, *_tensorboard(longest, trials)]
    initial_epoch = len(history or [])
    progress.start(trials[-1].run.id, longest.epochs, math.ceil(len(split.x_train) / longest.batch_size))
    try:
        validation = (split.x_val, split.y_val) if split.x_val is not None and split.y_val is not None else None
        if fused:
            from fashionlab.fused import FusedLoop

            loop = FusedLoop(model, longest.batch_size)
            loop.fit(split.x_train, split.y_train, validation, longest.epochs, longest.seed, callbacks, initial_epoch)
        else:
            model.fit(
                split.x_train,
                split.y_train,
                validation_data=validation,
                epochs=longest.epochs,
                initial_epoch=initial_epoch,
                batch_size=longest.batch_size,
                verbose=0,
                callbacks=callbacks,
            )
    except KeyboardInterrupt:
        for trial in trials:
            if trial.open:
                trial.run.update(status="interrupted", ended=now())
        raise
    except Exception as exc:
        error = f"{exc.__class__.__name__}: {exc}".splitlines()[0]
        failed = [t for t in trials if t.open]
        for trial in failed:
            # the disk that failed the run may refuse this too; its dead pid then marks it interrupted
            with contextlib.suppress(OSError):
                trial.run.update(status="failed", ended=now(), error=error)
        if not capture:
            if isinstance(exc, OSError):
                raise StorageError(f"run {trials[-1].run.id} failed: cannot write to its directory ({exc})") from exc
            raise
        done: list[TrainResult | TrialError] = []
        for trial in trials:
            if trial.result is not None:
                done.append(trial.result)
            else:
                done.append(TrialError(f"run {trial.run.id} failed: {error}", trial.run.id, "failed"))
        return done
    results: list[TrainResult | TrialError] = []
    for trial in trials:
        if trial.result is not None:
            results.append(trial.result)
            continue
        partial = {"summary": fmetrics.summarize_history(recorder.rows[: trial.config.epochs])}
        if recorder.pruned:
            trial.run.update(
                status="pruned", ended=now(), error=f"pruned after epoch {len(recorder.rows)}", metrics=partial
            )
            results.append(TrialError(f"run {trial.run.id} was pruned", trial.run.id, "pruned"))
            continue
        reason = recorder.diverged or "training stopped early"
        trial.run.update(status="diverged", ended=now(), error=reason, metrics=partial)
        message = (
            f"run {trial.run.id} diverged: {reason}; lower the learning rate "
            "(e.g. lr=0.001) or use an adaptive optimizer such as adam"
        )
        results.append(Diverged(message, trial.run.id, "diverged"))
    return results


def _tensorboard(config: Config, trials: list[_Trial]) -> list[Any]:
    """Keras's TensorBoard callback writing into the (longest) run's tensorboard/ folder, when asked."""
    if not config.tensorboard:
        return []
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:
        raise FashionlabError("tensorboard: true needs TensorFlow for its log writer: pip install tensorflow-cpu")
    import keras

    return [keras.callbacks.TensorBoard(log_dir=str(trials[-1].run.path / "tensorboard"), write_graph=False)]


# ---------------------------------------------------------------- checkpoints


def _state_variables(model: Any) -> list[Any]:
    """Everything training changes: weights, non-trainable state (incl. RNG seeds), optimizer slots."""
    return [*model.trainable_variables, *model.non_trainable_variables, *model.optimizer.variables]


def save_checkpoint(run: Run, model: Any, epoch: int) -> None:
    """The full training state after `epoch`, written atomically (a few ms for the tutorial model)."""
    import io

    buf = io.BytesIO()
    np.savez(buf, *[np.asarray(v.value) for v in _state_variables(model)])
    write_atomic(run.path / CHECKPOINT, buf.getvalue())
    run.update(checkpoint_epoch=epoch)


def load_checkpoint(run: Run, model: Any) -> None:
    variables = _state_variables(model)
    try:
        with np.load(run.path / CHECKPOINT) as data:
            arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
    except (OSError, ValueError, KeyError) as exc:
        raise RunError(f"run {run.id}: {CHECKPOINT} is unreadable ({exc}); start the run again") from None
    if len(arrays) != len(variables) or any(a.shape != tuple(v.shape) for a, v in zip(arrays, variables, strict=False)):
        raise RunError(f"run {run.id}: {CHECKPOINT} does not match its config.yaml; start the run again")
    for variable, array in zip(variables, arrays, strict=True):
        variable.assign(array)


def check_writable(runs_dir: Path) -> None:
    """Fail before training, not after, when the runs directory cannot be written."""
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        probe = runs_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"x" * 4096)
        probe.unlink()
    except OSError as exc:
        raise StorageError(
            f"cannot write to the runs directory {runs_dir} ({exc.strerror or exc}); free space, fix its "
            "permissions or choose another with --runs-dir"
        ) from None


def write_curves(run: Run) -> None:
    from fashionlab import plots

    write_atomic(run.path / "curves.png", plots.curves_png([run]))


# ---------------------------------------------------------------- using a trained run


def load_trained(run: Run, backend: str | None = None) -> tuple[Config, Any]:
    """The run's config and Keras model, on the backend it was trained with (or `backend`)."""
    config = validate(run.config(), ConfigSource(str(run.path / "config.yaml"), {}))
    use_backend(backend or str(run.info.get("backend", config.backend)))
    import keras

    try:
        model = keras.saving.load_model(run.model_path)
    except Exception as exc:  # Keras raises many kinds for a file that is not its model
        raise RunError(f"run {run.id}: model.keras cannot be loaded ({exc.__class__.__name__}); retrain it") from None
    if tuple(model.input_shape[1:]) != tuple(config.input_shape) or model.output_shape[-1] != 10:
        raise RunError(
            f"run {run.id}: model.keras takes {model.input_shape[1:]} and gives {model.output_shape[1:]}, "
            f"which does not match its config.yaml; it was not made by this run"
        )
    return config, model


def probabilities(model: Any, config: Config, images: np.ndarray) -> np.ndarray:
    """Class probabilities for uint8 images, applying softmax when the model outputs logits."""
    out = np.asarray(model.predict(to_model_input(images, config), batch_size=512, verbose=0))
    return fmetrics.softmax(out) if outputs_logits(config) else out


def evaluate_run(run: Run) -> dict[str, Any]:
    """Test loss/accuracy and per-class metrics of a trained run, on its config's test set."""
    config, model = load_trained(run)
    x_test, y_test = fdata.load_test()
    if config.test_samples:
        x_test, y_test = x_test[: config.test_samples], y_test[: config.test_samples]
    scores = model.evaluate(
        to_model_input(x_test, config), encode_labels(y_test, config), batch_size=512, verbose=0, return_dict=True
    )
    probs = probabilities(model, config, x_test)
    report = fmetrics.classification_report(y_test, probs.argmax(axis=1))
    report.update(run=run.id, test_loss=float(scores["loss"]), test_accuracy=float(scores["accuracy"]))
    report["class_names"] = fdata.CLASS_NAMES
    report["samples"] = len(y_test)
    return report


def predict_test_images(run: Run, count: int) -> list[dict[str, Any]]:
    """Predictions for the first `count` test images in one batch (what predict --index gives for each)."""
    config, model = load_trained(run)
    x_test, y_test = fdata.load_test()
    probs = probabilities(model, config, x_test[:count])
    out = []
    for index, (p, true) in enumerate(zip(probs, y_test[:count], strict=True)):
        predicted = int(np.argmax(p))
        out.append(
            {
                "run": run.id, "index": index, "image_file": None, "inverted": False,
                "probabilities": {n: float(v) for n, v in zip(fdata.CLASS_NAMES, p, strict=True)},
                "predicted": predicted, "predicted_name": fdata.CLASS_NAMES[predicted],
                "true": int(true), "true_name": fdata.CLASS_NAMES[int(true)], "correct": predicted == int(true),
                "pixels": x_test[index].tolist(),
            }
        )  # fmt: skip
    return out


def predict_run(run: Run, index: int | None = None, image: str | None = None) -> dict[str, Any]:
    """One prediction: every class's probability, the predicted class and, for a test image, the truth."""
    if (index is None) == (image is None):
        raise InputError("give either --index N (a test image) or --image FILE")
    true: int | None = None
    inverted = False
    if index is not None:
        x_test, y_test = fdata.load_test()
        if not -len(x_test) <= index < len(x_test):
            raise InputError(
                f"--index {index} is out of range; the test set has {len(x_test)} images (0-{len(x_test) - 1})"
            )
        pixels, true = x_test[index], int(y_test[index])
    else:
        assert image is not None
        pixels, inverted = fdata.load_image(image)
    config, model = load_trained(run)
    probs = probabilities(model, config, pixels[None])[0]
    predicted = int(np.argmax(probs))
    return {
        "run": run.id,
        "index": index,
        "image_file": image,
        "inverted": inverted,
        "probabilities": {name: float(p) for name, p in zip(fdata.CLASS_NAMES, probs, strict=True)},
        "predicted": predicted,
        "predicted_name": fdata.CLASS_NAMES[predicted],
        "true": true,
        "true_name": fdata.CLASS_NAMES[true] if true is not None else None,
        "correct": (predicted == true) if true is not None else None,
        "pixels": pixels.tolist(),
    }


EXPORT_FORMATS = {  # fashionlab name: (Keras export format, file suffix, package a user may need)
    "savedmodel": ("tf_saved_model", "", "tensorflow-cpu"),
    "onnx": ("onnx", ".onnx", "onnx tf2onnx"),
    "tflite": ("litert", ".tflite", "tensorflow-cpu (or ai-edge-litert)"),
}


def export_run(run: Run, fmt: str, out: Path | None = None) -> Path:
    """Export the run's model with Keras's model.export; a missing package is named in the error."""
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"--format {fmt} is not known; use {', '.join(EXPORT_FORMATS)}")
    keras_format, suffix, package = EXPORT_FORMATS[fmt]
    target = out or run.path / f"export-{fmt}{suffix}"
    if target.exists():
        raise InputError(f"{target} already exists; remove it or give another --out")
    import importlib.util

    # The exporters are TensorFlow's: load the (backend-independent) model.keras on TensorFlow when it is here.
    backend = "tensorflow" if importlib.util.find_spec("tensorflow") else None
    config, model = load_trained(run, backend)
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
