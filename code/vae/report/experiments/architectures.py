"""Architectures at latent 2 on MNIST: the reference ConvVAE against two fully connected VAEs, the
sweep MLP and a wider MLP 784-512-256 (single runs, judged against the borrowed spread)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ... import figures
from ..comparisons import TERM_NAMES, TEST_TERMS, Comparison, summary_row
from ...config import TrainConfig
from ..plan import Profile, Role, RunSpec, describe, spec, until_rule
from ..tables import Column, outputs, write_table
from ..verdicts import Finding, Spread, unmeasured
from . import reference

ROLES = ("architecture",)
FINDINGS = {"architectures": ("mlp_best", "conv_best", "within_spread", "unmeasured"),
            "architectures_matched": ("mlp_best", "conv_best", "within_spread", "unmeasured")}
WIDE_MLP = (512, 256)


def label(config: TrainConfig) -> str:
    """A role value derived from the configuration: "conv", "mlp400", "mlp512x256"."""
    return "conv" if config.arch == "conv" else "mlp" + "x".join(map(str, config.hidden))


OUTPUTS = outputs(tables=("architectures",), figures=("architectures.png",))


def plan(profile: Profile, base: TrainConfig) -> list[RunSpec]:
    mlps = [until_rule(profile, dataclasses.replace(base, arch="mlp", hidden=hidden, latent_dim=2))
            for hidden in (profile.sweep_hidden, WIDE_MLP)]
    return [spec(config, base, Role("architecture", label(config)))
            for config in (reference.config(base, "mnist"), *mlps)]


def present(c: Comparison) -> list:
    """One run per architecture, the ConvVAE first."""
    runs = [outcomes[0] for outcomes in c.by_value("architecture").values()]
    return sorted(runs, key=lambda o: o.spec.config.arch != "conv")


def write(c: Comparison) -> list[Path]:
    runs = present(c)
    return [*write_table(c.tables, "architectures", [summary_row(o) for o in runs], [
                Column("model", "model"), Column("params", "params", "count"), *TEST_TERMS,
                Column("epochs_trained", "epochs", "count"), Column("epoch_time_median_s", "s per epoch", "seconds")]),
            figures.plot_curve_comparison({describe(o.spec.config): o.history for o in runs},
                                          c.figures / "architectures.png", title="MNIST, latent 2")]


def judge(c: Comparison, spread: Spread) -> list[Finding]:
    return [as_trained(c, spread), at_matched_epoch(c, spread)]


def ranking(call: dict, best: dict) -> str:
    """The verdict on a ranking: no architecture best unless the runner-up is behind beyond the margin."""
    return "within_spread" if call["verdict"] != "higher" else "conv_best" if best["arch"] == "conv" else "mlp_best"


def at_matched_epoch(c: Comparison, spread: Spread) -> Finding:
    """The architectures' validation −ELBO at the last epoch all of them trained: each trains for
    its own epochs (the MLPs until the stopping rule, the ConvVAE the seed report's), so the test
    −ELBO ranks them as trained, and this one at equal training. They share the seed, so they are
    validated on the same images; the margin is the seeds' spread of the validation −ELBO, whose
    splits differ, so it is if anything too wide."""
    claim = "the architecture with the lowest validation −ELBO at latent 2 at the last epoch all of them trained"
    runs = present(c)
    if len(runs) < 2:
        return unmeasured("architectures_matched", claim, FINDINGS["architectures_matched"])
    epoch = min(len(o.history) for o in runs)
    rows = sorted(({"model": describe(o.spec.config), "arch": o.spec.config.arch,
                    "val_elbo": o.history[epoch - 1]["val_elbo"], "epochs_trained": len(o.history)} for o in runs),
                  key=lambda r: r["val_elbo"])
    best, runner_up, last = rows[0], rows[1], rows[-1]
    call = spread.differ(runner_up["val_elbo"] - best["val_elbo"], "val_elbo")
    return Finding("architectures_matched", claim, FINDINGS["architectures_matched"], ranking(call, best), {
        "epoch": epoch, "best_model": best["model"], "best_val": best["val_elbo"],
        "runner_up_model": runner_up["model"], "runner_up_behind": runner_up["val_elbo"] - best["val_elbo"],
        "last_model": last["model"], "last_behind": last["val_elbo"] - best["val_elbo"],
        "margin": call["margin"], "clearance": call["clearance"]},
        {**spread.record("val_elbo"), "borrowed": True}, call, [o.spec.name for o in runs],
        compares=f"{runner_up['model'].split(', latent')[0]} against the best model, {best['model'].split(', latent')[0]}, "
                 f"at epoch {epoch} and latent 2: validation −ELBO")


def as_trained(c: Comparison, spread: Spread) -> Finding:
    claim = "the architecture with the lowest test −ELBO at latent 2, and how far behind the others are"
    rows = sorted((summary_row(o) for o in present(c)), key=lambda r: r["test_elbo"])
    if len(rows) < 2:
        return unmeasured("architectures", claim, FINDINGS["architectures"])
    best, runner_up, last = rows[0], rows[1], rows[-1]
    call = spread.differ(runner_up["test_elbo"] - best["test_elbo"], "test_elbo")
    conv = next((r for r in rows if r["arch"] == "conv"), best)
    widest = max(rows, key=lambda r: r["params"])
    models = {label(o.spec.config): {"model": r["model"], "test_elbo": r["test_elbo"], "recon": r["test_recon"],
                                     "kl": r["test_kl"], "params": r["params"], "epochs_trained": r["epochs_trained"],
                                     "params_to_conv": r["params"] / conv["params"]}
              for o in present(c) for r in [summary_row(o)]}
    return Finding("architectures", claim, FINDINGS["architectures"], ranking(call, best), {
        "best_model": best["model"], "best_elbo": best["test_elbo"], "best_epochs": best["epochs_trained"],
        "runner_up_model": runner_up["model"], "runner_up_behind": runner_up["test_elbo"] - best["test_elbo"],
        "runner_up_epochs": runner_up["epochs_trained"],
        "last_model": last["model"], "last_behind": last["test_elbo"] - best["test_elbo"],
        "last_epochs": last["epochs_trained"], "margin": call["margin"], "clearance": call["clearance"],
        "widest_model": widest["model"], "widest_params": widest["params"], "conv_params": conv["params"],
        "params_ratio": widest["params"] / conv["params"], "models": models},
        {**spread.record("test_elbo"), "borrowed": True}, call, [r["run"] for r in rows],
        compares=f"{runner_up['model'].split(', latent')[0]} against the best model, {best['model'].split(', latent')[0]}, "
                 f"at latent 2: {TERM_NAMES['test_elbo']}")
