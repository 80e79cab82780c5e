"""Benchmark: `python -m vae bench` (`make bench`) times the training step and evaluation.

On the CPU (`--device cpu`, the default) it compares the seed report's pipeline (torchvision
`MNIST` with a per-item `ToTensor` behind a `DataLoader`) with the project's (tensors resident
on the device, `training.train_step` under the speed policy, `evaluation.evaluate`), measures
the levers of the speed policy (bf16 autocast among them), each step's limit at its own shapes
(`roofline`), where each step's time goes (`step_parts`: forward, backward, optimizer, products),
the quick report's wall time and, given `--examples-dir`, pytorch/examples' `vae/main.py`
against `vae train` (`examples`); it writes bench.json and its tables (bench.md,
bench_levers.md, bench_targets.md, bench_roofline.md,
bench_step_parts.md). On CUDA (`--device cuda`) it compares the eager step with the
captured step and bf16, with the GPU's matmul FLOP/s, and writes bench-cuda.json and .md.

Layout: `pipelines` (what is timed), `timing` (how), `roofline` (the step's limit), `examples`, `cpu` and `cuda` (what each run measures),
`markdown` (the tables the Performance page includes). Nothing here is asserted on a time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import torch

from ..plumbing import artifacts
from .cpu import BenchConfig, run_bench
from .cuda import run_cuda_bench
from .markdown import cuda_to_markdown, page_numbers, write_tables

__all__ = ["BenchConfig", "main", "rewrite_tables"]   # what the command line uses; the parts are imported from their modules


def rewrite_tables(out_dir: str | Path, log: Callable[[str], None] = print) -> None:
    """The tables and the page's numbers of an existing bench.json written again (in every
    language), from its measurements, timing nothing."""
    path = Path(out_dir) / "bench.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run `python -m vae bench` first")
    result = artifacts.read_json(path)
    result["page"] = page_numbers(result)
    artifacts.write_json(path, result)
    written = write_tables(result, Path(out_dir))
    log(f"bench: wrote {len(written)} tables from {path}")


def main(cfg: BenchConfig, device: torch.device | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the benchmark for the device and write its JSON and Markdown into cfg.out_dir."""
    device = device or torch.device("cpu")
    started = time.perf_counter()
    out = Path(cfg.out_dir)
    if device.type == "cuda":
        result = run_cuda_bench(cfg, device, log)
        result["bench_wall_s"] = time.perf_counter() - started
        artifacts.write_json(out / "bench-cuda.json", result)
        artifacts.write_text(out / "bench-cuda.md", cuda_to_markdown(result))
        log(f"bench: wrote {out / 'bench-cuda.json'} and {out / 'bench-cuda.md'}")
        return result
    result = run_bench(cfg, device, log)
    result["bench_wall_s"] = time.perf_counter() - started
    result["page"] = page_numbers(result)
    artifacts.write_json(out / "bench.json", result)
    write_tables(result, out)
    limits = ", ".join(f"{name} step at {100 * lim['fraction_of_limit']:.0f}% of the {lim['precision']} limit"
                       for name, lim in result["roofline"].items())
    log(f"bench: conv {result['conv_speedup']:.2f}x, mlp {result['mlp_speedup']:.2f}x, "
        f"eval conv {result['conv_eval_speedup']:.2f}x, mlp {result['mlp_eval_speedup']:.2f}x; {limits}; "
        f"wrote {out / 'bench.json'} and its tables")
    return result
