"""Shared fixtures: the repository, the real (verified) data, a tiny IDX dataset, CLI runners.

Kept generic on purpose: any test module may use these, and add its own fixtures next to them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# The real site, built once per session and served on 127.0.0.1, and Playwright's Chromium.
from support.site import built_site, chromium, served_site, site_browser  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[1]


# The order in which `make test` hands the tests to its pytest-xdist workers, one at a time
# (--dist load --maxschedchunk 1); the files not named here follow, as collected. First the long
# tests that need nothing shared, while the site, the quick report and the lock's resolutions are
# made in the background (shared_in_background); then the long tests that need those; the short
# ones last, so that no worker is left with a long test at the end while the others idle.
# (pytest-xdist's --dist loadgroup would keep a file's tests on one worker, but with pytest 9 it
# no longer groups anything: it renames a node through an attribute pytest 9 no longer reads.)
LONGEST_FIRST = ("test_reliability_signals.py", "test_reliability_transaction.py", "test_site.py",
                 "test_site_browser.py::test_every_page_in_headless_chromium[en]",
                 "test_site_browser.py::test_every_page_in_headless_chromium[pt]", "test_report.py",
                 "test_site_pdf.py", "test_explorer_model_browser.py", "test_explorer_pad_browser.py",
                 "test_explorer_browser.py", "test_requirements.py")


def _rank(item) -> int:
    name = item.nodeid.split("/")[-1]
    return next((rank for rank, first in enumerate(LONGEST_FIRST)
                 if name == first or name.startswith(first + "::")), len(LONGEST_FIRST))


def pytest_collection_modifyitems(config, items):
    """Files in the order of LONGEST_FIRST, then as collected; the order within a file is kept."""
    items.sort(key=_rank)


def pytest_configure(config):
    """Under pytest-xdist (`make test` runs one worker per core), each worker's torch takes its
    share of the cores, so that two workers' training does not fight over each core."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        import torch
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


DATA_DIR = Path(os.environ.get("VAE_TEST_DATA_DIR", REPO_ROOT / "data"))


@pytest.fixture(scope="session", autouse=True)
def shared_in_background(request, tmp_path_factory):
    """The site, the quick report and the lock's resolutions, each started in its own process at
    the start of a test run that has a test needing it (tests/support/shared.py)."""
    from support.shared import SHARED, start_in_background

    needed = {name for item in request.session.items for name in SHARED if name in item.fixturenames}
    started = start_in_background(tmp_path_factory, needed, DATA_DIR) if needed else []
    yield
    for process in started:   # other workers may still need it: never cut one short
        process.wait()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real MNIST and Fashion-MNIST files that `make data` puts in data/ (verified once)."""
    from vae.data import DATASETS, DataError, verify

    folder = DATA_DIR
    try:
        for spec in DATASETS.values():
            verify(spec, folder)
    except DataError as err:
        pytest.fail(f"the test suite needs the real datasets: {err}")
    return folder


@pytest.fixture(scope="session")
def subprocess_env() -> dict[str, str]:
    """Environment for `python -m vae` subprocesses: one CPU thread each, no progress bars."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TQDM_DISABLE="1", PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="session")
def run_vae(subprocess_env):
    """Run `python -m vae ARGS...` in a subprocess and return the CompletedProcess (text mode)."""

    def run(*args: str | os.PathLike, cwd: str | os.PathLike | None = None, timeout: float = 300,
            ) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "vae", *map(str, args)], cwd=cwd,
                              env=subprocess_env, capture_output=True, text=True, timeout=timeout)

    return run


@pytest.fixture
def single_thread():
    """Run the test body with one intra-op thread (exactly reproducible, light on a shared machine)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def english_figures_only(monkeypatch):
    """Figures drawn in English only, for the tiny reports of tests about what lands in a folder
    (a translated copy of each figure would double their drawing time). The shared quick report
    draws every figure in every language, and stops on a text the catalogue cannot translate."""
    from vae import figures

    monkeypatch.setattr(figures, "TRANSLATED", ())


# ---- a tiny dataset in the IDX format, written by the tests themselves ----------------------

@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """Valid IDX files (20 training, 10 test images) and a spec whose MD5s match (support/idx.py)."""
    from support.idx import write_tiny_dataset

    return write_tiny_dataset(tmp_path_factory.mktemp("tiny-idx"))


# ---- one report of the whole plan, shared by every test that needs one ----------------------

@dataclass(frozen=True)
class SharedReport:
    """A report of every run of the quick plan, made once per test session (see `shared_report`)."""
    out: Path                    # its assets folder
    manifest: dict
    log: list                    # every line it logged
    md5_checks: dict             # file -> how many times its MD5 was computed during the report
    profile: object              # the vae.report.Profile it was made with


def quick_test_profile():
    """The quick profile's plan (every run, table and figure), with smaller subsets (the first 1,000
    test images), fewer epochs and importance samples than `make report PROFILE=quick`: the tests
    check the shape of the result, not its values. Its runs are the quick plan's; their names follow
    from this profile's settings (`run_name`)."""
    import dataclasses

    from vae.report import PROFILES

    return dataclasses.replace(PROFILES["quick"], name="quick", epochs=1, sweep_epoch_cap=3, likelihood_epochs=(1, 1),
                               train_limit=512, val_split=0.005, test_limit=1000, tsne_points=100, iwae_k=8,
                               iwae_conv_images=8, iwae_mlp_images=50, anomaly_images=200, device="cpu")


def make_shared_report(folder: Path, data_dir: Path) -> None:
    """The report of `quick_test_profile()` into folder/assets, with every line it logged and how
    often each data file's MD5 was computed (folder/report.json)."""
    import collections
    import json

    from vae import data
    from vae.report import build_report

    md5_checks: collections.Counter = collections.Counter()
    real_md5sum = data.md5sum

    def counted_md5sum(path: Path) -> str:
        md5_checks[str(path.relative_to(data_dir))] += 1
        return real_md5sum(path)

    log: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(data, "md5sum", counted_md5sum)
        build_report(quick_test_profile(), data_dir, folder / "assets", log=log.append)
    (folder / "report.json").write_text(json.dumps({"log": log, "md5_checks": md5_checks}), encoding="utf-8")


@pytest.fixture(scope="session")
def shared_report(tmp_path_factory, data_dir) -> SharedReport:
    """The report of `quick_test_profile()`, made once per test run and shared by the test workers
    (support/shared.py)."""
    import json

    from support.shared import made_once

    folder = made_once(tmp_path_factory, "shared-report", lambda f: make_shared_report(f, data_dir))
    made = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    manifest = json.loads((folder / "assets" / "manifest.json").read_text(encoding="utf-8"))
    return SharedReport(out=folder / "assets", manifest=manifest, log=made["log"], md5_checks=made["md5_checks"],
                        profile=quick_test_profile())
