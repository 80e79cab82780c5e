"""The speed policy, in one place: which device, which memory layout, which optimizer kernel,
which evaluation batch, and the record of the machine a run used.

Training, evaluation, the report and the benchmark all ask this module; the benchmark passes
another `SpeedPolicy` to measure a lever, it never patches a global. Every choice here keeps
the CPU path bit-for-bit deterministic.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import os
import platform
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import kernels
from .errors import ConfigError

# Fused Adam: one kernel for all parameters instead of a loop of small ops per tensor;
# 1.13x (MLP) and 1.07x (conv) training images/s in `python -m vae bench`, still deterministic.
FUSED_ADAM_DEVICES = ("cpu", "cuda")
# On the CPU the conv model evaluates faster on batches whose activations stay in cache:
# 256 images per batch ran about 1.5x faster than 1,000 (`python -m vae bench`, levers).
CPU_CONV_EVAL_BATCH = 256
DEFAULT_EVAL_BATCH = 1000
# bf16 autocast of the training step under `--precision auto` on a CPU that computes in bf16
# natively, by model. A model enters this list after two measurements on such a CPU: the step's
# speed in `python -m vae bench` (levers, "bf16 autocast": on an AMD EPYC with AVX-512 BF16, one
# thread, the conv step took 0.52x and the MLP step 0.78x the CPU time of fp32), and the
# reference run's test -ELBO (`python -m vae train --arch conv --latent-dim 2 --epochs 10
# --precision bf16` against fp32), which must stay within BF16_MAX_ELBO_COST_NATS of fp32's.
# Measured: with every layer in bf16, the conv reference run reached a test -ELBO of 147.89
# against fp32's 147.49 (+0.40 nat, too much). With the latent heads and the decoder's first and
# output layers kept in fp32 (`kernels.keep_in_fp32`) and the loss in fp32, it reached 147.56 (+0.07
# nat; AMD EPYC, AVX-512 BF16), and its step ran 1.43x as fast as fp32 in interleaved rounds on
# two threads. The decoder's first and output layers in bf16 as well ran 1.55x but reached
# 147.67 (+0.19 nat, too close to the limit to keep); all layers in bf16, 1.57x.
# The standard report's own run of it (one thread, as every CPU report run) reached 147.65 (+0.16).
# The MLP is not measured for accuracy in bf16 (its step ran 1.08x) and stays fp32.
CPU_BF16_ARCHS: tuple[str, ...] = ("conv",)
BF16_MAX_ELBO_COST_NATS = 0.3
PRECISIONS = ("auto", "fp32", "bf16")


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


def configure_cuda(device: torch.device) -> dict[str, bool]:
    """On CUDA, compute what the run records: full fp32 and the same numbers on the same device.

    The device is made current (streams and graphs are created on the current device). TF32 is
    turned off for convolutions and matmuls, which cuDNN would otherwise use on Ampere and newer
    GPUs while the run records `precision: fp32` (bf16 autocast is asked for explicitly). cuDNN
    may use only deterministic algorithms, without benchmark autotuning, which may pick another
    algorithm from one run to the next. Returns these settings for the run's record; off CUDA,
    nothing changes and the record is empty.
    """
    if device.type != "cuda":
        return {}
    torch.cuda.set_device(device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    return {"tf32": False, "cudnn_deterministic": True, "cudnn_benchmark": False}


def environment() -> dict[str, Any]:
    """Library versions, machine and code commit: the one machine record of runs, report and bench."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision_version(), "numpy": np.__version__,
            "platform": platform.platform(), "processor": platform.machine(), "cpu": cpu_model(),
            "cpu_cores": os.cpu_count(), "cpu_threads": torch.get_num_threads(), "git_commit": commit}


def torchvision_version() -> str | None:
    """torchvision's `__version__` (with its CUDA build tag, which the installed distribution's
    metadata lacks), read from its version.py: importing torchvision took 2 s of every run."""
    spec = importlib.util.find_spec("torchvision")       # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        text = (Path(list(spec.submodule_search_locations)[0]) / "version.py").read_text()
    except OSError:
        text = ""
    found = re.search(r"^__version__ = ['\"]([^'\"]+)['\"]", text, re.MULTILINE)
    return found.group(1) if found else importlib.metadata.version("torchvision")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo where there is one, else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_bf16_native() -> bool:
    """Whether this CPU has bfloat16 arithmetic (AVX-512 BF16 or AMX); elsewhere oneDNN emulates
    bf16, which is slower than fp32, so the policy never picks it there."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if any(probe is not None for probe in probes):
        return any(probe() for probe in probes if probe is not None)
    try:       # an older PyTorch: the kernel's own CPU flags
        flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"{device.type} ({platform.machine()}, {threads} thread{'s' if threads != 1 else ''})"


@dataclass(frozen=True)
class SpeedPolicy:
    """How one model trains and evaluates on one device; `for_model` gives the project's choice."""
    memory_format: torch.memory_format = torch.contiguous_format
    fused_adam: bool = True
    eval_batch_size: int = DEFAULT_EVAL_BATCH
    cuda_graph: bool = False          # capture the training step (CUDA only)
    bf16: bool = False                # autocast the forward pass and loss to bfloat16
    # Training steps per graph replay: fewer launches per epoch. Not yet measured on a GPU;
    # `python -m vae bench --device cuda` times 1 and this value side by side.
    steps_per_replay: int = 8
    # The reconstruction term's per-pixel loss in training and evaluation: the hand-written kernel
    # (kernels.BernoulliNLL), so that the numbers of both come from the same kernel.
    bernoulli_nll = staticmethod(kernels.bernoulli_nll)

    @classmethod
    def for_model(cls, arch: str, device: torch.device | str, eval_batch_size: int = DEFAULT_EVAL_BATCH,
                  cuda_graph: bool = True, precision: str = "auto") -> "SpeedPolicy":
        device = torch.device(device)
        on_cuda = device.type == "cuda"
        return cls(memory_format=preferred_memory_format(arch, device),
                   fused_adam=device.type in FUSED_ADAM_DEVICES,
                   eval_batch_size=preferred_eval_batch(arch, device, eval_batch_size),
                   cuda_graph=cuda_graph and on_cuda, bf16=uses_bf16(arch, device, precision))

    @property
    def precision(self) -> str:
        """The precision the training step computes in: what each run records in metrics.json."""
        return "bf16" if self.bf16 else "fp32"

    def prepare(self, model: nn.Module) -> nn.Module:
        """The model in the policy's memory layout; under bf16, its precision-critical layers kept in
        fp32 (`kernels.keep_in_fp32`). In place, like `Module.to`."""
        model = model.to(memory_format=self.memory_format)
        return kernels.keep_in_fp32(model) if self.bf16 else model

    def replace(self, **changes: Any) -> "SpeedPolicy":
        return dataclasses.replace(self, **changes)


def uses_bf16(arch: str, device: torch.device | str, precision: str = "auto") -> bool:
    """bf16 autocast of the training step: as asked on the CPU and CUDA (MPS: fp32); under "auto",
    only for the models of CPU_BF16_ARCHS on a CPU with native bf16. Evaluation stays fp32."""
    if precision not in PRECISIONS:
        raise ConfigError("precision", f"must be one of {', '.join(PRECISIONS)} (got {precision!r})")
    device = torch.device(device)
    if device.type not in ("cpu", "cuda") or precision == "fp32":
        return False
    if precision == "bf16":
        return True
    return device.type == "cpu" and arch in CPU_BF16_ARCHS and cpu_bf16_native()


def preferred_memory_format(arch: str, device: torch.device | str) -> torch.memory_format:
    """Channels-last for the conv model on the CPU, elsewhere the default layout.

    oneDNN's kernels for most of these small convolutions are faster in NHWC (training step
    1.00-1.06x, evaluation 1.15-1.2x over NCHW in `python -m vae bench`, whose levers table
    measures it again), and the results stay bit-for-bit deterministic.
    """
    if arch == "conv" and torch.device(device).type == "cpu":
        return torch.channels_last
    return torch.contiguous_format


def preferred_eval_batch(arch: str, device: torch.device | str, requested: int = DEFAULT_EVAL_BATCH) -> int:
    """The evaluation batch: `requested`, capped at CPU_CONV_EVAL_BATCH for the conv model on the CPU."""
    if arch == "conv" and torch.device(device).type == "cpu":
        return min(requested, CPU_CONV_EVAL_BATCH)
    return requested
