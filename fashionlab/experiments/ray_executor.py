"""Running trials as Ray tasks, on this machine or on a Ray cluster.

Each group of trials (those that differ only in epochs) is one task with declared resources. It
trains into a scratch runs directory on whichever machine Ray picks, then returns the run
directories' files, which land in the launching machine's runs directory: a Ray sweep's runs are the
same files as a local sweep's. Resuming works the same way because the launcher decides what is
missing before it submits anything. Ray is an optional extra: pip install 'fashionlab[ray]'.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fashionlab import compat
from fashionlab.config import Source, validate
from fashionlab.errors import FashionlabError
from fashionlab.events import Sink
from fashionlab.experiments.executors import GroupSource, Record, thread_env
from fashionlab.experiments.trials import run_group
from fashionlab.store import RunStatus, RunStore, TrialOutcome
from fashionlab.store.store import launch_command


@dataclass
class RayOptions:
    address: str | None = None  # None: start a local Ray instance
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0  # fractions let several trials share one GPU


def require_ray() -> None:
    """Ray is there to import (checked before anything is planned or printed; importing it costs ~2 s)."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        _ray()


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise FashionlabError("`executor` ray needs Ray: pip install 'fashionlab[ray]'") from None
    return ray


def connect(options: RayOptions) -> Any:
    """Join the cluster at `address`, or start a local Ray instance sized to this machine."""
    if not options.address:
        # Ray's own switch for a one-machine instance: its node address is then loopback, and so are the
        # addresses its GCS, raylet and workers listen on (without it they listen on every interface)
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    if options.address:
        _token_mode()  # read as Ray is imported
    ray = _ray()
    if ray.is_initialized():
        return ray
    if not options.address:  # read when Ray was imported, which may have been before this call
        compat.ray_single_machine(ray)
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    # this fashionlab, as the launcher runs it, goes to every worker: a node needs only Ray, Keras and their packages
    kwargs["runtime_env"] = {"py_modules": [str(Path(__file__).resolve().parent.parent)], "excludes": ["__pycache__"]}
    if options.address and options.address != "auto":
        _check_reachable(options.address)
    said = ""
    try:
        if options.address:
            with _stderr_kept() as kept:  # Ray's C++ client retries for seconds, logging each try on fd 2
                try:
                    ray.init(address=options.address, **kwargs)
                finally:
                    said = kept()
        else:  # "local": a new instance of its own, not a cluster already running here (`ray start --head`) or
            # one named by RAY_ADDRESS or by a stale /tmp/ray/ray_current_cluster, which refuse object_store_memory
            ray.init(address="local", object_store_memory=200 * 1024 * 1024, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        if "InvalidAuthToken" in said or "Unauthenticated" in said:
            raise FashionlabError(
                f"the Ray cluster at {options.address} refused this machine's token (token authentication: on by "
                "default for clusters started with 'ray start' since Ray 2.59); set RAY_AUTH_MODE=token and "
                "give the head node's token ('ray get-auth-token' there) in ~/.ray/auth_token, RAY_AUTH_TOKEN_PATH "
                "or RAY_AUTH_TOKEN"
            ) from None
        where = f"the Ray cluster at {options.address}" if options.address else "a local Ray instance"
        raise FashionlabError(f"cannot start or reach {where} ({exc}); check 'ray status'") from None
    _check_room(ray, options)
    return ray


def _token_mode() -> None:
    """Ray's token authentication for a cluster this machine has a token for (RAY_AUTH_TOKEN,
    RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token, which 'ray start' writes): Ray's client sends it only in
    token mode, and a cluster started with token authentication refuses a client without it."""
    if os.environ.get("RAY_AUTH_MODE"):
        return
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or Path(path).is_file():
        os.environ["RAY_AUTH_MODE"] = "token"


@contextlib.contextmanager
def _stderr_kept() -> Iterator[Callable[[], str]]:
    """File descriptor 2 into a file for the block (C++ logs included); what was written comes back."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield lambda: (os.lseek(caught.fileno(), 0, 0), caught.read().decode(errors="replace"))[1]
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


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
    config_dicts: list[dict[str, Any]], label: str, command: str | None = None, dataset: Any = None
) -> tuple[list[TrialOutcome], dict[str, dict[str, bytes]], str]:
    """Runs inside a Ray worker: train the group into scratch space, hand back the run directories. The
    data comes from the launcher through Ray's object store (a node needs no copy of its own)."""
    if dataset is not None:
        from fashionlab import data

        data.provide(dataset)
    scratch = Path(tempfile.mkdtemp(prefix="fashionlab-ray-"))
    try:
        store = RunStore(scratch / "runs")
        outcomes = run_group(config_dicts, str(store.root), label, None, "ray", command)  # no epoch events from Ray
        node = _node_address()
        for outcome in outcomes:
            if outcome.error and not outcome.completed:
                outcome.error = f"{outcome.error} (on the Ray node at {node})"
        return outcomes, store.pack(), socket.gethostname()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _node_address() -> str:
    try:
        import ray

        return str(ray.util.get_node_ip_address())
    except Exception:
        return socket.gethostname()


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
    runtime_env = {
        "env_vars": thread_env(max(1, int(options.cpus_per_trial))),
    }
    return remote(remote_group).options(runtime_env=runtime_env)


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def task_error(error: Exception) -> str:
    """What a failed Ray task says: its cause in one line (ModuleNotFoundError: No module named 'x') and
    the node it ran on, without the terminal colours of Ray's traceback."""
    cause = getattr(error, "cause", None) or error
    text = ANSI.sub("", str(cause)).strip().splitlines()
    ip = getattr(error, "ip", None)
    where = f" on the Ray node at {ip}" if ip else ""
    return f"Ray task failed{where}: {cause.__class__.__name__}: {text[-1] if text else ''}".rstrip(": ")


def lost_task(error: Exception, configs: list[dict[str, Any]], store: RunStore) -> list[TrialOutcome]:
    """A task whose worker or node failed: each trial gets a failed run with the cause (so it shows in the
    sweep's table and `runs`; a rerun tries it again), and the sweep goes on."""
    message = task_error(error)
    outcomes = []
    for data in configs:
        config = validate(data, Source(None, {}))
        run = store.create(
            config.name, config.hash(), config.to_yaml(), {"config": config.resolved(), "executor": "ray"}
        )
        run.mark_failed(message)
        outcomes.append(TrialOutcome(config.hash(), RunStatus.FAILED, run.id, error=message))
    return outcomes


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
        self, source: GroupSource, store: RunStore, log_id: str, record: Record, events: Sink | None, fail_fast: bool
    ) -> bool:
        ray = connect(self.options)
        first = [] if self.as_slots_free else list(iter(source, None))
        task = make_task(ray, self.options, {c.get("backend") for g in first for c in g.configs})
        command = launch_command()  # the user's, not the Ray worker's, goes into each run.json
        slots = max(1, int(ray.cluster_resources().get("CPU", 1) // self.options.cpus_per_trial))
        from fashionlab.data import load_data
        from fashionlab.errors import DataError

        try:  # Fashion-MNIST once, through the object store to every node (other data sets load there)
            dataset = ray.put(load_data())
        except DataError:
            dataset = None
        pending = {task.remote(g.configs, g.label, command, dataset): g for g in first}
        while self.as_slots_free and len(pending) < slots and (group := source()) is not None:
            pending[task.remote(group.configs, group.label, command, dataset)] = group
        while pending:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            group = pending.pop(ready)
            try:
                outcomes, packed, host = ray.get(ready)
            except Exception as exc:
                outcomes, packed, host = lost_task(exc, group.configs, store), {}, ""
            land(store, outcomes, packed, host)
            if record(group, outcomes) and fail_fast:
                for ref in pending:
                    ray.cancel(ref)
                return True
            while self.as_slots_free and len(pending) < slots and (group := source()) is not None:
                pending[task.remote(group.configs, group.label, command, dataset)] = group
        return False
