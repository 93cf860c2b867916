"""Property-based tests: any override, grid or config text gives a valid config or a ConfigError."""

from __future__ import annotations

import contextlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fashionlab.config import Config, load_config
from fashionlab.errors import ConfigError
from fashionlab.experiments import plan as fplan

KEYS = st.sampled_from(
    ["epochs", "lr", "seed", "batch_size", "layers.1.units", "layers.0", "optimizer", "optimizer.momentum",
     "loss", "loss.from_logits", "validation_split", "input_shape", "layers", "units", "name", "layers.2.activation",
     "backend", "x", "layers.-1.units", "optimizer.name", "metrics", "train_samples", ""]
)  # fmt: skip
VALUES = st.one_of(
    st.text(max_size=12),
    st.integers(-5, 300).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(
        ["adam", "sgd", "[1,2]", "{a: 1}", "[]", "null", "true", "[28, 28]", "{dense: {units: 10}}", "- x", "'", "{"]
    ),
)
LEGAL = (Config, ConfigError)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(KEYS, VALUES), max_size=4))
def test_any_overrides_give_a_config_or_a_config_error(pairs: list[tuple[str, str]]) -> None:
    try:
        result = load_config(None, [f"{k}={v}" for k, v in pairs])
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        return
    assert isinstance(result, Config)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_override_text(text: str) -> None:
    with contextlib.suppress(ConfigError):
        load_config(None, [text])


GRID = st.one_of(
    st.text(max_size=20),
    st.builds(
        lambda f, a: f"{f}({a})", st.sampled_from(["range", "logspace", "choice", "int", ""]), st.text(max_size=12)
    ),
    st.lists(st.integers(-3, 50).map(str), max_size=4).map(",".join),
)


@settings(max_examples=300, deadline=None)
@given(KEYS, GRID)
def test_any_grid_gives_a_plan_or_a_config_error(key: str, grid: str) -> None:
    try:
        plan = fplan.expand([None], [f"{key}={grid}"])
    except ConfigError:
        return
    assert all(isinstance(t.config, Config) for t in plan.trials)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_any_yaml_text_gives_a_config_or_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with contextlib.suppress(ConfigError):
        load_config(path)


YAML_ATOMS = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 200), st.floats(allow_nan=True), st.text(max_size=8)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.sampled_from(["layers", "optimizer", "loss", "epochs", "input_shape", "name", "metrics"]),
        YAML_ATOMS,
        max_size=4,
    )
)
def test_any_yaml_structure_gives_a_config_or_a_config_error(tmp_path: Path, data: dict[str, object]) -> None:
    import yaml

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with contextlib.suppress(ConfigError):
        load_config(path)
