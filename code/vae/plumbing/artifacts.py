"""Writing results to disk: every file the project produces goes through `write_atomic`.

A crash, a kill or a full disk in the middle of a write must never leave a half-written
figure, table or checkpoint behind, so each artifact is written to a temporary file in the
same folder, flushed, fsynced and then renamed over the target in one step.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import shutil
import io
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Mapping


class ArtifactError(OSError):
    """An output file or folder could not be written."""


def _umask() -> int:
    current = os.umask(0o022)   # the only way to read it is to set it: once, at import, single-threaded
    os.umask(current)
    return current


# The mode open() would give a new file under the process's umask (usually 0644).
FILE_MODE = 0o666 & ~_umask()


class _RecordingWriter(io.BufferedWriter):
    """A buffered file that remembers the OSError of a failed write.

    torch's zip writer catches the OSError of a full disk and raises a RuntimeError
    ("unexpected pos ...") that hides it; the recorded error keeps the real errno.
    """

    write_error: OSError | None = None

    def write(self, data) -> int:  # type: ignore[override]
        try:
            return super().write(data)
        except OSError as err:
            self.write_error = err
            raise


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call `write(file)` on a temporary file and rename it to `path` only once it is complete."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise ArtifactError(f"cannot write to {path.parent}: {err.strerror or err}; "
                            "choose a writable output folder") from err
    os.fchmod(fd, FILE_MODE)   # mkstemp makes 0600 files; results are meant to be shared (a deployed site)
    file = _RecordingWriter(io.FileIO(fd, "wb"))
    try:
        with file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_name, path)
    except BaseException as err:
        cause = _disk_error(err, file.write_error, path.parent)   # before the temporary file frees space
        Path(tmp_name).unlink(missing_ok=True)
        if cause is not None:
            raise ArtifactError(f"cannot write {path}: {cause.strerror or cause}; "
                                "free disk space or choose another output folder") from err
        raise
    _fsync_dir(path.parent)
    return path


# Below this much free space a writer's RuntimeError is taken for a full disk it could not name.
FULL_DISK_BYTES = 64 * 1024


def _disk_error(err: BaseException, recorded: OSError | None, folder: Path) -> OSError | None:
    """The OSError behind a failed write, if any: raised, recorded by the file, or a full disk."""
    if isinstance(err, ArtifactError) or not isinstance(err, Exception):
        return None
    if isinstance(err, OSError):
        return err
    if recorded is not None:
        return recorded
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    if stats.f_bavail * stats.f_frsize < FULL_DISK_BYTES:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return None


def _fsync_dir(folder: Path) -> None:
    # The rename is only durable once the directory entry itself reaches the disk.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return write_atomic(path, lambda f: f.write(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_csv(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]],
              fieldnames: list[str] | None = None) -> Path:
    rows = list(rows)
    if fieldnames is None:
        fieldnames = list(rows[0].keys()) if rows else []
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text(path, buffer.getvalue())


# The layout of a checkpoint's dict; `checkpoints.load_checkpoint` refuses a newer one. Raise it
# when a field changes meaning, so that an older version of the code refuses the file in one line.
CHECKPOINT_FORMAT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    import torch  # here, not at the top: the site build writes through this module and needs no torch

    return write_atomic(path, lambda f: torch.save({"format_version": CHECKPOINT_FORMAT_VERSION, **state}, f))


def save_figure(fig, path: str | os.PathLike, dpi: int = 150, metadata: dict[str, str] | None = None,
                close: bool = True) -> Path:
    """Save a matplotlib figure as PNG atomically and close it (unless `close` is False: the caller
    saves it again); `metadata` goes into PNG text chunks."""
    import matplotlib.pyplot as plt

    try:
        return write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight",
                                                        metadata=metadata))
    finally:
        if close:
            plt.close(fig)


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist") and getattr(obj, "ndim", 0) > 0:   # a tensor or an array
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


# ---------------------------------------------------------------------------------------------
# Scratch folders (staging, downloads): locked while in use, so that the ones a killed process
# left behind (its lock is free: the kernel released it) are recognised and removed, and the
# ones of a process still running are not.

def lock_folder(folder: Path) -> int:
    """Hold an exclusive lock on `folder` until the returned descriptor is closed or the process ends."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    with contextlib.suppress(OSError):          # a filesystem without locks: the folder stays unlocked
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def wait_for_lock(path: Path, on_wait: Callable[[], None]) -> int | None:
    """Hold an exclusive lock on the file `path` (created if missing) until the returned descriptor
    is closed or the process ends; if another process holds it, call `on_wait` once and wait.

    None where the file cannot be created (a read-only folder, where nothing can be written either).
    The lock is the kernel's (flock): a holder killed by SIGKILL releases it, so it is never stale."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)   # Ctrl-C still interrupts the wait (KeyboardInterrupt)
        except OSError:
            pass                             # a filesystem without locks: work unlocked rather than not at all
    except BaseException:
        os.close(fd)
        raise
    return fd


def remove_stale(parent: Path, prefix: str) -> list[Path]:
    """Remove the folders `parent/prefix*` whose lock is free (their process has ended); return them."""
    removed = []
    with contextlib.suppress(OSError):
        candidates = [p for p in Path(parent).iterdir()
                      if p.name.startswith(prefix) and p.is_dir() and not p.is_symlink()]
        for folder in candidates:
            try:
                fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    os.close(fd)
                    continue            # in use by a running command
            shutil.rmtree(folder, ignore_errors=True)
            os.close(fd)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def locked_scratch(parent: Path, prefix: str) -> Iterator[Path]:
    """A new folder `parent/prefix*`, locked while the block runs and removed after it; stale ones first."""
    remove_stale(parent, prefix)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    fd = lock_folder(folder)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)
