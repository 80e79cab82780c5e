"""The CPU benchmark (and the eager rows on any device): the DataLoader baseline against the project's path,
the levers (bf16 among them), each step's limit at its own shapes (`roofline`) and the quick report's wall time."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..data import load_splits
from ..plumbing.device import BF16_MAX_ELBO_COST_NATS, SpeedPolicy, cpu_bf16_native, device_name, environment, preferred_eval_batch
from .pipelines import (BATCH, EPOCH_IMAGES, MODELS, project_eval, project_step_parts, project_train_step,
                        seed_eval, seed_train_step)
from .roofline import measure_limit, measure_peak
from .examples import compare_with_examples
from .timing import interleave, ratio, step_flops, summary, sync, time_report, with_threads


@dataclass
class BenchConfig:
    data_dir: str = "data"
    out_dir: str = "docs/assets/bench"
    warmup: int = 5              # untimed steps per variant
    rounds: int = 8              # rounds of the two main training pipelines
    steps: int = 10              # timed steps per round: 80 timed steps per main pipeline
    lever_warmup: int = 2
    lever_rounds: int = 3        # rounds of the lever variants
    lever_steps: int = 8
    eval_images: int = 2000      # images per evaluation round
    eval_rounds: int = 4
    gemm_sizes: tuple[int, ...] = (2048, 3072, 4096)   # the GPU bench's dense matmul
    peak_sizes: tuple[int, ...] = (1024, 2048)          # the CPU's square GEMMs for the peak (roofline)
    limit_repeats: int = 5       # rounds per operation of the step's limit (roofline)
    compile: bool = True         # measure torch.compile (its compile time too)
    report: bool = True          # time `python -m vae report --profile quick`
    report_timeout_s: float = 900.0
    examples_dir: str | None = None   # a copy of pytorch/examples: time its vae/main.py against ours
    examples_epochs: int = 10
    seed: int = 0


def hardware(device: torch.device) -> dict[str, Any]:
    """The bench's view of `device.environment()`, the machine record every run writes."""
    env = environment()
    info = {"device": device.type, "cpu": env["cpu"], "cpu_cores": env["cpu_cores"],
            "torch_threads": env["cpu_threads"], "torch": env["torch"], "python": env["python"],
            "platform": env["platform"]}
    if device.type == "cuda":
        info["gpu"] = device_name(device)
    return info


def run_bench(cfg: BenchConfig, device: torch.device | None = None,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    device = device or torch.device("cpu")
    splits = load_splits("mnist", cfg.data_dir, seed=42).to(device)
    result: dict[str, Any] = {"device": device.type, "hardware": hardware(device),
                              "method": {"warmup_steps": cfg.warmup, "rounds": cfg.rounds, "steps_per_round": cfg.steps,
                                         "lever_rounds": cfg.lever_rounds, "eval_images": cfg.eval_images,
                                         "eval_rounds": cfg.eval_rounds, "batch_size": BATCH,
                                         "epoch_images": EPOCH_IMAGES, "statistic": "best round; median kept"}}
    training = result["training"] = measure_training(cfg, splits.train_x, device, log)
    result["precision"] = {"cpu_bf16_native": cpu_bf16_native(), "max_elbo_cost_nats": BF16_MAX_ELBO_COST_NATS,
                           **{name: SpeedPolicy.for_model(name, device).precision for name in MODELS}}
    log("bench: the machine's peak (square GEMMs) and each step's products alone")
    result["peak"] = {"sizes": list(cfg.peak_sizes), **measure_peak(cfg.peak_sizes, repeats=cfg.limit_repeats)}
    result["roofline"] = {name: roofline(cfg, name, spec, splits.train_x, device, training[name], result["peak"])
                          for name, spec in MODELS.items()}
    result["step_parts"] = measure_step_parts(cfg, splits.train_x, device, result["roofline"], log)
    evaluation = result["evaluation"] = measure_evaluation(cfg, splits.test_x, device, log)
    result["levers"] = measure_levers(cfg, splits, device, log)

    result["conv_speedup"] = training["conv"]["speedup"]["best"]
    result["mlp_speedup"] = training["mlp"]["speedup"]["best"]
    result["conv_eval_speedup"] = evaluation["conv"]["speedup"]["best"]
    result["mlp_eval_speedup"] = evaluation["mlp"]["speedup"]["best"]
    if cfg.report:
        log("bench: python -m vae report --profile quick")
        result["report_quick"] = time_report(cfg.data_dir, cfg.report_timeout_s)
    else:
        result["report_quick"] = {"wall_s": None, "reason": "skipped (--no-report)"}
    if cfg.examples_dir:
        log("bench: pytorch/examples vae/main.py against python -m vae train, one after the other")
        result["examples"] = compare_with_examples(cfg.examples_dir, cfg.data_dir, cfg.examples_epochs)
    result["targets"] = targets(result)
    result["bf16"] = bf16_levers(result)
    return result


def measure_training(cfg: BenchConfig, train_x: torch.Tensor, device: torch.device,
                     log: Callable[[str], None]) -> dict[str, Any]:
    """Seed-style against the project's eager step, per model, interleaved."""
    training: dict[str, Any] = {}
    for name, spec in MODELS.items():
        log(f"bench: training, {name} model")
        variants = {"seed": seed_train_step(**spec, data_dir=cfg.data_dir, device=device, seed=cfg.seed),
                    "project": project_train_step(**spec, train_x=train_x, device=device, seed=cfg.seed,
                                                  policy=SpeedPolicy.for_model(name, device, cuda_graph=False))}
        times = interleave(variants, cfg.rounds, cfg.steps, cfg.warmup, device)
        entry = {k: summary(v, BATCH) for k, v in times.items()}
        for k in entry:
            entry[k]["s_per_epoch"] = EPOCH_IMAGES / entry[k]["images_per_s"]
        entry["speedup"] = ratio(times, "seed", "project")
        training[name] = entry
        flops = step_flops(variants["project"])
        training[name]["flops_per_step"] = flops
        training[name]["flops_per_image"] = flops / BATCH
        training[name]["flop_per_s"] = flops / entry["project"]["s_per_call"]
    return training


def roofline(cfg: BenchConfig, name: str, spec: dict, train_x: torch.Tensor, device: torch.device,
             training: dict[str, Any], peak: dict[str, Any]) -> dict[str, Any]:
    """The step's FLOP/s (measured above) in the precision it computes in, against the limit it
    cannot exceed (`limit_flop_per_s`: the fastest rate of the square GEMMs and of its own products
    alone; roofline.py says why it bounds) and against its own products alone (not a bound)."""
    policy = SpeedPolicy.for_model(name, device, cuda_graph=False)
    limit = measure_limit(project_train_step(**spec, train_x=train_x, device=device, seed=cfg.seed, policy=policy),
                          repeats=cfg.limit_repeats)
    own = limit[policy.precision]
    fastest_own = max((row["flop_per_s"] or 0.0 for row in own["by_operation"]), default=0.0)
    bound = max(peak[policy.precision], fastest_own)
    step = training["flop_per_s"]
    return {**limit, "precision": policy.precision, "step_flop_per_s": step, "limit_flop_per_s": bound,
            "fraction_of_limit": step / bound,
            "fraction_of_own_products": step / own["flop_per_s"] if own["flop_per_s"] else None}


def measure_step_parts(cfg: BenchConfig, train_x: torch.Tensor, device: torch.device,
                       roofline: dict[str, Any], log: Callable[[str], None]) -> dict[str, Any]:
    """Where each model's eager step spends its time, in the precision the policy picks: the step,
    its forward and loss, its backward (forward, loss and backward less forward and loss), the
    optimizer's step alone, and the part of forward and backward that is not its matrix products
    and convolutions (less their time alone at the step's shapes, `roofline`). Seconds per step,
    each from its fastest round."""
    parts: dict[str, Any] = {}
    for name, spec in MODELS.items():
        log(f"bench: the parts of the {name} step")
        policy = SpeedPolicy.for_model(name, device, cuda_graph=False)
        variants = project_step_parts(**spec, train_x=train_x, device=device, policy=policy, seed=cfg.seed)
        best = {part: min(times) for part, times in
                interleave(variants, cfg.lever_rounds, cfg.lever_steps, cfg.lever_warmup, device).items()}
        forward_backward, products = best["forward, loss and backward"], roofline[name][policy.precision]["s"]
        parts[name] = {"precision": policy.precision, "step_s": best["step"], "forward_s": best["forward and loss"],
                       "backward_s": forward_backward - best["forward and loss"], "optimizer_s": best["optimizer step"],
                       "products_s": products, "beyond_products_s": forward_backward - products}
    return parts


def measure_evaluation(cfg: BenchConfig, test_x: torch.Tensor, device: torch.device,
                       log: Callable[[str], None]) -> dict[str, Any]:
    """Seed-style (no_grad, batch 128, DataLoader) against `evaluate`, per model."""
    evaluation: dict[str, Any] = {}
    for name, spec in MODELS.items():
        log(f"bench: evaluation, {name} model")
        variants = {"seed": seed_eval(**spec, data_dir=cfg.data_dir, device=device, n_images=cfg.eval_images),
                    "project": project_eval(**spec, test_x=test_x, device=device, n_images=cfg.eval_images)}
        times = interleave(variants, cfg.eval_rounds, 1, 1, device)
        evaluation[name] = {k: summary(v, cfg.eval_images) for k, v in times.items()}
        evaluation[name]["speedup"] = ratio(times, "seed", "project")
    return evaluation


def measure_levers(cfg: BenchConfig, splits, device: torch.device, log: Callable[[str], None]) -> list[dict]:
    levers: list[dict] = []
    for arch, spec in MODELS.items():
        log(f"bench: levers, {arch} training")
        levers += training_levers(cfg, arch, spec, splits.train_x, device)

    log("bench: levers, evaluation")
    for name, spec in MODELS.items():
        fmt = SpeedPolicy.for_model(name, device).memory_format
        evs = {"project": project_eval(**spec, test_x=splits.test_x, device=device, n_images=cfg.eval_images)}
        for batch in ((128, 256, 1000) if name == "conv" else (128, 1000)):
            for label, mf in (("NCHW", torch.contiguous_format), ("channels-last", torch.channels_last)):
                if name == "mlp" and label == "channels-last":
                    continue
                evs[f"batch {batch}" + (f", {label}" if name == "conv" else "")] = project_eval(**spec, test_x=splits.test_x, device=device,
                                                              n_images=cfg.eval_images, memory_format=mf,
                                                              batch_size=batch)
        times = interleave(evs, cfg.eval_rounds, 1, 1, device)
        for lever in evs:
            if lever == "project":
                continue
            project = f"project ({_format_name(fmt)}, batch {preferred_eval_batch(name, device)})"
            levers.append({"group": f"{name} evaluation", "lever": lever, "vs": project,
                           "ratio": min(times["project"]) / min(times[lever]),
                           "images_per_s": cfg.eval_images / min(times[lever])})
    return levers


def training_levers(cfg: BenchConfig, arch: str, spec: dict, train_x: torch.Tensor,
                    device: torch.device) -> list[dict]:
    policy = SpeedPolicy.for_model(arch, device, cuda_graph=False)
    group, vs = f"{arch} training", f"project ({_format_name(policy.memory_format)}, {policy.precision})"
    make = lambda **kw: project_train_step(**spec, train_x=train_x, device=device, **kw)  # noqa: E731
    variants = {"project": make(policy=policy), "unfused Adam": make(policy=policy.replace(fused_adam=False))}
    if arch == "conv":
        variants["contiguous (NCHW)"] = make(policy=policy.replace(memory_format=torch.contiguous_format))
        variants["channels-last"] = make(policy=policy.replace(memory_format=torch.channels_last))
    # The other precision than the policy's: bf16 autocast where it uses fp32, and the reverse.
    other = "fp32" if policy.bf16 else "bf16 autocast"
    variants[other] = make(policy=policy.replace(bf16=not policy.bf16))
    if device.type == "cpu" and torch.get_num_threads() > 1:
        variants["1 thread"] = with_threads(1, make(policy=policy))
    compile_s, compile_error = None, None
    if cfg.compile:
        try:
            compiled = make(policy=policy, compiled=True)
            started = time.perf_counter()
            compiled()          # the first call compiles forward and backward
            sync(device)
            compile_s = time.perf_counter() - started
            variants["torch.compile"] = compiled
        except Exception as err:  # no C++ compiler, unsupported platform: record why
            compile_error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:200]
    times = interleave(variants, cfg.lever_rounds, cfg.lever_steps, cfg.lever_warmup, device)
    levers = []
    for name in variants:
        if name != "project":
            levers.append({"group": group, "lever": name, "vs": vs,
                           "ratio": min(times["project"]) / min(times[name]),
                           "images_per_s": BATCH / min(times[name])})
            if name == "torch.compile":
                levers[-1]["compile_s"] = compile_s
    if compile_error is not None:
        levers.append({"group": group, "lever": "torch.compile", "vs": vs, "ratio": None, "reason": compile_error})
    return levers


def _format_name(memory_format) -> str:
    return "channels-last" if memory_format == torch.channels_last else "NCHW"


# The targets of issue 22, as ratios of one run: (result key, at least).
TARGETS = {
    "conv training vs the DataLoader baseline": ("conv_speedup", 1.3),
    "MLP training vs the DataLoader baseline": ("mlp_speedup", 3.0),
    "conv evaluation vs the DataLoader baseline": ("conv_eval_speedup", 1.0),
    "MLP evaluation vs the DataLoader baseline": ("mlp_eval_speedup", 2.0),
}


# Against pytorch/examples' vae/main.py (with --examples-dir): wall time, at a test -ELBO no worse
# than theirs plus this many nats.
EXAMPLES_SPEEDUP, EXAMPLES_MAX_ELBO_COST_NATS = 3.0, 1.0


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its measured ratio and whether the ratio reaches it."""
    rows = [{"target": name, "at_least": least, "measured": result[key], "met": bool(result[key] >= least)}
            for name, (key, least) in TARGETS.items()]
    examples = result.get("examples")
    if examples and examples.get("speedup") is not None:
        cost = examples["test_elbo_difference"]
        rows.append({"target": f"training wall time vs pytorch/examples vae/main.py ({examples['epochs']} epochs, "
                               f"test -ELBO at most {EXAMPLES_MAX_ELBO_COST_NATS:g} nat worse)",
                     "at_least": EXAMPLES_SPEEDUP, "measured": examples["speedup"],
                     "met": bool(examples["speedup"] >= EXAMPLES_SPEEDUP and cost is not None
                                 and cost <= EXAMPLES_MAX_ELBO_COST_NATS)})
    return rows


def bf16_levers(result: dict[str, Any]) -> dict[str, Any]:
    """Per model: how bf16 autocast compared with fp32 in this run, and whether the policy uses it."""
    out = {}
    for name in MODELS:
        lever = next((lv for lv in result["levers"] if lv["group"] == f"{name} training"
                      and lv["lever"] in ("bf16 autocast", "fp32") and lv.get("ratio")), None)
        if lever is None:
            continue
        chosen = result["precision"][name] == "bf16"
        # ratio: the lever against the project; as bf16 over fp32 either way round
        bf16_over_fp32 = 1 / lever["ratio"] if chosen else lever["ratio"]
        out[name] = {"bf16_over_fp32": bf16_over_fp32, "chosen": chosen, "wins": bf16_over_fp32 > 1}
    return out
