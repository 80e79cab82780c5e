"""Every figure of the report: one function per plot, each taking plain tensors and a path.

The functions compute nothing about the model (that lives in `evaluation`); they only draw.
All of them use the Agg backend (no display needed), one shared style, and write PNG through
`artifacts.save_figure`, so a crash never leaves half a file behind.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on CI machines and build servers

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import torch  # noqa: E402

from .artifacts import save_figure  # noqa: E402

STYLE = {
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "font.size": 10,
}
CLASS_COLOURS = plt.get_cmap("tab10")
TRAIN_COLOUR, VAL_COLOUR = "#1f77b4", "#d62728"


def _figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = (6, 4), **kwargs):
    return plt.subplots(rows, cols, figsize=size, **kwargs)


# The three numbers every report keeps apart: the bound and its two terms.
ELBO_TERMS = (("elbo", "-ELBO (nats)"), ("recon", "reconstruction (nats)"), ("kl", "KL (nats)"))


def _elbo_term_panels(height: float):
    """A figure with one panel per ELBO term, side by side: yields (axes, key, label)."""
    fig, axes = _figure(1, len(ELBO_TERMS), (12, height))
    return fig, [(ax, key, label) for ax, (key, label) in zip(axes, ELBO_TERMS)]


def _save_titled(fig, path: str | Path, title: str) -> Path:
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def _styled(function):
    """Draw inside the shared style, so every figure looks the same whatever the caller set."""
    def wrapper(*args, **kwargs):
        with plt.rc_context(STYLE):
            return function(*args, **kwargs)
    wrapper.__name__, wrapper.__doc__ = function.__name__, function.__doc__
    return wrapper


def image_grid(images: torch.Tensor, columns: int, padding: int = 2, fill: float = 0.15) -> np.ndarray:
    """Tile images of shape (N, 1, 28, 28) into one array, `columns` per row, gaps of intensity `fill`
    between them (light grey once the figures invert intensities to draw dark ink on white)."""
    images = images.detach().cpu().float().clamp(0, 1).squeeze(1).numpy()
    n, h, w = images.shape
    rows = -(-n // columns)
    grid = np.full((rows * (h + padding) - padding, columns * (w + padding) - padding), fill, dtype=np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        grid[r * (h + padding): r * (h + padding) + h, c * (w + padding): c * (w + padding) + w] = image
    return grid


def _show_grid(ax, images: torch.Tensor, columns: int, title: str | None = None) -> None:
    # Dark digits on white: 1 - intensity reads better on a white page than white on black.
    ax.imshow(1 - image_grid(images, columns), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)


@_styled
def plot_training_curves(history: Sequence[Mapping[str, float]], path: str | Path, title: str = "") -> Path:
    """Train and validation -ELBO, reconstruction and KL per epoch, one panel each."""
    epochs = [row["epoch"] for row in history]
    fig, panels = _elbo_term_panels(3.6)
    for ax, key, label in panels:
        ax.plot(epochs, [row[f"train_{key}"] for row in history], "o-", ms=3, color=TRAIN_COLOUR, label="train")
        ax.plot(epochs, [row[f"val_{key}"] for row in history], "s-", ms=3, color=VAL_COLOUR, label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    return _save_titled(fig, path, title)


# --8<-- [start:images]
@_styled
def plot_reconstructions(originals: torch.Tensor, reconstructed: torch.Tensor, path: str | Path,
                         title: str = "") -> Path:
    """Originals in the top row, their reconstructions directly below."""
    n = len(originals)
    fig, ax = _figure(1, 1, (max(4.0, 0.6 * n), 1.6))
    _show_grid(ax, torch.cat([originals.cpu(), reconstructed.cpu()]), columns=n, title=title)
    return save_figure(fig, path)


@_styled
def plot_prior_samples(samples: torch.Tensor, path: str | Path, title: str = "", columns: int = 8) -> Path:
    """A grid of images decoded from z ~ N(0, I)."""
    rows = -(-len(samples) // columns)
    fig, ax = _figure(1, 1, (0.55 * columns, 0.55 * rows + 0.4))
    _show_grid(ax, samples, columns, title)
    return save_figure(fig, path)
# --8<-- [end:images]


# --8<-- [start:latent]
@_styled
def plot_latent_space(points: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str], path: str | Path,
                      xlabel: str = "$z_1$", ylabel: str = "$z_2$", title: str = "") -> Path:
    """Each image as a point at its (projected) posterior mean, coloured by class, with a legend."""
    points, labels = points.cpu().numpy(), labels.cpu().numpy()
    fig, ax = _figure(1, 1, (6.4, 5.2))
    for index, name in enumerate(class_names):
        chosen = labels == index
        ax.scatter(points[chosen, 0], points[chosen, 1], s=3, alpha=0.6, color=CLASS_COLOURS(index),
                   label=name, rasterized=True)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=4)
    return save_figure(fig, path)
# --8<-- [end:latent]


@_styled
def plot_latent_manifold(images: torch.Tensor, grid_values: torch.Tensor, path: str | Path, title: str = "") -> Path:
    """Decoded images on the n x n grid of `evaluation.latent_grid`, z values on the axes."""
    n = int(round(len(images) ** 0.5))
    fig, ax = _figure(1, 1, (7, 7))
    grid = 1 - image_grid(images, n, padding=0)
    ticks = (np.arange(n) + 0.5) * images.shape[-1]
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    labels = [f"{v:.1f}" for v in grid_values.tolist()]
    step = max(1, n // 5)
    ax.set_xticks(ticks[::step], labels[::step])
    ax.set_yticks(ticks[::step], labels[::-1][::step])
    ax.set_xlabel("$z_1$ (Gaussian quantiles)")
    ax.set_ylabel("$z_2$ (Gaussian quantiles)")
    ax.grid(False)
    ax.set_title(title)
    return save_figure(fig, path)


@_styled
def plot_interpolations(rows: torch.Tensor, row_labels: Sequence[str], path: str | Path, title: str = "") -> Path:
    """One row per pair of images: decoded points on the straight line between their codes."""
    pairs, steps = rows.shape[:2]
    fig, axes = _figure(pairs, 1, (0.6 * steps + 1.5, 0.65 * pairs + 0.5), squeeze=False)
    for ax, images, label in zip(axes[:, 0], rows, row_labels):
        ax.imshow(1 - image_grid(images, steps), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


@_styled
def plot_kl_per_dimension(kl: torch.Tensor, active: Sequence[bool], path: str | Path, title: str = "") -> Path:
    """Mean KL of each latent dimension, sorted high to low; active units in colour, inactive grey."""
    order = torch.argsort(kl, descending=True).tolist()
    fig, ax = _figure(1, 1, (max(4.0, 0.25 * len(kl) + 2), 3.4))
    colours = [TRAIN_COLOUR if active[d] else "#bbbbbb" for d in order]
    ax.bar(range(len(order)), [kl[d].item() for d in order], color=colours)
    ax.set_xticks(range(len(order)), [str(d) for d in order], fontsize=7 if len(order) > 16 else 9)
    ax.set_xlabel("latent dimension (sorted by KL)")
    ax.set_ylabel("mean KL (nats)")
    ax.set_title(title or f"{sum(active)} of {len(kl)} units active")
    return save_figure(fig, path)


@_styled
def plot_sweep(values: Sequence[float], metrics: Sequence[Mapping[str, float]], parameter: str, path: str | Path,
               title: str = "", log_x: bool = False) -> Path:
    """Test -ELBO, reconstruction and KL as one setting grows (β, latent dimension...)."""
    fig, panels = _elbo_term_panels(3.4)
    for ax, key, label in panels:
        ax.plot(values, [m[key] for m in metrics], "o-", color=TRAIN_COLOUR)
        ax.set_xlabel(parameter)
        ax.set_ylabel(label)
        if log_x:
            ax.set_xscale("log", base=2)
        ax.set_xticks(list(values), [f"{v:g}" for v in values])
        ax.minorticks_off()
    return _save_titled(fig, path, title)


@_styled
def plot_image_panels(panels: Mapping[str, torch.Tensor], path: str | Path, columns: int = 8,
                      title: str = "") -> Path:
    """Several image grids side by side, one titled panel each (e.g. samples for each β)."""
    if not panels:   # every run of the comparison failed: say so rather than fail the report
        fig, ax = _figure(1, 1, (4, 1))
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no completed run to show", ha="center", va="center")
        return save_figure(fig, path)
    rows = math.ceil(max(len(images) for images in panels.values()) / columns)
    fig, axes = _figure(1, len(panels), (0.5 * columns * len(panels) + 0.5, 0.5 * rows + 0.8), squeeze=False)
    for ax, (label, images) in zip(axes[0], panels.items()):
        _show_grid(ax, images, columns, label)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


@_styled
def plot_curve_comparison(histories: Mapping[str, Sequence[Mapping[str, float]]], path: str | Path,
                          key: str = "val_elbo", ylabel: str = "validation -ELBO (nats)", title: str = "") -> Path:
    """One metric per epoch for several runs on shared axes."""
    fig, ax = _figure(1, 1, (6, 4))
    for index, (label, history) in enumerate(histories.items()):
        ax.plot([row["epoch"] for row in history], [row[key] for row in history], "o-", ms=3,
                color=CLASS_COLOURS(index), label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.legend()
    return save_figure(fig, path)


@_styled
def plot_anomaly_histogram(in_scores: torch.Tensor, out_scores: torch.Tensor, in_label: str, out_label: str,
                           auc: float, path: str | Path, xlabel: str = "-ELBO (nats)") -> Path:
    """Overlaid score histograms of the training distribution and the outliers, with the ROC AUC."""
    fig, ax = _figure(1, 1, (6.4, 4))
    both = torch.cat([in_scores, out_scores]).numpy()
    bins = np.linspace(np.percentile(both, 0.5), np.percentile(both, 99.5), 60)
    ax.hist(in_scores.numpy(), bins=bins, alpha=0.6, density=True, color=TRAIN_COLOUR, label=in_label)
    ax.hist(out_scores.numpy(), bins=bins, alpha=0.6, density=True, color=VAL_COLOUR, label=out_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title(f"ROC AUC {auc:.3f}")
    ax.legend()
    return save_figure(fig, path)
