"""Exports of a trained run that stand alone (raw uint8 images in, probabilities out, class names
inside): SavedModel, ONNX and TFLite through Keras's model.export, with each format's own metadata."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from fashionlab.config import Config
from fashionlab.engine.inference import load_trained
from fashionlab.errors import FashionlabError, InputError, StorageError
from fashionlab.network import output_kind
from fashionlab.store import Run, RunStore, output
from fashionlab.store.output import shown_path

EXPORT_FORMATS = {  # fashionlab name: (Keras export format, file suffix, the modules its exporter imports)
    "savedmodel": ("tf_saved_model", "", ("tensorflow",)),
    "onnx": ("onnx", ".onnx", ("tensorflow", "tf2onnx", "onnx")),
    "tflite": ("litert", ".tflite", ("tensorflow",)),
}
EXTRA = "pip install 'fashionlab[export]'"  # TensorFlow, onnx, tf2onnx, onnxruntime


def export_run(run: Run, fmt: str, out: Path | None = None, epoch: str = "last") -> Path:
    """Export the run's model with Keras's model.export, standing alone: it takes raw uint8 images as the
    data set has them and returns probabilities (where the model gives logits or probabilities), and
    it carries its class names and config hash (ONNX and TFLite metadata; fashionlab.json in a
    SavedModel). A missing package is named in the error."""
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"`format` {fmt} is not known; use {', '.join(EXPORT_FORMATS)}")
    missing = [m for m in EXPORT_FORMATS[fmt][2] if importlib.util.find_spec(m) is None]
    if missing:  # the exporters are TensorFlow's, whatever the run's backend (Keras on JAX would ask for jax2onnx)
        raise FashionlabError(f"exporting to {fmt} needs {', '.join(missing)}, not installed; {EXTRA}")
    target = out or run.export_path(fmt, EXPORT_FORMATS[fmt][1])
    _check_free(target)
    with _export_lock(run, out):
        _check_free(target)
        # The exporters are TensorFlow's: load the (backend-independent) model on TensorFlow when it is here.
        backend = "tensorflow" if importlib.util.find_spec("tensorflow") else None
        config, model = load_trained(run, backend, epoch)
        model(np.zeros((1, *config.input_shape), dtype=np.float32))  # exporters need a model that has been called
        target.parent.mkdir(parents=True, exist_ok=True)
        output.remove_stale(target.parent, target.name)  # what an export killed with kill -9 left
        making = output.temp_folder(target)  # exported under a hidden name, renamed whole when complete
        try:
            inside = making / (target.name if EXPORT_FORMATS[fmt][1] else "model")
            _export(_standalone(model, config), inside, fmt, export_metadata(run, config), target)
            _check_free(target)
            os.rename(inside, target)
        finally:
            shutil.rmtree(making, ignore_errors=True)
    return target


def _export_lock(run: Run, out: Path | None) -> contextlib.AbstractContextManager[None]:
    """Exports of one run, one at a time: a lock on the run's folder itself (no lock file, so a read-only
    runs folder still exports to a given `out`)."""
    if out is None and not os.access(run.path, os.W_OK):
        raise StorageError(
            f"cannot export into run {run.id}: its folder {shown_path(run.path)} cannot be written; give `out` a "
            "place that can"
        )
    return RunStore.hold_folder(run.path)


def _check_free(target: Path) -> None:
    """An export never replaces anything: not a file, a folder or a link (dangling or not) at `target`."""
    if os.path.lexists(target):
        what = "a symbolic link" if target.is_symlink() else "already there"
        raise InputError(f"{shown_path(target)} is {what}; remove it or give another `out`")


def standalone_for_serving(run: Run, target: Path) -> tuple[dict[str, Any], np.ndarray]:
    """The run's standalone model (as exported: uint8 images in, probabilities out) saved as a .keras
    file at `target`, with its metadata and an input example (its first three test images, uint8)."""
    from fashionlab.engine.inputs import resize, test_images_for

    config, model = load_trained(run, None, "last")
    model(np.zeros((1, *config.input_shape), dtype=np.float32))
    _standalone(model, config).save(str(target))
    images, _ = test_images_for(config)
    metadata = {**export_metadata(run, config), "keras_backend": config.backend}
    return metadata, np.ascontiguousarray(resize(images[:3], config.image_hw), dtype=np.uint8)


def _export(standalone: Any, target: Path, fmt: str, metadata: dict[str, str], shown: Path) -> None:
    """model.export into `target`, then the metadata; the failures a user can fix as one line."""
    keras_format = EXPORT_FORMATS[fmt][0]
    try:
        with warnings.catch_warnings():  # Keras's tf2onnx shim asks numpy for np.object (a FutureWarning)
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"keras\.src\.export")
            standalone.export(str(target), format=keras_format, verbose=False)
        _write_metadata(target, fmt, metadata)
    except (ImportError, ModuleNotFoundError) as exc:
        raise FashionlabError(f"exporting to {fmt} needs a package that is not installed ({exc}); {EXTRA}") from None
    except OSError as exc:  # a full disk or a folder that cannot be written
        raise StorageError(
            f"exporting run {metadata['fashionlab_run']} to {fmt} failed: cannot write {shown_path(shown)} "
            f"({exc.strerror or exc}); free space or give `out` another place"
        ) from None
    except Exception as exc:  # Keras and the converters raise many kinds
        if "File too large" in str(exc) or "No space left" in str(exc):  # TensorFlow's own words for it
            raise StorageError(
                f"exporting run {metadata['fashionlab_run']} to {fmt} failed: cannot write {shown_path(shown)} "
                "(disk full); free space or give `out` another place"
            ) from None
        raise FashionlabError(
            f"exporting run {metadata['fashionlab_run']} to {fmt} failed: {exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0]}"
        ) from None


def _standalone(model: Any, config: Config) -> Any:
    """The model behind the data set's own input (uint8 pixels, 0-255) and, for logits, a softmax."""
    import keras

    raw = keras.Input(shape=config.image_hw, dtype="uint8", name="image")
    pixels = keras.ops.reshape(keras.ops.divide(keras.ops.cast(raw, "float32"), 255.0), (-1, *config.input_shape))
    outputs = pixels
    for layer in model.layers:  # the model's own layers, not the model (its name, from the config's, may
        outputs = layer(outputs)  # hold characters TensorFlow's exporters refuse as a scope name)
    if output_kind(config) == "logits":
        outputs = keras.ops.softmax(outputs)
    standalone = keras.Model(raw, outputs, name="fashionlab")
    standalone(np.zeros((1, *config.image_hw), dtype=np.uint8))  # exporters need a model that has been called
    return standalone


def export_metadata(run: Run, config: Config) -> dict[str, Any]:
    """What an exported model says about itself (class_names a list, in the model's output order)."""
    kind = output_kind(config)
    return {
        "class_names": list(config.class_names),
        "fashionlab_config_hash": run.info.config_hash or config.hash(),
        "fashionlab_run": run.id,
        "input": f"uint8 images shaped (n, {config.image_hw[0]}, {config.image_hw[1]}), 0-255, {config.dataset.looks}",
        "output": "raw scores per class" if kind == "scores" else "probabilities per class, in class_names order",
        "output_name": "scores" if kind == "scores" else "probabilities",
        "data": config.dataset.title,
    }


def _write_metadata(target: Path, fmt: str, metadata: dict[str, Any]) -> None:
    if fmt == "onnx":
        _onnx_metadata(target, metadata)
    elif fmt == "tflite":
        _tflite_metadata(target, metadata)
    else:
        (target / "fashionlab.json").write_text(json.dumps(metadata, indent=2) + "\n")
        (target / LABELS).write_text("".join(f"{name}\n" for name in metadata["class_names"]))


LABELS = "labels.txt"  # one class name per line, in output order: TFLite's and Android's label file


def _onnx_metadata(target: Path, metadata: dict[str, Any]) -> None:
    """ONNX's metadata_props (strings: class_names is its JSON list); the output named for what it holds."""
    import onnx

    model = onnx.load(str(target))
    graph, name = model.graph, metadata["output_name"]
    old = graph.output[0].name
    for node in graph.node:
        node.output[:] = [name if o == old else o for o in node.output]
        node.input[:] = [name if i == old else i for i in node.input]
    for info in graph.value_info:
        if info.name == old:
            info.name = name
    graph.output[0].name = name
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value if isinstance(value, str) else json.dumps(value))
    onnx.save(model, str(target))


def _tflite_metadata(target: Path, metadata: dict[str, Any]) -> None:
    """TFLite's standard metadata (TFLITE_METADATA: the input image, the output tensor with labels.txt
    as its TENSOR_AXIS_LABELS file, packed into the model file as Android's tooling reads it) and
    fashionlab's own entry (the same JSON as the other formats)."""
    import zipfile

    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(target))
    entries = {"fashionlab": json.dumps(metadata).encode(), "TFLITE_METADATA": _tflite_model_metadata(metadata)}
    for name, blob in entries.items():
        buffer = schema.BufferT()
        buffer.data = list(blob)
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name, entry.buffer = name, len(model.buffers) - 1
        model.metadata = [*(model.metadata or []), entry]
    flatbuffer_utils.write_model(model, str(target))
    with zipfile.ZipFile(target, "a") as packed:  # associated files ride at the end of the model, as a zip
        packed.writestr(LABELS, "".join(f"{name}\n" for name in metadata["class_names"]))


def _tflite_model_metadata(metadata: dict[str, Any]) -> bytes:
    """A ModelMetadata flatbuffer (tensorflow/lite/support metadata_schema.fbs, file identifier M001)."""
    import flatbuffers

    b = flatbuffers.Builder(1024)

    def table(fields: list[tuple[int, str, Any]]) -> int:
        """fields: (slot, kind, value) with kind 'offset' (a string or vector made before) or 'byte'."""
        b.StartObject(max(slot for slot, _, _ in fields) + 1)
        for slot, kind, value in fields:
            if kind == "byte":
                b.PrependInt8Slot(slot, value, 0)
            else:
                b.PrependUOffsetTRelativeSlot(slot, value, 0)
        return int(b.EndObject())

    def vector(items: list[int]) -> int:
        b.StartVector(4, len(items), 4)
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return int(b.EndVector())

    labels = table([(0, "offset", b.CreateString(LABELS)),
                    (1, "offset", b.CreateString("the class names, in the order of the output's scores")),
                    (2, "byte", 2)])  # fmt: skip  # AssociatedFileType.TENSOR_AXIS_LABELS
    output = table([(0, "offset", b.CreateString(metadata["output_name"])),
                    (1, "offset", b.CreateString(metadata["output"])),
                    (6, "offset", vector([labels]))])  # fmt: skip
    image = table([(0, "offset", b.CreateString("image")), (1, "offset", b.CreateString(metadata["input"]))])
    subgraph = table([(2, "offset", vector([image])), (3, "offset", vector([output]))])
    model = table([
        (0, "offset", b.CreateString(f"fashionlab {metadata['fashionlab_run']}")),
        (1, "offset", b.CreateString(f"A classifier of {metadata['data']} trained with fashionlab")),
        (3, "offset", vector([subgraph])),
        (7, "offset", b.CreateString("1.0.0")),
    ])  # fmt: skip
    b.Finish(model, file_identifier=b"M001")
    return bytes(b.Output())
