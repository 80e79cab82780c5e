"""What the reliability tests (tests/test_reliability_*.py) share: the guarantees they are tagged
with, a tiny finished run to damage copies of, and the checks of a one-line error.

`tests/robustness_cases.py` turns the tags and the first docstring line of every test into the
table of docs/includes/robustness.md, in the order of GUARANTEES.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import torch

from vae import cli
from vae.losses import negative_elbo
from vae.training import TrainConfig, train

GUARANTEES = {
    "options": "Invalid command-line and configuration values",
    "data": "Dataset files missing, truncated or corrupted",
    "checkpoints": "Checkpoints",
    "interruption": "Interruption and resume",
    "non-finite": "Non-finite loss",
    "atomic": "Atomic files",
    "disk": "Unwritable folders and full disks",
    "folders": "Owned output folders",
    "transaction": "The report never deletes what it did not write",
    "assets": "Consistent report assets",
    "memory": "Out of memory",
    "stdout": "A closed or failing stdout",
    "errors": "Unexpected errors",
    "cuda": "The CUDA path, checked on the CPU",
}


def guarantee(area: str):
    """Tag a test with the guarantee (a key of GUARANTEES) it checks."""
    assert area in GUARANTEES, area

    def tag(test):
        test.guarantee = area
        return test

    return tag


TINY = ["--arch", "mlp", "--hidden", "64", "--batch-size", "64", "--train-limit", "256", "--device", "cpu"]
from support.configs import TIMING_KEYS  # noqa: E402,F401  (re-exported for the reliability tests)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under folder (hidden ones included), by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def run_cli(argv: list, capsys) -> tuple[int, str, str]:
    """cli.main in this process: (exit code, stdout, stderr)."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(err: str, *fragments: str) -> None:
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"


def poison(monkeypatch, at_call: int) -> None:
    """Make the training loss NaN from the at_call-th training step of this process on."""
    calls = []

    def poisoned(*args, **kwargs):
        terms = negative_elbo(*args, **kwargs)
        calls.append(1)
        if len(calls) >= at_call:
            return terms._replace(loss=terms.loss * float("nan"))
        return terms

    monkeypatch.setattr("vae.training.negative_elbo", poisoned)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, data_dir) -> Path:
    """One finished 1-epoch run of the tiny MLP (config.json, history.csv, best.pt, last.pt, metrics.json)."""
    out = tmp_path_factory.mktemp("tiny-run") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(TrainConfig(arch="mlp", hidden=(64,), epochs=1, batch_size=64, train_limit=256, device="cpu",
                          data_dir=str(data_dir)), out, log=lambda m: None, progress=False)
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture
def run_copy(tiny_run, tmp_path) -> Path:
    """A private copy of the tiny run that a test may damage."""
    return Path(shutil.copytree(tiny_run, tmp_path / "run"))


@contextlib.contextmanager
def scratch_locked(folder: Path, env: dict[str, str]) -> Iterator[None]:
    """A real process holds `folder`'s scratch lock (artifacts.lock_folder), as a running report or
    `data` command holds its staging folder, until the block ends."""
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from vae.plumbing.artifacts import lock_folder\n"
                               "lock_folder(Path(sys.argv[1])); print('locked', flush=True); time.sleep(120)",
                               str(folder)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.kill()
        holder.wait(timeout=30)
        holder.stdout.close()
