"""The Markdown tables of the benchmark, included by the Performance page, and the numbers its
sentences quote (`page_numbers`, stored in bench.json). The sentences themselves live in
docs/performance.md."""

from __future__ import annotations

from typing import Any

from .pipelines import MODELS

MODEL_LABELS = {"conv": "ConvVAE (latent 2)", "mlp": "MLP 784-400 (latent 20)"}


def page_numbers(r: dict[str, Any]) -> dict[str, Any]:
    """What the Performance page's sentences quote, in the units they are quoted in."""
    matmul = r.get("matmul_flop_per_s")   # None where no CPU matmul limit was measured
    numbers: dict[str, Any] = {"measured_on": _hw_line(r["hardware"]),
                               "matmul_gflop_per_s": matmul / 1e9 if matmul else None,
                               "gemm_sizes": "/".join(str(s) for s in r["method"].get("gemm_sizes", ()))}
    for name in MODELS:
        t = r["training"][name]
        numbers[f"{name}_mflop_per_image"] = t["flops_per_image"] / 1e6
        numbers[f"{name}_gflop_per_s"] = t["flop_per_s"] / 1e9
        numbers[f"{name}_fraction_of_matmul"] = t["flop_per_s"] / matmul if matmul else None
    report = r.get("report_quick", {})
    numbers["report_quick_wall_s"] = report.get("wall_s")
    return numbers


def _hw_line(hw: dict[str, Any]) -> str:
    where = hw.get("gpu") or hw["cpu"]
    return (f"{where}; {hw['cpu_cores']} CPU cores, {hw['torch_threads']} torch threads; "
            f"PyTorch {hw['torch']}, Python {hw['python']} ({hw['platform']})")


def to_markdown(r: dict[str, Any]) -> dict[str, str]:
    """Three tables, by file name: the pipelines side by side, the levers, the targets."""
    pipelines = ["| Model | Pipeline | Training images/s | s / epoch | Evaluation images/s |",
                 "|---|---|---:|---:|---:|"]
    for name in MODELS:
        t, e = r["training"][name], r["evaluation"][name]
        for key, label in (("seed", "DataLoader baseline"), ("project", "project")):
            pipelines.append(f"| {MODEL_LABELS[name]} | {label} | {t[key]['images_per_s']:,.0f} "
                             f"({t[key]['images_per_s_median']:,.0f}) | {t[key]['s_per_epoch']:.1f} | "
                             f"{e[key]['images_per_s']:,.0f} ({e[key]['images_per_s_median']:,.0f}) |")
        pipelines.append(f"| {MODEL_LABELS[name]} | **speedup** | **{t['speedup']['best']:.2f}×** | | "
                         f"**{e['speedup']['best']:.2f}×** |")
    levers = ["| Group | Lever | vs | Ratio | images/s |", "|---|---|---|---:|---:|"]
    for lv in r["levers"]:
        ratio = f"{lv['ratio']:.2f}×" if lv.get("ratio") is not None else f"n/a ({lv.get('reason')})"
        if lv.get("compile_s") is not None:
            ratio += f" (compile {lv['compile_s']:.0f} s)"
        ips = f"{lv['images_per_s']:,.0f}" if lv.get("images_per_s") else ""
        levers.append(f"| {lv['group']} | {lv['lever']} | {lv['vs']} | {ratio} | {ips} |")
    targets = ["| Target | Met? |", "|---|---|"]
    targets += [f"| {name} | {'yes' if ok else 'no'} |" for name, ok in r["targets"].items()]
    return {name: "\n".join(lines) + "\n"
            for name, lines in (("bench", pipelines), ("bench_levers", levers), ("bench_targets", targets))}


def cuda_to_markdown(r: dict[str, Any]) -> str:
    """The GPU table: each step variant per model, and the matmul limit of the same run."""
    lines = ["| Model | Step | Training images/s | s / epoch | vs eager |", "|---|---|---:|---:|---:|"]
    for name in MODELS:
        for step, e in r["training"][name].items():
            if isinstance(e, dict) and "images_per_s" in e:
                lines.append(f"| {MODEL_LABELS[name]} | {step} | {e['images_per_s']:,.0f} "
                             f"({e['images_per_s_median']:,.0f}) | {e['s_per_epoch']:.3f} | "
                             f"{e['speedup_over_eager']:.2f}× |")
    lines += ["", "| Dense matmul, same run | TFLOP/s |", "|---|---:|",
              f"| fp32 | {r['matmul_flop_per_s'] / 1e12:.1f} |", f"| bf16 | {r['matmul_bf16_flop_per_s'] / 1e12:.1f} |"]
    report = r.get("report_standard", {})
    if report.get("wall_s") is not None:
        lines += ["", "| `report --profile standard`, end to end | s |", "|---|---:|",
                  f"| wall time | {report['wall_s']:.0f} |"]
    return "\n".join(lines) + "\n"
