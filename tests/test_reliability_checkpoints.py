"""Checkpoints: written atomically, loaded without unpickling, refused in one line when damaged, foreign or malformed.

Each test is tagged with the guarantee it checks (tests/support/reliability.py); `tests/robustness_cases.py`
turns the tags and the first line of each docstring into the table of docs/includes/robustness.md.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from support.reliability import assert_one_line, guarantee, poison, run_cli, snapshot, TINY
from support.reliability import run_copy, tiny_run  # noqa: F401 (fixtures)
from vae.plumbing import artifacts
from vae.checkpoints import load_model
from vae.models import build_model
from vae.training import TrainConfig, TrainingError, load_checkpoint, train


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


# ---- non-finite loss --------------------------------------------------------------------------

@guarantee("non-finite")
def test_a_non_finite_loss_stops_naming_epoch_and_step_and_keeps_the_last_good_checkpoint(
        run_copy, monkeypatch, capsys, data_dir):
    """A NaN loss in epoch 2, step 3: one line naming both, exit 1, `last.pt` and `best.pt` of epoch 1 kept unchanged."""
    before = snapshot(run_copy)
    poison(monkeypatch, at_call=3)            # 256 examples / 64 per batch: 4 steps per epoch
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
    poison(monkeypatch, at_call=2)
    code, _, err = run_cli(["train", *TINY, "--epochs", "2", "--data-dir", data_dir, "--out", tmp_path / "out"],
                           capsys)
    assert code == 1
    assert_one_line(err, "non-finite loss at epoch 1, step 2", "no checkpoint was written")
    assert not list((tmp_path / "out").glob("*.pt"))
    assert not (tmp_path / "out" / "metrics.json").exists()


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


# ---- issue 20: saved configurations and the checkpoint format --------------------------------------

MALFORMED_SETTINGS = {"hidden-not-a-list": ("hidden", 32, "--hidden"),
                      "unknown-dataset": ("dataset", "cifar", "--dataset"),
                      "latent-dim-as-text": ("latent_dim", "two", "--latent-dim")}


def _edit_config(path: Path, key: str, value) -> None:
    if path.suffix == ".json":
        saved = json.loads(path.read_text())
        saved["config"][key] = value
        path.write_text(json.dumps(saved))
    else:
        state = torch.load(path, weights_only=True)
        state["config"][key] = value
        torch.save(state, path)


@guarantee("checkpoints")
@pytest.mark.parametrize("where", ["model.pt", "last.pt", "config.json"])
@pytest.mark.parametrize("case", list(MALFORMED_SETTINGS))
def test_a_saved_config_is_checked_with_the_command_lines_rules_naming_the_file(
        case, where, run_copy, tmp_path, capsys, data_dir):
    """A `model.pt`, `last.pt` or `config.json` whose config holds `hidden: 32`, `dataset: "cifar"` or
    `latent_dim: "two"`: one line naming the file and the option (`load_model`; exit 1 on `train --resume`)."""
    key, value, option = MALFORMED_SETTINGS[case]
    if where == "model.pt":
        shutil.copyfile(run_copy / "best.pt", run_copy / "model.pt")
    if where == "config.json":                       # a run stopped before its first checkpoint
        for name in ("last.pt", "best.pt", "history.csv", "metrics.json"):
            (run_copy / name).unlink()
    _edit_config(run_copy / where, key, value)
    if where == "model.pt":
        with pytest.raises(TrainingError) as refused:
            load_model(run_copy / where)
        code, err = 1, f"{refused.value}\n"
    else:
        code, _, err = run_cli(["train", *TINY, "--epochs", "2", "--data-dir", data_dir, "--out", run_copy,
                                "--resume"], capsys)
    assert code == 1
    assert_one_line(err, str(run_copy / where), option, "invalid setting")


FORMAT_CASES = {"newer-format": (lambda s: s.update(format_version=99), "checkpoint format 99"),
                "unknown-settings": (lambda s: s["config"].update(dropout=0.1, posterior="flow"),
                                     "settings this code does not know (dropout, posterior)"),
                "unknown-field": (lambda s: s.update(ema={}), "fields this code does not know (ema)")}


@guarantee("checkpoints")
@pytest.mark.parametrize("case", list(FORMAT_CASES))
def test_a_checkpoint_of_a_newer_format_or_with_unknown_settings_is_refused(case, run_copy, capsys, data_dir):
    """A checkpoint with `format_version: 99`, unknown settings (`dropout`, `posterior`) or fields: refused in one
    line naming the file, exit 1; never loaded with the unknown settings dropped."""
    assert torch.load(run_copy / "last.pt", weights_only=True)["format_version"] == 1   # written by train
    change, fragment = FORMAT_CASES[case]
    state = torch.load(run_copy / "last.pt", weights_only=True)
    change(state)
    torch.save(state, run_copy / "last.pt")
    with pytest.raises(TrainingError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        load_checkpoint(run_copy / "last.pt")
    code, _, err = run_cli(["train", *TINY, "--epochs", "2", "--data-dir", data_dir, "--out", run_copy,
                            "--resume"], capsys)
    assert code == 1
    assert_one_line(err, str(run_copy / "last.pt"), fragment)


def _weights_of_latent_2_config_of_3(run: Path) -> None:
    state = torch.load(run / "model.pt", weights_only=True)
    state["config"]["latent_dim"] = 3
    torch.save(state, run / "model.pt")


def _nan_weights(run: Path) -> None:
    state = torch.load(run / "model.pt", weights_only=True)
    first = next(iter(state["model"]))
    state["model"][first] = torch.full_like(state["model"][first], float("nan"))
    torch.save(state, run / "model.pt")


SAVED_MODEL_MISTAKES = {
    "weights-disagree-with-their-config": (_weights_of_latent_2_config_of_3, ["do not fit its own config",
                                                                              "latent dimension 3"]),
    "nan-weights": (_nan_weights, ["model.pt", "non-finite weights"]),
}


@guarantee("checkpoints")
@pytest.mark.parametrize("case", list(SAVED_MODEL_MISTAKES))
def test_a_saved_model_is_refused_naming_what_is_wrong(case, run_copy):
    """A `model.pt` whose weights disagree with its config, or hold NaN: `load_model` (the notebook's loader)
    refuses it in one line saying which and naming the file."""
    shutil.copyfile(run_copy / "best.pt", run_copy / "model.pt")
    damage_, fragments = SAVED_MODEL_MISTAKES[case]
    damage_(run_copy)
    with pytest.raises(TrainingError) as refused:
        load_model(run_copy / "model.pt")
    assert_one_line(f"{refused.value}\n", *fragments)
