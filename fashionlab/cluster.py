"""Running trials as Ray tasks, on this machine or on a Ray cluster (`--executor ray [--address ADDR]`).

Each group of trials (those that differ only in epochs) is one task with declared resources. It
trains into a scratch runs directory on whichever machine Ray picks, then returns the run
directories' files, which land in the launching machine's runs directory: a Ray sweep's runs are the
same files as a local sweep's. Resuming works the same way because the launcher decides what is
missing before it submits anything. Ray is an optional extra: pip install 'fashionlab[ray]'.
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fashionlab.errors import FashionlabError
from fashionlab.runs import write_atomic
from fashionlab.sweep import thread_env


@dataclass
class RayOptions:
    address: str | None = None  # None: start a local Ray instance
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0  # fractions let several trials share one GPU


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise FashionlabError(
            "--executor ray needs Ray: pip install 'fashionlab[ray]' (make test installs it)"
        ) from None
    return ray


def connect(options: RayOptions) -> Any:
    """Join the cluster at `address`, or start a local Ray instance sized to this machine."""
    ray = _ray()
    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    try:
        if options.address:
            ray.init(address=options.address, **kwargs)
        else:
            # a local instance listens on loopback only
            ray.init(object_store_memory=200 * 1024 * 1024, _node_ip_address="127.0.0.1", **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {options.address}" if options.address else "a local Ray instance"
        raise FashionlabError(f"cannot start or reach {where} ({exc}); check 'ray status'") from None
    return ray


def remote_group(
    config_dicts: list[dict[str, Any]], label: str
) -> tuple[list[dict[str, Any]], dict[str, dict[str, bytes]], str]:
    """Runs inside a Ray worker: train the group into scratch space, hand back the run directories."""
    from fashionlab.sweep import run_group

    scratch = Path(tempfile.mkdtemp(prefix="fashionlab-ray-"))
    try:
        outcomes = run_group(config_dicts, str(scratch / "runs"), label, lambda event: None, str(scratch / "logs"))
        files: dict[str, dict[str, bytes]] = {}
        for run_dir in sorted((scratch / "runs").iterdir()) if (scratch / "runs").is_dir() else []:
            if run_dir.is_dir() and not run_dir.name.startswith("."):
                files[run_dir.name] = {
                    p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file() and not p.name.startswith(".")
                }
        return outcomes, files, socket.gethostname()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def land(runs_dir: Path, outcomes: list[dict[str, Any]], files: dict[str, dict[str, bytes]], host: str) -> None:
    """Write a task's run directories into `runs_dir`, never over an existing one."""
    renamed: dict[str, str] = {}
    for run_id, contents in files.items():
        target_id = run_id
        for n in range(2, 1000):
            try:
                (runs_dir / target_id).mkdir(parents=True)
                break
            except FileExistsError:
                target_id = f"{run_id}-{n}"
        renamed[run_id] = target_id
        target = runs_dir / target_id
        info = json.loads(contents.get("run.json", b"{}"))
        info.update(id=target_id, trained_on=host, executor="ray")
        for name, data in contents.items():
            if name != "run.json":
                write_atomic(target / name, data)
        write_atomic(target / "run.json", json.dumps(info, indent=2, default=str) + "\n")
    for outcome in outcomes:
        if outcome.get("run_id") in renamed:
            outcome["run_id"] = renamed[outcome["run_id"]]


def make_task(ray: Any, options: RayOptions, backends: set[Any]) -> Any:
    """The Ray task with its resources. Workers are reused (Keras imported once per worker) unless the
    trials mix Keras backends, which one process cannot switch between."""
    max_calls = 1 if len(backends) > 1 else 0
    remote = ray.remote(num_cpus=options.cpus_per_trial, num_gpus=options.gpus_per_trial, max_calls=max_calls)
    return remote(remote_group).options(runtime_env={"env_vars": thread_env(max(1, int(options.cpus_per_trial)))})


def run_groups(
    groups: list[list[dict[str, Any]]],
    runs_dir: Path,
    options: RayOptions,
    record: Callable[[list[dict[str, Any]]], bool],
    fail_fast: bool,
) -> bool:
    """Submit every group as a Ray task; land and record each as it finishes. Returns True if stopped early."""
    ray = connect(options)
    task = make_task(ray, options, {c.get("backend") for g in groups for c in g})
    pending = {task.remote(group, f"g{i}"): group for i, group in enumerate(groups)}
    while pending:
        (ready,), _ = ray.wait(list(pending), num_returns=1)
        group = pending.pop(ready)
        try:
            outcomes, files, host = ray.get(ready)
        except Exception as exc:  # a lost worker or node: the trials failed, the sweep goes on
            from fashionlab.config import Source, validate

            message = f"Ray task failed: {exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            outcomes = [
                {"hash": validate(c, Source(None, {})).hash(), "status": "failed", "run_id": None, "error": message}
                for c in group
            ]
            files, host = {}, ""
        land(runs_dir, outcomes, files, host)
        if record(outcomes) and fail_fast:
            for ref in pending:
                ray.cancel(ref)
            return True
    return False
