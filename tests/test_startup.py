"""Start-up cost: --help and config errors must not import TensorFlow, Keras or JAX."""

from __future__ import annotations

import subprocess
import sys

FRAMEWORKS = ("tensorflow", "keras", "jax", "torch")


def loaded_after(code: str) -> list[str]:
    probe = code + f"\nimport sys\nprint(','.join(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [m for m in done.stdout.rstrip("\n").split("\n")[-1].split(",") if m]


def test_importing_the_cli_loads_no_framework() -> None:
    assert loaded_after("import fashionlab.cli") == []


def test_help_and_config_errors_load_no_framework() -> None:
    code = (
        "from typer.testing import CliRunner\n"
        "from fashionlab.cli import app\n"
        "r = CliRunner()\n"
        "assert r.invoke(app, ['--help']).exit_code == 0\n"
        "assert r.invoke(app, ['train', '--help']).exit_code == 0\n"
        "assert r.invoke(app, ['train', 'epochs=0']).exit_code == 2\n"
        "assert r.invoke(app, ['train', '--config', 'configs/tiny.yaml', 'image_size=null']).exit_code == 2\n"
        "assert r.invoke(app, ['show', '--config', 'configs/cnn.yaml']).exit_code == 0\n"
        "assert r.invoke(app, ['runs']).exit_code == 0\n"
    )
    assert loaded_after(code) == []


def test_training_on_jax_does_not_import_tensorflow(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = (
        "from pathlib import Path\n"
        "from fashionlab.config import load_config\n"
        "from fashionlab.usecases import train\n"
        f"train(load_config(None, ['train_samples=200', 'test_samples=50', 'epochs=1']), Path({str(tmp_path)!r}))\n"
    )
    loaded = loaded_after(code)
    assert "keras" in loaded and "jax" in loaded and "tensorflow" not in loaded
