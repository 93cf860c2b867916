"""One run directory: its status, config, history, metrics, model and checkpoint. No Keras here."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fashionlab.errors import RunError
from fashionlab.store import files
from fashionlab.store.info import RunInfo, metrics_problem

if TYPE_CHECKING:
    import numpy as np


class RunStatus(StrEnum):
    """What a run (or a planned trial) is; the values are what run.json and sweep records hold."""

    PENDING = "pending"  # a planned trial with no run yet
    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    FAILED = "failed"
    DIVERGED = "diverged"
    PRUNED = "pruned"
    BROKEN = "broken"  # the directory cannot be read


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Run:
    """A run directory, read lazily."""

    path: Path
    info: RunInfo = field(default_factory=RunInfo)
    problem: str | None = None  # set when the directory is broken

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def status(self) -> RunStatus:
        if self.problem:
            return RunStatus.BROKEN
        try:
            status = RunStatus(str(self.info.status or "broken"))
        except ValueError:
            return RunStatus.BROKEN
        if status == RunStatus.RUNNING and self.info.host == socket.gethostname():
            pid = self.info.pid
            if isinstance(pid, int) and not pid_alive(pid):
                return RunStatus.INTERRUPTED
        return status

    @property
    def name(self) -> str:
        return self.info.name or "?"

    @property
    def config_path(self) -> Path:
        return self.path / files.CONFIG

    def config(self) -> dict[str, Any]:
        import yaml

        try:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10x faster over thousands of runs
            data = yaml.load(files.read_text(self.config_path, files.MAX_CONFIG, follow=False), Loader=loader)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise RunError(f"run {self.id} has no readable {files.CONFIG} ({exc}); it cannot be used") from None
        if not isinstance(data, dict):
            raise RunError(f"run {self.id}: {files.CONFIG} is not a mapping; it cannot be used")
        return data

    def check_config(self) -> None:
        """config.yaml is readable YAML holding a mapping (the RunError `config` raises otherwise), checked by
        libyaml's parser alone (its events), without resolving or building anything: a report over thousands
        of runs checks each one (its tables read the copy in run.json)."""
        import yaml

        try:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            events = list(yaml.parse(files.read_text(self.config_path, files.MAX_CONFIG, follow=False), Loader=loader))
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise RunError(f"run {self.id} has no readable {files.CONFIG} ({exc}); it cannot be used") from None
        if len(events) < 3 or not isinstance(events[2], yaml.MappingStartEvent):  # stream, document, mapping
            raise RunError(f"run {self.id}: {files.CONFIG} is not a mapping; it cannot be used")

    def resolved_config(self) -> dict[str, Any]:
        """The config as run.json caches it, else config.yaml, else {} (for tables of broken runs)."""
        config = self.info.config
        if isinstance(config, dict):
            return config
        try:
            return self.config()
        except Exception:
            return {}

    def history(self) -> list[dict[str, float]]:
        try:
            return files.read_history(files.read_text(self.path / files.HISTORY, follow=False))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise RunError(f"run {self.id}: {files.HISTORY} is unreadable ({exc}); it cannot be used") from None

    def metrics(self) -> dict[str, Any]:
        """metrics.json; run.json keeps a copy (and the only one for pruned or diverged runs), read first."""
        cached = self.info.metrics
        if isinstance(cached, dict):
            return cached
        try:
            data = json.loads(files.read_text(self.path / files.METRICS, follow=False))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise RunError(f"run {self.id}: {files.METRICS} is unreadable ({exc})") from None
        problem = metrics_problem(data, files.METRICS)
        if problem:
            raise RunError(f"run {self.id}: {problem}")
        return data  # type: ignore[no-any-return]

    @property
    def model_path(self) -> Path:
        return self.path / files.MODEL

    @property
    def has_model(self) -> bool:
        return self.model_path.is_file()

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / files.TENSORBOARD

    def artifacts(self) -> list[Path]:
        """The files a tracker copies: curves, model, config, history (those that exist)."""
        return [self.path / name for name in files.ARTIFACTS if (self.path / name).is_file()]

    def export_path(self, fmt: str, suffix: str) -> Path:
        return self.path / f"export-{fmt}{suffix}"

    # ---------------------------------------------------------------- writing

    def _save(self, **changes: Any) -> None:
        """Change fields of run.json and write it whole (atomically): every transition below goes through here."""
        self.info.change(**changes)
        files.write_json(self.path / files.RUN_INFO, self.info.to_json())

    def record_epochs(self, rows: list[dict[str, Any]]) -> None:
        """The history so far (this run's prefix of its training) and how many epochs are done."""
        self.write_history(rows)
        self._save(epochs_done=int(rows[-1]["epoch"]) if rows else 0)

    def record_stopped_early(self, epoch: int, best_epoch: int | None, restored: bool) -> None:
        self._save(stopped_early={"epoch": epoch, "best_epoch": best_epoch, "restored": restored})

    def record_shared_training(self, run_ids: list[str]) -> None:
        """The other runs fed by the same training (configs that differ only in epochs)."""
        self._save(shared_training=run_ids)

    def record_curves_error(self, error: str) -> None:
        """curves.png could not be drawn; the run stays completed (`fashionlab curves` draws it later)."""
        self._save(curves_error=error)

    def record_landed(self, run_id: str, host: str) -> None:
        """Written here from a Ray worker's packed directory, under this store's id."""
        self._save(id=run_id, trained_on=host, executor="ray")

    def write_history(self, rows: list[dict[str, Any]]) -> None:
        files.write_atomic(self.path / files.HISTORY, files.history_csv(rows))

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        files.write_json(self.path / files.METRICS, metrics)

    def saved_metrics(self) -> dict[str, Any]:
        """metrics.json as written at the end of training ({} when there is none or it is unreadable)."""
        try:
            data = json.loads(files.read_text(self.path / files.METRICS, follow=False))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def training_saved(self) -> bool:
        """Its model and test metrics are on disk: finished, though its process may have died before saying so."""
        return self.has_model and isinstance(self.saved_metrics().get("test"), dict)

    def mark_completed(self, metrics: dict[str, Any]) -> None:
        """Completed, once its model and metrics.json are durable (pictures come after, and may be redrawn)."""
        self._save(status=RunStatus.COMPLETED, ended=now(), metrics=metrics)
        self.remove_checkpoint()

    def mark_interrupted(self) -> None:
        """Stopped by a signal; its checkpoint keeps its epochs for a rerun or --resume."""
        self._save(status=RunStatus.INTERRUPTED, ended=now())

    def mark_failed(self, error: str) -> None:
        """The training raised (or its worker died): the first line of the error, for `runs` and `show`."""
        self._save(status=RunStatus.FAILED, ended=now(), error=error)

    def mark_pruned(self, error: str, partial: dict[str, Any]) -> None:
        """A search's pruner stopped it; `partial` is the summary of its history (no test)."""
        self._save(status=RunStatus.PRUNED, ended=now(), error=error, metrics=partial)

    def mark_diverged(self, reason: str, partial: dict[str, Any]) -> None:
        self._save(status=RunStatus.DIVERGED, ended=now(), error=reason, metrics=partial)

    def reopen(self, epoch: int) -> list[dict[str, float]]:
        """Continue this interrupted or failed run from `epoch` (its checkpoint's, or 0); its history to then."""
        history = self.history()[:epoch]
        self.drop_epochs_after(epoch)
        resumed = [*(self.info.resumed or []), {"at": now(), "from_epoch": epoch}]
        self._save(
            status=RunStatus.RUNNING, pid=os.getpid(), ended=None, error=None, epochs_done=epoch, resumed=resumed
        )
        self.write_history(history)
        return history

    def write_curves(self, png: bytes) -> None:
        files.write_atomic(self.path / files.CURVES, png)

    @contextlib.contextmanager
    def writing_model(self) -> Iterator[Path]:
        """A temporary path to save the model to; it replaces model.keras only when saving succeeded."""
        tmp = self.path / ".model.tmp.keras"
        try:
            yield tmp
            os.replace(tmp, self.model_path)
        finally:
            tmp.unlink(missing_ok=True)

    # ---------------------------------------------------------------- checkpoints

    def _write_arrays(self, name: str, arrays: list[np.ndarray], epoch: int) -> None:
        """The arrays and the epoch they are from, in one file written atomically (so they always agree)."""
        import numpy as np

        buf = io.BytesIO()
        np.savez(buf, *arrays, epoch=np.array(epoch))
        files.write_atomic(self.path / name, buf.getvalue())

    def _read_arrays(
        self, name: str, shapes: list[tuple[int, ...]], unreadable: str, mismatch: str
    ) -> list[np.ndarray]:
        """The arrays of an .npz file of the run, checked against the shapes the model expects before any is
        read (a crafted file holding a 6 GB array is refused from its header, in microseconds)."""
        import numpy as np

        path = self.path / name
        try:
            found = npz_headers(path)
            count = sum(n.startswith("arr_") for n in found)
            if count != len(shapes) or any(found.get(f"arr_{i}", ((), ""))[0] != s for i, s in enumerate(shapes)):
                raise RunError(f"run {self.id}: {name} does not match {mismatch}")
            with (
                files.open_regular(path, files.MAX_ARRAYS, follow=False) as fh,
                np.load(fh, allow_pickle=False) as data,
            ):
                arrays = [data[f"arr_{i}"] for i in range(count)]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
            raise RunError(f"run {self.id}: {name} is unreadable ({exc}){unreadable}") from None
        return arrays

    def save_checkpoint(self, arrays: list[np.ndarray], epoch: int) -> None:
        """The full training state after `epoch`, written atomically (a few ms for the tutorial model), and
        run.json's checkpoint_epoch with it: a Ctrl-C or SIGTERM waits for both (one landing between them
        left run.json an epoch behind the file, seen under load); only kill -9 can still part them, and
        checkpoint_epoch() trusts the file."""
        from fashionlab.errors import signals_deferred

        with signals_deferred():
            self._write_arrays(files.CHECKPOINT, arrays, epoch)
            self._save(checkpoint_epoch=epoch)

    def checkpoint_epoch(self) -> int:
        """The epoch the checkpoint holds, as the file itself says (run.json may lag it by an epoch when a
        process died between the two writes); 0 when there is none or it is unreadable (training starts over).
        An epoch outside 0..the run's epochs is a RunError: the checkpoint is not this run's."""
        import numpy as np

        path = self.path / files.CHECKPOINT
        try:
            if npz_headers(path).get("epoch", ((0,), ""))[0] != ():
                return int(self.info.checkpoint_epoch or 0)  # written before the file said it
            with files.open_regular(path, files.MAX_ARRAYS, follow=False) as fh, np.load(fh) as data:
                epoch = int(data["epoch"])
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError):
            return 0
        epochs = self.resolved_config().get("epochs")
        if epoch < 0 or (isinstance(epochs, int) and epoch > epochs):
            raise RunError(
                f"run {self.id}: {files.CHECKPOINT} says epoch {epoch}, outside 0-{epochs}; it is not this run's "
                f"checkpoint: delete it to start the run over"
            )
        return epoch

    def load_checkpoint(self, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        """The arrays of the last checkpoint."""
        again = "; start the run again"
        return self._read_arrays(files.CHECKPOINT, shapes, again, f"its {files.CONFIG}{again}")

    def save_best(self, arrays: list[np.ndarray], epoch: int) -> None:
        """The weights of the best epoch so far (the model's variables without the optimizer's)."""
        self._write_arrays(files.BEST_WEIGHTS, arrays, epoch)
        self._save(best_weights_epoch=epoch)

    def check_best_kept(self) -> None:
        """A RunError where the run kept no best-epoch weights."""
        if not (self.path / files.BEST_WEIGHTS).is_file():
            raise RunError(
                f"run {self.id} kept no best-epoch weights (trained before they were kept, or it has no "
                "validation split); use `epoch` last"
            )

    def load_best(self, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        """The best epoch's weights."""
        self.check_best_kept()
        return self._read_arrays(files.BEST_WEIGHTS, shapes, "", "its model")

    def remove_checkpoint(self) -> None:
        (self.path / files.CHECKPOINT).unlink(missing_ok=True)

    def keep_epoch(self, arrays: list[np.ndarray], epoch: int) -> None:
        """The weights at `epoch` (files.keeps_epoch says which), for the pictures of how they changed."""
        self._write_arrays(files.KEPT_EPOCH.format(epoch=epoch), arrays, epoch)

    def kept_epochs(self) -> list[int]:
        """The epochs whose weights the run kept apart from its last and best (regular files only)."""
        found = []
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.path):
                name = entry.name
                if name.startswith("epoch-") and name.endswith(".weights.npz") and entry.is_file(follow_symlinks=False):
                    number = name[len("epoch-") : -len(".weights.npz")]
                    if number.isdigit() and files.KEPT_EPOCH.format(epoch=int(number)) == name:
                        found.append(int(number))
        return sorted(found)

    def load_epoch(self, epoch: int, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        """The weights kept at `epoch`; a RunError naming the kept ones where it has none for it."""
        if epoch not in self.kept_epochs():
            kept = ", ".join(str(e) for e in self.kept_epochs()) or "none"
            raise RunError(
                f"run {self.id} kept no weights for epoch {epoch} (kept: {kept}; and its last and best); "
                "use one of those, last or best"
            )
        return self._read_arrays(files.KEPT_EPOCH.format(epoch=epoch), shapes, "", "its model")

    def weights_epoch(self, epoch: str) -> int | None:
        """The training epoch (1-based) whose weights `epoch` (last, best or a kept epoch's number) names."""
        if epoch == "best":
            return self.info.best_weights_epoch
        if epoch != "last":
            return int(epoch)
        stopped = self.info.stopped_early or {}
        if isinstance(stopped, dict) and stopped.get("restored") and stopped.get("best_epoch"):
            return int(stopped["best_epoch"])  # early stopping put the best epoch's weights in the model
        summary = self.saved_metrics().get("summary") or {}
        return int(summary.get("last_epoch") or self.info.epochs_done or 0) or None

    def weight_epochs(self) -> list[tuple[str, int]]:
        """Every epoch whose weights the run has, in order, as (what load_trained takes, the epoch): the kept
        ones, the best and the last (one entry an epoch, named best or last where it is one of those)."""
        found = {number: str(number) for number in self.kept_epochs()}
        for name in ("best", "last"):
            number = self.weights_epoch(name) if name == "last" or self.has_best else None
            if number:
                found[number] = name
        return [(name, number) for number, name in sorted(found.items())]

    @property
    def has_best(self) -> bool:
        return self.info.best_weights_epoch is not None and (self.path / files.BEST_WEIGHTS).is_file()

    def drop_epochs_after(self, epoch: int) -> None:
        """A rerun from `epoch` trains the later epochs again: their kept weights are no longer this run's."""
        for later in self.kept_epochs():
            if later > epoch:
                (self.path / files.KEPT_EPOCH.format(epoch=later)).unlink(missing_ok=True)


def npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """Each array's (shape, dtype kind) in an .npz file, read from the .npy headers only; no data is read
    (object arrays are refused later by np.load's allow_pickle=False)."""
    import numpy as np

    found: dict[str, tuple[tuple[int, ...], str]] = {}
    with files.open_regular(path, files.MAX_ARRAYS, follow=False) as fh, zipfile.ZipFile(fh) as archive:
        if len(archive.infolist()) > 10_000:
            raise ValueError(f"{len(archive.infolist()):,} members")
        for member in archive.infolist():
            with archive.open(member) as npy:
                version = np.lib.format.read_magic(npy)
                fmt = np.lib.format
                shape, _, dtype = (fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0)(npy)
            found[member.filename.removesuffix(".npy")] = (tuple(shape), dtype.kind)
    return found


def read_run(path: Path) -> Run:
    """A Run from its directory; a broken one comes back with `problem` set instead of raising."""
    try:
        info = json.loads(files.read_text(path / files.RUN_INFO, follow=False))
        if not isinstance(info, dict):
            raise ValueError(f"{files.RUN_INFO} is not an object")
    except FileNotFoundError:
        return Run(path, RunInfo(), f"{files.RUN_INFO} is missing")
    except (OSError, ValueError) as exc:
        return Run(path, RunInfo(), f"{files.RUN_INFO} is unreadable ({exc})")
    parsed, problem = RunInfo.parse(info)
    return Run(path, parsed, problem)
