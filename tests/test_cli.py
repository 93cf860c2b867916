"""The CLI in-process: every command, its output streams, exit codes and error lines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import CONFIGS, SMALL, Cli, files_under


def assert_error(result, code: int, message: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr == f"Error: {message}\n"
    assert "Traceback" not in result.output


def test_help_lists_commands(cli: Cli) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("data", "show", "train", "evaluate", "predict", "runs"):
        assert command in result.stdout


def test_train_prints_table_and_writes_run(cli: Cli, runs_dir: Path) -> None:
    result = cli("train", "--config", str(CONFIGS / "adam.yaml"), *SMALL)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Run ") and "-adam-" in lines[0]
    assert any(line.startswith("│ last (2)") for line in lines)
    assert any(line.startswith("│ test ") for line in lines)
    assert "s/epoch after the first" in result.stdout and "on jax." in result.stdout
    assert "epoch 2: loss" in result.stderr  # progress goes to stderr
    (run_dir,) = runs_dir.iterdir()
    assert (run_dir / "model.keras").is_file()


def test_train_json(cli: Cli) -> None:
    result = cli("train", "--json", *SMALL)
    data = json.loads(result.stdout)
    assert data["summary"]["epochs"] == 2 and 0 < data["test"]["accuracy"] <= 1


def test_evaluate_latest(trained: Cli, tmp_path: Path) -> None:
    result = trained("evaluate", "--plot", str(tmp_path / "cm.png"))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "test loss" in out and "on 200 test images" in out
    for word in ("precision", "recall", "f1", "specificity", "macro avg", "Confusion matrix", "9 Ankle boot"):
        assert word in out
    assert (tmp_path / "cm.png").stat().st_size > 10_000


def test_evaluate_json_matches_train_metrics(trained: Cli) -> None:
    report = json.loads(trained("evaluate", "--json").stdout)
    (run,) = [p for p in trained.runs_dir.iterdir()]
    metrics = json.loads((run / "metrics.json").read_text())
    assert report["test_accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=1e-6)
    assert sum(map(sum, report["confusion_matrix"])) == 200
    assert report["accuracy"] == pytest.approx(report["test_accuracy"], abs=1e-6)


def test_predict_index(trained: Cli, tmp_path: Path) -> None:
    result = trained("predict", "--index", "0", "--plot", str(tmp_path / "p.png"))
    assert result.exit_code == 0, result.output
    assert "test image 0" in result.stdout
    assert "true label Ankle boot" in result.stdout
    assert result.stdout.count("%") >= 10
    assert (tmp_path / "p.png").stat().st_size > 5_000


def test_predict_json_is_consistent(trained: Cli) -> None:
    data = json.loads(trained("predict", "--index", "10", "--json").stdout)
    probs = data["probabilities"]
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
    assert data["predicted_name"] == max(probs, key=probs.get)
    assert data["true_name"] == "Coat" and data["correct"] == (data["predicted_name"] == "Coat")


def test_predict_image_file(trained: Cli, tmp_path: Path) -> None:
    from PIL import Image

    from fashionlab.data import load_data

    _, (x_test, _) = load_data()
    Image.fromarray(255 - x_test[0]).resize((100, 100)).save(tmp_path / "boot.png")
    result = trained("predict", "--image", str(tmp_path / "boot.png"), "--json")
    data = json.loads(result.stdout)
    assert data["inverted"] is True and data["true"] is None
    assert data["predicted_name"] in data["probabilities"]


def test_runs_lists_and_shows_broken(trained: Cli) -> None:
    broken = trained.runs_dir / "20000101-000000-broken-00000000"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")
    try:
        result = trained("runs")
        assert result.exit_code == 0
        assert "completed" in result.stdout and "broken (run.json is unreadable" in result.stdout
        rows = json.loads(trained("runs", "--json").stdout)
        assert [r["status"] for r in rows] == ["broken", "completed"]
    finally:
        shutil.rmtree(broken)


def test_show_table_and_drawing(cli: Cli, tmp_path: Path) -> None:
    result = cli("show", "--config", str(CONFIGS / "tiny.yaml"), "--draw", str(tmp_path / "net.png"))
    assert result.exit_code == 0, result.output
    assert "(25,)" in result.stdout and "│     78 │ relu" in result.stdout and "softmax" in result.stdout
    assert "In: 25 numbers per image" in result.stdout and "Out: 2 softmax outputs" in result.stdout
    assert (tmp_path / "net.png").stat().st_size > 10_000
    data = json.loads(cli("show", "--json", "--config", str(CONFIGS / "deeper.yaml")).stdout)
    assert [layer["params"] for layer in data["layers"]] == [0, 100480, 2064, 272, 170]


# ---------------------------------------------------------------- errors: one line, non-zero, nothing written


def test_missing_config_file(cli: Cli, runs_dir: Path) -> None:
    result = cli("train", "--config", "nope.yaml")
    assert_error(
        result,
        2,
        "config file nope.yaml not found; give a path, or the name of a shipped config (adam, cnn, deeper, mse, "
        "rmsprop, sgd, tiny, tiny-deeper, tutorial): 'fashionlab configs' describes them",
    )
    assert files_under(runs_dir) == []


def test_bad_yaml(cli: Cli, runs_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("epochs: [1\n")
    result = cli("train", "--config", str(tmp_path / "bad.yaml"))
    assert result.exit_code == 2 and "not valid YAML" in result.stderr and result.stderr.count("\n") == 1
    assert files_under(runs_dir) == []


def test_unknown_key_and_bad_value_reported_together(cli: Cli, runs_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("layers: [flatten, {dense: {units: 10}}]\nepoch: 3\nbatch_size: 0\n")
    result = cli("train", "--config", str(tmp_path / "c.yaml"))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: {tmp_path / 'c.yaml'} line 2: epoch: unknown key 'epoch'; did you mean 'epochs'?",
        f"Error: {tmp_path / 'c.yaml'} line 3: batch_size: input should be greater than 0 (got 0)",
    ]
    assert files_under(runs_dir) == []


def test_bad_override(cli: Cli, runs_dir: Path) -> None:
    assert_error(cli("train", "epochs=0"), 2, "override 'epochs=0': epochs: input should be greater than 0 (got 0)")
    assert files_under(runs_dir) == []


def test_train_refuses_tiny(cli: Cli, runs_dir: Path) -> None:
    result = cli("train", "--config", str(CONFIGS / "tiny.yaml"), "image_size=null")  # tiny's 5x5 input, 28x28 images
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: input_shape [5, 5] does not match the 28x28 images of Fashion-MNIST")
    assert files_under(runs_dir) == []


def test_no_runs_yet(cli: Cli) -> None:
    assert_error(cli("evaluate"), 4, f"no completed runs yet in {cli.runs_dir}/; train one with 'fashionlab train'")
    assert_error(
        cli("predict", "--index", "1"),
        4,
        f"no completed runs yet in {cli.runs_dir}/; train one with 'fashionlab train'",
    )


def test_unknown_run(trained: Cli) -> None:
    assert_error(
        trained("evaluate", "nosuchrun"), 4, f"no run 'nosuchrun' in {trained.runs_dir}/; 'fashionlab runs' lists them"
    )
    assert_error(
        trained("predict", "--run", "nosuchrun", "--index", "0"),
        4,
        f"no run 'nosuchrun' in {trained.runs_dir}/; 'fashionlab runs' lists them",
    )


def test_index_out_of_range(trained: Cli) -> None:
    assert_error(
        trained("predict", "--index", "10000"),
        6,
        "--index 10000 is out of range; the test set has 10000 images (0-9999)",
    )


def test_predict_needs_exactly_one_source(trained: Cli) -> None:
    assert_error(
        trained("predict"),
        6,
        "give one of --index N (test images: N, A:B or A,B,C), --image FILE (or a folder) or --errors N",
    )


def test_unreadable_image(trained: Cli, tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"\x89PNG garbage")
    result = trained("predict", "--image", str(tmp_path / "x.png"))
    assert_error(result, 3, f"cannot read image {tmp_path / 'x.png'} (UnidentifiedImageError); give a PNG or JPEG file")
    assert_error(
        trained("predict", "--image", str(tmp_path / "none.png")), 3, f"image {tmp_path / 'none.png'} not found"
    )


def test_model_file_from_elsewhere(trained: Cli, tmp_path: Path) -> None:
    (src,) = list(trained.runs_dir.iterdir())
    copy = trained.runs_dir / (src.name + "-copy")
    shutil.copytree(src, copy)
    try:
        (copy / "model.keras").write_bytes(b"PK not a keras file")
        (copy / "images.npz").unlink()  # a run without its per-image evidence: evaluate loads the model
        result = trained("evaluate", copy.name)
        assert result.exit_code == 5 and result.stderr.startswith(
            f"Error: run {copy.name}: model.keras cannot be loaded"
        )
    finally:
        shutil.rmtree(copy)


def test_debug_shows_traceback(cli: Cli) -> None:
    result = cli("--debug", "train", "epochs=0")
    assert result.exit_code != 0 and result.exception is not None


def test_predict_many_test_images_agrees_with_one_at_a_time(trained: Cli) -> None:
    many = json.loads(trained("predict", "--index", "0:20", "--json").stdout)
    rows = many["predictions"]
    assert [r["index"] for r in rows] == list(range(20))
    assert many["labelled"] == 20 and many["correct"] == sum(r["correct"] for r in rows)
    assert many["accuracy"] == pytest.approx(many["correct"] / 20)
    for i in (0, 7, 19):
        one = json.loads(trained("predict", "--index", str(i), "--json").stdout)
        assert one["predicted_name"] == rows[i]["predicted_name"] and one["true_name"] == rows[i]["true_name"]
        assert one["probabilities"] == pytest.approx(rows[i]["probabilities"], abs=1e-6)
    picked = json.loads(trained("predict", "--index", "3,7,9", "--json").stdout)
    assert [r["index"] for r in picked["predictions"]] == [3, 7, 9]
    table = trained("predict", "--index", "0:20", env={"COLUMNS": "80"})
    assert table.exit_code == 0 and all(len(line) <= 80 for line in table.stdout.splitlines())
    said = (
        f"Accuracy over 20 test images: {many['accuracy']:.3f} ({many['correct']} right, {20 - many['correct']} wrong)"
    )
    assert said in table.stdout
    csv_rows = trained("predict", "--index", "0:20", "--format", "csv").stdout.splitlines()
    assert csv_rows[0] == "index,image,predicted,probability,true,correct" and len(csv_rows) == 21


def test_predict_a_folder_of_images(trained: Cli, tmp_path: Path) -> None:
    from PIL import Image

    from fashionlab.data import load_data

    _, (x_test, _) = load_data()
    for i in range(3):
        Image.fromarray(255 - x_test[i]).resize((90, 90)).save(tmp_path / f"photo{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    data = json.loads(trained("predict", "--image", str(tmp_path), "--json").stdout)
    assert [Path(r["image_file"]).name for r in data["predictions"]] == ["photo0.png", "photo1.png", "photo2.png"]
    assert data["accuracy"] is None and all(r["true"] is None for r in data["predictions"])
    shown = trained("predict", "--image", str(tmp_path / "photo0.png"), "--image", str(tmp_path / "photo2.png"))
    assert shown.exit_code == 0 and "photo2.png" in shown.stdout and "Accuracy" not in shown.stdout


def test_evaluate_explain_defines_the_metrics_with_one_class_counts(trained: Cli) -> None:
    """The lab asks what precision, recall, F1 and specificity mean: each in one line, with the hardest class's
    counts from the confusion matrix, and the values the table shows (issue 33)."""
    report = json.loads(trained("evaluate", "--json").stdout)
    said = " ".join(trained("evaluate", "--explain").stdout.split())
    k = min(range(len(report["per_class"])), key=lambda i: report["per_class"][i]["f1"])
    cm, name, row = report["confusion_matrix"], report["class_names"][k], report["per_class"][k]
    called, actual, tp = sum(r[k] for r in cm), sum(cm[k]), cm[k][k]
    assert f"of the {called:,} images the model called {name}, {tp:,} are {name}" in said
    assert f"{tp:,}/{actual:,} = {row['recall']:.4f}" in said and f"= {row['f1']:.4f}" in said
    others = sum(map(sum, cm)) - actual
    assert f"of the {others:,} images that are not {name}" in said and f"{row['specificity']:.4f}." in said


def test_predict_explain_maps_the_tutorials_code_to_this_run(trained: Cli) -> None:
    """The lab asks what np.argmax(predictions[10]) and class_names[...] give: predict --explain says it with the
    run's own values (issue 33)."""
    found = json.loads(trained("predict", "--index", "10", "--json").stdout)
    said = " ".join(trained("predict", "--index", "10", "--explain").stdout.split())
    k, top = found["predicted"], max(found["probabilities"].values())
    assert f"np.argmax(predictions[10]) = {k}: the position of the largest, {top:.4f}." in said
    assert f"class_names[{k}] = '{found['predicted_name']}'." in said
    assert f"test_labels[10] = {found['true']} ('{found['true_name']}')" in said and "validation_split=" in said


def test_every_command_that_prints_a_result_takes_json(trained: Cli, tmp_path: Path) -> None:
    """README: every command that prints a result takes --json (schema prints JSON already; ui serves pages,
    and its JSON at /api)."""
    import typer

    from fashionlab.cli import app

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    lacking = [
        n
        for n, c in commands.items()
        if n not in ("schema", "ui") and "--json" not in [o for p in c.params for o in p.opts]
    ]
    assert not lacking
    curves = trained("curves", "--out", str(tmp_path / "c.png"), "--json")
    assert curves.exit_code == 0, curves.output
    assert json.loads(curves.stdout)["path"] == str(tmp_path / "c.png") and (tmp_path / "c.png").is_file()
    report = trained("report", "--json")
    assert report.exit_code == 0 and "parts" in json.loads(report.stdout)
    cache = trained("cache", "--json", env={"FASHIONLAB_CACHE": "off"})
    assert cache.exit_code == 0 and json.loads(cache.stdout) == {"path": None, "state": "off", "files": 0, "bytes": 0}
