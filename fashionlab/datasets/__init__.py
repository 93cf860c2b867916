"""The data sets a config can train on (`data: NAME`; Fashion-MNIST when unset), each one object: its
name, image size, classes and their names, what it is, where it was found and its loaders. Nothing
outside a data set's own module spells its image size or its number of classes.

Adding one is a module beside this file that defines `DATASET` (found by its file name; see digits.py,
scikit-learn's bundled 8x8 handwritten digits), its sentences in the Spanish catalog, and a test.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fashionlab.errors import ConfigError

Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
DEFAULT = "fashion_mnist"
MODULES = {  # name -> module: every module of this package, the default first
    name: f"{__name__}.{name}"
    for name in sorted((m.name for m in pkgutil.iter_modules(__path__)), key=lambda n: (n != DEFAULT, n))
}


@dataclass(frozen=True)
class DataSet:
    """A labelled image data set: uint8 grey images (n, height, width), 0 the background, integer labels."""

    name: str  # as configs write it
    title: str  # as sentences write it: "Fashion-MNIST"
    image_hw: tuple[int, int]
    class_names: tuple[str, ...]
    load: Callable[[], Arrays]  # ((x_train, y_train), (x_test, y_test))
    load_test: Callable[[], tuple[np.ndarray, np.ndarray]]  # the test split alone (it may read less)
    about: Callable[[], list[str]]  # what it is, a few lines in the chosen language
    where: Callable[[], str]  # where it was found
    counts: Callable[[], tuple[list[int], list[int]]]  # images per class: training split, test split
    looks: str = "light on black"  # what an image shows, for exported models' metadata
    tutorial_load: str = "load_data()"  # how the tutorial's code would load it (predict --explain)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_ids(self, classes: list[str | int] | None) -> list[int]:
        """A config's `classes` (names or numbers; None: all) as this data set's labels, in their order."""
        if classes is None:
            return list(range(self.num_classes))
        return [self.class_names.index(c) if isinstance(c, str) else c for c in classes]

    def split_counts_of(self, class_ids: list[int]) -> tuple[int, int]:
        """Training and test images of these classes."""
        train, test = self.counts()
        return sum(train[i] for i in class_ids), sum(test[i] for i in class_ids)


@functools.cache
def get(name: str | None) -> DataSet:
    """The data set `name` names (None: Fashion-MNIST), or a ConfigError listing those there are."""
    module = MODULES.get(name or DEFAULT)
    if module is None:
        raise ConfigError(f"`data` {name} is not a data set fashionlab knows; use one of {', '.join(MODULES)}")
    found: DataSet = importlib.import_module(module).DATASET
    return found


def names() -> list[str]:
    return list(MODULES)
