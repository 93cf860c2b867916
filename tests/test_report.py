"""The lab report says what the runs' own numbers say, and prints whole (tables included) to PDF."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fashionlab.store import RunStore
from fashionlab.views.observations import seconds
from fashionlab.views.plots import _group_label, _training_groups
from tests.conftest import Cli

TINY = ["train_samples=600", "test_samples=200", "batch_size=64"]


@pytest.fixture(scope="module")
def epochs_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cli, Path, str]:
    """`sweep epochs=1,3` (one shared training) and its Markdown report."""
    folder = tmp_path_factory.mktemp("report")
    cli = Cli(folder / "runs")
    assert cli("sweep", "epochs=1,3", *TINY).exit_code == 0
    sweep_id = next((cli.runs_dir / "sweeps").glob("*.json")).stem
    result = cli("report", "--sweep", sweep_id, "--out", str(folder / "report.md"))
    assert result.exit_code == 0, result.output
    return cli, folder, sweep_id


def _observations(text: str) -> list[str]:
    section = text.split("## Observations")[1].split("\n## ")[0]
    return [line[2:] for line in section.splitlines() if line.startswith("- ")]


def test_observations_use_each_trials_own_numbers(epochs_report: tuple[Cli, Path, str]) -> None:
    cli, folder, _ = epochs_report
    runs = {len(r.history()): r for r in RunStore(cli.runs_dir).runs()}
    test = {e: r.metrics()["test"] for e, r in runs.items()}
    last = {e: r.metrics()["summary"]["last"] for e, r in runs.items()}
    notes = _observations((folder / "report.md").read_text())
    best = max(test, key=lambda e: test[e]["accuracy"])
    assert notes[0] == (
        f"Highest test accuracy (picked after looking): epochs={best}, {test[best]['accuracy']:.4f} "
        f"(test loss {test[best]['loss']:.4f}; the model of its last epoch)."
    )
    other = 1 if best == 3 else 3
    assert notes[1].startswith(f"Next: epochs={other}, {test[other]['accuracy']:.4f} (")
    assert "the same training" in notes[1]
    points = abs(100 * (test[best]["accuracy"] - test[other]["accuracy"]))
    assert f"{points:.2f} points" in notes[1]
    assert f"than epochs={best}'s {test[best]['accuracy']:.4f}" in notes[1]  # the two numbers of the difference
    gaps = {e: last[e]["accuracy"] - last[e]["val_accuracy"] for e in last}
    widest = max(gaps, key=lambda e: gaps[e])
    if gaps[widest] > 0:
        assert f"is {100 * gaps[widest]:.1f} points (epochs={widest}: {last[widest]['accuracy']:.4f}" in notes[-2]
    longest = runs[3].metrics()["summary"]["seconds_total"]
    assert notes[-1] == f"Training took {seconds(round(longest, 1))} in all: 1 training for 2 trials."
    assert not any("0.0000" in n or "run(s)" in n for n in notes)


def test_report_table_is_compact_and_the_csv_complete(epochs_report: tuple[Cli, Path, str]) -> None:
    cli, folder, _ = epochs_report
    text = (folder / "report.md").read_text()
    assert "| id | epochs | test acc | vs ★ | test loss | best epoch | val_acc at best | overfit | time |" in text
    assert "Every column of every run: report_files/runs.csv." in text
    csv_lines = (folder / "report_files" / "runs.csv").read_text().splitlines()
    assert csv_lines[0].startswith("run,epochs,status,") and len(csv_lines) == 3
    assert {line.split(",")[0] for line in csv_lines[1:]} == {r.id for r in RunStore(cli.runs_dir).runs()}


def test_html_report_defaults_to_an_html_file(
    epochs_report: tuple[Cli, Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli, folder, sweep_id = epochs_report
    monkeypatch.chdir(folder)
    assert cli("report", "--sweep", sweep_id, "--html").exit_code == 0
    page = (folder / "report.html").read_text()
    assert page.startswith("<!doctype html>") and "@media print" in page and "<th>test acc</th>" in page


@pytest.mark.skipif(
    (shutil.which("chromium") is None or shutil.which("pdftotext") is None) and not os.environ.get("CI"),
    reason="needs Debian's chromium and poppler-utils (make browsers; required in CI)",
)
def test_html_report_prints_every_column_to_pdf(epochs_report: tuple[Cli, Path, str]) -> None:
    cli, folder, sweep_id = epochs_report
    page = folder / "print.html"
    assert cli("report", "--sweep", sweep_id, "--out", str(page), "--html").exit_code == 0
    pdf = folder / "report.pdf"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-pdf-header-footer",
         f"--user-data-dir={folder / 'profile'}", f"--print-to-pdf={pdf}", f"file://{page}"],
        capture_output=True, timeout=120,
    )  # fmt: skip
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout
    header = next(line for line in text.splitlines() if "test acc" in line and "overfit" in line)
    assert re.search(r"test acc\s+vs ★\s+test loss\s+best epoch\s+val_acc at best\s+overfit\s+time", header)
    for run in RunStore(cli.runs_dir).runs():
        assert f"{run.metrics()['test']['accuracy']:.4f}" in text


def test_curves_draw_a_shared_training_once(epochs_report: tuple[Cli, Path, str]) -> None:
    cli, _, _ = epochs_report
    runs = RunStore(cli.runs_dir).runs()
    (group,) = _training_groups(runs)
    assert [len(r.history()) for r in group] == [1, 3]
    label, own = _group_label(group, {group[0].id: "epochs=1", group[1].id: "epochs=3"})
    assert label == "(one training: epochs=1, epochs=3)" and own == ["epochs=1", "epochs=3"]


def test_a_run_two_sweeps_used_is_in_both_parts_of_the_report(cli: Cli) -> None:
    """A sweep's part once lost the runs another sweep reused ("Highest test accuracy: optimizer=rmsprop"
    under a title naming adam, whose runs had moved to the other part; issue 32)."""
    args = ["epochs=1", "train_samples=300", "test_samples=100"]
    assert cli("sweep", "lr=0.001,0.002", *args).exit_code == 0
    assert cli("sweep", "lr=0.001,0.003", *args).exit_code == 0  # reuses lr=0.001's run
    parts = json.loads(cli("report", "--format", "json").stdout)["parts"]
    assert len(parts) == 2
    for part in parts:
        assert len(part["runs"]) == 2, part["title"]
    shared = set.intersection(*({r["run"] for r in p["runs"]} for p in parts))
    assert len(shared) == 1


def test_the_report_shows_calibration_and_the_config_as_written(epochs_report: tuple[Cli, Path, str]) -> None:
    """A reliability diagram of the models compared, with each one's expected calibration error as the run's
    metrics.json measured it; the best run's config block keeps its lines (it once read `name: x\\nseed: 42`)."""
    import re

    cli, folder, _ = epochs_report
    text = (folder / "report.md").read_text()
    block = text.split("```yaml\n")[1].split("```")[0]
    assert "\\n" not in block and len(block.splitlines()) > 10 and "seed:" in block.splitlines()[1]
    section = text.split("## Calibration")[1]
    eces = dict(re.findall(r"(epochs=\d+) (\d\.\d{3})", section.split("\n\n")[1]))
    runs = {len(r.history()): r for r in RunStore(cli.runs_dir).runs()}
    assert eces == {f"epochs={e}": f"{r.metrics()['confidence']['kept']['ece']:.3f}" for e, r in runs.items()}
    figure = re.search(r"!\[Reliability diagram\]\((report_files/figure\d+\.png)\)", section)
    assert figure and (folder / figure.group(1)).read_bytes().startswith(b"\x89PNG")
