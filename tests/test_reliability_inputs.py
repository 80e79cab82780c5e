"""Invalid settings, damaged dataset files and too little memory: one line, the right exit code, nothing written.

Each test is tagged with the guarantee it checks (tests/support/reliability.py); `tests/robustness_cases.py`
turns the tags and the first line of each docstring into the table of docs/includes/robustness.md.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from support.reliability import assert_one_line, guarantee, run_cli, snapshot, TINY, scratch_locked
from support.reliability import run_copy, tiny_run  # noqa: F401 (fixtures)
from vae import cli
from vae.data import MNIST, DataError, load_splits, prepare, verify
from vae.training import TrainConfig, load_checkpoint, train


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


@guarantee("data")
def test_a_download_folder_still_in_use_is_kept_and_the_download_stays_in_its_locked_scratch(
        tmp_path, tiny_dataset, subprocess_env, monkeypatch):
    """Provisioning removes a `.download-*` folder that a killed run left, never one a running `make data` holds."""
    from vae import data

    dead, running = tmp_path / ".download-dead", tmp_path / ".download-running"
    for folder in (dead, running):
        (folder / "MNIST" / "raw").mkdir(parents=True)
    roots = []

    class FakeTorchvisionMNIST:        # torchvision's download, offline: it writes the .gz files into root
        def __init__(self, root: str, train: bool, download: bool):
            roots.append(Path(root))
            source = tiny_dataset.good_source(gz=True)(Path(root))
            raw = Path(root) / "MNIST" / "raw"
            raw.mkdir(parents=True, exist_ok=True)
            for name, path in source.items():
                shutil.copy(path, raw / path.name)

    monkeypatch.setattr(data, "_torchvision_class", lambda spec: FakeTorchvisionMNIST)
    with scratch_locked(running, subprocess_env):
        prepare(tiny_dataset.spec, tmp_path, download=True, sources=[], log=lambda m: None)
    verify(tiny_dataset.spec, tmp_path)
    assert not dead.exists()
    assert running.exists()
    assert roots and all(root.parent == tmp_path and root.name.startswith(".provision-") for root in roots)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".download-running", "MNIST"]


# ---- issue 13: out of memory and malformed checkpoints ------------------------------------------------

@guarantee("memory")
def test_a_model_too_large_for_memory_is_one_line_saying_what_to_change(tmp_path, capsys, data_dir):
    """`--latent-dim 1000000000` (terabytes of weights): one line naming the options to lower, exit 1, no traceback."""
    code, _, err = run_cli(["train", *TINY, "--latent-dim", "1000000000", "--epochs", "1", "--data-dir", data_dir,
                            "--out", tmp_path / "out"], capsys)
    assert code == 1
    assert_one_line(err, "out of memory", "--latent-dim", "--hidden", "--batch-size")


@guarantee("data")
def test_a_folder_where_an_idx_file_belongs_is_named_as_a_folder(tmp_path, tiny_dataset):
    """A raw IDX file replaced by a directory: verifying and provisioning both say that the path is a directory."""
    raw = tiny_dataset.install(tmp_path)
    (raw / "train-labels-idx1-ubyte").unlink()
    (raw / "train-labels-idx1-ubyte").mkdir()
    for check in (lambda: verify(tiny_dataset.spec, tmp_path),
                  lambda: prepare(tiny_dataset.spec, tmp_path, download=False, sources=[tiny_dataset.good_source()],
                                  log=lambda m: None)):
        with pytest.raises(DataError) as caught:
            check()
        assert f"{raw / 'train-labels-idx1-ubyte'} is a directory" in str(caught.value)
    assert (raw / "train-labels-idx1-ubyte").is_dir()


@guarantee("data")
def test_provisioning_removes_the_scratch_of_a_killed_run_and_keeps_a_running_ones(tmp_path, tiny_dataset,
                                                                                    subprocess_env):
    """`.provision-*` folders left by a killed `data` command are removed by the next one, even when nothing needs
    fetching; one whose process still runs (its lock held) is kept."""
    tiny_dataset.install(tmp_path)
    dead, running = tmp_path / ".provision-dead", tmp_path / ".provision-running"
    (dead / "MNIST").mkdir(parents=True)
    running.mkdir()
    with scratch_locked(running, subprocess_env):
        prepare(tiny_dataset.spec, tmp_path, download=False, sources=[], log=lambda m: None)
    assert not dead.exists() and running.exists()


@guarantee("errors")
def test_an_unexpected_error_has_its_own_exit_code_one_line_and_the_traceback_in_a_log(
        tmp_path, monkeypatch, capsys, data_dir):
    """An error the code does not expect (a bug): one line asking for a bug report and naming the log file that holds
    the traceback, exit 70 (not the 1 of a handled failure)."""
    import tempfile

    def buggy(*args, **kwargs):
        return {}["no such key"]

    monkeypatch.setattr(cli, "train", buggy)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code, _, err = run_cli(["train", *TINY, "--epochs", "1", "--data-dir", data_dir, "--out", tmp_path / "o"], capsys)
    assert code == 70
    assert_one_line(err, "unexpected error (KeyError", "this is a bug, please report it", str(tmp_path / "vae-error-"))
    log = Path(err.split("the traceback is in ")[1].strip())
    assert "Traceback" in log.read_text() and "buggy" in log.read_text()


# ---- issue 30: folders, counts and streams a careless user gives ------------------------------------------

@guarantee("options")
@pytest.mark.parametrize("where", ["/", ".", "code", "docs"], ids=["root", "repository", "code", "docs"])
def test_an_out_folder_holding_the_projects_sources_or_pages_is_refused_before_training(where, repo_root, capsys,
                                                                                         monkeypatch, data_dir):
    """`report --out` `/`, the repository, `code` or `docs`: one line, exit 2, before anything is trained or written."""
    from vae import report

    monkeypatch.setattr(report, "build_report", lambda *args, **kwargs: pytest.fail("the report started"))
    out = Path(where) if where == "/" else repo_root / where
    before = sorted(p.name for p in out.iterdir())
    code, _, err = run_cli(["report", "--profile", "quick", "--data-dir", data_dir, "--out", out], capsys)
    assert code == 2
    assert_one_line(err, "--out", "holds the project's", "choose a folder of its own")
    assert sorted(p.name for p in out.iterdir()) == before


@guarantee("options")
def test_more_workers_than_cores_is_refused_in_one_line(tmp_path, capsys, data_dir):
    """`report --workers 99999999999999` (more than the machine's cores): one line naming the most it accepts, exit 2."""
    code, _, err = run_cli(["report", "--workers", "99999999999999", "--data-dir", data_dir, "--out", tmp_path / "a"],
                           capsys)
    assert code == 2
    assert_one_line(err, "--workers", f"at most {os.cpu_count()}")
    assert not (tmp_path / "a").exists()


@guarantee("options")
def test_a_usage_error_is_exit_2_even_when_stderr_fails(tmp_path, data_dir, subprocess_env):
    """`train --epochs -1 2>/dev/full`: exit 2 (a usage error), no bug log, however stderr fails."""
    logs = tmp_path / "tmp"
    logs.mkdir()
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "vae", "train", "--epochs", "-1", "--data-dir", str(data_dir),
                                 "--out", str(tmp_path / "out")], env={**subprocess_env, "TMPDIR": str(logs)},
                                stdout=subprocess.PIPE, stderr=full, timeout=120)
    assert result.returncode == 2
    assert list(logs.iterdir()) == []            # no "bug" log written


@guarantee("memory")
@pytest.mark.parametrize("command", ["report", "bench"])
def test_out_of_memory_advice_names_the_options_of_the_command_that_ran(command, tmp_path, capsys, monkeypatch, data_dir):
    """Out of memory in `report` or `bench`: one line whose advice names that command's options, never `train`'s."""
    from vae import cli

    def out_of_memory(args):
        raise MemoryError("Cannot allocate memory")

    monkeypatch.setitem(cli.COMMANDS, command, out_of_memory)
    code, _, err = run_cli([command, "--data-dir", data_dir, "--out", tmp_path / "out"], capsys)
    assert code == 1
    assert_one_line(err, "out of memory")
    assert "--latent-dim" not in err and "--batch-size" not in err
    assert ("--workers" if command == "report" else "--no-report") in err


@guarantee("memory")
def test_torch_that_cannot_load_under_a_memory_limit_is_one_line(tmp_path, subprocess_env):
    """`ulimit -v` too small for torch's libraries: one line saying so, exit 1, no import traceback."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (1536 * 2**20, 1536 * 2**20))

    result = subprocess.run([sys.executable, "-m", "vae", "train", "--help"], env=subprocess_env, capture_output=True,
                            text=True, timeout=120, preexec_fn=limit)
    if result.returncode == 0:
        pytest.skip("torch loads within 1.5 GB of address space on this machine")
    assert result.returncode == 1
    assert_one_line(result.stderr, "cannot load the project's libraries", "ulimit -v")


@guarantee("assets")
def test_the_consistency_check_of_a_folder_that_does_not_exist_fails_in_one_line(tmp_path, subprocess_env):
    """`python -m vae.plumbing.consistency` on a folder that does not exist: one line, exit 2, never a silent 0."""
    result = subprocess.run([sys.executable, "-m", "vae.plumbing.consistency", str(tmp_path / "nowhere")],
                            env=subprocess_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert_one_line(result.stderr, "no such folder")
