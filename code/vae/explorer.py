"""The latent explorer's assets: what docs/javascripts/latent-explorer.js shows on the Latent space page.

The page runs the model itself (docs/javascripts/vae-model.js): the reader draws an image, the
encoder places it on the latent plane, and the decoder turns any point of the plane into an image.
For a model with a 2-D latent space this module writes, into one folder (the run's own
`runs/<name>/explorer/`, which the page names in its `data-explorer` attribute):

    explorer.json     the model's layers (`model`), how the dataset's images are framed (`input`), the
                      test points' latent means and labels, the class names, the figures' colours
                      and grey levels (`look`), and the file names below
    model.bin         every weight and bias, float32 little-endian, at the offsets in `model`
    originals.png     the first POINTS test images, lossless (8-bit, as the datasets store them)
    frames.png        one row per epoch (0 = untrained): the same prior z decoded at every epoch
                      (only when an `EpochFrames` callback watched the training)
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import evaluation, figures
from .data import Splits
from .models import VAE
from .plumbing import artifacts
from .training import EpochCallback

POINTS = 500                   # test points drawn and clickable
SAMPLES = 32                   # prior samples decoded at every epoch
SPRITE_COLUMNS = 25            # cells per row of the originals sprite
COORDINATE_DECIMALS = 2        # latent means in the JSON: where the points are drawn, not model inputs
GRAY_LEVELS = 64               # 6-bit frames: invisible on screen, and the PNG ~30 % smaller
CELL = 28
WEIGHTS_FILE = "model.bin"


def gray_values(images: torch.Tensor, levels: int = GRAY_LEVELS) -> np.ndarray:
    """Bernoulli means in [0, 1] -> uint8 pixels on `levels` evenly spaced levels from 0 to 255
    (256 levels: exactly round(255 p), lossless for the datasets' own 8-bit images)."""
    top = levels - 1
    steps = (images.double().clamp(0, 1) * top).round()
    return (steps * 255 / top).round().to(torch.uint8).numpy()


def to_sprite(images: torch.Tensor, columns: int, levels: int = GRAY_LEVELS) -> np.ndarray:
    """(N, 1, 28, 28) Bernoulli means -> one uint8 image of ceil(N / columns) rows of 28 x 28 cells."""
    n = len(images)
    rows = math.ceil(n / columns)
    pixels = np.zeros((rows * columns, CELL, CELL), dtype=np.uint8)
    pixels[:n] = gray_values(images.reshape(n, CELL, CELL), levels)
    return pixels.reshape(rows, columns, CELL, CELL).transpose(0, 2, 1, 3).reshape(rows * CELL, columns * CELL)



def png_bytes(sprite: np.ndarray) -> bytes:
    """A grayscale PNG, maximally compressed."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(sprite, mode="L").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def plane_extent(mu: torch.Tensor) -> float:
    """Half-width of the plane: at least the prior's +-3, wide enough for 99.5 % of the test
    means, rounded up to 0.5 so the axis ticks are round numbers."""
    reach = torch.quantile(mu.abs().double().flatten(), 0.995).item()
    return max(3.0, math.ceil(reach * 2) / 2)


def _rounded(values: torch.Tensor) -> list:
    return np.round(values.double().numpy(), COORDINATE_DECIMALS).tolist()


# --8<-- [start:export]
class _Weights:
    """The tensors of the exported layers, in order, with each one's offset in model.bin."""

    def __init__(self) -> None:
        self.tensors: list[np.ndarray] = []
        self.size = 0

    def add(self, tensor: torch.Tensor) -> list[int]:
        values = tensor.detach().cpu().to(torch.float32).numpy().ravel()
        self.tensors.append(values)
        self.size += values.size
        return [self.size - values.size, values.size]     # [offset, count] in float32 values

    def to_bytes(self) -> bytes:
        return np.concatenate(self.tensors).astype("<f4").tobytes()


def _layer(module: nn.Module, weights: _Weights) -> dict[str, Any]:
    """One layer as the page's model runs it (vae-model.js); anything else is refused in one line."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        square = len(set(module.kernel_size)) == len(set(module.stride)) == len(set(module.padding)) == 1
        plain = (module.groups == 1 and set(module.dilation) == {1} and module.padding_mode == "zeros"
                 and set(getattr(module, "output_padding", (0,))) == {0} and module.bias is not None)
        if not (square and plain):
            raise ValueError(f"the page's model cannot run {module}: it runs square, ungrouped, undilated "
                             "convolutions with a bias and zero padding")
        return {"op": "conv2d" if isinstance(module, nn.Conv2d) else "conv_transpose2d",
                "in": module.in_channels, "out": module.out_channels, "kernel": module.kernel_size[0],
                "stride": module.stride[0], "padding": module.padding[0],
                "weight": weights.add(module.weight), "bias": weights.add(module.bias)}
    if isinstance(module, nn.Linear):
        return {"op": "linear", "in": module.in_features, "out": module.out_features,
                "weight": weights.add(module.weight), "bias": weights.add(module.bias)}
    if isinstance(module, (nn.ReLU, nn.Tanh)):
        return {"op": type(module).__name__.lower()}
    if isinstance(module, nn.Flatten):
        return {"op": "flatten"}
    if isinstance(module, nn.Unflatten):
        return {"op": "unflatten", "shape": list(module.unflattened_size)}
    raise ValueError(f"the page's model cannot run a {type(module).__name__} layer; "
                     "it runs Conv2d, ConvTranspose2d, Linear, ReLU, Tanh, Flatten and Unflatten")


def export_model(model: VAE) -> tuple[dict[str, Any], bytes]:
    """The `model` entry of explorer.json and the bytes of model.bin: the encoder's layers, the two
    heads (mu and log sigma^2 of q(z|x)) and the decoder's layers, whose logits the page turns
    into Bernoulli means with a sigmoid, as `evaluation.decode_images` does."""
    weights = _Weights()
    layers = {part: [_layer(m, weights) for m in getattr(model, part)] for part in ("encoder", "decoder")}
    spec = {"weights": WEIGHTS_FILE, "dtype": "float32-le", "latent_dim": model.latent_dim,
            "encoder": layers["encoder"], "mu": _layer(model.fc_mu, weights),
            "logvar": _layer(model.fc_logvar, weights), "decoder": layers["decoder"], "output": "sigmoid"}
    return spec, weights.to_bytes()
# --8<-- [end:export]


# --8<-- [start:input]
def input_framing(images: torch.Tensor) -> dict[str, Any]:
    """How the dataset's images sit in their 28 x 28 frame, measured on `images` (N, 1, 28, 28),
    so that the page frames a drawing the same way: the longer side of the ink's bounding box
    (its median), and the centring rule whose position varies least across the images (centre of
    mass or centre of the box), at its mean position (row, column; pixel centres at 0 ... 27)."""
    x = images[:, 0].detach().cpu().double()   # the splits may live on the GPU
    ink = x > 0
    index = torch.arange(CELL, dtype=torch.float64)

    def span(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        first = mask.double().argmax(1).double()
        return first, CELL - 1 - mask.flip(1).double().argmax(1).double()

    keep = ink.flatten(1).any(1)            # a blank image has no box and no centre
    x, ink = x[keep], ink[keep]
    (top, bottom), (left, right) = span(ink.any(2)), span(ink.any(1))
    side = torch.maximum(bottom - top, right - left) + 1
    mass = x.sum((1, 2))
    centres = {"mass": torch.stack([(x.sum(2) * index).sum(1) / mass, (x.sum(1) * index).sum(1) / mass], 1),
               "box": torch.stack([(top + bottom) / 2, (left + right) / 2], 1)}
    spread = {rule: c.std(0).norm().item() for rule, c in centres.items()}
    rule = min(spread, key=spread.get)
    return {"side_px": int(side.median().item()), "centre": rule,
            "centre_px": [round(v, 2) for v in centres[rule].mean(0).tolist()],
            "spread_px": {name: round(value, 2) for name, value in spread.items()}}
# --8<-- [end:input]


# --8<-- [start:frames]
class EpochFrames:
    """An `on_epoch` callback of `train`: at every epoch from 0 (untrained) to the last, the latent
    means of the first `points` test images and the decodes of the same `samples` prior z. The
    z and the images never change, so what changes between frames is the model alone."""

    def __init__(self, points: int = POINTS, samples: int = SAMPLES, seed: int = 0):
        self.points, self.samples, self.seed = points, samples, seed
        self.latents: dict[int, torch.Tensor] = {}
        self.decodes: dict[int, torch.Tensor] = {}

    def __call__(self, epoch: int, model: VAE, splits: Splits) -> None:
        mu, _ = evaluation.latent_encodings(model, splits.test_x[:self.points])
        self.latents[epoch] = mu
        self.decodes[epoch] = evaluation.prior_samples(model, self.samples, self.seed)

    def write(self, folder: Path) -> dict[str, Any]:
        """frames.png (one row per epoch) and the `frames` entry of explorer.json."""
        epochs = sorted(self.latents)
        rows = torch.cat([self.decodes[e] for e in epochs])
        artifacts.write_bytes(folder / "frames.png", png_bytes(to_sprite(rows, self.samples)))
        every = torch.stack([self.latents[e] for e in epochs])
        return {"epochs": epochs, "sprite": "frames.png", "samples": self.samples, "seed": self.seed,
                "extent": plane_extent(every),
                "points": [_rounded(self.latents[e].flatten()) for e in epochs]}
# --8<-- [end:frames]


def chain(*callbacks: EpochCallback | None) -> EpochCallback:
    """One `on_epoch` callback that calls each given callback in turn (None ones are skipped)."""
    present = [c for c in callbacks if c is not None]

    def call_each(epoch: int, model: VAE, splits: Splits) -> None:
        for callback in present:
            callback(epoch, model, splits)

    return call_each


def write_explorer(model: VAE, splits: Splits, folder: str | Path, frames: EpochFrames | None = None,
                   points: int = POINTS) -> list[Path]:
    """Write the explorer's assets for a model with a 2-D latent space into `folder`. `frames` is
    the training's `EpochFrames`, or None."""
    if model.latent_dim != 2:
        raise ValueError(f"the latent explorer needs a 2-D latent space (this model has {model.latent_dim}); "
                         "pass a z = 2 run")
    folder = Path(folder)
    model_spec, weights = export_model(model)
    x, labels = splits.test_x[:points], splits.test_y[:points].cpu()
    mu, _ = evaluation.latent_encodings(model, x)
    all_mu, _ = evaluation.latent_encodings(model, splits.test_x)
    written = [artifacts.write_bytes(folder / WEIGHTS_FILE, weights),
               artifacts.write_bytes(folder / "originals.png", png_bytes(to_sprite(x.cpu(), SPRITE_COLUMNS, 256)))]
    description = {
        "cell": CELL, "classes": list(splits.classes), "extent": plane_extent(all_mu),
        "look": figures.look(len(splits.classes)),
        "input": input_framing(splits.train_x),
        "model": model_spec,
        "points": {"count": len(mu), "z": _rounded(mu.flatten()), "labels": labels.tolist(),
                   "originals": "originals.png", "columns": SPRITE_COLUMNS},
        "frames": None,
    }
    if frames is not None and frames.latents:
        description["frames"] = frames.write(folder)
        written.append(folder / "frames.png")
    # Compact, not `write_json`'s indented layout: one number per line would triple the file.
    written.append(artifacts.write_text(folder / "explorer.json", json.dumps(description, separators=(",", ":"))))
    return written
