"""The GPU benchmark: per model, the eager step against the captured step (one and several
steps per replay) and bf16 autocast; the GPU's own matmul FLOP/s in the same rounds; and the
standard report's wall time. Every variant runs `training.train_step`."""

from __future__ import annotations

from typing import Any, Callable

import torch

from ..data import load_splits
from ..plumbing.device import SpeedPolicy
from .cpu import BenchConfig, hardware
from .pipelines import BATCH, EPOCH_IMAGES, MODELS, project_train_step
from .timing import interleave, matmul_flops, ratio, step_flops, summary, time_report


def step_variants(arch: str, latent_dim: int, train_x: torch.Tensor, device: torch.device,
                  seed: int = 0) -> dict[str, Callable[[], None]]:
    """The training steps to compare on CUDA, each under its own SpeedPolicy."""
    eager = SpeedPolicy.for_model(arch, device, cuda_graph=False)
    captured = SpeedPolicy.for_model(arch, device, cuda_graph=True)
    n = captured.steps_per_replay
    policies = {"eager": eager, "captured, 1 step per replay": captured.replace(steps_per_replay=1),
                f"captured, {n} steps per replay": captured,
                f"captured, {n} steps per replay, bf16": captured.replace(bf16=True)}
    return {label: project_train_step(arch, latent_dim, train_x, device, policy=policy, seed=seed)
            for label, policy in policies.items()}


def measure_model(cfg: BenchConfig, arch: str, latent_dim: int, train_x: torch.Tensor,
                  device: torch.device) -> tuple[dict[str, Any], float]:
    """Images/s and s/epoch of each step variant, and the best fp32 matmul FLOP/s of the same rounds."""
    variants: dict[str, Callable[[], None]] = step_variants(arch, latent_dim, train_x, device, cfg.seed)
    images = {label: getattr(fn, "images", BATCH) for label, fn in variants.items()}
    n = max(cfg.gemm_sizes)
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    variants["gemm"] = lambda: a @ b
    times = interleave(variants, cfg.rounds, cfg.steps, cfg.warmup, device)
    gemm_flop_per_s = 2 * n ** 3 / min(times.pop("gemm"))
    entry: dict[str, Any] = {}
    for label, seconds in times.items():
        entry[label] = summary(seconds, images[label])
        entry[label]["s_per_epoch"] = EPOCH_IMAGES / entry[label]["images_per_s"]
        # Calls of the captured variants train more images than an eager call: compare per image.
        entry[label]["speedup_over_eager"] = (entry[label]["images_per_s"] / entry["eager"]["images_per_s"]
                                              if "eager" in entry else 1.0)
    flops = step_flops(variants["eager"])
    entry["flops_per_image"] = flops / BATCH
    entry["eager_vs_captured_1"] = ratio(times, "eager", "captured, 1 step per replay")
    return entry, gemm_flop_per_s


def run_cuda_bench(cfg: BenchConfig, device: torch.device, log: Callable[[str], None] = print) -> dict[str, Any]:
    splits = load_splits("mnist", cfg.data_dir, seed=42).to(device)
    result: dict[str, Any] = {"device": device.type, "hardware": hardware(device),
                              "method": {"warmup_calls": cfg.warmup, "rounds": cfg.rounds, "calls_per_round": cfg.steps,
                                         "batch_size": BATCH, "epoch_images": EPOCH_IMAGES,
                                         "gemm_sizes": list(cfg.gemm_sizes), "statistic": "best round; median kept"}}
    training, gemm = {}, [matmul_flops(cfg.gemm_sizes, device=device)]
    for name, spec in MODELS.items():
        log(f"bench (cuda): training steps, {name} model")
        training[name], limit = measure_model(cfg, spec["arch"], spec["latent_dim"], splits.train_x, device)
        gemm.append(limit)
    result["training"] = training
    result["matmul_flop_per_s"] = max(gemm)
    result["matmul_bf16_flop_per_s"] = matmul_flops(cfg.gemm_sizes, device=device, dtype=torch.bfloat16)
    if cfg.report:
        log("bench (cuda): python -m vae report --profile standard")
        result["report_standard"] = time_report(cfg.data_dir, cfg.report_timeout_s, "standard")
    else:
        result["report_standard"] = {"wall_s": None, "reason": "skipped (--no-report)"}
    return result
