"""Chapter 3, training: one configuration dataclass, one step function and a plain loop you can
read top to bottom.

Each split is one tensor resident on the training device and batches are taken by index, so
no per-item transform runs inside the loop. `train_step` is the one training step: the eager
loop, the CUDA-graph capture (`plumbing/cuda_graph.py`) and the benchmark all run it. After every epoch
the loop validates, appends a row to history.csv, keeps best.pt (best validation ELBO) and
writes last.pt, which holds everything needed to resume: weights, optimizer, RNG states and
history (read back and checked by `checkpoints.py`). Device, memory layout, precision, optimizer
kernel and evaluation batch come from the speed policy, `plumbing/device.py`.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .checkpoints import (load_checkpoint, load_optimizer_state, optimizer_state, restore_rng, resume_checkpoint,
                          rng_state)
from .config import TrainConfig
from .plumbing import artifacts
from .plumbing.cuda_graph import Accumulator, GraphedSteps, epoch_plan
from .data import Splits, load_splits
from .plumbing.device import SpeedPolicy, configure_cuda, device_name, environment, select_device
from .plumbing.errors import ConfigError, TrainingError
from .evaluation import evaluate
from .losses import ELBOTerms, PixelNLL, bernoulli_nll, negative_elbo, negative_iwae
from .models import VAE, build_model, count_parameters, init_output_bias, reparameterize
from .schedules import kl_weight, learning_rate

HISTORY_FIELDS = ["epoch", "train_loss", "train_elbo", "train_recon", "train_kl",
                  "val_loss", "val_elbo", "val_recon", "val_kl", "val_elbo_per_pixel", "epoch_time_s"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# --8<-- [start:binarized]
def binarized(x: torch.Tensor, seed: int) -> torch.Tensor:
    """One fixed Bernoulli draw of the pixels, used for validation and test under --binarize.

    Drawn on the CPU whatever the device: a CUDA generator draws other numbers from the same seed,
    and CPU and GPU runs must score the same binarized images."""
    generator = torch.Generator().manual_seed(seed)
    return torch.bernoulli(x.cpu(), generator=generator).to(x.device)
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
# Measures the caller adds to metrics.json, taken on the best epoch's model before the file is written.
MeasureCallback = Callable[[TrainResult], dict[str, Any]]


# ---------------------------------------------------------------------------------------------
# The training step: the eager loop, the CUDA graph and the benchmark all run this function.

# --8<-- [start:step]
def objective_terms(model: VAE, x: torch.Tensor, beta: float | torch.Tensor, recon_loss: str = "bce",
                    objective: str = "elbo", k: int = 1, nll: PixelNLL = bernoulli_nll,
                    free_bits: float = 0.0) -> ELBOTerms:
    """The loss to minimise (-ELBO, or -L_k with k importance samples) and the ELBO's terms."""
    if objective == "iwae":
        mu, logvar = model.encode(x)
        z = reparameterize(mu.expand(k, *mu.shape), logvar.expand(k, *logvar.shape))   # (k, N, D)
        return negative_iwae(model.decode(z.flatten(0, 1)), x, z, mu, logvar, beta, recon_loss, nll)
    logits, mu, logvar = model(x)
    return negative_elbo(logits, x, mu, logvar, beta, recon_loss, nll, free_bits)


def train_step(model: VAE, optimizer: torch.optim.Optimizer, x: torch.Tensor, beta: float | torch.Tensor,
               recon_loss: str = "bce", objective: str = "elbo", k: int = 1, binarize: bool = False,
               bf16: bool = False, nll: PixelNLL = bernoulli_nll, free_bits: float = 0.0) -> ELBOTerms:
    """One optimizer step on the batch x: binarize (a fresh draw each time), forward, loss, backward, step.
    `bf16` and `nll` (the per-pixel loss's kernel) are the speed policy's."""
    if binarize:
        # A uniform draw below the grey level is a Bernoulli draw of it; torch.bernoulli draws
        # element by element on a CPU and took about twice as long (a tenth of an MLP step).
        x = (torch.rand_like(x) < x).to(x.dtype)
    # bf16 autocast (CPU or CUDA) as the policy says; no weight cache, which a CUDA graph capture does not allow.
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16, cache_enabled=False):
        terms = objective_terms(model, x, beta, recon_loss, objective, k, nll, free_bits)
    optimizer.zero_grad(set_to_none=True)
    terms.loss.backward()
    optimizer.step()
    return terms
# --8<-- [end:step]


# ---------------------------------------------------------------------------------------------
# Setting up a run.

def prepare_splits(config: TrainConfig, device: torch.device, loaded: Splits | None = None) -> Splits:
    """The three splits on the device (`loaded`, or read from config.data_dir); under --binarize,
    validation and test get one fixed draw, made on the CPU before the move, so that every device
    scores the same images. `loaded` itself is never changed (a report shares it between runs)."""
    if loaded is None:
        loaded = load_splits(config.dataset, config.data_dir, config.val_split, config.seed, config.train_limit)
    splits = loaded.to("cpu")   # a new Splits: the binarized draws below replace its fields only
    for split, x in (("training", splits.train_x), ("validation", splits.val_x)):
        if len(x) == 0:
            raise ConfigError("val_split", f"{config.val_split} leaves no {split} example; "
                                           "choose a value such as 0.1")
    if config.binarize:
        splits.val_x = binarized(splits.val_x, config.seed + 1)
        splits.test_x = binarized(splits.test_x, config.seed + 2)
    return splits.to(device)


def build_optimizer(model: VAE, config: TrainConfig, policy: SpeedPolicy, device: torch.device) -> torch.optim.Adam:
    """Adam as the policy says: fused where available; for a captured step, capturable with a tensor lr."""
    lr: float | torch.Tensor = config.lr
    if policy.cuda_graph:
        lr = torch.tensor(config.lr, device=device)
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=config.weight_decay,
                            fused=policy.fused_adam, capturable=policy.cuda_graph)


def build_model_for(config: TrainConfig, policy: SpeedPolicy, splits: Splits, device: torch.device) -> VAE:
    model = build_model(config.arch, config.latent_dim, config.hidden, config.activation).to(device)
    if config.init_output_bias:
        init_output_bias(model, splits.train_x.mean(0))
    return policy.prepare(model)     # memory layout; under bf16, the layers kept in fp32


@dataclass
class Run:
    """Everything one training run works with, built once by `train`."""
    config: TrainConfig
    out_dir: Path
    checkpoint_dir: Path            # best.pt and last.pt; out_dir unless the caller keeps them elsewhere
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
        return self.checkpoint_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.checkpoint_dir / "best.pt"

    def step(self, x: torch.Tensor, beta: float | torch.Tensor) -> ELBOTerms:
        c = self.config
        return train_step(self.model, self.optimizer, x, beta, c.recon_loss, c.objective, c.k, c.binarize,
                          self.policy.bf16, self.policy.bernoulli_nll, c.free_bits)


def restore_run(run: Run, saved: dict[str, Any]) -> None:
    """Weights, optimizer, RNG streams and bookkeeping of last.pt, to continue after its epoch."""
    load_checkpoint(run.last_path, run.model)
    load_optimizer_state(run.optimizer, saved["optimizer"], run.policy, run.device)
    restore_rng(saved["rng"], run.shuffle, run.device)
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
    c, train_x, steps = run.config, run.splits.train_x, run.steps_per_epoch
    window: list[torch.Tensor] = []           # each step's [loss, elbo, recon, kl] since the last check
    for step in range(1, steps + 1):
        # index_select copies whole rows; x[indices] would gather element by element, twice as slow.
        x = train_x.index_select(0, order[(step - 1) * c.batch_size: step * c.batch_size])
        done = (epoch - 1) * steps + step - 1                 # steps taken before this one
        set_learning_rate(run.optimizer, learning_rate(c, done, steps))
        window.append(run.step(x, kl_weight(c, done, steps)).stacked())   # one small op, no host sync
        if step % CHECK_EVERY_STEPS == 0 or step == steps:
            add_window(acc, window, c.batch_size, len(train_x), step)
            check_finite(run, epoch, acc.first_bad_step)
            bar.set_postfix(loss=f"{acc.sums[0].item() / min(step * c.batch_size, len(train_x)):.2f}")
            bar.update(step - bar.n)
            window = []
# --8<-- [end:epoch]


def add_window(acc: Accumulator, window: list[torch.Tensor], batch_size: int, n_train: int, last_step: int) -> None:
    """Add the terms of the steps first..last_step, weighted by their batch sizes (the epoch's last
    batch may be short), to the sums, and note the first step whose loss was not finite."""
    first_step = last_step - len(window) + 1
    rows = torch.stack(window)
    sizes = [min(batch_size, n_train - (s - 1) * batch_size) for s in range(first_step, last_step + 1)]
    acc.sums.add_((rows * rows.new_tensor(sizes).unsqueeze(1)).sum(0))
    bad = (~torch.isfinite(rows[:, 0])).nonzero()
    if len(bad) and acc.first_bad_step.item() < 0:
        acc.first_bad_step.fill_(first_step + int(bad[0, 0]))


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
    val = evaluate(run.model, run.splits.val_x, c.beta, c.recon_loss, run.policy.eval_batch_size,
                   nll=run.policy.bernoulli_nll)
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
        "elapsed_s": run.elapsed_s, "rng": rng_state(run.shuffle, run.device)})
    run.log(f"epoch {epoch:>3}/{c.epochs}  train -ELBO {train_elbo:8.3f} "
            f"(recon {train_recon:8.3f} + KL {train_kl:6.3f})  val -ELBO {val['elbo']:8.3f} "
            f"(recon {val['recon']:8.3f} + KL {val['kl']:6.3f})  {epoch_time_s:6.1f} s")
# --8<-- [end:after-epoch]


# --8<-- [start:stop]
def stopped(history: list[dict[str, float]], config: TrainConfig) -> bool:
    """The stopping rule: the best validation -ELBO improved by less than `stop_min_gain` nats
    over the last `stop_window` epochs (never with stop_window 0). A pure function of the
    history, so a resumed run decides as the uninterrupted one would."""
    window = config.stop_window
    if window == 0 or len(history) <= window:
        return False
    best_before = min(row["val_elbo"] for row in history[:-window])
    return best_before - min(row["val_elbo"] for row in history) < config.stop_min_gain
# --8<-- [end:stop]


def stop_record(history: list[dict[str, float]], config: TrainConfig) -> dict[str, Any]:
    """How the run ended: `stopped_early` by the rule, or `hit_cap` (ran --epochs with the rule on)."""
    stopped_early = stopped(history, config)
    return {"epochs_trained": len(history), "stopped_early": stopped_early,
            "hit_cap": config.stop_window > 0 and not stopped_early,
            "stop_rule": {"window_epochs": config.stop_window, "min_gain_nats": config.stop_min_gain}}


def final_metrics(run: Run) -> dict[str, Any]:
    """The best epoch's weights evaluated on validation and test (β = 1: the true ELBO), and timings."""
    if run.best_epoch == 0:
        raise TrainingError(f"{run.out_dir} has no trained epoch; train with --epochs 1 or more")
    load_checkpoint(run.best_path, run.model)
    run.model.eval()
    c, batch = run.config, run.policy.eval_batch_size
    times = [row["epoch_time_s"] for row in run.history]
    return {
        "params": count_parameters(run.model), "best_epoch": run.best_epoch, "epochs": c.epochs,
        "val": evaluate(run.model, run.splits.val_x, 1.0, c.recon_loss, batch, nll=run.policy.bernoulli_nll),
        "test": evaluate(run.model, run.splits.test_x, 1.0, c.recon_loss, batch, nll=run.policy.bernoulli_nll),
        "train_examples": len(run.splits.train_x), "wall_time_s": run.elapsed_s,
        "epoch_time_s": run.elapsed_s / max(len(run.history), 1),
        "device": str(run.device), "device_name": device_name(run.device),
        # The first epoch carries one-off costs (allocator warm-up, kernel selection), so the
        # typical epoch is the median, and the first is stated on its own.
        "epoch_time_median_s": statistics.median(times), "first_epoch_time_s": times[0],
        "precision": run.policy.precision,      # of the training step: fp32, or bf16 autocast
    }


def start_run(config: TrainConfig, out_dir: Path, resume: bool, log: Callable[[str], None],
              progress: bool | None, splits: Splits | None = None, checkpoint_dir: Path | None = None) -> Run:
    """Check a resume, load the data (unless given), build model and optimizer, and restore last.pt's state."""
    checkpoint_dir = out_dir if checkpoint_dir is None else checkpoint_dir
    last = checkpoint_dir / "last.pt"
    device = select_device(config.device)
    configure_cuda(device)      # fp32 without TF32, deterministic cuDNN, the device made current
    saved = resume_checkpoint(config, last) if resume and last.exists() else None
    seed_everything(config.seed)
    policy = SpeedPolicy.for_model(config.arch, device, config.eval_batch_size, config.cuda_graph, config.precision)
    splits = prepare_splits(config, device, splits)
    model = build_model_for(config, policy, splits, device)
    run = Run(config=config, out_dir=out_dir, checkpoint_dir=checkpoint_dir, device=device, policy=policy,
              splits=splits, model=model,
              optimizer=build_optimizer(model, config, policy, device),
              shuffle=torch.Generator().manual_seed(config.seed), log=log, progress=progress)
    if saved is not None:
        restore_run(run, saved)
    return run


# --8<-- [start:train]
def train(config: TrainConfig, out_dir: str | Path, resume: bool = False,
          on_epoch: EpochCallback | None = None, log: Callable[[str], None] = print,
          progress: bool | None = None, splits: Splits | None = None, checkpoint_dir: str | Path | None = None,
          measure: MeasureCallback | None = None) -> TrainResult:
    """Train a VAE as configured, writing config.json, history.csv and metrics.json into `out_dir`
    and best.pt, last.pt into `checkpoint_dir` (default: `out_dir`).

    `splits`: the data already loaded (default: read from config.data_dir). `measure`: extra
    fields for metrics.json, measured on the best model before the file is written."""
    config.validate()
    run = start_run(config, Path(out_dir), resume, log, progress, splits,
                    None if checkpoint_dir is None else Path(checkpoint_dir))
    run_info = {"config": config.to_dict(), "device": str(run.device), "device_name": device_name(run.device),
                "environment": environment()}
    artifacts.write_json(run.out_dir / "config.json", {**run_info, "wall_time_s": run.elapsed_s})
    if run.start_epoch == 0 and on_epoch is not None:
        on_epoch(0, run.model, run.splits)

    acc = Accumulator(run.device)
    for epoch in range(run.start_epoch + 1, config.epochs + 1):
        if stopped(run.history, config):      # also when a resumed run had already stopped
            break
        started = time.perf_counter()
        train_terms = train_epoch(run, epoch, acc)
        end_epoch(run, epoch, train_terms, started)
        if on_epoch is not None:
            on_epoch(epoch, run.model, run.splits)

    result = finish_run(run, measure)
    artifacts.write_json(run.out_dir / "config.json", {**run_info, "wall_time_s": run.elapsed_s})
    return result
# --8<-- [end:train]


def finish_run(run: Run, measure: MeasureCallback | None) -> TrainResult:
    """metrics.json: the best model's final metrics and the caller's measures of it, written once."""
    metrics = {**final_metrics(run), **stop_record(run.history, run.config)}
    result = TrainResult(model=run.model, metrics=metrics, history=run.history, splits=run.splits,
                         config=run.config, out_dir=run.out_dir, device=run.device)
    if measure is not None:
        metrics.update(measure(result))
    artifacts.write_json(run.out_dir / "metrics.json", metrics)
    run.log(f"best epoch {run.best_epoch}: test -ELBO {metrics['test']['elbo']:.3f} "
            f"(recon {metrics['test']['recon']:.3f} + KL {metrics['test']['kl']:.3f}), "
            f"{metrics['params']:,} parameters, {run.elapsed_s:.1f} s")
    return result
