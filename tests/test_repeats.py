"""Seeds as repeats of one setting: grouped numbers equal the runs' own, statistics equal scipy's."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from scipy import stats

from fashionlab import metrics
from fashionlab.experiments.plan import expand
from fashionlab.store import RunStore
from tests.conftest import Cli

TINY = ["train_samples=300", "test_samples=100", "batch_size=64", "epochs=1"]


def test_welch_equals_scipy_on_fixed_inputs() -> None:
    a, b = [0.8691, 0.8783, 0.8675], [0.8512, 0.8440, 0.8601]
    result = metrics.welch(a, b)
    reference = stats.ttest_ind(a, b, equal_var=False)
    interval = reference.confidence_interval(0.95)
    assert result is not None
    assert result["p"] == pytest.approx(reference.pvalue, rel=1e-12)
    assert (result["low"], result["high"]) == pytest.approx((interval.low, interval.high), rel=1e-12)
    assert result["diff"] == pytest.approx(statistics.fmean(a) - statistics.fmean(b))
    assert metrics.welch([0.9], b) is None  # one seed: nothing to test
    assert metrics.mean_sd(a) == pytest.approx((statistics.fmean(a), statistics.stdev(a)))
    assert metrics.welch([0.5, 0.5], [0.5, 0.5]) == {"diff": 0.0, "low": 0.0, "high": 0.0, "p": 1.0}


def test_repeats_expand_into_seeds_that_still_share_epochs() -> None:
    plan = expand([None], ["optimizer=adam,sgd", "epochs=1,2", "repeats=3"])
    assert len(plan.trials) == 12 and plan.axes["seed"] == [42, 43, 44]
    assert len(plan.groups()) == 6  # one training per optimizer and seed, epochs shared
    assert {t.config.name for t in plan.trials} >= {"tutorial-optimizer=sgd-epochs=2-seed=44"}
    plain = expand([None], ["optimizer=adam", "epochs=1"]).trials[0]
    seeded = next(t for t in plan.trials if t.values == {"optimizer": "adam", "epochs": 1, "seed": 42})
    assert seeded.hash == plain.hash  # the first seed is the plain run: a rerun with --repeats reuses it


@pytest.fixture(scope="module")
def repeated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cli, str]:
    cli = Cli(tmp_path_factory.mktemp("repeats") / "runs")
    result = cli("sweep", "optimizer=adam,sgd", "--repeats", "2", *TINY)
    assert result.exit_code == 0, result.output
    return cli, next((cli.runs_dir / "sweeps").glob("*.json")).stem


def test_grouped_numbers_equal_the_runs(repeated: tuple[Cli, str]) -> None:
    cli, sweep_id = repeated
    records = json.loads(cli("compare", "--sweep", sweep_id, "--format", "json").stdout)["settings"]
    runs = RunStore(cli.runs_dir).runs()
    assert sorted(r.info.seed for r in runs) == [42, 42, 43, 43]
    by_optimizer: dict[str, list[dict[str, float]]] = {}
    for run in runs:
        summary = run.metrics()
        values = {"test": summary["test"]["accuracy"], "val": summary["summary"]["best"]["val_accuracy"]}
        by_optimizer.setdefault(run.info.config["optimizer"]["name"], []).append(values)
    assert [r["n"] for r in records] == [2, 2]
    for record in records:
        mine = by_optimizer[record["optimizer.name"]]
        assert record["test_accuracy_mean"] == pytest.approx(statistics.fmean(m["test"] for m in mine))
        assert record["test_accuracy_sd"] == pytest.approx(statistics.stdev(m["test"] for m in mine))
        assert record["test_accuracy_min"] == min(m["test"] for m in mine)
    best, other = records
    assert best["vs_best"] == "best"
    a = [m["test"] for m in by_optimizer[other["optimizer.name"]]]
    b = [m["test"] for m in by_optimizer[best["optimizer.name"]]]
    expected = metrics.welch(a, b)
    assert expected is not None and other["vs_best_p"] == pytest.approx(expected["p"])
    per_seed = json.loads(cli("compare", "--sweep", sweep_id, "--format", "json", "--per-seed").stdout)["runs"]
    assert len(per_seed) == 4 and all("run" in r for r in per_seed)
    rerun = json.loads(cli("sweep", "optimizer=adam,sgd", "--repeats", "2", *TINY, "--json").stdout)
    assert len(rerun["trials"]) == 4 and [s["n"] for s in rerun["settings"]] == [2, 2]


def test_grouped_table_reads(repeated: tuple[Cli, str]) -> None:
    cli, sweep_id = repeated
    text = " ".join(cli("compare", "--sweep", sweep_id).stdout.split())
    assert "one row per setting" in text and " ± " in text and "Welch's t-test" in text
    assert "best" in text and ("p=" in text or "p<0.001" in text)
    assert "tied" not in text and ("inconclusive" in text or "worse" in text)


def test_a_sweep_over_seed_is_the_same_thing() -> None:
    from fashionlab.results import RunSummary, Tested, results_of

    rows = [
        RunSummary(
            f"r{i}", "completed", {"optimizer.name": o, "seed": s}, seed=s, test=Tested(2, {"loss": 0.4, "accuracy": v})
        )
        for i, (o, s, v) in enumerate([("adam", 1, 0.88), ("adam", 2, 0.87), ("sgd", 1, 0.85), ("sgd", 2, 0.84)])
    ]
    res = results_of(rows)
    assert [(s.describe(), len(s.runs)) for s in res.settings] == [("optimizer=adam", 2), ("optimizer=sgd", 2)]
    expected = metrics.welch([0.85, 0.84], [0.88, 0.87])
    assert expected is not None and res.comparisons[0].p == pytest.approx(expected["p"])
    assert res.comparisons[0].agree == (2, 2)  # lower in both seeds


def test_train_repeats_and_the_one_seed_note(cli: Cli, runs_dir: Path) -> None:
    result = cli("train", "--repeats", "2", *TINY)
    assert result.exit_code == 0, result.output
    assert sorted(r.info.seed for r in RunStore(runs_dir).runs()) == [42, 43]
    assert "one row per setting" in result.stdout
    single = cli("sweep", "optimizer=adam,sgd", *TINY)
    assert "vs ★: one seed per setting, so no difference can be judged" in " ".join(single.stdout.split())


def test_curves_of_settings_have_bands(repeated: tuple[Cli, str], tmp_path: Path) -> None:
    cli, sweep_id = repeated
    banded, per_seed = tmp_path / "band.png", tmp_path / "seeds.png"
    assert cli("curves", "--sweep", sweep_id, "--out", str(banded)).exit_code == 0
    assert cli("curves", "--sweep", sweep_id, "--per-seed", "--out", str(per_seed)).exit_code == 0
    assert banded.stat().st_size > 10_000 and banded.read_bytes() != per_seed.read_bytes()


def test_train_repeats_keeps_tensorboard_and_mlflow(cli: Cli, runs_dir: Path, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = cli("train", "--repeats", "2", "--tensorboard", "--mlflow", "--mlflow-uri", uri, *TINY)
    assert result.exit_code == 0, result.output
    runs = RunStore(runs_dir).runs()
    assert len(runs) == 2 and all(r.info.config["tensorboard"] is True for r in runs)
    assert "Logged 2 runs to MLflow" in " ".join(result.stderr.split())


def test_repeats_whose_every_run_diverged_have_no_best(cli: Cli, runs_dir: Path) -> None:
    result = cli("train", "--repeats", "2", "optimizer=sgd", "lr=1e6", *TINY, "--json")
    assert result.exit_code == 1
    (setting,) = json.loads(result.stdout)["settings"]
    assert setting["vs_best"] is None and setting["test_accuracy_mean"] is None  # no test number: nothing is best
    table = cli("compare")
    said = " ".join(table.stdout.split())
    assert table.exit_code == 0 and "★ all runs" not in said and " all runs 2 - - " in said  # no star
    assert "vs best" not in table.stdout.splitlines()[1] + table.stdout.splitlines()[2]  # no column that ranks
    assert "no ★ and no vs best: no setting has a test acc (its runs diverged or failed)" in said
    stderr = " ".join(result.stderr.split())
    assert "0 of 2 trials completed (0 were already done), 2 diverged (a rerun trains them the same way" in stderr


def test_the_report_of_repeated_settings_says_what_its_curves_draw(repeated: tuple[Cli, str], tmp_path: Path) -> None:
    """Its caption said dots mark the best epoch; the mean ± sd figures draw none (issue 32)."""
    cli, sweep_id = repeated
    result = cli("report", "--sweep", sweep_id, "--out", str(tmp_path / "r.md"))
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r.md").read_text()
    assert "with a band of ± one sd" in text and "dots mark" not in text
