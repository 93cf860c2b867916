"""Populations (issue 16): trials of one program trained together by one vmapped step give each member
the history and test metrics of a separate run with its seed, on the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashionlab.config import load_config
from fashionlab.engine.fit import train, train_population
from fashionlab.engine.population import population_key
from fashionlab.store import RunStore


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
        alone = train(member, tmp_path / f"alone-{member.seed}")
        got, want = strip(outcome.run.history()), strip(alone.run.history())
        assert len(got) == member.epochs == len(want)
        for row_got, row_want in zip(got, want, strict=True):
            assert row_got == pytest.approx(row_want, rel=rel)
        assert outcome.test == pytest.approx(alone.test, rel=rel)
        assert outcome.run.info["population"] == 3 and outcome.run.status == "completed"
    assert len(RunStore(tmp_path / "population").runs()) == 3


def test_a_diverged_member_does_not_stop_the_others(tmp_path: Path) -> None:
    base = ["train_samples=600", "test_samples=100", "optimizer=sgd", "epochs=3"]
    members = [load_config(None, [*base, "lr=0.01"]), load_config(None, [*base, "lr=50"])]
    first, _ = train_population(members, tmp_path / "runs")
    assert first.run.status == "completed" and len(first.run.history()) == 3
    runs = {r.info["config"]["optimizer"]["learning_rate"]: r for r in RunStore(tmp_path / "runs").runs()}
    assert runs[50.0].status == "diverged" and len(runs[50.0].history()) == 1
