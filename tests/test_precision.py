"""Precision of the training step: fp32 on the CPU is bit-for-bit reproducible, and every run
records the precision it trained in (bf16 autocast where the speed policy or --precision says)."""

import json

import pytest
import torch

from support.configs import small_splits
from vae.checkpoints import load_checkpoint
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


def _reference_forward(model, x: torch.Tensor, z_noise: torch.Tensor) -> torch.Tensor:
    """The VAE's forward with the latent heads and the decoder's first and last layers in fp32, written
    inside the model as the project had it before the speed policy applied it from outside."""
    h = model.encoder(x).float()
    with torch.autocast("cpu", enabled=False):
        mu, logvar = model.fc_mu(h), model.fc_logvar(h)
    h = mu + torch.exp(0.5 * logvar) * z_noise
    last = len(model.decoder) - 1 if model.arch == "conv" else len(model.decoder) - 2
    for i, layer in enumerate(model.decoder):
        if i in (0, last):
            with torch.autocast("cpu", enabled=False):
                h = layer(h.float())
        else:
            h = layer(h)
    return h


@pytest.mark.parametrize("arch", ["conv", "mlp"])
def test_the_policys_fp32_layers_compute_exactly_the_in_model_fp32_blocks_forward_and_backward(arch):
    from vae.models import build_model
    from vae.plumbing.device import SpeedPolicy

    torch.manual_seed(0)
    reference = build_model(arch, 2, hidden=(32,))
    policy = SpeedPolicy.for_model(arch, "cpu", precision="bf16")
    prepared = policy.prepare(build_model(arch, 2, hidden=(32,)))
    prepared.load_state_dict(reference.state_dict())           # the same names: checkpoints unaffected
    reference = reference.to(memory_format=policy.memory_format)
    x, noise = torch.rand(8, 1, 28, 28), torch.randn(8, 2)
    grads = []

    def policy_forward() -> torch.Tensor:
        mu, logvar = prepared.encode(x)
        return prepared.decode(mu + torch.exp(0.5 * logvar) * noise)

    for model, forward in ((reference, lambda: _reference_forward(reference, x, noise)), (prepared, policy_forward)):
        with torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False):
            logits = forward()
        assert logits.dtype == torch.float32 and not torch.is_autocast_enabled("cpu")
        logits.square().mean().backward()
        grads.append({name: p.grad for name, p in model.named_parameters()})
    assert grads[0].keys() == grads[1].keys()
    assert all(torch.equal(grads[0][k], grads[1][k]) for k in grads[0]), "the gradients differ"


def test_the_fp32_layers_leave_fp32_untouched_and_autocast_restored_after_an_error():
    from vae.models import build_model
    from vae.plumbing.kernels import keep_in_fp32

    torch.manual_seed(0)
    plain, kept = build_model("mlp", 2, hidden=(32,)), build_model("mlp", 2, hidden=(32,))
    kept.load_state_dict(plain.state_dict())
    keep_in_fp32(keep_in_fp32(kept))                            # twice: hooks added once
    assert list(kept.state_dict()) == list(plain.state_dict())
    x = torch.rand(4, 1, 28, 28)
    assert all(torch.equal(a, b) for a, b in zip(plain.encode(x), kept.encode(x)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with pytest.raises(RuntimeError):
            kept.decode(torch.zeros(4, 3))                        # the wrong latent size
        assert torch.is_autocast_enabled("cpu")                   # the fp32 block was left
