"""The practical speed limit: the tutorial model trained by a hand-fused JAX loop.

One jit-compiled function per epoch runs every step with lax.scan over the (shuffled) batches, with
the data kept on the device. Same model, initialisation, Adam settings and batch size as Keras.

    python bench/fused_jax.py --epochs 5
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import jax
import jax.numpy as jnp
import numpy as np


def init(key: jax.Array, sizes: list[int]) -> list[tuple[jax.Array, jax.Array]]:
    params = []
    for n_in, n_out in itertools.pairwise(sizes):
        key, sub = jax.random.split(key)
        limit = np.sqrt(6 / (n_in + n_out))  # glorot uniform, as keras.layers.Dense
        params.append((jax.random.uniform(sub, (n_in, n_out), minval=-limit, maxval=limit), jnp.zeros(n_out)))
    return params


def forward(params: list[tuple[jax.Array, jax.Array]], x: jax.Array) -> jax.Array:
    for i, (w, b) in enumerate(params):
        x = x @ w + b
        if i < len(params) - 1:
            x = jax.nn.relu(x)
    return x


def loss_fn(params: list[tuple[jax.Array, jax.Array]], x: jax.Array, y: jax.Array) -> jax.Array:
    logits = forward(params, x)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def make_epoch(batch: int, lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-7):  # type: ignore[no-untyped-def]
    grad = jax.value_and_grad(loss_fn)

    def step(carry, idx):  # type: ignore[no-untyped-def]
        params, m, v, t, x, y = carry
        loss, g = grad(params, x[idx], y[idx])
        t = t + 1
        m = jax.tree.map(lambda a, b: b1 * a + (1 - b1) * b, m, g)
        v = jax.tree.map(lambda a, b: b2 * a + (1 - b2) * b * b, v, g)
        alpha = lr * jnp.sqrt(1 - b2**t) / (1 - b1**t)
        params = jax.tree.map(lambda p, a, b: p - alpha * a / (jnp.sqrt(b) + eps), params, m, v)
        return (params, m, v, t, x, y), loss

    @jax.jit
    def epoch(params, m, v, t, x, y, key):  # type: ignore[no-untyped-def]
        n = (x.shape[0] // batch) * batch
        order = jax.random.permutation(key, x.shape[0])[:n].reshape(-1, batch)
        (params, m, v, t, _, _), losses = jax.lax.scan(step, (params, m, v, t, x, y), order)
        return params, m, v, t, losses.mean()

    return epoch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    from fashionlab.data import load_data

    (x_train, y_train), (x_test, y_test) = load_data()
    x = jnp.asarray(x_train.reshape(-1, 784) / 255.0, dtype=jnp.float32)
    y = jnp.asarray(y_train, dtype=jnp.int32)
    key = jax.random.PRNGKey(42)
    params = init(key, [784, 128, 10])
    m = jax.tree.map(jnp.zeros_like, params)
    v = jax.tree.map(jnp.zeros_like, params)
    t = jnp.zeros((), jnp.float32)
    epoch = make_epoch(args.batch)
    seconds = []
    for _ in range(args.epochs):
        key, sub = jax.random.split(key)
        start = time.perf_counter()
        params, m, v, t, loss = epoch(params, m, v, t, x, y, sub)
        loss.block_until_ready()
        seconds.append(time.perf_counter() - start)
    logits = forward(params, jnp.asarray(x_test.reshape(-1, 784) / 255.0, dtype=jnp.float32))
    accuracy = float((np.asarray(logits).argmax(1) == y_test).mean())
    print(json.dumps({"seconds": seconds, "test_accuracy": accuracy, "device": jax.devices()[0].platform}))


if __name__ == "__main__":
    main()
