"""The Markdown tables of the benchmark, included by the Performance page."""

from __future__ import annotations

from typing import Any

from .pipelines import MODELS


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


def cuda_to_markdown(r: dict[str, Any]) -> str:
    """The GPU table: each step variant per model, and the matmul limit of the same run."""
    m = r["method"]
    lines = [f"Measured on: **{_hw_line(r['hardware'])}**, device `{r['device']}`.", "",
             f"{m['rounds']} rounds of {m['calls_per_round']} calls after {m['warmup_calls']} warm-up calls, "
             f"batch {m['batch_size']}; images/s from the fastest round (median round in brackets); "
             f"**seconds per epoch extrapolated** to {m['epoch_images']:,} images.", "",
             "| Model | Step | Training images/s | s / epoch | vs eager |", "|---|---|---:|---:|---:|"]
    labels = {"conv": "ConvVAE (latent 2)", "mlp": "MLP 784-400 (latent 20)"}
    for name in MODELS:
        t = r["training"][name]
        for step, e in t.items():
            if isinstance(e, dict) and "images_per_s" in e:
                lines.append(f"| {labels[name]} | {step} | {e['images_per_s']:,.0f} ({e['images_per_s_median']:,.0f}) "
                             f"| {e['s_per_epoch']:.3f} | {e['speedup_over_eager']:.2f}x |")
    lines += ["", f"Dense matmul in the same run: fp32 {r['matmul_flop_per_s'] / 1e12:.1f} TFLOP/s, "
                  f"bf16 {r['matmul_bf16_flop_per_s'] / 1e12:.1f} TFLOP/s.", ""]
    rep = r.get("report_standard", {})
    lines += ["`python -m vae report --profile standard`, end to end: "
              + (f"**{rep['wall_s']:.0f} s**." if rep.get("wall_s") is not None else f"not measured ({rep.get('reason')}).")]
    return "\n".join(lines) + "\n"
