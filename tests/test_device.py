"""The speed policy: one place decides layout, optimizer kernel, evaluation batch and GPU step."""

import pytest
import torch

from vae.device import CPU_CONV_EVAL_BATCH, SpeedPolicy, environment, select_device
from vae.errors import ConfigError
from vae.evaluation import evaluate
from vae.models import build_model


def test_cpu_policy_is_channels_last_for_conv_only_fused_adam_and_no_gpu_step():
    conv = SpeedPolicy.for_model("conv", "cpu", cuda_graph=True, precision="bf16")
    mlp = SpeedPolicy.for_model("mlp", "cpu")
    assert conv.memory_format == torch.channels_last and mlp.memory_format == torch.contiguous_format
    assert conv.fused_adam and mlp.fused_adam
    assert not conv.cuda_graph and not conv.bf16          # CUDA only, whatever is asked
    assert conv.eval_batch_size == CPU_CONV_EVAL_BATCH and mlp.eval_batch_size == 1000


def test_cuda_policy_captures_and_honours_precision_without_needing_a_gpu():
    policy = SpeedPolicy.for_model("conv", "cuda", precision="bf16")
    assert policy.cuda_graph and policy.bf16 and policy.eval_batch_size == 1000
    assert not SpeedPolicy.for_model("conv", "cuda", cuda_graph=False).cuda_graph


def test_evaluate_without_a_batch_size_takes_the_policy_batch_and_an_explicit_one_exactly():
    torch.manual_seed(0)
    model, x = build_model("conv", 2), torch.rand(300, 1, 28, 28)
    assert evaluate(model, x) == evaluate(model, x, batch_size=CPU_CONV_EVAL_BATCH)
    assert evaluate(model, x, batch_size=300) != evaluate(model, x)   # other batches, other noise draws


def test_select_device_refuses_an_unknown_or_absent_device_naming_the_flag():
    assert select_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="--device: must be auto"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="not available"):
            select_device("cuda")


def test_the_machine_record_names_versions_cpu_and_threads():
    env = environment()
    assert env["torch"] == torch.__version__ and env["cpu"] and env["cpu_cores"] >= 1
    assert env["cpu_threads"] == torch.get_num_threads()
