"""Chapter 3, training: one configuration dataclass and a plain loop you can read top to bottom.

Each split is one tensor resident on the training device and batches are taken by index, so
no per-item transform runs inside the loop. After every epoch the loop validates, appends a
row to history.csv, keeps best.pt (best validation ELBO) and writes last.pt, which holds
everything needed to resume: weights, optimizer, RNG states and history.
"""

from __future__ import annotations

import dataclasses
import math
import platform
import random
import subprocess
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from . import artifacts
from .data import DATASETS, Splits, load_splits
from .evaluation import evaluate
from .losses import RECON_LOSSES, negative_elbo
from .models import ARCHITECTURES, VAE, build_model, count_parameters, preferred_memory_format

FUSED_ADAM_DEVICES = ("cpu", "cuda")

HISTORY_FIELDS = ["epoch", "train_loss", "train_elbo", "train_recon", "train_kl",
                  "val_loss", "val_elbo", "val_recon", "val_kl", "val_elbo_per_pixel", "epoch_time_s"]


class ConfigError(ValueError):
    """An invalid setting; `option` names the command-line flag it comes from."""

    def __init__(self, option: str, message: str):
        super().__init__(f"--{option.replace('_', '-')}: {message}")
        self.option = option


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss, an unusable checkpoint)."""


@dataclass
# --8<-- [start:config]
class TrainConfig:
    """Every setting of a run. The defaults are the reference configuration of seed report 000."""
    dataset: str = "mnist"
    arch: str = "conv"
    hidden: tuple[int, ...] = (400,)   # MLP hidden sizes; ignored by the conv model
    latent_dim: int = 2
    beta: float = 1.0
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    recon_loss: str = "bce"
    val_split: float = 0.1
    seed: int = 42
    device: str = "auto"
    data_dir: str = "data"
    train_limit: int | None = None
    binarize: bool = False
    eval_batch_size: int = 1000
    objective: str = "elbo"            # or "iwae": the importance-weighted bound with k samples
    k: int = 1                         # importance samples per example of the iwae objective
    kl_warmup_epochs: int = 0          # β rises linearly from 0 over these epochs (Bowman et al. 2016)
    lr_schedule: str = "constant"      # constant, cosine (down to min_lr) or burda (Burda et al. 2015)
    min_lr: float = 1e-5               # the cosine schedule's last learning rate
    activation: str = "relu"           # of the MLP's hidden layers; tanh builds Burda et al.'s MLP
    init_output_bias: bool = False     # start the decoder's output bias at the data's mean logit
    precision: str = "fp32"            # or bf16: autocast on CUDA only
    cuda_graph: bool = True            # capture the training step in one CUDA graph (CUDA only)
# --8<-- [end:config]

    # Settings that may differ when a run is resumed (more epochs, another machine).
    RESUMABLE_CHANGES = ("epochs", "device", "data_dir", "cuda_graph")
    OBJECTIVES = ("elbo", "iwae")
    LR_SCHEDULES = ("constant", "cosine", "burda")
    ACTIVATIONS = ("relu", "tanh")
    PRECISIONS = ("fp32", "bf16")

    def validate(self) -> "TrainConfig":
        def positive_int(name: str) -> None:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(name, f"must be a positive integer (got {value!r})")

        if self.dataset not in DATASETS:
            raise ConfigError("dataset", f"must be one of {', '.join(DATASETS)} (got {self.dataset!r})")
        if self.arch not in ARCHITECTURES:
            raise ConfigError("arch", f"must be one of {', '.join(ARCHITECTURES)} (got {self.arch!r})")
        if self.recon_loss not in RECON_LOSSES:
            raise ConfigError("recon_loss", f"must be one of {', '.join(RECON_LOSSES)} (got {self.recon_loss!r})")
        for name, choices in (("objective", self.OBJECTIVES), ("lr_schedule", self.LR_SCHEDULES),
                              ("activation", self.ACTIVATIONS), ("precision", self.PRECISIONS)):
            if getattr(self, name) not in choices:
                raise ConfigError(name, f"must be one of {', '.join(choices)} (got {getattr(self, name)!r})")
        for name in ("latent_dim", "epochs", "batch_size", "eval_batch_size", "k"):
            positive_int(name)
        if not isinstance(self.kl_warmup_epochs, int) or isinstance(self.kl_warmup_epochs, bool) \
                or self.kl_warmup_epochs < 0:
            raise ConfigError("kl_warmup_epochs", f"must be 0 or a positive integer (got {self.kl_warmup_epochs!r})")
        if self.train_limit is not None:
            positive_int("train_limit")
        if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ConfigError("hidden", f"must be positive layer sizes such as 400 or 512,256 (got {self.hidden!r})")
        for name in ("beta", "lr", "weight_decay", "val_split", "min_lr"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(name, f"must be a finite number (got {value!r})")
        if self.beta < 0:
            raise ConfigError("beta", f"must be >= 0 (got {self.beta})")
        if self.lr <= 0:
            raise ConfigError("lr", f"must be > 0 (got {self.lr})")
        if not 0 < self.min_lr <= self.lr:
            raise ConfigError("min_lr", f"must be > 0 and at most --lr {self.lr} (got {self.min_lr})")
        if self.weight_decay < 0:
            raise ConfigError("weight_decay", f"must be >= 0 (got {self.weight_decay})")
        if not 0 < self.val_split < 1:
            raise ConfigError("val_split", f"must be between 0 and 1, exclusive (got {self.val_split})")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < 2**32:
            raise ConfigError("seed", f"must be an integer from 0 to {2**32 - 1} (got {self.seed!r})")
        select_device(self.device)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "hidden": list(self.hidden)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in values.items() if k in known}
        if "hidden" in kwargs:
            kwargs["hidden"] = tuple(kwargs["hidden"])
        return cls(**kwargs)


def select_device(name: str = "auto") -> torch.device:
    """CUDA, then Apple's MPS, then the CPU; or exactly the device asked for, if it is present."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError("device", f"must be auto, cpu, cuda, cuda:N or mps (got {name!r})") from None
    if device.type == "cuda" and (not torch.cuda.is_available()
                                  or (device.index or 0) >= torch.cuda.device_count()):
        raise ConfigError("device", f"{name} is not available on this machine; use --device auto or cpu")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device", "mps is not available on this machine; use --device auto or cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError("device", f"must be auto, cpu, cuda, cuda:N or mps (got {name!r})")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def environment() -> dict[str, Any]:
    """Library versions, machine and code commit, recorded with every run."""
    import torchvision

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": np.__version__,
            "platform": platform.platform(), "processor": platform.machine(),
            "cpu_threads": torch.get_num_threads(), "git_commit": commit}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({platform.machine()}, {torch.get_num_threads()} threads)"


# --8<-- [start:binarized]
def binarized(x: torch.Tensor, seed: int) -> torch.Tensor:
    """One fixed Bernoulli draw of the pixels, used for validation and test under --binarize."""
    generator = torch.Generator(device=x.device).manual_seed(seed)
    return torch.bernoulli(x, generator=generator)
# --8<-- [end:binarized]


@dataclass
class TrainResult:
    model: VAE                      # with the weights of the best epoch
    metrics: dict[str, Any]
    history: list[dict[str, float]]
    splits: Splits                  # on the training device; binarized if the run was
    config: TrainConfig
    out_dir: Path
    device: torch.device = field(default=torch.device("cpu"))


EpochCallback = Callable[[int, VAE, Splits], None]


def _rng_state(shuffle: torch.Generator, device: torch.device) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "shuffle": shuffle.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _restore_rng(state: dict[str, Any], shuffle: torch.Generator, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    shuffle.set_state(state["shuffle"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# What each field of a checkpoint must be, so a hand-edited file is refused in one line.
CHECKPOINT_FIELD_TYPES = {"model": "dict", "optimizer": "dict", "config": "dict", "epoch": "int",
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


def load_model(checkpoint: str | Path, device: str | torch.device = "cpu") -> tuple[VAE, TrainConfig]:
    """Rebuild a trained model from best.pt or last.pt."""
    state = load_checkpoint(Path(checkpoint))
    config = TrainConfig.from_dict(state.get("config", {}))
    model = build_model(config.arch, config.latent_dim, config.hidden)
    load_checkpoint(Path(checkpoint), model)
    return model.to(device).eval(), config


def _check_resumable(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    current = config.to_dict()
    saved = TrainConfig.from_dict(saved).to_dict()   # fields newer than the run take their defaults
    differences = [f"{k}={saved.get(k)!r} (now {current[k]!r})" for k in current
                   if k not in TrainConfig.RESUMABLE_CHANGES and saved.get(k) != current[k]]
    if differences:
        raise ConfigError("resume", f"{path} was trained with {', '.join(differences)}; "
                                    "use the same settings or another --out folder")


def train(config: TrainConfig, out_dir: str | Path, resume: bool = False,
          on_epoch: EpochCallback | None = None, log: Callable[[str], None] = print,
          progress: bool | None = None) -> TrainResult:
    """Train a VAE as configured, writing config.json, history.csv, best.pt, last.pt and metrics.json."""
    from tqdm.auto import tqdm

    config.validate()
    out_dir = Path(out_dir)
    device = select_device(config.device)
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"

    saved = None
    if resume and last_path.exists():
        saved = load_checkpoint(last_path)
        missing = [k for k in ("optimizer", "epoch", "history", "best_epoch", "best_val", "elapsed_s", "rng")
                   if k not in saved]
        if missing:
            raise TrainingError(f"{last_path} cannot be resumed from (it lacks {', '.join(missing)}); "
                                "delete it or train into another --out folder")
        _check_resumable(saved.get("config", {}), config, last_path)
        if saved["epoch"] > config.epochs:
            raise ConfigError("epochs", f"{last_path} has already trained {saved['epoch']} epochs; "
                                        f"use --epochs {saved['epoch']} or more to resume it")

    seed_everything(config.seed)
    splits = load_splits(config.dataset, config.data_dir, config.val_split, config.seed,
                         config.train_limit).to(device)
    for split, x in (("training", splits.train_x), ("validation", splits.val_x)):
        if len(x) == 0:
            raise ConfigError("val_split", f"{config.val_split} leaves no {split} example; "
                                           "choose a value such as 0.1")
    if config.binarize:
        splits.val_x = binarized(splits.val_x, config.seed + 1)
        splits.test_x = binarized(splits.test_x, config.seed + 2)
    model = build_model(config.arch, config.latent_dim, config.hidden).to(device)
    # Channels-last weights for the conv model on the CPU (models.preferred_memory_format):
    # 1.00-1.06x training images/s over NCHW in `python -m vae bench`, bit-for-bit deterministic.
    model = model.to(memory_format=preferred_memory_format(config.arch, device))
    # Fused Adam: one kernel for all parameters instead of a loop of small ops per tensor;
    # 1.13x (MLP) and 1.07x (conv) training images/s in `python -m vae bench`, still deterministic.
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                 fused=device.type in FUSED_ADAM_DEVICES)
    shuffle = torch.Generator().manual_seed(config.seed)

    history: list[dict[str, float]] = []
    start_epoch, best_epoch, best_val, elapsed_s = 0, 0, math.inf, 0.0
    if saved is not None:
        load_checkpoint(last_path, model)
        optimizer.load_state_dict(saved["optimizer"])
        _restore_rng(saved["rng"], shuffle, device)
        history, start_epoch = list(saved["history"]), saved["epoch"]
        best_epoch, best_val, elapsed_s = saved["best_epoch"], saved["best_val"], saved["elapsed_s"]
        log(f"resuming {out_dir} after epoch {start_epoch}")

    run_info = {"config": config.to_dict(), "device": str(device), "device_name": device_name(device),
                "environment": environment(), "out_dir": str(out_dir)}
    artifacts.write_json(out_dir / "config.json", {**run_info, "wall_time_s": elapsed_s})
    if start_epoch == 0 and on_epoch is not None:
        on_epoch(0, model, splits)

    n_train = len(splits.train_x)
    steps_per_epoch = math.ceil(n_train / config.batch_size)
    # --8<-- [start:epoch]
    for epoch in range(start_epoch + 1, config.epochs + 1):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(n_train, generator=shuffle).to(device)
        sums = torch.zeros(4, device=device)          # loss, elbo, recon, kl, summed over examples
        first_bad_step = torch.full((), -1, device=device)
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch}/{config.epochs}", leave=False,
                   disable=(not progress) if progress is not None else None, unit="batch")
        for step in range(1, steps_per_epoch + 1):
            x = splits.train_x[order[(step - 1) * config.batch_size: step * config.batch_size]]
            if config.binarize:
                x = torch.bernoulli(x)
            logits, mu, logvar = model(x)
            terms = negative_elbo(logits, x, mu, logvar, config.beta, config.recon_loss)
            optimizer.zero_grad(set_to_none=True)
            terms.loss.backward()
            optimizer.step()
            # Accumulate on the device: no host synchronisation per step.
            sums += torch.stack([terms.loss, terms.elbo, terms.recon, terms.kl]).detach() * len(x)
            first_bad_step = torch.where((first_bad_step < 0) & ~torch.isfinite(terms.loss.detach()),
                                         step, first_bad_step)
            if step % 20 == 0 or step == steps_per_epoch:
                if first_bad_step.item() >= 0:
                    bar.close()
                    raise TrainingError(
                        f"non-finite loss at epoch {epoch}, step {first_bad_step.item()}; stopped. "
                        + (f"The last good checkpoint ({last_path}, epoch {epoch - 1}) is kept; "
                           if epoch > 1 else "No epoch had completed, so no checkpoint was written; ")
                        + "try a lower --lr")
                bar.set_postfix(loss=f"{sums[0].item() / min(step * config.batch_size, n_train):.2f}")
                bar.update(step - bar.n)
        bar.close()
    # --8<-- [end:epoch]
        # --8<-- [start:after-epoch]
        train_loss, train_elbo, train_recon, train_kl = (sums / n_train).tolist()
        val = evaluate(model, splits.val_x, config.beta, config.recon_loss, config.eval_batch_size)
        epoch_time_s = time.perf_counter() - started
        elapsed_s += epoch_time_s
        history.append({"epoch": epoch, "train_loss": train_loss, "train_elbo": train_elbo,
                        "train_recon": train_recon, "train_kl": train_kl, "val_loss": val["loss"],
                        "val_elbo": val["elbo"], "val_recon": val["recon"], "val_kl": val["kl"],
                        "val_elbo_per_pixel": val["elbo_per_pixel"], "epoch_time_s": epoch_time_s})
        artifacts.write_csv(out_dir / "history.csv", history, HISTORY_FIELDS)
        if val["elbo"] < best_val:
            best_val, best_epoch = val["elbo"], epoch
            artifacts.save_checkpoint(best_path, {"model": model.state_dict(), "config": config.to_dict(),
                                                  "epoch": epoch, "val_elbo": best_val})
        artifacts.save_checkpoint(last_path, {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "config": config.to_dict(),
            "epoch": epoch, "history": history, "best_epoch": best_epoch, "best_val": best_val,
            "elapsed_s": elapsed_s, "rng": _rng_state(shuffle, device)})
        log(f"epoch {epoch:>3}/{config.epochs}  train -ELBO {train_elbo:8.3f} "
            f"(recon {train_recon:8.3f} + KL {train_kl:6.3f})  val -ELBO {val['elbo']:8.3f} "
            f"(recon {val['recon']:8.3f} + KL {val['kl']:6.3f})  {epoch_time_s:6.1f} s")
        if on_epoch is not None:
            on_epoch(epoch, model, splits)
        # --8<-- [end:after-epoch]

    if best_epoch == 0:
        raise TrainingError(f"{out_dir} has no trained epoch; train with --epochs 1 or more")
    load_checkpoint(best_path, model)
    model.eval()
    metrics = {
        "params": count_parameters(model), "best_epoch": best_epoch, "epochs": config.epochs,
        "val": evaluate(model, splits.val_x, 1.0, config.recon_loss, config.eval_batch_size),
        "test": evaluate(model, splits.test_x, 1.0, config.recon_loss, config.eval_batch_size),
        "train_examples": n_train, "wall_time_s": elapsed_s,
        "epoch_time_s": elapsed_s / max(len(history), 1),
        "device": str(device), "device_name": device_name(device),
    }
    artifacts.write_json(out_dir / "metrics.json", metrics)
    artifacts.write_json(out_dir / "config.json", {**run_info, "wall_time_s": elapsed_s})
    log(f"best epoch {best_epoch}: test -ELBO {metrics['test']['elbo']:.3f} "
        f"(recon {metrics['test']['recon']:.3f} + KL {metrics['test']['kl']:.3f}), "
        f"{metrics['params']:,} parameters, {elapsed_s:.1f} s")
    return TrainResult(model=model, metrics=metrics, history=history, splits=splits,
                       config=config, out_dir=out_dir, device=device)
