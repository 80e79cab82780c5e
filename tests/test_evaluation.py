"""Evaluation beyond the ELBO: the IWAE bound, active units, anomaly AUC and the latent helpers.

Tiny hand-built models make the expected answers exact or computable by quadrature.
"""

import math

import pytest
import torch
from torch import nn

from vae.evaluation import (ACTIVE_KL_NATS, active_dimensions, active_units, anomaly_auc, evaluate, interpolations, iwae_bound, latent_encodings,
                            latent_grid, mean_kl_per_dimension, negative_elbo_per_example, pca_projection,
                            prior_samples, decode_images)
from vae.losses import reconstruction_per_example
from vae.models import VAE, MLPVAE


def linear_decoder_vae(mu: float = 0.0, logvar: float = 0.0, weight_scale: float = 0.5, seed: int = 0) -> VAE:
    """A 1-D latent VAE whose encoder ignores x (q = N(mu, exp(logvar))) and whose decoder is linear in z."""
    torch.manual_seed(seed)
    decoder = nn.Sequential(nn.Linear(1, 784), nn.Unflatten(1, (1, 28, 28)))
    with torch.no_grad():
        decoder[0].weight.mul_(0).add_(weight_scale * torch.randn(784, 1))
    model = VAE(nn.Flatten(), 784, decoder, latent_dim=1)
    with torch.no_grad():
        for head, value in ((model.fc_mu, mu), (model.fc_logvar, logvar)):
            head.weight.zero_()
            head.bias.fill_(value)
    return model.eval()


def log_likelihood_by_quadrature(model: VAE, x: torch.Tensor, points: int = 4001) -> torch.Tensor:
    """log p(x) = log ∫ p(x|z) N(z; 0, 1) dz on a fine grid: the exact answer for a 1-D latent."""
    z = torch.linspace(-8, 8, points).unsqueeze(1)
    with torch.no_grad():
        logits = model.decode(z)                                              # (points, 1, 28, 28)
        log_px_z = torch.stack([-reconstruction_per_example(logits, xi.expand_as(logits)) for xi in x])
    log_prior = -0.5 * (z.squeeze(1) ** 2 + math.log(2 * math.pi))
    return torch.logsumexp(log_px_z.double() + log_prior.double(), dim=1) + math.log(16 / (points - 1))


@pytest.fixture
def binary_images():
    torch.manual_seed(1)
    return torch.bernoulli(torch.full((8, 1, 28, 28), 0.3))


def test_iwae_with_k_1_is_the_single_sample_elbo_of_the_same_samples(binary_images):
    model = MLPVAE(4, (32,)).eval()
    bound = iwae_bound(model, binary_images, k=1, seed=3)
    assert torch.allclose(bound["nll"], bound["negative_elbo"])


def test_iwae_is_never_above_the_elbo_of_the_same_samples(binary_images):
    # log of a mean >= mean of the logs (Jensen), image by image.
    bound = iwae_bound(MLPVAE(4, (32,)), binary_images, k=20, chunk_size=7, seed=0)
    assert bound["nll"].shape == (len(binary_images),)
    assert (bound["nll"] <= bound["negative_elbo"] + 1e-9).all()


def test_iwae_k_1_agrees_with_evaluate_in_expectation():
    torch.manual_seed(0)
    x = torch.rand(400, 1, 28, 28)
    model = MLPVAE(4, (32,)).eval()
    # evaluate uses the closed-form KL; k = 1 a one-sample estimate of it: equal on average.
    assert iwae_bound(model, x, k=1, seed=5)["mean_nll"] == pytest.approx(evaluate(model, x)["elbo"], rel=2e-3)


def test_iwae_bound_tightens_as_k_grows_and_reaches_the_quadrature_likelihood():
    torch.manual_seed(1)
    x = torch.bernoulli(torch.full((32, 1, 28, 28), 0.3))
    # q is deliberately wider than the posterior, so the ELBO gap is several nats.
    model = linear_decoder_vae(mu=0.2, logvar=math.log(0.6))
    exact_nll = -log_likelihood_by_quadrature(model, x)
    means = [iwae_bound(model, x, k=k, seed=0)["mean_nll"] for k in (1, 4, 64)]
    assert means[0] > means[1] > means[2] > exact_nll.mean().item() - 0.05
    tight = iwae_bound(model, x, k=2000, seed=0)["nll"]
    assert tight.mean().item() == pytest.approx(exact_nll.mean().item(), abs=0.05)
    assert (tight >= exact_nll - 0.15).all()          # a lower bound on log p, up to Monte Carlo noise


def test_iwae_is_exact_when_q_is_the_true_posterior():
    # A decoder that ignores z makes the posterior the prior: every weight equals p(x).
    model = linear_decoder_vae(mu=0.0, logvar=0.0, weight_scale=0.0)
    x = torch.bernoulli(torch.full((3, 1, 28, 28), 0.5))
    expected = reconstruction_per_example(model.decode(torch.zeros(3, 1)), x).double()
    for k in (1, 5):
        assert torch.allclose(iwae_bound(model, x, k=k)["nll"], expected, atol=1e-4)


def test_iwae_rejects_k_below_1(binary_images):
    with pytest.raises(ValueError, match="k must be"):
        iwae_bound(MLPVAE(2, (8,)), binary_images, k=0)


def test_per_example_scores_average_to_the_evaluated_elbo():
    torch.manual_seed(0)
    x = torch.rand(50, 1, 28, 28)
    model = MLPVAE(3, (16,))
    scores = negative_elbo_per_example(model, x, batch_size=20, seed=4)
    assert scores.shape == (50,)
    assert scores.mean().item() == pytest.approx(evaluate(model, x, batch_size=20, seed=4)["elbo"], rel=1e-5)


def test_active_units_are_the_dimensions_whose_kl_exceeds_the_one_threshold():
    kl = torch.tensor([2.0, 0.051, ACTIVE_KL_NATS, 0.01, 0.0], dtype=torch.float64)
    assert active_dimensions(kl) == [0, 1]                 # at the threshold is collapsed, above it active
    assert active_units(kl) == 2
    assert active_units(kl, threshold_nats=0.005) == 4
    mu = torch.stack([torch.randn(100), torch.zeros(100)], 1)    # one unit used, one at the prior
    assert active_dimensions(mean_kl_per_dimension(mu, torch.zeros_like(mu))) == [0]


def test_mean_kl_per_dimension_is_zero_for_the_prior_and_grows_with_the_mean():
    mu = torch.tensor([[0.0, 1.0], [0.0, 3.0]])
    kl = mean_kl_per_dimension(mu, torch.zeros_like(mu))
    assert kl.tolist() == pytest.approx([0.0, (0.5 + 4.5) / 2])


def test_anomaly_auc_on_constructed_scores():
    inliers, outliers = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([4.0, 5.0])
    assert anomaly_auc(inliers, outliers) == 1.0
    assert anomaly_auc(outliers, inliers) == 0.0
    assert anomaly_auc(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])) == 0.5
    # One outlier below one inlier: 5 of the 6 pairs are ordered correctly.
    assert anomaly_auc(torch.tensor([1.0, 2.5, 3.0]), torch.tensor([2.0, 4.0])) == pytest.approx(4 / 6)


def test_latent_grid_follows_gaussian_quantiles_like_kingma_and_welling():
    z = latent_grid(20)
    assert z.shape == (400, 2)
    assert z[0].tolist() == pytest.approx([-1.6449, 1.6449], abs=1e-3)     # top left: low z1, high z2
    assert z[-1].tolist() == pytest.approx([1.6449, -1.6449], abs=1e-3)
    assert z.mean(0).abs().max() < 1e-6


def test_pca_projection_reports_explained_variance():
    t = torch.linspace(-1, 1, 100).unsqueeze(1)
    points = torch.cat([t, 2 * t, -t, torch.zeros_like(t)], 1)             # all on one line
    projected, explained = pca_projection(points)
    assert projected.shape == (100, 2)
    assert explained[0] == pytest.approx(1.0) and explained[1] == pytest.approx(0.0, abs=1e-9)


def test_interpolations_start_and_end_at_the_decoded_codes():
    torch.manual_seed(0)
    model = MLPVAE(3, (16,)).eval()
    a, b = torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28)
    rows = interpolations(model, a, b, steps=6)
    assert rows.shape == (2, 6, 1, 28, 28)
    mu_a, _ = latent_encodings(model, a)
    mu_b, _ = latent_encodings(model, b)
    assert torch.allclose(rows[:, 0], decode_images(model, mu_a), atol=1e-6)
    assert torch.allclose(rows[:, -1], decode_images(model, mu_b), atol=1e-6)


def test_prior_samples_are_repeatable_and_leave_the_global_rng_alone():
    model = MLPVAE(2, (8,))
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first, second = prior_samples(model, 4, seed=7), prior_samples(model, 4, seed=7)
    assert torch.equal(first, second) and first.shape == (4, 1, 28, 28)
    assert ((first >= 0) & (first <= 1)).all()
    assert torch.equal(torch.get_rng_state(), before)


def test_eval_mode_puts_the_model_back_in_its_mode_even_after_an_error():
    from vae.evaluation import eval_mode

    model = MLPVAE(2, (8,)).train()
    with eval_mode(model):
        assert not model.training
    assert model.training
    with pytest.raises(RuntimeError), eval_mode(model):
        raise RuntimeError("boom")
    assert model.training
    model.eval()
    with eval_mode(model):
        pass
    assert not model.training
