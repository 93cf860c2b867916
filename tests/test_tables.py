"""Every table at 80, 100 and 120 columns: nothing cut, every value shown complete, left-out columns named."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from fashionlab import datasets
from fashionlab.cli import common
from fashionlab.cli.common import rendered_width
from fashionlab.config import load_config
from fashionlab.data import summarize
from fashionlab.network import layer_rows
from fashionlab.results import collect, short_id
from fashionlab.store import RunStore
from fashionlab.views import compare, sweeps, tables
from tests.conftest import Cli

WIDTHS = (80, 100, 120)
TINY = ["train_samples=300", "test_samples=100", "batch_size=64"]


def render(renderable: Any, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def assert_complete(text: str, width: int, values: list[str]) -> None:
    assert "…" not in text, text
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width, text
    missing = [v for v in values if v not in text]
    assert not missing, f"{missing} not shown in full:\n{text}"


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cli, str]:
    """A finished sweep of 4 trials (2 optimizers x 2 epoch counts, one training per optimizer)."""
    cli = Cli(tmp_path_factory.mktemp("tables") / "runs")
    assert cli("sweep", "optimizer=adam,sgd", "epochs=1,2", *TINY).exit_code == 0
    return cli, next((cli.runs_dir / "sweeps").glob("*.json")).stem


@pytest.mark.parametrize("width", WIDTHS)
def test_comparison_fits_and_shows_numbers(swept: tuple[Cli, str], width: int) -> None:
    cli, sweep_id = swept
    selection = RunStore(cli.runs_dir).select(None, sweep_id, "all")
    res = collect(selection.runs, "best_val_accuracy", selection.axes)
    rows = res.runs
    keys = compare.compare_columns(rows, False, selection.axes)
    table, dropped = compare.compare_table(res, keys, "t", width, selection.axes)
    values = [f"{r.test_accuracy:.4f}" for r in rows] + [f"{r.test_loss:.4f}" for r in rows]
    values += [short_id(r, rows) for r in rows] + ["adam", "sgd", "optimizer", "epochs"]
    assert_complete(render(table, width), width, values)
    assert [c.key for c in dropped] == [c.key for c in dropped if c.priority >= 5]  # the important ones stay
    wide, none_dropped = compare.compare_table(res, keys, "t", None, selection.axes)
    assert none_dropped == [] and all(r.run in render(wide, rendered_width(wide)) for r in rows)  # --wide: full ids


def test_compare_names_what_it_left_out(swept: tuple[Cli, str], monkeypatch: pytest.MonkeyPatch) -> None:
    cli, sweep_id = swept
    monkeypatch.setattr(common.out, "width", 80)
    result = cli("compare", "--sweep", sweep_id)
    assert result.exit_code == 0 and "…" not in result.stdout
    footer = " ".join(result.stdout.split())
    assert "Not shown at 80 columns: status, val_acc_at_best, overfit, time and 9 more" in footer
    assert "(see them with --wide, --columns a,b,c or --format csv|md|json)" in footer
    picked = cli("compare", "--sweep", sweep_id, "--columns", "test_acc,optimizer,best_loss")
    header = " ".join(picked.stdout.splitlines()[1:3])
    assert "optimizer" in header and "best" in header and "val_acc" not in header and "Not shown" not in picked.stdout
    wide = cli("compare", "--sweep", sweep_id, "--wide")
    assert "Not shown" not in wide.stdout and "last" in wide.stdout
    bad = cli("compare", "--sweep", sweep_id, "--columns", "test_accurcy")
    assert (
        bad.exit_code == 6 and bad.stderr == "Error: --columns: no column 'test_accurcy'; did you mean test_accuracy?\n"
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_runs_and_dry_run_fit(swept: tuple[Cli, str], width: int) -> None:
    cli, _ = swept
    store = RunStore(cli.runs_dir)
    rows = [tables.run_row(r) for r in store.runs()]
    table, _ = tables.runs_table(rows, width)
    values = [tables.short_run_id(r["id"]) for r in rows] + ["completed"]  # name and hash: any unique part works
    values += [f"{r[k]:.4f}" for r in rows for k in ("test_accuracy", "test_loss")]  # the key numbers, at 80 too
    assert_complete(render(table, width), width, values)
    from fashionlab.experiments.plan import expand, preview

    ahead = preview(expand([None], ["optimizer=adam,sgd,rmsprop", "epochs=1,2", *TINY]), store)
    table, _ = sweeps.dry_run_table(ahead, width)
    assert_complete(render(table, width), width, [t.hash for t in ahead.plan.trials] + ["to train", "rmsprop"])


@pytest.mark.parametrize("width", WIDTHS)
def test_one_run_tables_fit(swept: tuple[Cli, str], width: int) -> None:
    cli, _ = swept
    run = RunStore(cli.runs_dir).load()
    metrics = run.metrics()
    train = tables.train_table(collect([run]), metrics["summary"], "jax")
    assert_complete(render(train, width), width, [run.id, f"{metrics['test']['accuracy']:.4f}"])
    cfg = load_config(Path("configs/cnn.yaml"))
    network = tables.network_table(layer_rows(cfg), cfg, "integer", True)
    assert_complete(render(network, width), width, ["conv2d", "maxpool2d", "total"])
    table = tables.data_table(summarize(datasets.get(None)))
    assert_complete(render(table, width), width, ["(60000, 28, 28)", "Ankle boot", "6,000"])


@pytest.mark.parametrize("width", WIDTHS)
def test_evaluation_fits_with_four_digit_counts(width: int) -> None:
    """The full test set has up to 1,000 images per class: every count and class name shows in full."""
    cm = [[1000 if i == j else (9 if j == 0 else 0) for j in range(10)] for i in range(10)]
    per_class = [{"precision": 0.9, "recall": 0.91, "f1": 0.905, "specificity": 0.99, "support": 1000}] * 10
    report = {
        "run": "20261127-000000-tutorial-12345678", "test_loss": 0.3, "test_accuracy": 0.9, "samples": 10000,
        "class_names": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                        "Bag", "Ankle boot"],
        "per_class": per_class, "confusion_matrix": cm,
        "macro": {"precision": 0.9, "recall": 0.91, "f1": 0.905, "specificity": 0.99},
    }  # fmt: skip
    text = render(tables.evaluate_tables(report), width)
    assert_complete(text, width, ["1000", "0 T-shirt/top", "9 Ankle boot", "specificity", "0.9900", "macro avg"])


def test_an_epoch_line_never_ends_a_line_inside_its_time() -> None:
    """At 80 columns epoch 10's line is 81 characters: it wraps between numbers, never in "(0.4 s)"."""
    from fashionlab.views.progress import TrainProgressBars

    console = Console(width=80, file=io.StringIO(), color_system=None, legacy_windows=False)
    bars = TrainProgressBars(console)
    bars.start("20261206-122840-tutorial-e897707a", 100, 10)
    for epoch in (10, 100):
        bars.epoch({"epoch": epoch, "loss": 0.2405, "accuracy": 0.9104, "val_loss": 0.3413,
                    "val_accuracy": 0.8808, "seconds": 0.4})  # fmt: skip
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "(0.4s)" in text and not any(line.rstrip().endswith(("(0.4", "(0.4 ")) for line in text.splitlines())


@pytest.mark.parametrize("lang", ["en", "es"])
@pytest.mark.parametrize("width", WIDTHS)
def test_one_prediction_fits_with_ten_class_names(width: int, lang: str) -> None:
    """predict --index 0: ten classes, in Spanish with the data set's names beside them ("Camiseta/top
    (T-shirt/top)"), and "<- predicted, true class": the bars give way, nothing is cut."""
    from fashionlab import i18n
    from fashionlab.data import CLASS_NAMES

    probabilities = {name: (0.998 if name == "Ankle boot" else 0.0002) for name in CLASS_NAMES}
    pred = {"run": "20261127-000000-tutorial-12345678", "index": 0, "pixels": [[0] * 28] * 28,
            "probabilities": probabilities, "predicted": 9, "predicted_name": "Ankle boot", "true": 9,
            "true_name": "Ankle boot", "correct": True}  # fmt: skip
    i18n.set_language(lang)
    text = render(tables.prediction_view(pred, color=False, columns=width), width)
    shown = ["99.8%", "9 Botín (Ankle boot)", "predicha, clase real"] if lang == "es" else ["99.8%", "9 Ankle boot"]
    assert_complete(text, width, [*shown, "█" * 10])
