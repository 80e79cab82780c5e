"""What every experiment reads: the runs' results by role (`Comparison`), a run's row of numbers,
the mean and spread over seeds, and a sweep's table and figures.

An experiment asks for the runs it compares by their role (`Comparison.runs`): which experiment,
which value; a planned run without a result is an error naming it (unless it failed, which the
report already reports). Runs of one value trained with several seeds are shown as their mean and
sample standard deviation.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .. import figures
from .plan import PlanError, Profile, Role, RunSpec, describe, role_value
from .run import RunOutcome
from .tables import Column, write_table

TEST_TERMS = [Column("test_elbo", "test -ELBO", "nats"), Column("test_recon", "reconstruction", "nats"),
              Column("test_kl", "KL", "nats")]
SPREAD_TERMS = [Column("test_elbo", "test -ELBO", "nats"), Column("test_elbo_sd", "s.d.", "nats"),
                Column("test_recon", "reconstruction", "nats"), Column("test_recon_sd", "s.d.", "nats"),
                Column("test_kl", "KL", "nats"), Column("test_kl_sd", "s.d.", "nats")]
TRAINING_TERMS = [Column("seeds", "seeds", "count"), Column("epochs_trained", "epochs", "text")]
# How a claim names a quantity (a finding's claim is also its row in the calls table).
TERM_NAMES = {"test_elbo": "test −ELBO", "test_recon": "test reconstruction", "test_kl": "test KL",
              "active_units": "active units"}


@dataclass
class Comparison:
    """What every comparison reads and where it writes."""
    profile: Profile
    specs: Sequence[RunSpec]
    outcomes: dict[str, RunOutcome]
    tables: Path
    figures: Path
    failed: frozenset[str] = field(default_factory=frozenset)
    experiments: frozenset[str] = field(default_factory=frozenset)   # the plan's experiment names
    workers: int = 1            # runs trained at once: their epoch times are those of such a run

    def runs(self, experiment: str, value: Any = None) -> list[RunOutcome]:
        """The results of the planned runs that play the role, in plan order (the profile's seed
        first). A plan without the experiment gives none; a value nobody plays, or a planned run
        without a result that did not fail, is an error naming it."""
        if self.experiments and experiment not in self.experiments:
            raise PlanError(f"unknown experiment {experiment!r}; the plan has {', '.join(sorted(self.experiments))}")
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


def sweep_rows(c: Comparison, experiment: str) -> list[dict[str, Any]]:
    """One row per value of a sweep: mean and s.d. over its seeds."""
    return [seeds_row(value, outcomes) for value, outcomes in c.by_value(experiment).items()]


def sweep_outputs(c: Comparison, experiment: str, label: str, parameter: str, log_x: bool = True) -> list[Path]:
    """A sweep's table (mean and s.d. over seeds), its curves against the swept value, and prior samples."""
    rows = sweep_rows(c, experiment)
    by_value = c.by_value(experiment)
    means = [{"elbo": r["test_elbo"], "recon": r["test_recon"], "kl": r["test_kl"]} for r in rows]
    spreads = [{"elbo": r["test_elbo_sd"], "recon": r["test_recon_sd"], "kl": r["test_kl_sd"]} for r in rows]
    model = describe(by_value[rows[0]["value"]][0].spec.config).split(", ")[0] if rows else ""
    return [*write_table(c.tables, experiment, rows, [
                Column("value", parameter, "setting"), *SPREAD_TERMS,
                Column("active_units", "active units (mean)", "mean"),
                *TRAINING_TERMS]),
            figures.plot_sweep_spread([r["value"] for r in rows], means, spreads, parameter,
                                      c.figures / f"{label}_sweep.png",
                                      f"MNIST, {model}: test set as {parameter} grows "
                                      + ("(mean ± s.d. over seeds)" if any(r["seeds"] > 1 for r in rows) else "(one run each)"),
                                      log_x=log_x),
            figures.plot_image_panels({f"{parameter} = {v:g}": outcomes[0].final_samples
                                       for v, outcomes in by_value.items()},
                                      c.figures / f"{label}_samples.png", title="prior samples")]


