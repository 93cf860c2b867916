"""A second data set through the seam (fashionlab/datasets): scikit-learn's bundled 8x8 handwritten digits,
`data: digits`, with data, show, train, evaluate, predict, sweep and report working on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fashionlab.config import load_config
from fashionlab.datasets import get
from fashionlab.store import RunStore
from tests.conftest import Cli

SMALL = ["data=digits", "epochs=3", "batch_size=32"]


@pytest.fixture(scope="module")
def digits_lab(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    cli = Cli(tmp_path_factory.mktemp("digits") / "runs")
    result = cli("train", *SMALL)
    assert result.exit_code == 0, result.output
    return cli


def test_the_data_set_reads_scikit_learns_file_split_the_same_way_every_time() -> None:
    digits = get("digits")
    (x, y), (x_test, _) = digits.load()
    assert x.shape == (1437, 8, 8) and x_test.shape == (360, 8, 8) and x.dtype == y.dtype == x_test.dtype
    assert int(x.max()) == 255 and int(x.min()) == 0 and sorted(set(y.tolist())) == list(range(10))
    assert digits.counts() == (
        [143, 146, 142, 146, 144, 145, 144, 143, 141, 143],
        [35, 36, 35, 37, 37, 37, 37, 36, 33, 37],
    )


def test_data_shows_the_digits(digits_lab: Cli) -> None:
    shown = json.loads(digits_lab("data", "digits", "--json").stdout)
    assert shown["data"] == "digits" and shown["class_names"] == [str(i) for i in range(10)]
    assert shown["splits"]["train"]["x_shape"] == [1437, 8, 8] and sum(shown["splits"]["test"]["counts"]) == 360
    assert "handwritten digits" in shown["about"]


def test_a_config_for_digits_takes_8x8_images_and_keeps_the_fashion_identities() -> None:
    config = load_config(None, ["data=digits"])
    assert config.input_shape == [8, 8] and config.image_hw == (8, 8) and config.num_classes == 10
    assert config.resolved()["data"] == "digits"
    default = load_config(None, [])
    assert "data" not in default.resolved()  # Fashion-MNIST's configs and hashes as before the seam
    assert load_config(None, ["data=fashion_mnist"]).hash() == default.hash() != config.hash()
    assert load_config(None, ["data=digits", "classes=[3,8]"]).class_names == ["3", "8"]


def test_show_train_evaluate_and_predict_on_digits(digits_lab: Cli, tmp_path: Path) -> None:
    shown = json.loads(digits_lab("show", *SMALL, "--json").stdout)
    assert shown["input_shape"] == [8, 8] and shown["layers"][0]["output_shape"] == [64]
    (run,) = RunStore(digits_lab.runs_dir).runs()
    assert run.resolved_config()["data"] == "digits" and run.metrics()["test"]["accuracy"] > 0.5
    trained = digits_lab("evaluate", "--json")
    evaluated = json.loads(trained.stdout)
    assert evaluated["samples"] == 360 and evaluated["class_names"] == [str(i) for i in range(10)]
    guess = json.loads(digits_lab("predict", "--index", "5", "--json").stdout)
    assert guess["true_name"] in [str(i) for i in range(10)] and len(guess["probabilities"]) == 10
    grid = digits_lab("predict", "--index", "0:6", "--plot", str(tmp_path / "grid.png"))
    assert grid.exit_code == 0 and (tmp_path / "grid.png").stat().st_size > 1000


def test_a_sweep_and_its_report_on_digits(digits_lab: Cli, tmp_path: Path) -> None:
    swept = digits_lab("sweep", "--jobs", "1", "optimizer=adam,sgd", *SMALL)
    assert swept.exit_code == 0, swept.output
    assert "360 test images leave accuracy uncertain" in " ".join(swept.output.split())  # its own test set
    report = digits_lab("report", "--out", str(tmp_path / "report.md"))
    assert report.exit_code == 0, report.output
    text = (tmp_path / "report.md").read_text()
    assert "\n# Digits lab report\n" in text and "the separate test set of Digits" in text


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (["data=digitz"], "unknown data set 'digitz'; did you mean 'digits'?"),
        (["data=digits", "classes=[Shirt,3]"], "unknown class 'Shirt'"),
        (["data=digits", "input_shape=[28,28]"], "does not match the 8x8 images of Digits"),
    ],
)
def test_a_wrong_data_set_or_class_is_refused_in_one_line(cli: Cli, overrides: list[str], says: str) -> None:
    result = cli("train", *overrides)
    assert result.exit_code == 2 and says in result.stderr and "Traceback" not in result.output, result.output
