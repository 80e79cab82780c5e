"""The Markdown tables of the benchmark, included by the Performance page, and the numbers its
sentences quote (`page_numbers`, stored in bench.json). Every number is written by the report's
one formatter (`report/tables.py`); the sentences themselves live in docs/performance.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..language import LANGUAGES, SOURCE_LANGUAGE, localized_path
from ..plumbing import artifacts
from ..report.tables import Column, markdown_table
from .pipelines import MODELS

MODEL_LABELS = {"conv": "ConvVAE (latent 2)", "mlp": "MLP 784-400 (latent 20)"}


def page_numbers(r: dict[str, Any]) -> dict[str, Any]:
    """What the Performance page's sentences quote, in the units they are quoted in."""
    numbers: dict[str, Any] = {"measured_on": hardware_line(r["hardware"]),
                               "cpu_bf16_native": r.get("precision", {}).get("cpu_bf16_native")}
    for name in MODELS:
        t = r["training"][name]
        numbers[f"{name}_mflop_per_image"] = t["flops_per_image"] / 1e6
        numbers[f"{name}_gflop_per_s"] = t["flop_per_s"] / 1e9
        numbers[f"{name}_training_speedup"] = t["speedup"]["best"]
        numbers[f"{name}_evaluation_speedup"] = r["evaluation"][name]["speedup"]["best"]
        limit = r.get("roofline", {}).get(name)
        if limit:
            numbers[f"{name}_precision"] = limit["precision"]
            numbers[f"{name}_limit_gflop_per_s"] = limit["limit_flop_per_s"] / 1e9
            numbers[f"{name}_fraction_of_limit"] = limit["fraction_of_limit"]
            numbers[f"{name}_fraction_of_own_products"] = limit["fraction_of_own_products"]
        parts = r.get("step_parts", {}).get(name)
        if parts:
            parts = with_rest(parts)
            for part in ("products", "beyond_products", "optimizer", "rest"):
                numbers[f"{name}_{part}_share_of_step"] = parts[f"{part}_s"] / parts["step_s"]
            numbers[f"{name}_parts_step_s"] = parts["step_s"]
            numbers[f"{name}_pipeline_step_s"] = t["project"]["s_per_call"]
        bf16 = r.get("bf16", {}).get(name)
        if bf16:
            numbers[f"{name}_bf16_over_fp32"] = bf16["bf16_over_fp32"]
            numbers[f"{name}_bf16_chosen"] = "uses" if bf16["chosen"] else "does not use"
    if "peak" in r:
        numbers["peak_largest_size"] = max(r["peak"]["sizes"])
    numbers["targets_met"] = sum(t["met"] for t in r.get("targets", []))
    examples = r.get("examples") or {}
    numbers["examples_compared"] = examples.get("speedup") is not None
    if numbers["examples_compared"]:
        numbers["examples_speedup"] = examples["speedup"]
        numbers["examples_wall_s"] = examples["examples"]["wall_s"]
        numbers["examples_project_wall_s"] = examples["project"]["wall_s"]
        numbers["examples_test_elbo"] = examples["examples"]["test_elbo"]
        numbers["examples_project_test_elbo"] = examples["project"]["test_elbo"]
    numbers["targets"] = len(r.get("targets", []))
    numbers["report_quick_wall_s"] = r.get("report_quick", {}).get("wall_s")
    return numbers


# The machine a benchmark ran on, as the Performance page names it ("Measured on: ..."), in each
# language. bench.json keeps the English line (`page.measured_on`); a page in another language
# writes it again from the same record (`hardware`), through code/site_macros.py.
HARDWARE_LINE = {
    "en": "{where}; {cpu_cores} CPU cores, {torch_threads} torch threads; PyTorch {torch}, Python {python} ({platform})",
    "pt": "{where}; {cpu_cores} núcleos de CPU, {torch_threads} threads do torch; PyTorch {torch}, Python {python} "
          "({platform})",
}


def hardware_line(hw: dict[str, Any], language: str = SOURCE_LANGUAGE) -> str:
    """The machine of a benchmark run (bench.json's `hardware`) in one line, in `language`."""
    return HARDWARE_LINE[language].format(where=hw.get("gpu") or hw["cpu"], cpu_cores=hw["cpu_cores"],
                                          torch_threads=hw["torch_threads"], torch=hw["torch"],
                                          python=hw["python"], platform=hw["platform"])


PIPELINE_COLUMNS = [Column("model", "Model"), Column("pipeline", "Pipeline"),
                    Column("train", "Training images/s", "rate"), Column("train_median", "median round", "rate"),
                    Column("s_per_epoch", "s / epoch", "seconds"), Column("train_speedup", "speedup", "ratio"),
                    Column("eval", "Evaluation images/s", "rate"), Column("eval_median", "median round", "rate"),
                    Column("eval_speedup", "speedup", "ratio")]
LEVER_COLUMNS = [Column("group", "Group"), Column("lever", "Lever"), Column("vs", "vs"),
                 Column("ratio", "Ratio", "ratio"), Column("images_per_s", "images/s", "rate"),
                 Column("compile_s", "compile s", "seconds"), Column("reason", "note", "verbatim")]
TARGET_COLUMNS = [Column("target", "Target"), Column("at_least", "at least", "ratio"),
                  Column("measured", "measured", "ratio"), Column("met_word", "met?")]
ROOFLINE_COLUMNS = [Column("model", "Model"), Column("precision", "step precision"),
                    Column("step", "step GFLOP/s", "rate"), Column("limit", "limit GFLOP/s", "rate"),
                    Column("fraction", "step / limit", "percent"), Column("own", "own products alone GFLOP/s", "rate"),
                    Column("own_fraction", "step / own products", "percent")]

def with_rest(parts: dict[str, Any]) -> dict[str, Any]:
    """A step's parts (bench.json's `step_parts`) with `rest_s`: the step less its forward, backward
    and optimizer step (the batch's rows, zeroing the gradients, the terms kept, and the rounds' noise)."""
    return {**parts, "rest_s": parts["step_s"] - parts["forward_s"] - parts["backward_s"] - parts["optimizer_s"]}


STEP_PART_COLUMNS = [Column("model", "Model"), Column("precision", "step precision"),
                     Column("step_s", "step ms", "milliseconds"), Column("forward_s", "forward and loss ms", "milliseconds"),
                     Column("backward_s", "backward ms", "milliseconds"),
                     Column("optimizer_s", "optimizer ms", "milliseconds"),
                     Column("products_s", "products alone ms", "milliseconds"),
                     Column("beyond_products_s", "forward and backward beyond the products ms", "milliseconds"),
                     Column("rest_s", "rest of the step ms", "milliseconds")]


def to_markdown(r: dict[str, Any], language: str = SOURCE_LANGUAGE) -> dict[str, str]:
    """Five tables, by file name: the pipelines side by side, the step's parts, the levers, the targets,
    the limits."""
    pipelines = []
    for name in MODELS:
        t, e = r["training"][name], r["evaluation"][name]
        for key, label in (("seed", "DataLoader baseline"), ("project", "project")):
            pipelines.append({"model": MODEL_LABELS[name], "pipeline": label, "train": t[key]["images_per_s"],
                              "train_median": t[key]["images_per_s_median"], "s_per_epoch": t[key]["s_per_epoch"],
                              "eval": e[key]["images_per_s"], "eval_median": e[key]["images_per_s_median"],
                              **({"train_speedup": t["speedup"]["best"], "eval_speedup": e["speedup"]["best"]}
                                 if key == "project" else {})})
    targets = [{**t, "met_word": "yes" if t["met"] else "no"} for t in r["targets"]]
    limits = [{"model": MODEL_LABELS[name], "precision": lim["precision"], "step": lim["step_flop_per_s"] / 1e9,
               "limit": lim["limit_flop_per_s"] / 1e9, "fraction": lim["fraction_of_limit"],
               "own": lim[lim["precision"]]["flop_per_s"] / 1e9, "own_fraction": lim["fraction_of_own_products"]}
              for name, lim in r.get("roofline", {}).items()]
    parts = [{"model": MODEL_LABELS[name], **with_rest(p)} for name, p in r.get("step_parts", {}).items()]
    return {"bench": markdown_table(pipelines, PIPELINE_COLUMNS, language),
            "bench_step_parts": markdown_table(parts, STEP_PART_COLUMNS, language),
            "bench_levers": markdown_table(r["levers"], LEVER_COLUMNS, language),
            "bench_targets": markdown_table(targets, TARGET_COLUMNS, language),
            "bench_roofline": markdown_table(limits, ROOFLINE_COLUMNS, language)}


def write_tables(result: dict[str, Any], out: Path) -> list[Path]:
    """bench.json's tables as Markdown, in every language (bench.md, bench.pt.md, ...)."""
    return [artifacts.write_text(localized_path(out / f"{name}.md", language), table)
            for language in LANGUAGES for name, table in to_markdown(result, language).items()]


CUDA_COLUMNS = [Column("model", "Model"), Column("step", "Step"), Column("images_per_s", "Training images/s", "rate"),
                Column("images_per_s_median", "median round", "rate"), Column("s_per_epoch", "s / epoch", "seconds"),
                Column("speedup_over_eager", "vs eager", "ratio")]


def cuda_to_markdown(r: dict[str, Any]) -> str:
    """The GPU table: each step variant per model, the matmul limit of the same run, the report's wall time."""
    rows = [{"model": MODEL_LABELS[name], "step": step, **e} for name in MODELS
            for step, e in r["training"][name].items() if isinstance(e, dict) and "images_per_s" in e]
    parts = [markdown_table(rows, CUDA_COLUMNS),
             markdown_table([{"dtype": "fp32", "tflop": r["matmul_flop_per_s"] / 1e9},
                             {"dtype": "bf16", "tflop": r["matmul_bf16_flop_per_s"] / 1e9}],
                            [Column("dtype", "Dense matmul, same run"), Column("tflop", "GFLOP/s", "rate")])]
    report = r.get("report_standard", {})
    if report.get("wall_s") is not None:
        parts.append(markdown_table([{"what": "wall time", "s": report["wall_s"]}],
                                    [Column("what", "`report --profile standard`, end to end"),
                                     Column("s", "s", "seconds")]))
    return "\n".join(parts)
