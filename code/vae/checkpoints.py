"""Checkpoints and resuming: reading checkpoints back (weights-only loading with the records' CRC
checked, one-line errors for a truncated, corrupted, hand-edited or mismatched file), the check
that a run may be resumed with the settings asked for, the RNG and optimizer state a resumed run
continues from, and what `train` may replace in its output folder. Writing a checkpoint is
`plumbing.artifacts.save_checkpoint`.

`train` refuses to write over a run that is already in its folder unless asked: `--resume`
continues it (after checking its settings), `--overwrite` deletes its files first, so a new
run that fails can never leave the old run's checkpoints beside the new run's config.json.
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path
from typing import Any

import torch

from .config import TrainConfig
from .models import VAE, build_model
from .plumbing.artifacts import CHECKPOINT_FORMAT_VERSION, read_json, save_checkpoint
from .plumbing.device import SpeedPolicy
from .plumbing.errors import ConfigError, TrainingError

# Every file `training.train` writes into its folder; --overwrite deletes exactly these.
RUN_FILES = ("config.json", "history.csv", "best.pt", "last.pt", "metrics.json")


# What each field of a checkpoint must be, so a hand-edited file is refused in one line.
CHECKPOINT_FIELD_TYPES = {"format_version": "int", "model": "dict", "optimizer": "dict", "config": "dict", "epoch": "int",
                          "best_epoch": "int", "best_val": "number", "elapsed_s": "number",
                          "val_elbo": "number", "history": "list of dicts", "rng": "dict of RNG states"}


def _has_type(value: Any, expected: str) -> bool:
    if expected == "int":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected == "list of dicts":
        return isinstance(value, list) and all(isinstance(row, dict) for row in value)
    if expected == "dict of RNG states":
        return isinstance(value, dict) and all(isinstance(value.get(k), torch.Tensor) for k in ("torch", "shuffle"))
    return isinstance(value, dict)


def load_checkpoint(path: Path, model: VAE | None = None) -> dict[str, Any]:
    """torch.load with weights_only=True; a clear error for a truncated, corrupted or mismatched file."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        with zipfile.ZipFile(path) as archive:  # torch.load does not check the records' CRC-32
            damaged = archive.testzip()
    except FileNotFoundError:
        raise TrainingError(f"{path} does not exist; train a model first (python -m vae train)") from None
    except Exception as err:
        raise TrainingError(f"{path} is truncated or corrupted ({type(err).__name__}); "
                            "delete it and train again") from None
    if damaged is not None:
        raise TrainingError(f"{path} is corrupted (checksum mismatch in {damaged}); delete it and train again")
    if not isinstance(state, dict) or "model" not in state:
        raise TrainingError(f"{path} is not a checkpoint written by this project; delete it and train again")
    for key, expected in CHECKPOINT_FIELD_TYPES.items():
        if key in state and not _has_type(state[key], expected):
            raise TrainingError(f"{path} has a malformed '{key}' ({type(state[key]).__name__}, expected "
                                f"{expected}); delete it and train again")
    version = state.get("format_version", 0)     # files written before the version was recorded: 0
    if version > CHECKPOINT_FORMAT_VERSION:
        raise TrainingError(f"{path} has checkpoint format {version}, newer than this code reads (up to "
                            f"{CHECKPOINT_FORMAT_VERSION}); update the code or train again")
    unknown = sorted(set(state) - set(CHECKPOINT_FIELD_TYPES))
    if unknown:
        raise TrainingError(f"{path} holds fields this code does not know ({', '.join(map(str, unknown))}); "
                            "it was written by another version or edited; update the code or train again")
    if "config" in state:
        saved_config(state["config"], path)
    if model is not None:
        try:
            model.load_state_dict(state["model"])
        except RuntimeError:
            saved = state.get("config", {})
            widths = lambda arch, hidden: f" and hidden sizes {','.join(map(str, hidden))}" if arch == "mlp" else ""
            wanted = "mlp" if hasattr(model, "hidden") else "conv"
            raise TrainingError(
                f"{path} holds a {saved.get('arch', '?')} model with latent dimension "
                f"{saved.get('latent_dim', '?')}{widths(saved.get('arch'), saved.get('hidden', ()))}, not a "
                f"{wanted} model with latent dimension {model.latent_dim}"
                f"{widths(wanted, getattr(model, 'hidden', ()))}; "
                "use the matching --arch/--latent-dim/--hidden or another folder") from None
    return state


def saved_config(values: Any, path: Path) -> TrainConfig:
    """The TrainConfig a file records, checked with the command line's rules (`TrainConfig.validate`);
    every error names the file. Settings it does not know are refused, never dropped."""
    path = Path(path)
    if not isinstance(values, dict):
        raise TrainingError(f"{path} has a malformed config ({type(values).__name__}, expected a dict); "
                            "delete it and train again")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(str(k) for k in set(values) - known)
    if unknown:
        raise TrainingError(f"{path} records settings this code does not know ({', '.join(unknown)}); it was "
                            "written by another version or edited; update the code or train again")
    hidden = values.get("hidden", TrainConfig.hidden)
    if not isinstance(hidden, (list, tuple)):
        raise TrainingError(f"{path} records an invalid setting: --hidden: must be a list of layer sizes "
                            f"(got {hidden!r}); delete it and train again")
    try:
        config = TrainConfig.from_dict(values)
        # The device it was trained on need not exist here: every other setting must be valid.
        dataclasses.replace(config, device="cpu").validate()
    except (ConfigError, TypeError) as err:
        raise TrainingError(f"{path} records an invalid setting: {err}; delete it and train again") from None
    return config


def load_model(checkpoint: str | Path, device: str | torch.device = "cpu") -> tuple[VAE, TrainConfig]:
    """Rebuild a trained model from best.pt, last.pt or model.pt: its config checked, its weights finite."""
    path = Path(checkpoint)
    state = load_checkpoint(path)
    config = saved_config(state.get("config", {}), path)
    model = build_model(config.arch, config.latent_dim, config.hidden, config.activation)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError:
        raise TrainingError(f"{path}: its weights do not fit its own config ({config.arch} model, latent dimension "
                            f"{config.latent_dim}); the file is damaged or was edited; train again") from None
    bad = [name for name, tensor in state["model"].items()
           if torch.is_tensor(tensor) and tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if bad:
        raise TrainingError(f"{path} holds non-finite weights (NaN or infinity in {bad[0]}); train again")
    return model.to(device).eval(), config


def check_resumable(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    """Refuse (ConfigError) a resume whose settings differ from the saved ones, beyond RESUMABLE_CHANGES."""
    current = config.to_dict()
    saved = saved_config(saved, path).to_dict()
    differences = [f"{k}={saved.get(k)!r} (now {current[k]!r})" for k in current
                   if k not in TrainConfig.RESUMABLE_CHANGES and saved.get(k) != current[k]]
    if differences:
        raise ConfigError("resume", f"{path} was trained with {', '.join(differences)}; "
                                    "use the same settings or another --out folder")


def resume_checkpoint(config: TrainConfig, last_path: Path) -> dict[str, Any]:
    """last.pt, checked: complete, trained with the same settings, and not past --epochs."""
    saved = load_checkpoint(last_path)
    missing = [k for k in ("optimizer", "epoch", "history", "best_epoch", "best_val", "elapsed_s", "rng")
               if k not in saved]
    if missing:
        raise TrainingError(f"{last_path} cannot be resumed from (it lacks {', '.join(missing)}); "
                            "delete it or train into another --out folder")
    check_resumable(saved.get("config", {}), config, last_path)
    if saved["epoch"] > config.epochs:
        raise ConfigError("epochs", f"{last_path} has already trained {saved['epoch']} epochs; "
                                    f"use --epochs {saved['epoch']} or more to resume it")
    return saved


def rng_state(shuffle: torch.Generator, device: torch.device) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "shuffle": shuffle.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: dict[str, Any], shuffle: torch.Generator, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    shuffle.set_state(state["shuffle"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def load_optimizer_state(optimizer: torch.optim.Adam, state: dict[str, Any], policy: SpeedPolicy,
                         device: torch.device) -> None:
    """load_state_dict, then the policy's lr form and capturable flag again (last.pt may come from
    another device, and load_state_dict takes those two from the file)."""
    optimizer.load_state_dict(state)
    for group in optimizer.param_groups:
        lr = float(group["lr"])
        group["lr"] = torch.tensor(lr, device=device) if policy.cuda_graph else lr
        group["capturable"] = policy.cuda_graph


def optimizer_state(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """optimizer.state_dict() with plain-float learning rates, readable on any device."""
    state = optimizer.state_dict()
    state["param_groups"] = [{**g, "lr": float(g["lr"])} for g in state["param_groups"]]
    return state


def prepare_train_folder(folder: Path, config: TrainConfig, resume: bool, overwrite: bool) -> None:
    """Refuse to mix two runs in `folder`; with `overwrite`, delete the previous run's files.

    Call while holding the lock (`owned`), before training writes anything.
    """
    folder = Path(folder)
    present = [name for name in RUN_FILES if (folder / name).exists()]
    if resume and overwrite:
        raise ConfigError("overwrite", "cannot be combined with --resume; choose one")
    if overwrite:
        for name in present:
            (folder / name).unlink()
        return
    if not present:
        return
    if not resume:
        what = "a finished run (metrics.json)" if "metrics.json" in present else f"a run ({', '.join(present)})"
        raise ConfigError("out", f"{folder} already holds {what}; add --resume to continue it, "
                                 "--overwrite to replace it, or choose another --out")
    if (folder / "last.pt").exists():
        if not (folder / "best.pt").exists():
            _rebuild_best(folder)
        return   # train() checks the checkpoint's settings and state
    if "metrics.json" in present:
        raise ConfigError("resume", f"{folder} holds a finished run whose last.pt is missing, so it cannot be "
                                    "resumed; use --overwrite to train it again from scratch or another --out")
    _check_saved_config(folder / "config.json", config)


def _check_saved_config(path: Path, config: TrainConfig) -> None:
    # A run stopped before its first epoch: resuming starts from scratch, but only with its settings.
    if not path.exists():
        return
    try:
        saved = read_json(path)["config"]
        if not isinstance(saved, dict):
            raise TypeError("config is not an object")
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError("resume", f"{path} is unreadable or not written by this project; "
                                    "use --overwrite or another --out") from None
    check_resumable(saved, config, path)


def _rebuild_best(folder: Path) -> None:
    # best.pt was deleted (say, after it was found truncated) but last.pt is whole: if the last
    # epoch was also the best, its weights are the best weights; otherwise they are gone.
    state = load_checkpoint(folder / "last.pt")
    best_epoch, epoch = state.get("best_epoch"), state.get("epoch")
    if best_epoch != epoch:
        raise TrainingError(f"{folder / 'best.pt'} is missing and the best epoch ({best_epoch}) is not the last one "
                            f"in last.pt ({epoch}), so it cannot be rebuilt; train again with --overwrite")
    save_checkpoint(folder / "best.pt", {"model": state["model"], "config": state.get("config", {}),
                                         "epoch": epoch, "val_elbo": state.get("best_val")})
