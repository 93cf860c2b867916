"""Running trials as Ray tasks, on this machine or on a Ray cluster.

Each group of trials (those that differ only in epochs) is one task with declared resources. It
trains into a scratch runs directory on whichever machine Ray picks, then returns the run
directories' files, which land in the launching machine's runs directory: a Ray sweep's runs are the
same files as a local sweep's. Resuming works the same way because the launcher decides what is
missing before it submits anything. Ray is an optional extra: pip install 'fashionlab[ray]'.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fashionlab import compat
from fashionlab.config import Source, validate
from fashionlab.errors import FashionlabError
from fashionlab.experiments.executors import Dispatch, GroupSource, Record, thread_env
from fashionlab.experiments.trials import run_group
from fashionlab.store import RunStatus, RunStore, TrialOutcome
from fashionlab.store.store import launch_command


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
            "`executor` ray needs Ray: pip install 'fashionlab[ray]' (make test installs it)"
        ) from None
    return ray


def connect(options: RayOptions) -> Any:
    """Join the cluster at `address`, or start a local Ray instance sized to this machine."""
    if not options.address:
        # Ray's own switch for a one-machine instance: its node address is then loopback, and so are the
        # addresses its GCS, raylet and workers listen on (without it they listen on every interface)
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray = _ray()
    if ray.is_initialized():
        return ray
    if not options.address:  # read when Ray was imported, which may have been before this call
        compat.ray_single_machine(ray)
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if options.address and options.address != "auto":
        _check_reachable(options.address)
    try:
        if options.address:
            ray.init(address=options.address, **kwargs)
        else:
            ray.init(object_store_memory=200 * 1024 * 1024, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {options.address}" if options.address else "a local Ray instance"
        raise FashionlabError(f"cannot start or reach {where} ({exc}); check 'ray status'") from None
    _check_room(ray, options)
    return ray


def _check_reachable(address: str) -> None:
    """A cluster's GCS answers on its address within 3 s, or the address is refused at once (Ray itself
    retries for a minute and a half, printing C++ warnings)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # a form Ray knows and this check does not: let Ray judge it
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            pass
    except OSError as exc:
        raise FashionlabError(
            f"no Ray cluster answers at {address} ({exc.strerror or exc}); start Ray's head node there, "
            "or leave out `address` to run on this machine"
        ) from None


def _check_room(ray: Any, options: RayOptions) -> None:
    """A trial asking for more CPUs or GPUs than any node of the cluster has would wait forever."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    for kind, asked in (("CPU", options.cpus_per_trial), ("GPU", options.gpus_per_trial)):
        most = max((float(n.get(kind, 0)) for n in nodes), default=0.0)
        if asked and asked > most:
            raise FashionlabError(
                f"each trial asks for {asked:g} {kind}s (`{kind.lower()}s_per_trial`) but the largest node of the Ray "
                f"cluster has {most:g}; ask for at most {most:g}"
            )


def remote_group(
    config_dicts: list[dict[str, Any]], label: str, command: str | None = None
) -> tuple[list[TrialOutcome], dict[str, dict[str, bytes]], str]:
    """Runs inside a Ray worker: train the group into scratch space, hand back the run directories."""
    scratch = Path(tempfile.mkdtemp(prefix="fashionlab-ray-"))
    try:
        store = RunStore(scratch / "runs")
        outcomes = run_group(config_dicts, str(store.root), label, lambda event: None, "ray", command)
        return outcomes, store.pack(), socket.gethostname()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def land(store: RunStore, outcomes: list[TrialOutcome], packed: dict[str, dict[str, bytes]], host: str) -> None:
    """Write a task's run directories into `store` and point the outcomes at their landed ids."""
    renamed = store.land(packed, host)
    for outcome in outcomes:
        if outcome.run_id in renamed:
            outcome.run_id = renamed[outcome.run_id]


def make_task(ray: Any, options: RayOptions, backends: set[Any]) -> Any:
    """The Ray task with its resources. Workers are reused (Keras imported once per worker) unless the
    trials mix Keras backends, which one process cannot switch between."""
    max_calls = 1 if len(backends) > 1 else 0
    remote = ray.remote(num_cpus=options.cpus_per_trial, num_gpus=options.gpus_per_trial, max_calls=max_calls)
    return remote(remote_group).options(runtime_env={"env_vars": thread_env(max(1, int(options.cpus_per_trial)))})


def lost_task(error: Exception, configs: list[dict[str, Any]]) -> list[TrialOutcome]:
    """Outcomes for a task whose worker or node was lost: its trials failed, the sweep goes on."""
    first = str(error).splitlines()[0] if str(error) else ""
    message = f"Ray task failed: {error.__class__.__name__}: {first}"
    return [TrialOutcome(validate(c, Source(None, {})).hash(), RunStatus.FAILED, None, error=message) for c in configs]


class RayExecutor:
    """Every group as a Ray task; each is landed and recorded as it finishes.

    A sweep's groups are all submitted at once (Ray queues them); with `as_slots_free` (a search) a group
    is asked of the source only when the cluster has a free slot, so each trial's proposal knows the
    results of those before it.
    """

    def __init__(self, options: RayOptions, as_slots_free: bool = False) -> None:
        self.options = options
        self.as_slots_free = as_slots_free

    def run(
        self, source: GroupSource, store: RunStore, log_id: str, record: Record, dispatch: Dispatch, fail_fast: bool
    ) -> bool:
        ray = connect(self.options)
        first = [] if self.as_slots_free else list(iter(source, None))
        task = make_task(ray, self.options, {c.get("backend") for g in first for c in g.configs})
        command = launch_command()  # the user's, not the Ray worker's, goes into each run.json
        slots = max(1, int(ray.cluster_resources().get("CPU", 1) // self.options.cpus_per_trial))
        pending = {task.remote(g.configs, g.label, command): g for g in first}
        while self.as_slots_free and len(pending) < slots and (group := source()) is not None:
            pending[task.remote(group.configs, group.label, command)] = group
        while pending:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            group = pending.pop(ready)
            try:
                outcomes, packed, host = ray.get(ready)
            except Exception as exc:
                outcomes, packed, host = lost_task(exc, group.configs), {}, ""
            land(store, outcomes, packed, host)
            if record(group, outcomes) and fail_fast:
                for ref in pending:
                    ray.cancel(ref)
                return True
            while self.as_slots_free and len(pending) < slots and (group := source()) is not None:
                pending[task.remote(group.configs, group.label, command)] = group
        return False
