"""Data provisioning and loading, on tiny IDX files the tests write (no network).

The failure cases (missing, truncated, corrupted files, repair) are in test_reliability_inputs.py.
"""

import hashlib
import os
import subprocess
import sys

import pytest
import torch

import vae
from vae.data import IDX_FILES, DataError, load_splits, md5sum, prepare, read_dataset, read_idx, \
    to_unit_interval, verify


def test_verify_accepts_the_tiny_idx_files(tmp_path, tiny_dataset):
    tiny_dataset.install(tmp_path)
    verify(tiny_dataset.spec, tmp_path)


def test_prepare_installs_plain_and_gzipped_sources_and_logs_what_it_fetched(tmp_path, tiny_dataset):
    for gz in (False, True):
        folder = tmp_path / ("gz" if gz else "plain")
        messages = []
        raw = prepare(tiny_dataset.spec, folder, download=False, sources=[tiny_dataset.good_source(gz)],
                      log=messages.append)
        assert raw == folder / "MNIST" / "raw"
        assert {p.name: p.read_bytes() for p in raw.iterdir()} == tiny_dataset.payloads
        assert "fetching" in messages[0] and "verified" in messages[-1]
        assert not [p for p in folder.iterdir() if p.name.startswith(".")], "scratch folders left behind"


def test_prepare_keeps_verified_files_and_asks_no_source(tmp_path, tiny_dataset):
    tiny_dataset.install(tmp_path)

    def must_not_be_called(workdir):
        raise AssertionError("a source was asked although every file is verified")

    prepare(tiny_dataset.spec, tmp_path, download=False, sources=[must_not_be_called], log=lambda m: None)


def test_prepare_takes_each_file_from_the_first_source_that_has_it_right(tmp_path, tiny_dataset):
    names = list(tiny_dataset.payloads)
    first = lambda work: {n: tiny_dataset.source / n for n in names[:2]}
    second = lambda work: {n: tiny_dataset.source / f"{n}.gz" for n in names}
    raw = prepare(tiny_dataset.spec, tmp_path, download=False, sources=[first, second], log=lambda m: None)
    verify(tiny_dataset.spec, tmp_path)
    assert sorted(p.name for p in raw.iterdir()) == sorted(names)


def test_load_splits_reads_the_idx_files_into_unit_interval_tensors(tmp_path, tiny_dataset):
    tiny_dataset.install(tmp_path)
    splits = load_splits("tiny", tmp_path, val_split=0.25, seed=1, spec=tiny_dataset.spec)
    assert splits.train_x.shape == (15, 1, 28, 28) and splits.val_x.shape == (5, 1, 28, 28)
    assert splits.test_x.shape == (10, 1, 28, 28) and splits.test_y.tolist() == list(range(10))
    assert splits.train_x.dtype == torch.float32
    assert 0 <= splits.train_x.min() and splits.train_x.max() <= 1
    # Train and validation partition the 20 training images: their labels are 0..9 twice.
    labels = sorted(splits.train_y.tolist() + splits.val_y.tolist())
    assert labels == sorted(list(range(10)) * 2)
    # The pixels are the bytes of the file divided by 255.
    raw = tiny_dataset.payloads["t10k-images-idx3-ubyte"][16:16 + 784]
    expected = torch.tensor(list(raw), dtype=torch.float32).div(255).reshape(1, 28, 28)
    assert torch.equal(splits.test_x[0], expected)


def test_the_split_is_fixed_by_the_seed_and_train_limit_takes_a_prefix(tmp_path, tiny_dataset):
    tiny_dataset.install(tmp_path)
    a = load_splits("tiny", tmp_path, 0.25, seed=7, spec=tiny_dataset.spec)
    b = load_splits("tiny", tmp_path, 0.25, seed=7, spec=tiny_dataset.spec)
    c = load_splits("tiny", tmp_path, 0.25, seed=8, spec=tiny_dataset.spec)
    limited = load_splits("tiny", tmp_path, 0.25, seed=7, train_limit=4, spec=tiny_dataset.spec)
    assert torch.equal(a.val_x, b.val_x) and torch.equal(a.train_x, b.train_x)
    assert not torch.equal(a.val_x, c.val_x)
    assert torch.equal(limited.train_x, a.train_x[:4]) and torch.equal(limited.val_x, a.val_x)


def test_to_unit_interval_matches_torchvision_to_tensor():
    from torchvision.transforms.functional import to_tensor

    images = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    expected = torch.stack([to_tensor(img.numpy()) for img in images])
    assert torch.equal(to_unit_interval(images), expected)


def test_md5sum_is_the_md5_of_the_content(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 3_000_000)
    assert md5sum(path) == hashlib.md5(b"x" * 3_000_000).hexdigest()


def test_the_real_dataset_split_sizes(data_dir):
    splits = load_splits("fashion-mnist", data_dir)
    assert (len(splits.train_x), len(splits.val_x), len(splits.test_x)) == (54000, 6000, 10000)
    assert splits.classes[0] == "T-shirt/top"


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_the_idx_files_are_read_exactly_as_torchvision_reads_them(data_dir, dataset):
    import torchvision

    data = read_dataset(dataset, data_dir)
    cls = {"mnist": torchvision.datasets.MNIST, "fashion-mnist": torchvision.datasets.FashionMNIST}[dataset]
    for images, labels, flag in ((data.train_x, data.train_y, True), (data.test_x, data.test_y, False)):
        theirs = cls(str(data_dir), train=flag, download=False)
        assert torch.equal(images, to_unit_interval(theirs.data)) and images.shape[1:] == (1, 28, 28)
        assert labels.dtype == torch.int64 and torch.equal(labels, theirs.targets)


def test_a_truncated_or_foreign_idx_file_is_refused_naming_it(tmp_path, tiny_dataset):
    images = tiny_dataset.payloads[IDX_FILES[0]]
    cases = {"truncated": images[:-5], "foreign": b"PK\x03\x04" + images[4:], "empty": b""}
    for name, payload in cases.items():
        (tmp_path / name).write_bytes(payload)
        with pytest.raises(DataError, match=name):
            read_idx(tmp_path / name)
    (tmp_path / "good").write_bytes(images)
    assert read_idx(tmp_path / "good").shape == (20, 28, 28)


def test_training_reads_the_data_without_importing_torchvision(tmp_path, data_dir):
    """Reading the files and recording the machine (a training's start) never imports torchvision."""
    script = ("import sys; from vae.data import load_splits; from vae.plumbing.device import environment; "
              f"load_splits('mnist', {str(data_dir)!r}, train_limit=10); environment(); "
              "print('torchvision' in sys.modules)")
    code = os.path.dirname(os.path.dirname(vae.__file__))          # this checkout's package, not another
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": code})
    assert out.stdout.strip() == "False"


# ---- Fashion-MNIST from the Debian package, without root ------------------------------------

def fake_debian_tools(bin_dir, files_dir, apt_works: bool = True):
    """`dpkg` that knows no installed package, `apt-get download` that saves a .deb into the current
    folder (or fails, like apt without the package in its lists), and `dpkg-deb -x DEB DIR` that
    unpacks the files of `files_dir` where the real package keeps them."""
    bin_dir.mkdir()
    scripts = {
        "dpkg": "#!/bin/sh\necho \"dpkg-query: package '$2' is not installed\" >&2\nexit 1\n",
        "apt-get": ("#!/bin/sh\n[ \"$1 $2\" = 'download dataset-fashion-mnist' ] || exit 100\n"
                    + ("echo deb > dataset-fashion-mnist_0.0-1_all.deb\n" if apt_works else
                       "echo 'E: Unable to locate package dataset-fashion-mnist' >&2\nexit 100\n")),
        "dpkg-deb": ("#!/bin/sh\n[ \"$1\" = -x ] && [ -f \"$2\" ] || exit 2\n"
                     "mkdir -p \"$3/usr/share/datasets/fashion-mnist\"\n"
                     f"cp '{files_dir}'/*.gz \"$3/usr/share/datasets/fashion-mnist/\"\n"),
    }
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)


def test_the_debian_package_is_downloaded_and_unpacked_without_installing_it(tmp_path, tiny_dataset, monkeypatch):
    from vae.data import _debian_fashion_source

    fake_debian_tools(tmp_path / "bin", tiny_dataset.source)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    raw = prepare(tiny_dataset.spec, tmp_path / "data", download=False, sources=[_debian_fashion_source],
                  log=lambda m: None)
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == tiny_dataset.payloads
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["MNIST"]     # the .deb and its files are gone


def test_without_the_debian_package_the_error_names_the_one_command_to_run(tmp_path, tiny_dataset, monkeypatch):
    from vae.data import FASHION_MNIST, DataError

    fake_debian_tools(tmp_path / "bin", tiny_dataset.source, apt_works=False)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    with pytest.raises(DataError) as failure:
        prepare(FASHION_MNIST, tmp_path / "data", download=False, log=lambda m: None)
    message = str(failure.value)
    assert "\n" not in message and "`sudo apt-get update`" in message and "make data" in message
