"""The lab's own network: a config picks classes and an image size, and every command follows it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fashionlab.config import load_config
from fashionlab.engine.inputs import prepare_data, resize, select
from fashionlab.errors import ConfigError
from fashionlab.store import RunStore
from tests.conftest import CONFIGS, Cli

FAST = ["epochs=3", "train_samples=4000", "test_samples=400"]


def test_classes_are_picked_and_relabelled() -> None:
    config = load_config(CONFIGS / "tiny.yaml")
    assert config.class_ids == [7, 9] and config.class_names == ["Sneaker", "Ankle boot"] and config.image_hw == (5, 5)
    images = np.zeros((4, 28, 28), dtype=np.uint8)
    labels = np.array([9, 3, 7, 9], dtype=np.uint8)
    kept, relabelled = select(images, labels, config)
    assert relabelled.tolist() == [1, 0, 1] and len(kept) == 3
    assert resize(np.full((2, 28, 28), 200, dtype=np.uint8), (5, 5)).shape == (2, 5, 5)
    split = prepare_data(load_config(CONFIGS / "tiny.yaml", ["train_samples=100", "test_samples=50"]))
    assert split.x_train.shape[1:] == (5, 5) and split.y_train.shape[1:] == (2,)  # one-hot for its 2 classes
    assert set(split.y_test.tolist()) <= {0, 1}
    assert load_config(None, ["classes=[0,1]"]).hash() != load_config(None).hash() == "e897707a"


def test_class_mistakes_are_named() -> None:
    with pytest.raises(ConfigError, match=r"classes: unknown class 'Snekaer'; did you mean 'Sneaker'\?"):
        load_config(None, ["classes=[Snekaer,Bag]"])
    with pytest.raises(ConfigError, match=r"a class is listed twice"):
        load_config(None, ["classes=[9,Ankle boot]"])
    with pytest.raises(ConfigError, match=r"the config's classes are 2 classes; end with .* units: 2"):
        from fashionlab.network import check_trainable

        check_trainable(load_config(None, ["classes=[Bag,Coat]"]))


def test_the_labs_network_trains_above_chance(cli: Cli, runs_dir: Path) -> None:
    result = cli("train", "--config", str(CONFIGS / "tiny.yaml"), *FAST, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["test"]["accuracy"] > 0.8  # chance is 0.5
    evaluation = json.loads(cli("evaluate", "--json").stdout)
    assert evaluation["class_names"] == ["Sneaker", "Ankle boot"] and len(evaluation["confusion_matrix"]) == 2
    prediction = json.loads(cli("predict", "--index", "0", "--json").stdout)
    assert list(prediction["probabilities"]) == ["Sneaker", "Ankle boot"] and prediction["true_name"] in {
        "Sneaker",
        "Ankle boot",
    }
    shown = cli("predict", "--index", "0")
    assert "0 Sneaker" in shown.stdout and "1 Ankle boot" in shown.stdout
    data = json.loads(cli("data", "--config", str(CONFIGS / "tiny.yaml"), "--json").stdout)
    assert data["class_names"] == ["Sneaker", "Ankle boot"] and data["splits"]["train"]["counts"] == [6000, 6000]
    assert data["splits"]["train"]["x_shape"] == [12000, 5, 5]
    deeper = cli("train", "--config", str(CONFIGS / "tiny-deeper.yaml"), *FAST, "--json")
    assert json.loads(deeper.stdout)["test"]["accuracy"] > 0.8
    assert len(RunStore(runs_dir).runs()) == 2
