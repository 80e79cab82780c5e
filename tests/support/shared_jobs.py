"""`python -m support.shared_jobs FIXTURE ROOT DATA_DIR`: make one folder the test run shares
(tests/support/shared.py, SHARED) in a process of its own, while the test workers run other tests.

Run with tests/ on PYTHONPATH, by `support.shared.start_in_background`. A job that fails records why
in its folder, and every test that needs the folder fails with that message; a job that dies before
it starts leaves nothing behind, and the first test that needs the folder makes it itself.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(fixture: str, root: Path, data_dir: Path) -> None:
    import torch

    from support.shared import SHARED, made_once_at

    torch.set_num_threads(1)   # the machine is shared with the test workers
    if fixture == "built_site":
        from support.site import make_site as make
    elif fixture == "shared_report":
        from conftest import make_shared_report

        def make(folder: Path) -> None:
            make_shared_report(folder, data_dir)
    elif fixture == "resolutions":
        from test_requirements import resolve_lock as make
    else:
        raise SystemExit(f"no shared folder is made by {fixture!r}; one of {sorted(SHARED)}")
    made_once_at(root, SHARED[fixture], make)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
