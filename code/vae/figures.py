"""Every figure of the report: one function per plot, each taking plain tensors and a path.

The functions compute nothing about the model (that lives in `evaluation`); they only draw.
All of them use the Agg backend (no display needed), one shared style, and write PNG through
`artifacts.save_figure`, so a crash never leaves half a file behind.

Each figure is sized here for its place on a page: at `DPI` a full-width figure is at most
`FULL_WIDTH_IN` inches (the ~850 px content column), and no text is smaller than 10 pt
(about 14 px at natural size). The smallest text height is measured on the figure itself and
stored in the PNG (`text_px`), so the report can record it and the browser test can check it.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib

# Agg before pyplot: no display on CI machines and build servers. Only when nothing has chosen a
# backend yet: a notebook that imports the report's code (the latent-space notebook does) keeps
# its inline backend, which a switch to Agg would silence for every later figure.
if "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.ticker import Formatter, FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402
import torch  # noqa: E402

from .language import TRANSLATED, localized_path, narrow, translate  # noqa: E402
from .plumbing.artifacts import save_figure  # noqa: E402

STYLE = {
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.frameon": False,
    "font.size": 10,
    "figure.titlesize": 12,
}
DPI = 100
FULL_WIDTH_IN = 8.5          # 850 px at DPI: the content column of a 1400 px page
DIGIT_IN = 0.5               # one 28 x 28 image in a sample grid: 50 px
TEXT_PX_KEY = "vae:text_px"  # PNG text chunk: the smallest text height in px at natural size
TRAIN_COLOUR, VAL_COLOUR = "#1f77b4", "#d62728"

# How every image and every class is drawn: one definition, used by the figures below and written
# into the latent explorer's explorer.json (`look`), so the page draws them the same way.
CLASS_COLOURS = plt.get_cmap("tab10")
PAPER_GREY, INK_GREY = 1.0, 0.0   # intensity p is drawn at grey PAPER + (INK - PAPER) p: dark ink on white


def display_grey(intensity: np.ndarray) -> np.ndarray:
    """Grey levels in [0, 1] (0 black) of pixel intensities in [0, 1]: dark digits on a white page."""
    return PAPER_GREY + (INK_GREY - PAPER_GREY) * intensity


def look(classes: int) -> dict[str, object]:
    """The class colours (hex) and the grey of paper and ink, as the page's script reads them."""
    return {"class_colours": [to_hex(CLASS_COLOURS(index)) for index in range(classes)],
            "paper_grey": PAPER_GREY, "ink_grey": INK_GREY}


def new_figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = (6, 4), **kwargs):
    return plt.subplots(rows, cols, figsize=size, **kwargs)


# The three numbers every report keeps apart: the bound and its two terms.
ELBO_TERMS = (("elbo", "\u2212ELBO (nats)"), ("recon", "reconstruction (nats)"), ("kl", "KL (nats)"))


def _elbo_term_panels(height: float):
    """A full-width figure with one panel per ELBO term, side by side: yields (axes, key, label)."""
    fig, axes = new_figure(1, len(ELBO_TERMS), (FULL_WIDTH_IN, height))
    return fig, [(ax, key, label) for ax, (key, label) in zip(axes, ELBO_TERMS)]


def smallest_text_px(fig) -> float:
    """Height in px, at natural size, of the smallest visible text of `fig` (font size at DPI)."""
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return round(min(sizes) * DPI / 72, 1) if sizes else 0.0


def save_png(fig, path: str | Path) -> Path:
    """The figure as drawn (English), then a copy in each other language beside it (curves.pt.png):
    the same figure with its texts translated and its numbers in that language's convention."""
    metadata = {TEXT_PX_KEY: str(smallest_text_px(fig))}
    try:
        written = save_figure(fig, path, dpi=DPI, metadata=metadata, close=False)
        for language in TRANSLATED:
            translate_figure(fig, language)
            save_figure(fig, localized_path(path, language), dpi=DPI, metadata=metadata, close=False)
        return written
    finally:
        plt.close(fig)


class _LocalizedTicks(Formatter):
    """An axis's own tick formatter, its labels then written in another language."""

    def __init__(self, inner: Formatter, language: str):
        self.inner, self.language = inner, language

    def set_axis(self, axis) -> None:
        super().set_axis(axis)
        self.inner.set_axis(axis)

    def __call__(self, x, pos=None) -> str:
        return translate(self.inner(x, pos), self.language)

    def format_ticks(self, values) -> list[str]:
        return [translate(text, self.language) for text in self.inner.format_ticks(values)]

    def get_offset(self) -> str:
        return translate(self.inner.get_offset(), self.language)


# A label above one narrow column (a failure's class), wrapped to its width in every language
# (language.narrow); its unwrapped text is kept as the artist's label, to translate whole names.
NARROW_LABEL = "narrow-label"


def translate_figure(fig, language: str) -> None:
    """Every text of `fig` in `language` (vae.language.translate), tick labels included."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(_LocalizedTicks(axis.get_major_formatter(), language))
            axis.set_minor_formatter(_LocalizedTicks(axis.get_minor_formatter(), language))
    # Called after the English copy was saved, so every text has been drawn once; the tick labels
    # the next draw makes come from the wrapped formatters (drawing again here changes no pixel).
    for text in fig.findobj(Text):
        if text.get_gid() == NARROW_LABEL:   # translated unwrapped, then wrapped again
            text.set_text(narrow(translate(text.get_label(), language)))
        elif text.get_text().strip():
            text.set_text(translate(text.get_text(), language))


def save_titled(fig, path: str | Path, title: str) -> Path:
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path)


def text_px(path: str | Path) -> float:
    """The smallest text height (px) a figure of this module recorded in its PNG."""
    from PIL import Image

    with Image.open(path) as image:
        return float(image.text[TEXT_PX_KEY])


def styled(function):
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
    # Dark digits on white: reads better on a white page than white on black.
    ax.imshow(display_grey(image_grid(images, columns)), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)


@styled
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
    return save_titled(fig, path, title)


# --8<-- [start:images]
@styled
def plot_reconstructions(originals: torch.Tensor, reconstructed: torch.Tensor, path: str | Path,
                         title: str = "") -> Path:
    """Originals in the top row, their reconstructions directly below."""
    n = len(originals)
    fig, ax = new_figure(1, 1, (min(FULL_WIDTH_IN, max(4.0, 0.75 * n)), 2.2))
    _show_grid(ax, torch.cat([originals.cpu(), reconstructed.cpu()]), columns=n, title=title)
    return save_png(fig, path)


@styled
def plot_prior_samples(samples: torch.Tensor, path: str | Path, title: str = "", columns: int = 8) -> Path:
    """A grid of images decoded from z ~ N(0, I)."""
    rows = -(-len(samples) // columns)
    fig, ax = new_figure(1, 1, (DIGIT_IN * 1.2 * columns, DIGIT_IN * 1.2 * rows + 0.5))
    _show_grid(ax, samples, columns, title)
    return save_png(fig, path)
# --8<-- [end:images]


# --8<-- [start:latent]
def scatter_by_class(ax, points: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str], size: float,
                     alpha: float) -> None:
    """One point per image at its 2-D position, in its class's colour (the same in every figure)."""
    points, labels = points.cpu().numpy(), labels.cpu().numpy()
    for index, name in enumerate(class_names):
        chosen = labels == index
        ax.scatter(points[chosen, 0], points[chosen, 1], s=size, alpha=alpha, color=CLASS_COLOURS(index),
                   label=name, rasterized=True)


@styled
def plot_latent_space(points: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str], path: str | Path,
                      xlabel: str = "$z_1$", ylabel: str = "$z_2$", title: str = "") -> Path:
    """Each image as a point at its (projected) posterior mean, coloured by class, with a legend."""
    fig, ax = new_figure(1, 1, (7.5, 5.2))
    scatter_by_class(ax, points, labels, class_names, size=3, alpha=0.6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=4)
    return save_png(fig, path)
# --8<-- [end:latent]


@styled
def plot_latent_manifold(images: torch.Tensor, grid_values: torch.Tensor, path: str | Path, title: str = "") -> Path:
    """Decoded images on the n x n grid of `evaluation.latent_grid`; the ticks are the z values."""
    n = int(round(len(images) ** 0.5))
    fig, ax = new_figure(1, 1, (7.5, 7.5))
    grid = display_grey(image_grid(images, n, padding=0))
    ticks = (np.arange(n) + 0.5) * images.shape[-1]
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    labels = [f"{v:.1f}" for v in grid_values.tolist()]
    step = max(1, n // 5)
    ax.set_xticks(ticks[::step], labels[::step])
    ax.set_yticks(ticks[::step], labels[::-1][::step])
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.grid(False)
    ax.set_title(title)
    return save_png(fig, path)


@styled
def plot_interpolations(rows: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor,
                        classes: Sequence[tuple[str, str]], path: str | Path, title: str = "") -> Path:
    """One row per pair: the original start image, the decoded points on the straight line between
    the two codes, the original end image; each row named by the true classes of its originals."""
    pairs, steps = rows.shape[:2]
    blank = torch.zeros(1, *rows.shape[2:])      # a white gap between the originals and the decoded line
    fig, axes = new_figure(pairs, 1, (FULL_WIDTH_IN, DIGIT_IN * 1.25 * pairs + 1.0), squeeze=False)
    for row, (ax, images, (start, end)) in enumerate(zip(axes[:, 0], rows, classes)):
        line = torch.cat([starts[row:row + 1], blank, images.cpu(), blank, ends[row:row + 1]])
        ax.imshow(display_grey(image_grid(line, len(line), fill=0.0)), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(f"{start} → {end}", rotation=0, ha="right", va="center")
    axes[0, 0].set_title("original  ·  decoded straight line between the two codes  ·  original")
    if title:
        fig.suptitle(title)
    return save_png(fig, path)


@styled
def plot_kl_per_dimension(kl: torch.Tensor, active: Sequence[int], path: str | Path, title: str = "",
                          threshold_nats: float | None = None) -> Path:
    """Mean KL of each latent dimension, sorted high to low; the `active` dimensions in colour,
    the collapsed ones grey, and the threshold that separates them as a dashed line."""
    from matplotlib.patches import Patch

    order = torch.argsort(kl, descending=True).tolist()
    width = min(FULL_WIDTH_IN - 2.0, max(5.0, 0.3 * len(kl) + 2.5))   # the legend adds about 2 in on the right
    fig, ax = new_figure(1, 1, (width, 3.6))
    chosen = set(active)
    colours = [TRAIN_COLOUR if d in chosen else "#bbbbbb" for d in order]
    ax.bar(range(len(order)), [kl[d].item() for d in order], color=colours)
    handles = [Patch(color=TRAIN_COLOUR, label=f"active ({len(chosen)})"),
               Patch(color="#bbbbbb", label=f"collapsed ({len(kl) - len(chosen)})")]
    if threshold_nats is not None:
        line = ax.axhline(threshold_nats, color="#555555", ls="--", lw=1)
        line.set_label(f"threshold {threshold_nats:g} nats")
        handles.append(line)
    shown = range(0, len(order), max(1, math.ceil(len(order) / 20)))   # at most 20 labels: 10 pt fits
    ax.set_xticks(list(shown), [str(order[i]) for i in shown])
    ax.set_xlabel("latent dimension (sorted by KL)")
    ax.set_ylabel("mean KL (nats)")
    # Beside the plot, not on it: with two tall bars (latent 2) any place inside covers one.
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_title(f"{title}: {len(chosen)} of {len(kl)} units active" if title else
                 f"{len(chosen)} of {len(kl)} units active")
    return save_png(fig, path)


@styled
def plot_image_panels(panels: Mapping[str, torch.Tensor], path: str | Path, columns: int = 8,
                      title: str = "", per_row: int = 2) -> Path:
    """Several image grids, `per_row` titled panels per row (e.g. samples for each β), so that
    each image stays about `DIGIT_IN` wide in a full-width figure."""
    if not panels:   # every run of the comparison failed: say so rather than fail the report
        fig, ax = new_figure(1, 1, (4, 1))
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no completed run to show", ha="center", va="center")
        return save_png(fig, path)
    rows = math.ceil(max(len(images) for images in panels.values()) / columns)
    grid_rows, grid_cols = math.ceil(len(panels) / per_row), min(per_row, len(panels))
    fig, axes = new_figure(grid_rows, grid_cols, (DIGIT_IN * columns * grid_cols + 0.4 * grid_cols,
                                               (DIGIT_IN * rows + 0.5) * grid_rows + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, (label, images) in zip(axes.flat, panels.items()):
        _show_grid(ax, images, columns, label)
    if title:
        fig.suptitle(title)
    return save_png(fig, path)


@styled
def plot_class_examples(images: Mapping[str, torch.Tensor], path: str | Path, title: str = "") -> Path:
    """A grid of example images, one row per class named on the left."""
    per_class = max(len(x) for x in images.values())
    fig, axes = new_figure(len(images), 1, (DIGIT_IN * per_class + 1.6, DIGIT_IN * 1.1 * len(images) + 0.6),
                        squeeze=False)
    for ax, (name, row) in zip(axes[:, 0], images.items()):
        ax.imshow(display_grey(image_grid(row, per_class)), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    return save_png(fig, path)


@styled
def plot_curve_comparison(histories: Mapping[str, Sequence[Mapping[str, float]]], path: str | Path,
                          key: str = "val_elbo", ylabel: str = "validation \u2212ELBO (nats)", title: str = "",
                          log_x: bool = False, markers: bool = True, lines: Mapping[str, float] = {},
                          bands: Mapping[str, tuple[float, float]] = {},
                          ylim: tuple[float, float] | None = None) -> Path:
    """One metric per epoch for several runs on shared axes; `lines`: labelled levels, dashed;
    `bands`: labelled ranges (low, high), shaded. Epochs cut off by `ylim` are named on the plot."""
    fig, ax = new_figure(1, 1, (7.5, 5.2 if lines or bands else 4.5))   # the legend below needs the room
    for index, (label, history) in enumerate(histories.items()):
        ax.plot([row["epoch"] for row in history], [row[key] for row in history], "o-" if markers else "-", ms=3,
                color=CLASS_COLOURS(index), label=label)
    for label, (low, high) in bands.items():
        ax.axhspan(low, high, color="#cccccc", alpha=0.6, lw=0, label=label)
    for index, (label, level) in enumerate(lines.items(), len(histories)):   # dashed, then dotted: levels may coincide
        ax.axhline(level, color=CLASS_COLOURS(index), ls=("--", ":")[index % 2], lw=1.6, label=label)
    if ylim is not None:
        above = [row["epoch"] for history in histories.values() for row in history if row[key] > ylim[1]]
        note_epochs_above(ax, int(max(above, default=0)))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if log_x:   # epochs 1, 2, 5, 10, 20, ... written as plain numbers, not powers of ten
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.set_ylim(ylim)       # None: matplotlib's own
    if histories and (lines or bands):   # below the axes: levels and bands span the plot's width
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
        fig.tight_layout()
    elif histories:
        ax.legend(loc="best")
    return save_png(fig, path)


def note_epochs_above(ax, last: int) -> None:
    """Say on the plot that epochs 1 to `last` lie above the axis (nothing when `last` is 0): at the
    top right, which falling curves leave empty (they enter at the top left)."""
    if last:
        ax.annotate("epoch 1 above the axis" if last == 1 else f"epochs 1–{last} above the axis", (0.99, 0.98),
                    xycoords="axes fraction", ha="right", va="top", color="#555555")


def error_bars(ax: plt.Axes, x: Sequence[float], y: Sequence[float], yerr: Sequence[float | None],
               xerr: Sequence[float | None] | None = None, **style: Any) -> None:
    """± one standard deviation at the points that have one (`None` or 0: a single seed): no bar
    elsewhere, since a bar of length zero would still draw its caps, a spread never measured."""
    measured = [i for i in range(len(x)) if yerr[i] or (xerr is not None and xerr[i])]
    if not measured:
        return

    def at(values: Sequence[float | None]) -> list[float]:
        return [values[i] or 0.0 for i in measured]
    ax.errorbar(at(x), at(y), yerr=at(yerr), xerr=None if xerr is None else at(xerr), fmt="none", **style)


@styled
def plot_sweep_spread(values: Sequence[float], means: Sequence[Mapping[str, float]], spreads: Sequence[Mapping[str, float]],
                      parameter: str, path: str | Path, title: str = "", log_x: bool = False) -> Path:
    """Test −ELBO, reconstruction and KL as one setting grows, each point the mean over its seeds
    with an error bar of ± the sample standard deviation (no bar where one seed was trained)."""
    fig, panels = _elbo_term_panels(3.4)
    for ax, key, label in panels:
        # Open markers, bars drawn over them: a spread of a tenth of a nat is shorter than a
        # filled marker and would hide behind it.
        y = [m[key] for m in means]
        ax.plot(values, y, "o-", ms=4, mfc="white", color=TRAIN_COLOUR)
        error_bars(ax, values, y, [s.get(key) for s in spreads], ecolor="black", elinewidth=1.2, capsize=5, zorder=3)
        ax.set_xlabel(parameter)
        ax.set_ylabel(label)
        if log_x:
            ax.set_xscale("log", base=2)
        ax.set_xticks(list(values), [f"{v:g}" for v in values])
        ax.minorticks_off()
    return save_titled(fig, path, title)


@styled
def plot_failures(originals: torch.Tensor, reconstructed: torch.Tensor, labels: Sequence[str], path: str | Path,
                  title: str = "") -> Path:
    """The worst-reconstructed test images (top row) above their reconstructions, each column
    labelled with its class and −ELBO."""
    n = len(originals)
    fig, axes = new_figure(2, n, (min(FULL_WIDTH_IN, 0.85 * n + 0.4), 3.2), squeeze=False)
    for column in range(n):
        for row, images in enumerate((originals, reconstructed)):
            ax = axes[row, column]
            ax.imshow(1 - images[column].detach().cpu().float().clamp(0, 1).squeeze().numpy(), cmap="gray",
                      vmin=0, vmax=1, interpolation="nearest")
            ax.set_axis_off()
        axes[0, column].set_title(narrow(labels[column]), fontsize=10, gid=NARROW_LABEL).set_label(labels[column])
    return save_titled(fig, path, title)


@styled
def plot_latent_panels(panels: Mapping[str, tuple[torch.Tensor, torch.Tensor]], class_names: Sequence[str],
                       path: str | Path, xlabel: str = "PC 1", ylabel: str = "PC 2", title: str = "") -> Path:
    """Several latent scatters side by side (e.g. the same model after 10, 50 and 100 epochs),
    each (points, labels), coloured by class with one shared legend."""
    fig, axes = new_figure(1, len(panels), (FULL_WIDTH_IN, 3.6), squeeze=False)
    for ax, (label, (points, labels)) in zip(axes[0], panels.items()):
        scatter_by_class(ax, points, labels, class_names, size=2, alpha=0.5)
        ax.set_title(label)
        ax.set_xlabel(xlabel)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel(ylabel)
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), 5), markerscale=5)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    return save_png(fig, path)
