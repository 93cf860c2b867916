"""The README's commands paste as written: every fenced `fashionlab ...` line (continuation lines joined)
is valid bash, so parentheses of search spaces are quoted and descriptions are comments."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

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
