"""The Portuguese edition: every page, sentence, figure text and table header in both languages,
numbers in each language's convention, and no English sentence on a Portuguese page."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT / "code"))

from vae.language import (TRANSLATED, TranslationError, labels, localize_number,  # noqa: E402
                          localized_path, translate)
from vae.report.experiments import worded_findings  # noqa: E402
from vae.report.tables import Column, format_number, markdown_table  # noqa: E402
from vae.report.wording import PLACEHOLDER, catalogue, check_catalogue, sentence  # noqa: E402

# What a translated page must keep exactly: values, statements and included files.
KEPT = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|--8<-- \"[^\"]*\"")
HEADING = re.compile(r"^(#{1,6}) (.*?)(?:\s*\{\s*#([\w-]+)\s*\})?\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")


def source_pages() -> list[Path]:
    """The English sources: every page and notebook of docs/ without a language suffix."""
    pages = [*DOCS.glob("*.md"), *(DOCS / "notebooks").glob("*.py")]
    return sorted(p for p in pages if not any(p.name.endswith(f".{lang}{p.suffix}") for lang in TRANSLATED))


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_page_has_its_translation_and_no_translation_is_an_orphan(language):
    missing = [p.name for p in source_pages() if not localized_path(p, language).is_file()]
    orphans = [p.name for p in [*DOCS.glob(f"*.{language}.md"), *(DOCS / "notebooks").glob(f"*.{language}.py")]
               if not p.with_name(p.name.replace(f".{language}.", ".")).is_file()]
    assert (missing, orphans) == ([], [])


def kept_lines(page: Path) -> list[tuple[str, ...]]:
    return [tuple(KEPT.findall(line)) for line in page.read_text(encoding="utf-8").splitlines() if KEPT.search(line)]


@pytest.mark.parametrize("language", TRANSLATED)
def test_a_translated_page_shows_the_same_values_and_includes_in_the_same_order(language):
    """The translation changes words only: every {{ value }}, {% statement %} and included file of
    the English page, line by line, in the same order (so both editions show the same numbers)."""
    differing = [p.name for p in source_pages() if p.suffix == ".md"
                 and kept_lines(p) != kept_lines(localized_path(p, language))]
    assert differing == []


def headings(page: Path) -> list[tuple[int, str]]:
    """(level, anchor) of each heading outside code: the explicit { #id } or the slug of its text."""
    from markdown.extensions.toc import slugify
    found, fenced = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
        match = None if fenced else HEADING.match(line)
        if match:
            found.append((len(match[1]), match[3] or slugify(match[2], "-")))
    return found


@pytest.mark.parametrize("language", TRANSLATED)
def test_a_translated_heading_keeps_the_english_anchor(language):
    """Links between pages and the language switcher land on the same section in both editions."""
    differing = [p.name for p in source_pages() if p.suffix == ".md"
                 and headings(p) != headings(localized_path(p, language))]
    assert differing == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_finding_has_a_sentence_for_every_verdict_in_every_language(language):
    assert check_catalogue(worded_findings(), language) == []
    english, translated = catalogue("en"), catalogue(language)
    assert list(translated) == list(english)
    for key, sentences in english.items():
        assert list(translated[key]) == list(sentences), key
        for verdict, text in sentences.items():
            placeholders = sorted(m[0] for m in PLACEHOLDER.finditer(text))
            assert sorted(m[0] for m in PLACEHOLDER.finditer(translated[key][verdict])) == placeholders, (key, verdict)


def test_numbers_follow_the_language():
    assert format_number(1234.567, "nats", "pt") == "1.234,57"
    assert format_number(-0.5, "setting", "pt") == "\u22120,5"
    assert format_number(60000, "count", "pt") == "60.000"
    assert format_number(1234.567, "nats") == "1,234.57"
    assert localize_number("β = 0.5, 1,000 images", "pt") == "β = 0,5, 1.000 images"
    assert localize_number("mnist-mlp400-z16-b0.5", "pt") == "mnist-mlp400-z16-b0.5"   # a name, not a number


def test_a_program_s_own_message_in_a_table_is_kept_as_it_printed_it_in_every_language():
    from vae.report.tables import Column, markdown_table
    error = "InternalTorchDynamoError: NotImplementedError: x | y - 2"
    for language in ("en", "pt"):
        table = markdown_table([{"note": error}], [Column("note", "note", "verbatim")], language)
        assert table.splitlines()[-1] == "| InternalTorchDynamoError: NotImplementedError: x \\| y - 2 |"


def test_a_sentence_is_written_in_the_language_asked_for():
    record = {"verdict": "measured", "numbers": {"seeds": 5, "model": "MLP 784-400, latent 16", "margin_sds": 2,
                                                 "test_elbo_margin": 0.2441, "test_elbo_margin_centre": 0.189,
                                                 "test_elbo_sd": 0.122}}
    english, portuguese = sentence("yardstick", record, "en"), sentence("yardstick", record, "pt")
    assert "0.24 nats" in english and "0,24 nats" in portuguese
    assert "latente 16" in portuguese and "latent 16" not in portuguese


def test_figure_and_table_text_is_translated_or_refused_by_name():
    assert translate("MLP 784-400, latent 16, β = 0.5: 14 of 16 units active", "pt") == \
        "MLP 784-400, latente 16, β = 0,5: 14 de 16 unidades ativas"
    assert translate("mnist-mlp400-z16-b0.5", "pt") == "mnist-mlp400-z16-b0.5"
    assert translate("$\\mu_1$", "pt") == "$\\mu_1$"
    with pytest.raises(TranslationError, match="no pt text for 'a label nobody translated'"):
        translate("a label nobody translated", "pt")
    table = markdown_table([{"epoch": 1, "val_elbo": 150.256}], [Column("epoch", "epoch", "count"),
                                                                 Column("val_elbo", "validation −ELBO", "nats")], "pt")
    assert table.splitlines()[0] == "| época | −ELBO de validação |" and "150,26" in table


def test_every_label_entry_keeps_its_placeholders():
    for language in TRANSLATED:
        path = ROOT / "code" / "vae" / "labels" / f"{language}.yml"
        import yaml
        for english, translated in yaml.safe_load(path.read_text(encoding="utf-8")).items():
            assert str(english).count("{}") == str(translated).count("{}"), english
        assert labels(language)[0]   # the catalogue loads


def test_a_figure_is_saved_in_every_language_with_its_words_translated(tmp_path):
    from PIL import Image
    from vae import figures
    fig, ax = figures.new_figure()
    ax.plot([0.5, 1.5], [1000.5, 2000.5], label="train")
    ax.set_xlabel("epoch")
    ax.legend()
    seen = {}
    original = figures.save_figure

    def record(fig, path, **kwargs):   # the texts of each copy, as it is saved
        fig.canvas.draw()
        seen[Path(path).name] = {t.get_text() for t in fig.findobj(figures.Text) if t.get_visible()}
        return original(fig, path, **kwargs)
    figures.save_figure = record
    try:
        figures.save_png(fig, tmp_path / "curve.png")
    finally:
        figures.save_figure = original
    assert {"epoch", "train"} <= seen["curve.png"] and {"época", "treinamento"} <= seen["curve.pt.png"]
    assert any("," in text for text in seen["curve.pt.png"]) and not any("época" in t for t in seen["curve.png"])
    assert Image.open(tmp_path / "curve.pt.png").size[0] > 0


def visible_text(html: str) -> str:
    """A page's words as a reader sees them: no tags, scripts or styles; spaces collapsed."""
    from bs4 import BeautifulSoup
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "code", "pre"]):
        tag.decompose()
    return " ".join(soup.get_text(" ").split())


def test_no_english_sentence_of_a_finding_is_on_a_portuguese_page(built_site):
    """Each finding's sentence for the verdict it reached: on the English pages, never on the
    Portuguese ones (where the same finding appears in Portuguese)."""
    found = json.loads((DOCS / "assets" / "findings.json").read_text(encoding="utf-8"))["findings"]
    english = [sentence(key.split(".")[0], found[key.split(".")[0]], "en", form=key.partition(".")[2] or None)
               for key in catalogue("en") if key.split(".")[0] in found]
    editions = {"en": [built_site / "index.html", *(p for p in built_site.glob("*/index.html") if p.parent.name != "pt")],
                "pt": [built_site / "pt" / "index.html", *built_site.glob("pt/*/index.html")]}
    pages = {lang: " ".join(visible_text(p.read_text(encoding="utf-8")) for p in files) for lang, files in editions.items()}
    shown = [s for s in english if " ".join(s.split()) in pages["en"]]
    assert len(shown) > len(english) // 2          # the check can fail: the English pages show them
    assert [s for s in english if " ".join(s.split()) in pages["pt"]] == []


def test_the_language_switcher_leads_to_the_same_page_in_the_other_language(built_site):
    """Material's language selector, as mkdocs-static-i18n sets it on each page."""
    for page in ("evaluation", "notebooks/latent_space", "glossary"):
        english = (built_site / page / "index.html").read_text(encoding="utf-8")
        portuguese = (built_site / "pt" / page / "index.html").read_text(encoding="utf-8")
        depth = "../" * (page.count("/") + 1)
        assert f'href="{depth}pt/{page}/" hreflang="pt"' in english, page
        assert f'href="{depth}../{page}/" hreflang="en"' in portuguese, page
        assert '<html lang="pt"' in portuguese and '<html lang="en"' in english


@pytest.mark.browser
def test_search_finds_the_pages_of_the_reader_s_language(site_browser):
    """The search box of each edition finds that edition's pages (one index, both languages)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = site_browser.new_page(width=1400)
    found = {}
    for path, word in (("pt/evaluation/", "reconstrução"), ("evaluation/", "reconstruction")):
        # A query typed before the page's search has loaded its index can be lost, and on a busy
        # machine a page's search worker has been seen not to answer at all: the page is loaded
        # and the query typed again until results show, for 90 s at most.
        deadline = time.monotonic() + 90
        while True:
            page.goto(f"{site_browser.url}/{path}")
            page.fill("input.md-search__input", word)
            try:
                page.wait_for_selector(".md-search-result__link", timeout=10_000)
                break
            except PlaywrightTimeout:
                if time.monotonic() > deadline:
                    raise
        found[path] = page.eval_on_selector_all(".md-search-result__link", "els => els.map(e => e.getAttribute('href'))")
    # The best results are the reader's edition's (further down, the other edition's code listings
    # and glossary, which hold the English words too, may follow).
    assert len(found["pt/evaluation/"]) >= 5 and all("/pt/" in link for link in found["pt/evaluation/"][:5])
    assert len(found["evaluation/"]) >= 5 and not any("/pt/" in link for link in found["evaluation/"][:5])


def test_an_included_table_whose_path_holds_a_value_is_the_portuguese_one():
    """The hook runs before the values are filled in: a path with quotes inside its value still
    ends at its `.md"`."""
    import site_hooks
    line = '    --8<-- "docs/assets/runs/{{ findings.runs.reference["fashion-mnist"][0] }}/metrics.md"'
    assert site_hooks.localized_snippets(line, "pt") == line.replace('metrics.md"', 'metrics.pt.md"')
    assert site_hooks.localized_snippets(line, "en") == line


def test_no_english_caption_or_generated_table_on_a_portuguese_page(built_site):
    """Caption prefixes and the generated tables' headers of every Portuguese page, the print page
    included, are Portuguese."""
    english = re.compile(r'class="caption-prefix">(?:Figure|Table) |<th[^>]*>(?:split|epoch|run|model)</th>')
    found = [str(p.relative_to(built_site)) for p in (built_site / "pt").rglob("index.html")
             if english.search(p.read_text(encoding="utf-8"))]
    assert found == []
