"""Every sentence from evidence: the results model's findings and verdicts, recomputed here from the run
files alone (history.csv, metrics.json, config.yaml), and every number in every observation traced back.

Three labs, trained for real on small slices: an epochs sweep (one training), an optimizer sweep with 3
seeds, and the tiny / tiny-deeper pair (different seeds: a confounded comparison), plus a dead network.
"""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
from pathlib import Path
from typing import Any

import pytest
import yaml
from scipy import stats

from fashionlab.results import Verdict, collect
from fashionlab.results.noise import SIGNIFICANT
from fashionlab.store import RunStore
from tests.conftest import CONFIGS, Cli

SLICE = ["train_samples=1200", "test_samples=400", "batch_size=64"]


class RunFiles:
    """One run read the plain way: csv, json and yaml, no fashionlab code."""

    def __init__(self, path: Path) -> None:
        self.id, self.path = path.name, path
        with (path / "history.csv").open() as fh:
            self.history = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]
        self.metrics = json.loads((path / "metrics.json").read_text())
        self.config = yaml.safe_load((path / "config.yaml").read_text())
        self.test = self.metrics["test"]
        self.shared = json.loads((path / "run.json").read_text()).get("shared_training") or []
        self.seconds = sum(row.get("seconds", 0.0) for row in self.history)

    @property
    def best(self) -> dict[str, float]:
        return min(self.history, key=lambda row: row["val_loss"])

    @property
    def wander(self) -> float | None:
        values = [row["val_accuracy"] for row in self.history]
        return statistics.stdev(values[len(values) // 2 :]) if len(values) >= 8 else None

    def numbers(self) -> set[str]:
        """Every number this run's files hold, as the sentences print them."""
        out: set[str] = set()
        for row in self.history:
            out |= {f"{v:.4f}" for v in row.values()} | {str(int(row["epoch"]))}
        for part in (self.test, self.metrics.get("test_at_best") or {}):
            out |= {f"{v:.4f}" for k, v in part.items() if k != "epoch"}
        k = len(self.config.get("classes") or range(10))
        out |= {str(k), f"{1 / k:.4f}", f"{math.log(k):.4f}", str(self.config["epochs"]), str(self.config["seed"])}
        out |= {str(d[key]) for d in self.metrics.get("dead_units", []) for key in ("dead", "units", "layer")}
        if self.wander is not None:  # the noise estimate's basis: the plateau's wander and the test set's size
            out.add(f"{100 * self.wander:.2f}")
        n = min(k * 1000, self.config.get("test_samples") or 10_000)
        p = self.test["accuracy"]
        return out | {f"{n:,}", f"{100 * math.sqrt(p * (1 - p) / n):.1f}"}


def _runs(cli: Cli) -> dict[str, RunFiles]:
    return {p.name: RunFiles(p) for p in sorted(cli.runs_dir.iterdir()) if (p / "metrics.json").is_file()}


def _report(cli: Cli, *args: str) -> dict[str, Any]:
    result = cli("report", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _traced(sentence: str, allowed: set[str]) -> list[str]:
    """The numbers in `sentence` that nothing allowed explains (digits inside names and ids are skipped)."""
    text = re.sub(r"\b[\w.-]*[a-z_][\w.-]*=[\w.-]+", "", sentence)  # key=value labels
    text = re.sub(r"\b(Dense|Conv2D|Dropout)\([^)]*\)|layer \d+|ln \d+|1/\d+|--repeats \d|\b[0-9a-f]{8}\b", "", text)
    found = re.findall(r"(?<![\w.])[-+]?\d+(?:\.\d+)?", text)
    return [n for n in found if n.lstrip("+-") not in allowed]


def _paired_numbers(found: dict[str, Any]) -> set[str]:
    """Every number of a paired comparison as sentences round it: counts, p, losses, confidences, shares."""
    out: set[str] = set()
    for value in found.values():
        if isinstance(value, dict):
            out |= _paired_numbers(value)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            out |= {str(value), f"{value:,}"}
        elif isinstance(value, float):
            out |= {f"{value:.4f}", f"{value:.3f}", f"{abs(value):.4f}", f"{abs(value):.3f}", f"{100 * value:.1f}"}
    return out


def _allowed(runs: dict[str, RunFiles], part: dict[str, Any]) -> set[str]:
    """What a sentence may say: the runs' own numbers, and what the comparisons and findings derive from them
    (each of which the tests below recompute from the same files)."""
    out = set().union(*(r.numbers() for r in runs.values()))
    for c in part["comparisons"]:
        out |= {f"{abs(c['diff']):.4f}", f"{100 * abs(c['diff']):.2f}", f"{100 * c['noise']:.1f}" if c["noise"] else ""}
        out |= {f"{c['p']:.3f}" if c["p"] is not None else "", str(c["seeds_needed"]), str(len(c["a_values"]))}
        out |= {f"{abs(c[k]):.4f}" for k in ("low", "high") if c[k] is not None}
        out |= {str(n) for n in c["agree"] or []}
        out |= {f"{statistics.fmean(c[k]):.4f}" for k in ("a_values", "b_values")}
    for f in part["findings"]:
        for value in f["numbers"].values():
            if isinstance(value, float):
                out |= {f"{value:.4f}", f"{value:.1f}", f"{100 * value:.2f}"}
            elif isinstance(value, int):
                out.add(str(value))
            elif isinstance(value, dict):  # the paired evidence of two models (test_paired recomputes it)
                out |= _paired_numbers(value)
    for c in part["comparisons"]:
        out |= _paired_numbers(c.get("paired") or {})
    for setting in part["settings"]:  # a setting's means, from its runs' own files
        mine = [runs[r].test for r in setting["runs"]]
        out |= {f"{statistics.fmean(t[k] for t in mine):.4f}" for k in ("loss", "accuracy")}
    for r in part["runs"]:
        if r["seconds"]:
            out |= {f"{r['seconds']:.1f}"}
        last = runs[r["run"]].history[-1]
        out.add(f"{100 * (last['accuracy'] - last['val_accuracy']):.1f}")
        out |= {str(r["epochs"]), str(r["best_epoch"])}
    trainings: dict[frozenset[str], float] = {}  # a shared training's time counted once
    for r in runs.values():
        key = frozenset([r.id, *r.shared])
        trainings[key] = max(trainings.get(key, 0.0), round(r.seconds, 1))
    out |= {f"{sum(trainings.values()):.1f}", str(len(trainings))}
    out |= {str(len(part["runs"])), "1", "2", "3", "5", "0.05", "95", "99"}  # counts, 5% and 95% of the tests, 99%
    from fashionlab.config.schema import OPTIMIZERS  # the optimizers' own defaults, said where they ran at them

    for r in runs.values():
        name = r.config.get("optimizer", {}).get("name") if isinstance(r.config.get("optimizer"), dict) else None
        for key in ("learning_rate", "momentum"):
            value = OPTIMIZERS.get(str(name), {}).get(key)
            if isinstance(value, float):
                out.add(f"{value:g}")
    return out


@pytest.fixture(scope="module")
def epochs_lab(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    cli = Cli(tmp_path_factory.mktemp("epochs") / "runs")
    result = cli("sweep", "epochs=3,10,16", "validation_split=0.2", *SLICE)
    assert result.exit_code == 0, result.output
    return cli


@pytest.fixture(scope="module")
def seeds_lab(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    cli = Cli(tmp_path_factory.mktemp("seeds") / "runs")
    result = cli("sweep", "optimizer=adam,sgd", "--repeats", "3", "epochs=2", *SLICE)
    assert result.exit_code == 0, result.output
    return cli


@pytest.fixture(scope="module")
def tiny_lab(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    cli = Cli(tmp_path_factory.mktemp("tiny") / "runs")
    for args in (["--config", "tiny", "epochs=4"], ["--config", "tiny-deeper", "seed=42", "epochs=4"]):
        result = cli("train", *args, "train_samples=1200", "test_samples=400")
        assert result.exit_code == 0, result.output
    return cli


def test_every_number_in_every_sentence_comes_from_the_run_files(
    epochs_lab: Cli, seeds_lab: Cli, tiny_lab: Cli
) -> None:
    for cli in (epochs_lab, seeds_lab, tiny_lab):
        runs = _runs(cli)
        (part,) = _report(cli)["parts"]
        allowed = _allowed(runs, part)
        for said in part["observations"]:
            assert not _traced(said, allowed), (said, _traced(said, allowed))
            for sentence in re.split(r"(?<=[.)])\s+(?=[A-Z])", said):  # short sentences, several to a point
                assert len(sentence) < 400, sentence


def test_overfitting_and_the_loss_lesson_recomputed(epochs_lab: Cli) -> None:
    runs = _runs(epochs_lab)
    (part,) = _report(epochs_lab)["parts"]
    longest = max(runs.values(), key=lambda r: len(r.history))
    best, last = longest.best, longest.history[-1]
    for finding in part["findings"]:
        n = finding["numbers"]
        if finding["kind"] == "overfitting":
            assert (n["best_epoch"], n["last_epoch"]) == (int(best["epoch"]), int(last["epoch"]))
            assert (n["val_loss_best"], n["val_loss_last"]) == pytest.approx((best["val_loss"], last["val_loss"]))
            assert (n["loss_best"], n["loss_last"]) == pytest.approx((best["loss"], last["loss"]))
            assert last["val_loss"] > 1.05 * best["val_loss"] and last["loss"] < best["loss"]
            at_best = longest.metrics["test_at_best"]
            assert at_best["epoch"] == int(best["epoch"])
            assert (n["test_accuracy_best"], n["test_loss_best"]) == pytest.approx(
                (at_best["accuracy"], at_best["loss"])
            )
            assert n["test_loss_last"] == pytest.approx(longest.test["loss"])
        if finding["kind"] == "loss_grew":
            ordered = sorted(runs.values(), key=lambda r: r.config["epochs"])
            assert n["test_loss"] == pytest.approx([r.test["loss"] for r in ordered])
            assert n["loss_ratio"] == pytest.approx(ordered[-1].test["loss"] / ordered[0].test["loss"])
            assert n["loss_ratio"] >= 1.5
            if n["paired"]:  # the shortest and the longest on their images
                first, final = (_model(_images(r.path), "kept") for r in (ordered[0], ordered[-1]))
                _check_two(n["paired"], first, final)
    one = [f for f in part["findings"] if f["kind"] == "one_training"]
    assert one and set(one[0]["runs"]) == set(runs)
    # the 'best epoch' is the same epoch for every trial of one training, so the default sort is test accuracy
    assert part["sort"] == "test_accuracy" and "lowest val_loss" in part["meaning"]["best_epoch"]
    ranked = [r["test_accuracy"] for r in part["runs"]]
    assert ranked == sorted(ranked, reverse=True)


def test_one_seed_differences_cannot_be_judged_and_borrow_no_spread(epochs_lab: Cli) -> None:
    """With one seed per setting nothing separates a setting from its seed (EVIDENCE.md): never better or
    worse, whatever the size; the noise said beside it is the runs' own (their val_accuracy's wander and
    the test set's size), never the tutorial model's seed spread (issue 32)."""
    runs = _runs(epochs_lab)
    (part,) = _report(epochs_lab)["parts"]
    for c in part["comparisons"]:
        pair = [runs[c["a_runs"][0]], runs[c["b_runs"][0]]]
        a, b = (r.test["accuracy"] for r in pair)
        sd = max([0.0, *(w for r in pair if (w := r.wander) is not None)])
        binomial = max(r.test["accuracy"] * (1 - r.test["accuracy"]) / 400 for r in pair)  # test_samples=400
        noise = 1.96 * math.sqrt(2 * (sd**2 + binomial))
        assert c["diff"] == pytest.approx(a - b) and c["noise"] == pytest.approx(noise)
        assert c["verdict"] == Verdict.CANNOT_JUDGE and c["p"] is None
        assert "seed_spread" not in c["basis"]
    result = epochs_lab("compare")
    said = " ".join(result.output.split())
    assert "so no difference can be judged" in said and "--repeats 3" in said and "tutorial model" not in said


def test_several_seeds_are_better_worse_or_inconclusive_never_tied(seeds_lab: Cli) -> None:
    runs = _runs(seeds_lab)
    (part,) = _report(seeds_lab)["parts"]
    (c,) = part["comparisons"]
    a = {runs[r].config["seed"]: runs[r].test["accuracy"] for r in c["a_runs"]}
    b = {runs[r].config["seed"]: runs[r].test["accuracy"] for r in c["b_runs"]}
    reference = stats.ttest_ind(list(a.values()), list(b.values()), equal_var=False)
    assert c["p"] == pytest.approx(reference.pvalue) and len(a) == len(b) == 3
    diff = statistics.fmean(a.values()) - statistics.fmean(b.values())
    if reference.pvalue < SIGNIFICANT:
        assert c["verdict"] == (Verdict.BETTER if diff > 0 else Verdict.WORSE)
    else:
        assert c["verdict"] == Verdict.INCONCLUSIVE
        assert c["agree"] == [sum((a[s] - b[s]) * diff > 0 for s in a), 3]
    text = " ".join(part["observations"])
    assert "tied" not in text and "equal" not in text
    table = seeds_lab("compare").output
    assert "tied" not in table and "n/a (1 seed)" not in table


def test_tiny_against_tiny_deeper_is_a_diff_of_layers_and_flagged_confounded(tiny_lab: Cli) -> None:
    runs = _runs(tiny_lab)
    (part,) = _report(tiny_lab)["parts"]
    kinds = {f["kind"]: f for f in part["findings"]}
    seeds = sorted(r.config["seed"] for r in runs.values())
    assert seeds == [1, 42]
    assert kinds["architecture"]["numbers"]["changes"] == ["added Dense(16, relu) twice"]
    assert sorted(s[0] for s in kinds["confounded"]["numbers"]["seeds"].values()) == seeds
    text = "\n".join(part["observations"])
    assert "tiny-deeper against tiny: added Dense(16, relu) twice." in text
    assert "also differ in seed" in text
    assert not any(line.startswith("Test accuracy (and test loss) by layers") for line in part["observations"])


def test_a_dead_network_is_at_chance_everywhere(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "runs")
    result = cli("train", "--config", str(CONFIGS / "tiny.yaml"), "seed=42", "epochs=3", "test_samples=400")
    assert result.exit_code == 0, result.output
    assert "learned nothing (chance level)" in result.output and "No clear overfitting" not in result.output
    (run,) = _runs(cli).values()
    k = len(run.config["classes"])
    near = abs(run.test["accuracy"] - 1 / k) <= max(3 * math.sqrt(0.25 / 400), 0.005)
    assert near or abs(run.test["loss"] - math.log(k)) < 0.01
    dead = run.metrics["dead_units"]
    assert dead and all(0 <= d["dead"] <= d["units"] for d in dead)
    predicted = cli("predict", "--index", "0")
    assert "this model is at chance" in predicted.output
    (part,) = _report(cli)["parts"]
    assert [f["kind"] for f in part["findings"]][:1] == ["chance"]


def test_two_class_runs_are_told_their_own_row_of_numbers(tiny_lab: Cli) -> None:
    text = (RunStore(tiny_lab.runs_dir).runs()[0]).path
    result = tiny_lab("show", "--config", "tiny")
    assert "a row of 2 numbers per image" in result.output and "row of 10" not in result.output
    assert text.is_dir()


def test_results_model_matches_the_json(seeds_lab: Cli) -> None:
    res = collect(RunStore(seeds_lab.runs_dir).runs())
    assert res.repeated and len(res.settings) == 2
    assert res.to_json()["comparisons"][0]["verdict"] in {v.value for v in Verdict}


def test_report_format_must_be_known(cli: Cli) -> None:
    result = cli("report", "--format", "pdf")
    assert result.exit_code != 0 and "--format pdf is not known; use md, html or json" in result.output
    assert "Traceback" not in result.output


def test_runs_of_different_tasks_are_never_ranked_together() -> None:
    from fashionlab.results import RunSummary, Tested, results_of
    from fashionlab.views.compare import legend
    from fashionlab.views.observations import observations

    rows = [
        RunSummary("a", "completed", {"name": "tutorial"}, seed=42, test=Tested(5, {"loss": 0.35, "accuracy": 0.87}), test_samples=10_000),
        RunSummary("b", "completed", {"name": "tiny", "classes": "[Sneaker, Ankle boot]"}, seed=1, classes=2,
                   image=(5, 5), test=Tested(3, {"loss": 0.2, "accuracy": 0.95}), test_samples=2_000),
    ]  # fmt: skip
    res = results_of(rows)
    assert res.comparisons == [] and [f.kind for f in res.findings] == ["tasks_differ"]
    assert observations(res) == [
        "These runs do different tasks (1 run: 2 classes of 5x5 images; 1 run: 10 classes of 28x28 images): their "
        "numbers are not comparable across tasks."
    ]
    assert legend(res).startswith("Sorted by test accuracy of the model each run kept, but no ★")


def test_tiny_yaml_says_what_seed_42_does(tmp_path: Path) -> None:
    """configs/tiny.yaml's comment (checked, issue 32): with seed 42 it sits at chance for its first epochs,
    then learns (it once said "stays at chance"; it reached 0.929)."""
    assert "with seed 42 it sits at chance for its first epochs, then learns" in (CONFIGS / "tiny.yaml").read_text()
    cli = Cli(tmp_path / "runs")
    result = cli("train", "--config", str(CONFIGS / "tiny.yaml"), "seed=42", "epochs=10", "test_samples=400")
    assert result.exit_code == 0, result.output
    (run,) = _runs(cli).values()
    accuracy = [row["val_accuracy"] for row in run.history]
    assert all(abs(a - 0.5) < 0.05 for a in accuracy[:3]), accuracy  # chance, two classes
    assert accuracy[-1] > 0.8 and run.test["accuracy"] > 0.8, accuracy


def test_one_config_and_seed_trained_twice_is_one_run_not_two_seeds(trained: Cli, tmp_path: Path) -> None:
    """The same config and seed trained twice once counted as "mean of 2 seeds, 0.8727 ± 0.0000", and its
    overfitting paragraph was said twice (issue 32)."""
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(trained.runs_dir, runs)
    (first,) = [p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")]
    again = runs / first.name.replace(first.name[:15], "29991231-235959")  # the same run, trained again later
    shutil.copytree(first, again)
    cli = Cli(runs)
    data = json.loads(cli("compare", "--format", "json").stdout)
    assert [r["run"] for r in data["runs"]] == [again.name]  # the newest stands for both
    (found,) = [f for f in data["findings"] if f["kind"] == "trained_again"]
    assert found["numbers"]["runs"] == [again.name, first.name] and found["numbers"]["identical"] is True
    shown = cli("compare").stdout
    assert "one run trained 2 times, counted once (the first), never as seeds: identical results" in " ".join(
        shown.split()
    )
    assert "seeds" not in data.get("settings", [{}])[0].get("label", "")


def test_seeds_needed_comes_from_a_t_based_power_computation() -> None:
    """Seeds per setting for 80% power at p < 0.05 (two-sided, two samples): the noncentral t gives Cohen's
    table (d = 1: 17, d = 0.5: 64, d = 0.8: 26), where the normal approximation gave fewer (issues 32, 34)."""
    from fashionlab.results.noise import seeds_needed, t_seeds

    assert (t_seeds(1.0), t_seeds(0.5), t_seeds(0.8)) == (17, 64, 26)
    assert t_seeds(0.01) is None  # past 1,000 seeds: nothing useful to suggest
    a, b = [0.80, 0.81, 0.82], [0.79, 0.80, 0.81]  # d = 1 (sd 0.01, difference 0.01)
    n = seeds_needed(a, b)
    df = 2 * n - 2
    shift = 1.0 * math.sqrt(n / 2)
    critical = stats.t.ppf(0.975, df)
    assert stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift) >= 0.8 and n == 17


def test_settings_that_compute_the_same_thing_are_identical_not_tested(cli: Cli) -> None:
    """Sparse and categorical crossentropy on the same labels train bit-identical runs: once reported
    "+0.0000 inconclusive, p=1.000"; now "identical", and no test is run (issue 32)."""
    args = ["loss=sparse_categorical_crossentropy,categorical_crossentropy", "epochs=1", "train_samples=300",
            "test_samples=100", "--config", str(CONFIGS / "adam.yaml")]  # fmt: skip
    assert cli("sweep", *args).exit_code == 0
    report = json.loads(cli("report", "--format", "json").stdout)
    (part,) = report["parts"]
    (c,) = part["comparisons"]
    a, b = (_runs(cli)[c[k][0]] for k in ("a_runs", "b_runs"))

    def timeless(rows: list[dict[str, float]]) -> list[dict[str, float]]:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]

    assert (a.test["loss"], a.test["accuracy"]) == (b.test["loss"], b.test["accuracy"])  # from the files: bit for bit
    assert timeless(a.history) == timeless(b.history)
    assert c["verdict"] == "identical" and c["p"] is None
    assert any("are identical: equal numbers on every seed" in o for o in part["observations"])


def test_holm_adjusts_the_comparisons_made_together() -> None:
    """Holm's step-down correction, recomputed by hand: the smallest p times m, the next times m - 1, kept
    monotone (issue 32: every setting against the best is one family of tests)."""
    from fashionlab.metrics import holm

    ps = [0.04, 0.01, 0.03, 0.5]
    assert holm(ps) == pytest.approx([0.09, 0.04, 0.09, 0.5])  # 0.01x4, max(0.03x3, .04), max(0.04x2, .09), .5
    assert holm([0.02]) == [0.02] and holm([]) == []


def test_an_optimizer_sweep_says_the_learning_rate_each_ran_at(cli: Cli) -> None:
    """`optimizer=sgd` in a sweep runs at Keras's default (lr 0.01, no momentum), unlike the shipped sgd
    config (momentum 0.9); nothing said so (issue 32)."""
    from fashionlab.config.schema import OPTIMIZERS

    assert cli("sweep", "optimizer=adam,sgd", "epochs=1", "train_samples=300", "test_samples=100").exit_code == 0
    data = json.loads(cli("compare", "--format", "json").stdout)
    (found,) = [f for f in data["findings"] if f["kind"] == "optimizer_settings"]
    by_name = {o["name"]: o for o in found["numbers"]["optimizers"]}
    assert by_name["sgd"]["learning_rate"] == [OPTIMIZERS["sgd"]["learning_rate"]] == [0.01]
    assert by_name["sgd"]["momentum"] == [0.0] and by_name["sgd"]["default"] is True
    assert by_name["adam"]["learning_rate"] == [0.001]
    said = " ".join(cli("compare").stdout.split())
    assert "sgd at learning rate 0.01 and momentum 0 (Keras's defaults)" in said


def test_a_mean_that_mixes_a_run_at_chance_with_working_ones_says_so() -> None:
    """tiny's seed 42 at chance beside seeds that learned: the setting's mean is said to mix them (issue 32)."""
    from fashionlab.results.collect import results_of
    from fashionlab.results.model import RunSummary, Tested

    def run(seed: int, accuracy: float, loss: float) -> RunSummary:
        config = {"name": "tiny", "seed": seed, "epochs": 3, "classes": ["Sneaker", "Ankle boot"]}
        return RunSummary(
            run=f"20261206-0000{seed}-tiny-abc{seed}", status="completed", config=config, seed=seed, classes=2,
            test=Tested(3, {"loss": loss, "accuracy": accuracy}), test_samples=400, epochs=3,
        )  # fmt: skip

    res = results_of([run(41, 0.93, 0.2), run(42, 0.5, math.log(2)), run(43, 0.92, 0.21)])
    (found,) = res.of("chance_in_mean")
    assert found.numbers == {"at_chance": ["20261206-000042-tiny-abc42"], "runs": 3}
    assert not results_of([run(41, 0.93, 0.2), run(43, 0.92, 0.21)]).of("chance_in_mean")


# ---------------------------------------------------------------- the evidence on the test images (issue 32)


def _images(run: Path) -> dict[str, Any]:
    """images.npz read the plain way: numpy alone."""
    import numpy as np

    with np.load(run / "images.npz", allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _model(images: dict[str, Any], which: str) -> dict[str, Any]:
    import numpy as np

    true, predicted = images["true"].astype(int), images[f"{which}_predicted"].astype(int)
    return {"epoch": int(images[f"{which}_epoch"]), "correct": predicted == true,
            "confidence": images[f"{which}_confidence"].astype(float),
            "loss": -images[f"{which}_log_p_true"].astype(float), "n": len(true)} | {"np": np}  # fmt: skip


def _confidence(m: dict[str, Any]) -> dict[str, Any]:
    np, wrong, conf = m["np"], ~m["correct"], m["confidence"]
    bins = np.clip(np.ceil(conf * 15).astype(int) - 1, 0, 14)
    ece = sum((bins == b).sum() / m["n"] * abs(m["correct"][bins == b].mean() - conf[bins == b].mean())
              for b in range(15) if (bins == b).any())  # fmt: skip
    return {"errors": int(wrong.sum()), "confidence_wrong": conf[wrong].mean(), "sure_errors": int((conf[wrong] > 0.99).sum()),
            "mean_loss": m["loss"].mean(), "ece": ece}  # fmt: skip


def _check_two(found: dict[str, Any], a: dict[str, Any], b: dict[str, Any]) -> None:
    """A paired comparison's numbers against McNemar (scipy's binomtest) and a paired t interval (ttest_rel)."""
    only_a, only_b = int((a["correct"] & ~b["correct"]).sum()), int((~a["correct"] & b["correct"]).sum())
    assert (found["mcnemar"]["only_a"], found["mcnemar"]["only_b"]) == (only_a, only_b)
    assert found["mcnemar"]["p"] == pytest.approx(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue, rel=1e-9)
    interval = stats.ttest_rel(a["loss"], b["loss"]).confidence_interval(0.95)
    assert found["loss"]["diff"] == pytest.approx((a["loss"] - b["loss"]).mean(), abs=1e-9)
    assert (found["loss"]["low"], found["loss"]["high"]) == pytest.approx((interval.low, interval.high), abs=1e-9)
    for side, m in (("a", a), ("b", b)):
        mine = _confidence(m)
        assert found[side]["errors"] == mine["errors"] and found[side]["sure_errors"] == mine["sure_errors"]
        for key in ("confidence_wrong", "mean_loss", "ece"):
            assert found[side][key] == pytest.approx(mine[key], abs=1e-9), key
    wa, wb = a["confidence"][~a["correct"]], b["confidence"][~b["correct"]]
    change = stats.ttest_ind(wb, wa, equal_var=False).confidence_interval(0.95)
    assert (found["confidence_wrong"]["low"], found["confidence_wrong"]["high"]) == pytest.approx(
        (change.low, change.high), abs=1e-9
    )
    assert found["loss_from_wrong_b"] == pytest.approx(((b["loss"] - a["loss"]) * ~b["correct"]).mean(), abs=1e-9)
    claimed = found["more_confident"]
    sure_a, sure_b = (m["np"].mean(m["confidence"][~m["correct"]] > 0.99) for m in (a, b))
    assert claimed is ((change.low > 0 and sure_b > sure_a) or (False if change.high < 0 and sure_b < sure_a else None))


def test_every_run_keeps_its_answers_on_each_test_image(epochs_lab: Cli) -> None:
    """images.npz: each test image's answer, its probability and log p(true) of the kept model; its accuracy
    and mean loss are the test numbers Keras measured, and metrics.json's confidence is recomputed from it."""
    for run in _runs(epochs_lab).values():
        kept = _model(_images(run.path), "kept")
        assert kept["n"] == 400 and (run.path / "images.npz").stat().st_size < 400 * 30
        assert kept["correct"].mean() == pytest.approx(run.test["accuracy"], abs=1e-6)
        assert kept["loss"].mean() == pytest.approx(run.test["loss"], rel=1e-4)
        stored, mine = run.metrics["confidence"]["kept"], _confidence(kept)
        assert stored["errors"] == mine["errors"] and stored["ece"] == pytest.approx(mine["ece"], abs=1e-9)


def test_the_best_epoch_against_the_kept_model_is_a_paired_test(epochs_lab: Cli) -> None:
    """Two checkpoints of one training are judged on the same images (McNemar, a paired loss interval), never
    with a band made for seeds; "more confident" only where the interval says so (issue 32, items 2 and 6)."""
    (part,) = _report(epochs_lab)["parts"]
    found = [f for f in part["findings"] if f["kind"] == "checkpoints"]
    assert found, "the 16-epoch run kept a best epoch before its last"
    for f in found:
        (run_id,) = f["runs"]
        images = _images(_runs(epochs_lab)[run_id].path)
        _check_two(f["numbers"], _model(images, "best"), _model(images, "kept"))
        said = [o for o in part["observations"] if "two models of one training" in o]
        assert said and "McNemar's exact test" in said[0] and "within the noise" not in said[0]


def test_one_seed_comparisons_say_what_the_images_say_of_the_two_models(epochs_lab: Cli, tiny_lab: Cli) -> None:
    """Two checkpoints of one training (the epochs sweep) and two one-seed runs of different configs (the tiny
    pair): the settings cannot be judged, the two models can, on their images (EVIDENCE.md)."""
    for lab in (epochs_lab, tiny_lab):
        (part,) = _report(lab)["parts"]
        runs = _runs(lab)
        paired = [c for c in part["comparisons"] if c["paired"]]
        assert paired and all(c["verdict"] == "cannot judge" for c in paired)
        for c in paired:
            a, b = (_model(_images(runs[c[k][0]].path), "kept") for k in ("a_runs", "b_runs"))
            _check_two(c["paired"], a, b)
        said = " ".join(part["observations"])
        assert "not about their settings" in said and "one seed per setting cannot judge the settings" in said


def test_more_confident_when_wrong_only_where_the_interval_and_the_share_above_99_say_so() -> None:
    """The lab's lesson ("the longer-trained model is more confident when it is wrong") is said only where the
    difference of mean confidence on wrong answers has a 95% interval above 0 and more errors are above 99%;
    the same numbers without the claim otherwise (EVIDENCE.md)."""
    import numpy as np

    from fashionlab import evidence
    from fashionlab.results.paired import more_confident
    from fashionlab.store.images import ModelImages
    from fashionlab.views.paired import two_models

    rng = np.random.default_rng(0)
    true = rng.integers(0, 10, 2000)
    predicted = np.where(rng.random(2000) < 0.85, true, (true + 1) % 10)

    def model(confidence: np.ndarray) -> ModelImages:
        right = predicted == true
        log_p = np.where(right, np.log(confidence), np.log((1 - confidence) / 9))
        return ModelImages(10, true, predicted, confidence.astype(np.float32), log_p.astype(np.float32))

    steady = rng.uniform(0.5, 0.9, 2000).astype(np.float32).astype(float)
    calm = model(steady)
    sure = model(rng.uniform(0.9, 0.9999, 2000))
    found = evidence.two_models(calm, sure)
    assert found is not None and more_confident(found) is True
    text = two_models({**found, "more_confident": more_confident(found)}, "the 25-epoch model", "the 150-epoch model")
    assert "the 150-epoch model is more confident when it is wrong" in text
    assert "0 images right only with" in text and "they are right on about as many images" in text  # same answers
    same = evidence.two_models(calm, model(steady.copy()))  # computed again: the same bits
    assert same is not None and same["identical"] and more_confident(same) is None
    text = two_models({**same, "more_confident": None}, "a", "b")
    assert "no clear change in confidence on wrong answers" in text and "more confident" not in text


def test_evaluate_reads_the_evidence_and_writes_it_once_for_an_older_run(epochs_lab: Cli) -> None:
    """An older run without images.npz is evaluated once and the file written: the same bytes' numbers as the
    training wrote (the same model, the same images)."""
    import numpy as np

    run = next(iter(_runs(epochs_lab).values())).path
    before = _images(run)
    (run / "images.npz").unlink()
    result = epochs_lab("evaluate", run.name, "--json")
    assert result.exit_code == 0, result.output
    after = _images(run)
    assert before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)
    assert json.loads(result.stdout)["test_accuracy"] == pytest.approx(_runs(epochs_lab)[run.name].test["accuracy"])


def test_evidence_that_is_not_the_runs_is_refused_in_one_line(epochs_lab: Cli, tmp_path: Path) -> None:
    import numpy as np

    run = next(iter(_runs(epochs_lab).values())).path
    saved = (run / "images.npz").read_bytes()
    try:
        np.savez(run / "images.npz", true=np.zeros(3), kept_epoch=np.array(1))
        result = epochs_lab("evaluate", run.name)
        assert result.exit_code == 5 and "images.npz does not hold one answer per test image" in result.output
        assert "fashionlab evaluate" in result.output and "Traceback" not in result.output
        (run / "images.npz").write_bytes(b"not a zip")
        result = epochs_lab("evaluate", run.name)
        assert result.exit_code == 5 and "images.npz is unreadable" in result.output
    finally:
        (run / "images.npz").write_bytes(saved)


def test_nearly_identical_models_are_compared_without_a_warning_failing_the_run() -> None:
    """A search trial once failed at its end: scipy warned "precision loss ... catastrophic cancellation" on two
    nearly identical models' losses, and warnings were errors (issue 32)."""
    import warnings

    import numpy as np

    from fashionlab import evidence
    from fashionlab.store.images import ModelImages

    true = np.arange(200) % 10
    confidence = np.full(200, 0.1, dtype=np.float32)
    log_p = np.full(200, np.log(0.1), dtype=np.float32)
    a = ModelImages(1, true, (true + 1) % 10, confidence, log_p)
    b = ModelImages(2, true, (true + 1) % 10, confidence, np.nextafter(log_p, np.float32(0)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = evidence.two_models(a, b)
    assert found is not None and found["mcnemar"]["only_a"] == found["mcnemar"]["only_b"] == 0


def _text_problems(fig: Any) -> list[str]:
    """Text that leaves the figure or covers other text, as matplotlib laid it out (drawn boxes, in pixels)."""
    from unittest import mock

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    canvas = FigureCanvasAgg(fig)  # fashionlab's figures have no pyplot canvas: laid out and drawn as savefig does
    drawn: list[Text] = []
    draw = Text.draw

    def record(self: Text, renderer: Any) -> None:  # the texts really drawn (not ticks outside the view)
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)
        draw(self, renderer)

    with mock.patch.object(Text, "draw", record):
        canvas.draw()
    renderer = canvas.get_renderer()
    page = fig.bbox
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in drawn]
    problems = [
        f"{text!r} leaves the figure"
        for text, b in boxes
        if b.x0 < page.x0 - 1 or b.y0 < page.y0 - 1 or b.x1 > page.x1 + 1 or b.y1 > page.y1 + 1
    ]
    for i, (text_a, a) in enumerate(boxes):
        for text_b, b in boxes[i + 1 :]:
            if min(a.x1, b.x1) - max(a.x0, b.x0) > 1 and min(a.y1, b.y1) - max(a.y0, b.y0) > 1:
                problems.append(f"{text_a!r} covers {text_b!r}")
    return problems


@pytest.mark.parametrize("lang", ["en", "es"])
def test_no_label_of_any_figure_is_overprinted_or_outside(
    epochs_lab: Cli, seeds_lab: Cli, tiny_lab: Cli, lang: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every figure of the report (curves with trial ends, mean ± sd curves, confusion matrix, reliability,
    predictions) and of show --draw and data --grid, in English and Spanish, rendered and measured."""
    from fashionlab.views import plots

    drawn: list[Any] = []
    png = plots._png

    def keep(fig: Any) -> bytes:
        out = png(fig)
        drawn.append(fig)
        return out

    monkeypatch.setattr(plots, "_png", keep)
    for cli in (epochs_lab, seeds_lab, tiny_lab):
        result = cli("--lang", lang, "report", "--html", "--out", str(tmp_path / f"{len(drawn)}.html"))
        assert result.exit_code == 0, result.output
    for args in (["show", "--draw"], ["show", "--config", "tiny", "--draw"], ["data", "--grid"]):
        result = epochs_lab("--lang", lang, *args, str(tmp_path / f"{len(drawn)}.png"))
        assert result.exit_code == 0, result.output
    assert len(drawn) >= 12
    problems = {i: _text_problems(fig) for i, fig in enumerate(drawn)}
    assert not any(problems.values()), problems


def test_logging_naming_and_repeats_are_not_settings() -> None:
    """A run trained again with tensorboard=true, or by a --repeats sweep, is the same setting: no column,
    no 'combinations of lr, tensorboard' (issue 34, item 8)."""
    from fashionlab.results.collect import group_settings, varying_keys
    from fashionlab.results.model import RunSummary

    rows = [
        RunSummary("a", "completed", {"lr": 0.1, "tensorboard": False, "repeats": 1, "name": "x", "seed": 1}),
        RunSummary("b", "completed", {"lr": 0.1, "tensorboard": True, "repeats": 2, "name": "y", "seed": 2}),
        RunSummary("c", "completed", {"lr": 0.2, "tensorboard": True, "repeats": 2, "name": "y", "seed": 1}),
    ]
    assert varying_keys(rows) == ["lr", "seed"]
    assert [len(s.runs) for s in group_settings(rows, varying_keys(rows), "test_accuracy")] == [2, 1]
    assert rows[0].setting() == rows[1].setting() != rows[2].setting()
