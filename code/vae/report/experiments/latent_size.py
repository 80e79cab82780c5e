"""How many latent dimensions are enough: the sweep MLP at β = 1 with latent 2, 8, 16 and 32, each
trained until the stopping rule (the centre, latent 16, with several seeds)."""

from __future__ import annotations

from pathlib import Path

from ..comparisons import TERM_NAMES, Comparison, sweep_outputs, sweep_rows
from ...config import TrainConfig
from ..plan import Profile, RunSpec, Sweep
from ..verdicts import Finding, Spread, differ, unmeasured
from ..tables import outputs
from .yardstick import centre, seeds

ROLES = ("latent_dim",)
FINDINGS = {"latent_size": ("peaks", "saturates", "still_improving", "unmeasured"),
            "latent_units": ("all_used", "some_unused", "unmeasured")}


OUTPUTS = outputs(tables=("latent_dim",), figures=("latent_sweep.png", "latent_samples.png"))


def plan(profile: Profile, base: TrainConfig) -> list[RunSpec]:
    return Sweep("latent_dim", "latent_dim", profile.latent_dims, centre(profile, base), seeds(profile)).specs(base)


def write(c: Comparison) -> list[Path]:
    return sweep_outputs(c, "latent_dim", "latent", "latent dimension")


def judge(c: Comparison, spread: Spread) -> list[Finding]:
    rows = sweep_rows(c, "latent_dim")
    size_claim = "the smallest latent size whose test −ELBO is within the margin of the best one"
    units_claim = "whether the largest latent space of the sweep uses all its units"
    if len(rows) < 2 or spread.of("test_elbo") is None:
        return [unmeasured("latent_size", size_claim, FINDINGS["latent_size"]),
                unmeasured("latent_units", units_claim, FINDINGS["latent_units"])]
    best = min(rows, key=lambda r: r["test_elbo"])
    calls = [spread.differ(r["test_elbo"] - best["test_elbo"], "test_elbo", (r["seeds"], best["seeds"])) for r in rows]
    at = next(i for i, call in enumerate(calls) if call["verdict"] == "same")
    enough, largest = rows[at], rows[-1]
    # The deciding call: the smallest size within the margin of the best, and how close it came;
    # where that size is the best itself, the size below it, which the margin separates from it.
    deciding = at - 1 if enough is best and at > 0 else at
    call = calls[deciding]
    verdict = "peaks" if enough is best and best is not largest else \
        "saturates" if enough is not largest else "still_improving"
    steps = [{"from": a["value"], "to": b["value"], "gain": a["test_elbo"] - b["test_elbo"],
              **spread.differ(b["test_elbo"] - a["test_elbo"], "test_elbo", (b["seeds"], a["seeds"]))}
             for a, b in zip(rows, rows[1:])]
    size = Finding("latent_size", size_claim, FINDINGS["latent_size"], verdict, {
                       "enough_latent_dim": enough["value"], "enough_elbo": enough["test_elbo"],
                       "best_latent_dim": best["value"], "best_elbo": best["test_elbo"],
                       "best_below_enough": enough["test_elbo"] - best["test_elbo"],
                       "clearance": call["clearance"], "margin": call["margin"],
                       "largest_latent_dim": largest["value"], "largest_seeds": largest["seeds"], "steps": steps},
                   spread.record("test_elbo"), call, [run for r in rows for run in r["runs"]],
                   compares=f"latent {rows[deciding]['value']} against the best size, latent {best['value']}: {TERM_NAMES['test_elbo']}")
    units = Finding("latent_units", units_claim, FINDINGS["latent_units"],
                    "all_used" if largest["active_units"] >= largest["value"] else "some_unused",
                    {"latent_dim": largest["value"], "active_units": largest["active_units"],
                     "unused": largest["value"] - largest["active_units"], "seeds": largest["seeds"]},
                    evidence=largest["runs"])
    return [size, units]
