"""Populations (issue 16): trials of one program trained together by one vmapped step give each member
the history and test metrics of a separate run with its seed, on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fashionlab.config import load_config
from fashionlab.engine.fit import TrainPlan
from fashionlab.engine.fit import train as trained
from fashionlab.engine.programs import population_key
from fashionlab.store import RunStore
from tests.conftest import Cli, StopAfter, train_run


def train_population(members: list[Any], runs: Path, events: Any = None, continue_runs: bool = False) -> list[Any]:
    return trained(TrainPlan(members, RunStore(runs), events, continue_runs=continue_runs))


def strip(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


@pytest.mark.parametrize("config", [None, "configs/cnn.yaml"], ids=["tutorial", "cnn-with-dropout"])
def test_a_population_of_3_equals_3_separate_runs(tmp_path: Path, config: str | None) -> None:
    base = ["train_samples=600", "test_samples=200"] if config is None else ["train_samples=300", "test_samples=100"]
    members = [
        load_config(config, [*base, "seed=1", "lr=0.001", "epochs=3"]),
        load_config(config, [*base, "seed=2", "lr=0.003", "epochs=2"]),  # shorter: its prefix of the training
        load_config(config, [*base, "seed=3", "lr=0.002", "epochs=3"]),
    ]
    assert len({population_key(c) for c in members}) == 1
    together = train_population(members, tmp_path / "population")
    # vmapped dense layers sum as the separate runs do; vmapped convolutions (grouped) in another order,
    # which a few epochs grow to ~1e-4 relative
    rel = 1e-5 if config is None else 2e-3
    for member, outcome in zip(members, together, strict=True):
        alone = train_run(member, tmp_path / f"alone-{member.seed}")
        got, want = strip(outcome.run.history()), strip(alone.run.history())
        assert len(got) == member.epochs == len(want)
        for row_got, row_want in zip(got, want, strict=True):
            assert row_got == pytest.approx(row_want, rel=rel)
        assert outcome.test == pytest.approx(alone.test, rel=rel)
        assert outcome.run.info.population == 3 and outcome.run.status == "completed"
    assert len(RunStore(tmp_path / "population").runs()) == 3


def test_a_diverged_member_does_not_stop_the_others(tmp_path: Path) -> None:
    base = ["train_samples=600", "test_samples=100", "optimizer=sgd", "epochs=3"]
    members = [load_config(None, [*base, "lr=0.01"]), load_config(None, [*base, "lr=50"])]
    first, _ = train_population(members, tmp_path / "runs")
    assert first.run.status == "completed" and len(first.run.history()) == 3
    runs = {r.info.config["optimizer"]["learning_rate"]: r for r in RunStore(tmp_path / "runs").runs()}
    assert runs[50.0].status == "diverged" and len(runs[50.0].history()) == 1


def test_an_interrupted_population_resumes_exactly_in_its_own_runs(tmp_path: Path) -> None:
    base = ["train_samples=600", "test_samples=200", "epochs=4"]
    members = [load_config(None, [*base, f"seed={s}", f"lr=0.00{s}"]) for s in (1, 2, 3)]
    whole = train_population(members, tmp_path / "whole")
    runs = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        train_population(members, runs, StopAfter(2, real_signal=True))
    cut = RunStore(runs).runs()
    assert len(cut) == 3 and all(r.status == "interrupted" and r.checkpoint_epoch() == 2 for r in cut)  # all at 2
    resumed = train_population(members, runs, continue_runs=True)
    assert {r.id for r in RunStore(runs).runs()} == {r.id for r in cut}  # continued in place
    for done, alone in zip(resumed, whole, strict=True):
        assert done.run.info.resumed[-1]["from_epoch"] == 2
        assert strip(done.run.history()) == strip(alone.run.history()) and done.test == alone.test


def test_sweep_population_on_trains_one_program_and_gives_the_numbers_of_off(tmp_path: Path) -> None:
    items = ["lr=0.001,0.002", "epochs=1,2", "train_samples=600", "test_samples=100", "--repeats", "2"]
    on, off = Cli(tmp_path / "on"), Cli(tmp_path / "off")
    dry = on("sweep", "--dry-run", "--population", "on", *items)
    said = " ".join(dry.stdout.split())
    assert "8 to train in 4 trainings" in said and "train together as 1 population" in said
    assert on("sweep", "--population", "on", *items).exit_code == 0
    assert off("sweep", "--population", "off", "--jobs", "1", *items).exit_code == 0
    together = {r.info.config_hash: r for r in RunStore(tmp_path / "on").runs()}
    apart = {r.info.config_hash: r for r in RunStore(tmp_path / "off").runs()}
    assert together.keys() == apart.keys() and len(together) == 8
    for key, run in together.items():
        assert run.info.population == 4 and apart[key].info.population is None  # run.json says which
        for got, want in zip(strip(run.history()), strip(apart[key].history()), strict=True):
            assert got == pytest.approx(want, rel=1e-5)
    auto = Cli(tmp_path / "auto")("sweep", "--dry-run", *items)  # auto on this CPU: off
    assert "population" not in auto.stdout
    bad = on("sweep", "--population", "maybe", *items)
    assert bad.exit_code == 6 and bad.stderr == "Error: --population maybe is not known; use auto, on or off\n"
