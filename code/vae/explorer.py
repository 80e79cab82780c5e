"""The latent explorer's assets: what docs/javascripts/latent-explorer.js draws on the Latent space page.

For a model with a 2-D latent space it writes, into one folder (docs/assets/explorer/<dataset>/):

    explorer.json     the grid's z values, the test points' latent means and labels, the class
                      names, and the file names below; everything the script needs to place things
    grid.png          a sprite of GRID_SIZE x GRID_SIZE decoded images, cell (i, j) = decoder at
                      z = (z1[j], z2[i]), row 0 at the top (high z2), as in `evaluation.latent_grid`
    originals.png     the first POINTS test images, and
    reconstructions.png  their reconstructions (the decoder at each image's posterior mean)
    frames.png        one row per epoch (0 = untrained): the same prior z decoded at every epoch
                      (only when an `EpochFrames` callback watched the training)

All images are grayscale sprites of 28 x 28 cells holding the Bernoulli mean p quantized to
GRAY_LEVELS levels (`gray_values`), which keeps both datasets' assets under 3 MB together.
No ML runs in the browser: every image the reader can see was decoded here.

    python -m vae.explorer --run docs/assets/runs/mnist-conv-z2 --out /tmp/explorer/mnist
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from . import artifacts, evaluation
from .artifacts import ArtifactError
from .data import DataError, Splits, load_splits
from .models import VAE
from .checkpoints import load_model
from .errors import TrainingError
from .outdir import owned
from .training import EpochCallback

GRID_SIZE = 64                 # 64 x 64 decodes: one cell per ~1.5 px of a 300 px plane
POINTS = 500                   # test points drawn and clickable (each with two 28 x 28 images)
SAMPLES = 32                   # prior samples decoded at every epoch
SPRITE_COLUMNS = 25            # cells per row of the originals/reconstructions sprites
COORDINATE_DECIMALS = 2        # latent means in the JSON: 0.01 is a tenth of a grid cell or less
GRAY_LEVELS = 64               # 6-bit pixels: invisible on screen, and the PNGs ~30 % smaller
CELL = 28


# --8<-- [start:sprite]
def gray_values(images: torch.Tensor) -> np.ndarray:
    """Bernoulli means in [0, 1] -> uint8 pixels on GRAY_LEVELS evenly spaced levels from 0 to 255."""
    top = GRAY_LEVELS - 1
    levels = (images.double().clamp(0, 1) * top).round()
    return (levels * 255 / top).round().to(torch.uint8).numpy()


def to_sprite(images: torch.Tensor, columns: int) -> np.ndarray:
    """(N, 1, 28, 28) Bernoulli means -> one uint8 image of ceil(N / columns) rows of 28 x 28 cells."""
    n = len(images)
    rows = math.ceil(n / columns)
    pixels = np.zeros((rows * columns, CELL, CELL), dtype=np.uint8)
    pixels[:n] = gray_values(images.reshape(n, CELL, CELL))
    return pixels.reshape(rows, columns, CELL, CELL).transpose(0, 2, 1, 3).reshape(rows * CELL, columns * CELL)


def sprite_cell(sprite: np.ndarray, row: int, column: int) -> np.ndarray:
    """The 28 x 28 cell at (row, column) of a sprite."""
    return sprite[row * CELL:(row + 1) * CELL, column * CELL:(column + 1) * CELL]
# --8<-- [end:sprite]


def png_bytes(sprite: np.ndarray) -> bytes:
    """A grayscale PNG, maximally compressed (the sprites are the bulk of the site's weight)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(sprite, mode="L").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def read_png(path: str | Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("L"))


# --8<-- [start:grid]
def explorer_grid(extent: float, size: int = GRID_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """Evenly spaced values in [-extent, extent] for z1 (columns, left to right) and z2 (rows, top
    to bottom, so high z2 is up as on the scatter plot). Evenly spaced, unlike the manifold
    figure's quantile grid, because the reader's pointer moves over a plane with linear axes."""
    values = torch.linspace(-extent, extent, size)
    return values, values.flip(0)


def plane_extent(mu: torch.Tensor) -> float:
    """Half-width of the plane: at least the prior's +-3, wide enough for 99.5 % of the test
    means, rounded up to 0.5 so the axis ticks are round numbers."""
    reach = torch.quantile(mu.abs().double().flatten(), 0.995).item()
    return max(3.0, math.ceil(reach * 2) / 2)


def decode_grid(model: VAE, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Decoder outputs at every (z1[j], z2[i]), in row-major order (i, j)."""
    rows, columns = torch.meshgrid(z2, z1, indexing="ij")
    z = torch.stack([columns.flatten(), rows.flatten()], dim=1)
    return evaluation.decode_images(model, z.to(next(model.parameters()).device))
# --8<-- [end:grid]


def _rounded(values: torch.Tensor) -> list:
    return np.round(values.double().numpy(), COORDINATE_DECIMALS).tolist()


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


# --8<-- [start:write]
def write_explorer(model: VAE, splits: Splits, folder: str | Path, frames: EpochFrames | None = None,
                   points: int = POINTS, grid_size: int = GRID_SIZE) -> list[Path]:
    """Write the explorer's assets for a model with a 2-D latent space into `folder`."""
    if model.latent_dim != 2:
        raise ValueError(f"the latent explorer needs a 2-D latent space (this model has {model.latent_dim}); "
                         "pass a z = 2 run")
    folder = Path(folder)
    x, labels = splits.test_x[:points], splits.test_y[:points].cpu()
    mu, _ = evaluation.latent_encodings(model, x)
    all_mu, _ = evaluation.latent_encodings(model, splits.test_x)
    extent = plane_extent(all_mu)
    z1, z2 = explorer_grid(extent, grid_size)
    sprites = {"grid.png": to_sprite(decode_grid(model, z1, z2), grid_size),
               "originals.png": to_sprite(x.cpu(), SPRITE_COLUMNS),
               "reconstructions.png": to_sprite(evaluation.decode_images(model, mu.to(x.device)), SPRITE_COLUMNS)}
    written = [artifacts.write_bytes(folder / name, png_bytes(sprite)) for name, sprite in sprites.items()]
    description = {
        "cell": CELL, "classes": list(splits.classes), "extent": extent,
        # The grid's z in full (float32) precision: exactly the values that were decoded.
        "grid": {"sprite": "grid.png", "size": grid_size, "z1": z1.tolist(), "z2": z2.tolist()},
        "points": {"count": len(mu), "z": _rounded(mu.flatten()), "labels": labels.tolist(),
                   "originals": "originals.png", "reconstructions": "reconstructions.png",
                   "columns": SPRITE_COLUMNS},
        "frames": None,
    }
    if frames is not None and frames.latents:
        description["frames"] = frames.write(folder)
        written.append(folder / "frames.png")
    # Compact, not `write_json`'s indented layout: one number per line would triple the file.
    written.append(artifacts.write_text(folder / "explorer.json", json.dumps(description, separators=(",", ":"))))
    return written
# --8<-- [end:write]


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m vae.explorer",
                                     description="Write the latent explorer's assets for a trained z = 2 run.")
    parser.add_argument("--run", type=Path, required=True,
                        help="a run folder with model.pt and config.json (e.g. docs/assets/runs/mnist-conv-z2)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the explorer's files into")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    try:
        if not args.run.is_dir():
            raise ArtifactError(f"--run {args.run} is not a run folder ({'a file' if args.run.exists() else 'missing'}); "
                                "pass a folder with model.pt, such as docs/assets/runs/mnist-conv-z2")
        with owned(args.out):     # --out checked (a writable folder, not in use) before any work
            model, config = load_model(args.run / "model.pt")
            splits = load_splits(config.dataset, args.data_dir, config.val_split, config.seed, config.train_limit)
            written = write_explorer(model, splits, args.out)
    except (TrainingError, DataError, ArtifactError, ValueError) as err:
        print(f"python -m vae.explorer: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("python -m vae.explorer: interrupted; files already written are complete, run the same command "
              "again to finish", file=sys.stderr)
        return 130
    size_kb = sum(p.stat().st_size for p in written) / 1024
    print(f"{len(written)} files, {size_kb:.0f} KiB, in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
