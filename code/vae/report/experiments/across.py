"""Across the experiments: the table of every run, the latent units that collapse (one threshold
for every figure, table and sentence), how the sweeps ended (the stopping rule or the cap), and
how the runs shared the machine (which their epoch times depend on)."""

from __future__ import annotations

from pathlib import Path

from ...evaluation import ACTIVE_KL_NATS
from ..comparisons import TEST_TERMS, Comparison, summary_row
from ...config import TrainConfig
from ..plan import Profile, RunSpec, describe
from ..tables import Column, outputs, write_table
from ..verdicts import Finding, Spread

ROLES = ()
FINDINGS = {"collapsed_units": ("some_collapse", "none_collapse"),
            "collapsed_near": ("some_near", "none_near"),
            "convergence": ("all_stopped", "some_capped", "all_capped", "unmeasured"),
            "machine": ("side_by_side", "alone")}
NEAR_FACTOR = 2.0   # a KL within this factor of the threshold is close to it: the count depends on the line
SWEEPS = ("latent_dim", "beta", "architecture", "free_bits", "seeds")


OUTPUTS = outputs(tables=("runs",))


def plan(profile: Profile, base: TrainConfig) -> list[RunSpec]:
    return []


def write(c: Comparison) -> list[Path]:
    return write_table(c.tables, "runs", [summary_row(o) for o in c.outcomes.values()], [
        Column("run", "run"), Column("params", "params", "count"), *TEST_TERMS,
        Column("active_units", "active units", "count"), Column("epochs_trained", "epochs", "count"),
        Column("epoch_time_median_s", "s per epoch", "seconds")])


def judge(c: Comparison, spread: Spread) -> list[Finding]:
    return [*collapsed(c), convergence(c), machine(c)]


def collapsed(c: Comparison) -> list[Finding]:
    """Units whose KL is at most the one threshold, in every run with more than two latent units."""
    runs = []
    for outcome in c.outcomes.values():
        kl = outcome.metrics.get("kl_per_dimension", [])
        if len(kl) > 2:
            runs.append({"run": outcome.spec.name, "model": describe(outcome.spec.config), "latent_dim": len(kl),
                         "active": outcome.metrics["active_units"], "epochs": outcome.metrics["epochs_trained"],
                         "collapsed": len(kl) - outcome.metrics["active_units"],
                         "largest_collapsed_kl": max((k for k in kl if k <= ACTIVE_KL_NATS), default=None),
                         "smallest_active_kl": min((k for k in kl if k > ACTIVE_KL_NATS), default=None)})
    most = max(runs, key=lambda r: r["collapsed"] / r["latent_dim"], default=None)
    near = [r for r in runs if (r["largest_collapsed_kl"] or 0) > ACTIVE_KL_NATS / NEAR_FACTOR
            or (r["smallest_active_kl"] or float("inf")) < ACTIVE_KL_NATS * NEAR_FACTOR]
    evidence = [r["run"] for r in runs]
    numbers = {"threshold_nats": ACTIVE_KL_NATS, "runs_with_units": len(runs), "runs": runs,
               "most_model": most and most["model"], "most_collapsed": most and most["collapsed"],
               "most_latent_dim": most and most["latent_dim"], "most_epochs": most and most["epochs"]}
    return [Finding("collapsed_units", f"units whose mean KL is at most {ACTIVE_KL_NATS:g} nats are collapsed "
                    "(posterior = prior)", FINDINGS["collapsed_units"],
                    "some_collapse" if most and most["collapsed"] else "none_collapse", numbers, evidence=evidence),
            Finding("collapsed_near", f"runs with a unit's KL within a factor of {NEAR_FACTOR:g} of the threshold",
                    FINDINGS["collapsed_near"], "some_near" if near else "none_near", {
                        "threshold_nats": ACTIVE_KL_NATS, "factor": NEAR_FACTOR, "near_runs": len(near),
                        "runs_with_units": len(runs), "near_models": "; ".join(dict.fromkeys(r["model"] for r in near))},
                    evidence=evidence)]


def convergence(c: Comparison) -> Finding:
    """How the sweep runs ended: stopped by the rule, or at the cap."""
    runs = {o.spec.name: o for experiment in SWEEPS for o in c.runs(experiment) if o.spec.config.stop_window > 0}
    if not runs:
        return Finding("convergence", "the sweeps", FINDINGS["convergence"], "unmeasured", {})
    capped = [name for name, o in runs.items() if o.metrics.get("hit_cap")]
    trained = [o.metrics.get("epochs_trained", o.spec.config.epochs) for o in runs.values()]
    verdict = "all_stopped" if not capped else "some_capped" if len(capped) < len(runs) else "all_capped"
    return Finding("convergence", "the sweeps trained until the stopping rule or the cap", FINDINGS["convergence"],
                   verdict, {"runs": len(runs), "capped": len(capped), "capped_runs": capped,
                             "stopped": len(runs) - len(capped), "cap": c.profile.sweep_epoch_cap,
                             "window_epochs": c.profile.stop_window, "min_gain_nats": c.profile.stop_min_gain,
                             "epochs_min": min(trained), "epochs_max": max(trained)}, evidence=list(runs))


def machine(c: Comparison) -> Finding:
    """Whether the runs trained side by side (each on one thread, so their epoch times are those of
    such a run) or one at a time."""
    device = next((o.metrics.get("device_name", "") for o in c.outcomes.values()), "")
    return Finding("machine", "how the report's runs shared the machine", FINDINGS["machine"],
                   "side_by_side" if c.workers > 1 else "alone", {"workers": c.workers, "device": device})
