"""fashionlab as a user installs it: the wheel and the sdist built as PyPI would get them, without
warnings; the wheel installed into a new virtual environment without extras; the commands run from a
folder outside the repository, and each optional feature refused in one line naming its extra.

One test (about a minute: most of it is pip installing Keras, JAX and SciPy into the new venv)."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import venv
from pathlib import Path

from tests.conftest import ROOT

REFUSED = {  # command -> the extra its one line names
    ("export", "latest", "--format", "onnx"): "pip install 'fashionlab[export]'",
    ("export", "latest", "--format", "tflite"): "pip install 'fashionlab[export]'",
    ("export", "latest", "--format", "savedmodel"): "pip install 'fashionlab[export]'",
    ("search", "lr=loguniform(1e-4,1e-1)", "--trials", "2", "--config", "tiny"): "pip install 'fashionlab[search]'",
    ("sweep", "epochs=1,2", "--config", "tiny", "--executor", "ray"): "pip install 'fashionlab[ray]'",
    ("train", "--config", "tiny", "epochs=1", "--mlflow"): "pip install 'fashionlab[mlflow]'",
    ("train", "--config", "tiny", "backend=tensorflow"): "pip install 'fashionlab[tensorflow]'",
    ("train", "--config", "tiny", "tensorboard=true"): "pip install 'fashionlab[tensorboard]'",
    ("train", "data=digits", "epochs=1"): "pip install 'fashionlab[digits]'",
}

NOTEBOOK = """
import fashionlab as fl
import keras  # Keras's own default backend (TensorFlow) is not installed: fashionlab's, JAX, is used
swept = fl.sweep("optimizer=adam,sgd", epochs=1, train_samples=300, test_samples=100, progress=False)
print(keras.backend.backend(), len(swept.runs), len(swept.failed))
"""


def _env(**changes: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "FASHIONLAB_RUNS")}
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_wheel_installed_without_extras_works_outside_the_repository(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = _run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], tmp_path,
                 _env(PYTHONDONTWRITEBYTECODE=None), timeout=600)  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    said = (built.stdout + built.stderr).lower()
    assert "warning" not in said and "deprecat" not in said, said[-3000:]
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    checked = _run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)], tmp_path, _env())
    assert checked.returncode == 0 and "warning" not in checked.stdout.lower(), checked.stdout + checked.stderr
    with tarfile.open(sdist) as tar:  # pytest in the unpacked sdist finds its fixtures and data
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert {"LICENSE", "Makefile", "tests/conftest.py", "tests/golden/en.txt", "configs/adam.yaml"} <= names
    assert any(name.startswith("tests/data/lab/") for name in names)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    installed = _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], tmp_path, _env(),
                     timeout=900)  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert _run([str(bin_dir / "python"), "-m", "pip", "check"], tmp_path, _env()).returncode == 0

    outside = tmp_path / "lab"
    outside.mkdir()
    env = _env(PATH=f"{bin_dir}:{os.environ['PATH']}", KERAS_BACKEND=None)
    exe = str(bin_dir / "fashionlab")
    helped = _run([exe, "--help"], outside, env)
    assert helped.returncode == 0 and "train" in helped.stdout
    trained = _run([exe, "train", "--config", "tiny", "epochs=1", "test_samples=200"], outside, env)
    assert trained.returncode == 0, trained.stderr[-3000:]
    spanish = _run([exe, "--lang", "es", "runs"], outside, _env(**env, COLUMNS="100"))
    assert spanish.returncode == 0 and "completada" in spanish.stdout, spanish.stdout + spanish.stderr
    report = _run([exe, "report", "--html", "--out", "report.html"], outside, env)
    assert report.returncode == 0, report.stderr[-3000:]
    assert "<html" in (outside / "report.html").read_text().lower()
    for command, extra in REFUSED.items():
        refused = _run([exe, *command], outside, env)
        lines = [line for line in refused.stderr.splitlines() if line.startswith("Error")]
        assert refused.returncode != 0 and "Traceback" not in refused.stderr, (command, refused.stderr[-2000:])
        assert len(lines) == 1 and extra in lines[0], (command, refused.stderr)

    notebook = _run([str(bin_dir / "python"), "-c", NOTEBOOK], outside, env)
    assert notebook.returncode == 0, notebook.stderr[-3000:]
    assert notebook.stdout.split() == ["jax", "2", "0"]
