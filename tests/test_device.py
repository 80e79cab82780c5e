"""The speed policy: one place decides layout, optimizer kernel, evaluation batch and GPU step."""

import pytest
import torch

from vae.plumbing import device as device_module
from vae.plumbing.device import CPU_CONV_EVAL_BATCH, SpeedPolicy, environment, select_device
from vae.plumbing.errors import ConfigError
from vae.evaluation import evaluate
from vae.models import build_model


def test_cpu_policy_is_channels_last_for_conv_only_fused_adam_and_no_gpu_step():
    conv = SpeedPolicy.for_model("conv", "cpu", cuda_graph=True)
    mlp = SpeedPolicy.for_model("mlp", "cpu")
    assert conv.memory_format == torch.channels_last and mlp.memory_format == torch.contiguous_format
    assert conv.fused_adam and mlp.fused_adam
    assert not conv.cuda_graph                            # CUDA only, whatever is asked
    assert conv.eval_batch_size == CPU_CONV_EVAL_BATCH and mlp.eval_batch_size == 1000


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_takes_bf16_only_for_the_measured_models_on_a_cpu_with_bf16(monkeypatch, native):
    monkeypatch.setattr(device_module, "cpu_bf16_native", lambda: native)
    monkeypatch.setattr(device_module, "CPU_BF16_ARCHS", ("conv",))
    for arch in ("conv", "mlp"):
        policy = SpeedPolicy.for_model(arch, "cpu")
        assert policy.bf16 == (native and arch == "conv")
        assert policy.precision == ("bf16" if policy.bf16 else "fp32")
        assert SpeedPolicy.for_model(arch, "cpu", precision="fp32").precision == "fp32"
        assert SpeedPolicy.for_model(arch, "cpu", precision="bf16").precision == "bf16"   # asked: honoured
    assert SpeedPolicy.for_model("conv", "mps", precision="bf16").precision == "fp32"
    assert SpeedPolicy.for_model("conv", "cuda").precision == "fp32"        # auto on CUDA: not measured yet
    with pytest.raises(ConfigError, match="--precision: must be one of auto, fp32, bf16"):
        SpeedPolicy.for_model("conv", "cpu", precision="fp16")


def test_the_bf16_probe_agrees_with_the_cpu_flags_where_the_kernel_lists_them():
    from pathlib import Path
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo on this system")
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.read_text().splitlines()
                  if line.startswith("flags")), None)
    if flags is None:
        pytest.skip("/proc/cpuinfo lists no x86 flags here")
    assert device_module.cpu_bf16_native() == ("avx512_bf16" in flags or "amx_bf16" in flags)


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
    import torchvision      # after environment(), which reads its version without importing it

    assert env["torchvision"] == torchvision.__version__
