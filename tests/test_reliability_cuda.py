"""The CUDA path, checked on the CPU: the code paths a GPU run takes (device, capture stream, numerics,
binarization, worker processes, defaults), each with fakes or devices a CPU has.

Each test is tagged with the guarantee it checks (tests/support/reliability.py); `tests/robustness_cases.py`
turns the tags and the first line of each docstring into the table of docs/includes/robustness.md.
"""

from __future__ import annotations

import dataclasses
import os

import pytest
import torch

from support.reliability import assert_one_line, guarantee, run_cli
from vae.training import TrainConfig


class FakeCuda:
    """Records what the capture asks of torch.cuda, in order, with the stream each call ran on."""

    def __init__(self):
        self.events, self.current = [], "default"

    def install(self, monkeypatch):
        fake = self

        class Stream:
            def __init__(self, device=None):
                self.name = f"side-of-{device}"
                fake.events.append(("stream-created", str(device)))

            def wait_stream(self, other):
                pass

            def synchronize(self):
                pass

        class StreamContext:
            def __init__(self, stream):
                self.stream = stream

            def __enter__(self):
                self.previous, fake.current = fake.current, self.stream.name

            def __exit__(self, *exc):
                fake.current = self.previous

        class Graph:
            pass

        class GraphContext:
            def __init__(self, graph, pool=None, stream=None, **kwargs):
                self.stream = stream

            def __enter__(self):
                fake.events.append(("capture", self.stream.name if self.stream is not None else "its own stream"))
                self.previous, fake.current = fake.current, "capturing"

            def __exit__(self, *exc):
                fake.current = self.previous

        monkeypatch.setattr(torch.cuda, "set_device", lambda device: fake.events.append(("set_device", str(device))))
        monkeypatch.setattr(torch.cuda, "Stream", Stream)
        monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: Stream(f"current-{device}"))
        monkeypatch.setattr(torch.cuda, "stream", StreamContext)
        monkeypatch.setattr(torch.cuda, "CUDAGraph", Graph)
        monkeypatch.setattr(torch.cuda, "graph", GraphContext)
        return self


@guarantee("cuda")
def test_the_step_is_captured_on_the_device_asked_for_and_on_the_warm_up_stream(monkeypatch):
    """`--device cuda:1`: the device is made current before any stream exists, the warm-up runs on a side stream of
    cuda:1, and the graph is captured on that same stream."""
    from vae.plumbing import cuda_graph

    fake = FakeCuda().install(monkeypatch)
    ran_on = []
    cuda_graph.capture(lambda: ran_on.append(fake.current), torch.device("cuda:1"), lambda: None)
    assert fake.events[0] == ("set_device", "cuda:1")
    assert ("stream-created", "cuda:1") in fake.events
    assert ran_on == ["side-of-cuda:1"] * cuda_graph.WARMUP_STEPS + ["capturing"]
    assert ("capture", "side-of-cuda:1") in fake.events


@guarantee("cuda")
def test_fp32_on_cuda_is_full_fp32_with_deterministic_cudnn_and_training_asks_for_it(monkeypatch, tmp_path,
                                                                                   data_dir):
    """On CUDA a run sets the device, turns TF32 off for convolutions and matmuls (it records fp32) and makes cuDNN
    deterministic without autotuning; `train` asks for this on every device (a no-op on the CPU)."""
    from vae.plumbing import device as device_module
    from vae import training

    flags = [(torch.backends.cudnn, "allow_tf32", True), (torch.backends.cuda.matmul, "allow_tf32", True),
             (torch.backends.cudnn, "deterministic", False), (torch.backends.cudnn, "benchmark", True)]
    saved = [getattr(module, flag) for module, flag, _ in flags]
    current = []
    monkeypatch.setattr(torch.cuda, "set_device", current.append)
    try:
        for module, flag, value in flags:      # cuDNN's default, or what a library chose; restored below
            setattr(module, flag, value)
        record = device_module.configure_cuda(torch.device("cuda:1"))
        after = [getattr(module, flag) for module, flag, _ in flags]
    finally:
        for (module, flag, _), value in zip(flags, saved):
            setattr(module, flag, value)
    assert current == [torch.device("cuda:1")]
    assert after == [False, False, True, False]
    assert record == {"tf32": False, "cudnn_deterministic": True, "cudnn_benchmark": False}
    assert device_module.configure_cuda(torch.device("cpu")) == {}

    asked = []
    monkeypatch.setattr(training, "configure_cuda", lambda device: asked.append(device) or {})
    training.start_run(TrainConfig(arch="mlp", hidden=(16,), epochs=1, train_limit=64, device="cpu",
                                   data_dir=str(data_dir)), tmp_path, False, lambda m: None, False)
    assert asked == [torch.device("cpu")]


@guarantee("cuda")
def test_the_fixed_binarization_is_drawn_on_the_cpu_whatever_the_training_device(monkeypatch, data_dir):
    """Under `--binarize` the validation and test draws are made on the CPU before the splits move to the device, so
    CPU and GPU runs score the same binarized images (checked with PyTorch's `meta` device as the target)."""
    from vae import training

    drawn_on, real = [], training.binarized
    monkeypatch.setattr(training, "binarized", lambda x, seed: drawn_on.append(x.device.type) or real(x, seed))
    config = TrainConfig(arch="mlp", hidden=(16,), train_limit=64, binarize=True, data_dir=str(data_dir))
    on_meta = training.prepare_splits(config, torch.device("meta"))
    on_cpu = training.prepare_splits(config, torch.device("cpu"))
    assert drawn_on == ["cpu"] * 4
    assert on_meta.val_x.device.type == on_meta.test_x.device.type == "meta"
    reference = torch.bernoulli(training.prepare_splits(dataclasses.replace(config, binarize=False),
                                                        torch.device("cpu")).test_x,
                                generator=torch.Generator().manual_seed(config.seed + 2))
    assert torch.equal(on_cpu.test_x, reference)


@guarantee("cuda")
def test_each_report_run_gets_a_fresh_worker_process(tmp_path):
    """With workers, every run is made in a process of its own (its GPU memory goes back when it ends), never in a
    reused one: three runs on two workers take three processes."""
    from support.worker_process import process_id
    from vae.report import runner

    done = []
    pids = runner.make_runs(["a", "b", "c"], 2, lambda job, result: done.append(job), work=process_id)
    assert len(set(pids)) == 3 and os.getpid() not in pids
    assert sorted(done) == ["a", "b", "c"]


@guarantee("cuda")
@pytest.mark.parametrize("device,requested,free_gib,expected",
                         [("cuda", 4, 5.0, 2), ("cuda", 4, 80.0, 4), ("cuda", 4, 0.5, 1), ("cuda", 1, 80.0, 1),
                          ("cuda", 0, 80.0, 1), ("cpu", 4, 80.0, 4), ("cpu", 0, 80.0, 2)],
                         ids=["cuda-memory-for-2", "cuda-memory-for-all", "cuda-memory-for-none", "cuda-one-asked",
                              "cuda-auto", "cpu-asked", "cpu-auto"])
def test_the_number_of_workers_follows_free_gpu_memory_and_threads_are_shared(device, requested, free_gib,
                                                                              expected, monkeypatch):
    """`report --workers N` runs at most N at once: on CUDA as many as the free GPU memory holds (at least one; auto
    is one), on a CPU N (auto: one per core); the CPU threads are split between CUDA workers, each CPU worker
    trains on one thread, and one worker keeps the process's threads."""
    from vae.report import runner

    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (int(free_gib * 2**30), 141 * 2**30))
    monkeypatch.setattr(runner.os, "cpu_count", lambda: 2)
    assert runner.worker_count(torch.device(device), requested, runs=10) == expected
    assert runner.worker_count(torch.device("cpu"), 0, runs=1) == 1       # never more workers than runs
    monkeypatch.setattr(torch, "get_num_threads", lambda: 16)
    if device == "cuda":
        assert runner.threads_per_worker(expected, torch.device(device)) == (None if expected == 1 else 16 // expected)
    assert runner.threads_per_worker(expected, torch.device("cpu")) == (None if expected == 1 else 1)
    assert runner.threads_per_worker(1, torch.device("cpu")) is None


@guarantee("cuda")
def test_on_cuda_the_defaults_are_the_eager_step_and_one_run_at_a_time_and_flags_opt_in(
        monkeypatch, capsys, data_dir, tmp_path):
    """Until a GPU run measures them, the captured step and parallel runs are opt-in: `TrainConfig`, `train` and
    every report run default to the eager step and one run at a time; `report --workers N --cuda-graph` asks for
    them, `--workers 0` is refused in one line (exit 2)."""
    import vae.report
    from vae import cli
    from vae.report import PROFILES, run_specs

    assert TrainConfig().cuda_graph is False
    assert cli.config_from_args(cli.build_parser().parse_args(["train"])).cuda_graph is False
    assert all(profile.workers in (0, 1) and not profile.cuda_graph for profile in PROFILES.values())   # 0: auto
    assert not any(spec.config.cuda_graph for spec in run_specs(PROFILES["quick"], data_dir))

    asked = []
    monkeypatch.setattr(vae.report, "build_report", lambda profile, *args, **kwargs: asked.append(profile))
    code, _, err = run_cli(["report", "--profile", "quick", "--workers", "2", "--cuda-graph", "--data-dir", data_dir,
                            "--out", tmp_path / "assets"], capsys)
    assert code == 0, err
    assert (asked[0].workers, asked[0].cuda_graph) == (2, True)
    assert all(spec.config.cuda_graph for spec in run_specs(asked[0], data_dir))
    code, _, err = run_cli(["report", "--workers", "0", "--data-dir", data_dir, "--out", tmp_path / "assets"], capsys)
    assert code == 2
    assert_one_line(err, "--workers", "positive integer")
