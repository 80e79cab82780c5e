"""Chapter 3, the loss: the negative ELBO, split into reconstruction and KL.

-ELBO(x) = E_q[-log p(x|z)] + KL(q(z|x) || N(0, I)), estimated with one reparameterized sample.
Every term is summed over pixels (or latent dimensions) and averaged over the examples.
The importance-weighted bound (Burda et al. 2015) is the other training objective; whatever is
optimised, `ELBOTerms.elbo` stays the negative ELBO.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F

RECON_LOSSES = ("bce", "mse")
# The per-pixel Bernoulli loss: `bernoulli_nll` below, or the speed policy's faster kernel of the
# same loss (`plumbing/kernels.py`), which training and evaluation pass in.
PixelNLL = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class ELBOTerms(NamedTuple):
    loss: torch.Tensor    # recon + beta * kl: what the optimizer minimises
    elbo: torch.Tensor    # recon + kl: the negative ELBO in nats, whatever beta is
    recon: torch.Tensor
    kl: torch.Tensor

    def stacked(self) -> torch.Tensor:
        """The four terms as one detached tensor [loss, elbo, recon, kl], for sums kept on the device."""
        return torch.stack([self.loss, self.elbo, self.recon, self.kl]).detach()


# --8<-- [start:recon]
def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) of each pixel under a Bernoulli decoder with these logits."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none")


def reconstruction_per_example(logits: torch.Tensor, x: torch.Tensor, kind: str = "bce",
                               nll: PixelNLL = bernoulli_nll) -> torch.Tensor:
    """-log p(x|z) for a Bernoulli decoder (bce), or the squared error of its mean (mse), per example."""
    if kind == "bce":
        per_pixel = nll(logits, x)
    elif kind == "mse":
        per_pixel = (torch.sigmoid(logits) - x).pow(2)
    else:
        raise ValueError(f"unknown reconstruction loss {kind!r}; choose one of {', '.join(RECON_LOSSES)}")
    return per_pixel.flatten(1).sum(1)
# --8<-- [end:recon]


# --8<-- [start:kl]
def kl_per_dimension(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) in closed form, for each example and latent dimension."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
# --8<-- [end:kl]


# --8<-- [start:elbo]
def negative_elbo(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                  beta: float | torch.Tensor = 1.0, recon_loss: str = "bce",
                  nll: PixelNLL = bernoulli_nll, free_bits: float = 0.0) -> ELBOTerms:
    """Sum over pixels and latent dimensions, mean over the examples of the batch."""
    recon = reconstruction_per_example(logits, x, recon_loss, nll).mean()
    kl = kl_per_dimension(mu, logvar).sum(1).mean()
    # Free bits (Kingma et al. 2016): in the loss, each unit's batch-mean KL counts at least
    # free_bits nats, so a unit under the floor is not pushed further towards the prior.
    kl_loss = kl_per_dimension(mu, logvar).mean(0).clamp(min=free_bits).sum() if free_bits else kl
    return ELBOTerms(loss=recon + beta * kl_loss, elbo=recon + kl, recon=recon, kl=kl)
# --8<-- [end:elbo]


_LOG_2PI = math.log(2 * math.pi)


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dimension."""
    return -0.5 * (_LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


# --8<-- [start:iwae]
def negative_iwae(logits: torch.Tensor, x: torch.Tensor, z: torch.Tensor, mu: torch.Tensor,
                  logvar: torch.Tensor, beta: float | torch.Tensor = 1.0, recon_loss: str = "bce",
                  nll: PixelNLL = bernoulli_nll) -> ELBOTerms:
    """-L_k = -log (1/k) sum_i w_i with log w_i = log p(x|z_i) - beta (log q(z_i|x) - log p(z_i)).

    z holds k samples per example, shape (k, N, D); logits are their decodes, k-major (k*N, ...).
    The loss is the k-sample bound; elbo, recon and kl stay the ELBO's terms (recon averaged
    over the k samples, KL in closed form), so the reported ELBO does not depend on k.
    """
    k = z.shape[0]
    recon = reconstruction_per_example(logits, x.repeat(k, *([1] * (x.dim() - 1))), recon_loss, nll).view(k, -1)
    log_ratio = log_normal(z, mu, logvar) - log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
    # logsumexp, not log(sum(exp)): log weights are around -100 nats and would underflow.
    bound = torch.logsumexp(-recon - beta * log_ratio, dim=0) - math.log(k)
    recon_mean, kl = recon.mean(), kl_per_dimension(mu, logvar).sum(1).mean()
    return ELBOTerms(loss=-bound.mean(), elbo=recon_mean + kl, recon=recon_mean, kl=kl)
# --8<-- [end:iwae]
