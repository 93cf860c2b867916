"""Fashion-MNIST (fashionlab/data.py finds, verifies, caches and loads its four IDX files)."""

from __future__ import annotations

import functools

from fashionlab import data
from fashionlab.datasets import DataSet


@functools.cache
def _counts() -> tuple[list[int], list[int]]:
    return [data.TRAIN_PER_CLASS] * len(data.CLASS_NAMES), [data.TEST_PER_CLASS] * len(data.CLASS_NAMES)


DATASET = DataSet(
    name="fashion_mnist",
    title="Fashion-MNIST",
    image_hw=(28, 28),
    class_names=tuple(data.CLASS_NAMES),
    load=data.load_data,
    load_test=data.load_test,
    about=data.about,
    where=lambda: str(data.find_data_dir()),
    counts=_counts,
    looks="light clothing on black",
    tutorial_load="fashion_mnist.load_data()",
)
