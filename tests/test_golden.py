"""Every table as a person sees it: each command run in a real pseudo-terminal 80, 100 and 120 columns wide,
in English and Spanish, over a stored lab (tests/data/lab: the run files of two real sweeps, a search and
the tiny pair, made by scripts/golden_lab.py), compared line by line with tests/golden/<lang>.txt.

One process runs all the commands (it sets the terminal's size before each, as a resize does), so the
imports are paid once. Run ids are written as <name>, the start time of others masked, each run's age
made 10 minutes and every path relative, so the text depends on nothing but the code. After a deliberate change of a table:
FASHIONLAB_UPDATE_GOLDEN=1 pytest tests/test_golden.py, then read the diff of tests/golden before committing.
"""

from __future__ import annotations

import difflib
import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "tests" / "data" / "lab"
GOLDEN = ROOT / "tests" / "golden"
WIDTHS = (80, 100, 120)
SLICE = ["train_samples=300", "test_samples=100", "batch_size=64"]  # scripts/golden_lab.py's

DRIVER = r"""
import fcntl, json, struct, sys, termios
from fashionlab.cli import app
for width, lang, args in json.loads(sys.argv[1]):
    fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 60, width, 0, 0))
    print(f"$ fashionlab {' '.join(args)}", flush=True)
    try:
        app(["--lang", lang, *args], prog_name="fashionlab")
    except SystemExit as done:
        if done.code not in (0, None):
            print(f"[exit {done.code}]", flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
"""


def _lab(tmp: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the stored lab whose runs all started 10 minutes ago; the ids the commands name."""
    runs = tmp / "lab"  # the commands run in `tmp` and name it `lab`: paths the same length on every machine
    shutil.copytree(LAB, runs)
    shutil.copy(ROOT / "configs" / "tiny.yaml", tmp / "tiny.yaml")
    started = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    ids: dict[str, str] = {}
    for info in runs.glob("*/run.json"):
        data = json.loads(info.read_text())
        data["started"] = started
        info.write_text(json.dumps(data, indent=2))
        name = info.parent.name
        if "-tiny-deeper-" in name:
            ids["deeper"] = name
        elif "-tiny-" in name:
            ids["tiny"] = name
    for record in (runs / "sweeps").glob("*.json"):
        command = json.loads(record.read_text())["command"]
        kind = "search" if record.stem.startswith("search-") else "repeats" if "repeats=" in command else "sweep"
        ids[kind] = record.stem
    return runs, ids


def _commands(ids: dict[str, str]) -> list[list[str]]:
    tiny = ids["tiny"].rsplit("-", 1)[-1]  # any unique part names a run
    return [
        ["runs"],
        ["compare"],
        ["compare", "--sweep", ids["sweep"]],
        ["compare", "--sweep", ids["search"]],
        ["compare", "--sweep", ids["repeats"]],
        ["compare", ids["tiny"], ids["deeper"]],
        ["evaluate", tiny],
        ["predict", tiny, "--index", "10"],
        ["predict", tiny, "--errors", "3"],
        ["configs"],
        ["sweep", "--dry-run", "optimizer=adam,sgd,rmsprop", "epochs=1,2", *SLICE],
        ["sweep", "--dry-run", "--config", "./tiny.yaml", "epochs=2,3", *SLICE],  # epochs=2: the stored run, done
    ]  # fmt: skip


def _in_a_terminal(script: list[tuple[int, str, list[str]]], runs: Path) -> str:
    """What a terminal shows while the driver runs `script`, colours and cursor moves taken out."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")}
    env.update(FASHIONLAB_RUNS=runs.name, TERM="xterm-256color", KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=str(ROOT))  # fmt: skip
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, json.dumps(script)], stdin=child, stdout=child,
                            stderr=child, env=env, cwd=runs.parent, close_fds=True)  # fmt: skip
    os.close(child)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([main], [], [], 120)
            if not ready:
                break
            try:
                data = os.read(main, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(main)
        proc.kill() if proc.poll() is None else None
        proc.wait(timeout=30)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]", "", text)


def _masked(text: str, runs: Path, ids: dict[str, str]) -> str:
    text = text.replace(str(runs), "<runs>")
    for name, run in ids.items():
        text = text.replace(run, f"<{name}>")
    return re.sub(r"\b20\d{6}-\d{6}\b", "YYYYMMDD-HHMMSS", text)


@pytest.mark.parametrize("lang", ["en", "es"])
def test_every_table_in_a_terminal_of_80_100_and_120_columns(lang: str, tmp_path: Path) -> None:
    runs, ids = _lab(tmp_path)
    script = [(width, lang, args) for width in WIDTHS for args in _commands(ids)]
    shown = _masked(_in_a_terminal(script, runs), runs, ids)
    blocks = re.split(r"(?m)^(?=\$ fashionlab )", shown)
    assert len([b for b in blocks if b.startswith("$ ")]) == len(script), shown[-3000:]
    for (width, _, args), block in zip(script, [b for b in blocks if b.startswith("$ ")], strict=True):
        assert "[exit " not in block and "Traceback" not in block, block
        wide = [line for line in block.splitlines()[1:] if len(line.rstrip()) > width]
        assert not wide, f"wider than {width}: {args}\n" + "\n".join(wide)
        assert not re.search(r"\d…|…\d", block), f"a number cut at {width}: {args}\n{block}"
        assert "…" not in block, f"something cut at {width}: {args}\n{block}"  # a bar, a word, a label
    golden = GOLDEN / f"{lang}.txt"
    if os.environ.get("FASHIONLAB_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(shown)
    expected = golden.read_text()
    if shown != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), shown.splitlines(True), "golden", "now", n=2))
        pytest.fail(f"{golden.relative_to(ROOT)} differs (FASHIONLAB_UPDATE_GOLDEN=1 rewrites it):\n{diff[:8000]}")


def test_the_spanish_screens_say_no_phrase_of_the_stop_list() -> None:
    """Every table of the golden Spanish screens (all widths) is free of the English a student read (issue 33)."""
    from tests.test_i18n import STOP_LIST

    said = (GOLDEN / "es.txt").read_text()
    assert not [phrase for phrase in STOP_LIST if phrase in said]
