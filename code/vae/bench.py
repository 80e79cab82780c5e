"""Benchmark: the seed report's data pipeline against the project's own, side by side in one process.

`python -m vae bench` (`make bench`) times, on the machine it runs on:

* training images/s and evaluation images/s of the seed-style pipeline (torchvision `MNIST` with a
  per-item `ToTensor`, `DataLoader(batch_size=128, shuffle=True, num_workers=0)`, default memory
  format, evaluation under `torch.no_grad()` with batch 128) and of the project's path (tensors
  resident on the device, batches by index, the memory format of `models.preferred_memory_format`,
  `evaluation.evaluate` under `inference_mode`), for the reference ConvVAE and the MLP VAE;
* the FLOP/s of one conv training step (counted by `torch.utils.flop_counter`) as a fraction of
  the dense fp32 matmul FLOP/s measured in the same rounds;
* the levers (memory format, threads, fused Adam, `torch.compile`, evaluation batch size), each
  as a ratio against the project's path, measured in the same interleaved rounds;
* the wall time of `python -m vae report --profile quick`, as a subprocess.

Timing: a few warm-up steps, then rounds in which every variant of a group runs the same number
of steps one after the other, so all variants see the same machine. The machine may be shared:
noise only ever adds time, so the headline numbers use each variant's fastest round (its median
round is kept too). Seconds per epoch are extrapolated from the timed steps to 54,000 images.
Nothing here is asserted on a time; the tests run this machinery with a handful of steps.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from . import artifacts, evaluation
from .data import load_splits
from .evaluation import evaluate
from .losses import negative_elbo
from .models import build_model, preferred_memory_format
from .training import FUSED_ADAM_DEVICES

EPOCH_IMAGES = 54_000          # the reference training split: 60,000 images less 10% validation
BATCH = 128
MODELS = {"conv": dict(arch="conv", latent_dim=2), "mlp": dict(arch="mlp", latent_dim=20)}


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
    gemm_sizes: tuple[int, ...] = (2048, 3072, 4096)
    compile: bool = True         # measure torch.compile (its compile time too)
    report: bool = True          # time `python -m vae report --profile quick`
    report_timeout_s: float = 900.0
    seed: int = 0


# ---------------------------------------------------------------------------------------------
# The machine's dense fp32 matmul limit.

def matmul_flops(sizes: tuple[int, ...] = (2048, 3072, 4096), repeats: int = 3) -> float:
    """Best FLOP/s of several large square fp32 GEMMs (torch.mm) on the CPU."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        for _ in range(repeats):
            started = time.perf_counter()
            a @ b
            best = max(best, 2 * n ** 3 / (time.perf_counter() - started))
    return best


# ---------------------------------------------------------------------------------------------
# The two pipelines. A "step" trains on one batch; an "eval" evaluates `eval_images` test images.

def _new_model(arch: str, latent_dim: int, device: torch.device, memory_format=torch.contiguous_format,
               seed: int = 0):
    torch.manual_seed(seed)
    return build_model(arch, latent_dim).to(device).to(memory_format=memory_format)


def seed_loader(data_dir: str | Path, train: bool, shuffle: bool):
    """The seed report's input pipeline: a per-item ToTensor behind a single-process DataLoader."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    dataset = datasets.MNIST(str(data_dir), train=train, download=False, transform=transforms.ToTensor())
    return DataLoader(dataset, batch_size=BATCH, shuffle=shuffle, num_workers=0)


def _endless(loader):
    while True:
        yield from loader


def seed_train_step(arch: str, latent_dim: int, data_dir: str | Path, device: torch.device,
                    seed: int = 0) -> Callable[[], None]:
    model = _new_model(arch, latent_dim, device, seed=seed).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = _endless(seed_loader(data_dir, train=True, shuffle=True))

    def step() -> None:
        x, _ = next(batches)
        x = x.to(device)
        logits, mu, logvar = model(x)
        loss = negative_elbo(logits, x, mu, logvar).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return step


def project_train_step(arch: str, latent_dim: int, train_x: torch.Tensor, device: torch.device,
                       memory_format=None, fused_adam: bool | None = None, compiled: bool = False,
                       seed: int = 0) -> Callable[[], None]:
    """The body of `training.train`'s loop, on `train_x` already resident on `device`."""
    if memory_format is None:
        memory_format = preferred_memory_format(arch, device)
    model = _new_model(arch, latent_dim, device, memory_format, seed).train()
    if fused_adam is None:
        fused_adam = device.type in FUSED_ADAM_DEVICES
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused_adam)
    forward = torch.compile(model) if compiled else model
    shuffle = torch.Generator().manual_seed(seed)
    sums = torch.zeros(4, device=device)
    state = {"order": torch.randperm(len(train_x), generator=shuffle).to(device), "at": 0}

    def step() -> None:
        if state["at"] + BATCH > len(train_x):
            state["order"], state["at"] = torch.randperm(len(train_x), generator=shuffle).to(device), 0
        x = train_x[state["order"][state["at"]:state["at"] + BATCH]]
        state["at"] += BATCH
        logits, mu, logvar = forward(x)
        terms = negative_elbo(logits, x, mu, logvar)
        optimizer.zero_grad(set_to_none=True)
        terms.loss.backward()
        optimizer.step()
        sums.add_(torch.stack([terms.loss, terms.elbo, terms.recon, terms.kl]).detach() * len(x))
    step.model = model          # type: ignore[attr-defined]
    return step


def seed_eval(arch: str, latent_dim: int, data_dir: str | Path, device: torch.device,
              n_images: int, seed: int = 0) -> Callable[[], None]:
    model = _new_model(arch, latent_dim, device, seed=seed).eval()
    loader = seed_loader(data_dir, train=False, shuffle=False)

    def run() -> None:
        total, seen = 0.0, 0
        with torch.no_grad():
            for x, _ in loader:
                x = x.to(device)
                logits, mu, logvar = model(x)
                total += negative_elbo(logits, x, mu, logvar).elbo.item() * len(x)
                seen += len(x)
                if seen >= n_images:
                    break
    return run


def project_eval(arch: str, latent_dim: int, test_x: torch.Tensor, device: torch.device, n_images: int,
                 memory_format=None, batch_size: int | None = None, seed: int = 0) -> Callable[[], None]:
    if memory_format is None:
        memory_format = preferred_memory_format(arch, device)
    model = _new_model(arch, latent_dim, device, memory_format, seed)
    x = test_x[:n_images]
    if batch_size is None:
        return lambda: evaluate(model, x)

    def run() -> None:
        # A lever: this exact batch size, past evaluate's cap for the conv model on the CPU.
        cap = evaluation.CPU_CONV_EVAL_BATCH
        evaluation.CPU_CONV_EVAL_BATCH = batch_size
        try:
            evaluate(model, x, batch_size=batch_size)
        finally:
            evaluation.CPU_CONV_EVAL_BATCH = cap
    return run


# ---------------------------------------------------------------------------------------------
# Interleaved timing.

def with_threads(n: int, fn: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            fn()
        finally:
            torch.set_num_threads(before)
    return run


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleave(variants: dict[str, Callable[[], None]], rounds: int, repeats: int, warmup: int,
               device: torch.device) -> dict[str, list[float]]:
    """Seconds per call of each variant in each round; every round runs all variants in turn."""
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds):
        # Alternate the order so that no variant always runs right after the same neighbour.
        names = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in names:
            started = time.perf_counter()
            for _ in range(repeats):
                variants[name]()
            _sync(device)
            times[name].append((time.perf_counter() - started) / repeats)
    return times


def _summary(seconds: list[float], images: int) -> dict[str, float]:
    best, median = min(seconds), statistics.median(seconds)
    return {"images_per_s": images / best, "images_per_s_median": images / median,
            "s_per_call": best, "s_per_call_median": median}


def _ratio(times: dict[str, list[float]], slow: str, fast: str) -> dict[str, float]:
    """How many times faster `fast` is than `slow`: best round over best round, and the median
    of the ratios of the same round (both ran minutes apart at most, on the same machine)."""
    paired = [a / b for a, b in zip(times[slow], times[fast])]
    return {"best": min(times[slow]) / min(times[fast]), "paired_median": statistics.median(paired)}


def step_flops(step: Callable[[], None]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


# ---------------------------------------------------------------------------------------------

def hardware(device: torch.device) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"device": device.type, "cpu": cpu, "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def time_report(data_dir: str, timeout_s: float) -> dict[str, Any]:
    """Wall time of `python -m vae report --profile quick` into a scratch folder, or null and why."""
    help_run = subprocess.run([sys.executable, "-m", "vae", "report", "--help"], capture_output=True, text=True)
    if help_run.returncode != 0:
        return {"wall_s": None, "reason": "`python -m vae report` is not available yet"}
    with tempfile.TemporaryDirectory(prefix="bench-report-") as out:
        started = time.perf_counter()
        try:
            run = subprocess.run([sys.executable, "-m", "vae", "report", "--profile", "quick",
                                  "--data-dir", str(data_dir), "--out", out],
                                 capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"wall_s": None, "reason": f"did not finish within {timeout_s:.0f} s"}
        wall = time.perf_counter() - started
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["no message"])[-1]
        return {"wall_s": None, "reason": f"exited with code {run.returncode}: {last}"}
    return {"wall_s": wall, "reason": None}


def run_bench(cfg: BenchConfig, device: torch.device | None = None,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    device = device or torch.device("cpu")
    splits = load_splits("mnist", cfg.data_dir, seed=42).to(device)
    result: dict[str, Any] = {"device": device.type, "hardware": hardware(device),
                              "method": {"warmup_steps": cfg.warmup, "rounds": cfg.rounds, "steps_per_round": cfg.steps,
                                         "lever_rounds": cfg.lever_rounds, "eval_images": cfg.eval_images,
                                         "eval_rounds": cfg.eval_rounds, "batch_size": BATCH,
                                         "epoch_images": EPOCH_IMAGES, "statistic": "best round; median kept"}}
    gemm = [matmul_flops(cfg.gemm_sizes)] if device.type == "cpu" else []

    # 1. Training: seed-style against the project's path, per model, interleaved.
    training: dict[str, Any] = {}
    for name, spec in MODELS.items():
        log(f"bench: training, {name} model")
        variants = {"seed": seed_train_step(**spec, data_dir=cfg.data_dir, device=device, seed=cfg.seed),
                    "project": project_train_step(**spec, train_x=splits.train_x, device=device, seed=cfg.seed)}
        if name == "conv" and device.type == "cpu":
            # One large GEMM per round, so that the matmul limit is measured in the same rounds.
            n = max(cfg.gemm_sizes)
            a, b = torch.randn(n, n), torch.randn(n, n)
            variants["gemm"] = lambda: a @ b
        times = interleave(variants, cfg.rounds, cfg.steps, cfg.warmup, device)
        if "gemm" in times:
            gemm.append(2 * n ** 3 / min(times.pop("gemm")))
        entry = {k: _summary(v, BATCH) for k, v in times.items()}
        for k in entry:
            entry[k]["s_per_epoch"] = EPOCH_IMAGES / entry[k]["images_per_s"]
        entry["speedup"] = _ratio(times, "seed", "project")
        training[name] = entry
        flops = step_flops(variants["project"])
        training[name]["flops_per_step"] = flops
        training[name]["flops_per_image"] = flops / BATCH
        training[name]["flop_per_s"] = flops / entry["project"]["s_per_call"]
    result["training"] = training
    if device.type == "cpu":
        gemm.append(matmul_flops(cfg.gemm_sizes))
        result["matmul_flop_per_s"] = max(gemm)
        result["conv_fraction_of_matmul"] = training["conv"]["flop_per_s"] / result["matmul_flop_per_s"]
    else:
        result["matmul_flop_per_s"] = None
        result["conv_fraction_of_matmul"] = None

    # 2. Evaluation: seed-style (no_grad, batch 128, DataLoader) against `evaluate`.
    evaluation: dict[str, Any] = {}
    for name, spec in MODELS.items():
        log(f"bench: evaluation, {name} model")
        variants = {"seed": seed_eval(**spec, data_dir=cfg.data_dir, device=device, n_images=cfg.eval_images),
                    "project": project_eval(**spec, test_x=splits.test_x, device=device, n_images=cfg.eval_images)}
        times = interleave(variants, cfg.eval_rounds, 1, 1, device)
        evaluation[name] = {k: _summary(v, cfg.eval_images) for k, v in times.items()}
        evaluation[name]["speedup"] = _ratio(times, "seed", "project")
    result["evaluation"] = evaluation

    # 3. Levers, each against the project's path in the same rounds.
    result["levers"] = measure_levers(cfg, splits, device, log)

    result["conv_speedup"] = training["conv"]["speedup"]["best"]
    result["mlp_speedup"] = training["mlp"]["speedup"]["best"]
    result["conv_eval_speedup"] = evaluation["conv"]["speedup"]["best"]
    result["mlp_eval_speedup"] = evaluation["mlp"]["speedup"]["best"]

    # 4. The whole report, quick profile.
    if cfg.report:
        log("bench: python -m vae report --profile quick")
        result["report_quick"] = time_report(cfg.data_dir, cfg.report_timeout_s)
    else:
        result["report_quick"] = {"wall_s": None, "reason": "skipped (--no-report)"}
    result["targets"] = targets(result)
    return result


def measure_levers(cfg: BenchConfig, splits, device: torch.device, log: Callable[[str], None]) -> list[dict]:
    levers: list[dict] = []
    for arch, spec in MODELS.items():
        log(f"bench: levers, {arch} training")
        levers += training_levers(cfg, arch, spec, splits.train_x, device)

    log("bench: levers, evaluation")
    for name, spec in MODELS.items():
        fmt = preferred_memory_format(name, device)
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
            project = f"project ({_format_name(fmt)}, batch {_eval_batch(name, device)})"
            levers.append({"group": f"{name} evaluation", "lever": lever, "vs": project,
                           "ratio": min(times["project"]) / min(times[lever]),
                           "images_per_s": cfg.eval_images / min(times[lever])})
    return levers


def training_levers(cfg: BenchConfig, arch: str, spec: dict, train_x: torch.Tensor,
                    device: torch.device) -> list[dict]:
    group, vs = f"{arch} training", f"project ({_format_name(preferred_memory_format(arch, device))})"
    make = lambda **kw: project_train_step(**spec, train_x=train_x, device=device, **kw)  # noqa: E731
    variants = {"project": make(), "unfused Adam": make(fused_adam=False)}
    if arch == "conv":
        variants["contiguous (NCHW)"] = make(memory_format=torch.contiguous_format)
        variants["channels-last"] = make(memory_format=torch.channels_last)
    if device.type == "cpu" and torch.get_num_threads() > 1:
        variants["1 thread"] = with_threads(1, make())
    compile_s, compile_error = None, None
    if cfg.compile:
        try:
            compiled = make(compiled=True)
            started = time.perf_counter()
            compiled()          # the first call compiles forward and backward
            _sync(device)
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


def _eval_batch(arch: str, device: torch.device) -> int:
    default = 1000      # evaluate's default, and TrainConfig.eval_batch_size
    return min(default, evaluation.CPU_CONV_EVAL_BATCH) if arch == "conv" and device.type == "cpu" else default


def _format_name(memory_format) -> str:
    return "channels-last" if memory_format == torch.channels_last else "NCHW"


TARGETS = {
    "conv training >= 1.3x seed-style": lambda r: r["conv_speedup"] >= 1.3,
    "conv step >= 85% of matmul FLOP/s": lambda r: (r["conv_fraction_of_matmul"] or 0) >= 0.85,
    "MLP training >= 3x seed-style": lambda r: r["mlp_speedup"] >= 3,
    "MLP evaluation >= 2x seed-style": lambda r: r["mlp_eval_speedup"] >= 2,
    "conv evaluation >= 1x seed-style": lambda r: r["conv_eval_speedup"] >= 1,
}


def targets(result: dict[str, Any]) -> dict[str, bool]:
    return {name: bool(check(result)) for name, check in TARGETS.items()}


# ---------------------------------------------------------------------------------------------
# The Markdown table the Performance page includes.

def _hw_line(hw: dict[str, Any]) -> str:
    where = hw.get("gpu") or hw["cpu"]
    return (f"{where}; {hw['cpu_cores']} CPU cores, {hw['torch_threads']} torch threads; "
            f"PyTorch {hw['torch']}, Python {hw['python']} ({hw['platform']})")


def to_markdown(r: dict[str, Any], decisions: dict[str, str] | None = None) -> str:
    decisions = decisions or LEVER_DECISIONS
    m = r["method"]
    lines = [f"Measured on: **{_hw_line(r['hardware'])}**, device `{r['device']}`.", "",
             f"Each pipeline runs {m['warmup_steps']} warm-up steps, then {m['rounds']} rounds of "
             f"{m['steps_per_round']} steps (batch {m['batch_size']}), interleaved with the other pipeline in "
             "the same process; images/s is from the fastest round (the median round in brackets). "
             f"**Seconds per epoch are extrapolated** from those steps to {m['epoch_images']:,} images.", "",
             "| Model | Pipeline | Training images/s | s / epoch | Evaluation images/s |",
             "|---|---|---:|---:|---:|"]
    labels = {"conv": "ConvVAE (latent 2)", "mlp": "MLP 784-400 (latent 20)"}
    for name in MODELS:
        t, e = r["training"][name], r["evaluation"][name]
        for key, label in (("seed", "seed-style (DataLoader + ToTensor)"), ("project", "project")):
            lines.append(f"| {labels[name]} | {label} | {t[key]['images_per_s']:,.0f} "
                         f"({t[key]['images_per_s_median']:,.0f}) | {t[key]['s_per_epoch']:.1f} | "
                         f"{e[key]['images_per_s']:,.0f} ({e[key]['images_per_s_median']:,.0f}) |")
        lines.append(f"| {labels[name]} | **speedup** | **{t['speedup']['best']:.2f}x** | | "
                     f"**{e['speedup']['best']:.2f}x** |")
    lines += [""]
    if r.get("conv_fraction_of_matmul") is not None:
        c = r["training"]["conv"]
        lines += [f"FLOP utilisation: one conv training step costs {c['flops_per_image'] / 1e6:.1f} MFLOP per image "
                  "(counted by `torch.utils.flop_counter`) and runs at "
                  f"{c['flop_per_s'] / 1e9:.0f} GFLOP/s; the best dense fp32 matmul (`torch.mm`, "
                  f"{'/'.join(str(s) for s in m.get('gemm_sizes', ())) or 'large'} GEMMs in the same run) reaches "
                  f"{r['matmul_flop_per_s'] / 1e9:.0f} GFLOP/s: **{100 * r['conv_fraction_of_matmul']:.0f}% of the "
                  "matmul limit**"
                  + (" (above 100%: `torch.mm` goes through MKL, whose fp32 GEMM reaches less of this CPU than "
                     "oneDNN's convolution kernels do, so it is a practical reference rather than the hardware peak)"
                     if r["conv_fraction_of_matmul"] > 1 else "") + ".", ""]
        mlp = r["training"]["mlp"]
        lines += [f"The MLP step costs {mlp['flops_per_image'] / 1e6:.1f} MFLOP per image and runs at "
                  f"{mlp['flop_per_s'] / 1e9:.0f} GFLOP/s ({100 * mlp['flop_per_s'] / r['matmul_flop_per_s']:.0f}% "
                  "of the matmul limit): its small GEMMs (128x784x400) and per-op dispatch bound it.", ""]
    lines += ["Why the conv speedup is modest: the seed-style DataLoader adds a few milliseconds per batch to a "
              "convolution step that is already compute-bound near the machine's fp32 limit, so removing the "
              "loader cannot give much more; a 3x MLP speedup would need the MLP step at about the matmul limit.",
              ""]
    rep = r.get("report_quick", {})
    lines += [f"`python -m vae report --profile quick`, end to end: "
              + (f"**{rep['wall_s']:.0f} s**." if rep.get("wall_s") is not None else f"not measured ({rep.get('reason')})."), ""]
    lines += ["### Levers", "",
              "Each lever against the project's path in the same interleaved rounds; ratio > 1 means the lever "
              "is faster.", "",
              "| Group | Lever | vs | Ratio | images/s | Kept? |", "|---|---|---|---:|---:|---|"]
    for lv in r["levers"]:
        ratio = f"{lv['ratio']:.2f}x" if lv.get("ratio") is not None else f"n/a ({lv.get('reason')})"
        if lv.get("compile_s") is not None:
            ratio += f" (compile {lv['compile_s']:.0f} s)"
        ips = f"{lv['images_per_s']:,.0f}" if lv.get("images_per_s") else ""
        decision = decisions.get(f"{lv['group']}: {lv['lever']}", "")
        lines.append(f"| {lv['group']} | {lv['lever']} | {lv['vs']} | {ratio} | {ips} | {decision} |")
    lines += ["", "### Targets (ratios in this run)", "", "| Target | Met? |", "|---|---|"]
    lines += [f"| {name} | {'yes' if ok else 'no'} |" for name, ok in r["targets"].items()]
    return "\n".join(lines) + "\n"


# What the code does with each lever, and why (decided from the runs in the commit messages).
LEVER_DECISIONS: dict[str, str] = {
    "conv training: contiguous (NCHW)": "no: channels-last is kept for conv on the CPU",
    "conv training: channels-last": "yes (models.preferred_memory_format); this row is the project's own "
                                    "configuration again, so its distance from 1.00x shows the noise of the run",
    "conv training: unfused Adam": "no: the project uses fused Adam on CPU and CUDA",
    "conv training: 1 thread": "no: default threads (one per core); 1 thread only wins when the machine is oversubscribed",
    "mlp training: unfused Adam": "no: the project uses fused Adam on CPU and CUDA",
    "mlp training: 1 thread": "no: default threads",
    "mlp training: torch.compile": "no: compile time, and the step is GEMM- and dispatch-bound",
    "conv training: torch.compile": "no: no gain over eager here, and it costs the compile time",
    "conv evaluation: batch 256, channels-last": "yes (evaluate caps conv batches at 256 on the CPU)",
    "conv evaluation: batch 1000, channels-last": "no: activations fall out of cache",
    "mlp evaluation: batch 1000": "yes (the default)",
    "mlp evaluation: batch 128": "no",
}


def main(cfg: BenchConfig, device: torch.device | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    started = time.perf_counter()
    result = run_bench(cfg, device, log)
    result["method"]["gemm_sizes"] = list(cfg.gemm_sizes)
    result["bench_wall_s"] = time.perf_counter() - started
    out = Path(cfg.out_dir)
    artifacts.write_json(out / "bench.json", result)
    artifacts.write_text(out / "bench.md", to_markdown(result))
    log(f"bench: conv {result['conv_speedup']:.2f}x, mlp {result['mlp_speedup']:.2f}x, "
        f"eval conv {result['conv_eval_speedup']:.2f}x, mlp {result['mlp_eval_speedup']:.2f}x, "
        f"conv step at {100 * (result['conv_fraction_of_matmul'] or math.nan):.0f}% of matmul; "
        f"wrote {out / 'bench.json'} and {out / 'bench.md'}")
    return result
