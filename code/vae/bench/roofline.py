"""How close a training step comes to the machine: its FLOP/s against a limit it cannot exceed.

Two measures, in fp32 and bf16, in the same run:

- the *peak*: the fastest FLOP/s this machine's kernels reached, over large square GEMMs and the
  step's own products each timed alone. This is the bound. A step runs its products one after
  the other, so its time is at least the sum of their times in it, and each product takes at
  least its FLOPs over the fastest rate any kernel reaches: the step's FLOP/s cannot exceed that
  rate. The measured peak stands for that rate (a large GEMM runs close to the processor's FMA
  throughput);
- the step's *own products alone*: the sum over its products of the fastest time each takes alone
  at exactly its shapes and strides. Not a bound: inside the step a product can run faster than
  alone (an earlier bench's conv step read 109 % of it). It says how much of the step is
  arithmetic at these shapes; the rest is element-wise work, the optimizer and the dispatch
  between operations.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map
from torch.utils.flop_counter import FlopCounterMode

# The operations whose FLOPs torch.utils.flop_counter counts in our models' steps.
COMPUTE_OPS = {torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.bmm.default,
               torch.ops.aten.convolution.default, torch.ops.aten.convolution_backward.default}


@dataclass(frozen=True)
class _Meta:
    """A tensor argument by its shape, strides and dtype: enough to make another like it."""
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype

    def make(self, dtype: torch.dtype) -> torch.Tensor:
        t = torch.empty_strided(self.shape, self.stride, dtype=dtype if self.dtype.is_floating_point else self.dtype)
        return t.normal_() if t.is_floating_point() else t.zero_()


class _Recorder(TorchDispatchMode):
    """Records each compute operation of the code it wraps, with its arguments' metadata."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[Any, tuple, dict]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in COMPUTE_OPS:
            meta = lambda a: _Meta(tuple(a.shape), tuple(a.stride()), a.dtype) if isinstance(a, torch.Tensor) else a  # noqa: E731
            self.calls.append((func, tree_map(meta, args), tree_map(meta, kwargs)))
        return func(*args, **kwargs)


def record_compute(step: Callable[[], Any]) -> list[tuple[Any, tuple, dict]]:
    """The compute operations one call of `step` runs, in order, with their arguments' metadata."""
    with _Recorder() as recorder:
        step()
    return recorder.calls


def _label(func, args: tuple) -> str:
    shapes = [" × ".join(map(str, a.shape)) for a in args if isinstance(a, _Meta)]
    return f"{func.__name__.split('.')[0]}({', '.join(shapes)})"


def measure_limit(step: Callable[[], Any], dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.bfloat16),
                  repeats: int = 5, min_time_s: float = 0.02) -> dict[str, Any]:
    """Per dtype: the step's compute FLOPs, the sum of its operations' best times alone, and their FLOP/s.

    Each operation (deduplicated by shapes) is timed in `repeats` rounds of at least `min_time_s`;
    its best round counts. A step that repeats a shape pays for it each time.
    """
    calls = record_compute(step)
    unique: dict[str, tuple[Any, tuple, dict, int]] = {}
    for func, args, kwargs in calls:
        key = f"{func}{args}{kwargs}"
        f, a, k, n = unique.get(key, (func, args, kwargs, 0))
        unique[key] = (f, a, k, n + 1)
    result: dict[str, Any] = {"operations": len(calls), "shapes": len(unique)}
    for dtype in dtypes:
        name = dtype_name(dtype)
        total_flops, total_s, rows = 0, 0.0, []
        for func, args, kwargs, count in unique.values():
            real = lambda a: a.make(dtype) if isinstance(a, _Meta) else a  # noqa: E731
            targs, tkwargs = tree_map(real, args), tree_map(real, kwargs)
            with FlopCounterMode(display=False) as counter:
                func(*targs, **tkwargs)
            flops = counter.get_total_flops()
            best = _best_time(lambda: func(*targs, **tkwargs), repeats, min_time_s)
            total_flops += flops * count
            total_s += best * count
            rows.append({"operation": _label(func, args), "count": count, "flops": flops,
                         "flop_per_s": flops / best if best > 0 else None})
        result[name] = {"flops": total_flops, "s": total_s,
                        "flop_per_s": total_flops / total_s if total_s > 0 else None, "by_operation": rows}
    return result


def measure_peak(sizes: tuple[int, ...], dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.bfloat16),
                 repeats: int = 3, min_time_s: float = 0.2) -> dict[str, float]:
    """Per dtype, the fastest FLOP/s of square GEMMs n × n × n over `sizes`."""
    peak = {}
    for dtype in dtypes:
        rates = []
        for n in sizes:
            a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
            rates.append(2 * n ** 3 / _best_time(lambda: torch.mm(a, b), repeats, min_time_s))
        peak[dtype_name(dtype)] = max(rates)
    return peak


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.").replace("bfloat16", "bf16").replace("float32", "fp32")


def _best_time(fn: Callable[[], Any], repeats: int, min_time_s: float) -> float:
    fn()
    n, started = 1, time.perf_counter()
    fn()
    once = max(time.perf_counter() - started, 1e-7)
    n = max(1, int(min_time_s / once))
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - started) / n)
    return best
