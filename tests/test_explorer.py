"""The latent explorer's assets (code/vae/explorer.py): the model's weights for the page, the test
images, the epoch frames, and how the dataset's images are framed.

The expected values are computed here straight from the model and the images, not through the
module's helpers, so a transposed sprite, a shifted offset or a lost frame would fail. That the
page runs these weights as PyTorch does is tests/test_explorer_model_browser.py's check.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from support.explorer_images import read_png
from vae import explorer, figures
from vae.data import Splits
from vae.models import ConvVAE, MLPVAE
from vae.training import TrainConfig, train

ASSETS = Path(__file__).resolve().parents[1] / "docs" / "assets"
EXPLORER_RUNS = ("mnist-conv-z2", "fashion-mnist-conv-z2")      # each run's explorer is in its own folder
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
    explorer.write_explorer(model, splits, folder, points=30)
    return model, splits, folder, json.loads((folder / "explorer.json").read_text())


def _weights(folder: Path, spec: dict) -> np.ndarray:
    return np.frombuffer((folder / spec["model"]["weights"]).read_bytes(), dtype="<f4")


def test_model_bin_holds_every_parameter_at_the_offsets_of_its_layer(written):
    model, _, folder, spec = written
    values, layers = _weights(folder, spec), spec["model"]
    modules = {"encoder": [m for m in model.encoder], "decoder": [m for m in model.decoder]}
    pairs = [(layer, module) for part in ("encoder", "decoder") for layer, module in zip(layers[part], modules[part])]
    pairs += [(layers["mu"], model.fc_mu), (layers["logvar"], model.fc_logvar)]
    assert [layer["op"] for layer in layers["encoder"]] == ["conv2d", "relu"] * 3 + ["flatten"]
    assert [layer["op"] for layer in layers["decoder"]] == ["linear", "unflatten", "conv_transpose2d", "relu",
                                                              "conv_transpose2d", "relu", "conv2d"]
    covered = 0
    for layer, module in pairs:
        for name in ("weight", "bias"):
            if name in layer:
                offset, count = layer[name]
                expected = getattr(module, name).detach().numpy().ravel()
                assert np.array_equal(values[offset:offset + count], expected), f"{layer['op']} {name}"
                covered += count
    assert covered == values.size == sum(p.numel() for p in model.parameters())
    assert layers["latent_dim"] == 2 and layers["output"] == "sigmoid" and layers["dtype"] == "float32-le"


def test_a_layer_the_page_cannot_run_is_refused_in_one_line():
    model = ConvVAE(latent_dim=2)
    model.encoder[1] = torch.nn.GELU()
    with pytest.raises(ValueError, match="cannot run a GELU layer"):
        explorer.export_model(model)
    model = ConvVAE(latent_dim=2)
    model.encoder[0] = torch.nn.Conv2d(1, 32, 4, stride=2, padding=1, dilation=2)
    with pytest.raises(ValueError, match="square, ungrouped, undilated"):
        explorer.export_model(model)


def test_points_are_the_latent_means_with_their_lossless_images(written):
    model, splits, folder, spec = written
    points = spec["points"]
    with torch.no_grad():
        mu, _ = model.encode(splits.test_x[:points["count"]])
    assert points["count"] == 30 and points["labels"] == splits.test_y[:30].tolist()
    assert np.abs(np.array(points["z"]).reshape(-1, 2) - mu.numpy()).max() <= 0.005 + 1e-6
    originals = read_png(folder / points["originals"])
    for k in (0, 7, 29):
        expected = np.round(splits.test_x[k, 0].numpy().astype(np.float64) * 255)
        assert np.array_equal(_cell(originals, *divmod(k, points["columns"])), expected)
    assert spec["frames"] is None   # no callback watched a training
    assert spec["look"] == figures.look(10), "the page must draw with the figures' colours and grey levels"
    assert set(p.name for p in folder.iterdir()) == {"explorer.json", "model.bin", "originals.png"}


def _framed_images(rule: str, n: int = 40, seed: int = 0) -> torch.Tensor:
    """Images whose box centre (rule "box") or centre of mass (rule "mass") is the same in all."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 1, 28, 28)
    for k in range(n):
        if rule == "box":    # a 12 x 20 box at rows 4..23, columns 8..19; its weight moves inside it
            images[k, 0, 4:24, 8:20] = 0.2
            row = int(torch.randint(4, 22, (1,), generator=generator))
            images[k, 0, row:row + 2, 8:20] = 1.0
        else:                # a heavy 2 x 2 centre at rows/columns 13..14, a faint tail of varying length
            images[k, 0, 13:15, 13:15] = 1.0
            length = int(torch.randint(2, 10, (1,), generator=generator))
            images[k, 0, 14, 15:15 + length] = 0.002
    return images


@pytest.mark.parametrize("rule", ["box", "mass"])
def test_input_framing_finds_how_the_images_are_centred(rule):
    framing = explorer.input_framing(_framed_images(rule))
    assert framing["centre"] == rule
    if rule == "box":
        assert framing["side_px"] == 20 and framing["centre_px"] == [13.5, 13.5]
    else:
        assert framing["centre_px"] == pytest.approx([13.5, 13.5], abs=0.02)


def test_epoch_frames_decode_the_same_z_with_each_epochs_model(tmp_path):
    frames = explorer.EpochFrames(points=20, samples=16, seed=5)
    splits = _splits()
    models = {0: _decisive_model(seed=1), 1: _decisive_model(seed=2)}
    for epoch, model in models.items():
        frames(epoch, model, splits)
    explorer.write_explorer(models[1], splits, tmp_path, frames, points=20)
    spec = json.loads((tmp_path / "explorer.json").read_text())["frames"]
    assert spec["epochs"] == [0, 1] and spec["samples"] == 16
    sprite = read_png(tmp_path / spec["sprite"])
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


def test_generated_explorer_assets_weights_included_stay_under_3_5_mb():
    files = [p for p in ASSETS.glob("runs/*/explorer/*") if p.is_file()]
    if not files:
        pytest.skip("docs/assets/runs/*/explorer not generated yet; run `python -m vae report`")
    for run in EXPLORER_RUNS:
        assert {"explorer.json", "model.bin", "originals.png", "frames.png"} <= {
            p.name for p in files if p.parent.parent.name == run}, f"{run}: an explorer file is missing"
    total = sum(p.stat().st_size for p in files)
    assert total < 3_500_000, f"explorer assets take {total / 1e6:.2f} MB (budget 3.5 MB)"
