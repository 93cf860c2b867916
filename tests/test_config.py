"""Config loading, validation messages and key=value overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashionlab.config import DEFAULT_CONFIG, Config, load_config, parse_value
from fashionlab.errors import ConfigError
from tests.conftest import CONFIGS


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(path: Path | None, *overrides: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, list(overrides))
    return info.value.problems


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_validate(path: Path) -> None:
    config = load_config(path)
    assert config.name == path.stem


def test_default_is_the_tensorflow_tutorial_model() -> None:
    config = load_config()
    assert config.resolved()["layers"] == [
        "flatten",
        {"dense": {"units": 128, "activation": "relu"}},
        {"dense": {"units": 10, "activation": None}},
    ]
    assert config.optimizer.name == "adam" and config.loss.name == "sparse_categorical_crossentropy"
    assert config.epochs == 10 and config.batch_size == 32 and config.input_shape == [28, 28]
    assert DEFAULT_CONFIG["name"] == "tutorial"


def test_every_problem_reported_at_once_with_file_line_path_and_hint(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: x\n"
        "epoch: 5\n"
        "layers:\n"
        "  - flaten\n"
        "  - dense: {units: 0, activaton: relu}\n"
        "  - dense: {units: 10, activation: softmx}\n"
        "optimizer: {name: adm, learning_rate: -1}\n"
        "loss: categorical_crosentropy\n"
        "validation_split: 1.5\n",
    )
    found = problems(path)
    f = str(path)
    assert found == [
        f"{f} line 2: epoch: unknown key 'epoch'; did you mean 'epochs'?",
        f"{f} line 4: layers.0: unknown layer 'flaten'; did you mean 'flatten'?",
        f"{f} line 5: layers.1.dense.units: input should be greater than 0 (got 0)",
        f"{f} line 5: layers.1.dense.activaton: unknown key 'activaton'; did you mean 'activation'?",
        f"{f} line 6: layers.2.dense.activation: unknown activation 'softmx'; did you mean 'softmax'?",
        f"{f} line 7: optimizer.name: unknown optimizer 'adm'; did you mean 'adam'?",
        f"{f} line 7: optimizer.learning_rate: input should be greater than 0 (got -1)",
        f"{f} line 8: loss.name: unknown loss 'categorical_crosentropy'; did you mean 'categorical_crossentropy'?",
        f"{f} line 9: validation_split: input should be less than 1 (got 1.5)",
    ]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("epochs=0", "override 'epochs=0': epochs: input should be greater than 0 (got 0)"),
        (
            "epochs=ten",
            "override 'epochs=ten': epochs: input should be a valid integer, unable to parse string as an integer (got 'ten')",
        ),
        (
            "validation_split=-0.1",
            "override 'validation_split=-0.1': validation_split: input should be greater than or equal to 0 (got -0.1)",
        ),
        (
            "optimizer=adamm",
            "override 'optimizer=adamm': optimizer.name: unknown optimizer 'adamm'; did you mean 'adam'?",
        ),
        ("loss=hinj", "override 'loss=hinj': loss.name: unknown loss 'hinj'; did you mean 'hinge'?"),
        (
            "layers.1.activation=rleu",
            "override 'layers.1.activation=rleu': layers.1.dense.activation: unknown activation 'rleu'; did you mean 'relu'?",
        ),
        ("layers.0=pool", "override 'layers.0=pool': layers.0: unknown layer 'pool'; did you mean 'maxpool2d'?"),
        (
            "layers.0=lstm",
            "override 'layers.0=lstm': layers.0: unknown layer 'lstm'; allowed: flatten, dense, dropout, conv2d, maxpool2d, batchnorm, reshape",
        ),
        (
            "backend=theano",
            "override 'backend=theano': backend: input should be 'jax', 'tensorflow' or 'torch' (got 'theano')",
        ),
        (
            "optimizer.momentun=0.9",
            "override 'optimizer.momentun=0.9': optimizer.momentun: adam has no argument 'momentun'; did you mean 'ema_momentum'?",
        ),
        (
            "optimizer.zzz=0.9",
            "override 'optimizer.zzz=0.9': optimizer.zzz: adam has no argument 'zzz'; allowed: learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency, ...",
        ),
    ],
)
def test_override_value_errors(override: str, message: str) -> None:
    assert problems(None, override) == [message]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("epochs", "override 'epochs' is not key=value (e.g. epochs=5 or optimizer.learning_rate=0.01)"),
        ("epoch=5", "unknown override key 'epoch'; did you mean 'epochs'?"),
        (
            "units=64",
            "override key 'units' is ambiguous: it could be layers.1.dense.units, layers.2.dense.units; use the full path",
        ),
        ("layers.7.units=3", "override 'layers.7.units=3': index 7 is out of range (there are 3 entries)"),
        ("layers.0.units=3", "override 'layers.0.units=3': layer 0 is 'flatten', which has no 'units'"),
        ("epochs.x=3", "override 'epochs.x=...': epochs is a value, not a section"),
        (
            "nonsense.x=1",
            "unknown override key 'nonsense.x'; allowed: name, seed, backend, data, input_shape, layers, optimizer, loss, metrics, validation_split, epochs, batch_size, ...",
        ),
    ],
)
def test_override_key_errors(override: str, message: str) -> None:
    assert problems(None, override) == [message]


def test_overrides_dotted_indexed_and_short() -> None:
    config = load_config(
        None, ["epochs=3", "lr=1e-3", "layers.1.units=64", "optimizer=sgd", "momentum=0.9", "batch_size=64"]
    )
    assert config.epochs == 3 and config.batch_size == 64
    assert config.layers[1].units == 64  # type: ignore[union-attr]
    assert config.optimizer.name == "sgd"
    assert config.optimizer.args() == {"learning_rate": 0.001, "momentum": 0.9}


def test_switching_optimizer_keeps_shared_arguments_only() -> None:
    config = load_config(CONFIGS / "sgd.yaml", ["optimizer=adam"])
    assert config.optimizer.args() == {"learning_rate": 0.01}  # momentum is not an adam argument


def test_full_layer_path_and_loss_alias() -> None:
    config = load_config(None, ["layers.1.dense.units=32", "loss=mse"])
    assert config.layers[1].units == 32  # type: ignore[union-attr]
    assert config.loss.name == "mean_squared_error" and not config.loss.sparse


def test_values_parse_as_yaml_with_scientific_floats() -> None:
    assert parse_value("1e-3") == 0.001
    assert parse_value("[1, 2]") == [1, 2]
    assert parse_value("adam") == "adam"
    assert parse_value("true") is True


def test_bad_yaml_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nlayers: [flatten\nepochs: 3\n")
    (message,) = problems(path)
    assert message.startswith(f"{path} line ")
    assert "not valid YAML" in message and "check the indentation and colons" in message


def test_missing_file() -> None:
    assert problems(Path("nope.yaml")) == [
        "config file nope.yaml not found; give a path, or the name of a shipped config (adam, cnn, deeper, mse, "
        "rmsprop, sgd, tiny, tiny-deeper, tutorial): 'fashionlab configs' describes them"
    ]


def test_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- a\n- b\n")
    assert problems(path) == [f"{path}: a config must be a mapping of keys (name:, layers:, epochs: ...), not list"]


def test_missing_layers_and_bad_layer_shape(tmp_path: Path) -> None:
    assert problems(write(tmp_path, "name: x\n")) == [f"{tmp_path / 'c.yaml'}: layers: missing required key 'layers'"]
    path = write(tmp_path, "layers:\n  - {dense: {units: 3}, flatten: null}\n", "d.yaml")
    assert problems(path) == [
        f"{path} line 2: layers.0: a layer is a name (- flatten) or one name with its settings (- dense: {{units: 10}})"
    ]


def test_resolved_config_round_trips_and_hash_ignores_name(tmp_path: Path) -> None:
    config = load_config(CONFIGS / "cnn.yaml")
    path = write(tmp_path, config.to_yaml(), "resolved.yaml")
    again = load_config(path)
    assert again.resolved() == config.resolved()
    assert again.hash() == config.hash()
    assert load_config(path, ["name=other"]).hash() == config.hash()
    assert load_config(path, ["seed=1"]).hash() != config.hash()


def test_config_model_is_strict_about_extra_keys() -> None:
    with pytest.raises(Exception):  # noqa: B017 - pydantic's own error, not ours
        Config.model_validate({"layers": ["flatten"], "bogus": 1})
