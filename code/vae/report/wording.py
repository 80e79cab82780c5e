"""The sentences of the findings, kept as data: one catalogue per language, `sentences/<lang>.yml`.

Each entry is a finding's name (or `name.form`, for a second sentence of the same finding, such
as a summary line) mapping each verdict the finding declares to one sentence. A sentence names
the finding's numbers in placeholders, `{best_elbo:nats}`: a path into the finding's numbers
(`largest_beta.kl_saved`, `mnist.knn_accuracy`), or into its call (`call.margin`) or spread
(`spread.test_elbo_sd`), and a quantity of the report's one formatter (`vae.report.tables`:
nats, auc, per_pixel, seconds, minutes (of a value in seconds), z (a latent coordinate), count, percent, setting, text;
`abs_nats` writes |x| in nats).

Why a catalogue of plain sentences and not Jinja: a placeholder can only print a number, never
compare one, so the words can follow no rule but the verdict that the code computed; a translator
edits text and nothing else; and completeness is checked mechanically (`check_catalogue`): every
declared verdict has its sentence, every placeholder names a number of its finding.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..language import localize_number, translate
from .tables import PERCENT, QUANTITIES, format_number

SENTENCES_DIR = Path(__file__).resolve().parent / "sentences"
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_.\-]*)(?::([a-z_0-9]+))?\}")
# |x| in nats or as given; a percentage with one decimal
EXTRA_QUANTITIES = ("abs_nats", "abs_setting", "percent1")


class WordingError(ValueError):
    """A sentence that cannot be written: no sentence for a verdict, or a placeholder with no number."""


@lru_cache(maxsize=None)
def catalogue(language: str = "en") -> dict[str, dict[str, str]]:
    """The sentences of one language: {finding[.form]: {verdict: sentence}}."""
    path = SENTENCES_DIR / f"{language}.yml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WordingError(f"no sentence catalogue for language {language!r} ({path})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise WordingError(f"{path}: expected finding names, each mapping verdicts to sentences")
    return {str(key): {str(v): " ".join(str(s).split()) for v, s in entries.items()} for key, entries in data.items()}


def lookup(record: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of a finding: numbers by default, `call.` and `spread.` explicitly."""
    parts = path.split(".")
    if parts[0] in ("call", "spread"):
        value: Any = record.get(parts[0]) or {}
        parts = parts[1:]
    else:
        value = record.get("numbers", {})
    for part in parts:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            raise WordingError(f"no number {path!r} in this finding")
    return value


def write_value(value: Any, quantity: str | None, language: str = "en") -> str:
    """One placeholder's text, by the report's one formatter, in `language`'s convention."""
    if value is None:
        raise WordingError("a placeholder names a value that is null in this build")
    if isinstance(value, (dict, list)):
        raise WordingError("a placeholder names a record, not a number or a word")
    if quantity in ("abs_nats", "abs_setting"):
        return format_number(abs(value), quantity[4:], language)
    if quantity == "percent1":
        return localize_number(f"{100 * float(value):.1f}{PERCENT}".replace("-", "\u2212"), language)
    if quantity is None:
        quantity = "text" if isinstance(value, str) else "count" if isinstance(value, int) else "setting"
    if quantity == "text":   # a name from the data (a class, a model): in the sentence's language
        return translate(format_number(value, quantity), language)
    return format_number(value, quantity, language)


def sentence(name: str, record: Mapping[str, Any], language: str = "en", form: str | None = None) -> str:
    """The sentence of finding `name` for the verdict it reached, its placeholders filled."""
    key = f"{name}.{form}" if form else name
    entries = catalogue(language).get(key)
    if entries is None:
        raise WordingError(f"the {language} catalogue has no sentences for {key!r}")
    verdict = record["verdict"]
    if verdict not in entries:
        raise WordingError(f"the {language} catalogue has no sentence for {key!r} when the verdict is {verdict!r}")

    def fill(match: re.Match) -> str:
        try:
            return write_value(lookup(record, match[1]), match[2], language)
        except WordingError as err:
            raise WordingError(f"{key} ({verdict}), {{{match[1]}}}: {err}") from None
    return PLACEHOLDER.sub(fill, entries[verdict])


def check_catalogue(declared: Mapping[str, tuple[str, ...]], language: str = "en") -> list[str]:
    """What is wrong with a catalogue against the declared findings and verdicts: a finding or a
    verdict without a sentence, a sentence for no finding or verdict, an unknown quantity."""
    problems = []
    entries = catalogue(language)
    for key, sentences in entries.items():
        name = key.split(".")[0]
        if name not in declared:
            problems.append(f"{language}: sentences for {key!r}, which no experiment declares")
            continue
        for verdict in declared[name]:
            if verdict not in sentences:
                problems.append(f"{language}: {key!r} has no sentence for the verdict {verdict!r}")
        for verdict, text in sentences.items():
            if verdict not in declared[name]:
                problems.append(f"{language}: {key!r} has a sentence for {verdict!r}, not a verdict it declares")
            for match in PLACEHOLDER.finditer(text):
                if match[2] and match[2] not in (*QUANTITIES, *EXTRA_QUANTITIES):
                    problems.append(f"{language}: {key} ({verdict}): unknown quantity {match[2]!r}")
            if "{" in PLACEHOLDER.sub("", text) or "}" in PLACEHOLDER.sub("", text):
                problems.append(f"{language}: {key} ({verdict}): a brace that is no placeholder")
    for name in declared:
        if name not in {key.split(".")[0] for key in entries}:
            problems.append(f"{language}: no sentences for the finding {name!r}")
    return problems
