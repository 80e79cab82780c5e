"""Chapter 4, evaluation: the ELBO and its terms on a whole split, without gradients."""

from __future__ import annotations

import torch

from .losses import negative_elbo
from .models import PIXELS, VAE, reparameterize


@torch.inference_mode()
# --8<-- [start:evaluate]
def evaluate(model: VAE, x: torch.Tensor, beta: float = 1.0, recon_loss: str = "bce",
             batch_size: int = 1000, seed: int = 0) -> dict[str, float]:
    """Mean negative ELBO, reconstruction and KL per example over `x`, one posterior sample each.

    The posterior noise comes from its own generator seeded with `seed`, so evaluating the
    same model twice gives the same numbers and the training RNG is left untouched.
    """
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=x.device).manual_seed(seed)
    sums = torch.zeros(4, dtype=torch.float64, device=x.device)
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size]
        mu, logvar = model.encode(batch)
        logits = model.decode(reparameterize(mu, logvar, generator))
        terms = negative_elbo(logits, batch, mu, logvar, beta, recon_loss)
        sums += torch.stack([terms.loss, terms.elbo, terms.recon, terms.kl]).double() * len(batch)
    model.train(was_training)
    loss, elbo, recon, kl = (sums / len(x)).tolist()
    return {"elbo": elbo, "recon": recon, "kl": kl, "loss": loss, "elbo_per_pixel": elbo / PIXELS}
# --8<-- [end:evaluate]
