"""Sweeps and searches on a real local Ray cluster (2 CPUs): same runs on disk as the local executor."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fashionlab.experiments import ray_executor
from fashionlab.store import RunStore
from tests.conftest import Cli

ray = pytest.importorskip("ray")
ITEMS = ["lr=0.001,0.003", "epochs=1,2", "train_samples=1000", "test_samples=100"]


@pytest.fixture(scope="module", autouse=True)
def local_cluster():  # type: ignore[no-untyped-def]
    """The local instance fashionlab starts itself for --executor ray without --address."""
    ray_executor.connect(ray_executor.RayOptions())
    yield
    ray.shutdown()


def listening(pids: set[int]) -> list[str]:
    """The addresses (hex, as /proc/net/tcp* writes them) that these processes listen on."""
    inodes = {}
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
        except OSError:
            continue
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                found.append(fields[1].split(":")[0])
    return found


def ray_processes() -> set[int]:
    pids = {os.getpid()}
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if proc.name.isdigit() and ("gcs_server" in cmd or "raylet" in cmd or "ray::" in cmd or "/ray/" in cmd):
            pids.add(int(proc.name))
    return pids


def test_a_local_ray_instance_listens_on_loopback_only() -> None:
    assert ray.get(ray.remote(lambda: 1).remote()) == 1  # workers up
    addresses = listening(ray_processes())
    loopback = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}  # v4, v4-in-v6, ::1
    assert len(addresses) >= 3 and set(addresses) <= loopback, addresses


def strip(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_ray_sweep_matches_local_sweep(tmp_path: Path) -> None:
    local, remote = Cli(tmp_path / "local"), Cli(tmp_path / "ray")
    assert local("sweep", "--jobs", "1", *ITEMS).exit_code == 0
    result = remote("sweep", "--executor", "ray", "--cpus-per-trial", "1", *ITEMS)
    assert result.exit_code == 0, result.output
    by_hash = lambda d: {r.info.config_hash: r for r in RunStore(d).runs()}  # noqa: E731
    here, there = by_hash(tmp_path / "local"), by_hash(tmp_path / "ray")
    assert here.keys() == there.keys() and len(here) == 4
    for h, run in there.items():
        assert run.info.executor == "ray" and run.status == "completed"
        assert run.info.command == here[h].info.command  # the launching command, not the Ray worker's
        assert strip(run.history()) == strip(here[h].history())
        assert run.metrics()["test"] == here[h].metrics()["test"]
        assert sorted(p.name for p in run.path.iterdir()) == sorted(p.name for p in here[h].path.iterdir())
    again = remote("sweep", "--executor", "ray", *ITEMS)
    assert "4 already done, 0 to train" in again.stderr  # resuming works the same


def test_ray_search(tmp_path: Path) -> None:
    result = Cli(tmp_path / "runs")(
        "search",
        "--executor",
        "ray",
        "lr=loguniform(1e-4,1e-2)",
        "epochs=1",
        "train_samples=1000",
        "test_samples=100",
        "--trials",
        "3",
        "--json",
    )
    assert result.exit_code == 0, result.output
    trials = json.loads(result.stdout)["trials"]
    assert [t["status"] for t in trials] == ["completed"] * 3
    assert all(r.info.executor == "ray" for r in RunStore(tmp_path / "runs").runs())


def test_a_two_node_cluster_whose_worker_node_has_neither_fashionlab_nor_the_data(tmp_path: Path) -> None:
    """`ray start` twice on 127.0.0.1: a head with no CPUs (so every trial runs on the other node) and a
    node whose Python finds a broken fashionlab first and no data; fashionlab ships itself (py_modules)
    and the data (object store). Token authentication as Ray 2.59+ sets it up for `ray start`."""
    import shutil
    import socket
    import subprocess
    import sys

    exe = Path(sys.executable).parent
    fake = tmp_path / "site" / "fashionlab"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'fashionlab'\", name='fashionlab')\n"
    )
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}  # the module's local instance set some
    base = {**clean, "PATH": f"{exe}:{os.environ['PATH']}", "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(tmp_path / "token")}  # fmt: skip
    (tmp_path / "token").write_text("fashionlab-test-token-0123456789abcdef\n")
    node_env = {**base, "PYTHONPATH": str(tmp_path / "site"), "FASHIONLAB_DATA": str(tmp_path / "no-data")}
    common = ["--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    ray_exe = str(exe / "ray")
    try:
        subprocess.run([ray_exe, "start", "--head", "--port", str(port), "--num-cpus", "0", "--include-dashboard", "false", *common], env=base,
                       check=True, capture_output=True, timeout=120)  # fmt: skip
        subprocess.run([ray_exe, "start", "--address", f"127.0.0.1:{port}", "--num-cpus", "2", *common],
                       env=node_env, check=True, capture_output=True, timeout=120)  # fmt: skip
        runs = tmp_path / "runs"
        driver = {k: v for k, v in base.items() if k != "RAY_AUTH_MODE"}  # fashionlab turns token mode on
        args = [str(exe / "fashionlab"), "sweep", "lr=0.001,0.002", "epochs=1", "train_samples=300",
                "test_samples=100", "--executor", "ray", "--address", f"127.0.0.1:{port}"]  # fmt: skip
        done = subprocess.run(args, env={**driver, "FASHIONLAB_RUNS": str(runs)}, capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert sorted(r.status for r in RunStore(runs).runs()) == ["completed", "completed"]
        wrong = subprocess.run(args, env={**driver, "FASHIONLAB_RUNS": str(runs), "RAY_AUTH_TOKEN": "wrong"},
                               capture_output=True, text=True, timeout=300)  # fmt: skip
        assert wrong.returncode != 0
        said = " ".join(wrong.stderr.split())
        assert f"the Ray cluster at 127.0.0.1:{port} refused this machine's token" in said
        assert "gcs_client" not in said  # Ray's C++ retries are not shown
    finally:
        subprocess.run([ray_exe, "stop", "--force"], env=base, capture_output=True, timeout=120)
        shutil.rmtree(tmp_path / "site", ignore_errors=True)


def test_a_failed_ray_task_keeps_its_cause_and_shows_as_a_failed_run(tmp_path: Path) -> None:
    class Cause(RuntimeError):
        pass

    class Failed(Exception):  # what ray.get raises: a RayTaskError with the cause, its node and colours
        cause = ModuleNotFoundError("No module named 'jax'")
        ip = "10.0.0.7"

        def __str__(self) -> str:
            return "\x1b[36mray::remote_group()\x1b[39m (pid=1, ip=10.0.0.7)\nTraceback ..."

    store = RunStore(tmp_path / "runs")
    config = {"name": "tutorial", "layers": ["flatten", {"dense": {"units": 10}}], "train_samples": 300}
    (outcome,) = ray_executor.lost_task(Failed(), [config], store)
    said = "Ray task failed on the Ray node at 10.0.0.7: ModuleNotFoundError: No module named 'jax'"
    assert outcome.error == said and "\x1b" not in said
    (run,) = store.runs()
    assert run.id == outcome.run_id and run.status == "failed" and run.info.error == said


def test_without_address_ray_starts_its_own_instance_whatever_else_is_named() -> None:
    """RAY_ADDRESS set (or a cluster already running here, or a stale /tmp/ray/ray_current_cluster) made
    ray.init() connect there and refuse object_store_memory: --executor ray without --address starts its
    own local instance (issue 34, item 6)."""
    import subprocess
    import sys

    code = (
        "import ray; from fashionlab.experiments import ray_executor as r; r.connect(r.RayOptions()); "
        "print(len(ray.nodes())); ray.shutdown()"
    )
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:9"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "1"
