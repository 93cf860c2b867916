"""Inside the network (issue 37, first part): the activations shown are Keras's own intermediate outputs and
a forward pass by hand; the weight pictures are the kernel reshaped as documented; the command's answer is
predict's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from fashionlab.store import RunStore
from tests.conftest import Cli


def test_the_activations_are_keras_intermediate_outputs_and_a_forward_pass_by_hand(trained: Cli) -> None:
    import keras

    from fashionlab.engine.inference import load_trained
    from fashionlab.engine.inputs import test_images_for, to_model_input
    from fashionlab.engine.inside import inside_run

    run = RunStore(trained.runs_dir).load()
    found = inside_run(run, index=7)
    config, model = load_trained(run, for_training=False)
    x_test, y_test = test_images_for(config)
    x = to_model_input(x_test[7:8], config)
    probe = keras.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])  # built here, again
    for ours, theirs in zip(found["layers"], probe(x, training=False), strict=True):
        np.testing.assert_allclose(ours["output"], np.asarray(theirs)[0], rtol=1e-5, atol=1e-6)
    flat = x.reshape(-1)  # the tutorial model by hand: Flatten, Dense(128, relu), Dense(10)
    (w1, b1), (w2, b2) = [(w["kernel"], w["bias"]) for w in found["weights"]]
    hidden = np.maximum(flat @ w1 + b1, 0)
    np.testing.assert_allclose(found["layers"][1]["output"], hidden, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(found["logits"], hidden @ w2 + b2, rtol=1e-4, atol=1e-4)
    probs = np.exp(found["logits"] - found["logits"].max())
    np.testing.assert_allclose(found["probabilities"], probs / probs.sum(), rtol=1e-5)
    assert found["true"] == int(y_test[7]) and found["predicted"] == int(np.argmax(found["probabilities"]))
    for unit in found["layers"][1]["dead"]:  # a dead unit gives 0 for this image too
        assert found["layers"][1]["output"][unit] == 0


def test_a_weight_picture_is_the_kernel_column_as_the_image(trained: Cli) -> None:
    from fashionlab.engine.inside import run_weights
    from fashionlab.views.inside import unit_images

    found = run_weights(RunStore(trained.runs_dir).load())
    name, pictures, units, total = unit_images(found) or ("", [], [], 0)
    kernel = found["weights"][0]["kernel"]
    _h, w = found["image_hw"]
    assert total == kernel.shape[1] == 128 and len(pictures) == 64 and name == found["weights"][0]["name"]
    for k in (0, 17, 63):
        u = units[k]
        for i, j in ((0, 0), (3, 20), (27, 27)):
            assert pictures[k][i, j] == kernel[i * w + j, u]  # pixel (i, j) is input i * width + j
    spread = [float(np.std(kernel[:, u])) for u in range(kernel.shape[1])]
    assert min(spread[u] for u in units) >= max(s for u, s in enumerate(spread) if u not in units)  # most varied


def test_inside_says_predicts_answer_and_draws(trained: Cli, tmp_path: Path) -> None:
    result = trained("inside", "--index", "10", "--json", "--out", str(tmp_path / "in.png"),
                     "--weights", str(tmp_path / "w.png"))  # fmt: skip
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    predicted = json.loads(trained("predict", "--index", "10", "--json").stdout)
    assert found["predicted"] == predicted["predicted"]
    np.testing.assert_allclose(found["probabilities"], list(predicted["probabilities"].values()), atol=1e-5)
    assert [layer["kind"] for layer in found["layers"]] == ["Flatten", "Dense", "Dense"]
    for png in ("in.png", "w.png"):
        assert (tmp_path / png).read_bytes().startswith(b"\x89PNG")
    said = trained("inside", "--index", "10")
    assert "argmax:" in said.stdout and "logits:" in said.stdout and "softmax:" in said.stdout
    nothing = trained("inside")
    assert nothing.exit_code != 0 and len(nothing.stderr.strip().splitlines()) == 1
    assert "give --index N or --image FILE" in nothing.stderr


@pytest.mark.parametrize("index", ["-1", "99999"])
def test_an_index_out_of_range_is_one_line(trained: Cli, index: str) -> None:
    result = trained("inside", "--index", index)
    assert result.exit_code != 0 and "--index" in result.stderr and "out of range" in result.stderr


def test_a_cnn_shows_its_filters_and_each_layer_matches_keras(cli: Cli) -> None:
    import keras

    from fashionlab.engine.inference import load_trained
    from fashionlab.engine.inputs import test_images_for, to_model_input
    from fashionlab.engine.inside import inside_run, run_weights
    from fashionlab.views.inside import unit_images

    assert cli("train", "--config", "cnn", "epochs=1", "train_samples=300", "test_samples=50").exit_code == 0
    run = RunStore(cli.runs_dir).load()
    found = run_weights(run)
    _name, pictures, _units, total = unit_images(found) or ("", [], [], 0)
    kernel = found["weights"][0]["kernel"]  # (3, 3, 1, 32)
    assert found["weights"][0]["kind"] == "Conv2D" and total == kernel.shape[3] == len(pictures)
    np.testing.assert_array_equal(pictures[5], kernel[:, :, :, 5].mean(axis=2))
    inside = inside_run(run, index=3)
    config, model = load_trained(run, for_training=False)
    x = to_model_input(test_images_for(config)[0][3:4], config)
    probe = keras.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    for ours, theirs in zip(inside["layers"], probe(x, training=False), strict=True):
        np.testing.assert_allclose(ours["output"], np.asarray(theirs)[0], rtol=1e-5, atol=1e-6)
    assert inside["layers"][0]["output"].shape[-1] == 32  # the first conv layer's 32 feature maps
    from fashionlab.views.inside import inside_png

    assert inside_png(inside).startswith(b"\x89PNG")  # its feature maps drawn as images
    said = cli("inside", "--index", "3").stdout
    assert f"{model.layers[0].name} (Conv2D): 32 feature maps of 26x26, the most active (mean)" in said


def test_a_run_keeps_epochs_1_2_5_10_and_their_weights_are_those_of_that_epoch(cli: Cli, tmp_path: Path) -> None:
    from fashionlab.store import files

    assert [e for e in range(1, 1001) if files.keeps_epoch(e)] == [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
    small = ["train_samples=300", "test_samples=50", "batch_size=32"]
    assert cli("train", *small, "epochs=5").exit_code == 0
    five = RunStore(cli.runs_dir).load()
    assert five.kept_epochs() == [1, 2]  # epoch 5 is its last: model.keras
    expected = {1: "1", 2: "2", five.info.best_weights_epoch: "best", 5: "last"}  # the last wins a tie
    assert five.weight_epochs() == [(name, n) for n, name in sorted(expected.items())]
    two_runs = Cli(tmp_path / "two")
    assert two_runs("train", *small, "epochs=2").exit_code == 0  # the same seed, stopped at epoch 2
    at_two = json.loads(cli("inside", five.id, "--index", "3", "--epoch", "2", "--json").stdout)
    two = json.loads(two_runs("inside", "--index", "3", "--json").stdout)
    np.testing.assert_allclose(at_two["logits"], two["logits"], rtol=1e-5, atol=1e-5)
    assert at_two["logits"] != json.loads(cli("inside", five.id, "--index", "3", "--json").stdout)["logits"]
    drawn = cli("inside", five.id, "--epoch", "1", "--weights", str(tmp_path / "w1.png"), "--best-too")
    assert drawn.exit_code == 0 and (tmp_path / "w1.png").read_bytes().startswith(b"\x89PNG")
    missing = cli("inside", five.id, "--index", "3", "--epoch", "3")
    assert missing.exit_code != 0 and len(missing.stderr.strip().splitlines()) == 1
    assert "kept no weights for epoch 3 (kept: 1, 2;" in missing.stderr
    unknown = cli("inside", five.id, "--index", "3", "--epoch", "soon")
    assert unknown.exit_code != 0 and "--epoch soon is not known; use last, best" in unknown.stderr
    (five.path / "epoch-0010.weights.npz").symlink_to("/dev/zero")  # not a file the run wrote: not listed
    os.mkfifo(five.path / "epoch-0020.weights.npz")
    (five.path / "epoch-3.weights.npz").write_bytes(b"")  # not a name the run writes
    assert five.kept_epochs() == [1, 2]
    five.reopen(1)  # a rerun from epoch 1 trains epoch 2 again: its kept weights go
    assert five.kept_epochs() == [1]


def test_layers_are_named_as_a_fresh_process_names_them_however_many_models_came_before() -> None:
    from fashionlab.config import load_config
    from fashionlab.engine.build import build_model

    for config in ("tutorial", "cnn", "tutorial"):  # a sweep trains many models in one process
        model = build_model(load_config(config))
        names = [layer.name for layer in model.layers]
        assert names == (["flatten", "dense", "dense_1"] if config == "tutorial" else
                         ["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "flatten", "dropout", "dense",
                          "dense_1"])  # fmt: skip
