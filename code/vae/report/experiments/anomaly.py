"""The ELBO as an anomaly score: the reference MNIST model scores MNIST test images (in
distribution) and Fashion-MNIST test images (outliers) by their −ELBO; the ROC AUC says how well
the score tells them apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ... import figures
from ..comparisons import Comparison
from ...config import TrainConfig
from ..plan import Profile, Role, RunSpec, spec
from ..tables import Column, outputs, write_table
from ..verdicts import Finding, Spread, unmeasured
from . import reference

ROLES = ("anomaly",)
FINDINGS = {"anomaly": ("separates", "partly", "barely", "unmeasured")}
# ROC AUC bands of the verdict: 0.5 is chance, 1 a perfect separation.
SEPARATES_AUC, PARTLY_AUC = 0.9, 0.6


OUTPUTS = outputs(tables=("anomaly",), figures=("anomaly_hist.png",))


def plan(profile: Profile, base: TrainConfig) -> list[RunSpec]:
    return [spec(reference.config(base, "mnist"), base, Role("anomaly", "fashion-mnist"),
                 anomaly_against="fashion-mnist")]


def write(c: Comparison) -> list[Path]:
    rows, written = [], []
    outcome = c.one("anomaly", "fashion-mnist")
    if outcome is not None and outcome.anomaly_scores is not None:
        in_scores, out_scores = outcome.anomaly_scores
        auc = outcome.metrics["anomaly_roc_auc"]
        rows.append({"model": outcome.spec.name, "in_distribution": "MNIST test", "outliers": "Fashion-MNIST test",
                     "in_images": len(in_scores), "out_images": len(out_scores),
                     "mean_in_score": in_scores.mean().item(), "mean_out_score": out_scores.mean().item(),
                     "roc_auc": auc})
        written.append(plot_anomaly_histogram(in_scores, out_scores, "MNIST test (in distribution)",
                                              "Fashion-MNIST test (outliers)", auc, c.figures / "anomaly_hist.png"))
    return [*write_table(c.tables, "anomaly", rows, [
        Column("in_images", "MNIST images", "count"), Column("out_images", "Fashion-MNIST images", "count"),
        Column("mean_in_score", "mean -ELBO, MNIST", "nats"),
        Column("mean_out_score", "mean -ELBO, Fashion-MNIST", "nats"), Column("roc_auc", "ROC AUC", "auc")]),
        *written]


def judge(c: Comparison, spread: Spread) -> list[Finding]:
    outcome = c.one("anomaly", "fashion-mnist")
    claim = "how well the MNIST model's −ELBO tells Fashion-MNIST images from MNIST ones (ROC AUC)"
    if outcome is None or "anomaly_roc_auc" not in outcome.metrics:
        return [unmeasured("anomaly", claim, FINDINGS["anomaly"])]
    auc = outcome.metrics["anomaly_roc_auc"]
    verdict = "separates" if auc >= SEPARATES_AUC else "partly" if auc >= PARTLY_AUC else "barely"
    return [Finding("anomaly", claim, FINDINGS["anomaly"], verdict,
                    {"roc_auc": auc, "separates_auc": SEPARATES_AUC, "partly_auc": PARTLY_AUC},
                    {"kind": f"bands of the ROC AUC: ≥ {SEPARATES_AUC} separates, ≥ {PARTLY_AUC} partly"},
                    evidence=[outcome.spec.name])]


@figures.styled
def plot_anomaly_histogram(in_scores: torch.Tensor, out_scores: torch.Tensor, in_label: str, out_label: str,
                           auc: float, path: str | Path, xlabel: str = "\u2212ELBO (nats)") -> Path:
    """Overlaid score histograms of the training distribution and the outliers, with the ROC AUC."""
    fig, ax = figures.new_figure(1, 1, (7.5, 4.5))
    both = torch.cat([in_scores, out_scores]).numpy()
    bins = np.linspace(np.percentile(both, 0.5), np.percentile(both, 99.5), 60)
    ax.hist(in_scores.numpy(), bins=bins, alpha=0.6, density=True, color=figures.TRAIN_COLOUR, label=in_label)
    ax.hist(out_scores.numpy(), bins=bins, alpha=0.6, density=True, color=figures.VAL_COLOUR, label=out_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title(f"ROC AUC {auc:.3f}")
    ax.legend()
    return figures.save_png(fig, path)
