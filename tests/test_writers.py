"""Reliability round four (issue 31): the one safe writer, one writer per run, nothing from the data
reaching the terminal raw."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fashionlab.config import load_config
from fashionlab.store import RunStore
from fashionlab.text import csv_cell, markdown_text, visible
from tests.conftest import Cli, StopAfter, train_run

ESC_NAME = "x\x1b]52;c;aGk=\x07\x1b[2Jy"  # OSC 52 (clipboard) and clear-screen


def test_a_picture_is_written_only_where_it_replaces_nothing_of_the_users(cli: Cli, tmp_path: Path) -> None:
    fifo, link, victim, mine, folder = (tmp_path / n for n in ("f.png", "l.png", "victim", "mine.png", "dir.png"))
    os.mkfifo(fifo)
    victim.write_text("the user's")
    link.symlink_to(victim)
    (tmp_path / "dangling.png").symlink_to(tmp_path / "nowhere")
    mine.write_text("a user's picture")
    folder.mkdir()
    cases = {
        fifo: f"{fifo} is a FIFO, not a regular file; fashionlab writes regular files only (for the numbers on "
        "stdout use --json): give a file name",
        link: f"{link} is a symbolic link; fashionlab writes regular files only and never through a link: give "
        "the real path or another name",
        tmp_path / "dangling.png": f"{tmp_path / 'dangling.png'} is a symbolic link; fashionlab writes regular "
        "files only and never through a link: give the real path or another name",
        mine: f"{mine} is a file fashionlab did not make; give another name, or add --force to replace it",
        folder: f"{folder} is a folder; give a file name such as {folder / 'picture.png'}",
        tmp_path / "net.pdf": f"{tmp_path / 'net.pdf'}: fashionlab writes pictures as .png only; name the file "
        f"{tmp_path / 'net.png'}",
    }
    for target, message in cases.items():
        result = cli("show", "--draw", str(target))
        assert result.exit_code == 6 and result.stderr == f"Error: {message}\n", result.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and link.is_symlink() and victim.read_text() == "the user's"
    assert mine.read_text() == "a user's picture" and not (tmp_path / "nowhere").exists()
    assert not (tmp_path / "net.pdf").exists()
    ours = tmp_path / "net.png"
    assert cli("show", "--draw", str(ours)).exit_code == 0
    assert cli("show", "--draw", str(ours)).exit_code == 0  # its own picture: replaced without --force
    assert cli("show", "--draw", str(mine), "--force").exit_code == 0  # the user said so
    assert mine.read_bytes().startswith(b"\x89PNG")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_written_files_follow_the_umask(tmp_path: Path) -> None:
    for mask, mode in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        target = tmp_path / f"net-{mask:o}.png"
        code = f"import os; os.umask({mask}); from fashionlab.cli import entry; entry()"
        done = subprocess.run(
            [sys.executable, "-c", code, "show", "--draw", str(target)], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert stat.S_IMODE(target.stat().st_mode) == mode


@pytest.fixture
def own(trained: Cli, tmp_path: Path) -> Cli:
    """A copy of the shared trained run's folder, for tests that write into it."""
    shutil.copytree(trained.runs_dir, tmp_path / "own-runs")
    return Cli(tmp_path / "own-runs")


def test_a_report_never_replaces_a_users_folder_or_file(own: Cli, tmp_path: Path) -> None:
    """`report --out thesis.md` once deleted thesis_files/ (a user's chapter inside) and thesis.csv."""
    trained = own
    chapter = tmp_path / "thesis_files" / "chapter1.md"
    chapter.parent.mkdir()
    chapter.write_text("two months of work")
    (tmp_path / "thesis.csv").write_text("a user's table")
    result = trained("report", "--out", str(tmp_path / "thesis.md"))
    assert result.exit_code == 6, result.output
    assert result.stderr == (
        f"Error: {tmp_path / 'thesis_files'} is a folder fashionlab did not make; give another name, or add "
        "--force to replace it\n"
    )
    assert chapter.read_text() == "two months of work" and (tmp_path / "thesis.csv").read_text() == "a user's table"
    (tmp_path / "notes.md").write_text("my notes")
    result = trained("report", "--out", str(tmp_path / "notes.md"))
    assert result.exit_code == 6 and "notes.md is a file fashionlab did not make" in result.stderr
    assert (tmp_path / "notes.md").read_text() == "my notes"
    # its own report and folder are replaced; the temp folder a killed report left is removed
    stale = tmp_path / ".report_files.999999999.abcd.tmp"
    stale.mkdir()
    for _ in range(2):
        result = trained("report", "--out", str(tmp_path / "report.md"))
        assert result.exit_code == 0, result.output
    assert not stale.exists()
    folder = sorted(p.name for p in (tmp_path / "report_files").iterdir())
    assert ".fashionlab-made" in folder and "runs.csv" in folder and "figure1.png" in folder
    assert "report_files/runs.csv" in (tmp_path / "report.md").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    result = trained("report", "--html", "--out", str(tmp_path / "report.html"))
    assert result.exit_code == 0 and "data:text/csv;charset=utf-8;base64," in (tmp_path / "report.html").read_text()
    assert trained("report", "--html", "--out", str(tmp_path / "report.html")).exit_code == 0


def test_export_never_writes_through_a_link(own: Cli, tmp_path: Path) -> None:
    """A dangling symlink at the export's path (or planted in the run folder) once had export write a file
    outside the runs folder through it."""
    trained = own
    outside = tmp_path / "outside.onnx"
    link = tmp_path / "m.onnx"
    link.symlink_to(outside)
    result = trained("export", "--format", "onnx", "--out", str(link))
    assert result.exit_code == 6, result.output
    assert result.stderr == f"Error: {link} is a symbolic link; remove it or give another --out\n"
    (run,) = [p for p in trained.runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    planted = run / "export-onnx.onnx"
    planted.symlink_to(outside)
    try:
        result = trained("export", "--format", "onnx")
        assert result.exit_code == 6 and "is a symbolic link" in result.stderr
    finally:
        planted.unlink()
    assert not outside.exists()


def test_a_lock_planted_as_a_symlink_truncates_nothing(tmp_path: Path) -> None:
    from fashionlab.errors import StorageError

    store = RunStore(tmp_path / "runs")
    (store.root / ".locks").mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (store.root / ".locks" / "run-x.lock").symlink_to(victim)
    too_many = r"run-x.lock cannot be used \(Too many levels of symbolic links\)"
    with pytest.raises(StorageError, match=too_many), store.exclusive("run-x", "run x"):
        pass
    with pytest.raises(StorageError), store.lock("run-x"):
        pass
    assert victim.read_text() == "keep me"


def test_a_sweep_waits_for_a_resume_of_the_same_run_instead_of_training_into_it(tmp_path: Path) -> None:
    """`train --resume RUN` and a rerun of RUN's sweep once both trained into RUN (different locks)."""
    runs = tmp_path / "runs"
    args = ["train_samples=600", "test_samples=200", "epochs=3"]
    with pytest.raises(KeyboardInterrupt):
        train_run(load_config(None, args), runs, StopAfter(1))
    (run,) = RunStore(runs).runs()
    assert run.status == "interrupted"
    lock = runs / ".locks" / f"run-{run.id}.lock"
    lock.parent.mkdir(exist_ok=True)
    holder = subprocess.Popen(  # a `train --resume` holding the run: its lock, for a while
        [sys.executable, "-c", f"import fcntl, os, sys, time; fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'pid 1 (resume)'); print('held', flush=True); "
         "sys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        sweep = subprocess.Popen(
            [sys.executable, "-m", "fashionlab", "--runs-dir", str(runs), "sweep", *args, "seed=42"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        with pytest.raises(subprocess.TimeoutExpired):
            sweep.wait(timeout=20)  # it waits: the run is held
        assert RunStore(runs).read(run.id).status == "interrupted" and len(RunStore(runs).runs()) == 1
        holder.communicate("done\n", timeout=30)
        _, stderr = sweep.communicate(timeout=300)
        assert sweep.returncode == 0, stderr
    finally:
        for proc in (holder,):
            proc.kill()
            proc.wait()
    (only,) = RunStore(runs).runs()
    assert only.id == run.id and only.status == "completed" and len(only.history()) == 3


def test_control_characters_never_reach_the_terminal(trained: Cli, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(trained.runs_dir, runs)
    (run,) = [p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")]
    shutil.copytree(run, runs / (run.name + ESC_NAME))
    cli = Cli(runs)
    per_run = ["compare", "--per-seed"]  # the copy is the same config and seed: one setting without it
    for args in (["runs"], per_run, [*per_run, "--format", "csv"], [*per_run, "--format", "md"]):
        result = cli(*args)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout, args
        assert "\\x1b]52;c;aGk=" in result.stdout.replace("\n", ""), args
    result = cli("evaluate", "nope" + ESC_NAME)
    assert result.exit_code == 4 and "\x1b" not in result.stderr and "no run 'nope" in result.stderr
    assert "\\x1b]52" in result.stderr
    image_dir = tmp_path / "images"
    image_dir.mkdir()
    from PIL import Image

    Image.new("L", (28, 28), 200).save(image_dir / f"shoe{ESC_NAME}.png")
    result = cli("predict", "--image", str(image_dir))
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\\x1b]52" in result.stdout.replace("\n", "")


def test_markdown_csv_and_paths_are_escaped() -> None:
    assert visible("a\x1b[2Jb\nc") == "a\\x1b[2Jb\\nc" and visible("a\nb", newlines=True) == "a\nb"
    assert visible("\u202eevil") == "\\u202eevil"
    assert markdown_text("<script>alert(1)</script> & co") == "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"
    assert [csv_cell(v) for v in ("=1+1", "@SUM(A1)", "+x", "-x", "-0.5", "-", 3, "adam")] == [
        "'=1+1", "'@SUM(A1)", "'+x", "'-x", "-0.5", "-", 3, "adam",
    ]  # fmt: skip


def test_paths_are_printed_as_text_never_as_markup(cli: Cli, tmp_path: Path) -> None:
    for name in ("[draft]fig.png", "[/b]x.png"):
        result = cli("show", "--draw", str(tmp_path / name))
        assert result.exit_code == 0, result.output
        assert result.stderr.endswith(f"Saved {tmp_path / name}\n")


def test_sweep_workers_die_with_their_parent(tmp_path: Path) -> None:
    """After kill -9 of a `sweep --jobs 2`, its workers once lived on (minutes, 475 MB each), deaf to
    SIGTERM while they waited on the queue or flushed events nobody read."""
    import signal
    import time

    from tests.test_reliability import SLICE, fashionlab, group_alive, wait_for_epochs

    runs = tmp_path / "runs"
    proc = fashionlab(runs, "sweep", "--jobs", "2", "lr=0.001,0.002,0.003", "epochs=300", *SLICE,
                      start_new_session=True)  # fmt: skip
    try:
        wait_for_epochs(runs, 1)
        workers = [r.info.pid for r in RunStore(runs).runs() if r.info.pid and r.info.pid != proc.pid]
        assert workers, "no worker has a run yet"
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.time() + 60  # a liveness bound, not a speed figure: they used to live for ever
        while time.time() < deadline and group_alive(proc.pid):
            time.sleep(0.2)
        assert not group_alive(proc.pid), "a worker outlived its sweep"
    finally:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
