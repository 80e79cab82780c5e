"""What the test session makes once and every pytest-xdist worker shares: the built site and the
quick report take about a minute each, the lock's resolutions half a minute of waiting on the
package index; two workers making each their own would spend the time the workers save.

Each worker has its own base temporary folder; their parent is common to the run, so the first
to ask makes the folder there under a file lock, and the others wait for it and read it. Without
xdist the folder is simply made in the session's own temporary folder.

They start at once, in the background (`start_in_background`, called by tests/conftest.py when a
test run first needs them): each is made by its own process (tests/support/shared_jobs.py) while
the workers run the tests that need none of them, instead of one worker making it while the others
wait for it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Callable

from filelock import FileLock

MADE, FAILED = ".made", ".failed"
TESTS = Path(__file__).resolve().parents[1]

# fixture name -> the folder it is made in (and the job of tests/support/shared_jobs.py that makes it)
SHARED = {"built_site": "built-site", "shared_report": "shared-report", "resolutions": "lock-resolutions"}


def shared_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.getbasetemp()
    return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root


def made_once(tmp_path_factory, name: str, make: Callable[[Path], None]) -> Path:
    """The folder `name`, filled by `make(folder)` once per test run, whichever worker asks first
    (or the background job of the same name, if it started first)."""
    return made_once_at(shared_root(tmp_path_factory), name, make)


def made_once_at(root: Path, name: str, make: Callable[[Path], None]) -> Path:
    """The folder `root/name`, made by `make(folder)` unless made already; one maker at a time.

    A `make` that fails fails every worker that asks, with its message, and is not run again."""
    folder = root / name
    with FileLock(str(folder) + ".lock"):
        if (folder / FAILED).is_file():
            raise RuntimeError(f"{name} could not be made (in another test process):\n"
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


def start_in_background(tmp_path_factory, needed: set[str], data_dir: Path) -> list[subprocess.Popen]:
    """Start making each of `needed` (fixture names of SHARED) in a process of its own, once per
    test run (the first worker to call this starts them; the others start nothing)."""
    root = shared_root(tmp_path_factory)
    with FileLock(str(root / "background.lock")):
        if (root / "background.started").is_file():
            return []
        (root / "background.started").write_text(" ".join(sorted(needed)), encoding="utf-8")
    # One thread each (torch, OpenMP, BLAS, and the notebook's kernel, which inherits them): the
    # cores are shared with the test workers, and oversubscribed OpenMP threads spin-wait.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    return [subprocess.Popen([sys.executable, "-m", "support.shared_jobs", name, str(root), str(data_dir)],
                             cwd=TESTS.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name in sorted(needed)]
