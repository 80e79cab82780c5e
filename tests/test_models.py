"""The two architectures: parameter count, output shapes, and gradients through the sampling step."""

import pytest
import torch

from vae.models import ConvVAE, MLPVAE, build_model, count_parameters, init_output_bias, reparameterize


def test_conv_vae_with_latent_2_has_315365_parameters():
    assert count_parameters(build_model("conv", 2)) == 315_365


def test_mlp_vae_parameter_count_matches_its_layer_sizes():
    # 784-400-z encoder with two z heads, z-400-784 decoder, weights and biases.
    z = 20
    expected = (784 * 400 + 400) + 2 * (400 * z + z) + (z * 400 + 400) + (400 * 784 + 784)
    assert count_parameters(MLPVAE(z, (400,))) == expected


@pytest.mark.parametrize("arch,hidden,latent_dim", [
    ("conv", (400,), 2), ("conv", (400,), 16),
    ("mlp", (400,), 2), ("mlp", (400,), 20), ("mlp", (512, 256), 2), ("mlp", (512, 256), 10),
])
def test_forward_returns_logits_mu_logvar_of_the_right_shapes(arch, hidden, latent_dim):
    torch.manual_seed(0)
    model = build_model(arch, latent_dim, hidden)
    x = torch.rand(5, 1, 28, 28)
    logits, mu, logvar = model(x)
    assert logits.shape == (5, 1, 28, 28)
    assert mu.shape == logvar.shape == (5, latent_dim)
    assert model.decode(torch.zeros(3, latent_dim)).shape == (3, 1, 28, 28)
    assert model.latent_dim == latent_dim


def test_mlp_hidden_sizes_are_mirrored_in_the_decoder():
    model = MLPVAE(8, (512, 256))
    encoder = [m.out_features for m in model.encoder if isinstance(m, torch.nn.Linear)]
    decoder = [m.out_features for m in model.decoder if isinstance(m, torch.nn.Linear)]
    assert encoder == [512, 256]
    assert decoder == [256, 512, 784]


def test_unknown_architecture_is_refused_with_the_allowed_names():
    with pytest.raises(ValueError, match="conv, mlp"):
        build_model("resnet", 2)


def test_gradients_flow_through_the_reparameterization_to_mu_and_logvar():
    torch.manual_seed(0)
    mu = torch.randn(4, 3, requires_grad=True)
    logvar = torch.randn(4, 3, requires_grad=True)
    z = reparameterize(mu, logvar)
    weights = torch.randn(4, 3)
    (z * weights).sum().backward()
    # dz/dmu = 1, dz/dlogvar = 0.5 * sigma * eps with eps = (z - mu) / sigma.
    eps = (z - mu).detach() / torch.exp(0.5 * logvar.detach())
    torch.testing.assert_close(mu.grad, weights)
    torch.testing.assert_close(logvar.grad, weights * 0.5 * torch.exp(0.5 * logvar.detach()) * eps)
    assert logvar.grad.abs().sum() > 0


def test_gradients_reach_the_encoder_heads_through_the_sample():
    torch.manual_seed(0)
    model = ConvVAE(2)
    logits, mu, logvar = model(torch.rand(2, 1, 28, 28))
    logits.sum().backward()          # the decoder output only: no direct path to mu or logvar
    assert model.fc_mu.weight.grad is not None and model.fc_mu.weight.grad.abs().sum() > 0
    assert model.fc_logvar.weight.grad is not None and model.fc_logvar.weight.grad.abs().sum() > 0


def test_reparameterize_with_a_seeded_generator_is_reproducible():
    mu, logvar = torch.zeros(2, 4), torch.zeros(2, 4)
    a = reparameterize(mu, logvar, torch.Generator().manual_seed(3))
    b = reparameterize(mu, logvar, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_burdas_784_200_200_50_tanh_mlp_can_be_built_exactly():
    model = build_model("mlp", 50, (200, 200), activation="tanh")
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in layers] == [
        (784, 200), (200, 200), (200, 50), (200, 50), (50, 200), (200, 200), (200, 784)]
    assert sum(isinstance(m, torch.nn.Tanh) for m in model.modules()) == 4
    assert not any(isinstance(m, torch.nn.ReLU) for m in model.modules())
    with pytest.raises(ValueError, match="relu, tanh"):
        build_model("mlp", 50, (200,), activation="gelu")


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_output_bias_starts_at_the_logit_of_the_mean_pixel(arch):
    means = torch.rand(1, 28, 28) * 0.9 + 0.05
    means[0, 0, 0] = 0.0                         # a pixel that is always off: clamped, not -inf
    model = build_model(arch, 2, (32,))
    init_output_bias(model, means)
    last = [m for m in model.decoder.modules() if hasattr(m, "bias") and m.bias is not None][-1]
    if arch == "mlp":
        assert torch.allclose(torch.sigmoid(last.bias[1:]), means.flatten()[1:], atol=1e-5)
        assert torch.isfinite(last.bias).all()
    else:
        assert torch.sigmoid(last.bias).item() == pytest.approx(means.mean().item(), abs=1e-4)
