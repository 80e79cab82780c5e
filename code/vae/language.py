"""The report's two languages: English, in which the code and the pages are written, and Brazilian
Portuguese, the language of the course and of its seed reports.

Two kinds of text follow the language:

- Numbers: English writes 1,234.56, Portuguese 1.234,56 (`localize_number`). The report's one
  formatter (`vae.report.tables.format_number`) writes English and passes through here.
- The words a figure or a table header shows (`translate`): the Portuguese of each English text is
  in `labels/pt.yml`, keyed by the English text itself, as gettext keys its catalogues by the
  source string; an entry with `{}` matches a text with a number there ("epoch {}").
  A text made only of numbers, symbols, math and names that no language translates (MNIST, KL,
  a run's name) needs no entry. Any other text without one is refused in one line naming it, so a
  figure never reaches a Portuguese page with an English word on it.

Why our own and not gettext: the figures are drawn once, in English, and their texts are
replaced on the finished figure before its Portuguese copy is saved (`vae.figures.save_png`);
the lookup is by the text found on the figure, not by calls placed around every string.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

LANGUAGES = ("en", "pt")
SOURCE_LANGUAGE = "en"
TRANSLATED = tuple(language for language in LANGUAGES if language != SOURCE_LANGUAGE)
LABELS_DIR = Path(__file__).resolve().parent / "labels"

# 1,234.56 (English grouping and decimals) and nothing around it that is a word character.
NUMBER = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.,])\d+\.\d+(?![\w])")
MATH = re.compile(r"\$[^$]*\$")
WORD = re.compile(r"[A-Za-z][A-Za-z']+")
# A run's name (mnist-mlp400-z16-b0.5, fashion-mnist-conv-z2): an identifier, the same in every language.
RUN_NAME = re.compile(r"(?:fashion-)?mnist(?:-[a-z0-9.]+)+")
# Words no language translates: names of data sets, models, bounds and units.
NAMES = frozenset({"MNIST", "Fashion", "KL", "ELBO", "IWAE", "VAE", "ConvVAE", "MLP", "MLPVAE", "PCA", "SNE",
                   "ROC", "AUC", "NCHW", "nats", "fp", "bf", "Adam", "Burda", "tanh", "ReLU", "GFLOP", "Conv"})


class TranslationError(ValueError):
    """A text with words and no translation in the language's label catalogue."""


def localize_number(text: str, language: str) -> str:
    """`text` with each number written in `language`'s convention (Portuguese: 1.234,56)."""
    if language == SOURCE_LANGUAGE:
        return text
    return NUMBER.sub(lambda m: m[0].translate(str.maketrans(",.", ".,")), text)


def localized_path(path: str | Path, language: str) -> Path:
    """Where the `language` copy of an asset goes: curves.png -> curves.pt.png (mkdocs-static-i18n's
    suffix convention: the Portuguese site shows curves.pt.png wherever a page shows curves.png)."""
    path = Path(path)
    return path if language == SOURCE_LANGUAGE else path.with_name(f"{path.stem}.{language}{path.suffix}")


@lru_cache(maxsize=None)
def labels(language: str) -> tuple[dict[str, str], tuple[tuple[re.Pattern, str], ...]]:
    """The label catalogue of `language`: exact texts, and the entries with `{}` as patterns."""
    path = LABELS_DIR / f"{language}.yml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise TranslationError(f"no label catalogue for language {language!r} ({path})") from None
    exact = {str(k): str(v) for k, v in data.items() if "{}" not in str(k)}
    patterns = tuple((re.compile("^" + re.escape(str(k)).replace(r"\{\}", "(.+?)") + "$"), str(v))
                     for k, v in data.items() if "{}" in str(k))
    return exact, patterns


def needs_words(text: str) -> bool:
    """Whether `text` has a word that a language would translate (not math, a name or a run's name)."""
    bare = RUN_NAME.sub(" ", MATH.sub(" ", text))
    return any(word not in NAMES for word in WORD.findall(bare))


def split_top_level(text: str, separator: str) -> list[str]:
    """`text` split at each `separator` outside parentheses: "cpu (x86_64, 2 threads), bf16" in two."""
    parts, depth, start, index = [], 0, 0, 0
    while index < len(text):
        depth += {"(": 1, ")": -1}.get(text[index], 0)
        if depth == 0 and text.startswith(separator, index):
            parts.append(text[start:index])
            start = index = index + len(separator)
            continue
        index += 1
    return [*parts, text[start:]]


def translate(text: str, language: str) -> str:
    """`text` (a figure's or a table header's) in `language`; TranslationError if it has no entry."""
    if language == SOURCE_LANGUAGE or not text.strip():
        return text
    exact, patterns = labels(language)
    if text in exact:
        return exact[text]
    if not needs_words(text):
        return localize_number(text, language)
    lines = text.split("\n")
    if len(lines) > 1:
        return "\n".join(translate(line, language) for line in lines)
    for pattern, target in patterns:
        match = pattern.match(text)
        if match:
            values = iter(translate(group, language) for group in match.groups())
            return re.sub(r"\{\}", lambda _: next(values), target)
    for separator in (": ", "; ", ", "):   # a title and its parts: "MLP 784-400, latent 16: decoded grid"
        parts = split_top_level(text, separator)
        if len(parts) > 1:
            return separator.join(translate(part, language) for part in parts)
    raise TranslationError(f"no {language} text for {text!r}: add it to {LABELS_DIR / (language + '.yml')}")


def building(mkdocs_config) -> str:
    """The language an MkDocs build is making: mkdocs-static-i18n builds one at a time, and says
    which; without the plugin, the source language."""
    plugin = (mkdocs_config.get("plugins") or {}).get("i18n")
    return getattr(plugin, "current_language", None) or SOURCE_LANGUAGE


def narrow(text: str, width: int = 10) -> str:
    """Each line of `text` broken after spaces or slashes into lines of at most `width` characters
    where it can: a label above a narrow column ("Camiseta/top", "→ Bota de cano curto").
    textwrap breaks only at spaces and hyphens, and a class name also breaks after its slash."""
    wrapped = []
    for line in text.split("\n"):
        current = ""
        for piece in re.split(r"(?<=[ /])", line):
            if current and len(current + piece.rstrip()) > width:
                wrapped.append(current.rstrip())
                current = piece
            else:
                current += piece
        wrapped.append(current.rstrip())
    return "\n".join(wrapped)
