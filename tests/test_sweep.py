"""Sweeps: the grid syntax, expansion, shared epochs, resuming, failures, parallel trials, compare."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fashionlab import usecases
from fashionlab.config import load_config
from fashionlab.errors import ConfigError
from fashionlab.experiments import grammar
from fashionlab.experiments import plan as fplan
from fashionlab.experiments.sweep import run_sweep
from fashionlab.store import RunStore
from tests.conftest import CONFIGS, SMALL, Cli


def train(config: Any, runs: Path) -> Any:
    return usecases.train(config, runs).result


TINY = ["train_samples=400", "test_samples=100"]


def strip(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


@pytest.mark.parametrize(
    ("raw", "values"),
    [
        ("25,100,150", [25, 100, 150]),
        ("[25,100,150]", [25, 100, 150]),
        ("choice(25,100,150)", [25, 100, 150]),
        ("range(0,5,2)", [0, 2, 4]),
        ("range(3)", [0, 1, 2]),
        ("range(0.1,0.4,0.1)", [0.1, 0.2, 0.3]),
        ("logspace(-3,-1,3)", [0.001, 0.01, 0.1]),
        ("adam,sgd", ["adam", "sgd"]),
        ("[[28,28],[28,28,1]]", [[28, 28], [28, 28, 1]]),
        ("1e-3,1e-2", [0.001, 0.01]),
    ],
)
def test_grid_syntax(raw: str, values: list[object]) -> None:
    assert grammar.parse_values(raw, "k") == values


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("epochs=range(5,1)", "sweep axis 'epochs=range(5,1)': range(5, 1, 1) is empty (stop is excluded)"),
        ("epochs=range(1,5,0)", "sweep axis 'epochs=range(1,5,0)': the step of range cannot be 0"),
        ("lr=logspace(-3,-1)", "sweep axis 'lr=logspace(-3,-1)': logspace takes (a, b, n): n values from 10^a to 10^b"),
        (
            "lr=normal(0,1)",
            "sweep axis 'lr=normal(0,1)': unknown function 'normal'; use range(...), logspace(...), choice(...) or, with 'fashionlab search', uniform(...), loguniform(...), int(...)",
        ),
        ("epochs=1,,2", "sweep axis 'epochs=1,,2': an empty value; write values as a,b,c or [a,b,c]"),
        ("epochs=range(a,3)", "sweep axis 'epochs=range(a,3)': 'a' is not a number"),
    ],
)
def test_grid_syntax_errors(item: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        fplan.expand([None], [item])
    assert info.value.problems == [message]


def test_expand_is_the_cartesian_product_with_configs_as_an_axis() -> None:
    plan = fplan.expand(
        [str(CONFIGS / "tutorial.yaml"), str(CONFIGS / "deeper.yaml")], ["epochs=1,2", "lr=0.001,0.01", "batch_size=64"]
    )
    assert len(plan.trials) == 8
    assert list(plan.axes) == ["config", "epochs", "lr"]
    assert all(t.config.batch_size == 64 for t in plan.trials)
    assert plan.epochs_cost() == (2 * 4, 12)  # 4 trainings to 2 epochs instead of 1+2 per pair
    assert len(plan.groups()) == 4


def test_expand_reports_every_bad_value_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        fplan.expand([None], ["epochs=0,1,-2", "optimizer=adam,sgdd"])
    assert info.value.problems == [
        "override 'epochs=0': epochs: input should be greater than 0 (got 0)",
        "override 'optimizer=sgdd': optimizer.name: unknown optimizer 'sgdd'; did you mean 'sgd'?",
        "override 'epochs=-2': epochs: input should be greater than 0 (got -2)",
    ]


def test_axis_given_twice() -> None:
    with pytest.raises(
        ConfigError, match="sweep axis 'epochs' is given twice; list all its values in one: epochs=a,b,c"
    ):
        fplan.expand([None], ["epochs=1,2", "epochs=3"])


def test_sweep_id_is_stable() -> None:
    assert fplan.expand([None], ["epochs=1,2"]).sweep_id == fplan.expand([None], ["epochs=[2,1]"]).sweep_id


def test_epochs_trained_once_match_separate_runs(runs_dir: Path) -> None:
    """epochs=1,3 is one training to 3; the 1-epoch trial equals a separate 1-epoch train exactly."""
    plan = fplan.expand([None], ["epochs=1,3", *TINY])
    result = run_sweep(plan, runs_dir)
    assert not result.failed
    _, runs = RunStore(runs_dir).sweep_runs(plan.sweep_id)
    assert [len(r.history()) for r in runs] == [1, 3]
    assert runs[0].info.shared_training == [runs[1].id]
    separate = train(load_config(None, ["epochs=1", *TINY]), runs_dir / "separate")
    assert strip(runs[0].history()) == strip(separate.run.history())
    assert runs[0].metrics()["test"] == separate.test
    assert strip(runs[1].history())[:1] == strip(separate.run.history())


def test_rerun_skips_completed_and_retrains_missing(cli: Cli, runs_dir: Path) -> None:
    first = cli("sweep", "lr=0.001,0.002", "epochs=1", *TINY)
    assert first.exit_code == 0, first.output
    before = {r.id for r in RunStore(runs_dir).runs()}
    assert len(before) == 2
    again = cli("sweep", "lr=[0.001,0.002]", "epochs=1", *TINY)
    assert "2 already done, 0 to train" in again.stderr
    assert {r.id for r in RunStore(runs_dir).runs()} == before
    # a trial whose process died after saving its model and metrics is finished in place, not retrained
    victim = sorted(before)[0]
    info = json.loads((runs_dir / victim / "run.json").read_text())
    (runs_dir / victim / "run.json").write_text(json.dumps({**info, "status": "interrupted"}))
    model_written = (runs_dir / victim / "model.keras").stat().st_mtime_ns
    third = cli("sweep", "lr=0.001,0.002", "epochs=1", *TINY)
    said = " ".join(third.stderr.split())
    assert "1 already done, 1 to train" in said and "1 trial continues its interrupted run" in said
    assert "2 of 2 trials completed (1 was already done, 1 continued its interrupted run)" in said
    after = RunStore(runs_dir).runs()
    assert {r.id for r in after} == before and all(r.status == "completed" for r in after)
    assert (runs_dir / victim / "model.keras").stat().st_mtime_ns == model_written


def test_failed_trial_carries_on_and_fail_fast_stops(cli: Cli, runs_dir: Path) -> None:
    result = cli("sweep", "optimizer=sgd", "lr=50,0.01", "epochs=1", *TINY)
    assert result.exit_code == 1
    assert "diverged" in result.stdout and "completed" in result.stdout
    said = " ".join(result.stderr.split())
    assert "1 of 2 trials completed (0 were already done), 1 diverged (a rerun trains it the same way: lower the " \
        "learning rate)" in said  # fmt: skip
    (diverged,) = [r for r in RunStore(runs_dir).runs() if r.status == "diverged"]
    assert said.count(diverged.id) == 1 and f"Trial {diverged.id} diverged: loss " in said  # the run named once
    statuses = sorted(r.status for r in RunStore(runs_dir).runs())
    assert statuses == ["completed", "diverged"]
    record = json.loads(next((runs_dir / "sweeps").glob("*.json")).read_text())
    assert sorted(t["status"] for t in record["trials"]) == ["completed", "diverged"]
    assert record["state"] == "completed with failures"

    other = runs_dir.parent / "ff"
    ff = Cli(other)("sweep", "--fail-fast", "--jobs", "1", "optimizer=sgd", "lr=50,0.01", "epochs=1", *TINY)
    assert ff.exit_code == 1 and "stopped at the first failure" in ff.stderr
    assert [r.status for r in RunStore(other).runs()] == ["diverged"]


def test_dry_run_trains_nothing(cli: Cli, runs_dir: Path) -> None:
    result = cli("sweep", "--dry-run", "epochs=25,100,150")
    assert result.exit_code == 0
    assert "3 trials, 0 already done, 3 to train in 1 training (150 epochs instead of 275" in result.stdout
    assert not runs_dir.exists() or RunStore(runs_dir).runs() == []
    data = json.loads(cli("sweep", "--dry-run", "--json", "epochs=25,100,150").stdout)
    assert data["epochs_to_train"] == 150 and data["epochs_if_separate"] == 275


def test_jobs_2_gives_the_same_results_as_jobs_1(tmp_path: Path) -> None:
    items = ["lr=0.001,0.003", "epochs=2", *TINY]
    serial, parallel = Cli(tmp_path / "serial"), Cli(tmp_path / "parallel")
    assert serial("sweep", *items).exit_code == 0
    result = parallel("sweep", "--jobs", "2", *items)
    assert result.exit_code == 0, result.output
    by_hash = lambda d: {r.info.config_hash: strip(r.history()) for r in RunStore(d).runs()}  # noqa: E731
    assert by_hash(tmp_path / "serial") == by_hash(tmp_path / "parallel")


def test_killed_sweep_finishes_only_missing_trials(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    env = {**os.environ, "FASHIONLAB_RUNS": str(runs)}
    args = [
        sys.executable,
        "-m",
        "fashionlab",
        "sweep",
        "lr=0.001,0.002,0.003,0.004",
        "epochs=2",
        "train_samples=3000",
        "test_samples=100",
    ]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and sum(r.status == "completed" for r in RunStore(runs).runs()) < 1:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # its workers stop on their own (SIGTERM from the kernel when it died): a worker finishing a run's
    # model and metrics completes it first, so the count is taken once no run is still running
    deadline = time.time() + 60
    while time.time() < deadline and any(r.status == "running" for r in RunStore(runs).runs()):
        time.sleep(0.1)
    done_before = {r.info.config_hash: r.id for r in RunStore(runs).runs() if r.status == "completed"}
    assert 1 <= len(done_before) < 4
    rerun = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{len(done_before)} already done, {4 - len(done_before)} to train" in rerun.stderr
    completed = [r for r in RunStore(runs).runs() if r.status == "completed"]
    assert len(completed) == 4  # nothing trained twice
    assert all(done_before[h] in {r.id for r in completed} for h in done_before)
    leftovers = [r.status for r in RunStore(runs).runs() if r.status != "completed"]
    assert set(leftovers) <= {"interrupted"} and len(leftovers) <= 2  # the killed trainings, one per job


def test_compare_formats_and_columns(cli: Cli, runs_dir: Path) -> None:
    assert cli("sweep", "lr=0.001,0.01", "epochs=1", *TINY).exit_code == 0
    sweep_id = next((runs_dir / "sweeps").glob("*.json")).stem
    table = cli("compare", "--sweep", sweep_id)
    assert table.exit_code == 0
    header = " ".join(table.stdout.splitlines()[1:3]) + " "
    assert " lr " in header and "batch_size" not in header  # only what differs
    every = json.loads(cli("compare", "--sweep", sweep_id, "--all-columns", "--format", "json").stdout)["runs"]
    assert every[0]["batch_size"] == 32 and every[0]["layers.1.units"] == 128
    assert "★" in table.stdout
    records = json.loads(cli("compare", "--sweep", sweep_id, "--format", "json", "--sort", "test_loss").stdout)["runs"]
    assert [r["optimizer.learning_rate"] for r in records] != [] and records[0]["test_loss"] <= records[1]["test_loss"]
    csv_out = cli("compare", "--format", "csv").stdout.splitlines()
    assert csv_out[0].startswith("run,optimizer.learning_rate,status,epochs,loss,accuracy") and len(csv_out) == 3
    md = cli("compare", "--format", "md").stdout.splitlines()
    assert md[0].startswith("| run | optimizer.learning_rate |") and md[1].startswith("|---|")


def test_compare_errors(cli: Cli, runs_dir: Path) -> None:
    result = cli("compare")
    assert (
        result.exit_code == 4
        and result.stderr == f"Error: no runs yet in {runs_dir}/; train one with 'fashionlab train'\n"
    )
    assert cli("train", "epochs=1", *TINY).exit_code == 0
    bad = cli("compare", "--sort", "speed")
    assert bad.exit_code == 6 and bad.stderr.startswith("Error: --sort speed is not a metric; use one of epochs, loss")
    assert cli("compare", "--format", "xml").stderr == "Error: --format xml is not known; use table, csv, md or json\n"
    assert cli("compare", "--sweep", "nope").stderr.startswith(f"Error: no sweep 'nope' in {runs_dir / 'sweeps'}/")


def test_curves_for_runs_of_different_lengths(cli: Cli, runs_dir: Path, tmp_path: Path) -> None:
    assert cli("sweep", "epochs=1,3", *TINY).exit_code == 0
    ids = [r.id for r in RunStore(runs_dir).runs()]
    result = cli("curves", *ids, "--out", str(tmp_path / "c.png"))
    assert result.exit_code == 0 and (tmp_path / "c.png").stat().st_size > 20_000


def test_a_value_written_out_at_its_default_is_the_same_trial(trained: Cli, tmp_path: Path) -> None:
    """`lr=0.001` with adam is adam as it comes: one trial, one hash, so a sweep does not train it again."""
    assert load_config(None, ["lr=0.001"]).hash() == load_config(None, []).hash()
    assert load_config(None, ["lr=1e-3", "optimizer.beta_1=0.9"]).hash() == load_config(None, []).hash()
    assert (
        load_config(None, ["optimizer=sgd", "optimizer.momentum=0"]).hash()
        == load_config(None, ["optimizer=sgd"]).hash()
    )
    assert load_config(None, ["lr=0.002"]).hash() != load_config(None, []).hash()
    result = trained("sweep", "--dry-run", "lr=0.001,0.002", *SMALL)
    assert result.exit_code == 0, result.output
    assert "2 trials, 1 already done, 1 to train" in " ".join(result.stdout.split())


def test_runs_hashed_the_old_way_are_still_recognised(trained: Cli, tmp_path: Path) -> None:
    (run,) = RunStore(trained.runs_dir).runs()
    runs = tmp_path / "runs"
    shutil.copytree(run.path, runs / run.id)
    info = json.loads((runs / run.id / "run.json").read_text())
    info["config"]["optimizer"]["learning_rate"] = 0.001  # written out, as 0.6 hashed it: another hash
    info["config_hash"] = "0ld0ld00"
    del info["hash_scheme"]
    (runs / run.id / "run.json").write_text(json.dumps(info))
    result = Cli(runs)("sweep", "--dry-run", "lr=0.001,0.002", *SMALL)
    assert "2 trials, 1 already done, 1 to train" in " ".join(result.stdout.split())
    assert Cli(runs)("runs").exit_code == 0
