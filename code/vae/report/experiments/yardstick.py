"""The yardstick: the sweeps' shared centre (the sweep MLP at latent 16, β = 1) trained with several
seeds. The sample standard deviation (n − 1) of each quantity over those seeds is its spread, the
ruler every other finding is judged against."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..comparisons import Comparison, mean_sd, summary_row
from ...config import TrainConfig
from ..plan import Profile, RunSpec, Sweep, describe, until_rule
from ..verdicts import MARGIN_SDS, Finding, Spread, difference_spread, unmeasured
from ..tables import outputs

ROLES = ("seeds",)
FINDINGS = {"yardstick": ("measured", "unmeasured")}
QUANTITIES = ("test_elbo", "test_recon", "test_kl", "val_elbo", "active_units")


def centre(profile: Profile, base: TrainConfig) -> TrainConfig:
    """The sweeps' shared centre: the sweep MLP at the β sweep's latent size, β = 1, until the rule."""
    return until_rule(profile, dataclasses.replace(base, arch="mlp", hidden=profile.sweep_hidden,
                                                   latent_dim=profile.sweep_latent_dim))


OUTPUTS = outputs()   # writes nothing of its own


def seeds(profile: Profile) -> tuple[int, ...]:
    """The seeds the centre is trained with: the profile's, then the next ones."""
    return tuple(profile.seed + i for i in range(profile.seeds))


def plan(profile: Profile, base: TrainConfig) -> list[RunSpec]:
    return Sweep("seeds", "seed", seeds(profile), centre(profile, base)).specs(base)


def write(c: Comparison) -> list[Path]:
    return []


def spread(c: Comparison) -> Spread:
    rows = [summary_row(o) for o in c.runs("seeds")]
    sd = {key: mean_sd([r[key] for r in rows])[1] if rows else None for key in QUANTITIES}
    return Spread(sd, len(rows))


def judge(c: Comparison, ruler: Spread) -> list[Finding]:
    outcomes = c.runs("seeds")
    claim = "the seed-to-seed spread at the sweeps' centre, the yardstick of every comparison"
    if len(outcomes) < 2:
        return [unmeasured("yardstick", claim, FINDINGS["yardstick"])]
    rows = [summary_row(o) for o in outcomes]
    numbers: dict[str, Any] = {"seeds": len(rows), "latent_dim": c.profile.sweep_latent_dim, "beta": 1.0,
                               "model": describe(outcomes[0].spec.config), "margin_sds": MARGIN_SDS}
    for key in QUANTITIES:   # the margins of two single runs, and of one run against the centre's mean
        numbers[key], numbers[f"{key}_sd"] = mean_sd([r[key] for r in rows])
        numbers[f"{key}_margin"] = MARGIN_SDS * numbers[f"{key}_sd"] * difference_spread(1, 1)
        numbers[f"{key}_margin_centre"] = MARGIN_SDS * numbers[f"{key}_sd"] * difference_spread(1, len(rows))
    return [Finding("yardstick", claim, FINDINGS["yardstick"], "measured", numbers, ruler.record(*QUANTITIES),
                    evidence=[r["run"] for r in rows])]


