"""Chapter 2, architecture: the reference convolutional VAE and a configurable MLP VAE.

Both encoders return the mean and log-variance of a diagonal Gaussian q(z|x); both decoders
return Bernoulli logits for the 28x28 pixels. `build_model` selects one by name.
"""

from __future__ import annotations

import torch
from torch import nn

IMAGE_SHAPE = (1, 28, 28)
PIXELS = 28 * 28


# --8<-- [start:reparameterize]
def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + sigma * eps with sigma = exp(logvar / 2): the sample stays differentiable in mu, logvar."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps
# --8<-- [end:reparameterize]


# --8<-- [start:vae]
class VAE(nn.Module):
    """encoder(x) -> features; heads -> (mu, logvar); decoder(z) -> logits of shape (N, 1, 28, 28)."""

    def __init__(self, encoder: nn.Module, features: int, decoder: nn.Module, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = encoder
        self.fc_mu = nn.Linear(features, latent_dim)
        self.fc_logvar = nn.Linear(features, latent_dim)
        self.decoder = decoder

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        return self.decode(reparameterize(mu, logvar)), mu, logvar
# --8<-- [end:vae]


# --8<-- [start:conv]
class ConvVAE(VAE):
    """Seed report 000's ConvVAE: 315,365 parameters with a 2-D latent."""

    def __init__(self, latent_dim: int = 2):
        encoder = nn.Sequential(
            nn.Conv2d(1, 32, 4, stride=2, padding=1), nn.ReLU(),      # 32 x 14 x 14
            nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.ReLU(),     # 64 x 7 x 7
            nn.Conv2d(64, 128, 3, stride=1, padding=1), nn.ReLU(),    # 128 x 7 x 7
            nn.Flatten(),                                             # 6272
        )
        decoder = nn.Sequential(
            nn.Linear(latent_dim, 128 * 7 * 7), nn.Unflatten(1, (128, 7, 7)),
            nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1), nn.ReLU(),  # 64 x 14 x 14
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),   # 32 x 28 x 28
            nn.Conv2d(32, 1, 3, stride=1, padding=1),                        # logits 1 x 28 x 28
        )
        super().__init__(encoder, 128 * 7 * 7, decoder, latent_dim)
# --8<-- [end:conv]


# --8<-- [start:mlp]
class MLPVAE(VAE):
    """Fully connected VAE, 784-400-z by default as in the classic PyTorch example."""

    def __init__(self, latent_dim: int = 20, hidden: tuple[int, ...] = (400,)):
        sizes = (PIXELS, *hidden)
        encoder = [nn.Flatten()]
        for n_in, n_out in zip(sizes, sizes[1:]):
            encoder += [nn.Linear(n_in, n_out), nn.ReLU()]
        back = (latent_dim, *reversed(hidden))
        decoder: list[nn.Module] = []
        for n_in, n_out in zip(back, back[1:]):
            decoder += [nn.Linear(n_in, n_out), nn.ReLU()]
        decoder += [nn.Linear(back[-1], PIXELS), nn.Unflatten(1, IMAGE_SHAPE)]
        super().__init__(nn.Sequential(*encoder), sizes[-1], nn.Sequential(*decoder), latent_dim)
        self.hidden = tuple(hidden)
# --8<-- [end:mlp]


# --8<-- [start:build]
ARCHITECTURES = ("conv", "mlp")


def build_model(arch: str, latent_dim: int, hidden: tuple[int, ...] = (400,)) -> VAE:
    if arch == "conv":
        return ConvVAE(latent_dim)
    if arch == "mlp":
        return MLPVAE(latent_dim, hidden)
    raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
# --8<-- [end:build]


def preferred_memory_format(arch: str, device: torch.device | str) -> torch.memory_format:
    """The layout the training loop keeps the model's weights in.

    Channels-last for the conv model on the CPU: oneDNN's kernels for most of these small
    convolutions are faster in NHWC (training step 1.00-1.06x, evaluation 1.15-1.2x over NCHW in
    `python -m vae bench`, whose levers table measures it again). Elsewhere the default layout.
    """
    if arch == "conv" and torch.device(device).type == "cpu":
        return torch.channels_last
    return torch.contiguous_format
