"""One model being trained, as the callbacks see it: its weights, its state, and how it is tested and saved.

A population (engine/loop.py) trains several members in one compiled program; member `k` of the loop is
tested with the loop's compiled steps (the same numbers as Keras's own, without tracing again), a model
trained by keras.fit with Keras's evaluate and predict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fashionlab.config import Config
from fashionlab.engine.images import model_images, outputs
from fashionlab.engine.inputs import Split
from fashionlab.engine.probes import DEAD_UNIT_IMAGES, dead_units
from fashionlab.network import output_kind
from fashionlab.store.images import ModelImages


def own_variables(model: Any) -> list[Any]:
    """The model's own variables (weights and non-trainable state, not the optimizer's), in the order
    best.weights files keep them."""
    return [*model.trainable_variables, *model.non_trainable_variables]


def restore(model: Any, arrays: list[np.ndarray]) -> None:
    """Set the model's own variables (a run's best.weights, or a snapshot)."""
    for variable, array in zip(own_variables(model), arrays, strict=True):
        variable.assign(array)


def shapes(model: Any) -> list[tuple[int, ...]]:
    return [tuple(v.shape) for v in own_variables(model)]


class Member:
    """Model `k` of `loop` (None: trained by keras.fit) on `split`, for `config`."""

    def __init__(self, model: Any, split: Split, config: Config, loop: Any = None, k: int = 0) -> None:
        self.model, self.split, self.config, self.loop, self.k = model, split, config, loop, k

    def snapshot(self) -> list[np.ndarray]:
        return [np.array(v.value) for v in own_variables(self.model)]

    def restore(self, arrays: list[np.ndarray]) -> None:
        restore(self.model, arrays)

    def shapes(self) -> list[tuple[int, ...]]:
        return shapes(self.model)

    def state_variables(self) -> list[Any]:
        """Everything training changes: weights, non-trainable state (incl. RNG seeds), optimizer slots."""
        return [*own_variables(self.model), *self.model.optimizer.variables]

    def state(self) -> list[np.ndarray]:
        """The state a checkpoint keeps."""
        return [np.asarray(v.value) for v in self.state_variables()]

    def evaluate(self) -> dict[str, float]:
        """Its test metrics, as `model.evaluate(..., batch_size=256)` gives them."""
        split = self.split
        if self.loop is not None:
            scores = self.loop.evaluate(self.k, split.x_test, split.y_test_model)
        else:
            scores = self.model.evaluate(split.x_test, split.y_test_model, batch_size=256, verbose=0, return_dict=True)
        return {name: float(value) for name, value in scores.items()}  # loss, then each compiled metric

    def save(self, path: Path) -> None:
        self.model.save(path)

    def images(self, epoch: int) -> ModelImages:
        """Its answer on each test image, with its weights as they are now (`epoch`: theirs)."""
        found = outputs(self.model, self.loop, self.k, self.split.x_test)
        return model_images(found, self.split.y_test, output_kind(self.config), epoch)

    def dead_units(self) -> list[dict[str, Any]]:
        return dead_units(self.model, self.split.x_train[:DEAD_UNIT_IMAGES])
