"""Writing the files a user names (--out, --plot, --draw, --grid): the one safe writer.

What SQLite and git do for their own files, for every file fashionlab writes outside a run folder:
- only a regular file is written: a symlink, a device (/dev/full), a FIFO or a folder in its place is
  refused in one line (never written through: a user who wants the bytes on a device pipes `--json`);
- the bytes go to a hidden temp file beside the target, are fsynced and renamed over it, so a reader, a
  full disk or a kill -9 leaves the old file or the new one, never half of one (and the next write
  removes the temp files that dead processes left behind);
- a file or folder that fashionlab did not make is never replaced: what it makes carries a mark (PNG's
  Software text chunk, an HTML generator tag, a Markdown comment, a tag file in a folder, like the
  cache's CACHEDIR.TAG); anything else is refused unless the user says --force;
- modes follow the umask; the suffix names the format, and a suffix fashionlab cannot write is refused.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fashionlab.errors import InputError, StorageError
from fashionlab.store.files import UnsafeFile, open_regular, umask
from fashionlab.store.run import pid_alive

MARK = "fashionlab"
PNG_MARK = b"tEXtSoftware\x00" + MARK.encode()  # the text chunk views.plots puts in every PNG
MD_MARK = "<!-- fashionlab report -->"  # the first line of every report.md fashionlab writes
HTML_MARK = '<meta name="generator" content="fashionlab">'
FOLDER_TAG = ".fashionlab-made"  # inside a folder fashionlab made (a report's pictures)
FOLDER_TAG_TEXT = "This folder was made by fashionlab; the next report written beside it replaces it.\n"
MARKS = {".png": PNG_MARK, ".md": MD_MARK.encode(), ".html": HTML_MARK.encode()}
MARK_SCAN = 1 << 20  # marks sit at the start of a file (PNG text chunks come before the image data)
TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.tmp$")  # .<name>.<pid>.<random>.tmp


class OutputRefused(InputError):
    """A path where fashionlab will not write (exit 6): what is there, and what to do."""


def file_mode() -> int:
    return 0o666 & ~umask()


def folder_mode() -> int:
    return 0o777 & ~umask()


def made_by_us(path: Path) -> bool:
    """Whether the regular file or folder at `path` carries fashionlab's mark (never follows a link)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    if stat.S_ISDIR(info.st_mode):
        return stat.S_ISREG(_lstat_mode(path / FOLDER_TAG))
    mark = MARKS.get(path.suffix.lower())
    if mark is None or not stat.S_ISREG(info.st_mode):
        return False
    try:
        with open_regular(path, 1 << 40, follow=False) as fh:
            return mark in fh.read(MARK_SCAN)
    except OSError:
        return False


def _lstat_mode(path: Path) -> int:
    try:
        return os.lstat(path).st_mode
    except OSError:
        return 0


def check_target(
    path: Path, suffixes: tuple[str, ...], what: str, force: bool = False, folder: bool = False, stem: str = "picture"
) -> None:
    """Refuse, in one line, a path fashionlab must not write `what` to (see the module's rules)."""
    if len(os.fsencode(path.name)) > 255:
        raise OutputRefused(
            f"the file name {shown_path(Path(path.name[:40]))}... is longer than 255 bytes; give a shorter one"
        )
    mode = _lstat_mode(path)
    if not mode:
        if not folder:
            _check_suffix(path, suffixes, what)
        return
    if stat.S_ISLNK(mode):
        raise OutputRefused(
            f"{shown_path(path)} is a symbolic link; fashionlab writes regular files only and never through a "
            "link: give the real path or another name"
        )
    if stat.S_ISDIR(mode) and not folder:
        example = path / f"{stem}{suffixes[0]}"
        raise OutputRefused(f"{shown_path(path)} is a folder; give a file name such as {shown_path(example)}")
    if not stat.S_ISDIR(mode) and not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise OutputRefused(
            f"{shown_path(path)} is {kind}, not a regular file; fashionlab writes regular files only "
            "(for the numbers on stdout use `json`): give a file name"
        )
    if not folder:
        _check_suffix(path, suffixes, what)
    if folder and not stat.S_ISDIR(mode):
        raise OutputRefused(f"{shown_path(path)} is a file; fashionlab needs that name for a folder: move it away")
    if not force and not made_by_us(path):
        made = "folder" if stat.S_ISDIR(mode) else "file"
        raise OutputRefused(
            f"{shown_path(path)} is a {made} fashionlab did not make; give another name, or add `force` to replace it"
        )


def _check_suffix(path: Path, suffixes: tuple[str, ...], what: str) -> None:
    if path.suffix.lower() not in suffixes:
        shown = " or ".join(suffixes)
        raise OutputRefused(
            f"{shown_path(path)}: fashionlab writes {what} as {shown} only; name the file "
            f"{shown_path(path.with_suffix(suffixes[0]) if path.suffix else Path(str(path) + suffixes[0]))}"
        )


def write_output(path: Path, data: str | bytes, suffixes: tuple[str, ...], what: str, force: bool = False) -> None:
    """Write `data` to the user's `path` whole, or refuse (OutputRefused) or fail (StorageError) in one line."""
    check_target(path, suffixes, what, force)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(path.parent, path.name)
        with temp_file(path) as tmp:
            Path(tmp).write_bytes(data.encode() if isinstance(data, str) else data)
            check_target(path, suffixes, what, force)  # still nothing there that is not ours
            os.replace(tmp, path)
    except OutputRefused:
        raise
    except OSError as exc:
        raise StorageError(
            f"cannot write {shown_path(path)} ({exc.strerror or exc}); free space, fix the folder's "
            "permissions or give another place"
        ) from None


@contextlib.contextmanager
def temp_file(path: Path) -> Iterator[str]:
    """A hidden temp file beside `path`, with the umask's mode, fsynced before the caller renames it;
    removed when anything goes wrong."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, file_mode())
        yield tmp
        if os.path.lexists(tmp):
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def temp_folder(path: Path) -> Path:
    """A hidden folder beside `path` to fill before it is renamed into place (remove_stale finds it
    again if this process dies)."""
    made = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"))
    os.chmod(made, folder_mode())
    return made


def remove_stale(parent: Path, name: str) -> None:
    """Remove the temp files and folders for `name` that processes now dead left in `parent` (a kill -9
    in the middle of a write); those of living processes are theirs."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(parent):
            found = TEMP.match(entry.name)
            if found is None or found["name"] != name or _alive(int(found["pid"])):
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _alive(pid: int) -> bool:
    return pid == os.getpid() or pid_alive(pid)


def mark_folder(folder: Path) -> None:
    """Put fashionlab's tag into a folder it made."""
    (folder / FOLDER_TAG).write_text(FOLDER_TAG_TEXT)
    os.chmod(folder / FOLDER_TAG, file_mode())


def replace_folder(made: Path, target: Path) -> None:
    """Put the filled folder `made` in the place of `target` (ours, or nothing there): the old one is
    moved aside first and removed last."""
    old = None
    if os.path.lexists(target):
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp"))
        os.rmdir(old)
        os.rename(target, old)
    try:
        os.rename(made, target)
    except BaseException:
        if old is not None:
            os.rename(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def shown_path(path: Path | str) -> str:
    """A path as text for a message: control characters escaped, so a name cannot drive the terminal."""
    from fashionlab.text import visible

    return visible(str(path))


__all__ = ["OutputRefused", "UnsafeFile", "check_target", "made_by_us", "write_output"]
