"""A trained model's per-image test evidence, from its outputs: the answer, its probability and the log
probability of the true class (as Keras's cross-entropy computes it), stored in the run's images.npz."""

from __future__ import annotations

from typing import Any

import numpy as np

from fashionlab.store.images import ModelImages

EPSILON = 1e-7  # Keras's backend.epsilon(): cross-entropy on probabilities clips them to [eps, 1 - eps]


def model_images(outputs: np.ndarray, true: np.ndarray, kind: str, epoch: int) -> ModelImages:
    """`outputs` of a model whose last layer gives `kind` (network.output_kind) on images of classes `true`.
    Logits: a stable log-softmax; probabilities: normalized and clipped as Keras's loss does; scores: the
    answer only (confidence and log p(true) NaN: they are not probabilities)."""
    out = np.asarray(outputs, dtype=np.float64)
    true = np.asarray(true, dtype=np.int64)
    rows = np.arange(len(true))
    predicted = out.argmax(axis=1)
    if kind == "logits":
        shifted = out - out.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    elif kind == "probabilities":
        probs = out / np.maximum(out.sum(axis=1, keepdims=True), EPSILON)
        log_probs = np.log(np.clip(probs, EPSILON, 1 - EPSILON))
    else:
        nan = np.full(len(true), np.nan, dtype=np.float32)
        return ModelImages(epoch, true, predicted, nan, nan)
    confidence = np.exp(log_probs[rows, predicted]).astype(np.float32)
    return ModelImages(epoch, true, predicted, confidence, log_probs[rows, true].astype(np.float32))


def outputs(model: Any, loop: Any, k: int, x: np.ndarray) -> np.ndarray:
    """The model's outputs on `x` in inference mode: the fused loop's compiled forward pass (shared by the
    trials of one program) on JAX, model.predict otherwise."""
    if loop is not None:
        return loop.outputs(k, x)
    return np.asarray(model.predict(x, batch_size=512, verbose=0))
