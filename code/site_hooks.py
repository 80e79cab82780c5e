"""MkDocs hooks of the report site (mkdocs.yml: `hooks: [code/site_hooks.py]`).

Values, words and generated blocks in the pages are Jinja, rendered by mkdocs-macros with
code/site_macros.py. The hooks do what is not templating:

1. No stale notebook outputs. mkdocs-jupyter caches an executed notebook under a key computed
   from the notebook's bytes (and a few options) only: after a retraining the notebook's bytes
   are the same, so the cache would serve outputs of the earlier models. The cache is forced off
   here and any cache file left by an earlier build is deleted.
2. The macros module of this repository. mkdocs-macros looks for `module_name` relative to the
   configuration file; a configuration that INHERITs mkdocs.yml from another folder would not
   find code/site_macros.py, so the path is taken relative to this repository here, before the
   plugin loads the module.
3. Consistent assets. Before anything is built, `vae.plumbing.consistency.check_assets` compares
   manifest.json, runs/ and tables/ and stops the build if they come from different reports.
4. Nothing from third parties. nbconvert's notebook template adds <script> tags for MathJax and
   Mermaid from public CDNs; the site renders math with its own KaTeX, so those tags are removed,
   as is any script, stylesheet or iframe from another host.
5. Figure and table numbers without gaps. pymdownx numbers captions in document order, so the
   figures of a hidden tab use up numbers. Here the tabs of one tab set share their numbers: each
   tab starts where the set starts, and the set uses up as many numbers as its longest tab.
6. Downloads. Every notebook of docs/notebooks/ is also saved as .ipynb, with the outputs its
   page shows (code/site_notebooks.py), next to its page's copied .py source, and the notebook
   page links both.
7. One report per build. A report that lands in docs/assets while the site is built would pull
   files from under the build (a FileNotFoundError) or mix two reports. The build holds the assets
   folder's lock (vae/report/transaction.py `lock_assets`, the one a landing takes) from
   on_pre_build to on_post_build, or on_build_error when it fails; a landing waits for it, and a
   build that finds a landing under way waits for the landing.
8. Results before engineering on paper. The chapters fold their code listings away (`??? example`,
   or a folded block with the class `appendix`); the print page does not print them in place
   (docs/stylesheets/print.css) but in the appendix page of code listings, which is made here
   from the chapters' own blocks, so no listing is written twice.
9. Figure numbers a reader can cite. On the web every page numbers its own figures; in the print
   page, which holds every page, figures and tables are numbered through the whole document.
10. Figures readable on a phone. An image whose text size manifest.json gives keeps the width at
   which that text is MIN_FIGURE_TEXT_PX tall (`--readable-width`, used by extra.css), and its
   figure scrolls sideways in its own box on a narrower screen instead of shrinking the text.
11. The theme in the page's language. What the Markdown extensions and mkdocs-jupyter write in
   English on every page (a heading's permalink title, a notebook's copy buttons) is replaced by
   the edition's words (code/site_editions.py); an English page is left as it is.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import struct
import shutil
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

CODE_DIR = str(Path(__file__).resolve().parent)
if CODE_DIR not in sys.path:
    sys.path.insert(0, CODE_DIR)

from vae.language import SOURCE_LANGUAGE, building, localized_path  # noqa: E402
from site_notebooks import download_notebook, forget_executed_notebooks, keep_executed_notebooks  # noqa: E402
from site_editions import (CAPTION_PREFIX, NOTEBOOK_DOWNLOADS, PAGE_FOOTER, PRINT_CONTENTS,  # noqa: E402
                           PRINT_TITLES, localized_snippets, translated_captions, translated_theme_words)

log = logging.getLogger("mkdocs.hooks.site")

REMOTE_TAG = re.compile(
    r"<script\b[^>]*\bsrc=[\"']?(?:https?:)?//[^>]*>\s*</script>"
    r"|<link\b[^>]*\bhref=[\"']?(?:https?:)?//[^>]*\brel=[\"']?stylesheet[^>]*>"
    r"|<link\b[^>]*\brel=[\"']?stylesheet[\"']?[^>]*\bhref=[\"']?(?:https?:)?//[^>]*>"
    r"|<script\b[^>]*>[^<]*\bimport\s+\w+\s+from\s+[\"'](?:https?:)?//[^<]*</script>"
    r"|<iframe\b[^>]*\bsrc=[\"']?(?:https?:)?//[^>]*>(?:(?:(?!<iframe\b).)*?</iframe\s*>)?",
    re.IGNORECASE | re.DOTALL,
)
JUPYTER_PLUGIN = "mkdocs-jupyter"
MACROS_PLUGIN = "macros"
REPOSITORY = Path(__file__).resolve().parents[1]
_assets_lock: int | None = None   # the descriptor holding the assets folder's lock during a build

APPENDIX_PART = "Appendix"               # mkdocs.yml: the nav section after the report itself
LISTINGS_PAGE = "appendix-code.md"       # the appendix page that prints the chapters' listings
# A folded block at the start of a line: `??? example "Title"`, `??? note appendix "Title"`.
FOLDED_BLOCK = re.compile(r'\?{3} (?P<classes>[\w-]+(?: [\w-]+)*) "(?P<title>[^"]*)"[ \t]*')
TO_APPENDIX = {"example", "appendix"}    # a code listing, or a block marked for the appendix
PRINT_PAGE = "print_page/index.html"     # mkdocs.yml: plugins.print-site (its default basename)
MIN_FIGURE_TEXT_PX = 10                  # the smallest figure text the browser test accepts
IMG_TAG = re.compile(r"<img\b[^>]*>")


def renumber_captions(html: str) -> str:
    """Renumber "Figure n." / "Table n." so that the tabs of a tab set share their numbers."""
    if "caption-prefix" not in html:
        return html
    from bs4 import BeautifulSoup, Tag

    numbers: list[str] = []
    counters: dict[str, int] = {}

    def walk(node: Tag, start: dict[str, int]) -> dict[str, int]:
        current = dict(start)
        for child in node.children:
            if not isinstance(child, Tag):
                continue
            classes = child.get("class") or []
            if child.name == "span" and "caption-prefix" in classes:
                text = child.get_text()
                kind = text.split(" ", 1)[0]
                current[kind] = current.get(kind, 1)
                numbers.append(re.sub(r"\d+(?:\.\d+)*", str(current[kind]), text, count=1))
                current[kind] += 1
            elif "tabbed-set" in classes:
                content = child.find("div", class_="tabbed-content", recursive=False)
                blocks = content.find_all("div", class_="tabbed-block", recursive=False) if content else []
                ends = [walk(block, current) for block in blocks] or [current]
                current = {k: max(end.get(k, current.get(k, 1)) for end in ends)
                           for k in set(current).union(*ends)}
            else:
                current = walk(child, current)
        return current

    walk(BeautifulSoup(html, "html.parser"), counters)
    replacements = iter(numbers)
    # The parser and the pattern see the prefixes in the same (document) order.
    return CAPTION_PREFIX.sub(lambda m: m[1] + next(replacements, m["text"]) + m[3], html)


def folded_listings(markdown: str) -> list[tuple[str, str]]:
    """The (title, content) of each folded block of a page that belongs in the appendix, in page order.

    The content is the block's indented lines, unindented once, so that tabs, code and snippet
    lines inside it keep their own structure.
    """
    lines = markdown.splitlines()
    listings, index = [], 0
    while index < len(lines):
        match = FOLDED_BLOCK.fullmatch(lines[index])
        index += 1
        if not match or not TO_APPENDIX & set(match["classes"].split()):
            continue
        body = []
        while index < len(lines) and (not lines[index].strip() or lines[index].startswith("    ")):
            body.append(lines[index][4:])
            index += 1
        listings.append((match["title"], "\n".join(body).strip("\n")))
    return listings


def body_chapters(nav: list) -> list[tuple[str, str]]:
    """(title, source) of every Markdown page of the navigation outside the appendix, in order."""
    chapters = []
    for item in nav:
        title, value = next(iter(item.items())) if isinstance(item, dict) else (None, item)
        if isinstance(value, list):
            if title != APPENDIX_PART:
                chapters += body_chapters(value)
        elif isinstance(value, str) and value.endswith(".md"):
            chapters.append((title or value, value))
    return chapters


def listings_markdown(docs_dir: Path, nav: list, language: str = SOURCE_LANGUAGE,
                      titles: dict[str, str] | None = None) -> str:
    """The chapters' folded listings, one section per chapter, one subsection per listing, from the
    chapters of `language` (their X.pt.md) under their titles in that language (`titles`)."""
    sections = []
    for title, source in body_chapters(nav):
        listings = folded_listings((docs_dir / localized_path(source, language)).read_text(encoding="utf-8"))
        if listings:
            sections.append(f"## {(titles or {}).get(title, title)}\n")
            sections += [f"### {name}\n\n{content}\n" for name, content in listings]
    return "\n".join(sections)


# The blocks that docs/stylesheets/print.css does not print: folded listings and appendix notes
# (printed once, in the appendix of code listings) and what only the web site needs.
HIDDEN_DETAILS = re.compile(r'<details class="[^"]*\b(?:example|appendix)\b[^"]*"[^>]*>.*?</details>', re.S)
WEB_ONLY = re.compile(r'<div class="web-only">')
DIV_TAG = re.compile(r"<(/?)div\b")


def unprinted_spans(html: str) -> list[tuple[int, int]]:
    """Where the blocks that paper does not show start and end in `html` (details do not nest here;
    a web-only div is closed by the div that balances it)."""
    spans = [(m.start(), m.end()) for m in HIDDEN_DETAILS.finditer(html)]
    for opening in WEB_ONLY.finditer(html):
        depth = 0
        for tag in DIV_TAG.finditer(html, opening.start()):
            depth += -1 if tag[1] else 1
            if depth == 0:
                spans.append((opening.start(), tag.end()))
                break
    return spans


def number_through_document(html: str) -> str:
    """Figure and table numbers counted through the whole document (the print page), per kind,
    over what is printed: a caption in a block that paper does not show takes no number."""
    counters: dict[str, int] = {}
    hidden = unprinted_spans(html)

    def renumber(match: re.Match) -> str:
        if any(start <= match.start() < end for start, end in hidden):
            return match[0]
        kind = match["text"].split(" ", 1)[0]
        counters[kind] = counters.get(kind, 0) + 1
        return match[1] + re.sub(r"\d+(?:\.\d+)*", str(counters[kind]), match["text"], count=1) + match[3]

    return CAPTION_PREFIX.sub(renumber, html)


def png_width(path: Path) -> int | None:
    """The width of a PNG from its header, or None for anything else."""
    try:
        with path.open("rb") as file:
            header = file.read(24)
    except OSError:
        return None
    if len(header) < 24 or header[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">I", header[16:20])[0]


def readable_widths(html: str, assets: Path, text_px: dict[str, float], language: str = SOURCE_LANGUAGE) -> str:
    """Give each image listed in `text_px` (manifest.json's figure_text_px) its readable width:
    from the width of the copy the page shows (curves.pt.png on a Portuguese page, whose longer
    words can make it wider), at the text size the figure was drawn with."""
    def mark(match: re.Match) -> str:
        tag = match[0]
        source = re.search(r'\bsrc="([^"]*assets/([^"]+))"', tag)
        if not source or source[2] not in text_px or "style=" in tag:
            return tag
        shown = localized_path(assets / source[2], language)
        width = png_width(shown if shown.is_file() else assets / source[2])
        if not width:
            return tag
        readable = math.ceil(width * MIN_FIGURE_TEXT_PX / text_px[source[2]])
        return re.sub(r"\s*/?>$", f' style="--readable-width: {readable}px">', tag)

    return IMG_TAG.sub(mark, html) if "<img" in html else html


@event_priority(100)   # before the plugins' own on_config: mkdocs-macros loads its module there
def on_config(config, **kwargs):
    print_site = config["plugins"].get("print-site")
    if print_site is not None:   # the i18n plugin builds each language with this same configuration
        print_site.config["print_page_title"] = PRINT_TITLES[building(config)]
        print_site.config["toc_title"] = PRINT_CONTENTS[building(config)]
        cover = print_site.config.get("cover_page_template")
        if cover and not Path(cover).is_absolute():   # relative to this repository, as the hooks
            print_site.config["cover_page_template"] = str(REPOSITORY / cover)
    macros = config["plugins"].get(MACROS_PLUGIN)
    if macros is not None and not Path(macros.config["module_name"]).is_absolute():
        macros.config["module_name"] = str(REPOSITORY / macros.config["module_name"])
    plugin = config["plugins"].get(JUPYTER_PLUGIN)
    if plugin is not None:
        keep_executed_notebooks()
        if plugin.config.get("cache"):
            log.info("mkdocs-jupyter cache forced off: it is keyed by notebook bytes only")
        plugin.config["cache"] = False
        cache_dir = Path(plugin.config.get("cache_dir") or ".cache/mkdocs-jupyter")
        if cache_dir.is_dir():
            shutil.rmtree(cache_dir, ignore_errors=True)
            log.info("deleted stale mkdocs-jupyter cache %s", cache_dir)
    return config


@event_priority(-110)   # after mkdocs-static-i18n's on_files (-100), which remakes every File
def on_files(files, config, **kwargs):
    """Notebooks stay pages under the i18n plugin, and each edition has its own print page.

    mkdocs-jupyter marks a notebook as a page by
    wrapping its File; mkdocs-static-i18n then makes a plain File of each (its own subclass lost),
    and the notebook would be copied as a .py instead of rendered. Its File is marked as a page
    again here, keeping the destination the i18n plugin gave it (/pt/notebooks/...)."""
    jupyter = config["plugins"].get(JUPYTER_PLUGIN)
    for file in files if jupyter is not None else ():
        if jupyter.should_include(file) and not file.is_documentation_page():
            file.__class__ = type("NotebookPage", (file.__class__,), {"is_documentation_page": lambda self: True})
    edition_print_page(config)
    return files


def edition_print_page(config) -> None:
    """The print page of each edition in that edition's folder (/pt/print_page/). mkdocs-print-site
    places its page at the site's root whatever the language being built, so the Portuguese build
    would write its print page over the English one."""
    language, print_site = building(config), config["plugins"].get("print-site")
    if language == SOURCE_LANGUAGE or print_site is None or not hasattr(print_site, "print_file"):
        return
    file = print_site.print_file
    if not file.dest_uri.startswith(f"{language}/"):
        file.dest_uri = f"{language}/{file.dest_uri}"
        file.url = f"{language}/{file.url}"
        file.abs_dest_path = os.path.normpath(os.path.join(config["site_dir"], file.dest_uri))


def on_pre_build(config, **kwargs):
    """Hold the assets' lock for the whole build (7), then refuse assets whose runs, tables and
    manifest come from different reports (vae/plumbing/consistency.py)."""
    global _assets_lock
    from vae.plumbing.consistency import InconsistentAssets, check_assets
    from vae.report.transaction import lock_assets

    assets = Path(config["docs_dir"]) / "assets"
    forget_executed_notebooks()
    release_assets()   # a serve's rebuild after a build that ended without either closing hook
    _assets_lock = lock_assets(assets, lambda: log.info(   # a warning would fail a --strict build
        f"{assets}: a report is landing there; the build starts when it has landed"))
    try:
        check_assets(assets)
    except InconsistentAssets as err:
        release_assets()
        raise PluginError(str(err)) from None


def release_assets() -> None:
    """Let a waiting landing go ahead (7)."""
    global _assets_lock
    if _assets_lock is not None:
        os.close(_assets_lock)
        _assets_lock = None


def on_build_error(error, **kwargs):
    release_assets()


@event_priority(50)    # before mkdocs-macros renders the page, so the listings' values are rendered too
def on_page_markdown(markdown: str, page, config, files, **kwargs):
    language = building(config)
    if page.file.src_uri != str(localized_path(LISTINGS_PAGE, language)):
        return localized_snippets(markdown, language)
    i18n = config["plugins"].get("i18n")
    titles = (i18n.current_language_config.nav_translations or {}) if i18n is not None else {}
    listings = listings_markdown(Path(config["docs_dir"]), config["nav"] or [], language, titles)
    if not listings:
        raise PluginError(f"{LISTINGS_PAGE}: no chapter before the {APPENDIX_PART!r} part of the navigation folds a listing")
    return localized_snippets(markdown.rstrip("\n") + "\n\n" + listings, language)


def on_page_content(html: str, page, config, files, **kwargs):
    assets = Path(config["docs_dir"]) / "assets"
    text_px = {}      # the report's figures, and the benchmark's (its manifest's paths are its folder's)
    for folder in ("", "benchmark/"):
        manifest = assets / folder / "manifest.json"
        if manifest.is_file():
            text_px |= {folder + path: px for path, px in
                        json.loads(manifest.read_text(encoding="utf-8")).get("figure_text_px", {}).items()}
    html = readable_widths(html, assets, text_px, building(config))
    source, language = page.file.src_uri, building(config)
    if source.startswith("notebooks/") and source.endswith(".py"):
        # The notebook page offers its own source, next to it in the built site (on_post_build).
        stem = Path(source).stem.partition(".")[0]   # latent_space.pt.py is offered as latent_space.py
        html = f'<p class="notebook-downloads">{NOTEBOOK_DOWNLOADS[language].format(stem=stem)}</p>\n' + html
    return translated_captions(renumber_captions(html), language)


def on_page_context(context, page, config, nav, **kwargs):
    """The language selector of a notebook page leads to the same notebook in the other language.
    mkdocs-static-i18n (its on_page_context runs before the hooks') finds a page's translations
    among the documentation pages it saw, which a notebook was not yet (on_files above), and would
    lead to the other edition's home page instead."""
    source, language = page.file.src_uri, building(config)
    alternates = getattr(config.extra, "alternate", None)   # as the theme reads it (the plugin sets it so)
    if not (source.startswith("notebooks/") and source.endswith(".py")) or not alternates:
        return context
    prefix = "" if language == SOURCE_LANGUAGE else f"{language}/"
    path = page.url[len(prefix):] if page.url.startswith(prefix) else page.url
    for alternate in alternates:
        alternate["link"] = ("" if alternate["lang"] == SOURCE_LANGUAGE else f"{alternate['lang']}/") + path
    return context


def on_post_build(config, **kwargs):
    """Save every notebook of docs/notebooks/ as .ipynb beside the .py that mkdocs-jupyter copies,
    and number the print page's figures through the document.

    The print-site plugin writes the print page in its own on_post_build; the hooks run after the
    plugins, so the page is there to renumber.
    """
    import jupytext

    language = building(config)
    site = Path(config["site_dir"]) / ("" if language == SOURCE_LANGUAGE else language)
    try:
        print_page = site / PRINT_PAGE
        if print_page.is_file():
            html = number_through_document(print_page.read_text(encoding="utf-8"))
            if language != SOURCE_LANGUAGE:
                # mkdocs-print-site writes each chapter's links for a print page at the site's
                # root ("../pt/assets/..."); this edition's is one folder down (pt/print_page/).
                html = html.replace(f'="../{language}/', '="../').replace("</head>", PAGE_FOOTER.get(language, "") + "</head>", 1)
                html = translated_captions(html, language)   # print-site joins the pages' content as Markdown made it
                html = translated_theme_words(html, language)
            print_page.write_text(html, encoding="utf-8")
        for source in sorted((Path(config["docs_dir"]) / "notebooks").glob("*.py")):
            stem, _, suffix = source.stem.partition(".")   # latent_space.pt.py: the Portuguese edition
            if suffix != ("" if language == SOURCE_LANGUAGE else language):
                continue
            target = site / "notebooks" / stem / f"{stem}.ipynb"
            if target.parent.is_dir():
                jupytext.write(download_notebook(source), target)
                if suffix:   # mkdocs-jupyter copied latent_space.pt.py: its readers download latent_space.py
                    copied = target.parent / source.name
                    if copied.is_file():
                        copied.replace(target.with_suffix(".py"))
    finally:
        release_assets()


def on_post_page(output: str, page, config, **kwargs):
    cleaned, removed = REMOTE_TAG.subn("", output)
    if removed:
        log.debug("%s: removed %d third-party script/style tag(s)", page.file.src_uri, removed)
    return translated_theme_words(cleaned, building(config))
