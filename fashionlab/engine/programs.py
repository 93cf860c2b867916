"""Which trainings compile to the same program (no framework imported here, so plans can ask cheaply).

A compiled step depends on the architecture, loss, metrics, the optimizer and its constant arguments and
the backend; not on the seed or the learning rate (state), the epochs or the data's size. Trials with the
same program reuse each other's compiled steps in a process (engine/loop.py), and trials with the same
population key (the program, the batch size and the data) can train together as one population.
"""

from __future__ import annotations

import json

from fashionlab.config import Config


def program(config: Config) -> str:
    """What the compiled steps depend on."""
    resolved = config.resolved()
    optimizer = {k: v for k, v in resolved["optimizer"].items() if k != "learning_rate"}
    keys = ("backend", "input_shape", "layers", "loss", "metrics", "classes", "image_size")
    return json.dumps({**{k: resolved.get(k) for k in keys}, "optimizer": optimizer}, sort_keys=True, default=str)


def population_key(config: Config) -> str | None:
    """Trials with equal keys can train as one population (one vmapped program on the same data); None
    where the config cannot (populations need JAX's fused loop)."""
    if config.backend != "jax" or not config.fused_loop:
        return None
    data = {k: getattr(config, k) for k in ("batch_size", "train_samples", "validation_split", "early_stopping")}
    return program(config) + json.dumps(data, sort_keys=True, default=str)
