"""The negative ELBO: closed-form KL, reconstruction, and how the terms are reduced."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae.losses import kl_per_dimension, negative_elbo, reconstruction_per_example


def test_kl_matches_torch_distributions_kl_divergence():
    torch.manual_seed(0)
    mu, logvar = torch.randn(8, 5), torch.randn(8, 5)
    q = Normal(mu, torch.exp(0.5 * logvar))
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.testing.assert_close(kl_per_dimension(mu, logvar), kl_divergence(q, p))
    terms = negative_elbo(torch.zeros(8, 1, 28, 28), torch.rand(8, 1, 28, 28), mu, logvar)
    torch.testing.assert_close(terms.kl, kl_divergence(q, p).sum(1).mean())


def test_kl_is_zero_for_the_prior_itself():
    assert torch.equal(kl_per_dimension(torch.zeros(3, 2), torch.zeros(3, 2)), torch.zeros(3, 2))


def _batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 1, 28, 28, generator=g), torch.rand(n, 1, 28, 28, generator=g),
            torch.randn(n, 2, generator=g), torch.randn(n, 2, generator=g))


@pytest.mark.parametrize("recon_loss", ["bce", "mse"])
def test_doubling_the_batch_by_repetition_leaves_every_term_unchanged(recon_loss):
    logits, x, mu, logvar = _batch()
    once = negative_elbo(logits, x, mu, logvar, 0.5, recon_loss)
    twice = negative_elbo(*(torch.cat([t, t]) for t in (logits, x, mu, logvar)), 0.5, recon_loss)
    for a, b in zip(once, twice):
        torch.testing.assert_close(a, b)


def test_reconstruction_is_summed_over_pixels_and_averaged_over_examples_by_hand():
    logits, x, mu, logvar = _batch(n=3)
    p = torch.sigmoid(logits.double())
    xd = x.double()
    per_example = [-(xd[i] * torch.log(p[i]) + (1 - xd[i]) * torch.log(1 - p[i])).sum() for i in range(3)]
    hand_recon = sum(per_example) / 3
    hand_kl = sum(0.5 * sum(float(m) ** 2 + math.exp(float(lv)) - 1 - float(lv)
                            for m, lv in zip(mu[i], logvar[i])) for i in range(3)) / 3
    terms = negative_elbo(logits, x, mu, logvar, beta=2.0)
    assert terms.recon.item() == pytest.approx(hand_recon.item(), rel=1e-5)
    assert terms.kl.item() == pytest.approx(hand_kl, rel=1e-5)
    assert terms.elbo.item() == pytest.approx(hand_recon.item() + hand_kl, rel=1e-5)
    assert terms.loss.item() == pytest.approx(hand_recon.item() + 2.0 * hand_kl, rel=1e-5)


def test_one_pixel_bce_by_hand():
    # A single pixel with value 0.25 and logit 0: -log p(x|z) = -(0.25 log 0.5 + 0.75 log 0.5) = log 2.
    logits = torch.zeros(1, 1, 28, 28)
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 5, 7] = 0.25
    per_pixel_zero = math.log(2)          # x = 0 with p = 0.5 costs log 2 as well
    expected = 784 * per_pixel_zero
    assert reconstruction_per_example(logits, x).item() == pytest.approx(expected, rel=1e-6)
    logits[0, 0, 5, 7] = 2.0              # now that pixel alone costs -(0.25 log s(2) + 0.75 log s(-2))
    pixel = -(0.25 * math.log(1 / (1 + math.exp(-2))) + 0.75 * math.log(1 / (1 + math.exp(2))))
    assert reconstruction_per_example(logits, x).item() == pytest.approx(783 * per_pixel_zero + pixel, rel=1e-6)


def test_mse_is_the_squared_error_of_the_decoder_mean_summed_over_pixels():
    logits = torch.zeros(2, 1, 28, 28)            # mean 0.5 everywhere
    x = torch.ones(2, 1, 28, 28)
    torch.testing.assert_close(reconstruction_per_example(logits, x, "mse"), torch.full((2,), 784 * 0.25))


def test_unknown_reconstruction_loss_is_refused_with_the_allowed_names():
    with pytest.raises(ValueError, match="bce, mse"):
        reconstruction_per_example(torch.zeros(1, 1, 28, 28), torch.zeros(1, 1, 28, 28), "l1")
