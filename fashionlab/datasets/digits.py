"""scikit-learn's bundled handwritten digits (`data: digits`): 1,797 8x8 grey images of the digits 0-9,
from the UCI ML hand-written digits data set (Alpaydin and Kaynak, 1998), read from the file scikit-learn
ships (sklearn/datasets/data/digits.csv.gz) without importing scikit-learn and without a download.

Its pixels count ink from 0 to 16; here they are scaled to 0-255 like every data set's. It has no
official split: the first 1,437 images (80%) train, the last 360 test, always the same.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import zlib
from pathlib import Path

import numpy as np

from fashionlab.datasets import Arrays, DataSet
from fashionlab.errors import DataError

TRAIN = 1437  # of 1,797: the first 80% train, the rest test
SHA256 = "a19cb3d96bba7deace8ee5a513a6eb7bad0403d528f00bf4d351b6a7a55baa91"  # of the decoded images and labels


def _file() -> Path:
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("data: digits reads the digits scikit-learn ships: pip install 'fashionlab[digits]'")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"


@functools.cache
def load() -> Arrays:
    path = _file()
    try:
        with gzip.open(path, "rt") as fh:
            table = np.loadtxt(fh, delimiter=",", dtype=np.float64)
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        raise DataError(f"{path} cannot be read ({exc}); reinstall scikit-learn") from None
    if table.shape != (1797, 65) or table[:, :64].max() > 16 or table[:, :64].min() < 0:
        raise DataError(f"{path} is not scikit-learn's 1,797 8x8 digits (found {table.shape}); reinstall scikit-learn")
    images = np.round(table[:, :64] * 255 / 16).astype(np.uint8).reshape(-1, 8, 8)
    labels = table[:, 64].astype(np.uint8)
    if _digest(images, labels) != SHA256:
        raise DataError(f"{path} does not hold the digits scikit-learn ships (its checksum differs); reinstall it")
    return (images[:TRAIN], labels[:TRAIN]), (images[TRAIN:], labels[TRAIN:])


def _digest(images: np.ndarray, labels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(images).tobytes() + np.ascontiguousarray(labels).tobytes()).hexdigest()


def _about() -> list[str]:
    from fashionlab.i18n import _, grouped

    return [
        _("Digits: {n} handwritten digits from the UCI ML hand-written digits data set (Alpaydin and Kaynak, "
          "1998), as scikit-learn ships them, 8x8 grey pixels (0-16, scaled to 0-255) each.").format(n=grouped(1797)),
        _("10 classes, 0 to 9, about {n} images of each; the first {train} train, the last {test} test.").format(
            n=grouped(180), train=grouped(TRAIN), test=grouped(1797 - TRAIN)),
    ]  # fmt: skip


@functools.cache
def _counts() -> tuple[list[int], list[int]]:
    (_, y), (_, yt) = load()
    return np.bincount(y, minlength=10).tolist(), np.bincount(yt, minlength=10).tolist()


DATASET = DataSet(
    name="digits",
    title="Digits",
    image_hw=(8, 8),
    class_names=tuple(str(i) for i in range(10)),
    load=load,
    load_test=lambda: load()[1],
    about=_about,
    where=lambda: str(_file()),
    counts=_counts,
    looks="light ink on black",
    tutorial_load="split(sklearn.datasets.load_digits())",
)
