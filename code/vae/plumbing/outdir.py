"""Output folders are owned: one command at a time writes into an `--out` folder.

A running `train` or `report` holds an exclusive `fcntl.flock` on the folder itself (its
directory file descriptor), so no lock file is ever written into the results, and the kernel
releases the lock when the process ends, even by SIGKILL: there is no stale lock to clean up.
A second command into the same folder gets a one-line refusal instead of mixing two runs.

`train` also refuses to write over a run that is already there unless asked: `--resume`
continues it (after checking its settings), `--overwrite` deletes its files first, so a new
run that fails can never leave the old run's checkpoints beside the new run's config.json.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from typing import Iterator

from .artifacts import ArtifactError, read_json, save_checkpoint
from .checkpoints import check_resumable, load_checkpoint
from ..config import TrainConfig
from .errors import ConfigError, TrainingError

# Every file `training.train` writes into its folder; --overwrite deletes exactly these.
RUN_FILES = ("config.json", "history.csv", "best.pt", "last.pt", "metrics.json")


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


def prepare_train_folder(folder: Path, config: TrainConfig, resume: bool, overwrite: bool) -> None:
    """Refuse to mix two runs in `folder`; with `overwrite`, delete the previous run's files.

    Call while holding the lock (`owned`), before training writes anything.
    """
    folder = Path(folder)
    present = [name for name in RUN_FILES if (folder / name).exists()]
    if resume and overwrite:
        raise ConfigError("overwrite", "cannot be combined with --resume; choose one")
    if overwrite:
        for name in present:
            (folder / name).unlink()
        return
    if not present:
        return
    if not resume:
        what = "a finished run (metrics.json)" if "metrics.json" in present else f"a run ({', '.join(present)})"
        raise ConfigError("out", f"{folder} already holds {what}; add --resume to continue it, "
                                 "--overwrite to replace it, or choose another --out")
    if (folder / "last.pt").exists():
        if not (folder / "best.pt").exists():
            _rebuild_best(folder)
        return   # train() checks the checkpoint's settings and state
    if "metrics.json" in present:
        raise ConfigError("resume", f"{folder} holds a finished run whose last.pt is missing, so it cannot be "
                                    "resumed; use --overwrite to train it again from scratch or another --out")
    _check_saved_config(folder / "config.json", config)


def _check_saved_config(path: Path, config: TrainConfig) -> None:
    # A run stopped before its first epoch: resuming starts from scratch, but only with its settings.
    if not path.exists():
        return
    try:
        saved = read_json(path)["config"]
        if not isinstance(saved, dict):
            raise TypeError("config is not an object")
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError("resume", f"{path} is unreadable or not written by this project; "
                                    "use --overwrite or another --out") from None
    check_resumable(saved, config, path)


def _rebuild_best(folder: Path) -> None:
    # best.pt was deleted (say, after it was found truncated) but last.pt is whole: if the last
    # epoch was also the best, its weights are the best weights; otherwise they are gone.
    state = load_checkpoint(folder / "last.pt")
    best_epoch, epoch = state.get("best_epoch"), state.get("epoch")
    if best_epoch != epoch:
        raise TrainingError(f"{folder / 'best.pt'} is missing and the best epoch ({best_epoch}) is not the last one "
                            f"in last.pt ({epoch}), so it cannot be rebuilt; train again with --overwrite")
    save_checkpoint(folder / "best.pt", {"model": state["model"], "config": state.get("config", {}),
                                         "epoch": epoch, "val_elbo": state.get("best_val")})
