"""Fitting the ecosystem: JSON Schema, shell completion, export, TensorBoard logs, the lab report."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from fashionlab.store import RunStore
from tests.conftest import CONFIGS, Cli

TFLITE_SUPPORT = Path(sys.prefix) / "tflite-support"  # the Makefile installs it there, outside site-packages

TUTORIAL = {"layers": ["flatten", {"dense": {"units": 128, "activation": "relu"}}, {"dense": {"units": 10}}]}
ACCEPTED = {  # a config with each optional block, as the validator takes it
    "optimizer name": {"optimizer": "sgd"},
    "optimizer with its arguments": {"optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9, "nesterov": True}},
    "loss by alias, with arguments": {"loss": {"name": "sparse_categorical_crossentropy", "from_logits": True}},
    "loss with label smoothing": {"loss": {"name": "categorical_crossentropy", "label_smoothing": 0.1}},
    "early stopping": {"early_stopping": {"patience": 3, "monitor": "val_accuracy", "restore_best": False}},
    "classes by name and number": {"classes": ["Shirt", "T-shirt/top", 0 + 2]},
    "another data set": {"data": "digits"},
    "image size": {"image_size": [14, 14], "input_shape": [14, 14]},
    "bare layers": {"layers": ["flatten", "dropout", "batchnorm", {"dropout": {"rate": 0.5}}, {"dense": {"units": 10}}]},
    "conv layers": {"input_shape": [28, 28, 1], "layers": [{"conv2d": {"filters": 8, "kernel_size": 28}}, "flatten",
                                                           {"dense": {"units": 10}}]},
    "everything else": {"name": "x", "seed": 7, "backend": "torch", "epochs": 3, "batch_size": 64, "tensorboard": True,
                        "validation_split": 0, "train_samples": 100, "test_samples": 10, "repeats": 2,
                        "metrics": ["accuracy"], "fused_loop": False},
}  # fmt: skip
REFUSED = {  # each value the validator refuses that a schema can express
    "learning rate -1": {"optimizer": {"name": "adam", "learning_rate": -1}},
    "learning rate fast": {"optimizer": {"name": "adam", "learning_rate": "fast"}},
    "an argument of another optimizer": {"optimizer": {"name": "adam", "momentum": 0.9}},
    "momentum 1": {"optimizer": {"name": "sgd", "momentum": 1}},
    "unknown optimizer": {"optimizer": "adamm"},
    "unknown loss": {"loss": "crossentropy"},
    "unknown data set": {"data": "mnist"},
    "label smoothing 2": {"loss": {"name": "categorical_crossentropy", "label_smoothing": 2}},
    "loss axis 0": {"loss": {"name": "categorical_crossentropy", "axis": 0}},
    "misspelt class": {"classes": ["Shirt", "Tshirt"]},
    "class 10": {"classes": [0, 10]},
    "one class": {"classes": ["Shirt"]},
    "misspelt activation": {"layers": ["flatten", {"dense": {"units": 10, "activation": "rellu"}}]},
    "unknown layer": {"layers": ["flaten", {"dense": {"units": 10}}]},
    "unknown layer key": {"layers": ["flatten", {"dense": {"unit": 10}}]},
    "dense without units": {"layers": ["flatten", "dense"]},
    "dropout rate 1": {"layers": ["flatten", {"dropout": {"rate": 1}}, {"dense": {"units": 10}}]},
    "no layers": {"layers": []},
    "early stopping patience 0": {"early_stopping": {"patience": 0}},
    "early stopping on f1": {"early_stopping": {"monitor": "f1"}},
    "unknown key": {"epoch": 3},
    "epochs 0": {"epochs": 0},
    "epochs true": {"epochs": True},
    "validation split 1": {"validation_split": 1},
    "unknown backend": {"backend": "numpy"},
    "metric f1": {"metrics": ["f1"]},
    "image size of one number": {"image_size": [14]},
    "name with a space": {"name": "my run"},
}


def test_schema_is_generated_and_as_strict_as_the_validator(cli: Cli) -> None:
    import jsonschema

    from fashionlab.config import validate
    from fashionlab.config.yaml_lines import Source
    from fashionlab.errors import ConfigError

    result = cli("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert json.loads((CONFIGS / "fashionlab.schema.json").read_text()) == schema, (
        "run: fashionlab schema > configs/fashionlab.schema.json"
    )
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)  # resolves every $ref: a dangling one raises here
    for path in sorted(CONFIGS.glob("*.yaml")):
        assert path.read_text().splitlines()[0] == "# yaml-language-server: $schema=fashionlab.schema.json"
        assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == [], path.name
    for what, change in ACCEPTED.items():
        config = {**TUTORIAL, **change}
        validate(config, Source(None, {}))
        assert list(validator.iter_errors(config)) == [], what
    for what, change in REFUSED.items():
        config = {**TUTORIAL, **change}
        with pytest.raises(ConfigError):
            validate(config, Source(None, {}))
        assert list(validator.iter_errors(config)), f"the schema accepts {what}, which the validator refuses"


def test_the_shipped_configs_point_at_a_schema_inside_the_package() -> None:
    import fashionlab

    folder = Path(fashionlab.__file__).parent / "configs"
    for path in sorted(folder.glob("*.yaml")):
        target = path.read_text().splitlines()[0].split("$schema=")[1]
        assert (folder / target).is_file(), path


def test_a_kernel_larger_than_its_image_is_refused_by_the_validator(cli: Cli) -> None:
    result = cli("show", "--config", "cnn", "layers.0.conv2d.kernel_size=40")
    assert result.exit_code == 2
    assert result.stderr.strip().endswith(
        "layers.0.conv2d.kernel_size: a 40x40 kernel does not fit its 28x28 input (no output is left); use a "
        "kernel_size of at most 28, or padding: same"
    )


def _bash_completes(line: str, runs_dir: Path, cwd: Path) -> list[str]:
    """What bash puts on the line for `line` + TAB, run through the completion script fashionlab installs:
    bash splits the words at COMP_WORDBREAKS (`=` and `:` among them) as readline does, and each reply
    replaces the last piece."""
    exe = Path(sys.executable).parent / "fashionlab"
    env = {**os.environ, "FASHIONLAB_RUNS": str(runs_dir), "PATH": f"{exe.parent}:{os.environ['PATH']}"}
    script = subprocess.run([str(exe)], env={**env, "_FASHIONLAB_COMPLETE": "source_bash"}, capture_output=True,
                            text=True, timeout=60).stdout  # fmt: skip
    assert "complete -o default -F" in script
    split = (
        'line=$1; words=(); cur=""; for ((i=0; i<${#line}; i++)); do c=${line:i:1};'
        ' if [[ $c == " " ]]; then [[ -n $cur ]] && words+=("$cur"); cur="";'
        ' elif [[ $COMP_WORDBREAKS == *"$c"* ]]; then [[ -n $cur ]] && words+=("$cur"); words+=("$c"); cur="";'
        ' else cur+=$c; fi; done; words+=("$cur"); if [[ ${#cur} == 0 && ${words[-2]} == "=" ]]; then unset "words[-1]"; fi;'
        ' COMP_WORDS=("${words[@]}"); COMP_CWORD=$(( ${#words[@]} - 1 )); COMP_LINE=$line; COMP_POINT=${#line};'
        ' _fashionlab_completion fashionlab; for r in "${COMPREPLY[@]}"; do'
        ' prefix=${line%"${words[-1]}"}; echo "$prefix$r"; done'
    )
    done = subprocess.run(["bash", "--norc", "-c", f"{script}\n{split}", "bash", line], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_bash_completes_words_holding_equals_and_shipped_config_names(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    store = RunStore(runs)
    adam = store.create("tutorial-optimizer=adam", "0123abcd", "name: x\n", {}).id
    store.create("tutorial-optimizer=sgd", "4567ef01", "name: x\n", {})
    # bash hands `tutorial-optimizer=ad` over as three words; the line comes back with the whole id
    assert _bash_completes(f"fashionlab evaluate {adam[:16]}tutorial-optimizer=ad", runs, tmp_path) == [
        f"fashionlab evaluate {adam}"
    ]
    assert _bash_completes(f"fashionlab predict --run={adam[:36]}", runs, tmp_path) == [
        f"fashionlab predict --run={adam}"
    ]
    assert _bash_completes("fashionlab compare --sort=test_a", runs, tmp_path) == [
        "fashionlab compare --sort=test_accuracy"
    ]
    (tmp_path / "mine.yaml").write_text("layers: [flatten]\n")
    (tmp_path / "notes.txt").write_text("")
    assert _bash_completes("fashionlab train --config ad", runs, tmp_path) == ["fashionlab train --config adam"]
    offered = _bash_completes("fashionlab sweep --config ", runs, tmp_path)
    assert {
        "fashionlab sweep --config tutorial",
        "fashionlab sweep --config cnn",
        "fashionlab sweep --config mine.yaml",
    } <= set(offered)
    assert "fashionlab sweep --config notes.txt" not in offered


def test_bash_offers_the_languages_after_the_command(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    assert _bash_completes("fashionlab runs --lang ", runs, tmp_path) == ["fashionlab runs --lang en",
                                                                         "fashionlab runs --lang es"]  # fmt: skip
    assert _bash_completes("fashionlab --lang e", runs, tmp_path) == ["fashionlab --lang en", "fashionlab --lang es"]


def _zsh_completes(line: str, runs_dir: Path, cwd: Path) -> str:
    """The line a real interactive zsh shows after `line` + TAB, with the completion fashionlab installs."""
    import pty
    import select
    import time

    exe = Path(sys.executable).parent / "fashionlab"
    (cwd / ".zshrc").write_text(
        f"autoload -Uz compinit && compinit -u\nPATH={exe.parent}:$PATH\n"
        'eval "$(_FASHIONLAB_COMPLETE=source_zsh fashionlab)"\nPS1="$ "\n'
    )
    env = {**os.environ, "ZDOTDIR": str(cwd), "TERM": "dumb", "FASHIONLAB_RUNS": str(runs_dir)}
    pid, fd = pty.fork()
    if pid == 0:  # the child: an interactive zsh in the test's folder
        os.chdir(cwd)
        os.execvpe("zsh", ["zsh", "-i"], env)

    def read_until(done: Callable[[str], bool], limit: float = 60) -> str:
        seen, end = "", time.time() + limit
        while time.time() < end and not done(seen):
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    seen += os.read(fd, 4096).decode(errors="replace")
                except OSError:
                    break
        return seen

    try:
        read_until(lambda seen: "$ " in seen)
        os.write(fd, line.encode() + b"\t")
        shown = read_until(lambda seen: seen.rstrip().endswith(("4567ef01", "--lang e")), limit=30)
    finally:
        os.write(fd, b"\x15exit\n")
        read_until(lambda seen: False, limit=1)
        os.close(fd)
        os.waitpid(pid, 0)
    text = ""
    for char in shown.rsplit("\r", 1)[-1]:  # the last line as the terminal shows it: a backspace moves back
        text = text[:-1] if char == "\x08" else text + char
    return text.rstrip()


@pytest.mark.skipif(shutil.which("zsh") is None and not os.environ.get("CI"),
                    reason="zsh is not installed (make browsers installs it; required in CI)")  # fmt: skip
def test_zsh_completes_a_run_id_from_a_middle_part_and_the_languages(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    store = RunStore(runs)
    store.create("tutorial-optimizer=adam", "0123abcd", "name: x\n", {})
    sgd = store.create("tutorial-optimizer=sgd", "4567ef01", "name: x\n", {}).id
    assert _zsh_completes("fashionlab evaluate 4567", runs, tmp_path).endswith(f"fashionlab evaluate {sgd}")
    assert _zsh_completes("fashionlab runs --lang ", runs, tmp_path).endswith("fashionlab runs --lang e")


def test_the_cli_offers_the_metrics_search_takes() -> None:
    from typing import get_args

    from fashionlab.cli.experiments import SearchMetric
    from fashionlab.experiments.search import METRICS

    assert get_args(SearchMetric) == METRICS


@pytest.mark.parametrize("fmt", ["savedmodel", "onnx", "tflite"])
def test_export(trained: Cli, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / {"savedmodel": "saved", "onnx": "m.onnx", "tflite": "m.tflite"}[fmt]
    env = {**os.environ, "FASHIONLAB_RUNS": str(trained.runs_dir), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-m", "fashionlab", "export", "--format", fmt, "--out", str(target),
         *(["--json"] if fmt == "tflite" else [])],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    (run,) = RunStore(trained.runs_dir).runs()
    if fmt == "tflite":  # --json: what was written where, for a script
        assert json.loads(done.stdout) == {"run": run.id, "format": "tflite", "epoch": "last", "path": str(target)}
    else:
        assert done.stdout.strip() == str(target)
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    if fmt == "savedmodel":
        assert (target / "saved_model.pb").is_file()
        meta = json.loads((target / "fashionlab.json").read_text())
        assert (target / "labels.txt").read_text().splitlines() == names
    elif fmt == "onnx":
        meta = _runs_standalone_in_onnxruntime(trained, target)
        meta["class_names"] = json.loads(meta["class_names"])  # ONNX metadata holds strings: a JSON list
    else:
        meta = _tflite_as_android_reads_it(trained, target, names)
    assert meta["class_names"] == names
    assert meta["fashionlab_config_hash"] == run.info.config_hash and meta["fashionlab_run"] == run.id


def _tflite_as_android_reads_it(trained: Cli, target: Path, names: list[str]) -> dict[str, Any]:
    """TFLite's own metadata reader (tflite-support, as Android's Task Library and ML Model Binding read
    it): the output tensor's TENSOR_AXIS_LABELS file packed into the model; the model still runs."""
    import numpy as np
    from tensorflow.lite.tools import flatbuffer_utils

    if str(TFLITE_SUPPORT) not in sys.path:
        sys.path.append(str(TFLITE_SUPPORT))
    from tensorflow_lite_support.metadata.python import metadata as tflite_metadata

    from fashionlab.data import load_test

    assert target.read_bytes()[4:8] == b"TFL3"
    shown = tflite_metadata.MetadataDisplayer.with_model_file(str(target))
    assert shown.get_packed_associated_file_list() == ["labels.txt"]
    assert shown.get_associated_file_buffer("labels.txt").decode().splitlines() == names
    described = json.loads(shown.get_metadata_json())
    (output,) = described["subgraph_metadata"][0]["output_tensor_metadata"]
    assert output["name"] == "probabilities"
    assert output["associated_files"] == [
        {"name": "labels.txt", "description": "the class names, in the order of the output's scores",
         "type": "TENSOR_AXIS_LABELS"}
    ]  # fmt: skip
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(target))
    evaluated = json.loads(trained("evaluate", "--json").stdout)
    x, y = (a[: evaluated["samples"]] for a in load_test())
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    probs = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    assert float((probs.argmax(axis=1) == y).mean()) == pytest.approx(evaluated["test_accuracy"], abs=1e-6)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    model = flatbuffer_utils.read_model(str(target))
    (entry,) = [m for m in model.metadata if m.name == b"fashionlab"]
    return dict(json.loads(bytes(model.buffers[entry.buffer].data)))


def _runs_standalone_in_onnxruntime(trained: Cli, target: Path) -> dict[str, str]:
    """The exported model takes the raw uint8 test images and gives probabilities: evaluate's accuracy."""
    import numpy as np
    import onnx
    import onnxruntime

    from fashionlab.data import load_test

    model = onnx.load(str(target))
    onnx.checker.check_model(model)
    session = onnxruntime.InferenceSession(str(target))
    evaluated = json.loads(trained("evaluate", "--json").stdout)
    x, y = (a[: evaluated["samples"]] for a in load_test())
    (probs,) = session.run(None, {session.get_inputs()[0].name: x})
    assert session.get_inputs()[0].type == "tensor(uint8)" and session.get_inputs()[0].name == "image"
    assert [o.name for o in session.get_outputs()] == ["probabilities"]
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert float((probs.argmax(axis=1) == y).mean()) == pytest.approx(evaluated["test_accuracy"], abs=1e-6)
    return {p.key: p.value for p in model.metadata_props}


def test_export_of_a_sweep_trial_whose_name_holds_its_values(cli: Cli, runs_dir: Path, tmp_path: Path) -> None:
    swept = cli("sweep", "--jobs", "1", "lr=0.002,0.003", "epochs=1", "train_samples=300", "test_samples=100")
    assert swept.exit_code == 0, swept.output
    run = RunStore(runs_dir).runs()[0]
    assert "=" in run.id  # tutorial-lr=0.002: not a name TensorFlow takes as a scope
    env = {**os.environ, "FASHIONLAB_RUNS": str(runs_dir), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-m", "fashionlab", "export", run.id, "--format", "onnx", "--out", str(tmp_path / "m.onnx")],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]


def test_export_names_the_missing_package(trained: Cli, tmp_path: Path) -> None:
    fake = tmp_path / "site" / "onnx"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'onnx'\", name='onnx')\n")
    env = {
        **os.environ,
        "FASHIONLAB_RUNS": str(trained.runs_dir),
        "PYTHONPATH": str(tmp_path / "site"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    done = subprocess.run(
        [sys.executable, "-m", "fashionlab", "export", "--format", "onnx", "--out", str(tmp_path / "m.onnx")],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].endswith("pip install 'fashionlab[export]'")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize(("fmt", "gone"), [("onnx", "tf2onnx"), ("tflite", "tensorflow"), ("savedmodel", "tensorflow")])
def test_export_without_its_extra_names_the_extra(
    trained: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, gone: str
) -> None:
    """On a base install (no TensorFlow, no tf2onnx) the error names what is missing and the extra that
    brings it, before Keras is asked (Keras on JAX would ask for jax2onnx, which is not the fix)."""
    import importlib.util

    from fashionlab.engine import export

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == gone else real(name, *a))
    result = trained("export", "--format", fmt, "--out", str(tmp_path / "m"))
    assert result.exit_code == 1
    assert result.stderr == f"Error: exporting to {fmt} needs {gone}, not installed; {export.EXTRA}\n"
    assert export.EXTRA == "pip install 'fashionlab[export]'" and not (tmp_path / "m").exists()


def test_export_unknown_format(trained: Cli) -> None:
    result = trained("export", "--format", "pickle")
    assert (
        result.exit_code == 6
        and result.stderr == "Error: --format pickle is not known; use savedmodel, onnx or tflite\n"
    )


def test_tensorboard_logs_every_epoch(cli: Cli, runs_dir: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = cli("train", "--tensorboard", "epochs=3", "train_samples=600", "test_samples=100")
    assert result.exit_code == 0, result.output
    (run,) = RunStore(runs_dir).runs()
    for split in ("train", "validation"):
        events = EventAccumulator(str(run.path / "tensorboard" / split))
        events.Reload()
        assert "epoch_loss" in events.Tags()["tensors"]  # TF2 summaries are stored as tensors
        assert [e.step for e in events.Tensors("epoch_loss")] == [0, 1, 2]
    # the option is not part of the trial's identity: it changes no number
    assert run.info.config["tensorboard"] is True


def test_tensorboard_on_a_finished_sweep_writes_its_logs_from_history(cli: Cli, runs_dir: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    items = ["--jobs", "1", "lr=0.001,0.002", "epochs=2", "train_samples=300", "test_samples=100"]
    assert cli("sweep", *items).exit_code == 0
    again = cli("sweep", *items, "tensorboard=true")
    assert again.exit_code == 0, again.output
    said = " ".join(again.stderr.split())
    assert "2 already done" in said
    assert (
        f"Wrote TensorBoard logs from their history for 2 trials trained before without them (tensorboard --logdir {runs_dir})"
        in said
    )
    from datetime import datetime

    for run in RunStore(runs_dir).runs():
        events = EventAccumulator(str(run.path / "tensorboard" / "validation"))
        events.Reload()
        assert [e.step for e in events.Tensors("epoch_loss")] == [0, 1]
        assert [e.step for e in events.Tensors("test_accuracy")] == [1]
        history = run.history()  # each epoch at the time it ended, not when the log was written
        ended = datetime.fromisoformat(str(run.info.started)).timestamp() + history[0]["seconds"]
        assert [e.wall_time for e in events.Tensors("epoch_loss")] == pytest.approx(
            [ended, ended + history[1]["seconds"]], abs=1e-3
        )
        assert [e.tensor_proto.float_val[0] for e in events.Tensors("epoch_loss")] == pytest.approx(
            [row["val_loss"] for row in history], rel=1e-6
        )
    third = cli("sweep", *items, "tensorboard=true")
    assert "Wrote TensorBoard" not in third.stderr  # written once


@pytest.mark.parametrize(
    "uri, says",
    [
        ("file:///tmp/fashionlab-mlruns", "MLflow 3 refuses the file store file:///tmp/fashionlab-mlruns (kept in "
         "maintenance mode): set MLFLOW_ALLOW_FILE_STORE=true to log there anyway, or use a database such as "
         "sqlite:///mlflow.db (the default)"),
        ("http://127.0.0.1:9", "cannot log to MLflow at http://127.0.0.1:9: no MLflow tracking server answers there; "
         "check --mlflow-uri (or MLFLOW_TRACKING_URI)"),
        ("nosuch://somewhere", "cannot log to MLflow at nosuch://somewhere: "),
    ],
)  # fmt: skip
def test_a_bad_mlflow_uri_is_refused_before_training(cli: Cli, runs_dir: Path, uri: str, says: str) -> None:
    result = cli("train", "--mlflow", "--mlflow-uri", uri, "epochs=1", "train_samples=300", "test_samples=100")
    assert result.exit_code == 1
    assert len([x for x in result.stderr.strip().splitlines() if x.startswith("Error:")]) == 1
    assert says in " ".join(result.stderr.split()) and "Traceback" not in result.stderr
    assert not runs_dir.exists() or not RunStore(runs_dir).runs()  # nothing trained


def test_tensorboard_gives_each_trial_of_a_shared_training_its_logs_and_hparams(cli: Cli, runs_dir: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    result = cli("sweep", "--jobs", "1", "epochs=1,2", "tensorboard=true", "train_samples=600", "test_samples=100")
    assert result.exit_code == 0, result.output
    runs = RunStore(runs_dir).runs()
    assert len(runs) == 2
    for run in runs:
        epochs = run.info.config["epochs"]
        train = EventAccumulator(str(run.tensorboard_dir / "train"))
        train.Reload()
        logged = [float(tensor_value(e)) for e in train.Tensors("epoch_loss")]
        assert logged == pytest.approx([row["loss"] for row in run.history()]) and len(logged) == epochs
        validation = EventAccumulator(str(run.tensorboard_dir / "validation"))
        validation.Reload()
        test = float(tensor_value(validation.Tensors("test_accuracy")[0]))
        assert test == pytest.approx(run.metrics()["test"]["accuracy"])
        root = EventAccumulator(str(run.tensorboard_dir))
        root.Reload()
        start = plugin_data_pb2.HParamsPluginData.FromString(
            root.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        ).session_start_info
        assert start.hparams["epochs"].number_value == epochs and start.group_name == run.id


def tensor_value(event: object) -> float:
    import tensorflow as tf

    return float(tf.make_ndarray(event.tensor_proto))  # type: ignore[attr-defined]


def test_report_markdown_and_html(cli: Cli, runs_dir: Path, tmp_path: Path) -> None:
    assert (
        cli("sweep", "--jobs", "1", "lr=0.001,0.01", "epochs=2", "train_samples=600", "test_samples=100").exit_code == 0
    )
    sweep_id = next((runs_dir / "sweeps").glob("*.json")).stem
    md = tmp_path / "out" / "report.md"
    result = cli("report", "--sweep", sweep_id, "--out", str(md))
    assert result.exit_code == 0, result.output
    text = md.read_text()
    for heading in ("# Fashion-MNIST lab report", "## What was run", "## Results", "## Observations",
                    "## Learning curves", "## Confusion matrix of the best run", "## Example predictions",
                    "## Inside the best run's network"):  # fmt: skip
        assert heading in text
    assert "What differs between the runs: lr." in text and "Highest test accuracy (picked after looking): lr=" in text
    figures = sorted((tmp_path / "out" / "report_files").glob("*.png"))
    assert len(figures) == 6 and all(f"report_files/{f.name}" in text for f in figures)  # + reliability diagram
    followed = re.search(r"Test image (\d+) \((.+?)\), the first of the first 300 that this model gets wrong.*?"
                         r"through softmax, (.+?); the argmax, (.+?), is its answer", text)  # fmt: skip
    assert followed is not None and "What each unit of the layer dense looks for, at epoch 2" in text
    best = re.search(r"Confusion matrix of the best run \((\S+)\)", text)
    assert best is not None
    inside = json.loads(cli("inside", best.group(1), "--index", followed.group(1), "--json").stdout)
    names, p = inside["class_names"], inside["probabilities"]
    assert names[inside["predicted"]] == followed.group(4) != followed.group(2) == names[inside["true"]]
    assert followed.group(3).startswith(f"{followed.group(4)} {p[inside['predicted']]:.1%}")
    page = tmp_path / "report.html"
    assert cli("report", "--sweep", sweep_id, "--out", str(page), "--html").exit_code == 0
    html = page.read_text()
    assert html.count("data:image/png;base64,") == 6 and 'src="http' not in html and "<table>" in html


@pytest.mark.skipif(
    shutil.which("chromium") is None and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (make browsers; required in CI)",
)
def test_report_renders_in_headless_chromium(trained: Cli, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert trained("report", "--out", str(page), "--html").exit_code == 0
    shot = tmp_path / "shot.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={shot}", "--window-size=1200,3000", f"file://{page}"],
        capture_output=True, timeout=120,
    )  # fmt: skip
    assert shot.stat().st_size > 50_000  # a page with its tables and figures, not a blank one


def test_mlflow_logs_runs_grouped_by_sweep(
    cli: Cli, runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    monkeypatch.chdir(tmp_path)  # artifacts go to ./mlruns beside the SQLite store
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = cli(
        "sweep",
        "--jobs",
        "1",
        "lr=0.001,0.01",
        "epochs=2",
        "train_samples=600",
        "test_samples=100",
        "--mlflow",
        "--mlflow-uri",
        uri,
    )
    assert result.exit_code == 0, result.output
    assert f"Logged 2 runs to MLflow at {uri} under sweep-" in result.stderr
    client = mlflow.tracking.MlflowClient(uri)
    experiment = client.get_experiment_by_name("fashionlab")
    logged = client.search_runs([experiment.experiment_id])
    parents = [r for r in logged if "fashionlab.sweep" in r.data.tags]
    children = [r for r in logged if "fashionlab.run" in r.data.tags]
    assert len(parents) == 1 and len(children) == 2
    assert all(c.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for c in children)
    ours = {r.id: r for r in RunStore(runs_dir).runs()}
    for child in children:
        run = ours[child.data.tags["fashionlab.run"]]
        assert child.data.params["optimizer.learning_rate"] in ("0.001", "0.01")
        assert child.data.metrics["test_accuracy"] == pytest.approx(run.metrics()["test"]["accuracy"])
        history = client.get_metric_history(child.info.run_id, "val_loss")
        assert [m.step for m in history] == [1, 2]
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"model.keras", "curves.png", "config.yaml", "history.csv"} <= artifacts
        start, end = (datetime.fromisoformat(getattr(run.info, k)).timestamp() * 1000 for k in ("started", "ended"))
        assert abs(child.info.start_time - start) < 1000 and abs(child.info.end_time - end) < 1000  # real times
        assert child.info.status == "FINISHED"
    assert "Add type hints" not in result.stderr and "\x1b[" not in result.stderr  # MLflow's coloured warning
    assert parents[0].data.tags["fashionlab.axis.lr"] == "0.001,0.01"  # the sweep's axes
    assert children[0].data.params["optimizer.beta_1"] == "0.9"  # adam's defaults, written out
    assert children[0].data.tags["mlflow.user"] and children[0].data.tags["mlflow.source.name"].startswith("fashionlab")
    best = max(ours.values(), key=lambda r: r.metrics()["test"]["accuracy"])
    assert parents[0].data.tags["fashionlab.best_run"] == best.id
    assert parents[0].data.metrics["best_test_accuracy"] == pytest.approx(best.metrics()["test"]["accuracy"])
    models = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    assert sorted(m.source_run_id for m in models) == sorted(c.info.run_id for c in children)
    again = cli("sweep", "--jobs", "1", "lr=0.001,0.01", "epochs=2", "train_samples=600", "test_samples=100",
                "--mlflow", "--mlflow-uri", uri)  # fmt: skip
    assert "Logged 0 runs to MLflow" in again.stderr and "(2 logged before, left as they were)" in again.stderr
    assert len(client.search_runs([experiment.experiment_id])) == 3  # nothing logged twice
    wider = cli("sweep", "--jobs", "1", "lr=0.001,0.01,0.003", "epochs=2", "train_samples=600", "test_samples=100",
                "--mlflow", "--mlflow-uri", uri)  # fmt: skip
    assert "Logged 1 run to MLflow" in wider.stderr
    logged = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in logged if "fashionlab.sweep" in r.data.tags]  # the extended sweep keeps its parent
    assert parent.info.run_id == parents[0].info.run_id and parent.data.tags["fashionlab.axis.lr"] == "0.001,0.01,0.003"
    assert sum(r.data.tags.get("mlflow.parentRunId") == parent.info.run_id for r in logged) == 3
    _serves_raw_images(trained_model=models[0].model_uri, uri=uri, tmp_path=tmp_path)


def _serves_raw_images(trained_model: str, uri: str, tmp_path: Path) -> None:
    """The logged model as its users load it: mlflow.pyfunc in a fresh process on two Keras backends, and
    `mlflow models serve` answering the first request; uint8 images in, probabilities out, floats refused."""
    import socket
    import time
    import urllib.error
    import urllib.request

    import numpy as np

    from fashionlab.data import load_test

    x = load_test()[0][:4]
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = (
        "import json, sys, numpy as np, mlflow\n"
        f"m = mlflow.pyfunc.load_model({trained_model!r})\n"
        "x = np.array(json.loads(sys.stdin.read()), dtype=np.uint8)\n"
        "import keras\n"
        "print(json.dumps({'backend': keras.backend.backend(), 'p': m.predict(x).tolist(),"
        " 'names': m.metadata.metadata['class_names']}))\n"
        "try:\n    m.predict(x.astype('float64'))\nexcept Exception as exc:\n    print('refused', type(exc).__name__)\n"
    )
    answers = {}
    for backend in ("jax", "tensorflow"):
        done = subprocess.run([sys.executable, "-c", code], input=json.dumps(x.tolist()), capture_output=True,
                              text=True, timeout=300, env={**env, "KERAS_BACKEND": backend}, cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        first, refused = done.stdout.strip().splitlines()[-2:]
        answers[backend] = json.loads(first)
        assert answers[backend]["backend"] == backend and refused.startswith("refused")
    assert answers["jax"]["names"][:2] == ["T-shirt/top", "Trouser"]
    probs = np.array(answers["jax"]["p"])
    assert probs.shape == (4, 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert np.allclose(probs, answers["tensorflow"]["p"], atol=1e-5)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    exe = Path(sys.executable).parent / "mlflow"
    env["PATH"] = f"{exe.parent}:{env['PATH']}"  # as in an activated environment: it starts uvicorn from there
    server = subprocess.Popen([str(exe), "models", "serve", "-m", trained_model, "--env-manager", "local",
                               "-h", "127.0.0.1", "-p", str(port)], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.time() < deadline and server.poll() is None, "mlflow models serve did not start"
                time.sleep(0.5)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", method="POST",
                                         data=json.dumps({"inputs": x.tolist()}).encode(),
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=60) as answer:  # the first request, answered
            assert answer.status == 200
            served = np.array(json.loads(answer.read())["predictions"])
        assert np.allclose(served, probs, atol=1e-5)
        scaled = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", method="POST",
                                        data=json.dumps({"inputs": (x / 255).tolist()}).encode(),
                                        headers={"Content-Type": "application/json"})  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as refused:  # not cast to uint8 (all 0) and answered
            urllib.request.urlopen(scaled, timeout=60)
        assert refused.value.code == 400 and "send the pixels, not pixels / 255" in refused.value.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_served_model_of_a_resized_config_takes_its_example(cli: Cli, runs_dir: Path, tmp_path: Path) -> None:
    """MLflow runs the model on its input example when it logs it: for tiny (images resized to 5x5) the
    example is the resized images the standalone model takes, not 28x28 ones ("cannot reshape")."""
    import keras
    import numpy as np

    from fashionlab.engine.export import standalone_for_serving

    result = cli("train", "--config", "tiny", "epochs=1", "test_samples=50")
    assert result.exit_code == 0, result.output
    (run,) = RunStore(runs_dir).runs()
    metadata, example = standalone_for_serving(run, tmp_path / "standalone.keras")
    assert example.shape == (3, 5, 5) and example.dtype == np.uint8
    probabilities = keras.saving.load_model(tmp_path / "standalone.keras", compile=False).predict(example, verbose=0)
    assert probabilities.shape == (3, 2) and metadata["class_names"] == ["Sneaker", "Ankle boot"]


def test_tensorflow_starts_without_its_own_lines_on_stderr() -> None:
    """TensorFlow's C++ start-up writes absl's "All log messages before absl::InitializeLog()" and oneDNN's
    note straight to file descriptor 2, past TF_CPP_MIN_LOG_LEVEL; fashionlab imports it without them."""
    code = "from fashionlab.engine.backend import import_tensorflow_quietly\nimport_tensorflow_quietly()\nprint('ok')"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr[-2000:]
    assert "oneDNN" not in done.stderr and "absl" not in done.stderr, done.stderr[-2000:]


def test_a_sweep_from_python_logs_to_mlflow_as_the_command_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One use-case function behind both: `fl.sweep(..., mlflow=uri)` logs its trials under one parent run."""
    import mlflow

    import fashionlab as fl

    monkeypatch.chdir(tmp_path)  # artifacts go to ./mlruns beside the SQLite store
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = fl.sweep("lr=0.001,0.01", epochs=1, train_samples=300, test_samples=100, runs_dir=tmp_path / "runs",
                      progress=False, mlflow=uri)  # fmt: skip
    assert result.logged.counts.new == 2 and result.logged.uri == uri
    client = mlflow.tracking.MlflowClient(uri)
    logged = client.search_runs([client.get_experiment_by_name("fashionlab").experiment_id])
    assert sorted(r.data.tags.get("fashionlab.run", "") for r in logged if "fashionlab.run" in r.data.tags) == sorted(
        r.id for r in result.runs
    )
    assert [r.data.tags["fashionlab.sweep"] for r in logged if "fashionlab.sweep" in r.data.tags] == [
        result.plan.sweep_id
    ]
