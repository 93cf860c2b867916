"""The README's commands paste as written: every fenced `fashionlab ...` line (continuation lines joined)
is valid bash, so parentheses of search spaces are quoted and descriptions are comments."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Cli

README = Path(__file__).resolve().parent.parent / "README.md"


def fenced_commands() -> list[str]:
    commands: list[str] = []
    for block in re.findall(r"^```[\w-]*\n(.*?)^```", README.read_text(), re.S | re.M):
        pending = ""
        for line in block.splitlines():
            line = pending + line.strip().removeprefix("$ ")
            pending = ""
            if line.endswith("\\"):
                pending = line[:-1] + " "
            elif line.startswith("fashionlab "):
                commands.append(line)
    return commands


def test_every_fenced_fashionlab_command_is_valid_bash() -> None:
    commands = fenced_commands()
    assert len(commands) > 30
    bad = [c for c in commands if subprocess.run(["bash", "-n", "-c", c], capture_output=True).returncode]
    assert not bad, "\n".join(bad)


CHEAP = ("schema", "configs", "runs", "show", "data")  # no training: run as written


def test_the_cheap_readme_commands_run_as_written(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Those that train nothing (and dry runs) run as pasted, optional [parts] left out, in an empty folder."""
    monkeypatch.chdir(tmp_path)
    ran = []
    for command in fenced_commands():
        words = shlex.split(re.sub(r"\[[^\[\]]*(\[[^\]]*\])?[^\]]*\]", "", command), comments=True)[1:]
        if words and (words[0] in CHEAP or "--dry-run" in words):
            result = cli(*words)
            assert result.exit_code == 0, f"{command}\n{result.output}"
            ran.append(words[0])
    assert {"schema", "configs", "runs", "show", "data", "sweep"} <= set(ran)
    assert (tmp_path / "net.png").stat().st_size > 1000  # show --config deeper --draw net.png
