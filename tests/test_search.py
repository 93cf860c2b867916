"""Optuna search with pruning: a real study on a slice of the real data; resuming a killed search."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fashionlab.errors import ConfigError
from fashionlab.experiments import search as fsearch
from fashionlab.experiments.grammar import Distribution, parse_space, parse_values
from fashionlab.store import RunStore
from tests.conftest import Cli

DATA = ["train_samples=1000", "test_samples=100", "epochs=3"]


def test_search_syntax_shares_the_sweep_grammar() -> None:
    assert parse_space("loguniform(1e-4,1e-1)", "lr") == Distribution("loguniform", 0.0001, 0.1)
    assert parse_space("int(16,256)", "units") == Distribution("int", 16, 256)
    assert parse_space("choice(adam,sgd)", "optimizer") == ["adam", "sgd"]
    assert parse_space("[1,2,3]", "epochs") == [1, 2, 3]
    with pytest.raises(ConfigError, match=r"loguniform needs low > 0"):
        parse_space("loguniform(0,1)", "lr")
    with pytest.raises(
        ConfigError, match=r"is a range to search, not a list of values; use 'fashionlab search lr=uniform\(0,1\)'"
    ):
        parse_values("uniform(0,1)", "lr")


def test_plan_checks_both_ends_of_every_range() -> None:
    with pytest.raises(ConfigError) as info:
        fsearch.plan_search(None, ["layers.1.units=int(0,10)"], "val_accuracy", "tpe", "none")
    assert info.value.problems == [
        "override 'layers.1.units=0': layers.1.dense.units: input should be greater than 0 (got 0)"
    ]


def test_search_with_median_pruning(cli: Cli, runs_dir: Path) -> None:
    result = cli(
        "search",
        "lr=loguniform(1e-5,1)",
        "optimizer=choice(adam,sgd)",
        *DATA,
        "--trials",
        "9",
        "--prune",
        "median",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    statuses = [t["status"] for t in data["trials"]]
    assert len(statuses) == 9 and set(statuses) <= {"completed", "pruned", "diverged"}
    assert "pruned" in statuses  # lr near 1e-5 or 1 cannot keep up with the median
    pruned = [r for r in RunStore(runs_dir).runs() if r.status == "pruned"]
    # stopped at an epoch boundary after the warm-up epoch and before the last, history kept
    assert pruned and all(len(r.history()) == 2 for r in pruned)
    assert data["best"]["value"] == max(t["value"] for t in data["trials"] if t["status"] == "completed")
    db = runs_dir / "sweeps" / f"{data['search']}.db"
    assert db.is_file()
    import optuna  # the study as Optuna's own client (and its dashboard) reads it: each trial names its run folder

    study = optuna.load_study(study_name=data["search"], storage=f"sqlite:///{db}")
    by_number = {t["number"]: t["run_id"] for t in data["trials"]}
    assert {t.number: t.user_attrs.get("fashionlab_run") for t in study.trials} == by_number
    assert all((runs_dir / run).is_dir() for run in by_number.values() if run)
    table = cli("compare", "--sweep", data["search"])
    assert table.exit_code == 0 and "pruned" in table.stdout


def test_killed_search_resumes_where_it_stopped(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    env = {**os.environ, "FASHIONLAB_RUNS": str(runs)}
    args = [sys.executable, "-m", "fashionlab", "search", "lr=loguniform(1e-4,1e-2)", *DATA, "--trials", "5", "--json"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and sum(r.status == "completed" for r in RunStore(runs).runs()) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {r.id for r in RunStore(runs).runs() if r.status == "completed"}
    assert 2 <= len(before) < 5
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    trials = json.loads(done.stdout)["trials"]
    completed = [r for r in RunStore(runs).runs() if r.status == "completed"]
    assert before <= {r.id for r in completed}  # nothing done before was trained again
    # the study holds 5 finished trials in the end, besides the one the kill cut, if any (asked again)
    assert sum(t["status"] == "completed" for t in trials) == 5 and len(trials) in (5, 6)
    assert len(completed) == sum(t["status"] == "completed" for t in trials)  # no proposal replayed, none lost
    assert {t["status"] for t in trials} <= {"completed", "interrupted"}  # the killed trial, if any


def test_search_errors(cli: Cli, runs_dir: Path) -> None:
    result = cli("search", "epochs=3")
    assert result.exit_code == 2
    assert result.stderr == "Error: a search needs at least one axis to search, e.g. 'lr=loguniform(1e-4,1e-1)'\n"
    result = cli("search", "lr=loguniform(1e-4,1e-1)", "--metric", "f1")
    assert result.exit_code == 6 and result.stderr.startswith(
        "Error: --metric f1 is not known; use val_accuracy, val_loss,"
    )
    result = cli("search", "lr=loguniform(1e-4,1e-1)", "--prune", "median", "--executor", "ray")
    assert result.exit_code == 6
    assert (
        result.stderr == "Error: --prune needs the local executor (it stops trials between epochs); drop one of them\n"
    )
    result = cli("search", "lr=loguniform(1e-4,1e-1)", "--batch", "4", "--population", "on", "--prune", "median")
    assert result.exit_code == 6 and result.stderr == (
        "Error: --population trains several trials as one program, which --prune (it stops trials one by one) and "
        "Ray (a task a trial) cannot; drop one of them\n"
    )
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_a_batch_of_one_program_trains_as_one_population_with_the_numbers_of_one_by_one(tmp_path: Path) -> None:
    """search --batch 4 --population on: the sampler's 4 trials train as one vmapped program (issue 38), each
    with the history and test numbers of its config trained alone, and the study is told each one's value."""
    from fashionlab import usecases
    from fashionlab.config import Source, validate

    items = ["lr=loguniform(1e-4,1e-2)", "seed=choice(1,2,3)", "epochs=2", "train_samples=600", "test_samples=200"]
    cli = Cli(tmp_path / "runs")
    result = cli("search", *items, "--sampler", "random", "--trials", "4", "--batch", "4", "--population", "on")
    assert result.exit_code == 0, result.output
    runs = RunStore(tmp_path / "runs").runs()
    assert len(runs) == 4 and all(r.status == "completed" and r.info.population == 4 for r in runs)
    record = json.loads(next((tmp_path / "runs" / "sweeps").glob("search-*.json")).read_text())
    values = {t["run_id"]: t["value"] for t in record["trials"]}
    for run in runs:
        alone = usecases.train(validate(run.info.config, Source(None, {})), tmp_path / f"alone-{run.id}").result
        got = [{k: v for k, v in row.items() if k != "seconds"} for row in run.history()]
        want = [{k: v for k, v in row.items() if k != "seconds"} for row in alone.run.history()]
        assert len(got) == 2 and all(a == pytest.approx(b, rel=1e-5) for a, b in zip(got, want, strict=True))
        assert run.metrics()["test"]["accuracy"] == pytest.approx(alone.test["accuracy"], rel=1e-5)
        assert values[run.id] == pytest.approx(alone.summary["best"]["val_accuracy"], rel=1e-5)  # what it was told


def test_an_interrupted_search_trial_continues_in_its_own_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    env = {**os.environ, "FASHIONLAB_RUNS": str(runs)}
    data = ["epochs=30", "train_samples=1000", "test_samples=100"]
    args = [sys.executable, "-m", "fashionlab", "search", "lr=loguniform(1e-4,1e-2)", *data, "--trials", "2", "--json"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not any(
        r.status == "running" and r.checkpoint_epoch() >= 2 for r in RunStore(runs).runs()
    ):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (cut,) = [r for r in RunStore(runs).runs() if r.status == "interrupted"]
    at = cut.checkpoint_epoch()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    again = RunStore(runs).read(cut.id)
    assert again.status == "completed" and again.info.resumed[-1]["from_epoch"] == at  # not from epoch 0
    assert all(r.status == "completed" for r in RunStore(runs).runs())  # nothing left orphaned
    trials = json.loads(done.stdout)["trials"]
    assert sum(t["status"] == "completed" for t in trials) == 2


def test_failed_trials_exit_1_and_a_rerun_trains_them_again(cli: Cli, runs_dir: Path) -> None:
    """A search whose trials failed once exited 0, and a rerun never retried them (they counted as done)."""
    args = ["search", "lr=loguniform(1e-4,1e-2)", "layers.1.units=1000000", *DATA, "--trials", "1", "--json"]
    first = cli(*args)
    assert first.exit_code == 1, first.output
    (trial,) = json.loads(first.stdout)["trials"]
    assert trial["status"] == "failed" and "memory" in trial["error"]
    again = cli(*args)
    assert again.exit_code == 1, again.output
    trials = json.loads(again.stdout)["trials"]
    assert [t["status"] for t in trials] == ["failed", "failed"]  # trained again, not counted as done
    assert trials[1]["values"] == trials[0]["values"]  # the same trial asked again first


def test_the_study_holds_every_epoch_of_every_trial(tmp_path: Path) -> None:
    """Optuna's dashboard draws a trial's intermediate values: each epoch, the last too, also without --prune."""
    import optuna

    cli = Cli(tmp_path / "runs")
    items = ["lr=loguniform(1e-4,1e-2)", "epochs=3", "train_samples=300", "test_samples=100"]
    result = cli("search", *items, "--sampler", "random", "--trials", "2")
    assert result.exit_code == 0, result.output
    db = next((tmp_path / "runs" / "sweeps").glob("search-*.db"))
    (name,) = optuna.get_all_study_names(f"sqlite:///{db}")
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
    runs = {r.id: r for r in RunStore(tmp_path / "runs").runs()}
    for trial in study.trials:
        history = runs[trial.user_attrs[fsearch.RUN_ATTR]].history()
        assert trial.intermediate_values == pytest.approx({int(r["epoch"]): r["val_accuracy"] for r in history})
        assert sorted(trial.intermediate_values) == [1, 2, 3]
