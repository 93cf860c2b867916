"""Shared fixtures. Training here is real Keras on a small slice of the real data (seconds)."""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# one compilation cache for the session's processes, never the user's own (~/.cache/fashionlab)
os.environ.setdefault("FASHIONLAB_CACHE", tempfile.mkdtemp(prefix="fashionlab-test-cache-"))

import pytest
from typer.testing import CliRunner, Result

from fashionlab.cli import app

SMALL = ["train_samples=600", "test_samples=200", "epochs=2", "batch_size=32"]
ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"


class Cli:
    """Runs `fashionlab ...` in-process against one runs directory."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = runs_dir
        self.runner = CliRunner()

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return self.runner.invoke(app, ["--runs-dir", str(self.runs_dir), *args], env={"COLUMNS": "220", **(env or {})})


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """Each test starts in English: a command run in-process with --lang es leaves its language set."""
    from fashionlab import i18n

    i18n.set_language("en")
    yield
    i18n.set_language("en")


def _processes() -> dict[int, tuple[int, int, str]]:
    """Every live process: pid -> (parent pid, process group, command line); zombies left out."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if fields[0] != "Z":
            found[int(entry.name)] = (int(fields[1]), int(fields[2]), command)
    return found


KEPT_FOR_THE_SESSION = ("multiprocessing.resource_tracker", "resource_tracker import main")


def _left_behind(before: set[int]) -> dict[int, str]:
    """Processes this test started that still run: new ones whose parent is this process, another new one,
    or gone (an orphan of this process group). Children of processes that were there before the test (a
    module's Ray instance and its workers) are theirs to manage."""
    now = _processes()
    me, group = os.getpid(), os.getpgid(0)
    left = {}
    for pid, (parent, pgid, command) in now.items():
        if pid in before or pid == me or any(k in command for k in KEPT_FOR_THE_SESSION):
            continue
        chain, at = set(), parent
        while at in now and at not in before and at != me and at not in chain:
            chain.add(at)
            at = now[at][0]
        orphan = at not in now or (at == 1 and pgid == group)
        if at == me or (orphan and pgid == group):
            left[pid] = command
    return left


@pytest.fixture(autouse=True)
def no_process_left() -> Iterator[None]:
    """A test that leaves a process running fails (after a grace of 15 s for ones on their way out), and
    the process is killed so the next test starts clean."""
    import time

    before = set(_processes())
    yield
    deadline = time.time() + 15
    while (left := _left_behind(before)) and time.time() < deadline:
        time.sleep(0.2)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left running by this test: {left}"


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture
def cli(runs_dir: Path) -> Cli:
    return Cli(runs_dir)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """A runs directory holding one small completed run of the tutorial model."""
    runs = tmp_path_factory.mktemp("trained") / "runs"
    session_cli = Cli(runs)
    result = session_cli("train", *SMALL)
    assert result.exit_code == 0, result.output
    return session_cli


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*")) if path.exists() else []


class StopAfter:
    """A sink of training's events that presses Ctrl-C when an epoch ends: a KeyboardInterrupt raised in
    place, or a real SIGINT to this process (`real_signal`), which reaches training wherever Python handles it."""

    def __init__(self, epoch: int, real_signal: bool = False) -> None:
        self.stop_at, self.real_signal = epoch, real_signal

    def emit(self, event: object) -> None:
        from fashionlab.events import EpochEnded

        if isinstance(event, EpochEnded) and event.row["epoch"] == self.stop_at:
            if self.real_signal:
                os.kill(os.getpid(), signal.SIGINT)
            else:
                raise KeyboardInterrupt


def train_run(config: Any, runs: Path | str, events: Any = None) -> Any:
    """The train use case's TrainResult (what `fashionlab train` shows), or the error that stopped it."""
    from fashionlab import usecases

    return usecases.train(config, runs, events).result


def resume_run(run: Any) -> Any:
    """The resume use case's TrainResult (what `fashionlab train --resume` shows)."""
    from fashionlab import usecases

    return usecases.resume(run).result
