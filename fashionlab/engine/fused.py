"""A fused training loop for Keras's JAX backend: the data stays on the device, and each block of
steps is one compiled `jax.lax.scan` over the model's own `train_step`.

Keras 3's `fit` slices every batch out of host numpy arrays and runs every step (or every
`steps_per_execution` steps) as a separate call; for the small models of this lab that overhead is
more than half of an epoch (BENCHMARKS.md). This loop keeps what matters from Keras: the model,
its `train_step`/`test_step` (loss, optimizer, metrics), its variables, saving, and the callback
hooks that fashionlab uses (epoch begin/end, batch end, `stop_training`). What it changes is the
order of the shuffled batches (its own seeded permutation) and who runs the loop.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

# Blocks of steps per epoch: progress updates this often, each block one compiled call. Fewer blocks
# cost less per epoch where each call is expensive (GPUs shared by several processes).
CALLS_PER_EPOCH = int(os.environ.get("FASHIONLAB_BLOCKS_PER_EPOCH", "10"))
TEST_BATCH = 256  # what Keras's evaluate was given before: the same batches, the same test metrics

# Compiled steps by program (architecture, loss, optimizer and its constants: `program` in fit.py). The
# trials of a sweep or search that one process trains one after another differ in values the steps take
# as state (weights, the learning rate, the seeds), so a later trial reuses the first one's traced and
# compiled functions instead of tracing them again (about 0.7 s a trial; BENCHMARKS.md).
_PROGRAMS: dict[str, tuple[Any, Any, Any, Any]] = {}


def steps_per_block(steps: int) -> int:
    """How many steps one compiled call takes, so an epoch is CALLS_PER_EPOCH calls."""
    return max(1, math.ceil(steps / CALLS_PER_EPOCH))


def _state(model: Any, optimizer: bool = True) -> tuple[list[Any], ...]:
    parts = [model.trainable_variables, model.non_trainable_variables]
    if optimizer:
        parts.append(model.optimizer.variables)
    parts.append(model.metrics_variables)
    return tuple([v.value for v in group] for group in parts)


def _assign(model: Any, state: tuple[list[Any], ...], optimizer: bool = True) -> None:
    groups = [model.trainable_variables, model.non_trainable_variables]
    if optimizer:
        groups.append(model.optimizer.variables)
    groups.append(model.metrics_variables)
    for variables, values in zip(groups, state, strict=True):
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)


class FusedLoop:
    """Compiled functions for one model and batch size; `fit` then runs Keras-style epochs."""

    def __init__(self, model: Any, batch_size: int, steps_per_call: int | None = None, program: str = "") -> None:
        import jax

        self.model = model
        self.batch_size = batch_size
        self.steps_per_call = steps_per_call
        if program and program in _PROGRAMS:
            self.train_block, self.train_one, self.test_block, self.test_one = _PROGRAMS[program]
            return
        train_step, test_step = model.train_step, model.test_step

        def scan_with(step: Any) -> Any:
            @jax.jit
            def run(state: Any, x: Any, y: Any, index: Any) -> tuple[Any, Any]:
                def body(carry: Any, i: Any) -> tuple[Any, Any]:
                    logs, carry = step(carry, (x[i], y[i]))
                    return carry, logs

                state, logs = jax.lax.scan(body, state, index)
                return jax.tree.map(lambda a: a[-1], logs), state

            return run

        def one_with(step: Any) -> Any:
            @jax.jit
            def run(state: Any, x: Any, y: Any, index: Any) -> tuple[Any, Any]:
                return step(state, (x[index], y[index]))

            return run

        self.train_block, self.train_one = scan_with(train_step), one_with(train_step)
        self.test_block, self.test_one = scan_with(test_step), one_with(test_step)
        if program:
            _PROGRAMS[program] = (self.train_block, self.train_one, self.test_block, self.test_one)

    def _run(
        self, block: Any, one: Any, state: Any, x: Any, y: Any, order: np.ndarray, on_block: Any = None, b: int = 0
    ) -> Any:
        """All batches of `order` in blocks of equal size, then the last partial batch on its own."""
        import jax.numpy as jnp

        b = b or self.batch_size
        full = len(order) // b
        index = order[: full * b].reshape(full, b)
        per_call = self.steps_per_call or steps_per_block(full)
        logs = None
        for start in range(0, full, per_call):
            logs, state = block(state, x, y, jnp.asarray(index[start : start + per_call]))
            if on_block is not None:
                on_block(min(start + per_call, full), logs)
        if len(order) % b:
            logs, state = one(state, x, y, jnp.asarray(order[full * b :]))
        return logs, state

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        validation: tuple[np.ndarray, np.ndarray] | None,
        epochs: int,
        seed: int,
        callbacks: list[Any],
        initial_epoch: int = 0,
    ) -> None:
        """Train like `model.fit(x, y, validation_data=..., epochs=..., shuffle=True)`."""
        import jax.numpy as jnp

        model = self.model
        model._symbolic_build(data_batch=(x[: self.batch_size], y[: self.batch_size]))  # Keras builds metrics here
        model.optimizer.build(model.trainable_variables)
        x_dev, y_dev = jnp.asarray(x), jnp.asarray(y)
        val = (jnp.asarray(validation[0]), jnp.asarray(validation[1])) if validation is not None else None
        for callback in callbacks:
            callback.set_model(model)
        model.stop_training = False
        for epoch in range(initial_epoch, epochs):
            for callback in callbacks:
                callback.on_epoch_begin(epoch)
            order = np.random.default_rng([seed, epoch]).permutation(len(x))

            def on_block(step: int, block_logs: Any) -> None:
                for callback in callbacks:
                    callback.on_train_batch_end(step - 1, block_logs)

            model.reset_metrics()
            logs, state = self._run(self.train_block, self.train_one, _state(model), x_dev, y_dev, order, on_block)
            _assign(model, state)
            epoch_logs = {k: float(v) for k, v in logs.items()}
            if val is not None:
                model.reset_metrics()
                val_logs, val_state = self._run(
                    self.test_block, self.test_one, _state(model, optimizer=False), val[0], val[1],
                    np.arange(len(val[0])),
                )  # fmt: skip
                _assign(model, val_state, optimizer=False)
                epoch_logs.update({f"val_{k}": float(v) for k, v in val_logs.items()})
            for callback in callbacks:
                callback.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """`model.evaluate(x, y, batch_size=256)` with this loop's compiled test step: the same batches in
        the same order, so the same numbers, without Keras tracing a test function for every model."""
        import jax.numpy as jnp

        model = self.model
        model.reset_metrics()
        logs, state = self._run(
            self.test_block, self.test_one, _state(model, optimizer=False), jnp.asarray(x), jnp.asarray(y),
            np.arange(len(x)), b=TEST_BATCH,
        )  # fmt: skip
        _assign(model, state, optimizer=False)
        return {k: float(v) for k, v in logs.items()}
