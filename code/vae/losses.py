"""Chapter 3, the loss: the negative ELBO, split into reconstruction and KL.

-ELBO(x) = E_q[-log p(x|z)] + KL(q(z|x) || N(0, I)), estimated with one reparameterized sample.
Every term is summed over pixels (or latent dimensions) and averaged over the examples.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

RECON_LOSSES = ("bce", "mse")


class ELBOTerms(NamedTuple):
    loss: torch.Tensor    # recon + beta * kl: what the optimizer minimises
    elbo: torch.Tensor    # recon + kl: the negative ELBO in nats, whatever beta is
    recon: torch.Tensor
    kl: torch.Tensor


# --8<-- [start:recon]
def reconstruction_per_example(logits: torch.Tensor, x: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    """-log p(x|z) for a Bernoulli decoder (bce), or the squared error of its mean (mse), per example."""
    if kind == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
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
                  beta: float = 1.0, recon_loss: str = "bce") -> ELBOTerms:
    """Sum over pixels and latent dimensions, mean over the examples of the batch."""
    recon = reconstruction_per_example(logits, x, recon_loss).mean()
    kl = kl_per_dimension(mu, logvar).sum(1).mean()
    return ELBOTerms(loss=recon + beta * kl, elbo=recon + kl, recon=recon, kl=kl)
# --8<-- [end:elbo]
