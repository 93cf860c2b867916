"""Shell completion: run and sweep ids on any unique part, config names and files, option values
(typer calls these; they read run.json files only, never Keras)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fashionlab.store import RunStore, default_runs_dir


def _store() -> RunStore:
    """$FASHIONLAB_RUNS, else runs/: while completing, the app's callback (--runs-dir) has not run."""
    return RunStore(default_runs_dir())


def complete_runs(incomplete: str) -> list[str]:
    """Shell completion for run ids (typer calls it; it reads run.json files only)."""
    return [r.id for r in _store().runs() if r.id.startswith(incomplete) or incomplete in r.id]


def complete_configs(ctx: Any, param: Any, incomplete: str) -> list[str]:
    """--config: the shipped configs by name (`--config adam`), then the YAML files and folders here."""
    from fashionlab.config.shipped import shipped

    names = [p.stem for p in shipped() if p.stem.startswith(incomplete)]
    folder, _, start = incomplete.rpartition("/")
    base = Path(folder or ".")
    try:
        found = sorted(base.iterdir()) if base.is_dir() else []
    except OSError:
        found = []
    local = [
        (f"{folder}/" if folder else "") + p.name + ("/" if p.is_dir() else "")
        for p in found
        if p.name.startswith(start) and not p.name.startswith(".") and (p.is_dir() or p.suffix in (".yaml", ".yml"))
    ]
    return names + [p for p in local if p not in names]


def complete_sweeps(incomplete: str) -> list[str]:
    return [n for n in _store().sweep_ids() if incomplete in n]


def any_part(complete: Callable[[str], list[str]]) -> Callable[[Any, Any, str], list[str]]:
    """Completion that may match anywhere in an id, as the commands accept any unique part. Typer's
    `autocompletion` keeps only the values that start with what was typed, so this is click's
    `shell_complete`, which typer still passes on (marked deprecated, without a replacement)."""

    def shell_complete(ctx: Any, param: Any, incomplete: str) -> list[str]:
        return complete(incomplete)

    return shell_complete


def values(*choices: str) -> Callable[[str], list[str]]:
    """Shell completion for an option's values: those that start with what was typed."""

    def complete(incomplete: str) -> list[str]:
        return [c for c in choices if c.startswith(incomplete)]

    return complete


LANGUAGES = ("en", "es")


def anywhere(words: list[str], typed: str) -> list[str] | None:
    """The values of --lang, which the command line takes before or after the command (Typer knows it
    only before: after it, the shell offered file names); None for every other word."""
    if typed.startswith("--lang="):
        return [f"--lang={lang}" for lang in LANGUAGES if f"--lang={lang}".startswith(typed)]
    if words and words[-1] == "--lang":
        return [lang for lang in LANGUAGES if lang.startswith(typed)]
    return None
