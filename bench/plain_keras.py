"""The tutorial script as a student writes it ("Basic classification: Classify images of clothing").

    KERAS_BACKEND=tensorflow python bench/plain_keras.py --epochs 5

Prints one JSON line: seconds per epoch and test accuracy. The data is read with fashionlab's loader
(the same arrays keras.datasets.fashion_mnist.load_data() returns) since this machine has no network.
"""

import argparse
import json
import time

import keras

from fashionlab.data import load_data

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--batch", type=int, default=32)
args = parser.parse_args()

(train_images, train_labels), (test_images, test_labels) = load_data()
train_images = train_images / 255.0
test_images = test_images / 255.0

model = keras.Sequential(
    [
        keras.Input((28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10),
    ]
)
model.compile(
    optimizer="adam",
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)


class Timer(keras.callbacks.Callback):
    seconds: list[float] = []  # noqa: RUF012 - one timer per script run

    def on_epoch_begin(self, epoch, logs=None):  # type: ignore[no-untyped-def]
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):  # type: ignore[no-untyped-def]
        self.seconds.append(time.perf_counter() - self.start)


model.fit(train_images, train_labels, epochs=args.epochs, batch_size=args.batch, verbose=0, callbacks=[Timer()])
test_loss, test_acc = model.evaluate(test_images, test_labels, verbose=0)
print(json.dumps({"seconds": Timer.seconds, "test_accuracy": test_acc, "backend": keras.backend.backend()}))
