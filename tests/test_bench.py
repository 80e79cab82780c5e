"""The benchmark machinery, run for real with a handful of steps. No assertion on a time."""

from __future__ import annotations

import json

import torch

from vae import bench


def test_bench_writes_json_and_markdown(tmp_path, data_dir):
    cfg = bench.BenchConfig(data_dir=str(data_dir), out_dir=str(tmp_path), warmup=1, rounds=1, steps=1,
                            lever_rounds=1, lever_steps=1, lever_warmup=1, eval_images=128, eval_rounds=1, gemm_sizes=(256,),
                            compile=False, report=False)
    bench.main(cfg, torch.device("cpu"), log=lambda line: None)

    result = json.loads((tmp_path / "bench.json").read_text())
    for key in ("conv_speedup", "mlp_speedup", "conv_eval_speedup", "mlp_eval_speedup",
                "conv_fraction_of_matmul", "matmul_flop_per_s", "device", "hardware", "levers",
                "training", "evaluation", "report_quick", "targets"):
        assert key in result, key
    assert result["device"] == "cpu"
    assert result["report_quick"]["wall_s"] is None and result["report_quick"]["reason"]
    for name in ("conv", "mlp"):
        for pipeline in ("seed", "project"):
            assert result["training"][name][pipeline]["images_per_s"] > 0
            assert result["evaluation"][name][pipeline]["images_per_s"] > 0
    assert {lever["lever"] for lever in result["levers"]} >= {"contiguous (NCHW)", "channels-last"}
    page = result["page"]   # what the Performance page's sentences quote
    assert page["matmul_gflop_per_s"] == result["matmul_flop_per_s"] / 1e9
    assert page["conv_fraction_of_matmul"] == result["conv_fraction_of_matmul"]
    tables = {name: (tmp_path / f"{name}.md").read_text() for name in ("bench", "bench_levers", "bench_targets")}
    assert "DataLoader baseline" in tables["bench"] and "| Lever |" in tables["bench_levers"]
    assert "| Target |" in tables["bench_targets"]
    for name, markdown in tables.items():
        assert not [line for line in markdown.splitlines() if line and not line.startswith("|")], \
            f"{name}.md holds a table only; the sentences live in docs/performance.md"


def test_conv_step_costs_about_110_mflop_per_image():
    x = torch.rand(1024, 1, 28, 28)
    step = bench.project_train_step("conv", 2, x, torch.device("cpu"))
    per_image = bench.step_flops(step) / bench.BATCH
    assert abs(per_image - 110e6) <= 0.15 * 110e6, per_image
