"""The negative ELBO: closed-form KL, reconstruction, and how the terms are reduced."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae.losses import (ELBOTerms, bernoulli_nll, kl_per_dimension, log_normal, negative_elbo, negative_iwae,
                        reconstruction_per_example)
from vae.plumbing.device import SpeedPolicy

# The textbook per-pixel loss and the speed policy's hand-written kernel of it: both must be the BCE.
KERNELS = {"textbook": bernoulli_nll, "policy": SpeedPolicy.bernoulli_nll}


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


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_one_pixel_bce_by_hand(kernel):
    # A single pixel with value 0.25 and logit 0: -log p(x|z) = -(0.25 log 0.5 + 0.75 log 0.5) = log 2.
    logits = torch.zeros(1, 1, 28, 28)
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 5, 7] = 0.25
    per_pixel_zero = math.log(2)          # x = 0 with p = 0.5 costs log 2 as well
    expected = 784 * per_pixel_zero
    assert reconstruction_per_example(logits, x, nll=KERNELS[kernel]).item() == pytest.approx(expected, rel=1e-6)
    logits[0, 0, 5, 7] = 2.0              # now that pixel alone costs -(0.25 log s(2) + 0.75 log s(-2))
    pixel = -(0.25 * math.log(1 / (1 + math.exp(-2))) + 0.75 * math.log(1 / (1 + math.exp(2))))
    assert reconstruction_per_example(logits, x, nll=KERNELS[kernel]).item() == pytest.approx(
        783 * per_pixel_zero + pixel, rel=1e-6)


def test_the_policys_bce_kernel_and_its_gradient_match_the_textbook_form_even_at_extreme_logits():
    g = torch.Generator().manual_seed(3)
    logits = torch.cat([torch.randn(4, 1, 28, 28, generator=g) * 6,
                        torch.full((1, 1, 28, 28), 90.0), torch.full((1, 1, 28, 28), -90.0)])
    x = torch.rand(6, 1, 28, 28, generator=g)
    x[:2] = (x[:2] > 0.5).float()          # binarized images as well as grey levels
    ours_logits, ref_logits = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    ours = reconstruction_per_example(ours_logits, x, nll=SpeedPolicy.bernoulli_nll)
    ref = reconstruction_per_example(ref_logits, x)       # F.binary_cross_entropy_with_logits
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-3)          # nats per image
    (ours * torch.arange(1.0, 7.0)).sum().backward()                     # unequal weights per image
    (ref * torch.arange(1.0, 7.0)).sum().backward()
    torch.testing.assert_close(ours_logits.grad, ref_logits.grad, rtol=1e-5, atol=1e-6)


def test_the_policys_bce_of_bf16_logits_is_computed_in_fp32():
    logits, x, _, _ = _batch()
    nll = SpeedPolicy.bernoulli_nll
    per_example = reconstruction_per_example(logits.bfloat16(), x, nll=nll)
    assert per_example.dtype == torch.float32
    torch.testing.assert_close(per_example, reconstruction_per_example(logits.bfloat16().float(), x, nll=nll))


def test_the_kernel_passed_in_is_the_one_every_loss_uses():
    logits, x, mu, logvar = _batch()
    calls = []

    def counted(l, t):
        calls.append(l.shape)
        return bernoulli_nll(l, t)

    negative_elbo(logits, x, mu, logvar, nll=counted)
    negative_iwae(logits.repeat(3, 1, 1, 1), x, torch.randn(3, *mu.shape), mu, logvar, nll=counted)
    assert calls == [logits.shape, (3 * len(logits), *logits.shape[1:])]


def test_mse_is_the_squared_error_of_the_decoder_mean_summed_over_pixels():
    logits = torch.zeros(2, 1, 28, 28)            # mean 0.5 everywhere
    x = torch.ones(2, 1, 28, 28)
    torch.testing.assert_close(reconstruction_per_example(logits, x, "mse"), torch.full((2,), 784 * 0.25))


def test_unknown_reconstruction_loss_is_refused_with_the_allowed_names():
    with pytest.raises(ValueError, match="bce, mse"):
        reconstruction_per_example(torch.zeros(1, 1, 28, 28), torch.zeros(1, 1, 28, 28), "l1")


# ---- the importance-weighted objective ------------------------------------------------------

def _iwae_inputs(k: int, n: int = 6, d: int = 3, seed: int = 0):
    """A fixed toy 'model': logits linear in z, so the bound can be evaluated for any k."""
    g = torch.Generator().manual_seed(seed)
    x = torch.bernoulli(torch.full((n, 1, 28, 28), 0.3), generator=g)
    mu, logvar = torch.randn(n, d, generator=g) * 0.5, torch.randn(n, d, generator=g) * 0.3 - 0.5
    weight = torch.randn(d, 784, generator=g) * 0.3
    z = mu + torch.exp(0.5 * logvar) * torch.randn(k, n, d, generator=g)
    logits = (z.flatten(0, 1) @ weight - 0.8).view(k * n, 1, 28, 28)
    return logits, x, z, mu, logvar


def test_iwae_with_k_1_is_the_elbo_of_the_same_sample():
    """With one sample the bound is log w itself: recon plus the sampled log q - log p."""
    logits, x, z, mu, logvar = _iwae_inputs(k=1)
    terms = negative_iwae(logits, x, z, mu, logvar)
    sampled_kl = log_normal(z, mu, logvar) - log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
    expected = (reconstruction_per_example(logits, x) + sampled_kl[0]).mean()
    torch.testing.assert_close(terms.loss, expected)
    # The reported terms are the ELBO's, with the KL in closed form as in negative_elbo.
    reference = negative_elbo(logits, x, mu, logvar)
    torch.testing.assert_close(terms.elbo, reference.elbo)
    torch.testing.assert_close(terms.kl, reference.kl)


@pytest.mark.usefixtures("single_thread")   # 600 small draws: a second thread only adds hand-offs
def test_iwae_mean_over_many_draws_does_not_get_worse_as_k_grows():
    """E[-L_k] is non-increasing in k (Burda et al. 2015, theorem 1), on a fixed model."""
    means = []
    for k in (1, 5, 50):
        losses = torch.stack([negative_iwae(*_iwae_inputs(k, seed=s)).loss for s in range(200)])
        means.append((losses.mean().item(), losses.std().item() / math.sqrt(len(losses))))
    # seeds fix x, mu and logvar too: the same model and data for every k
    for (a, se_a), (b, se_b) in zip(means, means[1:]):
        assert b <= a + 3 * math.hypot(se_a, se_b), means
    assert means[-1][0] < means[0][0], means


def test_iwae_elbo_terms_do_not_depend_on_beta_but_the_loss_does():
    inputs = _iwae_inputs(k=5)
    one, half = negative_iwae(*inputs, beta=1.0), negative_iwae(*inputs, beta=0.5)
    assert torch.equal(one.elbo, half.elbo) and torch.equal(one.kl, half.kl)
    assert half.loss < one.loss


def test_stacked_terms_are_detached_in_loss_elbo_recon_kl_order():
    t = ELBOTerms(*(torch.tensor(float(i), requires_grad=True) for i in range(4)))
    stacked = t.stacked()
    assert stacked.tolist() == [0.0, 1.0, 2.0, 3.0] and not stacked.requires_grad


def test_free_bits_floor_each_units_kl_in_the_loss_and_leave_the_elbo_alone():
    """Kingma et al. (2016): a unit whose batch-mean KL is under the floor costs the floor and gets
    no gradient from the KL term; above the floor the loss is the ELBO's. ELBO and KL stay true."""
    from vae.losses import kl_per_dimension, negative_elbo
    torch.manual_seed(0)
    x, logits = torch.rand(16, 1, 28, 28), torch.randn(16, 1, 28, 28)
    mu = torch.cat([torch.randn(16, 1) * 0.01, torch.randn(16, 1) * 3.0], 1).requires_grad_()
    logvar = torch.zeros(16, 2)
    plain = negative_elbo(logits, x, mu, logvar)
    floored = negative_elbo(logits, x, mu, logvar, free_bits=0.5)
    per_unit = kl_per_dimension(mu, logvar).mean(0)
    assert per_unit[0] < 0.5 < per_unit[1]
    assert floored.loss.item() == pytest.approx(plain.recon.item() + 0.5 + per_unit[1].item(), rel=1e-6)
    assert floored.elbo.item() == plain.elbo.item() and floored.kl.item() == plain.kl.item()
    floored.loss.backward()
    assert mu.grad[:, 0].abs().max() == 0 and mu.grad[:, 1].abs().max() > 0


def test_free_bits_need_the_elbo_objective():
    from vae.config import TrainConfig
    from vae.plumbing.errors import ConfigError
    with pytest.raises(ConfigError, match="--free-bits"):
        TrainConfig(objective="iwae", k=5, free_bits=0.1).validate()
    with pytest.raises(ConfigError, match="--free-bits"):
        TrainConfig(free_bits=-1.0).validate()
