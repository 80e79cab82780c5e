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
    arch = "custom"     # the --arch name of a subclass; the speed policy chooses by it

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
    arch = "conv"

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
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


class MLPVAE(VAE):
    """Fully connected VAE, 784-400-z by default as in the classic PyTorch example;
    784-200-200-50 with tanh is Burda et al.'s (2015) one-stochastic-layer model."""
    arch = "mlp"

    def __init__(self, latent_dim: int = 20, hidden: tuple[int, ...] = (400,), activation: str = "relu"):
        sizes = (PIXELS, *hidden)
        encoder: list[nn.Module] = [nn.Flatten()]
        for n_in, n_out in zip(sizes, sizes[1:]):
            encoder += [nn.Linear(n_in, n_out), ACTIVATIONS[activation]()]
        back = (latent_dim, *reversed(hidden))
        decoder: list[nn.Module] = []
        for n_in, n_out in zip(back, back[1:]):
            decoder += [nn.Linear(n_in, n_out), ACTIVATIONS[activation]()]
        decoder += [nn.Linear(back[-1], PIXELS), nn.Unflatten(1, IMAGE_SHAPE)]
        super().__init__(nn.Sequential(*encoder), sizes[-1], nn.Sequential(*decoder), latent_dim)
        self.hidden = tuple(hidden)
        self.activation = activation
# --8<-- [end:mlp]


# --8<-- [start:build]
ARCHITECTURES = ("conv", "mlp")


def build_model(arch: str, latent_dim: int, hidden: tuple[int, ...] = (400,), activation: str = "relu") -> VAE:
    if arch == "conv":
        return ConvVAE(latent_dim)
    if arch == "mlp":
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        return MLPVAE(latent_dim, hidden, activation)
    raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
# --8<-- [end:build]


@torch.no_grad()
def init_output_bias(model: VAE, pixel_means: torch.Tensor, eps: float = 1e-4) -> None:
    """Start the decoder's output bias at logit(mean pixel), so the first decodes are the mean image.

    Per pixel for the MLP (its last layer has one bias per pixel), the image mean for the conv
    model (one output channel, one bias). Means are clamped to [eps, 1 - eps]: a pixel that is
    always 0 would otherwise get a bias of minus infinity.
    """
    last = [m for m in model.decoder.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))][-1]
    means = pixel_means.flatten() if last.bias.numel() == PIXELS else pixel_means.mean().reshape(1)
    last.bias.copy_(torch.logit(means.clamp(eps, 1 - eps)).to(last.bias))
