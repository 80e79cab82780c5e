"""Free bits (Kingma et al. 2016): each latent unit's KL counts at least λ nats in the loss, so a
unit below the floor is not pushed all the way to the prior. Seed report 002 names it as the
remedy to try for collapsed units. The sweep: the floor λ on the sweep MLP at β = 1 and the
profile's `free_bits_latent_dim` (a size of the latent-size sweep), λ = 0 being that sweep's own
run; how many of its units are active without a floor is a finding (`free_bits_units`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..comparisons import TERM_NAMES, Comparison, sweep_outputs, sweep_rows
from ...config import TrainConfig
from ..plan import Profile, RunSpec, Sweep
from ..verdicts import DIFFERENCE_VERDICTS, Finding, Spread, unmeasured
from ..tables import outputs
from .yardstick import centre

ROLES = ("free_bits",)
TERMS = {"units": "active_units", "elbo": "test_elbo", "recon": "test_recon", "kl": "test_kl"}
# A unit "on the floor": its mean KL within a quarter above λ. Below λ the loss does not push a
# unit's KL down, so units the run without a floor collapsed can rest there, counted as active.
ON_FLOOR_FACTOR = 1.25
FINDINGS = {**{f"free_bits_{term}": (*DIFFERENCE_VERDICTS, "unmeasured") for term in TERMS},
            "free_bits_smallest": (*DIFFERENCE_VERDICTS, "unmeasured"),
            "free_bits_middle": (*DIFFERENCE_VERDICTS, "unmeasured")}


OUTPUTS = outputs(tables=("free_bits",), figures=("free_bits_sweep.png", "free_bits_samples.png"))


# --8<-- [start:plan]
def plan(profile: Profile, base: TrainConfig) -> list[RunSpec]:
    collapsing = dataclasses.replace(centre(profile, base), latent_dim=profile.free_bits_latent_dim)
    return Sweep("free_bits", "free_bits", profile.free_bits, collapsing).specs(base)
# --8<-- [end:plan]


def write(c: Comparison) -> list[Path]:
    return sweep_outputs(c, "free_bits", "free_bits", "free bits λ (nats per unit)", log_x=False)


def judge(c: Comparison, spread: Spread) -> list[Finding]:
    """The largest floor against none: active units, the bound and the KL, each against its spread;
    the smallest floor's bound against none, and the largest floor between the two (where the
    bound's cost begins)."""
    rows = sweep_rows(c, "free_bits")
    by_value = {r["value"]: r for r in rows}
    none, top = by_value.get(0.0), rows[-1] if rows else None
    if none is None or top is none:
        return [unmeasured(name, "the free-bits sweep", verdicts) for name, verdicts in FINDINGS.items()]
    smallest = rows[1]   # the smallest floor: does the floor cost anything where it starts?

    def units_on_floor(floor: float) -> float:
        """The mean over the floor's seeds of its units with a KL under ON_FLOOR_FACTOR × the floor."""
        counts = [sum(kl < ON_FLOOR_FACTOR * floor for kl in o.metrics["kl_per_dimension"])
                  for o in c.by_value("free_bits")[floor]]
        return sum(counts) / len(counts)
    def bound_against_none(name: str, floor: dict) -> Finding:
        call = spread.differ(floor["test_elbo"] - none["test_elbo"], "test_elbo", (floor["seeds"], none["seeds"]))
        claim = f"free bits λ = {floor['value']:g} against none: {TERM_NAMES['test_elbo']}"
        return Finding(name, claim, FINDINGS[name], call["verdict"], {
                           "floor": floor["value"], "without": none["test_elbo"], "with_floor": floor["test_elbo"],
                           "difference": floor["test_elbo"] - none["test_elbo"], "margin": call["margin"],
                           "units_without": none["active_units"], "units_with_floor": floor["active_units"],
                           "units_on_floor": units_on_floor(floor["value"]), "on_floor_factor": ON_FLOOR_FACTOR,
                           "latent_dim": c.profile.free_bits_latent_dim},
                       spread.record("test_elbo"), call, [*none["runs"], *floor["runs"]], compares=claim)
    middle = rows[2:-1]
    found = [bound_against_none("free_bits_smallest", smallest),
             bound_against_none("free_bits_middle", middle[-1]) if middle else
             unmeasured("free_bits_middle", "a floor between the smallest and the largest", FINDINGS["free_bits_middle"])]
    for term, key in TERMS.items():
        call = spread.differ(top[key] - none[key], key, (top["seeds"], none["seeds"]))
        claim = f"free bits λ = {top['value']:g} against none: {TERM_NAMES[key]}"
        found.append(Finding(f"free_bits_{term}", claim,
                             FINDINGS[f"free_bits_{term}"], call["verdict"], {
                                 "floor": top["value"], "without": none[key], "with_floor": top[key],
                                 "difference": top[key] - none[key], "margin": call["margin"],
                                 "latent_dim": c.profile.free_bits_latent_dim,
                                 "floors": len(rows) - 1, "smallest_floor": rows[1]["value"],
                                 **({"units_on_floor": units_on_floor(top["value"]), "on_floor_factor": ON_FLOOR_FACTOR}
                                    if term == "units" else {})},
                             spread.record(key), call, [run for r in rows for run in r["runs"]], compares=claim))
    return found
