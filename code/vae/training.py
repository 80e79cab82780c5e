"""Chapter 3, training: one configuration dataclass, one step function and a plain loop you can
read top to bottom.

Each split is one tensor resident on the training device and batches are taken by index, so
no per-item transform runs inside the loop. `train_step` is the one training step: the eager
loop, the CUDA-graph capture (`cuda_graph.py`) and the benchmark all run it. After every epoch
the loop validates, appends a row to history.csv, keeps best.pt (best validation ELBO) and
writes last.pt, which holds everything needed to resume: weights, optimizer, RNG states and
history. Device, memory layout, optimizer kernel and evaluation batch come from `device.py`.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from . import artifacts
from .cuda_graph import Accumulator, GraphedSteps, epoch_plan
from .data import DATASETS, Splits, load_splits
from .device import SpeedPolicy, device_name, environment, select_device  # environment: re-exported for report.py
from .errors import ConfigError
from .evaluation import evaluate
from .losses import RECON_LOSSES, ELBOTerms, negative_elbo, negative_iwae
from .models import ARCHITECTURES, VAE, build_model, count_parameters, init_output_bias, reparameterize
from .schedules import kl_weight, learning_rate

HISTORY_FIELDS = ["epoch", "train_loss", "train_elbo", "train_recon", "train_kl",
                  "val_loss", "val_elbo", "val_recon", "val_kl", "val_elbo_per_pixel", "epoch_time_s"]


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss, an unusable checkpoint)."""


# --8<-- [start:config]
@dataclass
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
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError(name, f"must be a number (got {value!r})")
            if not math.isfinite(value):
                raise ConfigError(name, f"must be a finite number (got {value!r})")
        if self.beta < 0:
            raise ConfigError("beta", f"must be >= 0 (got {self.beta})")
        if self.lr <= 0:
            raise ConfigError("lr", f"must be > 0 (got {self.lr})")
        if self.lr_schedule == "cosine" and not 0 < self.min_lr <= self.lr:
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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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
    model = build_model(config.arch, config.latent_dim, config.hidden, config.activation)
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




# ---------------------------------------------------------------------------------------------
# The training step: the eager loop, the CUDA graph and the benchmark all run this function.

# --8<-- [start:step]
def objective_terms(model: VAE, x: torch.Tensor, beta: float | torch.Tensor, recon_loss: str = "bce",
                    objective: str = "elbo", k: int = 1) -> ELBOTerms:
    """The loss to minimise (-ELBO, or -L_k with k importance samples) and the ELBO's terms."""
    if objective == "iwae":
        mu, logvar = model.encode(x)
        z = reparameterize(mu.expand(k, *mu.shape), logvar.expand(k, *logvar.shape))   # (k, N, D)
        return negative_iwae(model.decode(z.flatten(0, 1)), x, z, mu, logvar, beta, recon_loss)
    logits, mu, logvar = model(x)
    return negative_elbo(logits, x, mu, logvar, beta, recon_loss)


def train_step(model: VAE, optimizer: torch.optim.Optimizer, x: torch.Tensor, beta: float | torch.Tensor,
               recon_loss: str = "bce", objective: str = "elbo", k: int = 1, binarize: bool = False,
               bf16: bool = False) -> ELBOTerms:
    """One optimizer step on the batch x: binarize (a fresh draw each time), forward, loss, backward, step."""
    if binarize:
        x = torch.bernoulli(x)
    # bf16 autocast on CUDA only; no weight cache, which a CUDA graph capture does not allow.
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16, cache_enabled=False):
        terms = objective_terms(model, x, beta, recon_loss, objective, k)
    optimizer.zero_grad(set_to_none=True)
    terms.loss.backward()
    optimizer.step()
    return terms
# --8<-- [end:step]


# ---------------------------------------------------------------------------------------------
# Setting up a run.

def _resume_checkpoint(config: TrainConfig, last_path: Path) -> dict[str, Any]:
    """last.pt, checked: complete, trained with the same settings, and not past --epochs."""
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
    return saved


def prepare_splits(config: TrainConfig, device: torch.device) -> Splits:
    """The three splits on the device; under --binarize, validation and test get one fixed draw."""
    splits = load_splits(config.dataset, config.data_dir, config.val_split, config.seed,
                         config.train_limit).to(device)
    for split, x in (("training", splits.train_x), ("validation", splits.val_x)):
        if len(x) == 0:
            raise ConfigError("val_split", f"{config.val_split} leaves no {split} example; "
                                           "choose a value such as 0.1")
    if config.binarize:
        splits.val_x = binarized(splits.val_x, config.seed + 1)
        splits.test_x = binarized(splits.test_x, config.seed + 2)
    return splits


def build_optimizer(model: VAE, config: TrainConfig, policy: SpeedPolicy, device: torch.device) -> torch.optim.Adam:
    """Adam as the policy says: fused where available; for a captured step, capturable with a tensor lr."""
    lr: float | torch.Tensor = config.lr
    if policy.cuda_graph:
        lr = torch.tensor(config.lr, device=device)
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=config.weight_decay,
                            fused=policy.fused_adam, capturable=policy.cuda_graph)


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


def build_model_for(config: TrainConfig, policy: SpeedPolicy, splits: Splits, device: torch.device) -> VAE:
    model = build_model(config.arch, config.latent_dim, config.hidden, config.activation).to(device)
    if config.init_output_bias:
        init_output_bias(model, splits.train_x.mean(0))
    return model.to(memory_format=policy.memory_format)


@dataclass
class Run:
    """Everything one training run works with, built once by `train`."""
    config: TrainConfig
    out_dir: Path
    device: torch.device
    policy: SpeedPolicy
    splits: Splits
    model: VAE
    optimizer: torch.optim.Adam
    shuffle: torch.Generator
    log: Callable[[str], None]
    progress: bool | None
    history: list[dict[str, float]] = field(default_factory=list)
    start_epoch: int = 0
    best_epoch: int = 0
    best_val: float = math.inf
    elapsed_s: float = 0.0
    graphs: dict[tuple[int, int], GraphedSteps] = field(default_factory=dict)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.splits.train_x) / self.config.batch_size)

    @property
    def last_path(self) -> Path:
        return self.out_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.out_dir / "best.pt"

    def step(self, x: torch.Tensor, beta: float | torch.Tensor) -> ELBOTerms:
        c = self.config
        return train_step(self.model, self.optimizer, x, beta, c.recon_loss, c.objective, c.k, c.binarize,
                          self.policy.bf16)


def restore_run(run: Run, saved: dict[str, Any]) -> None:
    """Weights, optimizer, RNG streams and bookkeeping of last.pt, to continue after its epoch."""
    load_checkpoint(run.last_path, run.model)
    load_optimizer_state(run.optimizer, saved["optimizer"], run.policy, run.device)
    _restore_rng(saved["rng"], run.shuffle, run.device)
    run.history, run.start_epoch = list(saved["history"]), saved["epoch"]
    run.best_epoch, run.best_val, run.elapsed_s = saved["best_epoch"], saved["best_val"], saved["elapsed_s"]
    run.log(f"resuming {run.out_dir} after epoch {run.start_epoch}")


# ---------------------------------------------------------------------------------------------
# One epoch: eager on the CPU (checked every 20 steps), captured on CUDA (checked once).

CHECK_EVERY_STEPS = 20      # eager loop: NaN check and progress bar; each check syncs with the device


def _likely_cause(config: TrainConfig) -> str:
    """The setting to change first after a non-finite loss: an extreme --beta or --weight-decay, else --lr."""
    if config.beta >= 100:
        return f"a lower --beta (it is {config.beta:g})"
    if config.weight_decay >= 1:
        return f"a lower --weight-decay (it is {config.weight_decay:g})"
    return "a lower --lr"


def check_finite(run: Run, epoch: int, first_bad_step: torch.Tensor) -> None:
    bad = int(first_bad_step.item())
    if bad >= 0:
        raise TrainingError(
            f"non-finite loss at epoch {epoch}, step {bad}; stopped. "
            + (f"The last good checkpoint ({run.last_path}, epoch {epoch - 1}) is kept; "
               if epoch > 1 else "No epoch had completed, so no checkpoint was written; ")
            + f"try {_likely_cause(run.config)}")


# --8<-- [start:epoch]
def eager_epoch(run: Run, epoch: int, order: torch.Tensor, bar, acc: Accumulator) -> None:
    c, n_train, steps = run.config, len(run.splits.train_x), run.steps_per_epoch
    for step in range(1, steps + 1):
        x = run.splits.train_x[order[(step - 1) * c.batch_size: step * c.batch_size]]
        done = (epoch - 1) * steps + step - 1                 # steps taken before this one
        set_learning_rate(run.optimizer, learning_rate(c, done, steps))
        terms = run.step(x, kl_weight(c, done, steps))
        acc.add(terms, len(x), step)                          # on the device: no host sync per step
        if step % CHECK_EVERY_STEPS == 0 or step == steps:
            check_finite(run, epoch, acc.first_bad_step)
            bar.set_postfix(loss=f"{acc.sums[0].item() / min(step * c.batch_size, n_train):.2f}")
            bar.update(step - bar.n)
# --8<-- [end:epoch]


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def graphed_epoch(run: Run, epoch: int, order: torch.Tensor, acc: Accumulator) -> None:
    """The epoch as replays of captured steps; the schedules' values go to the device once per epoch."""
    c, steps = run.config, run.steps_per_epoch
    plan = epoch_plan(steps, len(run.splits.train_x), c.batch_size, run.policy.steps_per_replay)
    capture_graphs(run, plan, acc)
    done = [(epoch - 1) * steps + s for s in range(steps)]
    betas = torch.tensor([kl_weight(c, d, steps) for d in done], dtype=torch.float32).to(run.device)
    lrs = torch.tensor([learning_rate(c, d, steps) for d in done], dtype=torch.float32).to(run.device)
    numbers = torch.arange(1, steps + 1).to(run.device)
    at, example = 0, 0
    for n_steps, batch in plan:
        indices = order[example:example + n_steps * batch].view(n_steps, batch)
        run.graphs[n_steps, batch].replay(indices, betas[at:at + n_steps], lrs[at:at + n_steps],
                                          numbers[at:at + n_steps])
        at, example = at + n_steps, example + n_steps * batch
    check_finite(run, epoch, acc.first_bad_step)      # the epoch's one host sync


def capture_graphs(run: Run, plan: list[tuple[int, int]], acc: Accumulator) -> None:
    """Capture, before the epoch's first replay, each (steps, batch size) the plan needs and lacks."""
    for n_steps, batch in dict.fromkeys(plan):
        if (n_steps, batch) not in run.graphs:
            # Each graph in its own memory pool: the grads one leaves behind must not alias another's.
            run.graphs[n_steps, batch] = GraphedSteps(run.step, run.model, run.optimizer, run.splits.train_x,
                                                      batch, n_steps, acc)
    acc.reset()       # the captures' warm-up steps added to the sums


def train_epoch(run: Run, epoch: int, acc: Accumulator) -> list[float]:
    """One pass over the shuffled training split; the mean loss, -ELBO, recon and KL per example."""
    from tqdm.auto import tqdm

    run.model.train()
    acc.reset()
    order = torch.randperm(len(run.splits.train_x), generator=run.shuffle).to(run.device)
    bar = tqdm(total=run.steps_per_epoch, desc=f"epoch {epoch}/{run.config.epochs}", leave=False,
               disable=(not run.progress) if run.progress is not None else None, unit="batch")
    try:
        if run.policy.cuda_graph:
            graphed_epoch(run, epoch, order, acc)
            bar.update(run.steps_per_epoch)
        else:
            eager_epoch(run, epoch, order, bar, acc)
    finally:
        bar.close()
    return (acc.sums / len(run.splits.train_x)).tolist()


# ---------------------------------------------------------------------------------------------
# After each epoch, and at the end.

# --8<-- [start:after-epoch]
def end_epoch(run: Run, epoch: int, train_terms: list[float], started: float) -> None:
    """Validate, append to history.csv, keep best.pt, write last.pt (everything needed to resume)."""
    c = run.config
    train_loss, train_elbo, train_recon, train_kl = train_terms
    val = evaluate(run.model, run.splits.val_x, c.beta, c.recon_loss, run.policy.eval_batch_size)
    epoch_time_s = time.perf_counter() - started           # training and validation
    run.elapsed_s += epoch_time_s
    run.history.append({"epoch": epoch, "train_loss": train_loss, "train_elbo": train_elbo,
                        "train_recon": train_recon, "train_kl": train_kl, "val_loss": val["loss"],
                        "val_elbo": val["elbo"], "val_recon": val["recon"], "val_kl": val["kl"],
                        "val_elbo_per_pixel": val["elbo_per_pixel"], "epoch_time_s": epoch_time_s})
    artifacts.write_csv(run.out_dir / "history.csv", run.history, HISTORY_FIELDS)
    if val["elbo"] < run.best_val:
        run.best_val, run.best_epoch = val["elbo"], epoch
        artifacts.save_checkpoint(run.best_path, {"model": run.model.state_dict(), "config": c.to_dict(),
                                                  "epoch": epoch, "val_elbo": run.best_val})
    artifacts.save_checkpoint(run.last_path, {
        "model": run.model.state_dict(), "optimizer": optimizer_state(run.optimizer), "config": c.to_dict(),
        "epoch": epoch, "history": run.history, "best_epoch": run.best_epoch, "best_val": run.best_val,
        "elapsed_s": run.elapsed_s, "rng": _rng_state(run.shuffle, run.device)})
    run.log(f"epoch {epoch:>3}/{c.epochs}  train -ELBO {train_elbo:8.3f} "
            f"(recon {train_recon:8.3f} + KL {train_kl:6.3f})  val -ELBO {val['elbo']:8.3f} "
            f"(recon {val['recon']:8.3f} + KL {val['kl']:6.3f})  {epoch_time_s:6.1f} s")
# --8<-- [end:after-epoch]


def final_metrics(run: Run) -> dict[str, Any]:
    """The best epoch's weights evaluated on validation and test (β = 1: the true ELBO)."""
    if run.best_epoch == 0:
        raise TrainingError(f"{run.out_dir} has no trained epoch; train with --epochs 1 or more")
    load_checkpoint(run.best_path, run.model)
    run.model.eval()
    c, batch = run.config, run.policy.eval_batch_size
    return {
        "params": count_parameters(run.model), "best_epoch": run.best_epoch, "epochs": c.epochs,
        "val": evaluate(run.model, run.splits.val_x, 1.0, c.recon_loss, batch),
        "test": evaluate(run.model, run.splits.test_x, 1.0, c.recon_loss, batch),
        "train_examples": len(run.splits.train_x), "wall_time_s": run.elapsed_s,
        "epoch_time_s": run.elapsed_s / max(len(run.history), 1),
        "device": str(run.device), "device_name": device_name(run.device),
    }


def start_run(config: TrainConfig, out_dir: Path, resume: bool, log: Callable[[str], None],
              progress: bool | None) -> Run:
    """Check a resume, load the data, build model and optimizer, and restore last.pt's state."""
    device = select_device(config.device)
    saved = _resume_checkpoint(config, out_dir / "last.pt") if resume and (out_dir / "last.pt").exists() else None
    seed_everything(config.seed)
    policy = SpeedPolicy.for_model(config.arch, device, config.eval_batch_size, config.cuda_graph, config.precision)
    splits = prepare_splits(config, device)
    model = build_model_for(config, policy, splits, device)
    run = Run(config=config, out_dir=out_dir, device=device, policy=policy, splits=splits, model=model,
              optimizer=build_optimizer(model, config, policy, device),
              shuffle=torch.Generator().manual_seed(config.seed), log=log, progress=progress)
    if saved is not None:
        restore_run(run, saved)
    return run


# --8<-- [start:train]
def train(config: TrainConfig, out_dir: str | Path, resume: bool = False,
          on_epoch: EpochCallback | None = None, log: Callable[[str], None] = print,
          progress: bool | None = None) -> TrainResult:
    """Train a VAE as configured, writing config.json, history.csv, best.pt, last.pt and metrics.json."""
    config.validate()
    run = start_run(config, Path(out_dir), resume, log, progress)
    run_info = {"config": config.to_dict(), "device": str(run.device), "device_name": device_name(run.device),
                "environment": environment(), "out_dir": str(run.out_dir)}
    artifacts.write_json(run.out_dir / "config.json", {**run_info, "wall_time_s": run.elapsed_s})
    if run.start_epoch == 0 and on_epoch is not None:
        on_epoch(0, run.model, run.splits)

    acc = Accumulator(run.device)
    for epoch in range(run.start_epoch + 1, config.epochs + 1):
        started = time.perf_counter()
        train_terms = train_epoch(run, epoch, acc)
        end_epoch(run, epoch, train_terms, started)
        if on_epoch is not None:
            on_epoch(epoch, run.model, run.splits)

    metrics = final_metrics(run)
    artifacts.write_json(run.out_dir / "metrics.json", metrics)
    artifacts.write_json(run.out_dir / "config.json", {**run_info, "wall_time_s": run.elapsed_s})
    log(f"best epoch {run.best_epoch}: test -ELBO {metrics['test']['elbo']:.3f} "
        f"(recon {metrics['test']['recon']:.3f} + KL {metrics['test']['kl']:.3f}), "
        f"{metrics['params']:,} parameters, {run.elapsed_s:.1f} s")
    return TrainResult(model=run.model, metrics=metrics, history=run.history, splits=run.splits,
                       config=config, out_dir=run.out_dir, device=run.device)
# --8<-- [end:train]
