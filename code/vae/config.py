"""Every setting of a training run: one dataclass whose defaults are the recommended settings,
and its validation, which names the command-line flag at fault (`ConfigError`)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .data import DATASETS
from .plumbing.device import PRECISIONS, select_device
from .plumbing.errors import ConfigError
from .losses import RECON_LOSSES
from .models import ARCHITECTURES


# --8<-- [start:config]
@dataclass
class TrainConfig:
    """Every setting of a run. The defaults are the reference configuration of seed report 000."""
    dataset: str = "mnist"
    arch: str = "conv"
    hidden: tuple[int, ...] = (400,)   # MLP hidden sizes; ignored by the conv model
    latent_dim: int = 2
    beta: float = 1.0
    free_bits: float = 0.0             # each latent unit's KL counts at least this many nats (Kingma et al. 2016)
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
    precision: str = "auto"            # the speed policy's choice (plumbing/device.py), or fp32, or bf16
    cuda_graph: bool = False           # capture the training step in CUDA graphs (CUDA only; opt-in until measured)
    stop_window: int = 0               # stop when the best validation -ELBO improved by less than
    stop_min_gain: float = 0.3         # stop_min_gain nats over the last stop_window epochs (0: off)
# --8<-- [end:config]

    # Settings that may differ when a run is resumed (more epochs, another machine).
    RESUMABLE_CHANGES = ("epochs", "device", "data_dir", "cuda_graph", "stop_window", "stop_min_gain")
    OBJECTIVES = ("elbo", "iwae")
    LR_SCHEDULES = ("constant", "cosine", "burda")
    ACTIVATIONS = ("relu", "tanh")
    PRECISIONS = PRECISIONS

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
        if not isinstance(self.stop_window, int) or isinstance(self.stop_window, bool) or self.stop_window < 0:
            raise ConfigError("stop_window", f"must be 0 (train every epoch) or a number of epochs (got {self.stop_window!r})")
        if self.train_limit is not None:
            positive_int("train_limit")
        if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ConfigError("hidden", f"must be positive layer sizes such as 400 or 512,256 (got {self.hidden!r})")
        for name in ("beta", "free_bits", "lr", "weight_decay", "val_split", "min_lr", "stop_min_gain"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError(name, f"must be a number (got {value!r})")
            if not math.isfinite(value):
                raise ConfigError(name, f"must be a finite number (got {value!r})")
        if self.beta < 0:
            raise ConfigError("beta", f"must be >= 0 (got {self.beta})")
        if self.free_bits < 0:
            raise ConfigError("free_bits", f"must be >= 0 nats per latent unit (got {self.free_bits})")
        if self.free_bits and self.objective != "elbo":
            raise ConfigError("free_bits", "applies to the ELBO objective only; use --objective elbo or drop it")
        if self.lr <= 0:
            raise ConfigError("lr", f"must be > 0 (got {self.lr})")
        if self.lr_schedule == "cosine" and not 0 < self.min_lr <= self.lr:
            raise ConfigError("min_lr", f"must be > 0 and at most --lr {self.lr} (got {self.min_lr})")
        if self.stop_min_gain < 0:
            raise ConfigError("stop_min_gain", f"must be >= 0 nats (got {self.stop_min_gain})")
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
