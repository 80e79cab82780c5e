"""The latent explorer's assets (code/vae/explorer.py): every image in them is what the model decodes.

The expected images are computed here straight from `model.decode`, not through the module's
helpers, so a transposed sprite, a flipped axis or a shifted cell would fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vae import explorer
from vae.data import Splits
from vae.models import ConvVAE, MLPVAE
from vae.training import TrainConfig, train

ASSETS = Path(__file__).resolve().parents[1] / "docs" / "assets" / "explorer"
HALF_LEVEL = 255 / (explorer.GRAY_LEVELS - 1) / 2 + 0.51   # the most 6-bit quantization can move a pixel


def _decisive_model(seed: int = 0) -> ConvVAE:
    """A ConvVAE whose decoder output changes strongly with z (an untrained one is ~0.5 everywhere)."""
    torch.manual_seed(seed)
    model = ConvVAE(latent_dim=2)
    with torch.no_grad():
        model.decoder[0].weight.mul_(40)
    return model.eval()


def _splits(n: int = 60, seed: int = 0) -> Splits:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=generator)
    y = torch.arange(n) % 10
    return Splits(train_x=x, train_y=y, val_x=x, val_y=y, test_x=x, test_y=y,
                  classes=tuple(str(c) for c in range(10)))


def _bernoulli_means(model: torch.nn.Module, z: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(model.decode(z)).reshape(len(z), 28, 28).numpy()


def _cell(sprite: np.ndarray, row: int, column: int) -> np.ndarray:
    return sprite[row * 28:(row + 1) * 28, column * 28:(column + 1) * 28].astype(np.float64)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explorer")
    model, splits = _decisive_model(), _splits()
    explorer.write_explorer(model, splits, folder, points=30, grid_size=12)
    return model, splits, folder, json.loads((folder / "explorer.json").read_text())


def test_sprite_cell_i_j_is_the_decoder_output_at_the_grid_z_i_j(written):
    model, _, folder, spec = written
    grid = spec["grid"]
    z1, z2 = grid["z1"], grid["z2"]
    assert z1 == sorted(z1) and z2 == sorted(z2, reverse=True), "z1 must grow to the right, z2 upwards"
    assert z1[0] == -spec["extent"] and z2[0] == spec["extent"]
    sprite = explorer.read_png(folder / grid["sprite"])
    assert sprite.shape == (28 * grid["size"], 28 * grid["size"])
    z = torch.tensor([[z1[j], z2[i]] for i in range(grid["size"]) for j in range(grid["size"])])
    expected = _bernoulli_means(model, z) * 255
    worst = max(np.abs(_cell(sprite, i, j) - expected[i * grid["size"] + j]).max()
                for i in range(grid["size"]) for j in range(grid["size"]))
    assert worst <= HALF_LEVEL, f"a sprite cell differs from its decode by {worst:.1f} grey levels"
    # The check can tell cells apart: the decodes are far from uniform and the transposed sprite fails.
    assert expected.std() > 40
    transposed = max(np.abs(_cell(sprite, j, i) - expected[i * grid["size"] + j]).max()
                     for i in range(grid["size"]) for j in range(grid["size"]))
    assert transposed > 10 * HALF_LEVEL


def test_points_are_the_latent_means_with_their_images_and_reconstructions(written):
    model, splits, folder, spec = written
    points = spec["points"]
    with torch.no_grad():
        mu, _ = model.encode(splits.test_x[:points["count"]])
    assert points["count"] == 30 and points["labels"] == splits.test_y[:30].tolist()
    assert np.abs(np.array(points["z"]).reshape(-1, 2) - mu.numpy()).max() <= 0.005 + 1e-6
    originals = explorer.read_png(folder / points["originals"])
    reconstructions = explorer.read_png(folder / points["reconstructions"])
    expected_recon = _bernoulli_means(model, mu) * 255
    for k in (0, 7, 29):
        cell = divmod(k, points["columns"])
        assert np.abs(_cell(originals, *cell) - splits.test_x[k, 0].numpy() * 255).max() <= HALF_LEVEL
        assert np.abs(_cell(reconstructions, *cell) - expected_recon[k]).max() <= HALF_LEVEL
    assert spec["frames"] is None   # no callback watched a training


def test_epoch_frames_decode_the_same_z_with_each_epochs_model(tmp_path):
    frames = explorer.EpochFrames(points=20, samples=16, seed=5)
    splits = _splits()
    models = {0: _decisive_model(seed=1), 1: _decisive_model(seed=2)}
    for epoch, model in models.items():
        frames(epoch, model, splits)
    explorer.write_explorer(models[1], splits, tmp_path, frames, points=20, grid_size=4)
    spec = json.loads((tmp_path / "explorer.json").read_text())["frames"]
    assert spec["epochs"] == [0, 1] and spec["samples"] == 16
    sprite = explorer.read_png(tmp_path / spec["sprite"])
    assert sprite.shape == (28 * 2, 28 * 16)                        # one row per epoch
    z = torch.randn(16, 2, generator=torch.Generator().manual_seed(5))   # the prior z of seed 5
    for row, model in models.items():
        expected = _bernoulli_means(model, z) * 255
        assert max(np.abs(_cell(sprite, row, k) - expected[k]).max() for k in range(16)) <= HALF_LEVEL
        with torch.no_grad():
            mu, _ = model.encode(splits.test_x[:20])
        assert np.abs(np.array(spec["points"][row]).reshape(-1, 2) - mu.numpy()).max() <= 0.005 + 1e-6
    assert np.abs(_cell(sprite, 0, 0) - _cell(sprite, 1, 0)).max() > 10, "the two epochs' models look alike"


@pytest.mark.slow
def test_training_calls_the_frames_at_every_epoch_from_zero(tmp_path, data_dir):
    frames = explorer.EpochFrames(points=10, samples=4, seed=0)
    calls: list[int] = []
    config = TrainConfig(dataset="mnist", arch="mlp", hidden=(32,), latent_dim=2, epochs=2, train_limit=64,
                         val_split=0.01, data_dir=str(data_dir))
    train(config, tmp_path / "run", on_epoch=explorer.chain(None, frames, lambda e, m, s: calls.append(e)),
          log=lambda message: None, progress=False)
    assert calls == [0, 1, 2] and sorted(frames.latents) == [0, 1, 2]
    assert not torch.equal(frames.decodes[0], frames.decodes[2]), "training changed nothing"


def test_only_a_two_dimensional_latent_space_can_be_explored(tmp_path):
    with pytest.raises(ValueError, match="2-D latent space"):
        explorer.write_explorer(MLPVAE(latent_dim=3), _splits(), tmp_path)
    assert not any(tmp_path.iterdir())


def test_generated_explorer_assets_stay_under_3_mb():
    files = [p for p in ASSETS.rglob("*") if p.is_file()] if ASSETS.is_dir() else []
    if not files:
        pytest.skip("docs/assets/explorer not generated yet; run `python -m vae report`")
    assert {p.parent.name for p in files} >= {"mnist", "fashion-mnist"}
    total = sum(p.stat().st_size for p in files)
    assert total < 3_000_000, f"explorer assets take {total / 1e6:.2f} MB (budget 3 MB)"
