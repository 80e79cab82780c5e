"""How the report judges its results: one rule for "different", and a finding as data.

A finding is a claim, the closed set of verdicts it may reach, the verdict it reached, the
numbers behind it, the spread it was judged against and how close the call was. The pages never
compare numbers: they place a finding by name, and its sentence for the verdict comes from the
sentence catalogue (`wording`), with the finding's numbers in its placeholders.

The one rule (`differ`): a difference counts only when it exceeds `MARGIN_SDS` spreads of that
difference. For two trained results the spread comes from the seed-to-seed sample standard
deviation at the sweeps' centre (the yardstick): a difference between means of a and b runs has
that deviation times √(1/a + 1/b) (`Spread.differ`), √2 for two single runs. For the
importance-sampled likelihoods it is the standard error of the two estimates. Every call records its
clearance, |difference| − margin × spread: how far past (positive) or short of (negative) the line
the difference fell, so a reader sees how close a call was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

MARGIN_SDS = 2.0   # a difference must exceed twice its spread to be called one

# The words of the one rule, for a difference a − b: "lower", "higher", or "same" within the margin.
DIFFERENCE_VERDICTS = ("lower", "same", "higher")

# The unit of each quantity a call can be on, where it is not nats.
UNITS = {"active_units": "units"}


def differ(delta: float, sd: float | None, margin_sds: float = MARGIN_SDS, unit: str = "nats") -> dict[str, Any]:
    """The call on a difference `delta` against its spread `sd`: the verdict ("lower", "higher",
    "same"; "unmeasured" without a spread), the margin and the clearance, in `unit`."""
    if sd is None or not math.isfinite(sd):
        return {"verdict": "unmeasured", "difference": delta, "margin": None, "clearance": None, "unit": unit}
    margin = margin_sds * sd
    verdict = "same" if abs(delta) <= margin else "higher" if delta > 0 else "lower"
    return {"verdict": verdict, "difference": delta, "margin": margin, "clearance": abs(delta) - margin, "unit": unit}


class FindingError(ValueError):
    """A finding reached a verdict outside its declared set: a bug in the experiment that judged it."""


@dataclass(frozen=True)
class Finding:
    """One conclusion of the report, judged once, here in code."""
    name: str                          # how pages place it: {{ say("beta_best") }}
    claim: str                         # what is measured, in words
    verdicts: tuple[str, ...]          # the closed set of verdicts this finding can reach
    verdict: str
    numbers: dict[str, Any]            # the values its sentences may name
    spread: dict[str, Any] = field(default_factory=dict)   # what it was judged against
    call: dict[str, Any] | None = None   # the deciding difference: difference, margin, clearance
    evidence: Sequence[str] = ()       # the runs and files it comes from
    # What the call's difference is, in words: "A against B: quantity", the difference being A − B.
    compares: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in self.verdicts:
            raise FindingError(f"finding {self.name!r}: verdict {self.verdict!r} is not one of "
                               f"{', '.join(self.verdicts)}")
        if self.call is not None and self.call.get("margin") is not None and not self.compares:
            raise FindingError(f"finding {self.name!r}: its call does not say what it compares")

    def record(self) -> dict[str, Any]:
        """The finding as findings.json keeps it."""
        call = None if self.call is None else {**self.call, "compares": self.compares}
        return {"claim": self.claim, "verdicts": list(self.verdicts), "verdict": self.verdict,
                "numbers": self.numbers, "spread": self.spread, "call": call, "evidence": list(self.evidence)}


def unmeasured(name: str, claim: str, verdicts: tuple[str, ...]) -> Finding:
    """A finding whose runs are not in this plan or failed: it says so, and no sentence claims more."""
    return Finding(name, claim, (*verdicts, "unmeasured") if "unmeasured" not in verdicts else verdicts,
                   "unmeasured", {})


@dataclass(frozen=True)
class Spread:
    """The yardstick: each quantity's sample standard deviation over the seeds of the sweeps' centre."""
    sd: dict[str, float | None]
    seeds: int

    def of(self, key: str) -> float | None:
        return self.sd.get(key)

    def differ(self, delta: float, key: str, seeds: tuple[int, int] = (1, 1)) -> dict[str, Any]:
        """`differ` for a difference of two means, of `seeds` runs each, against the spread of that
        difference: the seed spread times √(1/a + 1/b), √2 for two single runs."""
        sd = self.of(key)
        return differ(delta, None if sd is None else sd * difference_spread(*seeds), unit=UNITS.get(key, "nats"))

    def record(self, *keys: str) -> dict[str, Any]:
        """What a finding says it was judged against."""
        return {"kind": f"sample standard deviation over {self.seeds} seeds (n − 1)", "margin_sds": MARGIN_SDS,
                "difference": "of two means of a and b runs: the standard deviation times √(1/a + 1/b)",
                **{f"{key}_sd": self.of(key) for key in keys}}


def difference_spread(a: int, b: int) -> float:
    """The standard deviation of a difference between a mean of `a` runs and one of `b` runs, in
    seed standard deviations (runs independent, with the same spread)."""
    return math.sqrt(1 / a + 1 / b)
