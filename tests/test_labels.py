"""What a student reads is true and clear: names, hints, scores versus probabilities, shipped configs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fashionlab.config import load_config
from fashionlab.network import advice, output_kind
from fashionlab.store import RunStore
from fashionlab.views.tables import plural
from tests.conftest import SMALL, Cli

TINY = ["train_samples=300", "test_samples=100", "batch_size=64", "epochs=1"]


def test_option_that_is_a_config_key_says_how_to_set_it(cli: Cli) -> None:
    result = cli("train", "--epochs", "5")
    assert (
        result.exit_code == 6
        and "No such option: --epochs. Config keys are set as key=value: epochs=5" in result.output
    )
    assert "Config keys are set as key=value: lr=0.1" in cli("train", "--lr=0.1").output
    assert "Config keys" not in cli("train", "--nonsense").output  # a plain typo keeps click's own message


def test_sort_takes_the_tables_names_and_suggests(trained: Cli) -> None:
    assert trained("compare", "--sort", "test_acc", "--json").exit_code == 0
    bad = trained("compare", "--sort", "test_acuracy")
    assert bad.exit_code == 6 and bad.stderr.rstrip().endswith("; did you mean test_accuracy?")


def test_help_shows_list_syntax_and_no_bool_type(cli: Cli) -> None:
    sweep = " ".join(cli("sweep", "--help").stdout.split())
    assert "Values: a,b,c or [a,b,c];" in sweep and "<bool>" not in sweep


def test_english() -> None:
    assert plural(1, "epoch") == "1 epoch" and plural(3, "trial") == "3 trials"


def test_config_messages_point_the_right_way(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "layers:\n  - flatten: {input_shape: [28, 28]}\n  - dense: {units: 10}\nmetrics: [accuracy, precision]\n"
    )
    result = cli("show", "--config", str(path))
    assert result.exit_code == 2
    assert (
        f"{path} line 2: layers.0.flatten.input_shape: 'input_shape' is a top-level key of the config "
        "(beside layers:), not a setting here" in result.stderr
    )
    assert "'precision' is not a per-epoch metric here (only accuracy is)" in result.stderr
    assert "come from 'fashionlab evaluate'" in result.stderr
    path.write_text("layers:\n  - flatten: {units: 3}\n  - dense: {units: 10}\n")
    assert "unknown key 'units'; flatten takes no settings" in cli("show", "--config", str(path)).stderr


def test_predict_names_the_run_and_the_argmax(trained: Cli) -> None:
    (run,) = RunStore(trained.runs_dir).runs()
    latest = trained("predict", "--index", "0")
    assert latest.stderr.startswith(f"Latest completed run: {run.id}")
    assert re.search(r"Predicted [\w/ -]+ \(\d+\.\d%\): class \d, the argmax of the probabilities", latest.stdout)
    positional = trained("predict", run.id[-8:], "--index", "0", "--json")
    assert positional.exit_code == 0 and json.loads(positional.stdout)["run"] == run.id
    assert "Latest" not in positional.stderr
    both = trained("predict", run.id, "--run", "other", "--index", "0")
    assert both.exit_code == 6 and both.stderr == f"Error: RUN {run.id} and --run other name two runs; give one\n"


def test_sweep_runs_are_named_by_their_values_and_json_has_metrics(cli: Cli, runs_dir: Path) -> None:
    result = cli("sweep", "optimizer=adam,sgd", *TINY, "--json")
    assert result.exit_code == 0, result.output
    names = sorted(r.name for r in RunStore(runs_dir).runs())
    assert names == ["tutorial-optimizer=adam", "tutorial-optimizer=sgd"]
    trials = json.loads(result.stdout)["trials"]
    assert all(0 < t["metrics"]["test_accuracy"] <= 1 and "best_val_accuracy" in t["metrics"] for t in trials)
    rerun = cli("sweep", "optimizer=adam", *TINY)
    assert "1 of 1 trial completed (1 was already done)" in rerun.stderr  # the name does not change the trial


def test_shipped_configs_by_name(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    listed = json.loads(cli("configs", "--json").stdout)
    assert {c["name"] for c in listed} >= {"adam", "tutorial", "cnn"} and all(c["description"] for c in listed)
    shipped = cli("show", "--config", "adam")
    assert shipped.exit_code == 0 and "Network 'adam'" in shipped.stdout
    assert shipped.stderr.startswith("Config: using the shipped config adam (")
    (tmp_path / "adam.yaml").write_text("name: mine\nlayers: [flatten, {dense: {units: 10}}]\n")
    local = cli("show", "--config", "adam.yaml")
    assert "Network 'mine'" in local.stdout
    assert local.stderr.startswith("Config: using adam.yaml from this folder, not the shipped config adam")


def test_scores_are_not_called_probabilities(cli: Cli) -> None:
    plain_mse = load_config(None, ["loss=mse"])
    assert output_kind(plain_mse) == "scores" and output_kind(load_config(None)) == "logits"
    assert output_kind(load_config(Path("configs/mse.yaml"))) == "probabilities"
    assert [level for level, _ in advice(plain_mse)] == ["warning", "note"]
    trained = cli("train", "loss=mse", *SMALL)
    assert trained.exit_code == 0 and "Warning: loss mean_squared_error with no activation" in trained.stderr
    prediction = json.loads(cli("predict", "--index", "0", "--json").stdout)
    assert prediction["output"] == "scores" and prediction["probabilities"] is None and len(prediction["scores"]) == 10
    shown = " ".join(cli("predict", "--index", "0").stdout.split())
    assert "the argmax of the scores" in shown and "raw scores, not probabilities" in shown
    assert cli("train", *SMALL).exit_code == 0
    compared = " ".join(cli("compare").stdout.split())
    assert "train different losses (mean_squared_error, sparse_categorical_crossentropy)" in compared
