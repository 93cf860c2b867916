"""Nothing lost under interrupts, kill -9, divergence, concurrency and storage faults (real processes)."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fashionlab.config import load_config
from fashionlab.store import RunStore
from tests.conftest import Cli, StopAfter, resume_run, train_run

SLICE = ["train_samples=3000", "test_samples=200"]


def strip(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def fashionlab(runs: Path, *args: str, **kwargs) -> subprocess.Popen[str]:  # type: ignore[no-untyped-def]
    env = {**os.environ, "FASHIONLAB_RUNS": str(runs), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(
        [sys.executable, "-m", "fashionlab", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def wait_for_epochs(runs: Path, n: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        histories = [r.history() for r in RunStore(runs).runs() if not r.problem]
        if any(len(h) >= n for h in histories):
            return
        time.sleep(0.02)
    raise AssertionError(f"no run reached {n} epochs")


@pytest.mark.parametrize("config", [None, "configs/cnn.yaml"], ids=["tutorial", "cnn-with-dropout"])
def test_interrupted_then_resumed_equals_uninterrupted(tmp_path: Path, config: str | None) -> None:
    cfg = load_config(config, ["train_samples=600", "test_samples=200", "epochs=4"])
    whole = train_run(cfg, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, tmp_path / "cut", StopAfter(2))
    (run,) = RunStore(tmp_path / "cut").runs()
    assert run.status == "interrupted" and len(run.history()) == 2 and run.info.checkpoint_epoch == 2
    resumed = resume_run(run)
    assert strip(resumed.run.history()) == strip(whole.run.history())
    assert resumed.test == whole.test
    assert not (run.path / "checkpoint.npz").exists()  # the finished run keeps model.keras only


def test_a_checkpoint_says_its_own_epoch(tmp_path: Path) -> None:
    """Killed between writing checkpoint.npz and run.json's checkpoint_epoch: resume trusts the file."""
    cfg = load_config(None, ["train_samples=600", "test_samples=200", "epochs=3"])
    whole = train_run(cfg, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, tmp_path / "cut", StopAfter(2))
    (run,) = RunStore(tmp_path / "cut").runs()
    info = json.loads((run.path / "run.json").read_text())
    (run.path / "run.json").write_text(json.dumps({**info, "checkpoint_epoch": 1}))  # run.json one epoch behind the
    # checkpoint file, as after such a kill
    resumed = resume_run(RunStore(tmp_path / "cut").read(run.id))
    assert strip(resumed.run.history()) == strip(whole.run.history()) and resumed.test == whole.test


def test_ctrl_c_marks_interrupted_and_keeps_history(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = fashionlab(runs, "train", "epochs=200", *SLICE)
    wait_for_epochs(runs, 2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert stderr.rstrip().endswith("Interrupted.") and "Traceback" not in stderr
    (run,) = RunStore(runs).runs()
    assert run.status == "interrupted"
    # history.csv is written before the checkpoint, so at most the last epoch lacks one (resume redoes it)
    assert len(run.history()) >= 2 and run.info.checkpoint_epoch in (len(run.history()) - 1, len(run.history()))


@pytest.mark.parametrize("delay", [0.0, 0.013, 0.05, 0.11])
def test_kill_9_at_any_point_then_resume_gives_identical_metrics(tmp_path: Path, delay: float) -> None:
    """kill -9 shortly after an epoch ends (while history, run.json and the checkpoint are written)."""
    args = ["epochs=4", *SLICE]
    whole = train_run(load_config(None, args), tmp_path / "whole")
    runs = tmp_path / "runs"
    proc = fashionlab(runs, "train", *args)
    wait_for_epochs(runs, 1)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    (run,) = RunStore(runs).runs()
    if run.status == "completed":  # the machine was faster than the kill
        pytest.skip("training finished before the kill")
    assert run.status == "interrupted"  # its process is gone
    rows = Cli(runs)("runs", "--json")
    assert json.loads(rows.stdout)[0]["status"] == "interrupted"
    result = Cli(runs)("train", "--resume", run.id, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["test"] == whole.test
    assert strip(RunStore(runs).runs()[0].history()) == strip(whole.run.history())


def test_resume_refuses_completed_runs(trained: Cli) -> None:
    (run,) = RunStore(trained.runs_dir).runs()
    result = trained("train", "--resume", run.id)
    assert result.exit_code == 5
    assert result.stderr == f"Error: run {run.id} is completed; only interrupted or failed runs can be resumed\n"


def test_divergence_is_one_line_and_marks_the_run(cli: Cli, runs_dir: Path) -> None:
    result = cli("train", "optimizer=sgd", "lr=50", "epochs=3", "train_samples=600", "test_samples=100")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: run ") and "diverged: loss exploded to " in lines[-1]
    assert lines[-1].endswith("lower the learning rate (e.g. lr=0.001) or use an adaptive optimizer such as adam")
    (run,) = RunStore(runs_dir).runs()
    assert run.status == "diverged" and run.info.error.startswith("loss exploded to")
    assert len(run.history()) == 1  # stopped at the first bad epoch


def test_two_sweeps_and_a_train_at_once_never_clobber(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    sweep = ["sweep", "--jobs", "1", "lr=0.001,0.002,0.003", "epochs=1", "train_samples=1000", "test_samples=100"]
    other = ["sweep", "--jobs", "1", "lr=0.003,0.004", "epochs=1", "train_samples=1000", "test_samples=100"]
    procs = [fashionlab(runs, *sweep), fashionlab(runs, *sweep), fashionlab(runs, *other)]
    procs.append(fashionlab(runs, "train", "epochs=1", "train_samples=1000", "test_samples=100"))
    trained_here = 0
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        if said := re.search(
            r"(\d+) of \d+ trials? completed \((\d+) (?:was|were) already done\)", " ".join(err.split())
        ):
            trained_here += int(said.group(1)) - int(said.group(2))
    assert trained_here == 4  # each sweep says what it trained itself, not what another trained for it
    all_runs = RunStore(runs).runs()
    assert all(r.status == "completed" for r in all_runs)
    sweep_hashes = [r.info.config_hash for r in all_runs if r.info.config["optimizer"].get("learning_rate")]
    assert len(sweep_hashes) == len(set(sweep_hashes)) == 4  # lr 0.001..0.004: each trained exactly once
    assert len(all_runs) == 5  # plus the plain train
    records = [json.loads(p.read_text()) for p in (runs / "sweeps").glob("*.json")]
    assert len(records) == 2 and all(r["state"] == "completed" for r in records)
    assert all(t["status"] == "completed" and (runs / t["run_id"]).is_dir() for r in records for t in r["trials"])


def test_runs_dir_that_cannot_be_written_fails_before_training(cli: Cli, tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory")
    result = Cli(blocker / "runs")("train", "epochs=1", "train_samples=200")
    assert result.exit_code == 7
    assert result.stderr.startswith(f"Error: cannot write to the runs directory {blocker / 'runs'} (")
    assert result.stderr.rstrip().endswith("free space, fix its permissions or choose another with --runs-dir")


def _small_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))  # a checkpoint (1.2 MB) cannot be written
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_disk_full_mid_run_leaves_a_readable_failed_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = fashionlab(runs, "train", "epochs=2", "train_samples=600", "test_samples=100", preexec_fn=_small_file_limit)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode != 0 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("Error: run ")
    assert "cannot write to its directory" in stderr
    (run,) = RunStore(runs).runs()
    assert run.status == "failed" and len(run.history()) >= 1  # the finished epochs survived
    listing = Cli(runs)("runs")
    assert listing.exit_code == 0 and "failed" in listing.stdout


# ---------------------------------------------------------------- signals during sweeps, and reruns that continue

SWEEP = ["sweep", "--jobs", "2", "lr=0.001,0.002,0.003,0.004", "train_samples=1000", "test_samples=100"]


def group_alive(pgid: int) -> list[int]:
    """The processes still in a process group (the sweep and its workers)."""
    alive = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive.append(int(proc.name))
    return alive


def wait_for(predicate, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def started_runs(runs: Path) -> list[Path]:
    return [p for p in runs.glob("2*") if p.is_dir()] if runs.is_dir() else []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_a_parallel_sweep_at_once_and_records_exactly_what_happened(
    tmp_path: Path, signum: signal.Signals
) -> None:
    runs = tmp_path / "runs"
    proc = fashionlab(runs, *SWEEP, "epochs=300", start_new_session=True)  # its own process group, as a shell's job
    wait_for(lambda: len(started_runs(runs)) == 2 and all(len(RunStore(runs).read(p.name).history()) >= 1
                                                          for p in started_runs(runs)))  # fmt: skip
    os.killpg(proc.pid, signum)  # Ctrl-C reaches the whole group; SIGTERM too, as `kill -TERM -PGID` sends it
    _, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 128 + signum and "Traceback" not in stderr
    said = " ".join(stderr.split())
    assert said.endswith("Interrupted." if signum == signal.SIGINT else "Stopped by SIGTERM.")
    assert "stopped: 2 interrupted (each keeps its finished epochs), 2 not started. Run the same command again" in said
    time.sleep(0.5)
    assert group_alive(proc.pid) == []  # no worker, manager or tracker lives on
    (record,) = [json.loads(p.read_text()) for p in (runs / "sweeps").glob("*.json")]
    assert record["state"] == "interrupted"
    assert [t["status"] for t in record["trials"]] == ["interrupted", "interrupted", "pending", "pending"]
    assert len(started_runs(runs)) == 2  # no trial started after the signal
    for trial in record["trials"][:2]:
        run = RunStore(runs).read(trial["run_id"])
        assert run.status == run.info.status == "interrupted"  # said so on disk, not inferred from a dead pid


def test_rerun_of_an_interrupted_sweep_continues_each_trial_in_its_own_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = fashionlab(runs, *SWEEP, "epochs=25", start_new_session=True)
    wait_for(lambda: len(started_runs(runs)) == 2 and all(
        int(RunStore(runs).read(p.name).info.checkpoint_epoch or 0) >= 2 for p in started_runs(runs)))  # fmt: skip
    os.killpg(proc.pid, signal.SIGINT)
    proc.communicate(timeout=90)
    stopped = {r.id: r.checkpoint_epoch() for r in RunStore(runs).runs() if r.status == "interrupted"}
    finished = [r.id for r in RunStore(runs).runs() if r.status == "completed"]
    # on a busy machine one worker may finish its 25 epochs before the other reaches its second checkpoint
    assert stopped and len(stopped) + len(finished) == 2, [(r.id, r.status) for r in RunStore(runs).runs()]
    n = len(stopped)
    again = Cli(runs)(*SWEEP, "epochs=25")
    assert again.exit_code == 0, again.output
    said = " ".join(again.stderr.split())
    trials = (
        "1 trial continues its interrupted run from its last checkpoint" if n == 1
        else f"{n} trials continue their interrupted runs from their last checkpoints"
    )  # fmt: skip
    assert trials in said
    continued = f"{n} continued {'its' if n == 1 else 'their'} interrupted run"
    done = len(finished)
    assert f"4 of 4 trials completed ({done} {'was' if done == 1 else 'were'} already done, {continued})" in said
    after = RunStore(runs).runs()
    assert len(after) == 4 and all(r.status == "completed" and len(r.history()) == 25 for r in after)
    for run in after:
        if run.id in stopped:
            assert run.info.resumed[-1]["from_epoch"] == stopped[run.id]  # not from epoch 0


def _kill_9_after_first_metrics(runs: Path, *args: str) -> None:
    proc = fashionlab(runs, "sweep", "--jobs", "1", *args, "train_samples=1000", "test_samples=100",
                      start_new_session=True)  # fmt: skip
    wait_for(lambda: any((p / "metrics.json").exists() for p in started_runs(runs)))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


@pytest.mark.parametrize(
    "axes", [["lr=0.001,0.002,0.003", "epochs=3"], ["epochs=1,3,6"]], ids=["separate-trainings", "shared-training"]
)
def test_kill_9_after_the_first_metrics_then_rerun_trains_no_trial_twice(tmp_path: Path, axes: list[str]) -> None:
    runs = tmp_path / "runs"
    _kill_9_after_first_metrics(runs, *axes)
    before = {
        p.name: (p / "model.keras").stat().st_mtime_ns for p in started_runs(runs) if (p / "model.keras").exists()
    }
    # what the store guarantees: the checkpoint file says its own epoch (run.json's checkpoint_epoch may lag
    # it by one when the kill lands between the two writes, as it did on a busy machine)
    checkpoints = {r.id: r.checkpoint_epoch() for r in RunStore(runs).runs()}
    again = Cli(runs)("sweep", "--jobs", "1", *axes, "train_samples=1000", "test_samples=100")
    assert again.exit_code == 0, again.output
    after = RunStore(runs).runs()
    assert len(after) == 3 and all(r.status == "completed" for r in after)
    for run in after:
        if run.id in before:  # its model was saved before the kill: finished, not trained again
            assert (run.path / "model.keras").stat().st_mtime_ns == before[run.id]
        elif run.id in checkpoints:  # continued from its training's checkpoint (the longest run of it holds it)
            fed_by = [run.id, *(i for i in run.info.shared_training or [] if i not in before)]
            assert run.info.resumed[-1]["from_epoch"] == max(checkpoints.get(i, 0) for i in fed_by)
        assert len(run.history()) == run.info.config["epochs"]


def test_a_run_is_completed_before_its_curves_are_drawn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fashionlab.views import plots

    def broken(*args: object, **kwargs: object) -> bytes:
        raise RuntimeError("no fonts")

    monkeypatch.setattr(plots, "curves_png", broken)
    result = train_run(load_config(None, ["epochs=1", "train_samples=300", "test_samples=100"]), tmp_path / "runs")
    run = RunStore(tmp_path / "runs").read(result.run.id)
    assert run.status == "completed" and run.has_model and not (run.path / "curves.png").exists()
    assert run.info.curves_error == "RuntimeError: no fonts"
    monkeypatch.undo()
    drawn = Cli(tmp_path / "runs")("curves", run.id, "--out", str(tmp_path / "c.png"))
    assert drawn.exit_code == 0 and (tmp_path / "c.png").stat().st_size > 1000


def test_disk_full_while_saving_the_model_leaves_no_temporary_file(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = fashionlab(runs, "train", "epochs=1", "train_samples=600", "test_samples=100", preexec_fn=_small_file_limit)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 7 and "Traceback" not in stderr
    (run,) = RunStore(runs).runs()
    assert run.info.status == "failed" and not run.has_model
    assert [p.name for p in run.path.iterdir() if p.name.startswith(".")] == []  # no .model.tmp.keras, no .tmp
