"""Config -> Keras model, and the shapes `show` works out without Keras."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashionlab.config import load_config
from fashionlab.engine.build import build_model, make_loss
from fashionlab.errors import ConfigError
from fashionlab.network import check_trainable, from_logits, layer_rows
from tests.conftest import CONFIGS


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_static_shapes_and_params_match_keras(path: Path) -> None:
    config = load_config(path)
    model = build_model(config)
    rows = layer_rows(config)
    assert [tuple(layer.output.shape[1:]) for layer in model.layers] == [r.output_shape for r in rows]
    assert [layer.count_params() for layer in model.layers] == [r.params for r in rows]


def test_from_logits_is_inferred_from_last_activation() -> None:
    assert from_logits(load_config(CONFIGS / "tutorial.yaml")) is True
    assert from_logits(load_config(CONFIGS / "mse.yaml")) is False
    assert make_loss(load_config(CONFIGS / "tutorial.yaml")).get_config()["from_logits"] is True


def test_softmax_with_from_logits_is_explained() -> None:
    config = load_config(CONFIGS / "mse.yaml", ["loss=categorical_crossentropy", "loss.from_logits=true"])
    with pytest.raises(ConfigError, match=r"loss.from_logits is true but the last layer already applies softmax"):
        check_trainable(config)


def test_logits_without_from_logits_is_explained() -> None:
    config = load_config(None, ["loss.from_logits=false"])
    with pytest.raises(ConfigError, match=r"loss.from_logits is false but the last layer has no activation"):
        check_trainable(config)


def test_tiny_needs_its_image_size() -> None:
    config = load_config(CONFIGS / "tiny.yaml", ["image_size=null"])
    assert [r.output_shape for r in layer_rows(config)] == [(25,), (3,), (2,)]
    with pytest.raises(ConfigError, match=r"input_shape \[5, 5\] does not match the 28x28 images of Fashion-MNIST"):
        check_trainable(config)


def test_wrong_number_of_outputs() -> None:
    with pytest.raises(ConfigError, match=r"the network outputs shape \[4\] but Fashion-MNIST has 10 classes"):
        check_trainable(load_config(None, ["layers.2.units=4"]))


def test_conv_needs_channels() -> None:
    config = load_config(CONFIGS / "cnn.yaml", ["input_shape=[28, 28]"])
    with pytest.raises(ConfigError, match=r"layers.0 \(conv2d\) needs input of shape \(height, width, channels\)"):
        layer_rows(config)


def test_reshape_must_keep_the_count() -> None:
    config = load_config(None, ["layers.0={reshape: {target_shape: [28, 27, 1]}}"])
    with pytest.raises(
        ConfigError, match=r"cannot reshape \[28, 28\] \(784 values\) into \[28, 27, 1\] \(756 values\)"
    ):
        layer_rows(config)
