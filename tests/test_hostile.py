"""Issue 20's fault tests: what a hostile user tries beyond one bad input (signals at start-up, a cache
pointed at a thesis, FIFOs in a runs folder, a killed worker, a full disk, two writers at once)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fashionlab import data
from fashionlab.errors import Busy
from fashionlab.network import memory_estimate
from fashionlab.store import RunStore, files
from tests.conftest import SMALL, Cli

FASHIONLAB = [sys.executable, "-m", "fashionlab"]


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, **kw: object
) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return subprocess.run(
        [*FASHIONLAB, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}, **kw
    )


# ---------------------------------------------------------------- 1. the cache deletes only its own


def test_cache_clear_deletes_only_what_fashionlab_wrote_and_follows_no_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("four years")
    (thesis / "data").mkdir()
    (thesis / "data" / "results.csv").write_text("1,2,3")
    refused = run_cli("cache", "--clear", env={"FASHIONLAB_CACHE": str(thesis)})
    assert refused.returncode == 6 and "is not a cache fashionlab made" in refused.stderr
    assert (thesis / "thesis.tex").read_text() == "four years" and (thesis / "data" / "results.csv").exists()

    cache = tmp_path / "cache"
    monkeypatch.setenv("FASHIONLAB_CACHE", str(cache))
    folder = files.cache_dir("data")  # the cache is made by using it, as a run does
    assert folder is not None and (cache / "CACHEDIR.TAG").is_file()
    (folder / "x.npy").write_bytes(b"cached")
    (folder / "link-to-thesis").symlink_to(thesis)  # a link inside the cache: removed as a link only
    (cache / "jax").mkdir()
    (cache / "jax" / "entry").write_bytes(b"compiled")
    (cache / "notes.txt").write_text("someone's notes beside the cache")
    cleared = run_cli("cache", "--clear", env={"FASHIONLAB_CACHE": str(cache)})
    assert cleared.returncode == 0 and "Cleared" in cleared.stdout
    assert not (cache / "data").exists() and not (cache / "jax").exists()
    assert (cache / "notes.txt").exists() and (cache / "CACHEDIR.TAG").exists()
    assert (thesis / "thesis.tex").read_text() == "four years" and (thesis / "data" / "results.csv").exists()


def test_a_cache_folder_holding_other_things_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mine.txt").write_text("x")
    monkeypatch.setenv("FASHIONLAB_CACHE", str(tmp_path))
    assert files.cache_dir("jax") is None and sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def test_no_home_folder_means_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FASHIONLAB_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")
    assert files.cache_root() is None and files.cache_dir("data") is None
    assert not Path("/nonexistent").exists()


# ---------------------------------------------------------------- 8. the decoded data cache is verified


def test_zeroed_labels_in_the_data_cache_are_caught_and_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASHIONLAB_CACHE", str(tmp_path / "cache"))
    directory = data.find_data_dir()
    data._read.cache_clear()
    labels = data._read(directory, "y_train").copy()
    (cached,) = (tmp_path / "cache" / "data").glob("train-labels*.npy")
    np.save(cached, np.zeros_like(labels))  # "60,000 T-shirts"
    data._read.cache_clear()
    try:
        again = data._read(directory, "y_train")
        assert np.array_equal(again, labels) and np.bincount(again).tolist() == [6000] * 10
        assert np.array_equal(np.load(cached), labels)  # rebuilt from the .gz file
    finally:
        data._read.cache_clear()


# ---------------------------------------------------------------- 2. signals at start-up are never lost


def stop_after(args: list[str], offset: float, signum: int, group: bool = False) -> None:
    """Start `fashionlab ARGS`, send `signum` after `offset` seconds (to its process group, as a terminal's
    Ctrl-C does, with `group`), and check it stopped with its one line and exit code. No clock is asserted
    (a loaded machine may take seconds to start Python): a lost signal shows as exit code 0 and a training
    that ran all its epochs, which each caller checks; one that hangs is killed after 90 s and fails."""
    process = subprocess.Popen(
        [*FASHIONLAB, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=group
    )
    time.sleep(offset)
    if group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    try:
        _, stderr = process.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        if group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.communicate()
        raise AssertionError("the command went on after the signal") from None
    assert process.returncode == 128 + signum, stderr
    assert stderr.splitlines()[-1] == ("Interrupted." if signum == signal.SIGINT else "Stopped by SIGTERM.")
    assert "Traceback" not in stderr and "Exception ignored" not in stderr


@pytest.mark.parametrize(
    ("offset", "signum"),
    [(0.15, signal.SIGTERM), (0.3, signal.SIGINT), (1.0, signal.SIGTERM), (1.8, signal.SIGINT), (3.0, signal.SIGTERM)],
    ids=["0.15s-term", "0.3s-int", "1.0s-term", "1.8s-int", "3.0s-term"],
)
def test_a_signal_at_any_moment_of_start_up_stops_train(tmp_path: Path, offset: float, signum: int) -> None:
    runs = tmp_path / "runs"
    stop_after(["--runs-dir", str(runs), "train", "epochs=200", "train_samples=3000"], offset, signum)
    for run in RunStore(runs).runs():
        assert run.status == "interrupted" and len(run.history()) < 200


# ---------------------------------------------------------------- 3. reads from a runs folder are bounded


def test_fifos_and_devices_in_a_runs_folder_never_block_the_listing(trained: Cli, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(trained.runs_dir, runs)
    (good,) = [p for p in runs.iterdir() if p.is_dir()]
    for name, target in (("fifo-info", "run.json"), ("fifo-config", "config.yaml"), ("zero-info", "run.json")):
        bad = runs / f"{good.name}-{name}"
        shutil.copytree(good, bad)
        (bad / target).unlink()
        if name.startswith("fifo"):
            os.mkfifo(bad / target)
        else:
            (bad / target).symlink_to("/dev/zero")
    (runs / f"{good.name}-big").mkdir()
    with open(runs / f"{good.name}-big" / "run.json", "wb") as fh:
        fh.truncate(files.MAX_SMALL_FILE + 1)  # a sparse 16 MB file: refused from its size, unread
    for args in (["runs", "--json"], ["compare"], ["sweep", "--dry-run", "lr=0.001,0.002"]):
        done = run_cli("--runs-dir", str(runs), *args, timeout=30)
        assert done.returncode == 0, done.stderr
    listed = json.loads(run_cli("--runs-dir", str(runs), "runs", "--json", timeout=30).stdout)
    statuses = sorted(r["status"] for r in listed)
    assert statuses == ["broken", "broken", "broken", "completed", "completed"]


def test_predict_image_fifo_returns_at_once(trained: Cli, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "photo.png")
    result = trained("predict", "--image", str(tmp_path / "photo.png"))
    assert result.exit_code == 3 and "is not a regular file" in result.stderr


# ---------------------------------------------------------------- 5. memory known before training


def test_memory_estimate_of_the_tutorial_model_is_small_and_counts_its_parameters() -> None:
    from fashionlab.config import load_config

    estimate = memory_estimate(load_config())
    assert estimate.parameters == 101_770
    assert estimate.total < 2e9  # about a gigabyte: the process itself, the images, the weights


def test_show_draw_summarises_500_layers(tmp_path: Path) -> None:
    config = tmp_path / "deep.yaml"
    layers = ["  - flatten"] + ["  - dense: {units: 16, activation: relu}"] * 500 + ["  - dense: {units: 10}"]
    config.write_text("layers:\n" + "\n".join(layers) + "\n")
    done = run_cli("show", "--config", str(config), "--draw", str(tmp_path / "net.png"), timeout=60)
    assert done.returncode == 0, done.stderr
    from PIL import Image

    with Image.open(tmp_path / "net.png") as picture:
        assert picture.width < 4000  # 12 columns and a count, not 502 columns


# ---------------------------------------------------------------- 6. two writers never train one thing twice


def test_a_held_run_or_study_says_who_holds_it(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs")
    with store.exclusive("search-abc", "search search-abc"):
        held = subprocess.run(
            [sys.executable, "-c", "from fashionlab.store import RunStore; import sys;"
             f"RunStore({str(store.root)!r}).exclusive('search-abc', 'search search-abc').__enter__()"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert "Busy: search search-abc is in use by pid" in held.stderr and str(os.getpid()) in held.stderr
    with store.exclusive("search-abc", "search search-abc"):  # released: free again
        pass


def test_a_second_identical_search_exits_cleanly_while_the_first_trains(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    args = ["--runs-dir", str(runs), "search", "--trials", "2", "lr=loguniform(1e-4,1e-2)", *SMALL]
    first = subprocess.Popen([*FASHIONLAB, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not list(runs.glob(".locks/search-*.lock")):
        time.sleep(0.05)
    time.sleep(0.3)
    second = run_cli(*args, timeout=60)
    first.communicate(timeout=120)
    assert second.returncode == Busy.exit_code, second.stderr
    assert second.stderr.splitlines()[-1].startswith("Error: search search-") and "is in use by pid" in second.stderr
    assert first.returncode == 0 and len(RunStore(runs).runs()) == 2  # each trial trained once


# ---------------------------------------------------------------- 7. a sweep worker dying


def test_a_killed_sweep_worker_fails_its_trial_and_the_others_finish(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    sweep = subprocess.Popen(
        [*FASHIONLAB, "--runs-dir", str(runs), "sweep", "--jobs", "2", "lr=0.001,0.002,0.003", "epochs=40",
         "train_samples=3000", "test_samples=200"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 90
    victim = None
    while time.time() < deadline and victim is None:
        for run in RunStore(runs).runs():
            if not run.problem and len(run.history()) >= 2:
                victim = run
                break
        time.sleep(0.05)
    assert victim is not None
    os.kill(int(victim.info.pid), signal.SIGKILL)
    _, stderr = sweep.communicate(timeout=180)
    assert sweep.returncode == 1, stderr
    assert "Traceback" not in stderr and "RuntimeError" not in stderr
    (record_file,) = (runs / "sweeps").glob("*.json")
    record = json.loads(record_file.read_text())
    statuses = [t["status"] for t in record["trials"]]
    assert sorted(statuses) == ["completed", "completed", "failed"] and record["state"] == "completed with failures"
    (failed,) = [t for t in record["trials"] if t["status"] == "failed"]
    assert failed["run_id"] == victim.id and "killed by SIGKILL" in failed["error"]
    killed = RunStore(runs).read(victim.id)
    assert killed.status == "failed" and (killed.path / "checkpoint.npz").is_file()


# ---------------------------------------------------------------- 9, 10. full disks, JSON, pipes


def _small_files() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))  # every file this process writes: at most 2 kB


def test_a_full_disk_in_sweep_and_report_is_one_line_and_leaves_nothing(trained: Cli, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(trained.runs_dir, runs)
    before = sorted(p.name for p in runs.iterdir())
    swept = run_cli("--runs-dir", str(runs), "sweep", "lr=0.001,0.002", *SMALL, preexec_fn=_small_files)
    assert swept.returncode == 7 and swept.stderr.splitlines()[-1].startswith("Error: cannot write to the runs")
    out = tmp_path / "report" / "r.md"
    reported = run_cli("--runs-dir", str(runs), "report", "--out", str(out), preexec_fn=_small_files)
    assert reported.returncode == 7, reported.stderr
    assert reported.stderr.splitlines()[-1].startswith(f"Error: cannot write the report to {out}")
    assert "Traceback" not in swept.stderr + reported.stderr
    assert sorted(p.name for p in runs.iterdir()) == before  # no .write-test file, no run, no record
    assert not out.exists() and not any(out.parent.glob("*_files")) and not any(out.parent.glob(".r_files*"))


def test_json_output_holds_no_nan(trained: Cli, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(trained.runs_dir, runs)
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    info = json.loads((run / "run.json").read_text())
    info["metrics"]["test"]["loss"] = float("nan")
    info["metrics"]["summary"]["best"]["val_loss"] = float("inf")
    (run / "run.json").write_text(json.dumps(info))

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} in JSON output")

    for args in (["runs", "--json"], ["compare", "--format", "json"]):
        result = Cli(runs)(*args)
        assert result.exit_code == 0, result.output
        json.loads(result.stdout, parse_constant=refuse)
    assert "null" in Cli(runs)("compare", "--format", "json").stdout


def test_output_cut_by_head_exits_0(trained: Cli) -> None:
    shell = f"{sys.executable} -m fashionlab --runs-dir {trained.runs_dir} predict --index 0:199 --format csv | head -1"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("index,"), done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


# ---------------------------------------------------------------- 7. Ray that cannot run a trial says so at once


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--address", "127.0.0.1:1"], "Error: no Ray cluster answers at 127.0.0.1:1 (Connection refused); "),
        (["--cpus-per-trial", "64"], "Error: each trial asks for 64 CPUs (--cpus-per-trial) but the largest node "),
    ],
    ids=["unreachable-address", "cpus-per-trial-too-many"],
)
def test_ray_that_cannot_run_a_trial_fails_in_seconds(tmp_path: Path, args: list[str], message: str) -> None:
    pytest.importorskip("ray")
    started = time.monotonic()
    done = run_cli(
        "--runs-dir", str(tmp_path / "runs"), "sweep", "--executor", "ray", *args, "lr=0.001,0.002", *SMALL,
        timeout=90,
    )  # fmt: skip
    assert done.returncode == 1 and done.stderr.splitlines()[-1].startswith(message), done.stderr
    assert "Traceback" not in done.stderr and time.monotonic() - started < 60
    assert not any((tmp_path / "runs").glob("2*"))  # no trial started


@pytest.mark.parametrize(
    ("command", "offset", "signum"),
    [
        (["sweep", "--jobs", "2", "lr=0.001,0.002,0.003", "epochs=100", "train_samples=3000"], 1.0, signal.SIGINT),
        (
            ["search", "--trials", "3", "lr=loguniform(1e-4,1e-2)", "epochs=100", "train_samples=3000"],
            1.5,
            signal.SIGTERM,
        ),
        (["report", "--out", "{tmp}/r.md"], 0.8, signal.SIGTERM),
    ],
    ids=["sweep-jobs-2", "search", "report"],
)
def test_a_signal_early_in_sweep_search_and_report_stops_them(
    trained: Cli, tmp_path: Path, command: list[str], offset: float, signum: int
) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(trained.runs_dir, runs)
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    stop_after(["--runs-dir", str(runs), *args], offset, signum, group=True)
    for run in RunStore(runs).runs():
        assert run.status in ("completed", "interrupted") and len(run.history()) < 100
    assert not (tmp_path / "r.md").exists()


def test_a_refused_ray_search_leaves_no_study(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    runs = tmp_path / "runs"
    done = run_cli(
        "--runs-dir", str(runs), "search", "--trials", "2", "lr=loguniform(1e-4,1e-2)", *SMALL, "--executor", "ray",
        "--address", "127.0.0.1:1", timeout=90,
    )  # fmt: skip
    assert done.returncode == 1 and "no Ray cluster answers at 127.0.0.1:1" in done.stderr
    assert not list(runs.rglob("*.db")) and not list(runs.rglob("*.lock"))
