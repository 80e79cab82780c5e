"""One run of the report: train it with figure snapshots, then measure and draw the trained model.

`produce_run` trains through `training.train` straight into the run's folder, with the data the
report has already read. The `on_epoch` callback (`EpochSnapshots`) draws epochs 0, 1, 5 (or the
middle one) and the last; the `measure` callback (`RunMeasurements`) measures (`evaluation`) and
draws (`figures`) the best-epoch model and returns the fields the trainer adds to metrics.json,
so each of config.json, history.csv and metrics.json has one writer. It returns a `RunOutcome`
holding plain CPU data only, so a run can be made in another process.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .. import evaluation, explorer, figures
from ..plumbing import artifacts
from ..data import Splits
from ..models import VAE
from ..training import EpochCallback, TrainResult, train
from . import classifier
from .plan import Profile, RunSpec, describe
from .tables import Column, write_markdown_tables

HISTORY_COLUMNS = [Column("epoch", "epoch", "count"), Column("train_elbo", "train -ELBO", "nats"),
                   Column("val_elbo", "val -ELBO", "nats"), Column("val_recon", "val reconstruction", "nats"),
                   Column("val_kl", "val KL", "nats"), Column("epoch_time_s", "time (s)", "seconds")]
METRICS_COLUMNS = [Column("split", "split"), Column("elbo", "-ELBO", "nats"),
                   Column("recon", "reconstruction", "nats"), Column("kl", "KL", "nats"),
                   Column("elbo_per_pixel", "-ELBO per pixel", "per_pixel")]


def snapshot_epochs(epochs: int) -> dict[str, int]:
    """Epochs of the first, middle and final snapshots: 1, 5, last (the middle one if epochs <= 5)."""
    return {"first": 1, "mid": 5 if epochs > 5 else math.ceil(epochs / 2), "final": epochs}


def bound_epochs(epochs: int, points: int = 40) -> set[int]:
    """About `points` epochs, evenly spaced on a log scale, and the last: where the test bound is drawn."""
    return {int(round(e)) for e in np.geomspace(1, epochs, points)} | {epochs}


def one_image_per_class(x: torch.Tensor, y: torch.Tensor, classes: int) -> tuple[torch.Tensor, list[int]]:
    """The first test image of each class, in class order (the same originals in every figure), and their classes."""
    present = [c for c in range(classes) if (y == c).any()]
    return torch.stack([x[(y == c).nonzero()[0, 0]] for c in present]), present


class EpochSnapshots:
    """The `on_epoch` callback of `train`: prior samples at epoch 0, reconstructions and samples
    at the first, middle and final epochs, and the test -ELBO at `bound_epochs` if asked. The same
    z and the same originals are used each time, so the figures show the model changing, not the inputs."""

    def __init__(self, run_dir: Path, spec: RunSpec, samples: int, seed: int):
        self.run_dir, self.samples, self.seed, self.spec = run_dir, samples, seed, spec
        self.epochs = snapshot_epochs(spec.config.epochs)
        self.measured = bound_epochs(spec.config.epochs) if spec.bound_by_epoch else set()
        self.final_samples = torch.empty(0)
        self.final_reconstructions = torch.empty(0)
        self.test_bound: list[dict[str, float]] = []
        self.at_epochs: dict[int, dict[str, Any]] = {}   # spec.snapshot_epochs: the training-length figures

    def __call__(self, epoch: int, model: VAE, splits: Splits) -> None:
        title = describe(self.spec.config)
        if epoch == 0:
            figures.plot_prior_samples(evaluation.prior_samples(model, self.samples, self.seed),
                                       self.run_dir / "samples_untrained.png", f"{title}\nprior samples, epoch 0")
        if epoch in self.measured:
            test = evaluation.evaluate(model, splits.test_x, 1.0, self.spec.config.recon_loss)
            self.test_bound.append({"epoch": epoch, "test_elbo": test["elbo"]})
        originals, _ = one_image_per_class(splits.test_x, splits.test_y, len(splits.classes))
        if epoch in self.spec.snapshot_epochs:
            mu, _ = evaluation.latent_encodings(model, splits.test_x)
            self.at_epochs[epoch] = {"reconstructions": evaluation.reconstructions(model, originals),
                                     "originals": originals.cpu(), "latent_mu": mu, "labels": splits.test_y.cpu(),
                                     "classes": list(splits.classes),
                                     "test": evaluation.evaluate(model, splits.test_x, 1.0, self.spec.config.recon_loss)}
        for moment, at_epoch in self.epochs.items():
            if epoch != at_epoch:
                continue
            reconstructed = evaluation.reconstructions(model, originals)
            figures.plot_reconstructions(originals.cpu(), reconstructed, self.run_dir / f"reconstructions_{moment}.png",
                                         f"{title}\ntest images (top), reconstructions (bottom), epoch {epoch}")
            if moment == "final":
                self.final_reconstructions = reconstructed
            if moment != "first":
                samples = evaluation.prior_samples(model, self.samples, self.seed)
                figures.plot_prior_samples(samples, self.run_dir / f"samples_{moment}.png",
                                           f"{title}\nprior samples, epoch {epoch}")
                if moment == "final":
                    self.final_samples = samples

    def finish(self, result: TrainResult) -> None:
        """A run that the stopping rule ended before its last epoch: its final figures show the
        best epoch's model, which is the one measured."""
        if len(self.final_samples) == 0 and result.history:
            epoch = result.metrics["best_epoch"]
            self.epochs = {"final": epoch}
            self.spec = dataclasses.replace(self.spec, snapshot_epochs=())
            self(epoch, result.model, result.splits)


@dataclass
class RunOutcome:
    """What the comparisons need from a finished run: plain CPU data, no model."""
    spec: RunSpec
    metrics: dict[str, Any]            # as written to runs/<name>/metrics.json
    history: list[dict[str, float]]
    files: list[str]
    final_samples: torch.Tensor
    report_time_s: float
    test_bound: list[dict[str, float]] = field(default_factory=list)
    anomaly_scores: tuple[torch.Tensor, torch.Tensor] | None = None   # (in distribution, outliers)
    snapshots: dict[int, dict[str, Any]] = field(default_factory=dict)   # spec.snapshot_epochs
    run_dir: Path | None = None        # the run's own folder, where its files are
    then: "RunOutcome | str | None" = None   # the outcome of the run that continued this one's training


@dataclass
class RunInputs:
    """What one run is given by the report: its data (read once per report) and where to write."""
    splits: Splits                     # the run's dataset, split as its config says
    outliers: torch.Tensor | None      # test images of `spec.anomaly_against`, if the run scores them
    judge: nn.Module | None            # the report's classifier of the run's dataset
    checkpoint_dir: Path               # best.pt and last.pt: outside the assets
    explorer_dir: Path | None          # the run's own explorer/ folder, if this run draws the explorer


def produce_run(spec: RunSpec, profile: Profile, run_dir: Path, inputs: RunInputs,
                on_epoch: EpochCallback | None = None, log: Callable[[str], None] = lambda message: None,
                snapshots: EpochSnapshots | None = None, resume: bool = False) -> RunOutcome:
    """Train one run straight into `run_dir`; the trainer writes config.json, history.csv and
    metrics.json there (with this report's measurements added to metrics.json), the report its
    figures and tables beside them. A run that continues another (`RunSpec.continues`) is given
    the snapshots taken during that run's training and resumes from its last.pt, put into
    `inputs.checkpoint_dir`."""
    started = time.perf_counter()
    snapshots = snapshots or EpochSnapshots(run_dir, spec, profile.samples, profile.seed)
    # The latent explorer of a saved z = 2 model: every epoch's frame comes from this training.
    frames = explorer.EpochFrames(samples=profile.samples, seed=profile.seed) if inputs.explorer_dir else None
    measured = RunMeasurements(spec, profile, run_dir, inputs, snapshots, frames)
    result = train(spec.config, run_dir, resume=resume, on_epoch=explorer.chain(snapshots, frames, on_epoch),
                   log=log, progress=False, splits=inputs.splits, checkpoint_dir=inputs.checkpoint_dir, measure=measured)
    # The run's own files; its explorer/ folder is listed apart (manifest.json's `explorer`).
    files = sorted(p.name for p in run_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    return RunOutcome(spec=spec, metrics=result.metrics, history=result.history, files=files,
                      final_samples=snapshots.final_samples, report_time_s=time.perf_counter() - started,
                      test_bound=snapshots.test_bound, anomaly_scores=measured.anomaly_scores,
                      snapshots=snapshots.at_epochs, run_dir=run_dir)


def explores(spec: RunSpec) -> bool:
    """The site's latent explorer is drawn for the saved models with a two-dimensional latent space."""
    return spec.save_model and spec.config.latent_dim == 2


class RunMeasurements:
    """The trainer's `measure` callback: draws and measures the best model into the run's folder and
    returns the fields this report adds to metrics.json."""

    def __init__(self, spec: RunSpec, profile: Profile, run_dir: Path, inputs: RunInputs,
                 snapshots: EpochSnapshots, frames: explorer.EpochFrames | None):
        self.spec, self.profile, self.run_dir, self.inputs = spec, profile, run_dir, inputs
        self.snapshots, self.frames = snapshots, frames
        self.anomaly_scores: tuple[torch.Tensor, torch.Tensor] | None = None

    def __call__(self, result: TrainResult) -> dict[str, Any]:
        spec, profile, run_dir = self.spec, self.profile, self.run_dir
        self.snapshots.finish(result)
        write_tables(spec, result, run_dir)
        mu, logvar = evaluation.latent_encodings(result.model, result.splits.test_x)
        added = draw_latent_space(spec, result, mu, profile, run_dir, self.inputs.judge)
        added.update(draw_interpolations(spec, result, run_dir, self.inputs.judge))
        added.update(measure_active_units(spec, mu, logvar, run_dir))
        added.update(reconstruction_classes(result.splits, self.snapshots.final_reconstructions, self.inputs.judge,
                                            result.model))
        if spec.likelihood:
            added["likelihood"] = measure_likelihood(result, profile)
        if self.inputs.outliers is not None:
            self.anomaly_scores = score_outliers(result, self.inputs.outliers, profile)
            added["anomaly_roc_auc"] = evaluation.anomaly_auc(*self.anomaly_scores)
        if spec.failures:
            added["failures"] = draw_failures(spec, result, run_dir,
                                              self.anomaly_scores[0] if self.anomaly_scores else None,
                                              profile.seed, profile.anomaly_images, self.inputs.judge)
        if spec.save_model:
            save_model_files(result, mu, logvar, run_dir)
        if self.inputs.explorer_dir is not None:
            explorer.write_explorer(result.model, result.splits, self.inputs.explorer_dir, self.frames)
        if self.snapshots.test_bound:
            artifacts.write_csv(run_dir / "test_bound.csv", self.snapshots.test_bound, ["epoch", "test_elbo"])
        return added


def write_tables(spec: RunSpec, result: TrainResult, run_dir: Path) -> None:
    """history.md, metrics.md and the training curves, beside the trainer's history.csv and metrics.json."""
    write_markdown_tables(run_dir / "history.md", result.history, HISTORY_COLUMNS)
    write_markdown_tables(run_dir / "metrics.md", [{"split": split, **result.metrics[split]} for split in ("val", "test")],
                          METRICS_COLUMNS)
    figures.plot_training_curves(result.history, run_dir / "curves.png", describe(spec.config))


def draw_latent_space(spec: RunSpec, result: TrainResult, mu: torch.Tensor, profile: Profile,
                      run_dir: Path, judge: nn.Module | None = None) -> dict[str, Any]:
    """latent.png (and manifold.png for latent 2, latent_tsne.png otherwise); returns metrics to add:
    for latent 2 with a classifier, how many of the manifold's decoded images it reads as each class."""
    labels, names, title = result.splits.test_y.cpu(), result.splits.classes, describe(spec.config)
    if result.model.latent_dim == 2:
        figures.plot_latent_space(mu, labels, names, run_dir / "latent.png", title=f"{title}: test set at μ")
        grid_values = evaluation.latent_grid(20)
        decoded = evaluation.decode_images(result.model, grid_values.to(result.device))
        figures.plot_latent_manifold(decoded, grid_values[:20, 0], run_dir / "manifold.png", f"{title}: decoded grid")
        if judge is None:
            return {}
        read = classifier.predict(judge, decoded)
        extent = float(grid_values.abs().max())   # the grid's reach: codes beyond it are not drawn
        outside = (mu.cpu().abs() > extent).any(dim=1)
        return {"manifold_classes": {name: int((read == i).sum()) for i, name in enumerate(names)},
                "manifold_extent": extent, "manifold_codes_outside": float(outside.float().mean()),
                "manifold_class_codes_outside": {name: float(outside[labels == i].float().mean())
                                                 for i, name in enumerate(names)}}
    points, explained = evaluation.pca_projection(mu)
    figures.plot_latent_space(points, labels, names, run_dir / "latent.png",
                              f"PC 1 ({explained[0]:.0%} of variance)", f"PC 2 ({explained[1]:.0%} of variance)",
                              f"{title}: test set at μ, PCA")
    n = min(profile.tsne_points, len(mu))
    figures.plot_latent_space(evaluation.tsne_projection(mu[:n], profile.seed), labels[:n], names,
                              run_dir / "latent_tsne.png", "t-SNE 1", "t-SNE 2",
                              f"{title}: first {n:,} test images at μ, t-SNE")
    return {"pca_explained_variance": explained}


def draw_interpolations(spec: RunSpec, result: TrainResult, run_dir: Path,
                        judge: nn.Module | None = None) -> dict[str, Any]:
    """Straight lines in z between the first test images of classes 0-1, 2-3, ...: always different
    classes; the originals stand at both ends of each row, named by their true class. With a
    classifier, returns the class it reads at each point of each line."""
    names = result.splits.classes
    originals, classes = one_image_per_class(result.splits.test_x, result.splits.test_y, len(names))
    starts, ends = list(range(0, len(originals) - 1, 2)), list(range(1, len(originals), 2))
    lines = evaluation.interpolations(result.model, originals[starts], originals[ends])
    figures.plot_interpolations(lines, originals[starts].cpu(), originals[ends].cpu(),
                                [(names[classes[a]], names[classes[b]]) for a, b in zip(starts, ends)],
                                run_dir / "interpolation.png", f"{describe(spec.config)}: straight lines between codes")
    if judge is None:
        return {}
    read = classifier.predict(judge, lines.flatten(0, 1)).view(len(starts), -1).tolist()
    return {"interpolation_reads": [{"from": names[classes[a]], "to": names[classes[b]],
                                     "read": [names[i] for i in row]} for a, b, row in zip(starts, ends, read)]}


def measure_active_units(spec: RunSpec, mu: torch.Tensor, logvar: torch.Tensor, run_dir: Path) -> dict[str, Any]:
    """KL per dimension and the active units: those above `evaluation.ACTIVE_KL_NATS`, the one
    threshold that the figure, its caption, the tables and the findings all use."""
    kl = evaluation.mean_kl_per_dimension(mu, logvar)
    active = evaluation.active_dimensions(kl)
    figures.plot_kl_per_dimension(kl, active, run_dir / "kl_per_dim.png", describe(spec.config),
                                  evaluation.ACTIVE_KL_NATS)
    return {"latent_dim": mu.shape[1], "active_units": len(active), "active_unit_threshold_nats": evaluation.ACTIVE_KL_NATS,
            "kl_per_dimension": kl.tolist(), "active_dimensions": active}


FAILURES_SHOWN = 10


def draw_failures(spec: RunSpec, result: TrainResult, run_dir: Path, scores: torch.Tensor | None,
                  seed: int, images: int | None = None, judge: nn.Module | None = None) -> dict[str, Any]:
    """failures.png: the test images this model reconstructs worst (highest -ELBO), above their
    reconstructions, among the first `images` test images (None: all); returns each one's test
    index, class and -ELBO, the class the report's classifier reads in its reconstruction (with a
    classifier), and the median over the images searched."""
    x, y = result.splits.test_x[:images], result.splits.test_y[:images]
    if scores is None or len(scores) != len(x):
        scores = evaluation.negative_elbo_per_example(result.model, x, result.config.recon_loss, seed=seed)
    worst = torch.argsort(scores, descending=True)[:FAILURES_SHOWN]
    originals = x[worst.to(x.device)]
    names = result.splits.classes
    rows = [{"test_index": int(i), "class": names[int(y[i])], "negative_elbo": float(scores[i])} for i in worst]
    reconstructed = evaluation.reconstructions(result.model, originals)
    if judge is not None:   # a failure that decodes as another class is a confusion, not a blur
        for row, predicted in zip(rows, classifier.predict(judge, reconstructed).tolist()):
            row["reconstructed_as"] = names[int(predicted)]
    figures.plot_failures(originals.cpu(), reconstructed,
                          [failure_label(r) for r in rows], run_dir / "failures.png",
                          f"{describe(spec.config)}: the {len(rows)} test images with the highest −ELBO (nats)")
    return {"images": rows, "median_negative_elbo": float(scores.median()), "test_images": len(scores)}


def failure_label(row: dict[str, Any]) -> str:
    """A failure's class, the class read in its reconstruction where it differs, and its −ELBO."""
    read_as = row.get("reconstructed_as", row["class"])
    return "\n".join([row["class"], *([f"→ {read_as}"] if read_as != row["class"] else []),
                      f"{row['negative_elbo']:.0f}"])


RECONSTRUCTION_CLASS_IMAGES = 1000


def reconstruction_classes(splits: Splits, reconstructed: torch.Tensor, judge: nn.Module | None,
                           model: VAE) -> dict[str, Any]:
    """How many of the final reconstructions shown the report's classifier puts in their original's
    class, and the same rate on the first `RECONSTRUCTION_CLASS_IMAGES` test images."""
    if judge is None or len(reconstructed) == 0:
        return {}
    _, classes = one_image_per_class(splits.test_x, splits.test_y, len(splits.classes))
    predicted = classifier.predict(judge, reconstructed).tolist()
    # The ten shown are too few to measure anything: the rate is measured on the first test images.
    x, y = splits.test_x[:RECONSTRUCTION_CLASS_IMAGES], splits.test_y[:RECONSTRUCTION_CLASS_IMAGES]
    kept = (classifier.predict(judge, evaluation.reconstructions(model, x)).cpu() == y.cpu()).float()
    return {"reconstructions_shown": len(classes),
            "reconstruction_classes_kept": sum(p == c for p, c in zip(predicted, classes)),
            "reconstruction_classes_predicted": predicted,
            "reconstruction_class_rate": {"images": len(kept), "kept": kept.mean().item(),
                                          "standard_error": (kept.var() / len(kept)).sqrt().item()
                                          if len(kept) > 1 else None}}


def measure_likelihood(result: TrainResult, profile: Profile) -> dict[str, Any]:
    """The IWAE bound -L_k on the first test images (all of them in `full`), with its standard error
    and each image's estimate."""
    config = result.config
    n = min(profile.iwae_conv_images if config.arch == "conv" else profile.iwae_mlp_images, len(result.splits.test_x))
    subset = result.splits.test_x[:n]
    bound = evaluation.iwae_bound(result.model, subset, profile.iwae_k, seed=profile.seed)
    return {"k": profile.iwae_k, "test_images": n,
            "negative_elbo": evaluation.evaluate(result.model, subset, 1.0, config.recon_loss)["elbo"],
            "nll": bound["mean_nll"], "nll_standard_error": bound["nll_standard_error"],
            # each image's estimate (to a thousandth of a nat): two models scored on the same
            # images are compared image by image, with the standard error of the paired difference
            "nll_per_image": [round(v, 3) for v in bound["nll"].tolist()]}


def score_outliers(result: TrainResult, outliers: torch.Tensor, profile: Profile) -> tuple[torch.Tensor, torch.Tensor]:
    """-ELBO of each test image of the run's dataset and of `outliers` (another dataset's test
    images, as the report read them) under this model. The test images' scores are drawn as the
    test metrics are (`evaluate`'s seed and batches): one estimate per image, the same everywhere."""
    n = profile.anomaly_images
    other = outliers[:n].to(result.device)
    in_scores = evaluation.negative_elbo_per_example(result.model, result.splits.test_x[:n])
    out_scores = evaluation.negative_elbo_per_example(result.model, other)
    return in_scores.cpu(), out_scores.cpu()


def save_model_files(result: TrainResult, mu: torch.Tensor, logvar: torch.Tensor, run_dir: Path) -> None:
    """model.pt and latents.npz for the site's latent-space notebook and explorer."""
    artifacts.save_checkpoint(run_dir / "model.pt", {"model": {k: v.cpu() for k, v in result.model.state_dict().items()},
                                                     "config": result.config.to_dict()})
    labels = result.splits.test_y.cpu().numpy().astype(np.int64)
    artifacts.write_atomic(run_dir / "latents.npz", lambda f: np.savez_compressed(
        f, mu=mu.numpy(), logvar=logvar.numpy(), labels=labels, classes=np.array(result.splits.classes)))


