"""Chapter 4, evaluation: the ELBO and its terms on a whole split, without gradients.

Beyond `evaluate`: per-image scores for anomaly detection, the importance-sampled (IWAE) bound
on log p(x), active units and the other latent-space measurements, and the decoding helpers
(prior samples, reconstructions, interpolations, the 2-D manifold grid) that the figures show.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch

from .plumbing.device import SpeedPolicy, preferred_eval_batch
from .losses import PixelNLL, kl_per_dimension, log_normal, negative_elbo, reconstruction_per_example
from .models import PIXELS, VAE, reparameterize


@contextmanager
def eval_mode(model: VAE) -> Iterator[VAE]:
    """The model in eval mode for the block, then back in the mode it was in (even on an error)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


# --8<-- [start:evaluate]
@torch.inference_mode()
def evaluate(model: VAE, x: torch.Tensor, beta: float = 1.0, recon_loss: str = "bce",
             batch_size: int | None = None, seed: int = 0,
             nll: PixelNLL = SpeedPolicy.bernoulli_nll) -> dict[str, float]:
    """Mean negative ELBO, reconstruction and KL per example over `x`, one posterior sample each.

    The posterior noise comes from its own generator seeded with `seed`, so evaluating the
    same model twice gives the same numbers and the training RNG is left untouched.
    `batch_size=None` takes the speed policy's batch for this model and device; `nll`, the
    per-pixel loss, is the policy's kernel, the one training uses.
    """
    batch_size = batch_size or preferred_eval_batch(model.arch, x.device)
    generator = torch.Generator(device=x.device).manual_seed(seed)
    sums = torch.zeros(4, dtype=torch.float64, device=x.device)
    with eval_mode(model):
        for start in range(0, len(x), batch_size):
            batch = x[start:start + batch_size]
            mu, logvar = model.encode(batch)
            logits = model.decode(reparameterize(mu, logvar, generator))
            terms = negative_elbo(logits, batch, mu, logvar, beta, recon_loss, nll)
            sums += terms.stacked().double() * len(batch)
    loss, elbo, recon, kl = (sums / len(x)).tolist()
    return {"elbo": elbo, "recon": recon, "kl": kl, "loss": loss, "elbo_per_pixel": elbo / PIXELS}
# --8<-- [end:evaluate]


# ---------------------------------------------------------------------------------------------
# Per-example scores: the anomaly score of chapter 6 is the negative ELBO of one image.

# --8<-- [start:anomaly]
@torch.inference_mode()
def negative_elbo_per_example(model: VAE, x: torch.Tensor, recon_loss: str = "bce",
                              batch_size: int | None = None, seed: int = 0,
                              nll: PixelNLL = SpeedPolicy.bernoulli_nll) -> torch.Tensor:
    """-ELBO of each image in nats (one posterior sample each, seeded and batched as in `evaluate`,
    so that their mean over a split is the −ELBO `evaluate` reports for it)."""
    batch_size = batch_size or preferred_eval_batch(model.arch, x.device)
    generator = torch.Generator(device=x.device).manual_seed(seed)
    scores = []
    with eval_mode(model):
        for start in range(0, len(x), batch_size):
            batch = x[start:start + batch_size]
            mu, logvar = model.encode(batch)
            logits = model.decode(reparameterize(mu, logvar, generator))
            scores.append(reconstruction_per_example(logits, batch, recon_loss, nll)
                          + kl_per_dimension(mu, logvar).sum(1))
    return torch.cat(scores).cpu()


def anomaly_auc(in_distribution_scores: torch.Tensor, out_of_distribution_scores: torch.Tensor) -> float:
    """ROC AUC of telling the two sets apart by score, higher score meaning "more anomalous".

    0.5 is chance, 1.0 a perfect separation; below 0.5 the model finds the outliers *more* likely.
    """
    from sklearn.metrics import roc_auc_score

    scores = torch.cat([in_distribution_scores, out_of_distribution_scores]).double().numpy()
    is_outlier = [0] * len(in_distribution_scores) + [1] * len(out_of_distribution_scores)
    return float(roc_auc_score(is_outlier, scores))
# --8<-- [end:anomaly]


# ---------------------------------------------------------------------------------------------
# Importance sampling: a tighter bound on log p(x) than the ELBO (Burda et al. 2015).
#
#   log p(x) >= L_k = E[ log (1/k) sum_i p(x, z_i) / q(z_i | x) ],  z_i ~ q(z | x)
#
# L_1 is the ELBO, L_k grows with k and tends to log p(x). Only with a Bernoulli decoder on
# binary pixels is p(x|z) a probability; on grey-level pixels the BCE is not a log-likelihood.

# --8<-- [start:importance]
def log_importance_weights(model: VAE, x: torch.Tensor, k: int, generator: torch.Generator | None = None,
                           chunk_size: int = 100, recon_loss: str = "bce",
                           nll: PixelNLL = SpeedPolicy.bernoulli_nll) -> torch.Tensor:
    """log p(x|z_i) + log p(z_i) - log q(z_i|x) for k samples per image: shape (len(x), k).

    The k samples are decoded `chunk_size` at a time, so memory holds len(x) * chunk_size
    decoded images at most, whatever k is.
    """
    mu, logvar = model.encode(x)
    sigma = torch.exp(0.5 * logvar)
    log_weights = []
    for start in range(0, k, chunk_size):
        n = min(chunk_size, k - start)
        eps = torch.randn((n, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + sigma * eps                                                  # (n, N, D)
        logits = model.decode(z.flatten(0, 1))                                # (n*N, 1, 28, 28)
        log_px_z = -reconstruction_per_example(logits, x.repeat(n, 1, 1, 1), recon_loss, nll).view(n, -1)
        log_pz = log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
        log_qz_x = log_normal(z, mu, logvar)
        log_weights.append((log_px_z + log_pz - log_qz_x).T)                 # (N, n)
    return torch.cat(log_weights, dim=1)


@torch.inference_mode()
def iwae_bound(model: VAE, x: torch.Tensor, k: int, batch_size: int = 100, chunk_size: int | None = None,
               seed: int = 0, recon_loss: str = "bce", nll: PixelNLL = SpeedPolicy.bernoulli_nll,
               on_batch: Callable[[int], None] | None = None) -> dict[str, Any]:
    """-L_k (the importance-sampled estimate of -log p(x)) and -L_1 (-ELBO) from the same samples.

    Returns per-image tensors `nll` and `negative_elbo` (nats), their means, the standard error
    of the mean -log p(x) over the images, and k. With the
    same samples, Jensen's inequality gives nll <= negative_elbo for every image.
    `chunk_size` defaults to a value that keeps batch_size * chunk_size <= 1,000 decodes.
    `on_batch(images)`, if given, is told after each batch how many images it held (a progress bar).
    """
    if k < 1:
        raise ValueError(f"k must be a positive number of importance samples (got {k})")
    # 1,000 decodes a chunk: their logits (3 MB) stay in the cache through the loss's element-wise
    # passes. At 10,000 an estimate of 200 images with k = 1000 took 1.65x as long on the 2-core
    # CPU, from the same samples (the same draws, chunk after chunk, and the same result).
    chunk_size = chunk_size or max(1, min(k, 1_000 // batch_size))
    generator = torch.Generator(device=x.device).manual_seed(seed)
    bounds, negative_elbo_ = [], []
    with eval_mode(model):
        for start in range(0, len(x), batch_size):
            log_w = log_importance_weights(model, x[start:start + batch_size], k, generator, chunk_size,
                                           recon_loss, nll).double()
            # logsumexp, not log(sum(exp)): log weights are around -100 nats and would underflow.
            bounds.append(-(torch.logsumexp(log_w, dim=1) - math.log(k)))
            negative_elbo_.append(-log_w.mean(dim=1))
            if on_batch is not None:
                on_batch(len(log_w))
    nll_t, elbo_t = torch.cat(bounds).cpu(), torch.cat(negative_elbo_).cpu()
    return {"k": k, "images": len(x), "nll": nll_t, "negative_elbo": elbo_t,
            "mean_nll": nll_t.mean().item(), "mean_negative_elbo": elbo_t.mean().item(),
            # over the images: the sample s.d. / √n (NaN for one image)
            "nll_standard_error": nll_t.std().item() / math.sqrt(len(nll_t))}
# --8<-- [end:importance]


# ---------------------------------------------------------------------------------------------
# Latent encodings: where the test images land, and which dimensions carry information.

# --8<-- [start:latent]
@torch.inference_mode()
def latent_encodings(model: VAE, x: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """mu and logvar of q(z|x) for every image, on the CPU."""
    mus, logvars = [], []
    with eval_mode(model):
        for start in range(0, len(x), batch_size):
            mu, logvar = model.encode(x[start:start + batch_size])
            mus.append(mu.cpu())
            logvars.append(logvar.cpu())
    return torch.cat(mus), torch.cat(logvars)


def mean_kl_per_dimension(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z_d|x) || N(0, 1)) of each latent dimension d, averaged over the images."""
    return kl_per_dimension(mu, logvar).mean(0)


# A unit whose posterior carries less than this, averaged over the images, is collapsed: its
# q(z_d|x) is the prior for (almost) every image. The one threshold of every figure, table and
# finding; a unit near it is counted by where the line is drawn (the `collapsed_near` finding).
ACTIVE_KL_NATS = 0.05


def active_dimensions(kl_per_dimension: torch.Tensor, threshold_nats: float = ACTIVE_KL_NATS) -> list[int]:
    """The latent dimensions whose mean KL(q(z_d|x) || p(z_d)) exceeds `threshold_nats`: the units
    the decoder can read. The others are collapsed (posterior = prior, they carry no information)."""
    return [d for d, kl in enumerate(kl_per_dimension.tolist()) if kl > threshold_nats]


def active_units(kl_per_dimension: torch.Tensor, threshold_nats: float = ACTIVE_KL_NATS) -> int:
    """How many latent dimensions are active (`active_dimensions`)."""
    return len(active_dimensions(kl_per_dimension, threshold_nats))


def pca_projection(points: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
    """The first two principal components of `points` and the fraction of variance each explains."""
    centred = points.double() - points.double().mean(0)
    _, singular_values, v_t = torch.linalg.svd(centred, full_matrices=False)
    explained = (singular_values.pow(2) / singular_values.pow(2).sum()).tolist()
    return (centred @ v_t[:2].T).float(), explained[:2]


def tsne_projection(points: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A 2-D t-SNE embedding (sklearn); its axes have no meaning, only its neighbourhoods do."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    perplexity = float(min(30, max(5, (len(points) - 1) // 4)))
    # One thread: on a busy 2-core machine, OpenMP/BLAS threads spin-waiting on each other made the
    # same 300-point embedding take anywhere from 0.5 to 20 s; single-threaded it is steady.
    with threadpool_limits(limits=1):
        embedding = TSNE(n_components=2, init="pca", perplexity=perplexity, max_iter=500, n_jobs=1,
                         random_state=seed).fit_transform(points.double().numpy())
    return torch.from_numpy(embedding).float()
# --8<-- [end:latent]


# ---------------------------------------------------------------------------------------------
# Decoding: images from the prior, from reconstructions, along lines and on a grid in z.

# --8<-- [start:decoding]
@torch.inference_mode()
def decode_images(model: VAE, z: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Bernoulli means sigmoid(logits) of the decoder for each z, on the CPU."""
    with eval_mode(model):
        images = [torch.sigmoid(model.decode(z[start:start + batch_size])).cpu()
                  for start in range(0, len(z), batch_size)]
    return torch.cat(images)


def prior_samples(model: VAE, n: int, seed: int = 0) -> torch.Tensor:
    """n images decoded from z ~ N(0, I); the same seed gives the same z at every epoch."""
    device = next(model.parameters()).device
    z = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    return decode_images(model, z)


def reconstructions(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """Decoded posterior means: the model's deterministic reconstruction of each image."""
    mu, _ = latent_encodings(model, x)
    return decode_images(model, mu.to(x.device))


def latent_grid(n: int = 20) -> torch.Tensor:
    """An n x n grid of 2-D z, evenly spaced in probability and mapped through the Gaussian inverse
    CDF (Kingma & Welling 2014, fig. 4), so the grid covers the prior's mass rather than a box.
    Rows go from high z_2 (top) to low, columns from low z_1 to high."""
    quantiles = torch.linspace(0.05, 0.95, n, dtype=torch.float64)
    values = torch.special.ndtri(quantiles).float()
    z2, z1 = torch.meshgrid(values.flip(0), values, indexing="ij")
    return torch.stack([z1.flatten(), z2.flatten()], dim=1)


def interpolations(model: VAE, x_start: torch.Tensor, x_end: torch.Tensor, steps: int = 10) -> torch.Tensor:
    """Decoded images along the straight line between the posterior means of each pair:
    shape (pairs, steps, 1, 28, 28); the first and last columns are the two endpoints' codes."""
    mu_start, _ = latent_encodings(model, x_start)
    mu_end, _ = latent_encodings(model, x_end)
    t = torch.linspace(0, 1, steps).view(1, steps, 1)
    z = mu_start.unsqueeze(1) * (1 - t) + mu_end.unsqueeze(1) * t           # (pairs, steps, D)
    device = next(model.parameters()).device
    images = decode_images(model, z.flatten(0, 1).to(device))
    return images.view(len(x_start), steps, *images.shape[1:])
# --8<-- [end:decoding]
