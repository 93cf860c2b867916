"""RunStore: the runs directory as a whole. Creating, listing, finding and locking runs; sweep records."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fashionlab.errors import Busy, FashionlabError, RunError, RunNotFound, StorageError, signals_deferred
from fashionlab.store import files
from fashionlab.store.info import RunInfo
from fashionlab.store.records import SweepRecord, TrialOutcome
from fashionlab.store.run import Run, RunStatus, now, read_run

MOVE_STUDY = "move it away to start the search afresh (its runs stay in the runs directory)"
HASH_SCHEME = 2  # 2: optimizer arguments at their default left out of the hash (1: as written)
Rehash = Callable[[dict[str, Any]], str | None]


def launch_command() -> str:
    """The command line of this process, as the user typed it (recorded in each run.json)."""
    return " ".join(["fashionlab", *sys.argv[1:]]) if sys.argv else ""


@dataclass
class Selection:
    """The runs a command works on, a title for them and, for a sweep, its axes."""

    runs: list[Run]
    title: str
    axes: list[str] | None = None


class RunStore:
    """A runs directory. The only code that knows its file and folder names is in this package."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else files.default_runs_dir()

    # ---------------------------------------------------------------- runs

    def create(self, name: str, config_hash: str, config_yaml: str, extra: dict[str, Any]) -> Run:
        """Make a new run directory (never reusing one) with its config and a 'running' run.json.

        The directory is filled under a hidden name and renamed into place, so a process killed meanwhile
        leaves no half-made run for `runs` to list as broken.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        base = f"{stamp}-{name}-{config_hash}"
        making = Path(tempfile.mkdtemp(dir=self.root, prefix=".making-"))
        try:
            files.write_atomic(making / files.CONFIG, config_yaml)
            info = self._first_info(name, config_hash, extra)
            for n in range(1, 1000):
                run_id = base if n == 1 else f"{base}-{n}"
                info["id"] = run_id
                files.write_json(making / files.RUN_INFO, info)
                with signals_deferred():  # a signal between the claim and the rename would leave it empty
                    try:
                        (self.root / run_id).mkdir()  # claims the id; the rename below replaces the empty folder
                    except FileExistsError:
                        continue
                    os.rename(making, self.root / run_id)
                return Run(self.root / run_id, RunInfo.parse(info)[0])
            raise StorageError(f"no free run id for {base} in {self.root}")
        finally:
            shutil.rmtree(making, ignore_errors=True)

    def _first_info(self, name: str, config_hash: str, extra: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": None,
            "name": name,
            "config_hash": config_hash,
            "status": RunStatus.RUNNING,
            "started": now(),
            "ended": None,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": launch_command(),
            "python": platform.python_version(),
            "hash_scheme": HASH_SCHEME,
        }
        return {**info, **extra}  # extra may say what the command was, for a trial run elsewhere

    def runs(self) -> list[Run]:
        """Every run directory, oldest first (ids start with the UTC time)."""
        if self.root.exists() and not self.root.is_dir():
            raise StorageError(f"the runs directory {self.root} is not a directory; choose another with `runs_dir`")
        return [read_run(self.root / name) for name in self.run_names()]

    def run_names(self) -> list[str]:
        """The run folders' names, oldest first, without reading them (a dashboard pages through 20,000)."""
        try:
            entries = os.scandir(self.root)
        except (FileNotFoundError, NotADirectoryError):
            return []
        with entries:
            return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith((".", files.SWEEPS)))

    def run_stamp(self, name: str) -> tuple[int, ...]:
        """What changes when run `name` changes: its run.json's and metrics.json's modification time and size."""
        found: list[int] = []
        for file in (files.RUN_INFO, files.METRICS):
            with contextlib.suppress(OSError):
                st = os.stat(self.root / name / file)
                found += [file == files.RUN_INFO, st.st_mtime_ns, st.st_size]
        return tuple(found)

    def read(self, run_id: str) -> Run:
        return read_run(self.root / run_id)

    def runs_with_hash(self, hashes: set[str]) -> list[Run]:
        """The runs whose id names one of these config hashes (`{time}-{name}-{hash}`, a landed copy `-N`),
        read without reading every other run: the check a group makes under its lock."""
        return [read_run(self.root / name) for name in self.run_names() if _names_hash(name, hashes)]

    def load(self, ref: str | None = None, need_model: bool = False) -> Run:
        """A run by id, unique prefix or substring, or the latest completed one when ref is None or 'latest'."""
        runs = self.runs()
        if ref in (None, "latest"):
            done = [r for r in runs if r.status == RunStatus.COMPLETED and (not need_model or r.has_model)]
            if not done:
                raise RunNotFound(f"no completed runs yet in {self.root}/; train one with 'fashionlab train'")
            return done[-1]
        assert ref is not None
        exact = [r for r in runs if r.id == ref]
        matches = exact or [r for r in runs if r.id.startswith(ref)] or [r for r in runs if ref in r.id]
        if not matches:
            raise RunNotFound(f"no run '{ref}' in {self.root}/; 'fashionlab runs' lists them")
        if len(matches) > 1:
            shown = ", ".join(r.id for r in matches[:5])
            raise RunNotFound(f"'{ref}' matches {len(matches)} runs ({shown}); give more of the id")
        run = matches[0]
        if run.problem:
            raise RunError(f"run {run.id} is broken: {run.problem}")
        if need_model and not run.has_model:
            raise RunError(
                f"run {run.id} has no {files.MODEL} (status {run.status}); pick a completed run from 'fashionlab runs'"
            )
        return run

    def completed_by_hash(self, rehash: Rehash | None = None, runs: list[Run] | None = None) -> dict[str, Run]:
        """The newest completed run of each config hash (of `runs`, else of every run): what a sweep skips.

        `rehash` gives a run hashed by an older scheme (no `hash_scheme` in run.json) today's hash too.
        """
        done: dict[str, Run] = {}
        for run in self.runs() if runs is None else runs:
            if run.status == RunStatus.COMPLETED and run.has_model:
                done[str(run.info.config_hash)] = run
                old = rehash and run.info.hash_scheme != HASH_SCHEME and isinstance(run.info.config, dict)
                if old and rehash and run.info.config and (today := rehash(run.info.config)) is not None:
                    done[today] = run
        return done

    def unfinished_by_hash(self, runs: list[Run] | None = None) -> dict[str, Run]:
        """The newest interrupted or failed run of each config hash (of `runs`, else of every run): what a
        rerun continues in place."""
        found: dict[str, Run] = {}
        for run in self.runs() if runs is None else runs:
            if run.status in (RunStatus.INTERRUPTED, RunStatus.FAILED):
                found[str(run.info.config_hash)] = run
        return found

    def check_writable(self) -> None:
        """Fail before training, not after, when the runs directory cannot be written."""
        probe = self.root / f".write-test-{os.getpid()}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            try:
                probe.write_bytes(b"x" * 4096)
            finally:
                with contextlib.suppress(OSError):
                    probe.unlink()
        except OSError as exc:
            raise StorageError(
                f"cannot write to the runs directory {self.root} ({exc.strerror or exc}); free space, fix its "
                "permissions or choose another with `runs_dir`"
            ) from None

    # Locks are fcntl.flock, not filelock's: a lock here is held on a folder itself (hold_folder) and its
    # file names its holder for the Busy message, neither of which filelock does; POSIX only, as declared.
    def _lock_file(self, key: str) -> int:
        locks = self.root / files.LOCKS
        locks.mkdir(parents=True, exist_ok=True)
        try:
            return files.open_lock(locks / f"{key}.lock")
        except OSError as exc:
            raise StorageError(
                f"the lock file {locks / (key + '.lock')} cannot be used ({exc.strerror or exc}); fashionlab makes "
                "it as a regular file: remove what is there"
            ) from None

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Only one process at a time holds `key` (a training group), so concurrent sweeps never duplicate a
        trial. Waiting for it is polled, so a signal stops a waiting process at once."""
        import fcntl

        fd = self._lock_file(key)
        try:
            _wait_for(fd)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @staticmethod
    @contextlib.contextmanager
    def hold_folder(folder: Path) -> Iterator[None]:
        """This process alone, among those that ask, works on `folder` (an flock on the folder itself,
        waited for by polling, so a signal still stops the wait)."""
        import fcntl

        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
        try:
            _wait_for(fd)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def exclusive(self, key: str, what: str, wait: bool = False) -> Iterator[None]:
        """Hold `key` (a run being trained into, a search's study) for this process alone; when another
        process holds it, a Busy error says which (pid and command) instead of training the same thing
        twice, or with `wait` this process waits for it to end."""
        import fcntl

        fd = self._lock_file(key)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    holder = os.pread(fd, 1000, 0).decode(errors="replace").strip() or "another process"
                    raise Busy(f"{what} is in use by {holder}; wait for it to end, or stop it first") from None
                _wait_for(fd)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} ({launch_command()})".encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # ---------------------------------------------------------------- sweeps and searches

    @property
    def sweeps_dir(self) -> Path:
        return self.root / files.SWEEPS

    def record_path(self, sweep_id: str) -> Path:
        return self.sweeps_dir / f"{sweep_id}.json"

    def sweep_ids(self) -> list[str]:
        return sorted(p.stem for p in self.sweeps_dir.glob("*.json")) if self.sweeps_dir.is_dir() else []

    def log_path(self, sweep_id: str, label: str) -> Path:
        """Where a training that failed before its run existed leaves its traceback."""
        return self.sweeps_dir / sweep_id / f"{label}.log"

    def study_path(self, search_id: str) -> Path:
        """The SQLite file of a search's Optuna study."""
        self.sweeps_dir.mkdir(parents=True, exist_ok=True)
        return self.sweeps_dir / f"{search_id}.db"

    def check_study(self, search_id: str) -> None:
        """An existing study file must be an SQLite database holding an Optuna study, so neither a damaged
        file nor someone else's database is opened (Optuna would add its tables to it); a FIFO or device
        in its place is refused without blocking."""
        import sqlite3

        path = self.sweeps_dir / f"{search_id}.db"
        if not path.exists() and not path.is_symlink():
            return
        try:
            with files.open_regular(path, files.MAX_ARRAYS) as fh:
                header = fh.read(16)
        except OSError as exc:
            raise FashionlabError(f"the study {path} cannot be read ({exc.strerror or exc}); {MOVE_STUDY}") from None
        if header and header != b"SQLite format 3\x00":
            raise FashionlabError(f"the study {path} is not an SQLite database (damaged?); {MOVE_STUDY}")
        if not header:
            return  # empty: made by an interrupted first start; Optuna fills it
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                tables = {row[0] for row in db.execute("select name from sqlite_master where type = 'table'")}
        except sqlite3.Error as exc:
            raise FashionlabError(f"the study {path} cannot be read ({exc}); {MOVE_STUDY}") from None
        if tables and "studies" not in tables:
            raise FashionlabError(f"{path} is an SQLite database but not an Optuna study; {MOVE_STUDY}")

    def write_record(self, record: SweepRecord) -> None:
        """The whole record, written atomically; the journal of trial outcomes appended since is folded in."""
        self.sweeps_dir.mkdir(parents=True, exist_ok=True)
        record.updated = now()
        files.write_json(self.record_path(record.id), record.to_json())
        self._journal(record.id).unlink(missing_ok=True)

    def append_outcomes(self, sweep_id: str, outcomes: list[TrialOutcome]) -> None:
        """A sweep's trial outcomes as they come, one JSON line each (O(n) bytes for n trials: a 10,000-trial
        sweep once rewrote its whole record after every trial, 16 GB in all). Readers apply them by hash."""
        fd = os.open(self._journal(sweep_id), os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0),
                     0o666 & ~files.umask())  # fmt: skip
        try:
            os.write(fd, "".join(json.dumps(o.to_json()) + "\n" for o in outcomes).encode())
        finally:
            os.close(fd)

    def _journal(self, sweep_id: str) -> Path:
        return self.sweeps_dir / f"{sweep_id}.journal"

    def _with_journal(self, data: dict[str, Any]) -> SweepRecord:
        record = SweepRecord.from_json(data)
        try:
            lines = files.read_text(self._journal(record.id), files.MAX_SMALL_FILE * 8, follow=False).splitlines()
        except (OSError, ValueError):
            return record
        by_hash = {t.hash: i for i, t in enumerate(record.trials) if t.hash}
        for line in lines:
            try:
                outcome = TrialOutcome.from_json(json.loads(line))
            except (ValueError, TypeError, AttributeError):
                continue  # a line cut by a kill: the trial keeps what the record said
            at = by_hash.get(outcome.hash or "")
            if at is not None:
                old = record.trials[at]
                record.trials[at] = TrialOutcome(**{**vars(outcome), "values": old.values, "epochs": old.epochs})
        return record

    def find_record(self, sweep_id: str) -> SweepRecord | None:
        """The record with exactly this id, or None (a missing or unreadable one: start afresh)."""
        try:
            return self._with_journal(json.loads(files.read_text(self.record_path(sweep_id))))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def load_record(self, ref: str) -> SweepRecord:
        """A sweep's or search's record by id or a unique part of it."""
        path = self.record_path(ref)
        found = [path] if "/" not in ref and path.is_file() else []
        matches = found or [self.record_path(i) for i in self.sweep_ids() if ref in i]  # a part, never a pattern
        if len(matches) != 1:
            known = ", ".join(self.sweep_ids()[-5:]) or "none yet"
            many = f" matches {len(matches)} sweeps; give more of the id" if matches else f" in {self.sweeps_dir}/"
            raise FashionlabError(f"no sweep '{ref}'{many} (recent: {known})" if not matches else f"'{ref}'{many}")
        try:
            data = json.loads(files.read_text(matches[0]))
        except (OSError, ValueError) as exc:
            raise FashionlabError(f"sweep record {matches[0]} is unreadable ({exc})") from None
        if not isinstance(data, dict) or "trials" not in data:
            raise FashionlabError(f"sweep record {matches[0]} is not a fashionlab sweep")
        try:
            return self._with_journal(data)
        except (KeyError, TypeError, ValueError):
            raise FashionlabError(f"sweep record {matches[0]} is not a fashionlab sweep") from None

    def sweep_runs(self, ref: str) -> tuple[SweepRecord, list[Run]]:
        """A sweep's record and its trials' runs, in trial order (trials without a run are left out)."""
        record = self.load_record(ref)
        runs = [self.read(run_id) for run_id in record.run_ids if (self.root / run_id).is_dir()]
        return record, runs

    def select(self, refs: list[str] | None, sweep_id: str | None, default: str) -> Selection:
        """A sweep's trials, the named runs, or `default` ("all" or "latest")."""
        from fashionlab.i18n import _  # a selection's title is what the tables and the report head it with

        if sweep_id:
            record, chosen = self.sweep_runs(sweep_id)
            kind = _("Sweep") if record.kind == "sweep" else _("Search")
            return Selection(chosen, f"{kind} {record.id}", list(record.axes))
        if refs:
            return Selection([self.load(r) for r in refs], _("Runs"))
        if default == "latest":
            return Selection([self.load()], _("Latest run"))
        chosen = self.runs()
        if not chosen:
            raise RunNotFound(f"no runs yet in {self.root}/; train one with 'fashionlab train'")
        return Selection(chosen, _("All runs in {folder}").format(folder=self.root))

    # ---------------------------------------------------------------- moving runs between machines

    def pack(self) -> dict[str, dict[str, bytes]]:
        """Every run directory's files as bytes (what a Ray worker sends back to the launcher)."""
        packed: dict[str, dict[str, bytes]] = {}
        for run_dir in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            if run_dir.is_dir() and not run_dir.name.startswith((".", files.SWEEPS)):
                packed[run_dir.name] = {
                    p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file() and not p.name.startswith(".")
                }
        return packed

    def land(self, packed: dict[str, dict[str, bytes]], host: str) -> dict[str, str]:
        """Write packed run directories here, never over an existing one; returns old id -> new id."""
        renamed: dict[str, str] = {}
        for run_id, contents in packed.items():
            target_id = run_id
            for n in range(2, 1000):
                try:
                    (self.root / target_id).mkdir(parents=True)
                    break
                except FileExistsError:
                    target_id = f"{run_id}-{n}"
            renamed[run_id] = target_id
            for name, data in contents.items():
                if name != files.RUN_INFO:
                    files.write_atomic(self.root / target_id / name, data)
            run = Run(self.root / target_id, RunInfo.parse(json.loads(contents.get(files.RUN_INFO, b"{}")))[0])
            run.record_landed(target_id, host)
        return renamed


def _wait_for(fd: int) -> None:
    """Take the lock on `fd`, trying every tenth of a second: a signal stops the wait at once (a blocking
    flock would hold it until the holder lets go)."""
    import fcntl
    import time

    from fashionlab.errors import raise_if_stopped

    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            raise_if_stopped()
            time.sleep(0.1)


def _names_hash(run_id: str, hashes: set[str]) -> bool:
    parts = run_id.split("-")
    return any(part in hashes for part in parts[-2:])
