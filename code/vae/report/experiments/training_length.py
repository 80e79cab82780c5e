"""Training length: the sweeps' centre model trained without the stopping rule for the profile's
longest length (100 epochs in `standard`), with snapshots on the way; in `full`, the reference
ConvVAE trained longer too. It tells when more training stops paying, whether the stopping rule
stops in time, and how much the sweeps' cap leaves on the table."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ... import figures
from ...evaluation import pca_projection
from ...models import PIXELS
from ...training import stopped
from ..comparisons import TEST_TERMS, Comparison, summary_row
from ...config import TrainConfig
from ..plan import Profile, Role, RunSpec, describe, spec
from ..tables import Column, outputs, write_table
from ..verdicts import MARGIN_SDS, Finding, Spread, differ, unmeasured
from . import reference, yardstick
from .yardstick import centre

ROLES = ("training_length", "conv_length")
# The long run is judged against itself, on one validation set: its margin is the seeds' spread of
# the test −ELBO, which all seeds measure on the same images. Their validation −ELBOs differ by more
# (0.28 against 0.12 nats s.d. in the committed report), because the seed also draws the split.
SPREAD_KEY = "test_elbo"
FINDINGS = {"training_length": ("diminishes", "still_gaining", "unmeasured"),
            "stopping_rule": ("stops_at_a_cost", "stops_in_time", "would_not_stop", "unmeasured"),
            "overfitting": ("rises", "flat", "too_late_to_tell", "unmeasured"),
            "generalization_gap": ("widens", "steady", "narrows", "unmeasured"),
            "cap_gain": ("gains_after_cap", "flat_after_cap", "unmeasured")}


OUTPUTS = outputs(tables=("training_length",),
                  figures=("length_reconstructions.png", "length_latent.png", "length_curve.png"))


def plan(profile: Profile, base: TrainConfig) -> list[RunSpec]:
    longest = max(profile.length_epochs)
    long_centre = dataclasses.replace(centre(profile, base), epochs=longest, stop_window=0)
    # Its first epochs are the centre's (seed, data and steps are the same; only the rule differs):
    # it goes on from where the centre stopped, unless the centre may train past it.
    continues = spec(centre(profile, base), base).name if profile.sweep_epoch_cap <= longest else None
    return [spec(long_centre, base, Role("training_length", longest), snapshot_epochs=profile.length_epochs,
                 continues=continues),
            *[spec(dataclasses.replace(reference.config(base, "mnist"), epochs=e), base, Role("conv_length", e))
              for e in profile.long_epochs]]


def diminishing_epoch(values: Sequence[float], margin: float | None) -> int | None:
    """The first epoch after which the best validation −ELBO still to come improves on the best so
    far by no more than `margin` (1-based); None without a margin."""
    if margin is None or not values:
        return None
    best_so_far = np.minimum.accumulate(np.asarray(values, dtype=float))
    return int(np.argmax(best_so_far - min(values) <= margin)) + 1


def write(c: Comparison) -> list[Path]:
    """The long run at its snapshot epochs (table, reconstructions, latent panels, the curve), and
    the reference ConvVAE trained longer (full profile)."""
    written: list[Path] = []
    rows: list[dict[str, Any]] = []
    long_run = c.one("training_length")
    if long_run is not None:
        title = describe(long_run.spec.config)
        snaps = dict(sorted(long_run.snapshots.items()))
        for epoch, snap in snaps.items():
            rows.append({"epochs": epoch, "test_elbo": snap["test"]["elbo"], "test_recon": snap["test"]["recon"],
                         "test_kl": snap["test"]["kl"], "val_elbo": long_run.history[epoch - 1]["val_elbo"],
                         "model": title})
        if snaps:
            first = next(iter(snaps.values()))
            written.append(figures.plot_image_panels(
                {"test images": first["originals"], **{f"epoch {e}": s["reconstructions"] for e, s in snaps.items()}},
                c.figures / "length_reconstructions.png", columns=len(first["originals"]), per_row=1,
                title=f"{title}: reconstructions"))
            projected = [pca_projection(s["latent_mu"]) for s in snaps.values()]
            projections = same_way_round([points for points, _ in projected])
            # Each panel says how much of its codes' variance the two axes keep: the rest is out of the plane.
            panels = {f"epoch {e}: {100 * sum(explained):.0f} % of the variance": (points, s["labels"])
                      for (e, s), points, (_, explained) in zip(snaps.items(), projections, projected)}
            written.append(figures.plot_latent_panels(panels, first["classes"], c.figures / "length_latent.png",
                                                      title=f"{title}: test set at μ, PCA"))
        values = [row["val_elbo"] for row in long_run.history]
        margin = _margin(c)
        written.append(plot_length_curve(long_run.history, (min(values), margin) if margin else None,
                                         diminishing_epoch(values, margin), list(snaps),
                                         c.figures / "length_curve.png", title, rule_stop_epoch(c, long_run)))
    for epochs, outcomes in c.by_value("conv_length").items():
        rows.append({**summary_row(outcomes[0]), "epochs": epochs})
    return written + write_table(c.tables, "training_length", rows, [
        Column("model", "model"), Column("epochs", "epochs", "count"), Column("val_elbo", "val -ELBO", "nats"),
        *TEST_TERMS])


def rule_stop_epoch(c: Comparison, long_run) -> int | None:
    """The epoch at which the sweeps' stopping rule would have stopped the long run (None: never)."""
    rule = dataclasses.replace(long_run.spec.config, stop_window=c.profile.stop_window,
                               stop_min_gain=c.profile.stop_min_gain)
    return next((e for e in range(1, len(long_run.history) + 1) if stopped(long_run.history[:e], rule)), None)


def _margin(c: Comparison) -> float | None:
    sd = yardstick.spread(c).of(SPREAD_KEY)
    return None if sd is None else MARGIN_SDS * sd


def judge(c: Comparison, ruler: Spread) -> list[Finding]:
    long_run = c.one("training_length")
    sd = ruler.of(SPREAD_KEY)
    if long_run is None or sd is None:
        return [unmeasured(name, "training length", verdicts) for name, verdicts in FINDINGS.items()]
    values = [row["val_elbo"] for row in long_run.history]
    margin = MARGIN_SDS * sd
    epoch = diminishing_epoch(values, margin)
    snaps = {e: s["test"] for e, s in sorted(long_run.snapshots.items())}
    first, last = min(snaps), max(snaps)
    spread_record, evidence = {**ruler.record(SPREAD_KEY), "why": "the same test images for every seed"}, \
        [long_run.spec.name]
    length = Finding("training_length", "the epoch after which the validation −ELBO still to come gains no more "
                     "than the margin", FINDINGS["training_length"], "diminishes" if epoch < len(values) else
                     "still_gaining", {
                         "epochs": len(values), "diminishing_epoch": epoch, "margin": margin,
                         "model": describe(long_run.spec.config), "best_epoch": int(np.argmin(values)) + 1,
                         "first_snapshot": first, "test_at_first": snaps[first]["elbo"],
                         "last_snapshot": last, "test_at_last": snaps[last]["elbo"],
                         "snapshot_gain": snaps[first]["elbo"] - snaps[last]["elbo"],
                         "snapshot_gain_per_pixel": (snaps[first]["elbo"] - snaps[last]["elbo"]) / PIXELS},
                     spread_record, evidence=evidence)
    rule_epoch = rule_stop_epoch(c, long_run)
    # What the stopped run would keep (its best epoch up to the stop) against the whole run's best.
    cost = differ(min(values[:rule_epoch]) - min(values), sd) if rule_epoch else None
    stopping = Finding("stopping_rule", "the epoch at which the sweeps' stopping rule would stop the long run, "
                       "and what it would lose", FINDINGS["stopping_rule"],
                       "would_not_stop" if cost is None else "stops_at_a_cost" if cost["verdict"] == "higher"
                       else "stops_in_time", {
                           "rule_stop_epoch": rule_epoch, "epochs": len(values), "window_epochs": c.profile.stop_window,
                           "min_gain_nats": c.profile.stop_min_gain,
                           "val_at_rule": min(values[:rule_epoch]) if rule_epoch else None,
                           "val_best": min(values), "margin": margin,
                           "lost": min(values[:rule_epoch]) - min(values) if rule_epoch else None},
                       spread_record if cost else {}, cost, evidence,
                       compares="the best validation −ELBO kept by the stopping rule against the long run's best"
                       if cost else "")
    best_epoch = int(np.argmin(values)) + 1
    rise = differ(values[-1] - min(values), sd)
    # A rise needs epochs after the best to show: with fewer than the stopping rule's window after
    # it, a flat end says nothing about overfitting.
    after_best = len(values) - best_epoch
    overfit = Finding("overfitting", "whether the validation −ELBO rises after its best epoch beyond the margin",
                      FINDINGS["overfitting"], "rises" if rise["verdict"] == "higher" else
                      "too_late_to_tell" if after_best < c.profile.stop_window else "flat", {
                          "best_epoch": best_epoch, "rise": values[-1] - min(values), "epochs_after_best": after_best,
                          "window_epochs": c.profile.stop_window, "margin": margin, "epochs": len(values)},
                      spread_record, rise, evidence,
                      compares=f"the long run's last validation −ELBO against its best (epoch {best_epoch})")
    # Validation minus training −ELBO: training's value is the mean over the epoch's steps, taken
    # while the weights still change, so the gap is measured the same way at both epochs.
    gaps = [row["val_elbo"] - row["train_elbo"] for row in long_run.history]
    widening = differ(gaps[-1] - gaps[first - 1], sd)
    gap = Finding("generalization_gap", "how the gap between validation and training −ELBO changes over the long run",
                  FINDINGS["generalization_gap"], {"higher": "widens", "lower": "narrows"}.get(widening["verdict"], "steady"),
                  {"first_epoch": first, "gap_at_first": gaps[first - 1], "epochs": len(values),
                   "gap_at_last": gaps[-1], "margin": margin}, spread_record, widening, evidence,
                  compares=f"the long run's validation-minus-training −ELBO at epoch {len(values)} against epoch {first}")
    cap = c.profile.sweep_epoch_cap
    if len(values) <= cap:
        return [length, stopping, overfit, gap, unmeasured("cap_gain", "gain after the cap", FINDINGS["cap_gain"])]
    after = differ(min(values) - min(values[:cap]), sd)
    gain = Finding("cap_gain", "how much the long run's best validation −ELBO improves after the sweeps' cap",
                   FINDINGS["cap_gain"], "gains_after_cap" if after["verdict"] == "lower" else "flat_after_cap", {
                       "cap": cap, "gain_after_cap": min(values[:cap]) - min(values), "margin": margin,
                       "epochs": len(values)}, spread_record, after, evidence,
                   compares=f"the long run's best validation −ELBO against its best of the first {cap} epochs")
    return [length, stopping, overfit, gap, gain]


@figures.styled
def same_way_round(projections: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Each PCA projection of the same images with its axes flipped to agree with the panel before:
    a principal axis has no sign of its own, and a flip from one epoch to the next would read as
    the classes moving across the plane."""
    oriented = list(projections[:1])
    for points in projections[1:]:
        agreement = (points * oriented[-1]).sum(0)
        oriented.append(points * torch.where(agreement < 0, -1.0, 1.0))
    return oriented


def plot_length_curve(history: Sequence[Mapping[str, float]], band: tuple[float, float] | None,
                      diminishing_at: int | None, snapshot_epochs: Sequence[int], path: str | Path,
                      title: str = "", rule_stop_at: int | None = None) -> Path:
    """Validation −ELBO per epoch of one long run; `band`: (best value, margin), shaded from the
    best value up by the margin; a solid line at the epoch after which the gains still to come are
    within the margin, a dashed one where the sweeps' stopping rule would have stopped the run,
    dotted lines at the snapshot epochs."""
    fig, ax = figures.new_figure(1, 1, (7.5, 4.5))
    epochs = [row["epoch"] for row in history]
    values = [row["val_elbo"] for row in history]
    ax.plot(epochs, values, "-", color=figures.VAL_COLOUR, label="validation −ELBO")
    if band is not None:
        ax.axhspan(band[0], band[0] + band[1], color="#cccccc", alpha=0.6,
                   label=f"within the margin ({MARGIN_SDS:g} seed s.d.) of the best")
    if diminishing_at is not None:
        ax.axvline(diminishing_at, color="#2ca02c", lw=1.5, label="later gains within the margin")
    if rule_stop_at is not None:
        ax.axvline(rule_stop_at, color="#d62728", ls="--", lw=1.5, label="the sweeps' stopping rule stops")
    for index, epoch in enumerate(snapshot_epochs):
        ax.axvline(epoch, color="#777777", ls=":", lw=1, label="snapshot epochs" if index == 0 else None)
    # The first epochs lie tens of nats above the rest: drawn, they would flatten the part the
    # margin is about. The axis leaves them out and says so.
    skipped = min(len(values) - 1, 2)
    ax.set_ylim(min(values) - 1, max(values[skipped:]) + 1)
    figures.note_epochs_above(ax, skipped)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation −ELBO (nats)")
    ax.xaxis.set_major_locator(figures.MaxNLocator(integer=True))
    ax.set_title(title)
    # Below the axes, not over the curve: the band and the lines fill the plot's width.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    fig.tight_layout()
    return figures.save_png(fig, path)
