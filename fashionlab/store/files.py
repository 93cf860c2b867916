"""The names of everything in a runs directory, and writing files so readers never see half of one.

runs/
  <run-id>/        config.yaml  run.json  history.csv  metrics.json  model.keras  checkpoint.npz
                   best.weights.npz  epoch-<N>.weights.npz (epochs 1, 2, 5, 10, 20, 50, ...)
                   curves.png   tensorboard/  export-<format>
  sweeps/          <sweep-id>.json (the record of a sweep or search), <search-id>.db (its Optuna study),
                   <sweep-id>/<group>.log (why a training failed before its run existed)
  .locks/          one lock file per training group
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

CONFIG = "config.yaml"
RUN_INFO = "run.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
MODEL = "model.keras"
CHECKPOINT = "checkpoint.npz"
BEST_WEIGHTS = "best.weights.npz"  # the weights of the best epoch so far (lowest val_loss, or the monitor)
KEPT_EPOCH = "epoch-{epoch:04d}.weights.npz"  # the weights at epochs 1, 2, 5, 10, 20, 50, ... (not the last)
CURVES = "curves.png"
IMAGES = "images.npz"  # per test image: the kept and the best-epoch model's answer, confidence, log p(true)
TENSORBOARD = "tensorboard"
SWEEPS = "sweeps"
LOCKS = ".locks"
ARTIFACTS = (CURVES, MODEL, CONFIG, HISTORY)  # what a tracker copies out of a finished run

HISTORY_FIELDS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]


def keeps_epoch(epoch: int) -> bool:
    """Whether a run keeps its weights at `epoch` (1-based): 1, 2 and 5 times each power of ten, so a run of
    150 epochs keeps 7 snapshots (epochs 1, 2, 5, 10, 20, 50, 100) to show how its weights took shape."""
    while epoch >= 10 and epoch % 10 == 0:
        epoch //= 10
    return epoch in (1, 2, 5)


def default_runs_dir() -> Path:
    return Path(os.environ.get("FASHIONLAB_RUNS") or "runs")  # an empty value is no value


CACHE_PARTS = ("jax", "data")  # the only folders fashionlab writes in its cache, and the only ones it clears
CACHE_TAG = "CACHEDIR.TAG"  # the cache directory tag (bford.info/cachedir): backup tools skip the folder
CACHE_TAG_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by fashionlab.\n"
    "# fashionlab writes only jax/ and data/ here, and 'fashionlab cache --clear' deletes only those.\n"
)


def cache_root() -> Path | None:
    """fashionlab's cache folder (`FASHIONLAB_CACHE`, else $XDG_CACHE_HOME/fashionlab or ~/.cache/fashionlab);
    None when `FASHIONLAB_CACHE` is off (0, off, false or none), or when there is no home folder to put the
    default one in (HOME=/nonexistent makes no /nonexistent/.cache)."""
    setting = os.environ.get("FASHIONLAB_CACHE", "")
    if setting.lower() in ("0", "off", "false", "none"):
        return None
    if setting:
        return Path(setting).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "fashionlab"
    home = Path.home()
    return home / ".cache" / "fashionlab" if home.is_dir() else None


def is_our_cache(root: Path) -> bool:
    """Whether `root` is a cache fashionlab made: it holds fashionlab's CACHEDIR.TAG (a small regular file)."""
    try:
        return "created by fashionlab" in read_text(root / CACHE_TAG, 4096)
    except (OSError, UnicodeDecodeError):
        return False


def cache_dir(part: str) -> Path | None:
    """The `part` folder (jax or data) of fashionlab's cache, ready to write in; None when the cache is off
    or cannot be used. A new or empty folder becomes fashionlab's (it gets the tag); a folder holding
    other things and no tag of fashionlab's is left alone (the cache is simply not used), so
    FASHIONLAB_CACHE pointing at a thesis folder or a runs directory never has files written into it."""
    assert part in CACHE_PARTS, part
    root = cache_root()
    if root is None:
        return None
    try:
        if not is_our_cache(root):
            root.mkdir(parents=True, exist_ok=True)
            if any(root.iterdir()):
                return None
            write_atomic(root / CACHE_TAG, CACHE_TAG_TEXT)
        folder = root / part
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            return None  # fashionlab makes real folders only; someone else put this here
        folder.mkdir(exist_ok=True)
    except OSError:
        return None
    return folder


def cache_files(root: Path) -> list[Path]:
    """The files in fashionlab's own folders of a cache it made, never following a symlink."""
    found: list[Path] = []
    for part in CACHE_PARTS:
        folder = root / part
        if folder.is_symlink() or not folder.is_dir():
            continue
        for top, _dirs, names in os.walk(folder):  # followlinks=False: a link is listed, never entered
            found.extend(Path(top) / n for n in names)
    return found


def clear_cache(root: Path) -> None:
    """Delete fashionlab's own folders in a cache it made; nothing else there is touched, and no
    symlink is followed (a link in the cache is removed as a link, its target is left alone)."""
    import shutil

    for part in CACHE_PARTS:
        folder = root / part
        if folder.is_symlink():
            folder.unlink()
        elif folder.is_dir():
            shutil.rmtree(folder)  # rmtree never follows symlinks inside the tree
    # the tag stays: the folder is still fashionlab's, and refills on the next run


# The most a file of a run, a sweep record or the cache may hold before it is refused unread: generous
# (a run.json of a 10,000-epoch run is ~1 MB) and still far below what would hurt the machine.
MAX_SMALL_FILE = 16 * 1024 * 1024
MAX_CONFIG = 1_000_000  # a config is a few hundred bytes
MAX_IMAGES = 64 * 1024**2  # images.npz: 10,000 test images take about 150 KB
MAX_ARRAYS = 8 * 1024**3  # checkpoint.npz, best.weights.npz: their arrays are checked against the model's shapes


class UnsafeFile(OSError):
    """A file that is not a regular file (a FIFO, a device, a folder) or is larger than its cap."""


def open_regular(path: Path, limit: int, follow: bool = True) -> BinaryIO:
    """`path` opened for reading in binary; it must be a regular file of at most `limit` bytes. Opened
    non-blocking, so a FIFO returns at once instead of waiting for a writer; the check is made on the
    opened file (fstat), so nothing can swap it in between. `follow=False`: a symlink is refused (ELOOP)."""
    import stat

    nofollow = 0 if follow else getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | nofollow | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if nofollow and exc.errno == errno.ELOOP:
            raise UnsafeFile(f"{path} is not a regular file (a symbolic link)") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(f"{path} is not a regular file")
        if info.st_size > limit:
            raise UnsafeFile(f"{path} is {info.st_size:,} bytes, more than the {limit:,} such a file can hold")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_bytes(path: Path, limit: int = MAX_SMALL_FILE, follow: bool = True) -> bytes:
    """The bytes of a regular file of at most `limit` bytes: the one way fashionlab reads a file it did not
    just write (runs, records, the cache). Raises FileNotFoundError, or UnsafeFile (an OSError) for a FIFO,
    a device, a folder or a file over the cap; never blocks, never reads more than `limit` + 1 bytes."""
    with open_regular(path, limit, follow) as fh:
        data = fh.read(limit + 1)  # a file growing while it is read still stops here
    if len(data) > limit:
        raise UnsafeFile(f"{path} is more than the {limit:,} bytes such a file can hold")
    return data


def read_text(path: Path, limit: int = MAX_SMALL_FILE, follow: bool = True) -> str:
    """read_bytes as UTF-8 text (UnicodeDecodeError, a ValueError, for anything else)."""
    return read_bytes(path, limit, follow).decode()


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write a file so that readers see the old or the new content, never half of it."""
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def umask() -> int:
    """This process's umask, read without changing it where Linux says it (/proc/self/status)."""
    import contextlib

    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    old = os.umask(0o022)
    os.umask(old)
    return old


def open_lock(path: Path) -> int:
    """A lock file opened for reading and writing, never through a symlink (O_NOFOLLOW): a link planted at
    a lock's predictable name cannot make fashionlab truncate the file it points to."""
    import stat

    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | os.O_NONBLOCK
    fd = os.open(path, flags, 0o666 & ~umask())
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeFile(f"{path} is not a regular file")
    os.set_blocking(fd, True)
    return fd


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, default=str) + "\n")


def history_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buf.getvalue()


def read_history(text: str) -> list[dict[str, float]]:
    """history.csv's rows; a ValueError names the line that is not a row of numbers (a truncated file)."""
    rows = []
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        try:
            rows.append({k: (int(v) if k == "epoch" else float(v)) for k, v in row.items() if v not in ("", None)})
        except (TypeError, ValueError):
            raise ValueError(f"line {line} is not a row of numbers") from None
    return rows
