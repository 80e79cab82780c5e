"""Precision of the training step: fp32 on the CPU is bit-for-bit reproducible, and every run
records the precision it trained in (bf16 autocast where the speed policy or --precision says)."""

import json

import pytest
import torch

from support.configs import small_splits
from vae.plumbing.checkpoints import load_checkpoint
from vae.config import TrainConfig
from vae.training import train as train_on_all_images

pytestmark = pytest.mark.usefixtures("single_thread")


def tiny(data_dir, arch: str, precision: str) -> TrainConfig:
    hidden = dict(hidden=(64,)) if arch == "mlp" else {}
    return TrainConfig(arch=arch, **hidden, epochs=1, batch_size=64, train_limit=192, device="cpu",
                       data_dir=str(data_dir), precision=precision)


def train(config: TrainConfig, out, **kwargs):
    """Train on 192 real images, scored on 256 validation and 512 test images (not the whole sets)."""
    return train_on_all_images(config, out, splits=small_splits(config.data_dir, train=config.train_limit), **kwargs)


def weights(folder) -> dict[str, torch.Tensor]:
    return load_checkpoint(folder / "last.pt")["model"]


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_two_fp32_runs_give_identical_weights_and_metrics_and_say_fp32(tmp_path, data_dir, arch):
    a = train(tiny(data_dir, arch, "fp32"), tmp_path / "a", log=lambda m: None, progress=False)
    b = train(tiny(data_dir, arch, "fp32"), tmp_path / "b", log=lambda m: None, progress=False)
    assert a.metrics["test"] == b.metrics["test"] and a.metrics["val"] == b.metrics["val"]
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["precision"] == "fp32"


def test_a_bf16_run_states_its_precision_and_trains_other_weights_than_fp32(tmp_path, data_dir):
    fp32 = train(tiny(data_dir, "conv", "fp32"), tmp_path / "fp32", log=lambda m: None, progress=False)
    bf16 = train(tiny(data_dir, "conv", "bf16"), tmp_path / "bf16", log=lambda m: None, progress=False)
    assert json.loads((tmp_path / "bf16" / "metrics.json").read_text())["precision"] == "bf16"
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["config"]["precision"] == "bf16"
    w32, w16 = weights(tmp_path / "fp32"), weights(tmp_path / "bf16")
    assert any(not torch.equal(w32[k], w16[k]) for k in w32)        # bf16 really ran
    assert all(w.dtype == torch.float32 for w in w16.values())      # autocast: the weights stay fp32
    assert abs(bf16.metrics["test"]["elbo"] - fp32.metrics["test"]["elbo"]) < 5.0


def test_auto_precision_records_what_the_policy_chose(tmp_path, data_dir):
    from vae.plumbing.device import SpeedPolicy

    result = train(tiny(data_dir, "conv", "auto"), tmp_path / "auto", log=lambda m: None, progress=False)
    assert result.metrics["precision"] == SpeedPolicy.for_model("conv", "cpu").precision
