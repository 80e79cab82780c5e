"""The whole report as one PDF (`make pdf`): the print page of the site built once per session,
printed by headless Chromium (code/site_pdf.py), then read back with poppler-utils.

`pdftohtml -xml` gives every piece of text with its page and font, so that code (set in a
monospace font, where `$` and `|` are Python) is told apart from prose. The test checks that
every chapter of the navigation starts a new page with its title (under its part's title when it
is the part's first chapter), in the order of the navigation; that figures and tables are numbered
through the whole document; that no raw markup reached the paper (`{{`, `{%`, `--8<--`, a line of a Markdown table,
a `$` of unrendered math); that the report a grader reads, everything before the Appendix part,
fits in BODY_PAGES pages; and that the latent explorer, which needs a pointer and a browser, is
left off the paper (the figures above it show the same model).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import yaml

from support.site import ROOT, site_pdf

# A report a grader finishes: method, results and conclusions within this many A4 pages; the
# glossary, how to reproduce it, the benchmark and the code listings follow as the appendix.
BODY_PAGES = 50

RAW_TOKENS = ("{{", "{%", "--8<--", "$")


def _config(config: Path) -> dict:
    """mkdocs.yml (tags such as !ENV are ignored)."""
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)
    return yaml.load(config.read_text(encoding="utf-8"), Loader=Loader)


def _nav(config: Path) -> list:
    return _config(config)["nav"]


def _nav_translations(config: Path, language: str) -> dict[str, str]:
    """The i18n plugin's titles of the navigation in `language` (none for English)."""
    for plugin in _config(config)["plugins"]:
        if isinstance(plugin, dict) and "i18n" in plugin:
            for edition in plugin["i18n"]["languages"]:
                if edition["locale"] == language:
                    return edition.get("nav_translations") or {}
    return {}


def _nav_parts(config: Path, language: str = "en") -> list[str]:
    """The titles of the navigation's parts (Method, Results, ...), which head their first chapter on paper."""
    translations = _nav_translations(config, language)
    return [translations.get(next(iter(item)), next(iter(item))) for item in _nav(config)
            if isinstance(item, dict) and isinstance(next(iter(item.values())), list)]


def _nav_pages(config: Path) -> list[str]:
    """The source files of mkdocs.yml's navigation, in order."""
    nav = _nav(config)

    def walk(items):
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            yield from (walk(value) if isinstance(value, list) else [value])

    return list(walk(nav))


def _appendix_pages(config: Path) -> list[str]:
    """The source files of the navigation's last part, the Appendix (code/site_hooks.py APPENDIX_PART)."""
    from site_hooks import APPENDIX_PART

    part = next(next(iter(item.values())) for item in _nav(config)
                if isinstance(item, dict) and next(iter(item)) == APPENDIX_PART)
    return [next(iter(item.values())) if isinstance(item, dict) else item for item in part]


def _built_page(site: Path, source: str) -> Path:
    stem = re.sub(r"\.(md|py)$", "", source)
    return site / "index.html" if stem == "index" else site / stem / "index.html"


def _title(page_html: str) -> str:
    """The text of the page's first <h1> (its title as a reader sees it)."""
    article = page_html[page_html.index("<article"):]
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", article, re.S)[1]
    return html.unescape(re.sub(r"<[^>]+>", "", heading)).replace("¶", "").strip()


def _squeeze(text: str) -> str:
    """`text` without spaces, its ligatures (ﬁ, which Chromium prints for "fi") written out."""
    import unicodedata
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def read_pdf(pdf: Path) -> ElementTree.Element:
    """The PDF as pdftohtml reads it: its pages, each with its lines of text and its images."""
    with tempfile.TemporaryDirectory() as scratch:    # pdftohtml writes the images it lists as files
        xml = subprocess.run(["pdftohtml", "-xml", "-q", "-stdout", str(pdf.resolve()), "page"], capture_output=True,
                             text=True, check=True, timeout=300, cwd=scratch).stdout
    return ElementTree.fromstring(xml)


def pdf_pages(root: ElementTree.Element) -> list[list[tuple[str, bool]]]:
    """Each page's lines of text, top to bottom, with whether the line is set in a monospace font."""
    monospace = {spec.get("id") for spec in root.iter("fontspec") if "mono" in spec.get("family", "").lower()}
    pages = []
    for page in root.iter("page"):
        lines = [(int(t.get("top")), int(t.get("left")), "".join(t.itertext()), t.get("font") in monospace)
                 for t in page.iter("text")]
        pages.append([(text, mono) for _, _, text, mono in sorted(lines) if text.strip()])
    return pages


def _without_part_title(start: str, parts: list[str]) -> str:
    """A page's first words without the title of a part that heads it (printed in capitals)."""
    for part in parts:
        if start.lower().startswith(_squeeze(part).lower()):
            return start[len(_squeeze(part)):]
    return start


def caption_numbers_on_paper(pages: list[list[tuple[str, bool]]]) -> list[str]:
    """'Figure n.' and 'Table n.' must count 1, 2, 3, ... through the whole document, so that a
    reader can cite one: no number twice, none skipped."""
    numbers: dict[str, list[int]] = {}
    for lines in pages:
        for text, mono in lines:
            match = None if mono else re.match(r"(Figure|Table|Figura|Tabela) (\d+)\.(?:\s|$)", text.strip())
            if match:
                numbers.setdefault(match[1], []).append(int(match[2]))
    return [f"{kind} numbers on paper {found}, expected 1 to {len(found)}"
            for kind, found in numbers.items() if found != list(range(1, len(found) + 1))]


def test_caption_numbers_that_restart_on_paper_are_reported():
    pages = [[("Figure 1. Samples", False), ("Table 1. Runs", False)],
             [("Figure 2. Curves", False), ("Figure 3.", False), ("Figure 1. = plt.figure()", True)]]
    assert caption_numbers_on_paper(pages) == []
    restarted = pages + [[("Figure 1. Samples again", False)]]
    assert caption_numbers_on_paper(restarted) == ["Figure numbers on paper [1, 2, 3, 1], expected 1 to 4"]


def page_layouts(root: ElementTree.Element) -> list[tuple[list[tuple[int, str]], list[int]]]:
    """Each page's lines of text with their height on the page, and the heights of its images."""
    layouts = []
    for page in root.iter("page"):
        lines = sorted((int(t.get("top")), "".join(t.itertext()).strip()) for t in page.iter("text"))
        layouts.append(([(top, text) for top, text in lines if text], [int(i.get("top")) for i in page.iter("image")]))
    return layouts


def captions_apart_on_paper(layouts: list[tuple[list[tuple[int, str]], list[int]]]) -> list[str]:
    """A figure's caption is printed under its figure: a caption that opens a page, with no image
    above it on that page, was parted from its figure."""
    found = []
    for number, (lines, image_tops) in enumerate(layouts, 1):
        top, first = lines[0] if lines else (0, "")
        if re.match(r"(Figure|Figura) \d+\.(?:\s|$)", first) and not any(t < top for t in image_tops):
            found.append(f"page {number}: the caption {first[:40]!r} opens the page, apart from its figure")
    return found


def test_a_figure_caption_that_opens_a_page_without_its_figure_is_reported():
    layouts = [([(100, "Some text"), (500, "Figure 1. Under its figure")], [200]),
               ([(400, "Figure 2. Under its figure, at the top of the page"), (500, "text")], [100]),
               ([(90, "Figure 3. Alone"), (200, "text")], [300]),
               ([(90, "Table 4. A table's caption comes before the table")], [])]
    assert captions_apart_on_paper(layouts) == ["page 3: the caption 'Figure 3. Alone' opens the page, apart from its figure"]


def raw_markup_on_paper(pages: list[list[tuple[str, bool]]]) -> list[str]:
    """Raw markup in the prose (code is Python and shell, where `$` and `|` are meant)."""
    found = []
    for number, lines in enumerate(pages, 1):
        for text, mono in lines:
            if mono:
                continue
            tokens = [t for t in RAW_TOKENS if t in text] + (["a line starting with '|'"] if text.lstrip().startswith("|") else [])
            if tokens:
                found.append(f"page {number}: {tokens} in {text.strip()[:80]!r}")
    return found


def test_raw_markup_on_paper_is_reported_but_code_is_not():
    pages = [[("Test -ELBO {{ metrics.json | test.elbo }}", False), ('print(f"${x}")', True)],
             [("| run | elbo |", False), ("where $x$ is", False), ("python -m vae | tee log", True)]]
    found = raw_markup_on_paper(pages)
    assert len(found) == 3 and found[0].startswith("page 1") and "'$'" in found[2], found
    assert raw_markup_on_paper([[("A formula, rendered: z = μ + σ ⊙ ε.", False)]]) == []


@pytest.fixture(scope="session", params=["en", "pt"])
def report_pdf(request, chromium, served_site, tmp_path_factory) -> tuple[str, Path]:
    """The language and report.pdf of each edition as `make pdf` prints it (code/site_pdf.py),
    from the site of this session."""
    if shutil.which("pdftohtml") is None:
        pytest.skip("pdftohtml not found (apt-get install poppler-utils); the PDF check needs it")
    pdf = tmp_path_factory.mktemp("pdf") / f"report.{request.param}.pdf"
    pdf.write_bytes(site_pdf.render_pdf(chromium, served_site, request.param))
    return request.param, pdf


@pytest.mark.browser
@pytest.mark.slow
def test_the_pdf_holds_every_chapter_on_its_own_pages_without_raw_markup(built_site, report_pdf):
    language, report_pdf = report_pdf
    built_site = built_site / site_pdf.edition(language)
    printed = read_pdf(report_pdf)
    pages = pdf_pages(printed)
    parts = _nav_parts(ROOT / "mkdocs.yml", language)
    page_starts = [_without_part_title(_squeeze("".join(text for text, _ in lines[:5])), parts) for lines in pages]
    titles = [_title(_built_page(built_site, source).read_text(encoding="utf-8"))
              for source in _nav_pages(ROOT / "mkdocs.yml")]
    assert len(titles) >= 10, titles
    problems, previous, first_page = [], 0, {}
    for source, title in zip(_nav_pages(ROOT / "mkdocs.yml"), titles):
        starts = [n for n, start in enumerate(page_starts) if start.startswith(_squeeze(title)) and n > previous]
        if not starts:
            problems.append(f"chapter {title!r} does not start a page after page {previous + 1}")
            continue
        previous = first_page[source] = starts[0]
    appendix = _appendix_pages(ROOT / "mkdocs.yml")[0]
    if first_page.get(appendix, 0) > BODY_PAGES:
        problems.append(f"the report before the Appendix takes {first_page[appendix]} pages, more than {BODY_PAGES}")
    problems += raw_markup_on_paper(pages)
    problems += caption_numbers_on_paper(pages)
    problems += captions_apart_on_paper(page_layouts(printed))

    # The explorer needs a pointer and a browser: on paper neither it nor its fallback is printed.
    latent_space = (built_site / "latent-space" / "index.html").read_text(encoding="utf-8")
    block = re.search(r'<div class="latent-explorer"[^>]*>(.*?)</div>', latent_space, re.S)[1]
    fallback = _squeeze(html.unescape(re.sub(r"<[^>]+>", "", block)))
    prose = _squeeze("".join(text for lines in pages for text, mono in lines if not mono))
    if fallback in prose:
        problems.append(f"the explorer is on paper: {fallback[:80]!r}")
    print(f"{len(pages)} pages, {first_page.get(appendix)} before the Appendix, {len(titles)} chapters; "
          f"PDF at {report_pdf}")
    assert not problems, "\n".join(problems)
