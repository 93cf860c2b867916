"""The package's layout rules, checked by parsing its source with `ast` (docs/development.md).

One owner per concern: store/ alone knows the run directory's file names, engine/ alone imports the ML
frameworks, cli/ alone prints with Typer and Rich's Console and names command-line flags; imports
point one way (cli -> experiments -> views -> engine -> results -> store/config/data/metrics -> errors) with no
cycles: the engine trains and returns, views draw what it wrote (curves.png after the engine returned).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fashionlab"
RUN_FILES = ("run.json", "history.csv", "metrics.json", "model.keras", "checkpoint.npz", "config.yaml")
FRAMEWORKS = ("keras", "jax", "tensorflow", "torch")
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80
# Lower layers never import higher ones; a module may import its own layer and those below.
LAYERS = {
    "errors": 0, "_catalog": 0, "pvalues": 0, "i18n": 0, "compat": 0, "text": 0,
    "config": 1, "data": 1, "datasets": 1, "events": 1, "metrics": 1, "evidence": 1, "store": 1, "network": 1, "keys": 1,
    "results": 1.5, "engine": 2, "experiments": 3, "views": 3.5, "usecases": 4, "api": 4.5, "ui": 4.5, "cli": 5, "__main__": 6,
}  # fmt: skip


@dataclass
class Module:
    name: str  # fashionlab.store.run
    path: Path
    tree: ast.Module

    @property
    def top(self) -> str:
        """The part of the package it belongs to: store, engine, config, ..."""
        parts = self.name.split(".")
        return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> list[Module]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append(Module(".".join(parts), path, ast.parse(path.read_text(), str(path))))
    return out


MODULES = _modules()
NAMES = {m.name for m in MODULES}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of every node inside an `if TYPE_CHECKING:` block (imports there cost nothing at run time)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                inside.update(id(n) for n in ast.walk(child))
    return inside


def _imports(module: Module) -> list[tuple[str, int]]:
    """(imported module, line) for every import that runs, module-level or inside a function."""
    skip = _type_checking_nodes(module.tree)
    found = []
    for node in ast.walk(module.tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from fashionlab.store import files` imports the module store.files
                sub = f"{node.module}.{alias.name}"
                found.append((sub if sub in NAMES else node.module, node.lineno))
    return found


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _strings(node: ast.AST, skip: set[int] | None = None) -> list[tuple[str, int]]:
    return [
        (n.value, n.lineno)
        for n in ast.walk(node)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in (skip or set())
    ]


def _report(problems: list[str]) -> None:
    assert not problems, "\n".join(problems)


def test_only_the_store_knows_run_directory_file_names() -> None:
    problems = []
    for module in MODULES:
        if module.top == "store":
            continue
        for text, line in _strings(module.tree, _docstrings(module.tree)):
            named = [f for f in RUN_FILES if f in text] + (["sweeps"] if re.search(r"(^|/)sweeps(/|$)", text) else [])
            if named:
                problems.append(f"{module.path}:{line}: names {', '.join(named)} (ask fashionlab.store for it)")
    _report(problems)


def test_only_the_engine_imports_ml_frameworks() -> None:
    problems = [
        f"{m.path}:{line}: imports {name}"
        for m in MODULES
        if m.top != "engine"
        for name, line in _imports(m)
        if name.split(".")[0] in FRAMEWORKS
    ]
    _report(problems)


PRIVATE_USES = {"fashionlab.compat", "fashionlab.engine.keras_shims"}  # each use checked against TESTED


def test_private_apis_of_other_packages_are_used_in_the_shim_modules_only() -> None:
    """`model._symbolic_build`, `trial._trial_id`: another package's private name, read outside
    compat.py (Typer, Ray, Optuna, Python) and engine/keras_shims.py (Keras), has no version check."""
    problems = [
        f"{m.path}:{node.lineno}: {node.value.id if isinstance(node.value, ast.Name) else '...'}.{node.attr}"
        for m in MODULES
        if m.name not in PRIVATE_USES
        for node in ast.walk(m.tree)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
        and node.attr != "_exit"  # os._exit is public
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    ]  # fmt: skip
    _report(problems)


def test_no_import_cycles() -> None:
    graph = {m.name: {name for name, _ in _imports(m) if name in NAMES and name != "fashionlab"} for m in MODULES}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    _report([" -> ".join(c) for c in cycles])


def test_imports_point_one_way() -> None:
    problems = []
    for m in MODULES:
        if m.top not in LAYERS:
            continue
        for name, line in _imports(m):
            parts = name.split(".")
            if parts[0] != "fashionlab" or len(parts) < 2 or parts[1] not in LAYERS:
                continue
            if LAYERS[parts[1]] > LAYERS[m.top]:
                problems.append(f"{m.path}:{line}: {m.top} imports {name}, a layer above it")
    _report(problems)


def test_only_the_cli_prints_and_names_flags() -> None:
    problems = []
    for m in MODULES:
        if m.top in ("cli", "__main__", "compat"):
            continue
        skip = _type_checking_nodes(m.tree)
        for node in ast.walk(m.tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "typer" for a in node.names):
                problems.append(f"{m.path}:{node.lineno}: imports typer")
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {a.name for a in node.names}
                # api.py is the notebook's front end: its progress lines are the one print outside cli/
                printing = node.module == "rich.console" and "Console" in names and m.top != "api"
                if node.module.split(".")[0] == "typer" or printing:
                    problems.append(f"{m.path}:{node.lineno}: imports {node.module} for printing")
            if isinstance(node, ast.Raise) and node.exc is not None:
                for text, line in _strings(node.exc):
                    commands_removed = re.sub(r"'fashionlab [^']*'", "", text)  # a whole command to run is fine
                    if re.search(r"(?<![\w-])--[a-z]", commands_removed):
                        problems.append(f"{m.path}:{line}: message names a flag: {text!r} (write `parameter`)")
    _report(problems)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_modules_and_functions_stay_small(module: Module) -> None:
    problems = []
    lines = len(module.path.read_text().splitlines())
    if lines > MAX_MODULE_LINES:
        problems.append(f"{module.path}: {lines} lines (at most {MAX_MODULE_LINES})")
    for node in ast.walk(module.tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                problems.append(f"{module.path}:{node.lineno}: {node.name} is {length} lines (at most 80)")
    _report(problems)


def test_the_rules_see_what_they_check() -> None:
    """Guards against a checker that passes because it found nothing to look at."""
    assert {"fashionlab.store.files", "fashionlab.engine.fit", "fashionlab.cli.common"} <= NAMES
    files = next(m for m in MODULES if m.name == "fashionlab.store.files")
    assert {"run.json", "model.keras", "sweeps"} <= {s for s, _ in _strings(files.tree)}
    fit = next(m for m in MODULES if m.name == "fashionlab.engine.fit")
    assert any(name == "keras" for name, _ in _imports(fit))
    common = next(m for m in MODULES if m.name == "fashionlab.cli.common")
    assert any(name == "typer" for name, _ in _imports(common))
    run = next(m for m in MODULES if m.name == "fashionlab.store.run")
    assert any(n == "fashionlab.store.files" for n, _ in _imports(run))


def test_only_the_store_reads_and_writes_run_json_fields() -> None:
    """run.json has one owner: elsewhere its fields are read by name from RunInfo (`run.info.backend`) and
    changed only through Run's transition methods (mark_completed, mark_failed, record_epochs, ...)."""
    pattern = re.compile(r"\.info\.get\(|\.info\[|\brun\.update\(|\.run\.update\(|RUN_INFO")
    found = [
        f"{m.name}:{n}: {line.strip()}"
        for m in MODULES
        if m.top != "store"
        for n, line in enumerate(m.path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


def _command_functions() -> list[tuple[Module, ast.FunctionDef]]:
    return [
        (m, node)
        for m in MODULES
        if m.top == "cli"
        for node in ast.walk(m.tree)
        if isinstance(node, ast.FunctionDef) and any("command" in ast.unparse(d) for d in node.decorator_list)
    ]


def test_a_command_parses_calls_one_use_case_and_renders_in_at_most_30_lines() -> None:
    """The orchestration lives in fashionlab/usecases (shared with the Python API), not in the commands."""
    commands = _command_functions()
    assert len(commands) >= 14  # train, sweep, search, predict, report, ...
    problems = []
    for module, node in commands:
        body = node.body[1:] if isinstance(node.body[0], ast.Expr) else node.body  # after the docstring
        length = (node.end_lineno or node.lineno) - body[0].lineno + 1
        if length > 30:
            problems.append(f"{module.path}:{node.lineno}: command {node.name} is {length} lines (at most 30)")
    _report(problems)


def test_only_the_recorder_writes_to_the_store_during_training() -> None:
    """engine/callbacks.py: each callback reads its logs; the Recorder alone records into the runs
    (history, best weights, checkpoints, completion and how the others ended)."""
    writes = re.compile(r"^(record_|save_|mark_|write_|writing_)")
    module = next(m for m in MODULES if m.name == "fashionlab.engine.callbacks")
    problems, seen = [], 0
    for cls in (n for n in module.tree.body if isinstance(n, ast.ClassDef)):
        for node in ast.walk(cls):
            target = node.value if isinstance(node, ast.Attribute) else None
            if isinstance(target, ast.Attribute) and target.attr == "run" and writes.match(node.attr):
                seen += 1
                if cls.name != "Recorder":
                    problems.append(f"{module.path}:{node.lineno}: {cls.name} writes run.{node.attr}")
    assert seen >= 6  # the rule sees the Recorder's writes
    _report(problems)
