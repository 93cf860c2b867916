"""The Python API as a notebook uses it: a real Jupyter kernel (nbclient) runs a small notebook that
imports keras first, trains, sweeps, compares (a pandas DataFrame), evaluates and predicts."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from fashionlab.store import RunStore

CELLS = [
    "import os, keras\nimport fashionlab as fl\nkeras.backend.backend()",
    "small = dict(epochs=1, train_samples=300, test_samples=100)\n"
    "result = fl.train(runs_dir=RUNS, **small)\n"
    "(type(result).__name__, str(result.run.status), round(result.test['accuracy'], 4), result.run.id)",
    "swept = fl.sweep('optimizer=adam,sgd', runs_dir=RUNS, **small)\n"
    "(type(swept).__name__, len(swept.runs), len(swept.failed))",
    "table = fl.compare(sweep=swept.plan.sweep_id, runs_dir=RUNS)\n"
    "(type(table).__name__, list(table['optimizer.name']), bool(table['test_accuracy'].is_monotonic_decreasing))",
    "scores = fl.evaluate(result.run, runs_dir=RUNS)\nround(scores['test_accuracy'], 4)",
    "guess = fl.predict(result.run.id, index=10, runs_dir=RUNS)\n(guess['index'], guess['true_name'], guess['predicted_name'], round(sum(guess['probabilities'].values()), 4))",
    "fl.load_run('latest', runs_dir=RUNS).id",
    "try:\n    fl.train(runs_dir=RUNS, backend='torch' if keras.backend.backend() != 'torch' else 'jax', **small)\n"
    "except fl.errors.FashionlabError as exc:\n    print(exc)",
]


def _run_notebook(tmp_path: Path, backend: str) -> tuple[list[list[str]], list[str]]:
    runs = tmp_path / "runs"
    source = [nbformat.v4.new_code_cell(f"RUNS = {str(runs)!r}")] + [nbformat.v4.new_code_cell(c) for c in CELLS]
    notebook = nbformat.v4.new_notebook(cells=source)
    env_before = dict(os.environ)
    os.environ["KERAS_BACKEND"] = backend  # the kernel inherits it, as from a notebook server started so
    try:
        NotebookClient(
            notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    out, shown = [], []
    for cell in notebook.cells[1:]:
        texts, displays = [], []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "execute_result":
                texts.append(output["data"]["text/plain"])
            elif output.get("output_type") == "stream" and output.get("name") == "stdout":
                texts.append(output["text"])
            elif output.get("output_type") == "display_data":  # what Rich shows in a notebook
                displays.append(output["data"].get("text/plain", ""))
        out.append(texts)
        shown.append("".join(displays))
    return out, shown


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])  # Keras's own default is TensorFlow
def test_a_notebook_trains_sweeps_compares_evaluates_and_predicts(tmp_path: Path, backend: str) -> None:
    from fashionlab.data import CLASS_NAMES

    out, shown = _run_notebook(tmp_path, backend)
    assert out[0] == [f"'{backend}'"]
    assert "epoch 1: loss" in shown[1]  # progress in the notebook: a line per epoch, a line per trial
    assert shown[2].count("Trial completed: ") == 1  # sgd; adam with these settings is the run trained above
    kind, status, accuracy, run_id = ast.literal_eval(out[1][0])
    assert (kind, status) == ("TrainResult", "completed")
    runs = RunStore(tmp_path / "runs")
    assert accuracy == pytest.approx(round(runs.load(run_id).metrics()["test"]["accuracy"], 4))
    assert ast.literal_eval(out[2][0]) == ("Swept", 2, 0)
    kind, optimizers, sorted_best_first = ast.literal_eval(out[3][0])
    assert kind == "DataFrame" and sorted(optimizers) == ["adam", "sgd"] and sorted_best_first
    assert float(out[4][0]) == pytest.approx(accuracy)
    index, true_name, predicted_name, total = ast.literal_eval(out[5][0])
    assert index == 10 and true_name in CLASS_NAMES and predicted_name in CLASS_NAMES and total == pytest.approx(1)
    assert ast.literal_eval(out[6][0]) in {r.id for r in runs.runs()}
    said = " ".join(out[7][0].split())
    assert f"this process already runs Keras on {backend} (Keras holds one backend per process)" in said
    assert "os.environ['KERAS_BACKEND'] = 'torch' before anything imports keras" in said
