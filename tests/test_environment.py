"""The process's surroundings, each with its own message (issue 31): a full or closed stdout, a latin-1
terminal, COLUMNS=0, a JAX platform that is not there, MPLBACKEND, ulimit -v, usage errors. Each runs the
real console script in a fresh process (these are properties of a process, not of a command)."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli


def run(args: list[str], runs: Path, env: dict[str, str] | None = None, **kwargs: Any) -> Any:
    """`fashionlab ARGS` in a fresh process; stdout captured unless `stdout` is given."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    return subprocess.run(
        [sys.executable, "-c", "from fashionlab._entry import main; main()", *args],
        env={**os.environ, "FASHIONLAB_RUNS": str(runs), **(env or {})},
        stderr=subprocess.PIPE,
        timeout=300,
        **{"text": True, **kwargs},
    )


@pytest.fixture
def runs(trained: Cli, tmp_path: Path) -> Path:
    copy = tmp_path / "runs"
    shutil.copytree(trained.runs_dir, copy)
    return copy


def test_a_full_stdout_is_one_line_and_exit_7(runs: Path) -> None:
    for args in (["runs"], ["runs", "--json"], ["configs"], ["--help"], ["--version"], ["schema"]):
        with open("/dev/full", "w") as full:
            done = run(args, runs, stdout=full)
        assert done.returncode == 7, (args, done.stderr)
        assert done.stderr == (
            "Error: cannot write the output (No space left on device); free space, or send the output elsewhere\n"
        ), args


def test_a_closed_stdout_is_refused(runs: Path) -> None:
    script = f"exec {sys.executable} -c 'from fashionlab._entry import main; main()' runs >&-"  # `runs >&-`
    done = subprocess.run(
        ["bash", "-c", script], env={**os.environ, "FASHIONLAB_RUNS": str(runs)}, stderr=subprocess.PIPE, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 7
    assert done.stderr == (
        "Error: standard output is closed; run the command with its output going to a terminal, a file or a pipe "
        "(> /dev/null to drop it)\n"
    )


def test_columns_0_and_a_latin_1_terminal_still_show_the_table(runs: Path) -> None:
    zero = run(["runs"], runs, {"COLUMNS": "0"})
    assert zero.returncode == 0 and "Not shown at 40 columns" in zero.stdout, zero.stderr  # once: nothing at all
    for args in (["compare"], ["predict", "--index", "0"], ["runs"]):
        latin = run(args, runs, {"PYTHONIOENCODING": "latin-1"}, encoding="latin-1")
        assert latin.returncode == 0 and "Traceback" not in latin.stderr and latin.stdout, (args, latin.stderr)


def test_a_jax_platform_that_is_not_there(runs: Path) -> None:
    done = run(["predict", "--index", "0"], runs, {"JAX_PLATFORMS": "cuda"})
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "Error: JAX cannot start on cuda (no such platform here); unset JAX_PLATFORMS, or set it to a platform "
        "this machine has (cpu)"
    )


def test_mplbackend_nonsense_still_draws(runs: Path, tmp_path: Path) -> None:
    done = run(["show", "--draw", str(tmp_path / "net.png")], runs, {"MPLBACKEND": "nonsense"})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "net.png").read_bytes().startswith(b"\x89PNG")


def test_an_address_space_limit_is_counted_before_training(runs: Path) -> None:
    """Under `ulimit -v` 2 GB a training of the full data once failed deep in JAX (RESOURCE_EXHAUSTED) or
    deadlocked; it is refused with the figures instead, and one that fits trains."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2_000_000_000, 2_000_000_000))

    done = run(["train", "epochs=1"], runs, preexec_fn=limit)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1].startswith("Error: training this network needs about ")
    assert "of address space, and this process may take only 2.0 GB (ulimit -v); raise the limit" in done.stderr


def test_usage_errors_exit_6_as_the_readme_says(runs: Path) -> None:
    for args in (["trian"], ["train", "--epochs", "5"], ["--lang", "fr", "runs"], ["predict", "--index"]):
        done = run(args, runs)
        assert done.returncode == 6, (args, done.stderr)
        assert "Traceback" not in done.stderr


def test_the_suite_finds_a_process_a_test_left_behind() -> None:
    """What the autouse fixture no_process_left relies on: a child still running is found, and so is an
    orphan of this process group whose parent is gone."""
    from tests.conftest import _left_behind, _processes

    before = set(_processes())
    child = subprocess.Popen(["sleep", "60"])
    orphan_parent = subprocess.Popen(["bash", "-c", "sleep 61 & echo $!"], stdout=subprocess.PIPE, text=True)
    assert orphan_parent.stdout is not None
    orphan = int(orphan_parent.stdout.readline())
    orphan_parent.wait(timeout=30)
    try:
        left = _left_behind(before)
        assert child.pid in left and orphan in left, left
    finally:
        child.kill()
        child.wait()
        os.kill(orphan, 9)
    import time

    deadline = time.time() + 10
    while _left_behind(before) and time.time() < deadline:
        time.sleep(0.1)
    assert not _left_behind(before)
