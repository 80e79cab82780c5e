"""The benchmark machinery, run for real with a handful of steps. No assertion on a time."""

from __future__ import annotations

import json

import torch

from vae import bench
from vae.bench import pipelines, roofline, timing


def test_bench_writes_json_and_markdown(tmp_path, data_dir):
    cfg = bench.BenchConfig(data_dir=str(data_dir), out_dir=str(tmp_path), warmup=1, rounds=1, steps=1,
                            lever_rounds=1, lever_steps=1, lever_warmup=1, eval_images=128, eval_rounds=1, limit_repeats=1,
                            peak_sizes=(256,), compile=False, report=False)
    bench.main(cfg, torch.device("cpu"), log=lambda line: None)

    result = json.loads((tmp_path / "bench.json").read_text())
    for key in ("conv_speedup", "mlp_speedup", "conv_eval_speedup", "mlp_eval_speedup", "roofline", "precision",
                "bf16", "device", "hardware", "levers", "training", "evaluation", "report_quick", "targets", "step_parts"):
        assert key in result, key
    assert result["device"] == "cpu"
    assert result["report_quick"]["wall_s"] is None and result["report_quick"]["reason"]
    for name in ("conv", "mlp"):
        for pipeline in ("seed", "project"):
            assert result["training"][name][pipeline]["images_per_s"] > 0
            assert result["evaluation"][name][pipeline]["images_per_s"] > 0
    assert {lever["lever"] for lever in result["levers"]} >= {"contiguous (NCHW)", "channels-last"}
    assert {lever["lever"] for lever in result["levers"]} & {"bf16 autocast", "fp32"}   # the other precision
    for name in ("conv", "mlp"):
        limit = result["roofline"][name]
        assert limit["precision"] == result["precision"][name] in ("fp32", "bf16")
        assert limit["fp32"]["flops"] == limit["bf16"]["flops"] == result["training"][name]["flops_per_step"]
        assert limit["fp32"]["flop_per_s"] > 0 and limit["bf16"]["flop_per_s"] > 0
        # the limit bounds: at least the peak and every product's own rate in the step's precision
        own = limit[limit["precision"]]
        assert limit["limit_flop_per_s"] >= max(result["peak"][limit["precision"]],
                                                *(row["flop_per_s"] for row in own["by_operation"]))
        assert limit["limit_flop_per_s"] >= own["flop_per_s"]
        assert limit["fraction_of_limit"] == limit["step_flop_per_s"] / limit["limit_flop_per_s"]
        assert limit["fraction_of_own_products"] == limit["step_flop_per_s"] / own["flop_per_s"]
        assert result["bf16"][name]["chosen"] == (result["precision"][name] == "bf16")
        parts = result["step_parts"][name]       # where the step's time goes, in the policy's precision
        assert parts["precision"] == limit["precision"]
        assert all(parts[k] > 0 for k in ("step_s", "forward_s", "optimizer_s", "products_s"))
        assert parts["products_s"] == own["s"]
    assert [t["at_least"] for t in result["targets"]][:2] == [1.3, 3.0]
    assert all(t["met"] == (t["measured"] >= t["at_least"]) for t in result["targets"])
    page = result["page"]   # what the Performance page's sentences quote
    assert page["conv_fraction_of_limit"] == result["roofline"]["conv"]["fraction_of_limit"]
    assert page["mlp_training_speedup"] == result["mlp_speedup"]
    tables = {name: (tmp_path / f"{name}.md").read_text()
              for name in ("bench", "bench_levers", "bench_targets", "bench_roofline", "bench_step_parts")}
    assert "DataLoader baseline" in tables["bench"] and "| Lever |" in tables["bench_levers"]
    assert "| Target |" in tables["bench_targets"] and "limit GFLOP/s" in tables["bench_roofline"]
    assert "optimizer ms" in tables["bench_step_parts"] and "rest of the step ms" in tables["bench_step_parts"]
    bench.rewrite_tables(tmp_path, log=lambda line: None)      # from bench.json alone: the same page, the same tables
    assert json.loads((tmp_path / "bench.json").read_text())["page"] == page
    assert {name: (tmp_path / f"{name}.md").read_text() for name in tables} == tables
    assert "×" in tables["bench"] and "-" not in tables["bench_targets"].replace("---", "")
    for name, markdown in tables.items():
        assert not [line for line in markdown.splitlines() if line and not line.startswith("|")], \
            f"{name}.md holds a table only; the sentences live in docs/performance.md"


def test_conv_step_costs_about_110_mflop_per_image():
    x = torch.rand(1024, 1, 28, 28)
    step = pipelines.project_train_step("conv", 2, x, torch.device("cpu"))
    per_image = timing.step_flops(step) / pipelines.BATCH
    assert abs(per_image - 110e6) <= 0.15 * 110e6, per_image


def test_the_limit_counts_every_product_of_the_step_forward_and_backward():
    x = torch.rand(256, 1, 28, 28)
    step = pipelines.project_train_step("mlp", 20, x, torch.device("cpu"))
    limit = roofline.measure_limit(step, dtypes=(torch.float32,), repeats=1, min_time_s=0.0)
    # 5 linear layers: 5 forward products, 5 weight gradients, 4 input gradients (not the image's)
    assert limit["operations"] == 14
    assert limit["fp32"]["flops"] == timing.step_flops(step)
    assert sum(row["count"] for row in limit["fp32"]["by_operation"]) == 14


def test_the_peak_is_the_fastest_square_gemm_of_each_precision():
    peak = roofline.measure_peak((64, 128), dtypes=(torch.float32,), repeats=1, min_time_s=0.0)
    assert set(peak) == {"fp32"} and peak["fp32"] > 0


def _ratios(**overrides):
    return {"conv_speedup": 1.4, "mlp_speedup": 2.0, "conv_eval_speedup": 1.1, "mlp_eval_speedup": 5.0, **overrides}


def test_the_examples_target_appears_only_when_compared_and_needs_both_speed_and_elbo():
    from vae.bench.cpu import targets

    assert len(targets(_ratios())) == 4
    assert len(targets(_ratios(examples={"speedup": None, "reason": "not found"}))) == 4
    fast_and_close = {"speedup": 3.2, "test_elbo_difference": 0.4, "epochs": 10}
    fast_but_worse = {"speedup": 3.2, "test_elbo_difference": 1.5, "epochs": 10}
    slow = {"speedup": 2.5, "test_elbo_difference": -0.2, "epochs": 10}
    for examples, met in ((fast_and_close, True), (fast_but_worse, False), (slow, False)):
        row = targets(_ratios(examples=examples))[-1]
        assert "pytorch/examples" in row["target"] and row["at_least"] == 3.0
        assert row["measured"] == examples["speedup"] and row["met"] is met


def test_the_examples_comparison_says_why_without_a_copy_of_pytorch_examples(tmp_path):
    from vae.bench.examples import compare_with_examples

    result = compare_with_examples(tmp_path, tmp_path)
    assert result["speedup"] is None and "pytorch/examples" in result["reason"]
