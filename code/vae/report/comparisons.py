"""The tables and figures that compare runs: one short function each, all listed in `COMPARISONS`.

Each function reads the finished runs (`RunOutcome`s) and writes its table into tables/ and its
figures into figures/; a run that failed is simply absent from its rows. The sentences that
explain a table live in the page that includes it, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import figures
from .plan import DATASET_TITLES, REFERENCE, Profile, describe, likelihood_names, run_name
from .run import RunOutcome
from .tables import Column, write_table

# Seed report 000 (../shared/seeds/000_*.txt), the course report this project reproduces, trained
# the same ConvVAE with the same settings on the CPU; its per-epoch validation -ELBO and final test -ELBO.
SEED_000_VAL_ELBO = (166.6079, 157.6834, 154.2295, 152.5510, 151.5376,
                     149.6207, 149.2737, 149.1837, 148.2316, 148.2099)
SEED_000_TEST_ELBO = 147.870
# Burda, Grosse & Salakhutdinov (2015), "Importance Weighted Autoencoders", table 1: dynamically
# binarized MNIST, one stochastic layer of 50 units, 784-200-200-50 tanh, 3,280 passes, k = 5000.
BURDA_2015_ROWS = (("Burda et al. 2015: VAE", 86.76), ("Burda et al. 2015: IWAE, k = 5", 85.54),
                   ("Burda et al. 2015: IWAE, k = 50", 84.78))
BURDA_2015_PASSES = 3280

TEST_TERMS = [Column("test_elbo", "test -ELBO", "nats"), Column("test_recon", "reconstruction", "nats"),
              Column("test_kl", "KL", "nats")]


@dataclass
class Comparison:
    """What every comparison reads and where it writes."""
    profile: Profile
    outcomes: dict[str, RunOutcome]
    tables: Path
    figures: Path

    def present(self, names: Sequence[str]) -> list[RunOutcome]:
        return [self.outcomes[n] for n in names if n in self.outcomes]

    def rows(self, names: Sequence[str]) -> list[dict[str, Any]]:
        return [summary_row(o) for o in self.present(names)]


def summary_row(outcome: RunOutcome) -> dict[str, Any]:
    """Every field a comparison might show of one run (the CSVs keep them all)."""
    config, metrics = outcome.spec.config, outcome.metrics
    return {"run": outcome.spec.name, "model": describe(config), "dataset": config.dataset, "arch": config.arch,
            "hidden": "-".join(map(str, config.hidden)) if config.arch == "mlp" else "",
            "latent_dim": config.latent_dim, "beta": config.beta, "binarize": config.binarize,
            "objective": config.objective, "k": config.k, "epochs": config.epochs,
            "best_epoch": metrics["best_epoch"], "params": metrics["params"], "val_elbo": metrics["val"]["elbo"],
            "test_elbo": metrics["test"]["elbo"], "test_recon": metrics["test"]["recon"],
            "test_kl": metrics["test"]["kl"], "test_elbo_per_pixel": metrics["test"]["elbo_per_pixel"],
            "active_units": metrics["active_units"], "epoch_time_median_s": metrics["epoch_time_median_s"],
            "first_epoch_time_s": metrics["first_epoch_time_s"], "wall_time_s": metrics["wall_time_s"],
            "device": metrics["device_name"]}


def runs_table(c: Comparison) -> list[Path]:
    return write_table(c.tables, "runs", c.rows(list(c.outcomes)), [
        Column("run", "run"), Column("params", "params", "count"), *TEST_TERMS,
        Column("active_units", "active units", "count"), Column("epoch_time_median_s", "s per epoch", "seconds")])


def datasets_table(c: Comparison) -> list[Path]:
    names = [REFERENCE, "fashion-mnist-conv-z2"]
    rows = [{**summary_row(o), "dataset": DATASET_TITLES[o.spec.config.dataset]} for o in c.present(names)]
    panels = {DATASET_TITLES[o.spec.config.dataset]: o.final_samples for o in c.present(names)}
    curves = {DATASET_TITLES[o.spec.config.dataset]: o.history for o in c.present(names)}
    return [*write_table(c.tables, "datasets", rows, [
                Column("dataset", "dataset"), *TEST_TERMS, Column("test_elbo_per_pixel", "-ELBO per pixel", "per_pixel"),
                Column("active_units", "active units", "count")]),
            figures.plot_image_panels(panels, c.figures / "datasets.png", title="prior samples, ConvVAE, latent 2"),
            figures.plot_curve_comparison(curves, c.figures / "datasets_curves.png",
                                          title="ConvVAE, latent 2: validation −ELBO per epoch")]


def seed_reference_table(c: Comparison) -> list[Path]:
    rows: list[dict[str, Any]] = []
    if REFERENCE in c.outcomes:
        reference = c.outcomes[REFERENCE]
        rows = [{"epoch": row["epoch"], "seed_000": seed, "this_report": row["val_elbo"],
                 "difference": row["val_elbo"] - seed} for row, seed in zip(reference.history, SEED_000_VAL_ELBO)]
        rows.append({"epoch": "test, best epoch", "seed_000": SEED_000_TEST_ELBO,
                     "this_report": reference.metrics["test"]["elbo"],
                     "difference": reference.metrics["test"]["elbo"] - SEED_000_TEST_ELBO})
    return write_table(c.tables, "seed_reference", rows, [
        Column("epoch", "epoch"), Column("seed_000", "seed report 000", "nats"),
        Column("this_report", "this report", "nats"), Column("difference", "difference", "nats")])


def architectures_table(c: Comparison) -> list[Path]:
    names = [REFERENCE, "mnist-mlp400-z2", "mnist-mlp512x256-z2"]
    return [*write_table(c.tables, "architectures", c.rows(names), [
                Column("model", "model"), Column("params", "params", "count"), *TEST_TERMS,
                Column("epoch_time_median_s", "s per epoch", "seconds")]),
            figures.plot_curve_comparison({describe(o.spec.config): o.history for o in c.present(names)},
                                          c.figures / "architectures.png", title="MNIST, latent 2")]


def _sweep(c: Comparison, table: str, label: str, parameter: str, values: Sequence[float],
           names: Sequence[str]) -> list[Path]:
    present = [(v, c.outcomes[n]) for v, n in zip(values, names) if n in c.outcomes]
    rows = [{"value": v, **summary_row(o)} for v, o in present]
    terms = [{"elbo": r["test_elbo"], "recon": r["test_recon"], "kl": r["test_kl"]} for r in rows]
    return [*write_table(c.tables, table, rows, [Column("value", parameter, "setting"), *TEST_TERMS,
                                                 Column("active_units", "active units", "count")]),
            figures.plot_sweep([r["value"] for r in rows], terms, parameter, c.figures / f"{label}_sweep.png",
                               f"MNIST, MLP 784-400: test set as {parameter} grows", log_x=True),
            figures.plot_image_panels({f"{parameter} = {v:g}": o.final_samples for v, o in present},
                                      c.figures / f"{label}_samples.png", title="prior samples")]


def beta_table(c: Comparison) -> list[Path]:
    z = c.profile.sweep_latent_dim
    return _sweep(c, "beta", "beta", "β", c.profile.betas,
                  [run_name("mnist", "mlp", (400,), z, b) for b in c.profile.betas])


def latent_dim_table(c: Comparison) -> list[Path]:
    return _sweep(c, "latent_dim", "latent", "latent dimension", c.profile.latent_dims,
                  [run_name("mnist", "mlp", (400,), d) for d in c.profile.latent_dims])


def training_length_table(c: Comparison) -> list[Path]:
    lengths = {c.profile.epochs: REFERENCE, **{e: run_name("mnist", "conv", (), 2, epochs=e)
                                               for e in c.profile.long_epochs}}
    rows = [summary_row(c.outcomes[n]) for n in lengths.values() if n in c.outcomes]
    return write_table(c.tables, "training_length", rows, [
        Column("epochs", "epochs", "count"), Column("best_epoch", "best epoch", "count"), *TEST_TERMS,
        Column("wall_time_s", "train time (s)", "seconds")])


def likelihood_table(c: Comparison) -> list[Path]:
    rows = []
    for outcome in c.outcomes.values():
        if "likelihood" in outcome.metrics:
            lk = outcome.metrics["likelihood"]
            rows.append({"run": outcome.spec.name, "model": describe(outcome.spec.config),
                         "binarized": outcome.spec.config.binarize, **lk, "gap": lk["negative_elbo"] - lk["nll"]})
    return write_table(c.tables, "likelihood", rows, [
        Column("model", "model"), Column("test_images", "test images", "count"), Column("k", "k", "count"),
        Column("negative_elbo", "-ELBO", "nats"), Column("nll", "-log p(x), IWAE", "nats"),
        Column("nll_standard_error", "s.e. of -log p(x)", "nats"), Column("gap", "ELBO gap", "nats")])


def binarized_table(c: Comparison) -> list[Path]:
    names = [run_name("mnist", "mlp", (400,), c.profile.binarized_latent_dim, binarize=True), *likelihood_names()]
    rows = []
    for outcome in c.present(names):
        lk, row = outcome.metrics["likelihood"], summary_row(outcome)
        if outcome.spec.config.epochs < BURDA_2015_PASSES // 10:     # under a tenth of the paper's training
            row["model"] += " (short run)"
        rows.append({**row, "source": "this report", "nll": lk["nll"], "nll_standard_error": lk["nll_standard_error"],
                     "k_eval": lk["k"], "test_images": lk["test_images"]})
    rows += [{"source": "Burda et al. 2015", "model": model, "epochs": BURDA_2015_PASSES, "nll": nll, "k_eval": 5000,
              "test_images": 10_000} for model, nll in BURDA_2015_ROWS]
    figure = figures.plot_curve_comparison(
        {describe(o.spec.config): [{"epoch": r["epoch"], "test_elbo": r["test_elbo"]} for r in o.test_bound]
         for o in c.present(likelihood_names())}, c.figures / "likelihood_epochs.png", key="test_elbo",
        ylabel="test −ELBO (nats)", title="Binarized MNIST, MLP 784-200-200-50 tanh", log_x=True)
    return [*write_table(c.tables, "binarized", rows, [
                Column("model", "model"), Column("epochs", "epochs", "count"), Column("params", "params", "count"),
                Column("wall_time_s", "train time (s)", "seconds"), Column("device", "device"),
                Column("nll", "test -log p(x)", "nats"), Column("nll_standard_error", "s.e.", "nats")]), figure]


def anomaly_table(c: Comparison) -> list[Path]:
    rows, written = [], []
    if REFERENCE in c.outcomes and c.outcomes[REFERENCE].anomaly_scores is not None:
        outcome = c.outcomes[REFERENCE]
        in_scores, out_scores = outcome.anomaly_scores
        auc = outcome.metrics["anomaly_roc_auc"]
        rows.append({"model": REFERENCE, "in_distribution": "MNIST test", "outliers": "Fashion-MNIST test",
                     "in_images": len(in_scores), "out_images": len(out_scores),
                     "mean_in_score": in_scores.mean().item(), "mean_out_score": out_scores.mean().item(),
                     "roc_auc": auc})
        written.append(figures.plot_anomaly_histogram(in_scores, out_scores, "MNIST test (in distribution)",
                                                      "Fashion-MNIST test (outliers)", auc,
                                                      c.figures / "anomaly_hist.png"))
    return [*write_table(c.tables, "anomaly", rows, [
        Column("in_images", "MNIST images", "count"), Column("out_images", "Fashion-MNIST images", "count"),
        Column("mean_in_score", "mean -ELBO, MNIST", "nats"),
        Column("mean_out_score", "mean -ELBO, Fashion-MNIST", "nats"), Column("roc_auc", "ROC AUC", "auc")]),
        *written]


# --8<-- [start:comparisons]
COMPARISONS: tuple[Callable[[Comparison], list[Path]], ...] = (
    runs_table, datasets_table, seed_reference_table, architectures_table, beta_table, latent_dim_table,
    training_length_table, likelihood_table, binarized_table, anomaly_table)
# --8<-- [end:comparisons]


def write_comparisons(profile: Profile, outcomes: dict[str, RunOutcome], out_dir: Path) -> list[Path]:
    """Every comparison table and figure of `COMPARISONS`, written under `out_dir`."""
    c = Comparison(profile, outcomes, out_dir / "tables", out_dir / "figures")
    return [path for comparison in COMPARISONS for path in comparison(c)]
