"""Reliability (issues 6 and 13): every guarantee of the Robustness section, one test per case.

Each test is tagged with the guarantee it checks; `tests/robustness_cases.py` turns the tags
and the first line of each docstring into the table of docs/includes/robustness.md, with
the number of cases counted from the tests themselves.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from support.configs import TIMING_KEYS
from vae import artifacts, cli
from vae.artifacts import ArtifactError, write_atomic, write_bytes
from vae.data import MNIST, DataError, load_splits, prepare, verify
from vae.losses import negative_elbo
from vae.models import build_model
from vae.training import ConfigError, TrainConfig, TrainingError, load_checkpoint, train

GUARANTEES = {
    "options": "Invalid command-line and configuration values",
    "data": "Dataset files missing, truncated or corrupted",
    "checkpoints": "Checkpoints",
    "interruption": "Interruption and resume",
    "non-finite": "Non-finite loss",
    "atomic": "Atomic files",
    "disk": "Unwritable folders and full disks",
    "folders": "Owned output folders",
    "assets": "Consistent report assets",
    "memory": "Out of memory",
    "stdout": "A closed or failing stdout",
}


def guarantee(area: str):
    """Tag a test with the guarantee (a key of GUARANTEES) it checks."""
    assert area in GUARANTEES, area

    def tag(test):
        test.guarantee = area
        return test

    return tag


TINY = ["--arch", "mlp", "--hidden", "64", "--batch-size", "64", "--train-limit", "256", "--device", "cpu"]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under folder (hidden ones included), by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
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


# ---- invalid command-line and configuration values ------------------------------------------

INVALID = [
    (["train", "--epochs", "0"], ["--epochs", "positive integer"]),
    (["train", "--batch-size", "-5"], ["--batch-size", "positive integer"]),
    (["train", "--latent-dim", "two"], ["--latent-dim", "positive integer"]),
    (["train", "--train-limit", "0"], ["--train-limit", "positive integer"]),
    (["train", "--hidden", "0"], ["--hidden", "400 or 512,256"]),
    (["train", "--hidden", "64,x"], ["--hidden", "400 or 512,256"]),
    (["train", "--dataset", "cifar10"], ["--dataset", "mnist", "fashion-mnist"]),
    (["train", "--arch", "resnet"], ["--arch", "conv", "mlp"]),
    (["train", "--recon-loss", "l1"], ["--recon-loss", "bce", "mse"]),
    (["train", "--beta", "-1"], ["--beta", ">= 0"]),
    (["train", "--beta", "nan"], ["--beta", "finite number"]),
    (["train", "--lr", "0"], ["--lr", "> 0"]),
    (["train", "--lr", "inf"], ["--lr", "finite number"]),
    (["train", "--lr", "fast"], ["--lr", "must be a number"]),
    (["train", "--weight-decay", "-0.1"], ["--weight-decay", ">= 0"]),
    (["train", "--val-split", "1"], ["--val-split", "between 0 and 1"]),
    (["train", "--val-split", "0"], ["--val-split", "between 0 and 1"]),
    (["train", "--seed", "-1"], ["--seed", "from 0 to 4294967295"]),
    (["train", "--seed", "4294967296"], ["--seed", "from 0 to 4294967295"]),
    (["train", "--seed", "1.5"], ["--seed", "from 0 to 4294967295"]),
    (["train", "--device", "tpu"], ["--device", "auto, cpu, cuda, cuda:N or mps"]),
    (["train", "--device", "cuda:99"], ["--device", "not available", "auto or cpu"]),
    # A value that is only invalid together with the dataset's size: no validation example left.
    (["train", "--val-split", "1e-9"], ["--val-split", "no validation example"]),
    (["train", "--frobnicate"], ["unrecognized arguments: --frobnicate"]),
    (["data", "--dataset", "cifar10"], ["--dataset", "mnist", "fashion-mnist", "all"]),
    (["report", "--profile", "huge"], ["--profile", "quick", "standard", "full"]),
    (["train", "--out", ""], ["--out", "must name a folder"]),
    (["report", "--out", " "], ["--out", "must name a folder"]),
    (["train", "--resume", "--overwrite"], ["--overwrite", "--resume"]),
    ([], ["required: command"]),
]


@guarantee("options")
@pytest.mark.parametrize("argv,fragments", INVALID, ids=[" ".join(a) or "no-command" for a, _ in INVALID])
def test_an_invalid_value_is_one_line_naming_option_and_allowed_values_exit_2_nothing_written(
        argv, fragments, tmp_path, monkeypatch, capsys, data_dir):
    """An invalid value: one line naming the option and the allowed values, exit code 2, nothing written."""
    monkeypatch.chdir(tmp_path)
    extra = ["--data-dir", str(data_dir)] + ([] if "--out" in argv else ["--out", "out"]) \
        if argv[:1] == ["train"] else []
    code, out, err = run_cli(argv + extra, capsys)
    assert code == 2
    assert_one_line(err, *fragments)
    assert out == ""
    assert list(tmp_path.iterdir()) == []


@guarantee("options")
def test_an_invalid_value_in_a_real_process_has_no_traceback_and_writes_nothing(tmp_path, run_vae, data_dir):
    """The same from the shell: `python -m vae train --device cuda:99` prints one line, exits 2, writes nothing."""
    result = run_vae("train", "--device", "cuda:99", "--data-dir", data_dir, "--out", "out", cwd=tmp_path)
    assert result.returncode == 2
    assert_one_line(result.stderr, "--device", "cuda:99")
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


RESUME_MISMATCH = [
    (["--latent-dim", "3"], "--resume", "latent_dim=2 (now 3)"),
    (["--arch", "conv"], "--resume", "arch='mlp' (now 'conv')"),
    (["--seed", "1"], "--resume", "seed=42 (now 1)"),
    (["--dataset", "fashion-mnist"], "--resume", "dataset='mnist' (now 'fashion-mnist')"),
    (["--epochs", "2", "--train-limit", "128"], "--resume", "train_limit=256 (now 128)"),
]


@guarantee("options")
@pytest.mark.parametrize("change,option,detail", RESUME_MISMATCH, ids=[" ".join(c) for c, _, _ in RESUME_MISMATCH])
def test_resume_into_a_folder_with_another_configuration_is_refused_and_leaves_it_untouched(
        change, option, detail, run_copy, capsys, data_dir):
    """`--resume` into a folder trained with other settings: one line naming the difference, exit 2, folder untouched."""
    before = snapshot(run_copy)
    argv = ["train", *TINY, "--epochs", "2", "--data-dir", data_dir, "--out", run_copy, "--resume", *change]
    code, out, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_line(err, option, detail, "another --out folder")
    assert snapshot(run_copy) == before


@guarantee("options")
def test_resume_with_fewer_epochs_than_already_trained_is_refused(run_copy, capsys, data_dir):
    """`--resume --epochs N` below the epochs already trained: one line with the smallest allowed N, exit 2."""
    two = run_copy
    state = load_checkpoint(two / "last.pt")
    state["epoch"] = 2
    torch.save(state, two / "last.pt")
    before = snapshot(two)
    code, _, err = run_cli(["train", *TINY, "--epochs", "1", "--data-dir", data_dir, "--out", two, "--resume"],
                           capsys)
    assert code == 2
    assert_one_line(err, "--epochs", "already trained 2 epochs", "--epochs 2 or more")
    assert snapshot(two) == before


# ---- dataset files ----------------------------------------------------------------------------

def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "missing":
        path.unlink()
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "corrupted":          # same size, one byte changed: only the checksum can tell
        i = len(data) // 2
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:])
    elif how == "empty":
        path.write_bytes(b"")
    else:
        raise ValueError(how)


DAMAGES = ["missing", "truncated", "corrupted", "empty"]


@guarantee("data")
@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_dataset_file_is_named_with_the_fix(how, tmp_path, tiny_dataset):
    """A missing, truncated, corrupted (wrong checksum) or empty IDX file: an error naming the file and the fix."""
    raw = tiny_dataset.install(tmp_path)
    damage(raw / "train-labels-idx1-ubyte", how)
    for check in (lambda: verify(tiny_dataset.spec, tmp_path),
                  lambda: load_splits("tiny", tmp_path, spec=tiny_dataset.spec)):
        with pytest.raises(DataError) as caught:
            check()
        message = str(caught.value)
        assert str(raw / "train-labels-idx1-ubyte") in message
        assert "make data" in message
        assert ("missing" if how == "missing" else "truncated or corrupted") in message


@guarantee("data")
@pytest.mark.parametrize("how", DAMAGES)
def test_training_never_starts_on_partial_data(how, tmp_path, data_dir, capsys):
    """`train` with a damaged file in `--data-dir` stops before training; the output folder is not even created."""
    copy = tmp_path / "data" / "MNIST" / "raw"
    copy.mkdir(parents=True)
    for name in MNIST.md5:
        (copy / name).symlink_to((data_dir / "MNIST" / "raw" / name).resolve())
    victim = copy / "t10k-labels-idx1-ubyte"          # small: a real copy is cheap
    victim.unlink()
    shutil.copyfile(data_dir / "MNIST" / "raw" / victim.name, victim)
    damage(victim, how)
    config = TrainConfig(arch="mlp", hidden=(64,), epochs=1, train_limit=64, device="cpu",
                         data_dir=str(tmp_path / "data"))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        train(config, tmp_path / "out", log=lambda m: None, progress=False)
    assert not (tmp_path / "out").exists()


@guarantee("data")
@pytest.mark.parametrize("gz", [False, True], ids=["plain-source", "gzip-source"])
def test_a_rerun_repairs_the_data_folder_and_keeps_the_good_files(gz, tmp_path, tiny_dataset):
    """A re-run of the provisioning replaces every damaged file from a good source and keeps the verified ones."""
    raw = tiny_dataset.install(tmp_path)
    for name, how in zip(tiny_dataset.payloads, ["truncated", "corrupted", "missing"]):
        damage(raw / name, how)
    kept = raw / "t10k-labels-idx1-ubyte"
    kept_stat = kept.stat()
    prepare(tiny_dataset.spec, tmp_path, download=False, sources=[tiny_dataset.good_source(gz)], log=lambda m: None)
    verify(tiny_dataset.spec, tmp_path)
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == tiny_dataset.payloads
    assert (kept.stat().st_ino, kept.stat().st_mtime_ns) == (kept_stat.st_ino, kept_stat.st_mtime_ns)
    assert [p.name for p in tmp_path.iterdir()] == ["MNIST"], "scratch folders left behind"


@guarantee("data")
def test_a_source_that_offers_damaged_files_is_never_used(tmp_path, tiny_dataset):
    """A source whose files have the wrong checksum is ignored; the error names the files still missing and the fix."""
    bad = tmp_path / "bad"
    bad.mkdir()
    for name, payload in tiny_dataset.payloads.items():
        (bad / name).write_bytes(payload[:-1])
        (bad / f"{name}.gz").write_bytes(b"not gzip")
    sources = [lambda work: {n: bad / n for n in tiny_dataset.payloads},
               lambda work: {n: bad / f"{n}.gz" for n in tiny_dataset.payloads}]
    with pytest.raises(DataError) as caught:
        prepare(tiny_dataset.spec, tmp_path / "data", download=False, sources=sources, log=lambda m: None)
    message = str(caught.value)
    assert all(name in message for name in tiny_dataset.payloads)
    assert tiny_dataset.spec.offline_hint in message
    assert list((tmp_path / "data" / "MNIST" / "raw").iterdir()) == []


@guarantee("data")
def test_a_source_that_crashes_is_skipped_for_the_next_one(tmp_path, tiny_dataset):
    """A source that fails (no network, a broken tool) does not stop provisioning: the next source is used."""
    def offline(workdir):
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    prepare(tiny_dataset.spec, tmp_path, download=False, sources=[offline, tiny_dataset.good_source()],
            log=lambda m: None)
    verify(tiny_dataset.spec, tmp_path)


# ---- checkpoints ------------------------------------------------------------------------------

@guarantee("checkpoints")
def test_every_output_of_a_run_goes_through_the_atomic_writer(tmp_path, data_dir, monkeypatch):
    """Checkpoints, history, config and metrics are all written by the atomic writer (temporary file, fsync, rename)."""
    written, fsynced = [], []
    real_write_atomic, real_fsync = artifacts.write_atomic, os.fsync
    monkeypatch.setattr(artifacts, "write_atomic", lambda path, write: written.append(Path(path).name)
                        or real_write_atomic(path, write))
    monkeypatch.setattr(os, "fsync", lambda fd: fsynced.append(fd) or real_fsync(fd))
    train(TrainConfig(arch="mlp", hidden=(16,), epochs=1, train_limit=64, device="cpu", data_dir=str(data_dir)),
          tmp_path / "out", log=lambda m: None, progress=False)
    assert sorted(set(written)) == sorted(p.name for p in (tmp_path / "out").iterdir())
    assert {"best.pt", "last.pt", "history.csv", "config.json", "metrics.json"} <= set(written)
    assert len(fsynced) >= 2 * len(written)          # the file, then its folder, for each


class Exploit:
    """A pickle that would create a file when unpickled without weights_only."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@guarantee("checkpoints")
def test_loading_a_checkpoint_never_unpickles_arbitrary_objects(tmp_path):
    """Checkpoints are loaded with `weights_only=True`: a file holding arbitrary Python objects is refused, not run."""
    marker = tmp_path / "code-was-run"
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "payload": Exploit(marker)}, path)
    with pytest.raises(TrainingError, match="evil.pt"):
        load_checkpoint(path)
    assert not marker.exists()


def _flip_tensor_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
    path.write_bytes(bytes(data))


CHECKPOINT_DAMAGE = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "empty": lambda p: p.write_bytes(b""),
    "garbage": lambda p: p.write_bytes(os.urandom(4096)),
    "flipped-bytes-in-weights": _flip_tensor_bytes,
    "not-a-checkpoint": lambda p: torch.save({"weights": torch.zeros(3)}, p),
}


@guarantee("checkpoints")
@pytest.mark.parametrize("how", list(CHECKPOINT_DAMAGE))
def test_a_damaged_checkpoint_gives_a_clear_error(how, run_copy, capsys, data_dir):
    """A truncated, empty, garbage, bit-flipped or foreign checkpoint: an error naming the file (exit 1 on `--resume`)."""
    for name in ("best.pt", "last.pt"):
        CHECKPOINT_DAMAGE[how](run_copy / name)
        with pytest.raises(TrainingError) as caught:
            load_checkpoint(run_copy / name)
        assert str(run_copy / name) in str(caught.value)
        assert "delete it and train again" in str(caught.value)
    code, _, err = run_cli(["train", *TINY, "--epochs", "2", "--data-dir", data_dir, "--out", run_copy,
                            "--resume"], capsys)
    assert code == 1
    assert_one_line(err, "last.pt")


@guarantee("checkpoints")
@pytest.mark.parametrize("arch,latent_dim,hidden", [("conv", 2, (400,)), ("mlp", 3, (64,)), ("mlp", 2, (32,))],
                         ids=["other-architecture", "other-latent-size", "other-hidden-size"])
def test_a_checkpoint_of_another_model_gives_a_clear_error(arch, latent_dim, hidden, tiny_run):
    """Loading weights into another architecture, latent size or width: an error naming what the file holds."""
    with pytest.raises(TrainingError) as caught:
        load_checkpoint(tiny_run / "best.pt", build_model(arch, latent_dim, hidden))
    message = str(caught.value)
    assert "holds a mlp model with latent dimension 2" in message
    assert "--arch/--latent-dim/--hidden" in message


@guarantee("checkpoints")
def test_a_checkpoint_without_training_state_cannot_be_resumed(run_copy, capsys, data_dir):
    """`best.pt` copied over `last.pt` (weights only, no optimizer or RNG state): `--resume` says so, exit 1."""
    shutil.copyfile(run_copy / "best.pt", run_copy / "last.pt")
    code, _, err = run_cli(["train", *TINY, "--epochs", "2", "--data-dir", data_dir, "--out", run_copy,
                            "--resume"], capsys)
    assert code == 1
    assert_one_line(err, "last.pt", "cannot be resumed", "optimizer")


# ---- interruption -----------------------------------------------------------------------------

def _metrics_without_timings(folder: Path) -> dict:
    metrics = json.loads((folder / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k not in TIMING_KEYS}


def _history_without_timings(folder: Path) -> list[list[str]]:
    lines = (folder / "history.csv").read_text().splitlines()
    column = lines[0].split(",").index("epoch_time_s")
    return [[v for i, v in enumerate(line.split(",")) if i != column] for line in lines]


@guarantee("interruption")
def test_sigkill_then_resume_ends_with_exactly_the_metrics_of_an_uninterrupted_run(
        tmp_path, data_dir, run_vae, subprocess_env):
    """A training process killed with SIGKILL after an epoch, then `--resume`: exactly the metrics of an uninterrupted run."""
    args = ["train", *TINY, "--epochs", "8", "--data-dir", str(data_dir)]
    straight = run_vae(*args, "--out", tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr

    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "vae", *args, "--out", str(killed)], env=subprocess_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (killed / "last.pt").exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "metrics.json").exists()
    completed = load_checkpoint(killed / "last.pt")["epoch"]
    assert 1 <= completed < 8

    resumed = run_vae(*args, "--out", killed, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {killed} after epoch {completed}" in resumed.stdout
    assert _metrics_without_timings(killed) == _metrics_without_timings(tmp_path / "straight")
    assert _history_without_timings(killed) == _history_without_timings(tmp_path / "straight")
    for name in ("best.pt", "last.pt"):
        a, b = (load_checkpoint(folder / name)["model"] for folder in (killed, tmp_path / "straight"))
        assert all(torch.equal(a[k], b[k]) for k in a)


@guarantee("interruption")
def test_a_process_killed_in_the_middle_of_a_write_leaves_the_previous_file_whole(tmp_path, subprocess_env):
    """SIGKILL while a file is half written: the file keeps its previous content; at most a hidden temporary file remains."""
    target = tmp_path / "figure.png"
    target.write_bytes(b"previous complete content")
    script = textwrap.dedent(f"""
        import sys, time
        from vae.artifacts import write_atomic
        def slow(f):
            f.write(b"x" * 1_000_000)
            f.flush()
            print("half", flush=True)
            time.sleep(60)
        write_atomic({str(target)!r}, slow)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], env=subprocess_env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "half"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        process.stdout.close()
    assert target.read_bytes() == b"previous complete content"
    leftovers = [p.name for p in tmp_path.iterdir() if p != target]
    assert len(leftovers) == 1 and leftovers[0].startswith(".figure.png.") and leftovers[0].endswith(".tmp")
    write_bytes(target, b"next")
    assert target.read_bytes() == b"next"


@guarantee("interruption")
def test_ctrl_c_during_training_ends_in_one_line_telling_how_to_resume_with_exit_130(
        tmp_path, monkeypatch, capsys, data_dir):
    """Ctrl-C (KeyboardInterrupt) during training: one line saying how to resume, exit code 130, no traceback."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "train", interrupted)
    code, _, err = run_cli(["train", *TINY, "--epochs", "1", "--data-dir", data_dir, "--out", tmp_path / "o"],
                           capsys)
    assert code == 130
    assert_one_line(err, "interrupted", "--resume")


# ---- non-finite loss --------------------------------------------------------------------------

def _poison(monkeypatch, at_call: int) -> None:
    """Make the training loss NaN from the at_call-th training step of this process on."""
    calls = []

    def poisoned(*args, **kwargs):
        terms = negative_elbo(*args, **kwargs)
        calls.append(1)
        if len(calls) >= at_call:
            return terms._replace(loss=terms.loss * float("nan"))
        return terms

    monkeypatch.setattr("vae.training.negative_elbo", poisoned)


@guarantee("non-finite")
def test_a_non_finite_loss_stops_naming_epoch_and_step_and_keeps_the_last_good_checkpoint(
        run_copy, monkeypatch, capsys, data_dir):
    """A NaN loss in epoch 2, step 3: one line naming both, exit 1, `last.pt` and `best.pt` of epoch 1 kept unchanged."""
    before = snapshot(run_copy)
    _poison(monkeypatch, at_call=3)            # 256 examples / 64 per batch: 4 steps per epoch
    code, _, err = run_cli(["train", *TINY, "--epochs", "3", "--data-dir", data_dir, "--out", run_copy,
                            "--resume"], capsys)
    assert code == 1
    assert_one_line(err, "non-finite loss at epoch 2, step 3", "last.pt", "epoch 1) is kept")
    after = snapshot(run_copy)
    for name in ("last.pt", "best.pt", "metrics.json", "history.csv"):
        assert after[name] == before[name]
    assert load_checkpoint(run_copy / "last.pt")["epoch"] == 1


@guarantee("non-finite")
def test_a_non_finite_loss_in_the_first_epoch_writes_no_checkpoint(tmp_path, monkeypatch, capsys, data_dir):
    """A NaN loss in epoch 1: one line naming epoch and step, exit 1, and no checkpoint that could be mistaken for a good one."""
    _poison(monkeypatch, at_call=2)
    code, _, err = run_cli(["train", *TINY, "--epochs", "2", "--data-dir", data_dir, "--out", tmp_path / "out"],
                           capsys)
    assert code == 1
    assert_one_line(err, "non-finite loss at epoch 1, step 2", "no checkpoint was written")
    assert not list((tmp_path / "out").glob("*.pt"))
    assert not (tmp_path / "out" / "metrics.json").exists()


# ---- atomic files -----------------------------------------------------------------------------

@pytest.mark.parametrize("failure", [ValueError("bad value half-way"), KeyboardInterrupt()],
                         ids=["exception", "keyboard-interrupt"])
@guarantee("atomic")
def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_temporary_file(failure, tmp_path):
    """A writer that fails half-way (an exception, Ctrl-C): the old file is intact, no temporary file, the error propagates."""
    target = tmp_path / "table.csv"
    target.write_text("old,complete\n")

    def half_then_fail(f):
        f.write(b"new,partial\n" * 1000)
        raise failure

    with pytest.raises(type(failure)):
        write_atomic(target, half_then_fail)
    assert target.read_text() == "old,complete\n"
    assert list(tmp_path.iterdir()) == [target]


@guarantee("atomic")
def test_a_write_that_fails_creates_no_file_where_there_was_none(tmp_path):
    """A failed first write leaves no file at all (no empty or partial target)."""
    with pytest.raises(RuntimeError):
        write_atomic(tmp_path / "new.json", lambda f: (f.write(b"{"), (_ for _ in ()).throw(RuntimeError("x"))))
    assert list(tmp_path.iterdir()) == []


@guarantee("atomic")
def test_the_atomic_writer_replaces_the_whole_file_in_place(tmp_path):
    """The writer creates missing folders, replaces the previous content entirely and keeps nothing else around."""
    target = tmp_path / "assets" / "runs" / "history.csv"
    artifacts.write_csv(target, [{"epoch": 1, "loss": 2.5}])
    artifacts.write_csv(target, [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5}])
    assert target.read_text() == "epoch,loss\n1,2.0\n2,1.5\n"
    artifacts.write_json(target.with_name("m.json"), {"x": torch.tensor(1.5), "p": Path("a")})
    assert json.loads(target.with_name("m.json").read_text()) == {"x": 1.5, "p": "a"}
    assert sorted(p.name for p in target.parent.iterdir()) == ["history.csv", "m.json"]


@guarantee("atomic")
def test_a_figure_that_fails_to_render_leaves_the_old_png(tmp_path, monkeypatch):
    """A figure whose rendering fails half-way: the previous PNG is intact, no temporary file, the figure is closed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target = tmp_path / "curve.png"
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    artifacts.save_figure(fig, target)
    old = target.read_bytes()
    assert old.startswith(b"\x89PNG")

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    real_savefig = fig.savefig

    def savefig_then_fail(f, **kwargs):
        real_savefig(f, **kwargs)
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(fig, "savefig", savefig_then_fail)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        artifacts.save_figure(fig, target)
    assert target.read_bytes() == old
    assert list(tmp_path.iterdir()) == [target]
    assert not plt.fignum_exists(fig.number)


# ---- unwritable folders and full disks ----------------------------------------------------------

def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@guarantee("disk")
@pytest.mark.parametrize("where", ["write", "fsync", "rename"])
def test_a_full_disk_gives_a_clear_error_and_keeps_the_old_file(where, tmp_path, monkeypatch):
    """No space left on device while writing, syncing or renaming: a clear error, old file intact, no temporary file."""
    target = tmp_path / "metrics.json"
    target.write_text('{"old": true}\n')
    write = lambda f: f.write(b'{"new": true}\n')
    if where == "write":
        write = lambda f: (f.write(b'{"new"'), _enospc())
    else:
        monkeypatch.setattr(os, {"fsync": "fsync", "rename": "replace"}[where], _enospc)
    with pytest.raises(ArtifactError) as caught:
        write_atomic(target, write)
    monkeypatch.undo()
    message = str(caught.value)
    assert str(target) in message and "No space left on device" in message and "free disk space" in message
    assert target.read_text() == '{"old": true}\n'
    assert list(tmp_path.iterdir()) == [target]


@guarantee("disk")
def test_a_full_disk_during_training_ends_in_one_line_exit_1_without_partial_checkpoints(
        tmp_path, monkeypatch, capsys, data_dir):
    """The disk fills up while a checkpoint is written: one line, exit 1, no partial checkpoint, history whole."""
    def save_half_then_enospc(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04" + b"\0" * 4096)
        _enospc()

    monkeypatch.setattr(torch, "save", save_half_then_enospc)
    out = tmp_path / "out"
    code, _, err = run_cli(["train", *TINY, "--epochs", "2", "--data-dir", data_dir, "--out", out], capsys)
    monkeypatch.undo()
    assert code == 1
    assert_one_line(err, "No space left on device", "free disk space")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "history.csv"]
    assert json.loads((out / "config.json").read_text())["config"]["epochs"] == 2
    assert (out / "history.csv").read_text().count("\n") == 2       # header and epoch 1


@guarantee("disk")
def test_an_output_folder_that_cannot_be_created_gives_a_clear_error(tmp_path, capsys, data_dir):
    """`--out` below a regular file (a folder that cannot be created): one line naming it, exit 1."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ArtifactError, match="choose a writable output folder"):
        write_bytes(blocker / "sub" / "x.bin", b"1")
    code, _, err = run_cli(["train", *TINY, "--epochs", "1", "--data-dir", data_dir, "--out", blocker / "run"],
                           capsys)
    assert code == 1
    assert_one_line(err, str(blocker), "choose a writable output folder")
    assert blocker.read_text() == "not a folder"


@guarantee("disk")
def test_a_data_folder_that_cannot_be_written_gives_a_clear_error(tmp_path, capsys):
    """`python -m vae data --data-dir` below a regular file: one line naming the folder and the fix, exit 1."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, err = run_cli(["data", "--dataset", "mnist", "--no-download", "--data-dir", blocker / "data"], capsys)
    assert code == 1
    assert_one_line(err, str(blocker / "data"), "choose a writable --data-dir")


@guarantee("atomic")
def test_a_report_run_that_fails_half_way_leaves_every_runs_assets_untouched(tmp_path, data_dir, monkeypatch):
    """A report run that fails half-way: the output folder stays exactly as it was, no staging left in it."""
    import dataclasses

    from vae import figures, report

    base = TrainConfig(arch="mlp", hidden=(32,), epochs=1, batch_size=64, train_limit=256, val_split=0.02,
                       device="cpu", data_dir=str(data_dir))
    bad = "fashion-mnist-mlp32-z2"
    specs = [report.RunSpec(bad, dataclasses.replace(base, dataset="fashion-mnist"))]
    profile = report.Profile(name="test", epochs=1, train_limit=256, val_split=0.02, samples=4, device="cpu",
                             classifier_epochs=1, anomaly_images=100)

    out = tmp_path / "assets"
    for name in (bad, "mnist-conv-z2"):        # previous assets of the failing run and of another run
        folder = out / "runs" / name
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(f'{{"previous": "{name}"}}\n')
        (folder / "curves.png").write_bytes(f"previous figure of {name}".encode())
    before = snapshot(out)

    staged_when_failing = []
    real_plot = figures.plot_kl_per_dimension

    def plot_or_fail(*args, **kwargs):
        path = Path(args[2])
        if bad in str(path.parent):
            staged_when_failing.extend(sorted(p.name for p in path.parent.iterdir()))
            raise RuntimeError("figure crashed half-way")
        return real_plot(*args, **kwargs)

    monkeypatch.setattr(figures, "plot_kl_per_dimension", plot_or_fail)
    with pytest.raises(report.ReportError, match=bad) as failure:
        report.build_report(profile, data_dir, out, log=lambda m: None, specs=specs)
    monkeypatch.undo()

    assert "curves.png" in staged_when_failing and "history.csv" in staged_when_failing   # it failed half-way
    assert snapshot(out) == before
    kept = Path(str(failure.value).rsplit("kept in ", 1)[1])                  # beside --out, never inside it
    manifest = json.loads((kept / "manifest.json").read_text())
    assert manifest["runs"] == [] and "figure crashed half-way" in manifest["failed_runs"][bad]


# ---- issue 13: a real full disk ----------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MB filesystem (tmpfs), mounted for the test; skipped where mounting is not allowed."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a 1 MB tmpfs needs root and mount(8); the fake-ENOSPC tests cover the logic")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()})")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(disk: Path, leave_bytes: int) -> None:
    """Fill `disk` with one file until only about `leave_bytes` are free."""
    stats = os.statvfs(disk)
    (disk / "filler").write_bytes(b"\0" * max(stats.f_bavail * stats.f_frsize - leave_bytes, 0))


@guarantee("disk")
def test_a_real_full_disk_under_torch_save_is_a_clear_error_not_a_zip_writer_traceback(small_disk):
    """A real full disk (1 MB tmpfs) under `torch.save`: the one clear error, old checkpoint intact, no temporary file."""
    target = small_disk / "last.pt"
    artifacts.save_checkpoint(target, {"w": torch.zeros(10)})
    old = target.read_bytes()
    with pytest.raises(ArtifactError) as caught:   # torch's zip writer would say "unexpected pos ..."
        artifacts.save_checkpoint(target, {"w": torch.zeros(600_000)})
    assert str(caught.value) == (f"cannot write {target}: No space left on device; "
                                 "free disk space or choose another output folder")
    assert target.read_bytes() == old
    assert sorted(p.name for p in small_disk.iterdir()) == ["last.pt"]


@guarantee("disk")
def test_training_on_a_real_full_disk_ends_in_one_line_and_keeps_the_last_checkpoint(small_disk, capsys, data_dir):
    """`train --resume` on a real full disk: one line, exit 1, the previous `last.pt` intact, no temporary file."""
    args = ["train", "--arch", "mlp", "--hidden", "16", "--batch-size", "64", "--train-limit", "256",
            "--device", "cpu", "--data-dir", data_dir, "--out", small_disk / "run"]
    code, _, err = run_cli([*args, "--epochs", "1"], capsys)
    assert code == 0, err
    before = snapshot(small_disk / "run")
    _fill(small_disk, leave_bytes=160 * 1024)         # room for the small files and best.pt, not last.pt
    code, _, err = run_cli([*args, "--epochs", "2", "--resume"], capsys)
    assert code == 1
    assert_one_line(err, "No space left on device", "free disk space")
    after = snapshot(small_disk / "run")
    assert after["last.pt"] == before["last.pt"]
    assert load_checkpoint(small_disk / "run" / "last.pt")["epoch"] == 1
    load_checkpoint(small_disk / "run" / "best.pt")      # whole: of epoch 1, or of epoch 2 if it fitted
    assert not [name for name in after if name.endswith(".tmp")]


@guarantee("disk")
@pytest.mark.parametrize("where", ["a-file", "read-only-subfolder", "read-only-root"])
def test_a_report_into_an_unwritable_out_is_one_line(where, tmp_path, capsys, data_dir):
    """`report --out` a regular file or on a read-only filesystem: one line naming it, exit 1, before any training."""
    if where == "a-file":
        out = tmp_path / "a-file"
        out.write_text("not a folder")
    else:
        mount_point = tmp_path / "read-only"
        mount_point.mkdir()
        if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs",
                                                str(mount_point)], capture_output=True).returncode != 0:
            pytest.skip("mounting a read-only tmpfs needs root and mount(8)")
        out = mount_point / "assets" if where == "read-only-subfolder" else mount_point
    try:
        code, out_text, err = run_cli(["report", "--profile", "quick", "--data-dir", data_dir, "--out", out], capsys)
    finally:
        if where != "a-file":
            subprocess.run(["umount", "-l", str(tmp_path / "read-only")], check=False)
    assert code == 1
    assert_one_line(err, str(out), "choose a writable output folder")
    assert out_text == ""


# ---- issue 13: owned output folders --------------------------------------------------------------

@pytest.fixture
def lock_holder(subprocess_env):
    """Start a real process that holds the lock of a folder (as a running command does) until killed."""
    started = []

    def hold(folder: Path) -> subprocess.Popen:
        script = ("import sys, time; from pathlib import Path; from vae.outdir import owned\n"
                  "with owned(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(120)\n")
        process = subprocess.Popen([sys.executable, "-c", script, str(folder)], env=subprocess_env,
                                   stdout=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout.readline().strip() == "locked"
        return process

    yield hold
    for process in started:
        process.kill()
        process.wait(timeout=30)


@guarantee("folders")
@pytest.mark.parametrize("command", ["train", "report"])
def test_a_second_command_into_a_busy_out_is_refused_in_one_line(command, lock_holder, run_copy, capsys, data_dir):
    """A `train` or `report` into an `--out` that another running command holds: one line, exit 1, folder untouched."""
    before = snapshot(run_copy)
    lock_holder(run_copy)
    argv = ["train", *TINY, "--epochs", "2", "--resume"] if command == "train" else ["report", "--profile", "quick"]
    code, _, err = run_cli([*argv, "--data-dir", data_dir, "--out", run_copy], capsys)
    assert code == 1
    assert_one_line(err, str(run_copy), "in use by another", "choose another --out")
    assert snapshot(run_copy) == before


@guarantee("folders")
def test_the_lock_of_a_killed_command_is_never_stale(lock_holder, run_copy, capsys, data_dir):
    """A command killed with SIGKILL leaves no stale lock: the next command into its `--out` runs."""
    holder = lock_holder(run_copy)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    code, _, err = run_cli(["train", *TINY, "--epochs", "2", "--resume", "--data-dir", data_dir,
                            "--out", run_copy], capsys)
    assert code == 0, err
    assert load_checkpoint(run_copy / "last.pt")["epoch"] == 2
    assert not [p.name for p in run_copy.iterdir() if p.name.startswith(".")]


@guarantee("folders")
def test_train_into_a_finished_run_needs_resume_or_overwrite(run_copy, capsys, data_dir):
    """`train` into a folder holding a finished run, without `--resume` or `--overwrite`: one line, exit 2, untouched."""
    before = snapshot(run_copy)
    code, out, err = run_cli(["train", *TINY, "--epochs", "1", "--data-dir", data_dir, "--out", run_copy], capsys)
    assert code == 2
    assert_one_line(err, "--out", "finished run", "--resume", "--overwrite")
    assert out == ""
    assert snapshot(run_copy) == before


@guarantee("folders")
def test_overwrite_deletes_the_old_run_first_so_a_failed_new_run_never_mixes_with_it(
        run_copy, monkeypatch, capsys, data_dir):
    """`--overwrite`, then the new run fails: nothing of the old run (checkpoints, metrics) is left beside it."""
    _poison(monkeypatch, at_call=2)
    code, _, err = run_cli(["train", *TINY, "--epochs", "2", "--seed", "7", "--data-dir", data_dir,
                            "--out", run_copy, "--overwrite"], capsys)
    assert code == 1
    assert_one_line(err, "non-finite loss at epoch 1")
    assert sorted(p.name for p in run_copy.iterdir()) == ["config.json"]
    assert json.loads((run_copy / "config.json").read_text())["config"]["seed"] == 7


RESUME_WITHOUT_CHECKPOINT = {
    "finished-run-without-last.pt": (["last.pt"], [], ["--resume", "finished run", "last.pt is missing", "--overwrite"]),
    "started-run-with-other-settings": (["last.pt", "best.pt", "history.csv", "metrics.json"], ["--seed", "1"],
                                        ["--resume", "config.json", "seed=42 (now 1)"]),
}


@guarantee("folders")
@pytest.mark.parametrize("case", list(RESUME_WITHOUT_CHECKPOINT))
def test_resume_without_last_pt_never_trains_from_scratch_over_a_run(case, run_copy, capsys, data_dir):
    """`--resume` where `last.pt` is gone: a finished run or other settings are refused (exit 2), not trained over."""
    deleted, change, fragments = RESUME_WITHOUT_CHECKPOINT[case]
    for name in deleted:
        (run_copy / name).unlink()
    before = snapshot(run_copy)
    code, _, err = run_cli(["train", *TINY, "--epochs", "2", "--data-dir", data_dir, "--out", run_copy,
                            "--resume", *change], capsys)
    assert code == 2
    assert_one_line(err, *fragments)
    assert snapshot(run_copy) == before


# ---- issue 13: signals and a broken stdout ------------------------------------------------------------

SWALLOWED_INTERRUPT = textwrap.dedent("""
    import os, signal, sys
    from vae import cli, training

    real_evaluate, calls = training.evaluate, []

    class Finalizer:                     # like a weakref callback or __del__ of torch or matplotlib
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)   # Python raises KeyboardInterrupt here, then ignores it
            for _ in range(100_000):
                pass

    def evaluate(*args, **kwargs):
        if not calls:
            calls.append(1)
            Finalizer()
        return real_evaluate(*args, **kwargs)

    training.evaluate = evaluate
    sys.exit(cli.main(sys.argv[1:]))
""")


@guarantee("interruption")
def test_a_ctrl_c_that_lands_in_a_finalizer_still_stops_the_command(tmp_path, data_dir, subprocess_env):
    """A real SIGINT that lands in a `__del__` (where Python ignores it): the run still stops, one line, exit 130."""
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-c", SWALLOWED_INTERRUPT, "train", *TINY, "--epochs", "3",
                             "--data-dir", str(data_dir), "--out", str(out)],
                            env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 130, result.stdout + result.stderr
    assert_one_line(result.stderr, "interrupted", "--resume")
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    assert not (out / "metrics.json").exists()


@guarantee("interruption")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_real_signal_during_training_ends_in_one_line(signum, tmp_path, data_dir, subprocess_env):
    """A real SIGINT (Ctrl-C) or SIGTERM during training: one line saying how to resume, exit 128 + signal number."""
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "vae", "train", *TINY, "--epochs", "1000",
                                "--data-dir", str(data_dir), "--out", str(out)], env=subprocess_env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().startswith("epoch   1/1000")
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 128 + signum
    assert_one_line(err, "--resume to continue")
    assert load_checkpoint(out / "last.pt")["epoch"] >= 1


@guarantee("stdout")
def test_a_pipe_closed_after_the_first_line_does_not_stop_training(tmp_path, data_dir, subprocess_env):
    """`train ... | head -1`: the reader closes the pipe, training carries on to its metrics, exit 0, no traceback."""
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "vae", "train", *TINY, "--epochs", "3",
                                "--data-dir", str(data_dir), "--out", str(out)], env=subprocess_env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = process.stdout.readline()
    process.stdout.close()                           # what `head -1` does after its line
    err = process.stderr.read().decode()
    process.wait(timeout=300)
    assert first.startswith(b"epoch   1/3")
    assert process.returncode == 0, err
    assert err == ""
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 3


# ---- issue 13: out of memory and malformed checkpoints ------------------------------------------------

@guarantee("memory")
def test_a_model_too_large_for_memory_is_one_line_saying_what_to_change(tmp_path, capsys, data_dir):
    """`--latent-dim 1000000000` (terabytes of weights): one line naming the options to lower, exit 1, no traceback."""
    code, _, err = run_cli(["train", *TINY, "--latent-dim", "1000000000", "--epochs", "1", "--data-dir", data_dir,
                            "--out", tmp_path / "out"], capsys)
    assert code == 1
    assert_one_line(err, "out of memory", "--latent-dim", "--hidden", "--batch-size")


MALFORMED_FIELDS = {"epoch-as-text": ("epoch", "1"), "rng-empty": ("rng", {}), "history-none": ("history", None)}


@guarantee("checkpoints")
@pytest.mark.parametrize("case", list(MALFORMED_FIELDS))
def test_a_checkpoint_with_a_malformed_field_is_one_line(case, run_copy, capsys, data_dir):
    """A hand-made `last.pt` with a field of the wrong type (epoch as text, empty RNG state, no history): one line, exit 1."""
    key, value = MALFORMED_FIELDS[case]
    state = torch.load(run_copy / "last.pt", weights_only=True)
    state[key] = value
    torch.save(state, run_copy / "last.pt")
    with pytest.raises(TrainingError, match=f"malformed '{key}'"):
        load_checkpoint(run_copy / "last.pt")
    code, _, err = run_cli(["train", *TINY, "--epochs", "2", "--data-dir", data_dir, "--out", run_copy,
                            "--resume"], capsys)
    assert code == 1
    assert_one_line(err, "last.pt", f"malformed '{key}'", "delete it")


# ---- issue 13: the site refuses assets that mix reports -------------------------------------------

def _another_profiles_run(assets: Path) -> None:
    # What an interrupted `report --profile quick` over standard assets left: a quick run beside
    # a standard manifest and standard tables.
    run = assets / "runs" / "mnist-conv-z2"
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["test"]["elbo"] += 96.4
    (run / "metrics.json").write_text(json.dumps(metrics))
    config = json.loads((run / "config.json").read_text())
    config["config"].update(epochs=2, train_limit=1000)
    (run / "config.json").write_text(json.dumps(config))


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


ASSET_MIXES = {
    "run-of-another-profile": (_another_profiles_run, "runs/mnist-conv-z2/metrics.json does not match manifest.json"),
    "temporary-file-left": (lambda a: (a / "runs" / "mnist-conv-z2" / ".metrics.json.k2x9.tmp").write_text("{"),
                            "runs/mnist-conv-z2/.metrics.json.k2x9.tmp is left over"),
    "unlisted-explorer-file": (lambda a: (a / "explorer" / "mnist" / "old.png").write_bytes(b"png"),
                               "explorer/mnist/old.png is not in manifest.json"),
    "unlisted-run-folder": (lambda a: shutil.copytree(a / "runs" / "mnist-mlp400-z8", a / "runs" / "mnist-mlp400-z64"),
                            "runs/mnist-mlp400-z64 is not in manifest.json"),
    "listed-file-missing": (lambda a: (a / "runs" / "mnist-mlp400-z8" / "curves.png").unlink(),
                            "runs/mnist-mlp400-z8/curves.png is listed in manifest.json but missing"),
    "table-out-of-date": (lambda a: _edit_json(a / "tables" / "runs.json",
                                               lambda t: t["rows"][0].update(test_elbo=1.0)),
                          "tables/runs.json does not match"),
    "unlisted-table": (lambda a: (a / "tables" / "old.md").write_text("| a |\n"), "tables/old.md is not in manifest"),
    "failed-runs": (lambda a: _edit_json(a / "manifest.json", lambda m: m["failed_runs"].update(x="crashed")),
                    "manifest.json records failed runs"),
}


@pytest.fixture(scope="module")
def committed_assets(repo_root, tmp_path_factory) -> Path:
    """A copy of the committed docs/assets (one real report), which the tests may damage copies of."""
    source = repo_root / "docs" / "assets"
    if not (source / "manifest.json").is_file():
        pytest.skip("docs/assets has no generated report; run `python -m vae report` first")
    return Path(shutil.copytree(source, tmp_path_factory.mktemp("assets") / "assets"))


@guarantee("assets")
def test_the_committed_assets_are_one_consistent_report(committed_assets):
    """The committed `docs/assets`: manifest, runs and tables agree (the check the site build runs passes)."""
    from vae.consistency import problems

    assert problems(committed_assets) == []


@guarantee("assets")
@pytest.mark.parametrize("case", list(ASSET_MIXES))
def test_the_site_build_refuses_assets_that_mix_reports_and_names_the_file(case, committed_assets, tmp_path, repo_root):
    """Runs, tables and manifest that disagree (another profile, staging left, unlisted or missing files): the build hook stops, naming the file."""
    import importlib.util

    from mkdocs.exceptions import PluginError

    spec = importlib.util.spec_from_file_location("site_hooks_under_test", repo_root / "code" / "site_hooks.py")
    site_hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(site_hooks)

    docs = tmp_path / "docs"
    shutil.copytree(committed_assets, docs / "assets")
    damage_, fragment = ASSET_MIXES[case]
    damage_(docs / "assets")
    with pytest.raises(PluginError) as caught:
        site_hooks.on_pre_build({"docs_dir": str(docs)})
    assert fragment in str(caught.value)
    assert "python -m vae report" in str(caught.value)


@guarantee("assets")
def test_mkdocs_build_strict_stops_on_a_half_replaced_report(committed_assets, tmp_path, repo_root):
    """`mkdocs build --strict` on the real configuration stops before any page when a run of another profile is in place."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for child in (repo_root / "docs").iterdir():
        if child.name != "assets":
            (docs / child.name).symlink_to(child)
    shutil.copytree(committed_assets, docs / "assets")
    _another_profiles_run(docs / "assets")
    config = tmp_path / "mkdocs.yml"
    config.write_text(f"INHERIT: {repo_root / 'mkdocs.yml'}\ndocs_dir: {docs}\n"
                      f"hooks:\n  - {repo_root / 'code' / 'site_hooks.py'}\n"
                      f"theme:\n  name: material\n  custom_dir: {repo_root / 'docs' / 'overrides'}\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config),
                             "-d", str(tmp_path / "site")], cwd=repo_root, capture_output=True, text=True,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=300)
    assert result.returncode != 0
    assert "runs/mnist-conv-z2/metrics.json does not match manifest.json" in result.stderr
    assert not (tmp_path / "site" / "index.html").exists()


@guarantee("stdout")
def test_a_non_ascii_out_on_an_ascii_terminal_is_logged_escaped(tmp_path, data_dir, run_vae, subprocess_env):
    """A non-ASCII `--out` with an ASCII stdout: the path is printed escaped and the run resumes normally, exit 0."""
    args = ["train", *TINY, "--data-dir", data_dir, "--out", tmp_path / "résumé"]
    assert run_vae(*args, "--epochs", "1").returncode == 0
    result = subprocess.run([sys.executable, "-m", "vae", *map(str, args), "--epochs", "2", "--resume"],
                            env={**subprocess_env, "PYTHONIOENCODING": "ascii"}, capture_output=True, text=True,
                            encoding="ascii", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "r\\xe9sum\\xe9 after epoch 1" in result.stdout
    assert result.stderr == ""


@guarantee("atomic")
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600)], ids=["umask-022", "umask-077"])
def test_written_files_follow_the_umask(umask, mode, tmp_path, subprocess_env):
    """Files get the mode the umask gives (0644 under 022), not always 0600, so a copied site is readable."""
    target = tmp_path / "table.md"
    script = (f"import os; os.umask({umask}); from vae.artifacts import write_text; "
              f"write_text({str(target)!r}, 'x')")
    subprocess.run([sys.executable, "-c", script], env=subprocess_env, check=True, timeout=120)
    assert target.stat().st_mode & 0o777 == mode


@guarantee("checkpoints")
@pytest.mark.parametrize("best_is_last", [True, False], ids=["best-epoch-is-the-last", "best-epoch-is-earlier"])
def test_resume_after_best_pt_was_deleted_rebuilds_it_or_says_what_to_do(best_is_last, run_copy, capsys, data_dir):
    """`best.pt` deleted, `last.pt` whole: `--resume` rebuilds it from `last.pt` if that epoch was the best, else one line."""
    (run_copy / "best.pt").unlink()
    if not best_is_last:
        state = load_checkpoint(run_copy / "last.pt")
        state["best_epoch"] = 0
        torch.save(state, run_copy / "last.pt")
    # --epochs 1: nothing left to train, so only a rebuilt best.pt can give the metrics.
    code, _, err = run_cli(["train", *TINY, "--epochs", "1", "--data-dir", data_dir, "--out", run_copy,
                            "--resume"], capsys)
    if best_is_last:
        assert code == 0, err
        best, last = load_checkpoint(run_copy / "best.pt"), load_checkpoint(run_copy / "last.pt")
        assert best["epoch"] == 1 and all(torch.equal(best["model"][k], last["model"][k]) for k in last["model"])
        assert json.loads((run_copy / "metrics.json").read_text())["best_epoch"] == 1
    else:
        assert code == 1
        assert_one_line(err, "best.pt is missing", "cannot be rebuilt", "--overwrite")
        assert not (run_copy / "best.pt").exists()


class _FinalizerThatGetsCtrlC:
    """Like a weakref callback or `__del__` of torch or matplotlib that a Ctrl-C happens to land in."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)       # Python raises KeyboardInterrupt here, then ignores it
        for _ in range(100_000):
            pass


@guarantee("interruption")
def test_a_ctrl_c_swallowed_during_a_report_stops_it_after_the_run_in_progress(
        tmp_path, data_dir, monkeypatch, capsys):
    """A real SIGINT swallowed in a finalizer during a report: no further run starts, one line, exit 130."""
    import dataclasses

    from vae.report import RunSpec, build, runner

    base = TrainConfig(arch="mlp", hidden=(32,), epochs=1, batch_size=64, train_limit=256, val_split=0.02,
                       device="cpu", data_dir=str(data_dir))
    specs = [RunSpec(f"mnist-mlp32-z2-s{seed}", dataclasses.replace(base, seed=seed)) for seed in (1, 2)]
    # The CLI builds the quick profile's plan; these two tiny runs stand in for it, with no classifier
    # or comparisons, so that the test is about the interruption alone.
    monkeypatch.setattr(build, "run_specs", lambda profile, data_dir="data": specs)
    monkeypatch.setattr(build, "_data_assets", lambda *args, **kwargs: ({}, []))
    monkeypatch.setattr(build, "write_comparisons", lambda *args, **kwargs: [])
    started, real_produce_run = [], runner.produce_run

    def produce_run(spec, *args, **kwargs):
        started.append(spec.name)
        if len(started) == 1:
            _FinalizerThatGetsCtrlC()
        return real_produce_run(spec, *args, **kwargs)

    monkeypatch.setattr(runner, "produce_run", produce_run)
    out = tmp_path / "assets"
    code, _, err = run_cli(["report", "--profile", "quick", "--data-dir", data_dir, "--out", out], capsys)
    assert code == 130
    assert_one_line(err, "interrupted")
    assert started == [specs[0].name]
    assert not (out / "runs" / specs[1].name).exists()
