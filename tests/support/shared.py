"""What the test session makes once and every pytest-xdist worker shares: the quick report and
the built site take about a minute each, and two workers making each their own would spend the
time the workers save.

Each worker has its own base temporary folder; their parent is common to the run, so the first
worker to ask makes the folder there under a file lock, and the others wait for it and read it.
Without xdist the folder is simply made in the session's own temporary folder.
"""

from __future__ import annotations

import os
import shutil
import traceback
from pathlib import Path
from typing import Callable

from filelock import FileLock

MADE, FAILED = ".made", ".failed"


def made_once(tmp_path_factory, name: str, make: Callable[[Path], None]) -> Path:
    """The folder `name`, filled by `make(folder)` once per test run, whichever worker asks first.

    A `make` that fails fails every worker that asks, with its message, and is not run again."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    folder = root / name
    with FileLock(str(folder) + ".lock"):
        if (folder / FAILED).is_file():
            raise RuntimeError(f"{name} could not be made (in another test worker):\n"
                               + (folder / FAILED).read_text(encoding="utf-8"))
        if not (folder / MADE).is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            try:
                make(folder)
            except BaseException:
                (folder / FAILED).write_text(traceback.format_exc()[-5000:], encoding="utf-8")
                raise
            (folder / MADE).write_text("", encoding="utf-8")
    return folder
