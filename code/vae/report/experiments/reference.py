"""The reference runs: seed report 000's ConvVAE (latent 2, 10 epochs) on MNIST and on
Fashion-MNIST, trained in fp32, the seed report's precision, so that the side-by-side with its
numbers compares the same computation. Their models are saved for the notebook and the explorer."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..comparisons import Comparison
from ...config import TrainConfig
from ..plan import Profile, Role, RunSpec, spec
from ..run import snapshot_epochs
from ..quoted import QUOTED
from ..tables import Column, outputs, write_table
from ..verdicts import DIFFERENCE_VERDICTS, Finding, Spread, unmeasured

ROLES = ("reference",)
DATASETS = ("mnist", "fashion-mnist")
FINDINGS = {
    "seed_000_val": (*DIFFERENCE_VERDICTS, "other_protocol", "unmeasured"),
    "seed_000_test": (*DIFFERENCE_VERDICTS, "unmeasured"),
    "seed_000_recon": (*DIFFERENCE_VERDICTS, "unmeasured"),
    "seed_000_kl": (*DIFFERENCE_VERDICTS, "unmeasured"),
    "best_epoch_mnist": ("last", "earlier", "unmeasured"),
    "best_epoch_fashion_mnist": ("last", "earlier", "unmeasured"),
    "reconstruction_epochs_mnist": ("measured", "unmeasured"),
    "reconstruction_epochs_fashion_mnist": ("measured", "unmeasured"),
    "manifold_mnist": ("all_classes", "some_missing", "unmeasured"),
    "manifold_fashion_mnist": ("all_classes", "some_missing", "unmeasured"),
    "interpolation_mnist": ("measured", "unmeasured"),
    "interpolation_fashion_mnist": ("measured", "unmeasured"),
}
EPOCH_COLUMNS = [
    Column("epoch", "epoch", "count"), Column("train_elbo", "train -ELBO", "nats"),
    Column("val_elbo", "val -ELBO", "nats"), Column("train_recon", "train reconstruction", "nats"),
    Column("val_recon", "val reconstruction", "nats"), Column("train_kl", "train KL", "nats"),
    Column("val_kl", "val KL", "nats"), Column("val_elbo_per_pixel", "val -ELBO per pixel", "per_pixel")]


def config(base: TrainConfig, dataset: str) -> TrainConfig:
    """The seed report's ConvVAE on `dataset`, in fp32 as the seed report trained it."""
    return dataclasses.replace(base, dataset=dataset, arch="conv", latent_dim=2, precision="fp32")


OUTPUTS = outputs(tables=[*(f"reference_epochs_{dataset}" for dataset in DATASETS), "seed_reference"])


def plan(profile: Profile, base: TrainConfig) -> list[RunSpec]:
    return [spec(config(base, dataset), base, Role("reference", dataset), save_model=True, failures=True)
            for dataset in DATASETS]


def write(c: Comparison) -> list[Path]:
    """Each reference run's per-epoch table, as seed report 000 prints it, and the side-by-side."""
    written: list[Path] = []
    for dataset in DATASETS:
        outcome = c.one("reference", dataset)
        written += write_table(c.tables, f"reference_epochs_{dataset}", list(outcome.history) if outcome else [],
                               EPOCH_COLUMNS)
    rows = []
    reference, seed = c.one("reference", "mnist"), QUOTED["seed_000"]
    if reference is not None:
        rows = [{"epoch": row["epoch"], "seed_000": quoted, "this_report": row["val_elbo"],
                 "difference": row["val_elbo"] - quoted} for row, quoted in zip(reference.history, seed["val_elbo"])]
        for term, label in (("elbo", "test, best epoch"), ("recon", "test reconstruction, best epoch"),
                            ("kl", "test KL, best epoch")):
            ours = reference.metrics["test"][term]
            rows.append({"epoch": label, "seed_000": seed[f"test_{term}"], "this_report": ours,
                         "difference": ours - seed[f"test_{term}"]})
    return written + write_table(c.tables, "seed_reference", rows, [
        Column("epoch", "epoch"), Column("seed_000", "seed report 000 (quoted)", "nats"),
        Column("this_report", "this report", "nats"), Column("difference", "difference", "nats")])


def judge(c: Comparison, spread: Spread) -> list[Finding]:
    return [*seed_000(c, spread), *(best_epoch(c, dataset) for dataset in DATASETS),
            *(reconstruction_epochs(c, dataset) for dataset in DATASETS),
            *(finding for dataset in DATASETS for finding in decoder_readings(c, dataset))]


def seed_000(c: Comparison, spread: Spread) -> list[Finding]:
    reference, quoted = c.one("reference", "mnist"), QUOTED["seed_000"]
    val_claim = "this report's reference run against seed report 000, validation −ELBO at the last epoch"
    test_claim = "this report's reference run against seed report 000, test −ELBO"
    if reference is None:
        return [unmeasured(name, val_claim if name == "seed_000_val" else test_claim, FINDINGS[name])
                for name in ("seed_000_val", "seed_000_test", "seed_000_recon", "seed_000_kl")]
    diffs = [row["val_elbo"] - q for row, q in zip(reference.history, quoted["val_elbo"])]
    worse = sum(d > 0 for d in diffs)
    precision = reference.metrics.get("precision", reference.spec.config.precision)
    # The side-by-side means something only under the seed's protocol: all images, its epochs.
    same_protocol = reference.spec.config.train_limit is None and len(reference.history) == len(quoted["val_elbo"])
    # The two codes validate on different images: the margin is the seeds' spread of the validation
    # −ELBO, over seeds whose splits differ too (--seed draws the split), at the last epoch.
    val_call = spread.differ(diffs[-1], "val_elbo")
    beyond = sum(abs(d) > val_call["margin"] for d in diffs) if val_call["margin"] is not None else None
    val = Finding("seed_000_val", val_claim, FINDINGS["seed_000_val"],
                  val_call["verdict"] if same_protocol else "other_protocol",
                  {"epochs": len(diffs), "epochs_worse": worse, "epochs_better": len(diffs) - worse,
                   "largest_val_difference": max(diffs, key=abs), "final_val_difference": diffs[-1],
                   "epochs_beyond_margin": beyond,
                   "margin": val_call["margin"], "precision": precision, "seed_epochs": len(quoted["val_elbo"])},
                  {**spread.record("val_elbo"), "borrowed": True, "why": "each seed draws its own validation split",
                   "quoted": quoted["source"]},
                  val_call if same_protocol else None, [reference.spec.name],
                  compares=f"this report's reference run against seed report 000: validation −ELBO at epoch {len(diffs)}")
    found = [val]
    # The bound, then its two terms: the same −ELBO can split differently between them.
    for name, term, words in (("seed_000_test", "elbo", "test −ELBO"), ("seed_000_recon", "recon", "test reconstruction"),
                              ("seed_000_kl", "kl", "test KL")):
        ours, theirs = reference.metrics["test"][term], quoted[f"test_{term}"]
        call = spread.differ(ours - theirs, f"test_{term}")
        claim = f"this report's reference run against seed report 000, {words}"
        found.append(Finding(name, claim, FINDINGS[name], call["verdict"],
                             {"this_report": ours, "seed_000": theirs, "difference": ours - theirs,
                              "margin": call["margin"], "clearance": call["clearance"], "precision": precision},
                             {**spread.record(f"test_{term}"), "borrowed": True, "quoted": quoted["source"]}, call,
                             [reference.spec.name], compares=claim))
    return found


def best_epoch(c: Comparison, dataset: str) -> Finding:
    name = f"best_epoch_{dataset.replace('-', '_')}"
    claim = f"the reference run's best validation epoch on {dataset}: the last one (still improving) or earlier"
    outcome = c.one("reference", dataset)
    if outcome is None:
        return unmeasured(name, claim, FINDINGS[name])
    last = outcome.history[-1]
    best, epochs = outcome.metrics["best_epoch"], len(outcome.history)
    return Finding(name, claim, FINDINGS[name], "last" if best == epochs else "earlier",
                   {"best_epoch": best, "epochs": epochs, "last_val_elbo": last["val_elbo"],
                    "last_train_elbo": last["train_elbo"]}, evidence=[outcome.spec.name])


def reconstruction_epochs(c: Comparison, dataset: str) -> Finding:
    """The reading of the reconstruction figures: the validation reconstruction term at the epochs
    they show (the first, the middle, the last), and how much of its fall is made by the middle."""
    name = f"reconstruction_epochs_{dataset.replace('-', '_')}"
    claim = f"the reference run's validation reconstruction term at the reconstruction figures' epochs, {dataset}"
    outcome = c.one("reference", dataset)
    if outcome is None or len(outcome.history) < 3:
        return unmeasured(name, claim, FINDINGS[name])
    shown = snapshot_epochs(len(outcome.history))
    recon = {when: outcome.history[epoch - 1]["val_recon"] for when, epoch in shown.items()}
    fall = recon["first"] - recon["final"]
    return Finding(name, claim, FINDINGS[name], "measured", {
        "first": recon["first"], "mid": recon["mid"], "last": recon["final"], "mid_epoch": shown["mid"],
        "last_epoch": shown["final"], "share_by_mid": (recon["first"] - recon["mid"]) / fall if fall else 0.0},
        evidence=[outcome.spec.name])


def decoder_readings(c: Comparison, dataset: str) -> list[Finding]:
    """The reading of the manifold and the interpolation figures: the classes the report's
    classifier reads in the decoded grid (and the codes the grid does not reach), and the lines
    that pass through a third class between their ends."""
    key = dataset.replace("-", "_")
    outcome = c.one("reference", dataset)
    grid = outcome.metrics.get("manifold_classes") if outcome else None
    lines = outcome.metrics.get("interpolation_reads") if outcome else None
    found = []
    manifold_claim = f"the classes the report's classifier reads in the reference run's decoded grid, {dataset}"
    if grid:
        cells, ranked = sum(grid.values()), sorted(grid, key=grid.get, reverse=True)
        missing = [name for name in grid if not grid[name]]
        present = [name for name in ranked if grid[name]]
        found.append(Finding(f"manifold_{key}", manifold_claim, FINDINGS[f"manifold_{key}"],
                             "some_missing" if missing else "all_classes", {
                                 "cells": cells, "classes": len(grid), "classes_read": len(present),
                                 "largest": present[0], "largest_share": grid[present[0]] / cells,
                                 "smallest": present[-1], "smallest_share": grid[present[-1]] / cells,
                                 "missing": ", ".join(missing), "extent": outcome.metrics["manifold_extent"],
                                 "outside": outcome.metrics["manifold_codes_outside"],
                                 "smallest_outside": outcome.metrics["manifold_class_codes_outside"][present[-1]]},
                             evidence=[outcome.spec.name]))
    else:
        found.append(unmeasured(f"manifold_{key}", manifold_claim, FINDINGS[f"manifold_{key}"]))
    line_claim = f"the reference run's interpolation lines that the classifier reads as a third class, {dataset}"
    if lines:   # between the ends: a line's ends are reconstructions, which may change class themselves,
        # and a misread end's class spills into the line beside it: a third class is none of the four
        through = sum(any(read not in (line["from"], line["to"], line["read"][0], line["read"][-1])
                          for read in line["read"][1:-1]) for line in lines)
        ends = sum(line["read"][0] != line["from"] or line["read"][-1] != line["to"] for line in lines)
        found.append(Finding(f"interpolation_{key}", line_claim, FINDINGS[f"interpolation_{key}"], "measured", {
            "lines": len(lines), "through_other": through, "ends_misread": ends,
            "points": len(lines[0]["read"]) - 2}, evidence=[outcome.spec.name]))
    else:
        found.append(unmeasured(f"interpolation_{key}", line_claim, FINDINGS[f"interpolation_{key}"]))
    return found
