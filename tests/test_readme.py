"""The README and the pages of docs/: every fenced `fashionlab ...` line (continuation lines joined) is
valid bash, so parentheses of search spaces are quoted and descriptions are comments; the cheap ones run
as written; every link points at a file (and heading) that exists; the README reads in five minutes."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]


def fenced_commands() -> list[str]:
    commands: list[str] = []
    text = "\n".join(page.read_text() for page in PAGES)
    for block in re.findall(r"^```[\w-]*\n(.*?)^```", text, re.S | re.M):
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


def _anchor(heading: str) -> str:
    """A heading's anchor as GitHub and mkdocs make it: lower case, punctuation dropped, spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_points_at_a_file_and_heading_that_exist() -> None:
    links = 0
    for page in PAGES:
        text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)  # links in code are not links
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not fetched here (no network in CI)
            links += 1
            path, _, anchor = target.partition("#")
            found = (page.parent / path).resolve() if path else page
            assert found.exists(), f"{page.relative_to(ROOT)}: {target} does not exist"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", found.read_text(), re.M)
                assert anchor in {_anchor(h) for h in headings}, f"{page.relative_to(ROOT)}: no heading #{anchor}"
    assert links >= 15


def test_the_readme_reads_in_five_minutes_and_links_every_page() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    assert text.startswith("# fashionlab\n\n```\nmake demo") and "make test" in text.split("```")[1]
    unlinked = [p.name for p in PAGES[1:] if f"(docs/{p.name})" not in text]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"
