"""Output folders are owned: one command at a time writes into an `--out` folder.

A running `train` or `report` holds an exclusive `fcntl.flock` on the folder itself (its
directory file descriptor), so no lock file is ever written into the results, and the kernel
releases the lock when the process ends, even by SIGKILL: there is no stale lock to clean up.
A second command into the same folder gets a one-line refusal instead of mixing two runs.
What `train` may replace in a folder it owns is `checkpoints.prepare_train_folder`'s to say.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from typing import Iterator

from .artifacts import ArtifactError
from .errors import ConfigError


class FolderBusyError(ArtifactError):
    """Another process holds the lock on the output folder."""


@contextlib.contextmanager
def owned(folder: Path) -> Iterator[Path]:
    """Create `folder` if needed and hold an exclusive lock on it for the duration of the block.

    A folder created here and still empty at the end (the command failed before writing) is removed.
    """
    folder = Path(folder)
    refuse_project_folder(folder)
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as err:
        reason = "it is not a folder" if err.errno in (errno.EEXIST, errno.ENOTDIR) else err.strerror or err
        raise ArtifactError(f"cannot use {folder} as output folder: {reason}; "
                            "choose a writable output folder") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderBusyError(f"{folder} is in use by another `python -m vae` command; "
                                  "wait for it to finish or choose another --out") from None
        except OSError:
            pass   # a filesystem without locks (some network mounts): work unlocked rather than not at all
        _check_writable(folder)
        yield folder
    finally:
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()   # a command that wrote nothing leaves no empty folder behind
        os.close(fd)   # closing the descriptor releases the lock


def refuse_project_folder(folder: Path) -> None:
    """Refuse (ConfigError, exit 2) an output folder that holds the project's sources or pages: `/`,
    the repository, `code` or `docs` (a report's runs/, tables/ would land among the pages)."""
    package = Path(__file__).resolve().parents[1]             # code/vae
    protected = {package: "sources"}
    if (package.parents[1] / "mkdocs.yml").is_file():        # a checkout, not an installed package
        protected[package.parents[1] / "docs"] = "pages"
    target = folder.resolve()
    for path, what in protected.items():
        if path == target or target in path.parents:
            raise ConfigError("out", f"{folder} holds the project's {what} ({path}); choose a folder of its own "
                                     "(the default, or one outside the project)")


def _check_writable(folder: Path) -> None:
    # A read-only filesystem accepts mkdir -p of an existing folder and the lock; find out now,
    # in one line, rather than after the first epoch.
    try:
        probe = os.open(folder / ".vae-write-probe", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as err:
        raise ArtifactError(f"cannot write to {folder}: {err.strerror or err}; "
                            "choose a writable output folder") from None
    os.close(probe)
    os.unlink(folder / ".vae-write-probe")
