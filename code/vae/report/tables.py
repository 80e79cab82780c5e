"""Writing one table: the report's single number formatter and the .md/.csv/.json writer.

Every column names its quantity, and the quantity alone decides how a number is written:
nats with 2 decimals, ROC AUC 3, per-pixel values 4, seconds and means of counts 1, counts and rates (images/s,
GFLOP/s) with thousands separators and no decimals, ratios with 2 decimals and ×, fractions as
whole percentages, and the typographic minus sign (U+2212) everywhere, headers included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..plumbing import artifacts

MINUS = "\u2212"
TABLE_FILES = (".md", ".csv", ".json")   # the files write_table writes for one table
SIGN = re.compile(r"(?<![\w.])-(?=[\w(])")    # a minus sign, not a hyphen inside a word or number


def typographic(text: str) -> str:
    """`text` with each minus sign (-ELBO, -log p(x), -2) written as U+2212; hyphens (784-400) stay."""
    return SIGN.sub(MINUS, text)
DECIMALS = {"nats": 2, "auc": 3, "per_pixel": 4, "seconds": 1, "mean": 1}   # mean: of counts over seeds
QUANTITIES = (*DECIMALS, "count", "rate", "ratio", "percent", "setting", "text")   # setting: β, k... as given (0.5, 2)


def format_number(value: Any, quantity: str) -> str:
    """`value` as a page shows it: the quantity's decimals, thousands separators, U+2212 minus."""
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r}; use one of {', '.join(QUANTITIES)}")
    if value is None or value == "":
        return "–"
    if quantity == "text" or isinstance(value, str):
        return typographic(str(value))
    if quantity in DECIMALS:
        text = f"{float(value):,.{DECIMALS[quantity]}f}"
    elif quantity == "count":
        text = f"{int(value):,}"
    elif quantity == "rate":
        text = f"{float(value):,.0f}"
    elif quantity == "ratio":
        text = f"{float(value):,.2f}×"
    elif quantity == "percent":
        text = f"{100 * float(value):,.0f} %"
    else:
        text = f"{float(value):g}"
    return text.replace("-", MINUS)


def format_spec(value: float, spec: str) -> str:
    """`value` with an explicit format spec (".1f", ".0%", ",.0f"), for a page; U+2212 minus."""
    return format(value, spec).replace("-", MINUS)


@dataclass(frozen=True)
class Column:
    """One column of a table's .md: the row key it shows, its header and its quantity."""
    key: str
    header: str
    quantity: str = "text"

    def __post_init__(self):
        if self.quantity not in QUANTITIES:
            raise ValueError(f"column {self.key!r}: unknown quantity {self.quantity!r}")


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> str:
    """A Markdown table of `rows`; numbers right-aligned. Notes and captions live in the pages."""
    lines = ["| " + " | ".join(typographic(c.header) for c in columns) + " |",
             "|" + "|".join("---" if c.quantity == "text" else "---:" for c in columns) + "|"]
    lines += ["| " + " | ".join(format_number(row.get(c.key), c.quantity) for c in columns) + " |"
              for row in rows]
    return "\n".join(lines) + "\n"


def write_table(folder: Path, name: str, rows: list[dict[str, Any]], columns: Sequence[Column]) -> list[Path]:
    """<name>.md (the columns a reader needs, ready to include), <name>.csv and <name>.json (every field)."""
    keys = list(dict.fromkeys([c.key for c in columns] + [key for row in rows for key in row]))
    return [artifacts.write_text(folder / f"{name}.md", markdown_table(rows, columns)),
            artifacts.write_csv(folder / f"{name}.csv", rows, keys),
            artifacts.write_json(folder / f"{name}.json",
                                 {"columns": {c.key: c.header for c in columns}, "rows": rows})]


def outputs(tables: Iterable[str] = (), figures: Iterable[str] = ()) -> tuple[str, ...]:
    """The files, relative to the assets folder, of the tables named `tables` (write_table's three
    files each, under tables/) and of the figure files `figures` (under figures/)."""
    return (*(f"tables/{name}{suffix}" for name in tables for suffix in TABLE_FILES),
            *(f"figures/{name}" for name in figures))
