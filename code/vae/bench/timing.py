"""Interleaved timing, the matmul limit, FLOP counting and the report's wall time.

Timing: a few warm-up calls, then rounds in which every variant of a group runs the same number
of calls one after the other, so all variants see the same machine. Noise only ever adds time,
so headline numbers use each variant's fastest round (its median round is kept too).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch


def matmul_flops(sizes: tuple[int, ...] = (2048, 3072, 4096), repeats: int = 3,
                 device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> float:
    """Best FLOP/s of several large square GEMMs (torch.mm) on the device."""
    device = device or torch.device("cpu")
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        a @ b
        sync(device)
        for _ in range(repeats):
            started = time.perf_counter()
            a @ b
            sync(device)
            best = max(best, 2 * n ** 3 / (time.perf_counter() - started))
    return best


def with_threads(n: int, fn: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            fn()
        finally:
            torch.set_num_threads(before)
    return run


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleave(variants: dict[str, Callable[[], None]], rounds: int, repeats: int, warmup: int,
               device: torch.device) -> dict[str, list[float]]:
    """Seconds per call of each variant in each round; every round runs all variants in turn."""
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    sync(device)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds):
        # Alternate the order so that no variant always runs right after the same neighbour.
        names = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in names:
            started = time.perf_counter()
            for _ in range(repeats):
                variants[name]()
            sync(device)
            times[name].append((time.perf_counter() - started) / repeats)
    return times


def summary(seconds: list[float], images: int) -> dict[str, float]:
    best, median = min(seconds), statistics.median(seconds)
    return {"images_per_s": images / best, "images_per_s_median": images / median,
            "s_per_call": best, "s_per_call_median": median}


def ratio(times: dict[str, list[float]], slow: str, fast: str) -> dict[str, float]:
    """How many times faster `fast` is than `slow`: best round over best round, and the median
    of the ratios of the same round (both ran minutes apart at most, on the same machine)."""
    paired = [a / b for a, b in zip(times[slow], times[fast])]
    return {"best": min(times[slow]) / min(times[fast]), "paired_median": statistics.median(paired)}


def step_flops(step: Callable[[], None]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def time_report(data_dir: str, timeout_s: float, profile: str = "quick") -> dict[str, Any]:
    """Wall time of `python -m vae report --profile PROFILE` into a scratch folder, or null and why."""
    with tempfile.TemporaryDirectory(prefix="bench-report-") as out:
        timed = time_program([sys.executable, "-m", "vae", "report", "--profile", profile,
                              "--data-dir", str(data_dir), "--out", out], Path.cwd(), timeout_s)
    return {"wall_s": timed["wall_s"], "reason": timed["reason"]}


def time_program(command: list[str], cwd: Path, timeout_s: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one program to its end: its wall time and output, or null and why (the one way the bench
    times a whole program: the quick report, pytorch/examples' vae/main.py, `vae train`)."""
    name = f"python -m {command[2]}" if command[1:2] == ["-m"] else Path(command[1]).name
    started = time.perf_counter()
    try:
        run = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout_s,
                             env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        return {"wall_s": None, "reason": f"{name} did not finish within {timeout_s:.0f} s"}
    except OSError as err:
        return {"wall_s": None, "reason": f"could not start {command[0]}: {err.strerror}"}
    wall_s = time.perf_counter() - started
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["no message"])[-1]
        return {"wall_s": None, "reason": f"{name} exited with code {run.returncode}: {last}"}
    return {"wall_s": wall_s, "reason": None, "stdout": run.stdout}
