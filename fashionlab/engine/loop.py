"""The fused training loop for Keras's JAX backend, for a population of one or more models of one program.

Keras 3's `fit` slices every batch out of host numpy arrays and runs every step (or every
`steps_per_execution` steps) as a separate call; for the small models of this lab that overhead is more
than half of an epoch (BENCHMARKS.md). This loop keeps the data on the device and runs each block of
steps as one compiled `jax.lax.scan` over the model's own `train_step`/`test_step` (loss, optimizer,
metrics). Like Keras's own trainer it hosts callbacks, one `keras.callbacks.CallbackList` per model
(on_train_begin/end, on_epoch_begin/end, on_train_batch_end, `stop_training`); what it changes is the
order of the shuffled batches (a seeded permutation per epoch) and who runs the loop.

Models of one program (same architecture, loss, optimizer and its constants, batch size and data) differ
only in values the steps take as state: their weights (the seed), the learning rate, the dropout seeds.
A population of K > 1 stacks their states and `jax.vmap`s the step over them: K trainings in one call,
each with its own shuffling order, so each member's history equals a separate run's up to floating-point
reassociation. A member that diverges or stops early is dropped from the recording; the others go on.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from fashionlab.engine import keras_shims
from fashionlab.errors import raise_if_stopped, signals_deferred

# Blocks of steps per epoch: progress updates this often, each block one compiled call. Fewer blocks
# cost less per epoch where each call is expensive (GPUs shared by several processes).
CALLS_PER_EPOCH = int(os.environ.get("FASHIONLAB_BLOCKS_PER_EPOCH", "10"))
TEST_BATCH = 256  # what Keras's evaluate was given before: the same batches, the same test metrics

# Compiled steps by program (architecture, loss, optimizer and its constants: engine/programs.py). The
# trials of a sweep or search that one process trains one after another differ in values the steps take
# as state (weights, the learning rate, the seeds), so a later trial reuses the first one's traced and
# compiled functions instead of tracing them again (about 0.7 s a trial; BENCHMARKS.md).
_PROGRAMS: dict[str, tuple[Any, Any, Any, Any]] = {}
_FORWARD: dict[str, Any] = {}  # the compiled inference pass by program, for the per-image test evidence
FORWARD_BATCH = 1000  # images per call of the forward pass (the last batch padded: one shape, one compile)


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


def _scanned(step: Any, batched: Any) -> Any:
    """`step` over a block of batches as one compiled scan; `batched(step)` maps one batch's (x, y)."""
    import jax

    mapped = batched(step)

    @jax.jit
    def run(state: Any, x: Any, y: Any, index: Any) -> tuple[Any, Any]:
        def body(carry: Any, i: Any) -> tuple[Any, Any]:
            logs, carry = mapped(carry, (x[i], y[i]))
            return carry, logs

        state, logs = jax.lax.scan(body, state, index)
        return jax.tree.map(lambda a: a[-1], logs), state

    return run


def _programs(model: Any, program: str) -> tuple[Any, Any, Any, Any]:
    """The compiled single-model steps (train block, one train batch, test block, one test batch)."""
    import jax

    if program and program in _PROGRAMS:
        return _PROGRAMS[program]

    def one_with(step: Any) -> Any:
        return jax.jit(lambda state, x, y, index: step(state, (x[index], y[index])))

    same = lambda step: step  # noqa: E731
    found = (
        _scanned(model.train_step, same), one_with(model.train_step),
        _scanned(model.test_step, same), one_with(model.test_step),
    )  # fmt: skip
    if program:
        _PROGRAMS[program] = found
    return found


class Loop:
    """Compiled steps for a population of models of one program; `fit` runs Keras-style epochs."""

    def __init__(self, models: list[Any], batch_size: int, program: str = "", steps_per_call: int | None = None):
        import jax

        self.models = models
        self.program = program
        self.batch_size = batch_size
        self.steps_per_call = steps_per_call
        self.single = _programs(models[0], program)  # train block, one train batch, test block, one test batch
        self.train_block, self.test_block = self.single[0], self.single[2]
        if len(models) > 1:  # each member its own batch (K, b) in training; the same batch (b,) in validation
            self.train_block = _scanned(models[0].train_step, lambda s: jax.vmap(s, in_axes=(0, 0)))
            self.test_block = _scanned(models[0].test_step, lambda s: jax.vmap(s, in_axes=(0, None)))

    def _stack(self, models: list[Any], optimizer: bool) -> Any:
        import jax
        import jax.numpy as jnp

        if len(models) == 1:
            return _state(models[0], optimizer)
        return jax.tree.map(lambda *leaves: jnp.stack(leaves), *[_state(m, optimizer) for m in models])

    def _unstack(self, models: list[Any], stacked: Any, optimizer: bool) -> None:
        """Each member's part of the state back into its own Keras model."""
        import jax

        if len(models) == 1:
            _assign(models[0], stacked, optimizer)
            return
        for k, model in enumerate(models):
            _assign(model, jax.tree.map(lambda a, k=k: a[k], stacked), optimizer)

    def _pass(
        self, train: bool, x: Any, y: Any, orders: np.ndarray, on_block: Any = None, models: list[Any] | None = None,
        b: int = 0,
    ) -> dict[str, np.ndarray]:  # fmt: skip
        """One pass over the data in blocks of full batches, then the last partial batch: `orders` is (n,)
        for one model or a pass every member makes over the same batches, (K, n) for each member's own."""
        import jax.numpy as jnp

        models = models or self.models
        single = len(models) == 1
        one = self.single[1] if train else self.single[3]
        block = (self.train_block if train else self.test_block) if not single else (self.single[0 if train else 2])
        b, n = b or self.batch_size, orders.shape[-1]
        full = n // b
        steps = np.moveaxis(orders[..., : full * b].reshape(*orders.shape[:-1], full, b), -2, 0)  # (steps, [K,] b)
        for model in models:
            model.reset_metrics()
        state, logs = self._stack(models, train), {}
        per_call = self.steps_per_call or steps_per_block(full)
        for start in range(0, full, per_call):
            raise_if_stopped()
            logs, state = block(state, x, y, jnp.asarray(steps[start : start + per_call]))
            if on_block is not None:
                on_block(min(start + per_call, full), logs)
        if n % b:
            rest = orders[..., full * b :]
            logs, state = one(state, x, y, jnp.asarray(rest)) if single else block(state, x, y, jnp.asarray(rest[None]))
        self._unstack(models, state, train)
        return {k: np.asarray(v) for k, v in logs.items()}

    def _member(self, logs: dict[str, np.ndarray], k: int, prefix: str = "") -> dict[str, float]:
        return {prefix + n: float(v if len(self.models) == 1 else v[k]) for n, v in logs.items()}

    def fit(
        self, x: np.ndarray, y: np.ndarray, validation: tuple[np.ndarray, np.ndarray] | None, epochs: list[int],
        seeds: list[int], callbacks: list[Any], initial_epoch: int = 0,
    ) -> None:  # fmt: skip
        """Train like `model.fit(x, y, validation_data=..., epochs=..., shuffle=True, callbacks=...)` for each
        member (its epochs, its seed's shuffling, its CallbackList) until every member is done."""
        import jax.numpy as jnp

        for model in self.models:
            keras_shims.build_for(model, x[: self.batch_size], y[: self.batch_size])  # as fit does: metrics too
            model.optimizer.build(model.trainable_variables)
            model.stop_training = False
        x_dev, y_dev = jnp.asarray(x), jnp.asarray(y)
        val = (jnp.asarray(validation[0]), jnp.asarray(validation[1])) if validation is not None else None
        for member in callbacks:
            member.on_train_begin()
        active = list(range(len(self.models)))
        for epoch in range(initial_epoch, max(epochs)):
            raise_if_stopped()
            for k in active:
                callbacks[k].on_epoch_begin(epoch)
            orders = np.stack([np.random.default_rng([seed, epoch]).permutation(len(x)) for seed in seeds])
            first = active[0]

            def on_block(step: int, logs: Any, first: int = first) -> None:  # progress follows the first member
                callbacks[first].on_train_batch_end(step - 1, self._member(logs, first))

            logs = self._pass(True, x_dev, y_dev, orders if len(self.models) > 1 else orders[0], on_block)
            val_logs = self._pass(False, *val, np.arange(len(val[0]))) if val is not None else {}
            with signals_deferred():  # every member records this epoch, or none: a rerun resumes them together
                for k in list(active):
                    callbacks[k].on_epoch_end(epoch, {**self._member(logs, k), **self._member(val_logs, k, "val_")})
                    if self.models[k].stop_training or epochs[k] <= epoch + 1:
                        active.remove(k)
            if not active:
                break
        for member in callbacks:
            member.on_train_end()

    def evaluate(self, k: int, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """`model.evaluate(x, y, batch_size=256)` of member k with the compiled single-model test step: the
        same batches in the same order, so the same numbers, without Keras tracing a test function."""
        import jax.numpy as jnp

        x_dev, y_dev = jnp.asarray(x), jnp.asarray(y)
        logs = self._pass(False, x_dev, y_dev, np.arange(len(x)), models=[self.models[k]], b=TEST_BATCH)
        return {name: float(v) for name, v in logs.items()}

    def outputs(self, k: int, x: np.ndarray) -> np.ndarray:
        """Member k's outputs on `x` in inference mode (dropout off), like `model.predict`, with one compiled
        forward pass per program instead of Keras tracing a predict function for each model."""
        import jax

        model = self.models[k]
        forward = _FORWARD.get(self.program) if self.program else None
        if forward is None:
            forward = jax.jit(
                lambda trainable, other, batch: model.stateless_call(trainable, other, batch, training=False)[0]
            )
            if self.program:
                _FORWARD[self.program] = forward
        trainable = [v.value for v in model.trainable_variables]
        other = [v.value for v in model.non_trainable_variables]
        found = []
        for start in range(0, len(x), FORWARD_BATCH):
            batch = x[start : start + FORWARD_BATCH]
            padded = np.concatenate([batch, np.zeros((FORWARD_BATCH - len(batch), *batch.shape[1:]), batch.dtype)])
            found.append(np.asarray(forward(trainable, other, padded))[: len(batch)])
        return np.concatenate(found)


__all__ = ["CALLS_PER_EPOCH", "TEST_BATCH", "Loop", "steps_per_block"]
