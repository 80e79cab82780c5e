"""A report is one transaction per output folder: the whole profile lands, or nothing changes,
and nothing the report did not write is ever deleted.

Everything is built in a staging folder on the same filesystem as `--out` (beside it, or inside
it as a hidden folder when `--out` is a mount point), so that landing is renames only. The
previous report's `manifest.json` lists every file it wrote (`files`); those, and only those,
are replaced. Before training and again before landing, every entry the new report writes (a
run's folder, an explorer folder, a table, a figure, manifest.json, classifier.json) must either
be absent from `--out` or consist only of files the previous report wrote; anything else is the
user's, and the report stops with one line (exit 2) rather than delete it. Nothing is renamed or
deleted through a symbolic link: a link on the way to anything the report writes or replaces
stops it the same way, since the files behind it lie outside `--out`. Entries the report
does not write (bench/, README.md, a user's own run) are never touched. When a swap fails, the
entries already moved are put back.

A site build and a landing exclude each other: both hold the lock file `ASSETS_LOCK` in the
assets folder (the build from its start to its end, code/site_hooks.py; the landing while it
checks and renames), so a build never reads a report half replaced, and never two reports
mixed; whichever comes second says so and waits.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator

from ..plumbing.artifacts import ArtifactError, lock_folder, locked_scratch, remove_stale, wait_for_lock
from ..plumbing.errors import ConfigError

# The top-level names of `--out` that a report writes under; nothing outside them is ever touched.
# "explorer": where reports before the explorer moved into its run's folder wrote it; listed so that
# the next report replaces (removes) it like any other entry of the previous report.
REPORT_ENTRIES = ("runs", "tables", "figures", "manifest.json", "classifier.json", "findings.json",
                  "explorer")
# Folders whose children are whole entries (a run's folder, an earlier explorer's folder), not single files.
FOLDER_ENTRIES = ("runs", "explorer")
STAGING_PREFIX = ".report-staging-"
# The lock file a site build and a landing share; a dot file, so neither the site (mkdocs leaves
# dot files out), the manifest's `files` nor the consistency check ever sees it.
ASSETS_LOCK = ".assets.lock"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def lock_assets(folder: Path, on_wait: Callable[[], None]) -> int | None:
    """Hold the assets folder's lock (see the module's docstring) until the returned descriptor is
    closed; `on_wait()` first if a build or a landing holds it. None: the folder is read-only or missing."""
    return wait_for_lock(Path(folder) / ASSETS_LOCK, on_wait) if Path(folder).is_dir() else None


@contextlib.contextmanager
def assets_locked(folder: Path, on_wait: Callable[[], None]) -> Iterator[None]:
    fd = lock_assets(folder, on_wait)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


def entry_of(relative: str) -> str:
    """The entry a written file belongs to: `runs/<name>` (its explorer/ included), `explorer/<dataset>`
    (an earlier report's), or the file itself."""
    parts = PurePosixPath(relative).parts
    return "/".join(parts[:2]) if parts[0] in FOLDER_ENTRIES and len(parts) > 2 else relative


def files_in(staging: Path) -> list[str]:
    """Every file under `staging` (relative, sorted): what the report wrote, for manifest.json's `files`."""
    return sorted(str(p.relative_to(staging)) for p in staging.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(staging).parts))


def previous_files(out_dir: Path) -> set[str]:
    """The files the previous report wrote into `out_dir`, as its manifest.json lists them (none: no manifest).

    Manifests written before `files` existed list runs, tables and figures only; classifier.json
    and the explorer's files were then always the report's too.
    """
    path = out_dir / "manifest.json"
    if not path.is_file():
        return set()
    unknown = (f"{path} is not a report manifest this project can read, so which files the previous "
               "report wrote is unknown; move it away or choose another --out")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if "files" in manifest:
            listed = list(manifest["files"])
        else:
            listed = [*manifest.get("tables", []), *manifest.get("figures", []),
                      *(f for run in manifest.get("runs", []) for f in run.get("files", [])), "classifier.json"]
            listed += [str(p.relative_to(out_dir)) for p in (out_dir / "explorer").rglob("*") if p.is_file()]
    except (OSError, ValueError, TypeError, AttributeError):
        raise ConfigError("out", unknown) from None
    if not all(isinstance(f, str) and _inside(f) for f in listed):
        raise ConfigError("out", unknown)
    return {*listed, "manifest.json"}


def _inside(relative: str) -> bool:
    # A listed path may only name a file under the report's own entries: never ../, never absolute.
    parts = PurePosixPath(relative).parts
    return bool(parts) and not PurePosixPath(relative).is_absolute() and ".." not in parts \
        and parts[0] in REPORT_ENTRIES


def _files_under(path: Path, out_dir: Path) -> set[str] | None:
    """Relative paths of the files at or under `path`; None if something there is not a plain file or folder."""
    if path.is_symlink() or path.is_file():
        return {str(path.relative_to(out_dir))} if not path.is_symlink() else None
    found = set()
    for child in path.rglob("*"):
        if child.is_symlink() or not (child.is_file() or child.is_dir()):
            return None
        if child.is_file():
            found.add(str(child.relative_to(out_dir)))
    return found


def _first_link(out_dir: Path, relative: str) -> str | None:
    """The first part of `relative` (under `out_dir`) that is a symbolic link, or None."""
    path = out_dir
    for part in PurePosixPath(relative).parts:
        path = path / part
        if path.is_symlink():
            return str(path.relative_to(out_dir))
        if not path.exists():
            return None
    return None


def check_links(out_dir: Path, paths: Iterable[str]) -> None:
    """Refuse (ConfigError, exit 2) if a path the report may write, replace or remove passes through a
    symbolic link: renaming or deleting through it would change files outside `out_dir` (an archived run
    linked back into runs/, a figures/ that points elsewhere)."""
    links = sorted({link for link in (_first_link(out_dir, p) for p in {*REPORT_ENTRIES, *paths}) if link})
    if links:
        more = f" (and {len(links) - 1} more)" if len(links) > 1 else ""
        raise ConfigError("out", f"{out_dir / links[0]}{more} is a symbolic link, and the report replaces only "
                                 f"what lies inside {out_dir} itself; replace the link with a copy of what it "
                                 "points to, or choose another --out")


def check_out(out_dir: Path, entries: Iterable[str], owned: set[str] | None = None) -> None:
    """Refuse (ConfigError, exit 2) if an entry the report writes exists in `out_dir` and holds
    anything the previous report did not write, or if anything it writes, replaces or removes
    lies behind a symbolic link."""
    out_dir = Path(out_dir)
    owned = previous_files(out_dir) if owned is None else owned
    entries = sorted(set(entries))
    check_links(out_dir, [*entries, *owned])
    foreign = []
    for entry in entries:
        path = out_dir / entry
        if not (path.exists() or path.is_symlink()):
            if path.parent != out_dir and (path.parent.is_file() or path.parent.is_symlink()):
                foreign.append(str(path.parent.relative_to(out_dir)))
            continue
        files = _files_under(path, out_dir)
        if files is None or not files <= owned or (path.is_dir() and entry in owned):
            foreign.append(entry)
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        raise ConfigError("out", f"{out_dir / foreign[0]}{more} was not written by the previous report in "
                                 f"{out_dir} (its manifest.json does not list it), and the report would replace "
                                 "it; move it away or choose another --out")


def _same_filesystem(a: Path, b: Path) -> bool:
    return os.stat(a).st_dev == os.stat(b).st_dev


def staging_parent(out_dir: Path) -> Path:
    """Beside `out_dir` when that is the same filesystem (rename cannot cross one); else inside it."""
    parent = out_dir.resolve().parent
    return parent if _same_filesystem(parent, out_dir) else out_dir


def _staging_prefix(out_dir: Path, parent: Path) -> str:
    return f".{out_dir.resolve().name}.report-" if parent != out_dir else STAGING_PREFIX


_held: dict[Path, int] = {}     # staging folder -> descriptor holding its lock while this process uses it


def open_staging(out_dir: Path) -> Path:
    """A new, empty, locked staging folder on `out_dir`'s filesystem; stale ones of earlier reports are removed."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ArtifactError(f"cannot use {out_dir} as the output folder: {err.strerror or err}; "
                            "choose a writable --out folder") from err
    parent = staging_parent(out_dir)
    prefix = _staging_prefix(out_dir, parent)
    remove_stale(parent, prefix)
    try:
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    except OSError as err:
        raise ArtifactError(f"cannot write beside {out_dir} (the report is staged there): "
                            f"{err.strerror or err}; choose an --out folder in a writable folder") from err
    _held[staging] = lock_folder(staging)
    return staging


def land(staging: Path, out_dir: Path, log: Callable[[str], None] = _stderr) -> None:
    """Swap the report in `staging` into `out_dir`, all or none, then remove `staging`.

    Replaces the previous report's files (its manifest's list) and nothing else; refuses with a
    ConfigError, before changing anything, if an entry to write holds something it did not write.
    Waits (saying so through `log`) while a site build reads `out_dir`."""
    waiting = lambda: log(f"{out_dir}: a site build is reading it; the report lands when the build ends")
    with assets_locked(out_dir, waiting):
        _swap(staging, out_dir)


def _swap(staging: Path, out_dir: Path) -> None:
    owned = previous_files(out_dir)
    new_files = files_in(staging)
    entries = sorted({entry_of(f) for f in new_files})
    try:
        check_out(out_dir, entries, owned)
    except ConfigError as err:
        release(staging)
        raise ConfigError("out", f"{str(err).removeprefix('--out: ')}; the new report is in {staging}") from None
    covered = lambda f: entry_of(f) in entries
    stale = sorted(f for f in owned if not covered(f) and (out_dir / f).is_file())   # no longer written
    previous = staging / ".previous"
    previous.mkdir()
    moved_aside: list[str] = []
    landed: list[str] = []
    created: list[Path] = []
    try:
        for name in [*entries, *stale]:
            if (out_dir / name).exists():
                (previous / name).parent.mkdir(parents=True, exist_ok=True)
                (out_dir / name).rename(previous / name)
                moved_aside.append(name)
        for name in entries:
            created += _make_parents(out_dir / name, out_dir)
            (staging / name).rename(out_dir / name)
            landed.append(name)
    except OSError as err:
        for name in reversed(landed):
            (out_dir / name).rename(staging / name)
        for name in reversed(moved_aside):
            (previous / name).rename(out_dir / name)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        release(staging)
        raise ArtifactError(f"cannot replace the report in {out_dir}: {err.strerror or err}; "
                            f"it was left as it was, and the new report is in {staging}") from err
    _remove_empty_folders(out_dir, {str(PurePosixPath(f).parent) for f in stale})
    discard(staging)


def _make_parents(path: Path, root: Path) -> list[Path]:
    """Create the missing folders above `path` (up to `root`); return them, outermost first."""
    missing = []
    parent = path.parent
    while parent != root and not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for folder in reversed(missing):
        folder.mkdir()
    return list(reversed(missing))


def _remove_empty_folders(out_dir: Path, folders: set[str]) -> None:
    # Folders emptied by removing a dropped run's files (runs/<old>/); never a folder that holds anything.
    for folder in sorted(folders, key=lambda f: -len(PurePosixPath(f).parts)):
        path = out_dir / folder
        while path != out_dir and path.is_dir() and not any(path.iterdir()):
            path.rmdir()
            path = path.parent


def discard(staging: Path) -> None:
    release(staging)
    shutil.rmtree(staging, ignore_errors=True)


def release(staging: Path) -> None:
    """Let go of the staging folder's lock (a failed report's staging is kept until the next report)."""
    fd = _held.pop(staging, None)
    if fd is not None:
        os.close(fd)



@contextlib.contextmanager
def scratch_folder():
    """A locked temporary folder for the runs' checkpoints (never in the assets), removed at the end;
    those of reports that were killed (their lock is free) are removed first."""
    with locked_scratch(Path(tempfile.gettempdir()), "vae-report-") as folder:
        yield folder
