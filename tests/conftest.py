"""Shared fixtures: the repository, the real (verified) data, a tiny IDX dataset, CLI runners.

Kept generic on purpose: any test module may use these, and add its own fixtures next to them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# The real site, built once per session and served on 127.0.0.1, and Playwright's Chromium.
from support.site import built_site, chromium, served_site, site_browser  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real MNIST and Fashion-MNIST files that `make data` puts in data/ (verified once)."""
    from vae.data import DATASETS, DataError, verify

    folder = Path(os.environ.get("VAE_TEST_DATA_DIR", REPO_ROOT / "data"))
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


# ---- a tiny dataset in the IDX format, written by the tests themselves ----------------------

def idx_images(images) -> bytes:
    """IDX3 bytes (magic 0x00000803, big-endian sizes) for a uint8 array of shape (N, 28, 28)."""
    n, rows, cols = images.shape
    return struct.pack(">IIII", 0x803, n, rows, cols) + images.astype("uint8").tobytes()


def idx_labels(labels) -> bytes:
    """IDX1 bytes (magic 0x00000801) for a uint8 array of shape (N,)."""
    return struct.pack(">II", 0x801, len(labels)) + labels.astype("uint8").tobytes()


@dataclass(frozen=True)
class TinyDataset:
    """Valid IDX files (20 training, 10 test images) kept in `source`, with a spec whose MD5s match."""
    source: Path                 # folder with the four good IDX files (and .gz copies)
    spec: object                 # a vae.data.DatasetSpec with folder "MNIST" (torchvision's layout)
    payloads: dict               # file name -> bytes

    def good_source(self, gz: bool = False):
        """An offline source (as `prepare` takes them) that offers the good files."""
        suffix = ".gz" if gz else ""
        return lambda workdir: {name: self.source / f"{name}{suffix}" for name in self.payloads}

    def install(self, data_dir: Path) -> Path:
        """Write the good files into data_dir/MNIST/raw/ and return that folder."""
        raw = data_dir / "MNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for name, payload in self.payloads.items():
            (raw / name).write_bytes(payload)
        return raw


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> TinyDataset:
    import numpy as np

    from vae.data import DatasetSpec

    rng = np.random.default_rng(0)
    payloads = {
        "train-images-idx3-ubyte": idx_images(rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)),
        "train-labels-idx1-ubyte": idx_labels(np.arange(20, dtype=np.uint8) % 10),
        "t10k-images-idx3-ubyte": idx_images(rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)),
        "t10k-labels-idx1-ubyte": idx_labels(np.arange(10, dtype=np.uint8) % 10),
    }
    source = tmp_path_factory.mktemp("tiny-idx")
    for name, payload in payloads.items():
        (source / name).write_bytes(payload)
        (source / f"{name}.gz").write_bytes(gzip.compress(payload))
    spec = DatasetSpec(name="tiny", folder="MNIST",
                       md5={name: hashlib.md5(p).hexdigest() for name, p in payloads.items()},
                       classes=tuple(str(d) for d in range(10)),
                       offline_hint="tests: offer the good files through `sources=`")
    return TinyDataset(source=source, spec=spec, payloads=payloads)

