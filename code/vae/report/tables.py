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

from ..language import SOURCE_LANGUAGE, TRANSLATED, localize_number, localized_path, translate
from ..plumbing import artifacts

MINUS = "\u2212"
# The files write_table writes for one table: its Markdown in each language (name.md, name.pt.md),
# its CSV and its JSON.
TABLE_FILES = (".md", *(f".{language}.md" for language in TRANSLATED), ".csv", ".json")
SIGN = re.compile(r"(?<![\w.])-(?=[\w(])")    # a minus sign, not a hyphen inside a word or number


def typographic(text: str) -> str:
    """`text` with each minus sign (-ELBO, -log p(x), -2) written as U+2212; hyphens (784-400) stay."""
    return SIGN.sub(MINUS, text)
# mean: of counts over seeds; z: a latent coordinate; minutes, milliseconds: a value in seconds,
# written in minutes or in milliseconds (SCALE)
DECIMALS = {"nats": 2, "auc": 3, "per_pixel": 4, "seconds": 1, "minutes": 1, "milliseconds": 2, "mean": 1, "z": 2}
SCALE = {"minutes": 1 / 60, "milliseconds": 1000}
# setting: β, k... as given (0.5, 2); verbatim: text as a program printed it (an error), never translated
QUANTITIES = (*DECIMALS, "count", "rate", "ratio", "percent", "setting", "text", "verbatim")
TEXT_QUANTITIES = ("text", "verbatim")     # left-aligned
# A percentage keeps its sign on its line: a no-break space, so that "76 %" never wraps at 400 px.
PERCENT = "\u00a0%"


def format_number(value: Any, quantity: str, language: str = SOURCE_LANGUAGE) -> str:
    """`value` as a page shows it: the quantity's decimals, thousands separators, U+2212 minus,
    in `language`'s convention (Portuguese: 1.234,56)."""
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r}; use one of {', '.join(QUANTITIES)}")
    if value is None or value == "":
        return "–"
    if quantity == "verbatim":      # a "|" would end the Markdown cell
        return str(value).replace("|", "\\|")
    if quantity == "text" or isinstance(value, str):
        return typographic(str(value))
    if quantity in DECIMALS:
        text = f"{float(value) * SCALE.get(quantity, 1):,.{DECIMALS[quantity]}f}"
    elif quantity == "count":
        text = f"{int(value):,}"
    elif quantity == "rate":
        text = f"{float(value):,.0f}"
    elif quantity == "ratio":
        text = f"{float(value):,.2f}×"
    elif quantity == "percent":
        text = f"{100 * float(value):,.0f}{PERCENT}"
    else:
        text = f"{float(value):g}"
    return localize_number(text.replace("-", MINUS), language)


def format_spec(value: float, spec: str, language: str = SOURCE_LANGUAGE) -> str:
    """`value` with an explicit format spec (".1f", ".0%", ",.0f"), for a page; U+2212 minus. A
    percentage is written as the formatter's own quantity writes one, with a no-break space: "96.7 %"."""
    text = f"{format(100 * value, spec[:-1] + 'f')}{PERCENT}" if spec.endswith("%") else format(value, spec)
    return localize_number(text.replace("-", MINUS), language)


@dataclass(frozen=True)
class Column:
    """One column of a table's .md: the row key it shows, its header and its quantity."""
    key: str
    header: str
    quantity: str = "text"

    def __post_init__(self):
        if self.quantity not in QUANTITIES:
            raise ValueError(f"column {self.key!r}: unknown quantity {self.quantity!r}")


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column], language: str = SOURCE_LANGUAGE) -> str:
    """A Markdown table of `rows` in `language` (its headers and words translated by
    vae.language); numbers right-aligned. Notes and captions live in the pages."""
    def cell(row: dict[str, Any], c: Column) -> str:
        text = format_number(row.get(c.key), c.quantity, language)
        return translate(text, language) if c.quantity == "text" else text
    lines = ["| " + " | ".join(translate(typographic(c.header), language) for c in columns) + " |",
             "|" + "|".join("---" if c.quantity in TEXT_QUANTITIES else "---:" for c in columns) + "|"]
    lines += ["| " + " | ".join(cell(row, c) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_markdown_tables(path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> list[Path]:
    """The table as Markdown at `path` (English) and beside it in each other language (x.pt.md)."""
    return [artifacts.write_text(localized_path(path, language), markdown_table(rows, columns, language))
            for language in (SOURCE_LANGUAGE, *TRANSLATED)]


def write_table(folder: Path, name: str, rows: list[dict[str, Any]], columns: Sequence[Column]) -> list[Path]:
    """<name>.md and <name>.pt.md (the columns a reader needs, ready to include), <name>.csv and
    <name>.json (every field)."""
    keys = list(dict.fromkeys([c.key for c in columns] + [key for row in rows for key in row]))
    return [*write_markdown_tables(folder / f"{name}.md", rows, columns),
            artifacts.write_csv(folder / f"{name}.csv", rows, keys),
            artifacts.write_json(folder / f"{name}.json",
                                 {"columns": {c.key: c.header for c in columns}, "rows": rows})]


def outputs(tables: Iterable[str] = (), figures: Iterable[str] = ()) -> tuple[str, ...]:
    """The files, relative to the assets folder, of the tables named `tables` (write_table's files
    for each, under tables/) and of the figure files `figures` with their copies in the other
    languages (under figures/: beta_sweep.png, beta_sweep.pt.png)."""
    return (*(f"tables/{name}{suffix}" for name in tables for suffix in TABLE_FILES),
            *(f"figures/{localized_path(name, language).as_posix()}" for name in figures
              for language in (SOURCE_LANGUAGE, *TRANSLATED)))
