"""Finding, verifying and loading the real Fashion-MNIST files."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fashionlab import data
from fashionlab.errors import DataError
from tests.conftest import Cli

FASHION = (28, 28)  # Fashion-MNIST's image size: what load_image fits a file into

HOW = "get it with 'apt-get install dataset-fashion-mnist'"


def real_dir() -> Path:
    return data.find_data_dir()


@pytest.fixture
def data_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with links to the real files, named by $FASHIONLAB_DATA, to damage one file at a time."""
    folder = tmp_path / "fm"
    folder.mkdir()
    for spec in data.FILES.values():
        (folder / spec.name).symlink_to(real_dir() / spec.name)
    monkeypatch.setenv("FASHIONLAB_DATA", str(folder))
    data._read.cache_clear()
    yield folder
    data._read.cache_clear()


def labels_raw() -> bytes:
    with gzip.open(real_dir() / "t10k-labels-idx1-ubyte.gz") as fh:
        return fh.read()


def replace(folder: Path, name: str, raw: bytes) -> None:
    (folder / name).unlink()
    with gzip.open(folder / name, "wb") as fh:
        fh.write(raw)


def test_load_data_shapes_dtypes_and_labels() -> None:
    (x_train, y_train), (x_test, y_test) = data.load_data()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert data.CLASS_NAMES[int(y_test[0])] == "Ankle boot"


def test_same_arrays_as_keras_loader(tmp_path: Path) -> None:
    """keras.datasets.fashion_mnist.load_data() reading the same files from its cache gives equal arrays."""
    cache = tmp_path / "keras" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    for spec in data.FILES.values():
        (cache / spec.name).symlink_to(real_dir() / spec.name)
    code = (
        "import numpy as np, keras\n"
        "from fashionlab.data import load_data\n"
        "ours = load_data(); theirs = keras.datasets.fashion_mnist.load_data()\n"
        "for a, b in zip(ours, theirs):\n"
        "    for x, y in zip(a, b):\n"
        "        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y)\n"
        "print('same')\n"
    )
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras"), "KERAS_BACKEND": "jax"}
    env.pop("FASHIONLAB_DATA", None)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "same", done.stderr[-2000:]


def test_missing_data_names_every_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASHIONLAB_DATA", str(tmp_path / "empty"))
    with pytest.raises(DataError) as info:
        data.load_data()
    message = str(info.value)
    assert message.startswith(f"Fashion-MNIST not found (looked in {tmp_path / 'empty'}); ")
    for way in ("apt-get install dataset-fashion-mnist", "fashionlab data --download", "$FASHIONLAB_DATA"):
        assert way in message


def test_wrong_magic(data_copy: Path) -> None:
    replace(data_copy, "t10k-labels-idx1-ubyte.gz", b"\x00\x00\x08\x03" + b"\x00" * 20)
    with pytest.raises(
        DataError,
        match=r"t10k-labels-idx1-ubyte.gz is not an IDX file of the expected kind \(bad magic number\); " + HOW,
    ):
        data.load_data()


def test_truncated(data_copy: Path) -> None:
    raw = labels_raw()
    replace(data_copy, "t10k-labels-idx1-ubyte.gz", raw[:5000])
    with pytest.raises(
        DataError, match=r"holds shape \(10000,\) with 4992 bytes, expected \(10000,\); the file is truncated"
    ):
        data.load_data()


def test_not_gzip(data_copy: Path) -> None:
    (data_copy / "train-labels-idx1-ubyte.gz").unlink()
    (data_copy / "train-labels-idx1-ubyte.gz").write_bytes(b"hello")
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz is not a readable gzip file"):
        data.load_data()


def test_label_out_of_range(data_copy: Path) -> None:
    raw = bytearray(labels_raw())
    raw[8 + 17] = 12
    replace(data_copy, "t10k-labels-idx1-ubyte.gz", bytes(raw))
    with pytest.raises(DataError, match=r"has label 12, outside 0-9"):
        data.load_data()


def test_checksum_mismatch(data_copy: Path) -> None:
    raw = bytearray(labels_raw())
    raw[8 + 17] = (raw[8 + 17] + 1) % 10
    replace(data_copy, "t10k-labels-idx1-ubyte.gz", bytes(raw))
    with pytest.raises(DataError, match=r"does not match the Fashion-MNIST checksum \(corrupt or altered\)"):
        data.load_data()


def test_load_image_converts_like_training_data(tmp_path: Path) -> None:
    from PIL import Image

    (x_train, _), _ = data.load_data()
    big = Image.fromarray(255 - x_train[0]).resize((280, 280))  # dark item on white, 10x larger
    big.convert("RGB").save(tmp_path / "shirt.jpg")
    pixels, inverted = data.load_image(tmp_path / "shirt.jpg", FASHION)
    assert inverted and pixels.shape == (28, 28) and pixels.dtype == np.uint8
    assert np.abs(pixels.astype(int) - x_train[0].astype(int)).mean() < 12


def test_unreadable_image(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(
        DataError, match=r"cannot read image .*x.png \(UnidentifiedImageError\); give a PNG or JPEG file"
    ):
        data.load_image(tmp_path / "x.png", FASHION)


def test_cli_data_table_and_grid(cli: Cli, tmp_path: Path) -> None:
    result = cli("data", "--grid", str(tmp_path / "grid.png"))
    assert result.exit_code == 0, result.output
    assert "(60000, 28, 28)" in result.stdout and "uint8" in result.stdout
    assert "Ankle boot" in result.stdout and "6,000" in result.stdout and "1,000" in result.stdout
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"Saved {tmp_path / 'grid.png'}" in result.stderr


def test_cli_data_json(cli: Cli) -> None:
    import json

    result = cli("data", "--json")
    info = json.loads(result.stdout)
    assert info["splits"]["test"]["counts"] == [1000] * 10
    assert info["class_names"][9] == "Ankle boot"


def test_cli_missing_data(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASHIONLAB_DATA", str(tmp_path / "nothing"))
    result = cli("data")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr.startswith("Error: Fashion-MNIST not found (looked in ")
    assert "Traceback" not in result.output


def test_data_says_what_len_of_the_labels_is(cli: Cli) -> None:
    """The lab asks for len(test_labels); a student's hand-in said 10 from the shape (10000,) (issue 33)."""
    said = " ".join(cli("data").stdout.split())
    assert "len(train_labels) = 60000 and len(test_labels) = 10000, one label per image" in said
    assert "len(class_names) = 10." in said
