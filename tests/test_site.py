"""The report site: strict builds, the hook's values and words, no stale notebook outputs, and
what the built site offers (notebook downloads, no repository link, no third-party host).

The real site is built once per test session (tests/support/site.py); every page of it is
checked in headless Chromium by test_site_browser.py, and the PDF by test_site_pdf.py.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "code"))
import site_hooks  # noqa: E402  (code/ is not a package; the hook is a plain module)

MKDOCS = [sys.executable, "-m", "mkdocs"]
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONUTF8": "1"}


def _build(config: Path, site_dir: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([*MKDOCS, "build", "--strict", "-f", str(config), "-d", str(site_dir)],
                          cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)


def _mini_site(tmp: Path, page: str, extra: str = "", files: dict[str, str] | None = None) -> Path:
    """A one-page site that inherits the real mkdocs.yml (extensions, validation, hooks)."""
    docs = tmp / "docs"
    docs.mkdir(parents=True)
    (docs / "index.md").write_text(page, encoding="utf-8")
    for name, text in (files or {}).items():
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_text(text, encoding="utf-8")
    config = tmp / "mkdocs.yml"
    config.write_text(f"INHERIT: {ROOT / 'mkdocs.yml'}\ndocs_dir: {docs}\nnav:\n  - index.md\n"
                      f"hooks:\n  - {ROOT / 'code' / 'site_hooks.py'}\n"
                      f"theme:\n  name: material\n  custom_dir: {ROOT / 'docs' / 'overrides'}\n"
                      f"extra_javascript: []\nextra_css: []\n{extra}", encoding="utf-8")
    return config


# ---------------------------------------------------------------------------------------------
# The build refuses what a reader would see as broken.

GOOD_PAGE = """# Page

```python
--8<-- "code/vae/losses.py:kl"
```

![figure](figure.png)

/// figure-caption
A figure.
///
"""
PNG_1x1 = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
MINI_PLUGINS = "plugins:\n  - search\n"


def _mini_build(tmp: Path, page: str) -> subprocess.CompletedProcess:
    config = _mini_site(tmp, page, MINI_PLUGINS)
    (tmp / "docs" / "figure.png").write_bytes(PNG_1x1)
    return _build(config, tmp / "site")


def test_strict_build_of_a_good_page_passes(tmp_path):
    result = _mini_build(tmp_path, GOOD_PAGE)
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "kl_per_dimension" in html and "Figure 1." in html


def test_strict_build_fails_on_a_missing_image(tmp_path):
    result = _mini_build(tmp_path, GOOD_PAGE.replace("figure.png", "no-such-figure.png"))
    assert result.returncode != 0
    assert "no-such-figure.png" in result.stderr


def test_strict_build_fails_on_a_missing_snippet_file_or_section(tmp_path):
    for broken in ('"code/vae/no_such_module.py:kl"', '"code/vae/losses.py:no-such-section"'):
        folder = tmp_path / broken.split(":")[-1].strip('"')
        result = _mini_build(folder, GOOD_PAGE.replace('"code/vae/losses.py:kl"', broken))
        assert result.returncode != 0, broken
        assert "Snippet" in result.stderr, result.stderr[-2000:]


def test_strict_build_fails_on_a_missing_generated_value(tmp_path):
    page = GOOD_PAGE + "\nTest -ELBO {{ runs/no-such-run/metrics.json | test.elbo | .2f }}.\n"
    result = _mini_build(tmp_path, page)
    assert result.returncode != 0
    assert "no-such-run" in result.stderr


# ---------------------------------------------------------------------------------------------
# Notebook outputs always come from the assets of this build, never from mkdocs-jupyter's cache.

NOTEBOOK = '''# %% [markdown]
# # Probe
# %%
from pathlib import Path
print("VALUE=" + Path({data!r}).read_text().strip())
'''


def test_notebook_outputs_are_recomputed_when_only_the_assets_change(tmp_path):
    """mkdocs-jupyter's cache key is the notebook's bytes: the hook must make it irrelevant.

    The mini site even asks for the cache explicitly; the data file read by the notebook
    changes between two builds while the notebook's bytes stay the same.
    """
    data = tmp_path / "value.txt"
    plugins = ("plugins:\n  - mkdocs-jupyter:\n      include: ['*.py']\n      execute: true\n"
               "      allow_errors: false\n      cache: true\n"
               f"      cache_dir: {tmp_path / 'cache'}\n")
    config = _mini_site(tmp_path / "s", "# Home\n", plugins + "nav:\n  - index.md\n  - probe.py\n",
                        {"probe.py": NOTEBOOK.format(data=str(data))})
    outputs = []
    for value in ("first-training", "second-training"):
        data.write_text(value)
        result = _build(config, tmp_path / "site")
        assert result.returncode == 0, result.stderr[-3000:]
        outputs.append((tmp_path / "site" / "probe" / "index.html").read_text(encoding="utf-8"))
    assert "VALUE=first-training" in outputs[0]
    assert "VALUE=second-training" in outputs[1] and "VALUE=first-training" not in outputs[1]


# ---------------------------------------------------------------------------------------------
# The hook: blocks keep their place, words follow the numbers, figure numbers have no gaps.

TABBED_TABLE_PAGE = """# Page

=== "first"

    {{ layers | mlp | latent=2 | hidden=400 }}

=== "second"

    Text.
"""


def test_a_generated_table_inside_a_tab_renders_as_a_table(tmp_path):
    result = _mini_build(tmp_path, TABBED_TABLE_PAGE)
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "<table>" in html and "| part |" not in html and "<p>|" not in html


def test_every_line_of_an_indented_placeholder_value_is_indented():
    markdown = "=== \"tab\"\n\n    {{ x }}\n"
    start = markdown.index("{{")
    assert site_hooks.indent_like_placeholder(markdown, start, "| a |\n|---|\n| 1 |") == \
        "| a |\n    |---|\n    | 1 |"
    inline = "Value: {{ x }}"  # inside a sentence: nothing to indent
    assert site_hooks.indent_like_placeholder(inline, inline.index("{{"), "a\nb") == "a\nb"


def test_the_comparison_word_follows_the_numbers():
    words = "lower / higher / the same"
    assert site_hooks.choose_word(144.3, 147.5, words) == "lower"
    assert site_hooks.choose_word(150.0, 147.5, words) == "higher"
    assert site_hooks.choose_word(2.0, 2.0, words) == "the same"
    with pytest.raises(ValueError, match="three words"):
        site_hooks.choose_word(1.0, 2.0, "lower / higher")


def test_a_comparison_on_a_page_is_filled_from_the_assets(tmp_path):
    files = {"assets/a.json": '{"elbo": 144.3, "params": 900}', "assets/b.json": '{"elbo": 147.5, "params": 300}'}
    page = ("# Page\n\nA scores {{ compare a.json | elbo | b.json | elbo | lower / higher / the same }} "
            "with {{ ratio a.json | params | b.json | params | .1f }} times the parameters, "
            "{{ difference b.json | elbo | a.json | elbo | .1f }} nats apart.\n")
    config = _mini_site(tmp_path, page, MINI_PLUGINS, files)
    result = _build(config, tmp_path / "site")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "A scores lower with 3.0 times the parameters, 3.2 nats apart." in html


def test_run_downloads_link_only_the_files_that_exist(tmp_path):
    run = tmp_path / "runs" / "mnist-conv-z2"
    run.mkdir(parents=True)
    for name in ("config.json", "history.csv", "metrics.json"):
        (run / name).write_text("{}")
    table = site_hooks.run_downloads(tmp_path)
    assert "[metrics.json](assets/runs/mnist-conv-z2/metrics.json)" in table
    assert "model.pt" not in table.splitlines()[-1]  # no weights in this folder: no dead link
    with pytest.raises(ValueError, match="no run folders"):
        site_hooks.run_downloads(tmp_path / "empty")


def _prefixes(html: str) -> list[str]:
    return re.findall(r'<span class="caption-prefix">([^<]*)</span>', html)


def test_tabs_of_one_set_share_their_figure_numbers():
    figure = '<span class="caption-prefix">Figure {}.</span>'
    tabs = ('<div class="tabbed-set"><input><div class="tabbed-content">'
            f'<div class="tabbed-block">{figure.format(2)}{figure.format(3)}</div>'
            f'<div class="tabbed-block">{figure.format(4)}</div></div></div>')
    html = f'{figure.format(1)}{tabs}<span class="caption-prefix">Table 1.</span>{figure.format(5)}'
    assert _prefixes(site_hooks.renumber_captions(html)) == \
        ["Figure 1.", "Figure 2.", "Figure 3.", "Figure 2.", "Table 1.", "Figure 4."]


# ---------------------------------------------------------------------------------------------
# The built site (built once per session: tests/support/site.py); the browser checks are in
# test_site_browser.py.

def test_the_notebook_is_offered_as_py_and_ipynb(built_site):
    folder = built_site / "notebooks" / "latent_space"
    notebook = json.loads((folder / "latent_space.ipynb").read_text(encoding="utf-8"))
    assert (folder / "latent_space.py").is_file() and len(notebook["cells"]) >= 5
    for page in ("reproduce", "notebooks/latent_space"):
        assert "latent_space.ipynb" in (built_site / page / "index.html").read_text(encoding="utf-8"), page


def test_a_local_build_shows_no_repository_link(built_site):
    """Without REPO_URL in the environment there is no repository to link to (and no example-org)."""
    if os.environ.get("REPO_URL"):
        pytest.skip("REPO_URL is set: this build links its repository")
    html = (built_site / "index.html").read_text(encoding="utf-8")
    assert 'class="md-source"' not in html and "example-org" not in html


def test_built_html_references_no_third_party_host(built_site):
    """Static check of the same rule: no script, stylesheet, image or font from another host."""
    pattern = re.compile(r"<(?:script|img|iframe|source)\b[^>]*\bsrc=[\"']?(?:https?:)?//"
                         r"|<link\b[^>]*\bhref=[\"']?(?:https?:)?//[^>]*>|@import\s+url\([\"']?(?:https?:)?//",
                         re.IGNORECASE)
    offenders = []
    for path in built_site.rglob("*"):
        if path.suffix in (".html", ".css") and path.is_file():
            for match in pattern.finditer(path.read_text(encoding="utf-8", errors="replace")):
                tag = match.group(0)
                if "<link" in tag and not re.search(r"rel=[\"']?(?:stylesheet|preload|modulepreload|icon)", tag):
                    continue  # canonical and similar links load nothing
                offenders.append(f"{path.relative_to(built_site)}: {tag[:120]}")
    assert not offenders, "\n".join(offenders[:20])
