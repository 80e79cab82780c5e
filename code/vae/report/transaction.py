"""A report is one transaction per output folder: the whole profile lands, or nothing changes.

Everything is built in a staging folder beside `--out` (never inside it). Only when every run
has finished are the report's entries swapped into `--out`, each old entry moved aside first and
deleted last; if a swap fails, the entries already moved are put back. Entries the report does
not own (bench/, README.md) are never touched.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..artifacts import ArtifactError

# What `python -m vae report` owns in its output folder; explorer/ only when a report writes one.
REPORT_ENTRIES = ("runs", "tables", "figures", "manifest.json", "classifier.json", "findings.json", "explorer")


def open_staging(out_dir: Path) -> Path:
    """A new, empty staging folder beside `out_dir` (same filesystem, so landing is renames only)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ArtifactError(f"cannot use {out_dir} as the output folder: {err.strerror or err}; "
                            "choose a writable --out folder") from err
    try:
        return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.report-", dir=out_dir.resolve().parent))
    except OSError as err:
        raise ArtifactError(f"cannot write beside {out_dir} (the report is staged there): "
                            f"{err.strerror or err}; choose an --out folder in a writable folder") from err


def land(staging: Path, out_dir: Path) -> None:
    """Swap every report entry present in `staging` into `out_dir`, all or none, then remove `staging`."""
    previous = staging / ".previous"
    previous.mkdir()
    moved_aside, landed = [], []
    try:
        for name in REPORT_ENTRIES:
            if not (staging / name).exists():
                continue
            if (out_dir / name).exists():
                (out_dir / name).rename(previous / name)
                moved_aside.append(name)
            (staging / name).rename(out_dir / name)
            landed.append(name)
    except OSError as err:
        for name in landed:
            (out_dir / name).rename(staging / name)
        for name in moved_aside:
            (previous / name).rename(out_dir / name)
        raise ArtifactError(f"cannot replace the report in {out_dir}: {err.strerror or err}; "
                            f"it was left as it was, and the new report is in {staging}") from err
    discard(staging)


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
