"""Images and labels in the form a config's model takes them: scaled, shaped, split, encoded."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fashionlab.config import Config


@dataclass
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray  # always integer class ids
    y_test_model: np.ndarray  # the labels in the form the loss wants

    @property
    def validation(self) -> tuple[np.ndarray, np.ndarray] | None:
        return (self.x_val, self.y_val) if self.x_val is not None and self.y_val is not None else None


def to_model_input(images: np.ndarray, config: Config) -> np.ndarray:
    """uint8 images (n, h, w) -> float32 in [0, 1], resized to image_size, shaped as input_shape."""
    return (resize(images, config.image_hw).astype(np.float32) / 255.0).reshape((-1, *config.input_shape))


def resize(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 images resized to (height, width) by area averaging (PIL's box filter); as they are at 28x28."""
    if images.shape[1:3] == size:
        return images
    from PIL import Image

    height, width = size
    return np.stack(
        [np.asarray(Image.fromarray(img).resize((width, height), Image.Resampling.BOX)) for img in images]
    ).astype(np.uint8)


def select(images: np.ndarray, labels: np.ndarray, config: Config) -> tuple[np.ndarray, np.ndarray]:
    """The images of the config's classes, labelled 0..k-1 in the order the config lists them."""
    if config.classes is None:
        return images, labels
    ids = config.class_ids
    keep = np.isin(labels, ids)
    relabel = np.full(config.dataset.num_classes, -1, dtype=np.int64)
    relabel[ids] = np.arange(len(ids))
    return images[keep], relabel[labels[keep]].astype(labels.dtype)


def encode_labels(labels: np.ndarray, config: Config) -> np.ndarray:
    """Integer ids for sparse losses, one-hot rows for every other loss (categorical_crossentropy, mse, ...)."""
    if config.loss.sparse:
        return labels.astype(np.int32)
    return np.eye(config.num_classes, dtype=np.float32)[labels]


def prepare_data(config: Config) -> Split:
    """Load, subset, scale and split the data; the validation set is the last fraction, as Keras does."""
    (x_train, y_train), (x_test, y_test) = config.dataset.load()
    x_train, y_train = select(x_train, y_train, config)
    x_test, y_test = select(x_test, y_test, config)
    if config.train_samples:
        x_train, y_train = x_train[: config.train_samples], y_train[: config.train_samples]
    if config.test_samples:
        x_test, y_test = x_test[: config.test_samples], y_test[: config.test_samples]
    x = to_model_input(x_train, config)
    y = encode_labels(y_train, config)
    split_at = int(len(x) * (1 - config.validation_split))
    x_val = y_val = None
    if config.validation_split > 0:
        x, x_val, y, y_val = x[:split_at], x[split_at:], y[:split_at], y[split_at:]
    return Split(x, y, x_val, y_val, to_model_input(x_test, config), y_test, encode_labels(y_test, config))


def test_images_for(config: Config) -> tuple[np.ndarray, np.ndarray]:
    """The config's test images and integer labels (without decoding the training images)."""
    x_test, y_test = select(*config.dataset.load_test(), config)
    if config.test_samples:
        x_test, y_test = x_test[: config.test_samples], y_test[: config.test_samples]
    return x_test, y_test
