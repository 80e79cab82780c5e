"""findings.json: every finding the experiments judged, as data, beside manifest.json.

Each finding is `{"claim", "verdicts", "verdict", "numbers", "spread", "call", "evidence"}`
(`verdicts.Finding`); the record also maps each role of the plan to its runs, so that a page finds
a run without typing its name (`findings.runs.reference.mnist[0]`), and says which sentence
catalogues can word it. The pages place a finding by name (`{{ say("beta_best") }}`): its
sentence comes from `report/sentences/<language>.yml`, chosen by the verdict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from ..evaluation import ACTIVE_KL_NATS
from ..plumbing import artifacts
from .comparisons import Comparison
from .quoted import quoted_record
from .tables import TABLE_FILES, Column, write_table
from .verdicts import MARGIN_SDS, Finding


def plan_map(c: Comparison) -> dict[str, dict[str, list[str]]]:
    """The runs of each role that have a result, the profile's seed first."""
    roles: dict[str, dict[str, list[str]]] = {}
    for spec in c.specs:
        if spec.name in c.outcomes:
            for role in spec.roles:
                value = "" if role.value is None else f"{role.value:g}" if isinstance(role.value, float) \
                    else str(role.value)
                roles.setdefault(role.experiment, {}).setdefault(value, []).append(spec.name)
    return roles


# What write_findings writes, relative to the assets folder.
FINDINGS_FILES = ("findings.json", "tables/quoted.json", *(f"tables/calls{suffix}" for suffix in TABLE_FILES))
CALL_COLUMNS = [Column("comparison", "comparison"), Column("difference", "difference", "nats"),
                Column("margin", "margin", "nats"), Column("clearance", "clearance", "nats"),
                Column("called", "called")]


# The call in the table's words: A against B, A − B beyond the margin either way, or within it.
CALLED = {"higher": "A higher", "lower": "A lower", "same": "within the margin"}


def call_rows(found: Sequence[Finding]) -> list[dict[str, Any]]:
    """Every call on a difference in nats, the closest first: what it compares (A against B, the
    difference being A − B), the margin it was held against and the clearance (|difference| −
    margin: how far past the line, or short of it). Calls on counts of units are left out."""
    rows = [{"finding": f.name, "comparison": f.compares, "difference": f.call["difference"],
             "margin": f.call["margin"], "clearance": f.call["clearance"],
             "called": CALLED[f.call["verdict"]]}
            for f in found if f.call and f.call.get("margin") is not None and f.call["unit"] == "nats"]
    return sorted(rows, key=lambda row: abs(row["clearance"]))


def write_findings(c: Comparison, found: Sequence[Finding], declared: Mapping[str, tuple[str, ...]]) -> list[Path]:
    """findings.json and tables/quoted.json. Every declared finding is in the record, once."""
    names = [f.name for f in found]
    missing, twice = set(declared) - set(names), {n for n in names if names.count(n) > 1}
    if missing or twice:
        raise ValueError(f"findings not judged: {sorted(missing)}; judged twice: {sorted(twice)}")
    record: dict[str, Any] = {"profile": c.profile.name, "margin_sds": MARGIN_SDS, "active_kl_nats": ACTIVE_KL_NATS,
                              "spread": "sample standard deviation over seeds (n − 1)", "runs": plan_map(c),
                              "findings": {f.name: f.record() for f in found}}
    return [artifacts.write_json(c.tables.parent / "findings.json", record),
            artifacts.write_json(c.tables / "quoted.json", quoted_record()),
            *write_table(c.tables, "calls", call_rows(found), CALL_COLUMNS)]
