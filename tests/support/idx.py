"""A tiny dataset in the IDX format, written by the tests themselves (see conftest's `tiny_dataset`)."""

from __future__ import annotations

import gzip
import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path


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


def write_tiny_dataset(source: Path) -> TinyDataset:
    """Random images with labels 0-9 in turn, as IDX files and their .gz copies in `source`."""
    import numpy as np

    from vae.data import DatasetSpec

    rng = np.random.default_rng(0)
    payloads = {
        "train-images-idx3-ubyte": idx_images(rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)),
        "train-labels-idx1-ubyte": idx_labels(np.arange(20, dtype=np.uint8) % 10),
        "t10k-images-idx3-ubyte": idx_images(rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)),
        "t10k-labels-idx1-ubyte": idx_labels(np.arange(10, dtype=np.uint8) % 10),
    }
    for name, payload in payloads.items():
        (source / name).write_bytes(payload)
        (source / f"{name}.gz").write_bytes(gzip.compress(payload))
    spec = DatasetSpec(name="tiny", folder="MNIST",
                       md5={name: hashlib.md5(p).hexdigest() for name, p in payloads.items()},
                       classes=tuple(str(d) for d in range(10)),
                       offline_hint="tests: offer the good files through `sources=`")
    return TinyDataset(source=source, spec=spec, payloads=payloads)
