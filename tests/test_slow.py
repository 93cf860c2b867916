"""The tutorial config on all 60,000 images, as `make demo` trains it (about a minute on 2 cores)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CONFIGS, Cli


@pytest.mark.slow
def test_tutorial_on_full_data_reaches_the_tutorial_accuracy(cli: Cli) -> None:
    result = cli("train", "--json", "--config", str(CONFIGS / "tutorial.yaml"))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["epochs"] == 10
    assert data["test"]["accuracy"] >= 0.87  # the TensorFlow tutorial reports about 0.88
    prediction = json.loads(cli("predict", "--index", "0", "--json").stdout)
    assert prediction["predicted_name"] == "Ankle boot"
