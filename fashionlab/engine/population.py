"""Populations: trials of one program trained together, one compiled program for all of them.

Trials of a sweep, search or `--repeats` that compile to the same steps (same architecture, loss,
optimizer and its constants, batch size and data) differ only in values the steps take as state: their
weights (the seed), the learning rate, the dropout seeds. Stacking their states and `jax.vmap`-ing the
model's own `train_step` over them inside the fused loop's `lax.scan` trains K trials in one call. Each
member keeps its own shuffling order (its seed's permutation, gathered from the device-resident data),
so its history equals a separate run's up to floating-point reassociation, and everything a run has
(run directory, history, checkpoints, best-epoch weights, divergence, early stopping, test metrics) is
kept per member by its own RunRecorder. A member that diverges or stops early is recorded and dropped;
the others go on.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import numpy as np

from fashionlab.config import Config
from fashionlab.engine.fused import _assign, _state, steps_per_block
from fashionlab.engine.recorder import RunRecorder
from fashionlab.errors import Interrupted, raise_if_stopped, signals_deferred


class PopulationLoop:
    """K models of one program trained in lockstep by one vmapped, scanned step."""

    def __init__(self, models: list[Any], batch_size: int) -> None:
        import jax

        self.models = models
        self.batch_size = batch_size
        train_step, test_step = models[0].train_step, models[0].test_step  # the same program for every member
        vtrain = jax.vmap(train_step, in_axes=(0, 0))
        vtest = jax.vmap(test_step, in_axes=(0, None))

        @jax.jit
        def train_block(state: Any, x: Any, y: Any, index: Any) -> tuple[Any, Any]:
            def body(carry: Any, idx: Any) -> tuple[Any, Any]:  # idx: (K, b), each member its own batch
                logs, carry = vtrain(carry, (x[idx], y[idx]))
                return carry, logs

            state, logs = jax.lax.scan(body, state, index)
            return jax.tree.map(lambda a: a[-1], logs), state

        @jax.jit
        def test_block(state: Any, x: Any, y: Any, index: Any) -> tuple[Any, Any]:
            def body(carry: Any, idx: Any) -> tuple[Any, Any]:  # idx: (b,), the same batch for every member
                logs, carry = vtest(carry, (x[idx], y[idx]))
                return carry, logs

            state, logs = jax.lax.scan(body, state, index)
            return jax.tree.map(lambda a: a[-1], logs), state

        self.train_block, self.test_block = train_block, test_block

    def _stack(self, optimizer: bool = True) -> Any:
        import jax
        import jax.numpy as jnp

        return jax.tree.map(lambda *leaves: jnp.stack(leaves), *[_state(m, optimizer) for m in self.models])

    def _unstack(self, stacked: Any, optimizer: bool = True) -> None:
        """Each member's part of the stacked state back into its own Keras model."""
        import jax

        for k, model in enumerate(self.models):
            _assign(model, jax.tree.map(lambda a, k=k: a[k], stacked), optimizer)

    def _pass(self, block: Any, x: Any, y: Any, orders: np.ndarray, optimizer: bool = True) -> dict[str, np.ndarray]:
        """One pass over the data in batches, as the fused loop cuts it: `orders` is (n,) for a pass every
        member makes over the same batches (validation), (K, n) for each member's own order (training)."""
        import jax.numpy as jnp

        b, n = self.batch_size, orders.shape[-1]
        full = n // b
        steps = np.moveaxis(orders[..., : full * b].reshape(*orders.shape[:-1], full, b), -2, 0)  # (steps, [K,] b)
        for model in self.models:
            model.reset_metrics()
        state, logs = self._stack(optimizer), {}
        per_call = steps_per_block(full)
        for start in range(0, full, per_call):
            raise_if_stopped()
            logs, state = block(state, x, y, jnp.asarray(steps[start : start + per_call]))
        if n % b:
            logs, state = block(state, x, y, jnp.asarray(orders[..., full * b :][None]))
        self._unstack(state, optimizer)
        return {k: np.asarray(v) for k, v in logs.items()}

    def fit(
        self, x: np.ndarray, y: np.ndarray, validation: tuple[np.ndarray, np.ndarray] | None,
        recorders: list[RunRecorder], seeds: list[int], initial_epoch: int = 0,
    ) -> None:  # fmt: skip
        """Train until every member's recorder is done (its epochs reached, or diverged, pruned, stopped)."""
        import jax.numpy as jnp

        for model in self.models:
            model._symbolic_build(data_batch=(x[: self.batch_size], y[: self.batch_size]))
            model.optimizer.build(model.trainable_variables)
        x_dev, y_dev = jnp.asarray(x), jnp.asarray(y)
        val = (jnp.asarray(validation[0]), jnp.asarray(validation[1])) if validation is not None else None
        active = list(range(len(self.models)))
        epochs = max(r.targets[-1].config.epochs for r in recorders)
        for epoch in range(initial_epoch, epochs):
            raise_if_stopped()
            started = time.perf_counter()
            orders = np.stack([np.random.default_rng([seed, epoch]).permutation(len(x)) for seed in seeds])
            logs = self._pass(self.train_block, x_dev, y_dev, orders)
            val_logs = self._pass(self.test_block, *val, np.arange(len(val[0])), optimizer=False) if val else {}
            seconds = round(time.perf_counter() - started, 4)  # the population's epoch, shared by its members
            with signals_deferred():  # every member records this epoch, or none: a rerun resumes them together
                for k in list(active):
                    row: dict[str, float] = {"epoch": epoch + 1, **{n: float(v[k]) for n, v in logs.items()}}
                    row.update({f"val_{n}": float(v[k]) for n, v in val_logs.items()})
                    row["seconds"] = seconds
                    stop = recorders[k].epoch_end(row)
                    if stop or recorders[k].targets[-1].config.epochs <= epoch + 1:
                        active.remove(k)
            if not active:
                return


def train_members(
    configs: list[Config], models: list[Any], split: Any, recorders: list[RunRecorder], initial_epoch: int = 0
) -> list[Any]:
    """Train a population; each member's outcome (TrainResult or RunStopped), as train_group gives them."""
    loop = PopulationLoop(models, configs[0].batch_size)
    try:
        loop.fit(split.x_train, split.y_train, split.validation, recorders, [c.seed for c in configs], initial_epoch)
    except KeyboardInterrupt as exc:
        outcomes = [o for r in recorders for o in r.interrupted()]
        raise Interrupted(getattr(exc, "signum", signal.SIGINT), outcomes) from None
    except Exception as exc:
        return [o for r in recorders for o in r.failed(exc)]
    return [o for r in recorders for o in r.ended()]


__all__ = ["PopulationLoop", "train_members"]
