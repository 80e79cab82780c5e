"""The tables and figures that compare runs: one short function each, all listed in `COMPARISONS`.

Each function asks the plan for the runs it compares by their role (`Comparison.runs`): which
experiment, which value; a planned run without a result is an error naming it (unless it failed,
which the report already reports). Runs of one value trained with several seeds are shown as
their mean and sample standard deviation. Each function writes its table into tables/ and its
figures into figures/; the sentences that explain a table live in the page that includes it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import figures
from .plan import DATASET_TITLES, EXPERIMENTS, PlanError, Profile, Role, RunSpec, describe, role_value
from .quoted import BURDA_LABELS, QUOTED
from .run import RunOutcome
from .tables import Column, write_table

TEST_TERMS = [Column("test_elbo", "test -ELBO", "nats"), Column("test_recon", "reconstruction", "nats"),
              Column("test_kl", "KL", "nats")]
SPREAD_TERMS = [Column("test_elbo", "test -ELBO", "nats"), Column("test_elbo_sd", "s.d.", "nats"),
                Column("test_recon", "reconstruction", "nats"), Column("test_recon_sd", "s.d.", "nats"),
                Column("test_kl", "KL", "nats"), Column("test_kl_sd", "s.d.", "nats")]
TRAINING_TERMS = [Column("seeds", "seeds", "count"), Column("epochs_trained", "epochs", "text")]


@dataclass
class Comparison:
    """What every comparison reads and where it writes."""
    profile: Profile
    specs: Sequence[RunSpec]
    outcomes: dict[str, RunOutcome]
    tables: Path
    figures: Path
    failed: frozenset[str] = field(default_factory=frozenset)

    def runs(self, experiment: str, value: Any = None) -> list[RunOutcome]:
        """The results of the planned runs that play the role, in plan order (the profile's seed
        first). A plan without the experiment gives none; a value nobody plays, or a planned run
        without a result that did not fail, is an error naming it."""
        if experiment not in EXPERIMENTS:
            raise PlanError(f"unknown experiment {experiment!r}; the plan has {', '.join(EXPERIMENTS)}")
        planned = [s for s in self.specs if s.plays(experiment, value)]
        if value is not None and not planned and any(s.plays(experiment) for s in self.specs):
            raise PlanError(f"no planned run plays {Role(experiment, value)}")
        missing = [s.name for s in planned if s.name not in self.outcomes and s.name not in self.failed]
        if missing:
            raise PlanError(f"the planned run {', '.join(missing)} ({Role(experiment, value)}) has no result")
        return [self.outcomes[s.name] for s in planned if s.name in self.outcomes]

    def one(self, experiment: str, value: Any = None) -> RunOutcome | None:
        """The run of the profile's seed that plays the role (None if it failed or is not planned)."""
        found = self.runs(experiment, value)
        return found[0] if found else None

    def by_value(self, experiment: str) -> dict[Any, list[RunOutcome]]:
        """Each value of the experiment (sorted) and its runs, one per seed."""
        grouped: dict[Any, list[RunOutcome]] = {}
        for outcome in self.runs(experiment):
            grouped.setdefault(role_value(outcome.spec, experiment), []).append(outcome)
        return dict(sorted(grouped.items(), key=lambda item: (str(type(item[0])), item[0])))


def mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    """The mean and the sample standard deviation (n − 1; None for a single value)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def summary_row(outcome: RunOutcome) -> dict[str, Any]:
    """Every field a comparison might show of one run (the CSVs keep them all)."""
    config, metrics = outcome.spec.config, outcome.metrics
    return {"run": outcome.spec.name, "model": describe(config), "dataset": config.dataset, "arch": config.arch,
            "hidden": "-".join(map(str, config.hidden)) if config.arch == "mlp" else "",
            "latent_dim": config.latent_dim, "beta": config.beta, "binarize": config.binarize,
            "objective": config.objective, "k": config.k, "seed": config.seed, "epochs": config.epochs,
            "epochs_trained": metrics.get("epochs_trained", config.epochs),
            "stopped_early": metrics.get("stopped_early", False), "hit_cap": metrics.get("hit_cap", False),
            "best_epoch": metrics["best_epoch"], "params": metrics["params"], "val_elbo": metrics["val"]["elbo"],
            "test_elbo": metrics["test"]["elbo"], "test_recon": metrics["test"]["recon"],
            "test_kl": metrics["test"]["kl"], "test_elbo_per_pixel": metrics["test"]["elbo_per_pixel"],
            "active_units": metrics["active_units"], "epoch_time_median_s": metrics["epoch_time_median_s"],
            "first_epoch_time_s": metrics["first_epoch_time_s"], "wall_time_s": metrics["wall_time_s"],
            "device": metrics["device_name"]}


def epochs_text(outcomes: Sequence[RunOutcome]) -> str:
    """Epochs trained, e.g. "12" or "11–15", with "cap" when a run hit the cap before the stopping rule."""
    trained = [o.metrics.get("epochs_trained", o.spec.config.epochs) for o in outcomes]
    text = f"{min(trained)}" if min(trained) == max(trained) else f"{min(trained)}–{max(trained)}"
    capped = sum(bool(o.metrics.get("hit_cap")) for o in outcomes)
    return text + (f" (cap: {capped} of {len(outcomes)})" if capped and len(outcomes) > 1 else " (cap)" if capped else "")


def seeds_row(value: Any, outcomes: Sequence[RunOutcome]) -> dict[str, Any]:
    """One value of an experiment over its seeds: the mean of each term and its sample s.d."""
    rows = [summary_row(o) for o in outcomes]
    row: dict[str, Any] = {"value": value, "seeds": len(rows), "runs": [r["run"] for r in rows],
                           "epochs_trained": epochs_text(outcomes),
                           "hit_cap": sum(bool(r["hit_cap"]) for r in rows)}
    for key in ("test_elbo", "test_recon", "test_kl", "val_elbo", "active_units", "test_elbo_per_pixel"):
        row[key], row[f"{key}_sd"] = mean_sd([r[key] for r in rows])
    return row


def runs_table(c: Comparison) -> list[Path]:
    return write_table(c.tables, "runs", [summary_row(o) for o in c.outcomes.values()], [
        Column("run", "run"), Column("params", "params", "count"), *TEST_TERMS,
        Column("active_units", "active units", "count"), Column("epochs_trained", "epochs", "count"),
        Column("epoch_time_median_s", "s per epoch", "seconds")])


def datasets_table(c: Comparison) -> list[Path]:
    present = [o for value in ("mnist", "fashion-mnist") for o in c.runs("reference", value)[:1]]
    rows = [{**summary_row(o), "dataset": DATASET_TITLES[o.spec.config.dataset]} for o in present]
    panels = {DATASET_TITLES[o.spec.config.dataset]: o.final_samples for o in present}
    curves = {DATASET_TITLES[o.spec.config.dataset]: o.history for o in present}
    return [*write_table(c.tables, "datasets", rows, [
                Column("dataset", "dataset"), *TEST_TERMS, Column("test_elbo_per_pixel", "-ELBO per pixel", "per_pixel"),
                Column("active_units", "active units", "count")]),
            figures.plot_image_panels(panels, c.figures / "datasets.png", title="prior samples, ConvVAE, latent 2"),
            figures.plot_curve_comparison(curves, c.figures / "datasets_curves.png",
                                          title="ConvVAE, latent 2: validation −ELBO per epoch")]


REFERENCE_EPOCH_COLUMNS = [
    Column("epoch", "epoch", "count"), Column("train_elbo", "train -ELBO", "nats"),
    Column("val_elbo", "val -ELBO", "nats"), Column("train_recon", "train reconstruction", "nats"),
    Column("val_recon", "val reconstruction", "nats"), Column("train_kl", "train KL", "nats"),
    Column("val_kl", "val KL", "nats"), Column("val_elbo_per_pixel", "val -ELBO per pixel", "per_pixel")]


def reference_epochs_table(c: Comparison) -> list[Path]:
    """The reference run's per-epoch table for each dataset, as seed report 000 prints it."""
    written: list[Path] = []
    for dataset in ("mnist", "fashion-mnist"):
        outcome = c.one("reference", dataset)
        written += write_table(c.tables, f"reference_epochs_{dataset}", list(outcome.history) if outcome else [],
                               REFERENCE_EPOCH_COLUMNS)
    return written


def seed_reference_table(c: Comparison) -> list[Path]:
    rows: list[dict[str, Any]] = []
    reference, seed = c.one("reference", "mnist"), QUOTED["seed_000"]
    if reference is not None:
        rows = [{"epoch": row["epoch"], "seed_000": quoted, "this_report": row["val_elbo"],
                 "difference": row["val_elbo"] - quoted} for row, quoted in zip(reference.history, seed["val_elbo"])]
        rows.append({"epoch": "test, best epoch", "seed_000": seed["test_elbo"],
                     "this_report": reference.metrics["test"]["elbo"],
                     "difference": reference.metrics["test"]["elbo"] - seed["test_elbo"]})
    return write_table(c.tables, "seed_reference", rows, [
        Column("epoch", "epoch"), Column("seed_000", "seed report 000 (quoted)", "nats"),
        Column("this_report", "this report", "nats"), Column("difference", "difference", "nats")])


def architectures_table(c: Comparison) -> list[Path]:
    present = [o for value, outcomes in c.by_value("architecture").items() for o in outcomes[:1]]
    present.sort(key=lambda o: o.spec.config.arch != "conv")
    return [*write_table(c.tables, "architectures", [summary_row(o) for o in present], [
                Column("model", "model"), Column("params", "params", "count"), *TEST_TERMS,
                Column("epochs_trained", "epochs", "count"), Column("epoch_time_median_s", "s per epoch", "seconds")]),
            figures.plot_curve_comparison({describe(o.spec.config): o.history for o in present},
                                          c.figures / "architectures.png", title="MNIST, latent 2")]


def sweep_rows(c: Comparison, experiment: str) -> list[dict[str, Any]]:
    """One row per value of a sweep: mean and s.d. over its seeds."""
    return [seeds_row(value, outcomes) for value, outcomes in c.by_value(experiment).items()]


def _sweep(c: Comparison, experiment: str, label: str, parameter: str) -> list[Path]:
    rows = sweep_rows(c, experiment)
    by_value = c.by_value(experiment)
    means = [{"elbo": r["test_elbo"], "recon": r["test_recon"], "kl": r["test_kl"]} for r in rows]
    spreads = [{"elbo": r["test_elbo_sd"], "recon": r["test_recon_sd"], "kl": r["test_kl_sd"]} for r in rows]
    model = "MLP 784-" + "-".join(map(str, c.profile.sweep_hidden))
    return [*write_table(c.tables, label if label != "latent" else "latent_dim", rows, [
                Column("value", parameter, "setting"), *SPREAD_TERMS,
                Column("active_units", "active units (mean)", "setting"),
                *TRAINING_TERMS]),
            figures.plot_sweep_spread([r["value"] for r in rows], means, spreads, parameter,
                                      c.figures / f"{label}_sweep.png",
                                      f"MNIST, {model}: test set as {parameter} grows (mean ± s.d. over seeds)",
                                      log_x=True),
            figures.plot_image_panels({f"{parameter} = {v:g}": outcomes[0].final_samples
                                       for v, outcomes in by_value.items()},
                                      c.figures / f"{label}_samples.png", title="prior samples")]


def beta_table(c: Comparison) -> list[Path]:
    return _sweep(c, "beta", "beta", "β")


def latent_dim_table(c: Comparison) -> list[Path]:
    return _sweep(c, "latent_dim", "latent", "latent dimension")


def rate_distortion_figure(c: Comparison) -> list[Path]:
    """Both sweeps on one rate–distortion plane (Alemi et al. 2018)."""
    def points(experiment: str, label: Callable[[Any], str]) -> list[dict[str, Any]]:
        return [{"label": label(r["value"]), "kl": r["test_kl"], "recon": r["test_recon"],
                 "kl_sd": r["test_kl_sd"], "recon_sd": r["test_recon_sd"]} for r in sweep_rows(c, experiment)]
    z = c.profile.sweep_latent_dim
    sweeps = {f"β sweep (latent {z})": points("beta", lambda v: f"β = {v:g}"),
              "latent-size sweep (β = 1)": points("latent_dim", lambda v: f"z = {v}")}
    model = "MLP 784-" + "-".join(map(str, c.profile.sweep_hidden))
    return [figures.plot_rate_distortion(sweeps, c.figures / "rate_distortion.png",
                                         f"MNIST, {model}: test set, mean over seeds")]


def training_length_table(c: Comparison) -> list[Path]:
    """The long run at its snapshot epochs, and the reference ConvVAE trained longer (full profile)."""
    written: list[Path] = []
    rows: list[dict[str, Any]] = []
    long_run = c.one("training_length")
    if long_run is not None:
        for epoch, snap in sorted(long_run.snapshots.items()):
            rows.append({"epochs": epoch, "test_elbo": snap["test"]["elbo"], "test_recon": snap["test"]["recon"],
                         "test_kl": snap["test"]["kl"], "val_elbo": long_run.history[epoch - 1]["val_elbo"],
                         "model": describe(long_run.spec.config)})
        snaps = dict(sorted(long_run.snapshots.items()))
        if snaps:
            first = next(iter(snaps.values()))
            written.append(figures.plot_image_panels(
                {"test images": first["originals"],
                 **{f"epoch {e}": s["reconstructions"] for e, s in snaps.items()}},
                c.figures / "length_reconstructions.png", columns=len(first["originals"]), per_row=1,
                title=f"{describe(long_run.spec.config)}: reconstructions"))
            from ..evaluation import pca_projection
            panels = {}
            for e, s in snaps.items():
                projected, _ = pca_projection(s["latent_mu"])
                panels[f"epoch {e}"] = (projected, s["labels"])
            written.append(figures.plot_latent_panels(panels, first["classes"], c.figures / "length_latent.png",
                                                      title=f"{describe(long_run.spec.config)}: test set at μ, PCA"))
    for epochs, outcomes in c.by_value("conv_length").items():
        rows.append({**summary_row(outcomes[0]), "epochs": epochs})
    written += write_table(c.tables, "training_length", rows, [
        Column("model", "model"), Column("epochs", "epochs", "count"), Column("val_elbo", "val -ELBO", "nats"),
        *TEST_TERMS])
    return written


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
    burda = QUOTED["burda_2015"]
    rows = []
    for outcome in c.runs("binarized"):
        lk, row = outcome.metrics["likelihood"], summary_row(outcome)
        if outcome.spec.config.epochs < burda["passes"] // 10:     # under a tenth of the paper's training
            row["model"] += " (short run)"
        rows.append({**row, "source": "this report", "nll": lk["nll"], "nll_standard_error": lk["nll_standard_error"],
                     "k_eval": lk["k"], "test_images": lk["test_images"]})
    rows += [{"source": "Burda et al. 2015 (quoted)", "model": f"Burda et al. 2015: {BURDA_LABELS[key]} (quoted)",
              "epochs": burda["passes"], "nll": nll, "k_eval": burda["k_eval"], "test_images": burda["test_images"]}
             for key, nll in burda["nll"].items()]
    pair = [o for value in ("elbo", "iwae") for o in c.runs("likelihood", value)[:1]]
    figure = figures.plot_curve_comparison(
        {describe(o.spec.config): [{"epoch": r["epoch"], "test_elbo": r["test_elbo"]} for r in o.test_bound]
         for o in pair}, c.figures / "likelihood_epochs.png", key="test_elbo",
        ylabel="test −ELBO (nats)", log_x=max((o.spec.config.epochs for o in pair), default=1) > 50,
        title="Binarized MNIST, MLP 784-200-200-50 tanh: the bound the VAE optimises\n"
              "(the IWAE run optimises a tighter one; compare −log p(x) in the table)")
    return [*write_table(c.tables, "binarized", rows, [
                Column("model", "model"), Column("epochs", "epochs", "count"), Column("params", "params", "count"),
                Column("wall_time_s", "train time (s)", "seconds"), Column("device", "device"),
                Column("nll", "test -log p(x)", "nats"), Column("nll_standard_error", "s.e.", "nats")]), figure]


def anomaly_table(c: Comparison) -> list[Path]:
    rows, written = [], []
    outcome = c.one("anomaly", "fashion-mnist")
    if outcome is not None and outcome.anomaly_scores is not None:
        in_scores, out_scores = outcome.anomaly_scores
        auc = outcome.metrics["anomaly_roc_auc"]
        rows.append({"model": outcome.spec.name, "in_distribution": "MNIST test", "outliers": "Fashion-MNIST test",
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


def findings_record(c: Comparison) -> list[Path]:
    """findings.json (every conclusion as data), tables/quoted.json, and the figures drawn
    from the findings (the training-length curve with its spread)."""
    from . import findings
    return findings.write_findings(c)


# --8<-- [start:comparisons]
COMPARISONS: tuple[Callable[[Comparison], list[Path]], ...] = (
    runs_table, datasets_table, reference_epochs_table, seed_reference_table, architectures_table, beta_table,
    latent_dim_table, rate_distortion_figure, training_length_table, likelihood_table, binarized_table,
    anomaly_table, findings_record)
# --8<-- [end:comparisons]


def write_comparisons(profile: Profile, outcomes: dict[str, RunOutcome], out_dir: Path,
                      specs: Sequence[RunSpec] | None = None, failed: Sequence[str] = ()) -> list[Path]:
    """Every comparison table and figure of `COMPARISONS`, written under `out_dir`. `specs`: the
    plan the outcomes come from (default: the runs of the outcomes); `failed`: planned runs that
    failed, left out of the comparisons rather than reported missing."""
    specs = list(specs) if specs is not None else [o.spec for o in outcomes.values()]
    c = Comparison(profile, specs, outcomes, out_dir / "tables", out_dir / "figures", frozenset(failed))
    return [path for comparison in COMPARISONS for path in comparison(c)]
