"""The report's experiments, one module each. Every module declares, in this order:

- `ROLES`: the role names its runs play (`Role(experiment, value)`);
- `FINDINGS`: each finding it judges and the closed set of verdicts it may reach;
- `OUTPUTS`: every file its `write` may write (`tables.outputs`), known before any training so
  that the report refuses at once, not after hours, to replace a user's own file of that name;
- `plan(profile, base)`: its runs, as configurations that differ from the profile's `base`
  (a sweep is data: `plan.Sweep`); a run that two experiments ask for is trained once;
- `write(c)`: its tables and figures, from the runs' results;
- `judge(c, spread)`: its findings, each judged once by the one rule (`verdicts.differ`).

Adding an experiment is one module here, its name in `EXPERIMENTS`, a section of a page, and its
sentences in `report/sentences/<language>.yml`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..comparisons import Comparison
from ..findings import FINDINGS_FILES, write_findings
from ..plan import Profile, RunSpec, base_config, merge
from ..run import RunOutcome
from ..verdicts import Finding
from . import (across, anomaly, architectures, beta, datasets, free_bits, latent_reading, latent_size, likelihood,
               reference, training_length, yardstick)

# Plan order: the reference runs first, then the sweeps (the centre's first seed before its others).
EXPERIMENTS = (reference, datasets, latent_size, architectures, beta, yardstick, training_length, likelihood,
               free_bits, anomaly, latent_reading, across)


def run_specs(profile: Profile, data_dir: str | Path = "data") -> list[RunSpec]:
    """Every run of a profile, in plan order, each once with all its roles."""
    base = base_config(profile, data_dir)
    return merge([spec for experiment in EXPERIMENTS for spec in experiment.plan(profile, base)])


def declared_findings() -> dict[str, tuple[str, ...]]:
    """Every finding of the report and the verdicts it may reach."""
    return {name: verdicts for experiment in EXPERIMENTS for name, verdicts in experiment.FINDINGS.items()}


def worded_findings() -> dict[str, tuple[str, ...]]:
    """Every finding the sentence catalogues word: the report's, and the benchmark's (its own command)."""
    from . import benchmark
    return {**declared_findings(), **benchmark.FINDINGS}


def output_names() -> list[str]:
    """Every file `write_all` may write, relative to the assets folder: each experiment's OUTPUTS,
    findings.json and tables/quoted.json (findings.write_findings)."""
    return [*dict.fromkeys(name for experiment in EXPERIMENTS for name in experiment.OUTPUTS),
            *FINDINGS_FILES]


def role_names() -> frozenset[str]:
    return frozenset(role for experiment in EXPERIMENTS for role in experiment.ROLES)


def comparison(profile: Profile, outcomes: dict[str, RunOutcome], out_dir: Path,
               specs: Sequence[RunSpec] | None = None, failed: Sequence[str] = (), workers: int = 1) -> Comparison:
    """What the experiments read: `specs`, the plan the outcomes come from (default: the runs of
    the outcomes); `failed`, planned runs that failed, left out rather than reported missing."""
    specs = list(specs) if specs is not None else [o.spec for o in outcomes.values()]
    return Comparison(profile, specs, outcomes, out_dir / "tables", out_dir / "figures", frozenset(failed),
                      role_names(), workers)


def judge_all(c: Comparison) -> list[Finding]:
    """Every finding, the yardstick first: the others are judged against its spread."""
    spread = yardstick.spread(c)
    return [finding for experiment in EXPERIMENTS for finding in experiment.judge(c, spread)]


def write_all(profile: Profile, outcomes: dict[str, RunOutcome], out_dir: Path,
              specs: Sequence[RunSpec] | None = None, failed: Sequence[str] = (), workers: int = 1,
              ) -> list[Path]:
    """Every experiment's tables and figures under `out_dir`, then findings.json."""
    c = comparison(profile, outcomes, out_dir, specs, failed, workers)
    written = [path for experiment in EXPERIMENTS for path in experiment.write(c)]
    return [*written, *write_findings(c, judge_all(c), declared_findings())]

