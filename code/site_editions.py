"""Each edition's own words where the site's machinery writes English (code/site_hooks.py): the
print page's title, contents and page footer, the notebook's download line, what the theme's
Markdown extensions and mkdocs-jupyter write into every page, the caption prefixes, and the
Portuguese copy of each included Markdown file. The words of the figures, tables and findings
are the report's own catalogues (code/vae/labels/, code/vae/report/sentences/).
"""

from __future__ import annotations

import re

from vae.language import SOURCE_LANGUAGE, translate

CAPTION_PREFIX = re.compile(r'(<span class="caption-prefix">)(?P<text>[^<]*)(</span>)')
PRINT_TITLES = {"en": "The whole report", "pt": "O relatório completo"}
PRINT_CONTENTS = {"en": "Table of Contents", "pt": "Sumário"}
# mkdocs-print-site's page footer says "Page n" in its own CSS; an edition in another language
# says it in its own words (Chromium prints @page margin boxes).
PAGE_FOOTER = {"pt": "<style>@page { @bottom-right { content: 'Página ' counter(page); } }</style>"}
NOTEBOOK_DOWNLOADS = {
    "en": ('Download this notebook: <a href="{stem}.ipynb" download>{stem}.ipynb</a> (Jupyter) or '
           '<a href="{stem}.py" download>{stem}.py</a> (Python, percent format). '
           "It runs from <code>docs/notebooks/</code> of a clone, where it finds the assets."),
    "pt": ('Baixe este notebook: <a href="{stem}.ipynb" download>{stem}.ipynb</a> (Jupyter) ou '
           '<a href="{stem}.py" download>{stem}.py</a> (Python, formato percent). '
           "Ele roda a partir de <code>docs/notebooks/</code> de um clone, onde encontra os assets.")}
# What the theme's Markdown extensions and mkdocs-jupyter write into a page in English whatever the
# page's language: the headings' permalink title (toc), the notebook's copy buttons and the alt text
# of its output images (nbconvert). Each edition's words replace them in its pages and its print
# page; the palette toggles' names have a setting of their own (mkdocs.yml, the language's `theme`).
THEME_WORDS = {
    "pt": {' title="Permanent link"': ' title="Link permanente para esta seção"',
           ' aria-label="Copy to Clipboard"': ' aria-label="Copiar para a área de transferência"',
           '>Copied!</span>': '>Copiado!</span>',
           ' alt="No description has been provided for this image"':
               ' alt="Nenhuma descrição foi fornecida para esta imagem"'}}
# A snippet of a Markdown file (a generated table, an include): the Portuguese page takes its X.pt.md.
# Runs before mkdocs-macros, so a path may still hold a value with its own quotes
# ({{ findings.runs.reference["fashion-mnist"][0] }}): the path ends at the line's last `.md"`.
MARKDOWN_SNIPPET = re.compile(r'^(?P<indent>[ \t]*--8<-- ")(?P<path>docs/.+?)(?P<suffix>\.md)"[ \t]*$', re.M)


def localized_snippets(markdown: str, language: str) -> str:
    """Each included Markdown file replaced by its `language` copy (beta.md -> beta.pt.md); a missing
    copy fails the strict build (pymdownx.snippets' check_paths), so no English table reaches a
    page in another language unnoticed."""
    if language == SOURCE_LANGUAGE:
        return markdown
    return MARKDOWN_SNIPPET.sub(lambda m: f'{m["indent"]}{m["path"]}.{language}.md"', markdown)


def translated_captions(html: str, language: str) -> str:
    """"Figure 3." / "Table 1." in the page's language (pymdownx.blocks.caption writes English)."""
    if language == SOURCE_LANGUAGE or "caption-prefix" not in html:
        return html

    def word(match: re.Match) -> str:
        kind, _, rest = match["text"].partition(" ")
        return match[1] + translate(kind, language) + (" " + rest if rest else "") + match[3]
    return CAPTION_PREFIX.sub(word, html)


def translated_theme_words(html: str, language: str) -> str:
    """The theme's English attributes of a page (THEME_WORDS) in `language`; a page in the source
    language, or in one without an entry, is returned as it is."""
    for english, translated in THEME_WORDS.get(language, {}).items():
        html = html.replace(english, translated)
    return html
# Reproduce's first command in a local build, where the site has no repository address to clone.
LOCAL_COPY = {"en": "cd vae-report                 # the folder of your copy of this project",
              "pt": "cd vae-report                 # a pasta da sua cópia deste projeto"}
