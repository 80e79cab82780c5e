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
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "code"))
import site_hooks  # noqa: E402  (code/ is not a package; the hook is a plain module)
import site_macros  # noqa: E402  (the pages' Jinja variables, filters and macros)

MKDOCS = [sys.executable, "-m", "mkdocs"]
# The one-page sites here test the build's rules, which are the same in both languages: English only.
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONUTF8": "1", "I18N_ONLY": "en"}


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
MINI_PLUGINS = ("plugins:\n  - search\n  - macros:\n      module_name: code/site_macros\n"
                "      on_undefined: strict\n      on_error_fail: true\n")


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
    page = GOOD_PAGE + '\nTest -ELBO {{ runs["no-such-run"].metrics.test.elbo | nats }}.\n'
    result = _mini_build(tmp_path, page)
    assert result.returncode != 0
    assert "no-such-run" in result.stderr


# A page value the assets cannot give: the build stops and names the file and the key.
BAD_VALUES = {
    "missing file": ('{{ asset("runs/x/metrics.json").test.elbo | nats }}',
                     ["docs/assets/runs/x/metrics.json does not exist"]),
    "missing key": ('{{ asset("a.json").test.elbow | nats }}', ["docs/assets/a.json", "test.elbow", "'elbow'"]),
    "missing list item": ('{{ asset("a.json").rows[3].auc | auc }}', ["docs/assets/a.json", "rows.3"]),
    "NaN": ('{{ asset("a.json").test.nan | nats }}', ["docs/assets/a.json", "test.nan", "nan"]),
    "infinity": ('{{ asset("a.json").test.inf | nats }}', ["docs/assets/a.json", "test.inf", "inf"]),
    "-infinity in a format": ('{{ asset("a.json").test.minus_inf | fmt(".1f") }}',
                              ["docs/assets/a.json", "test.minus_inf", "-inf"]),
    "null printed": ('{{ asset("a.json").test.none }}', ["docs/assets/a.json", "test.none", "null"]),
    "null in a filter": ('{{ asset("a.json").test.none | nats }}', ["docs/assets/a.json", "test.none", "null"]),
    "undefined name": ("{{ no_such_variable }}", ["index.md", "no_such_variable"]),
    "value opening a numbered list": ('Epoch\n{{ asset("a.json").test.elbo | nats }}. Then',
                                      ["index.md, line 4", "numbered list"]),
}
NUMBERS_JSON = ('{"test": {"elbo": 144.3, "nan": NaN, "inf": Infinity, "minus_inf": -Infinity, "none": null},'
                ' "rows": [{"auc": 0.9}]}')


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_strict_build_names_the_file_and_key_of_a_bad_value(case, tmp_path):
    value, fragments = BAD_VALUES[case]
    config = _mini_site(tmp_path, f"# Page\n\n{value}\n", MINI_PLUGINS, {"assets/a.json": NUMBERS_JSON})
    result = _build(config, tmp_path / "site")
    assert result.returncode != 0, case
    for fragment in fragments:
        assert fragment in result.stderr, f"{case}: {fragment!r} not in\n{result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr, result.stderr[-2000:]   # one line for the reader


def test_a_lenient_macros_configuration_is_refused(tmp_path):
    """With mkdocs-macros' defaults an unknown name would print as typed: the module refuses them."""
    lenient = "plugins:\n  - search\n  - macros:\n      module_name: code/site_macros\n"
    result = _build(_mini_site(tmp_path, "# Page\n\n{{ no_such_variable }}\n", lenient), tmp_path / "site")
    assert result.returncode != 0
    assert "on_undefined: strict" in result.stderr, result.stderr[-2000:]


def test_string_values_are_html_escaped_and_numbers_use_the_report_formatter(tmp_path):
    files = {"assets/bench/bench.json": '{"page": {"measured_on": "<script>alert(1)</script> & co"},'
                                         ' "params": 1234567, "delta": -2.5, "beta": 0.5, "limit": null}'}
    page = ("# Page\n\nMeasured on {{ bench.page.measured_on }}; {{ bench.params }} parameters, "
            "{{ bench.delta | nats }} nats, {{ bench.delta }} as given, β {{ bench.beta }}, "
            "{{ bench.beta | fmt('.0%') }}{% if not bench.limit %}, no limit{% endif %}.\n")
    config = _mini_site(tmp_path, page, MINI_PLUGINS, files)
    result = _build(config, tmp_path / "site")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html
    assert ("Measured on &lt;script&gt;alert(1)&lt;/script&gt; &amp; co; 1,234,567 parameters, "
            "\u22122.50 nats, \u22122.5 as given, β 0.5, 50\u00a0%, no limit.") in html


def test_a_notebook_source_is_not_rendered_as_a_template(tmp_path):
    """mkdocs-jupyter renders a notebook from its file; "{{" in its Python must not reach Jinja."""
    plugins = MINI_PLUGINS + "  - mkdocs-jupyter:\n      include: ['*.py']\n      execute: false\n"
    notebook = '# %% [markdown]\n# # Probe\n# %%\nname = "x"\nprint(f"{{{{{name}}}}}")\n'
    config = _mini_site(tmp_path / "s", "# Home\n", plugins + "nav:\n  - index.md\n  - probe.py\n",
                        {"probe.py": notebook})
    result = _build(config, tmp_path / "site")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Probe" in (tmp_path / "site" / "probe" / "index.html").read_text(encoding="utf-8")


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

    {{ layers("mlp", latent=2, hidden=[400]) | indent(4) }}

=== "second"

    Text.
"""


def test_a_generated_table_inside_a_tab_renders_as_a_table(tmp_path):
    result = _mini_build(tmp_path, TABBED_TABLE_PAGE)
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "<table>" in html and "| part |" not in html and "<p>|" not in html


def test_every_line_of_an_indented_block_is_indented(tmp_path):
    """A block in an admonition keeps every line inside it with Jinja's `indent`, and not without."""
    inside = {}
    for block in ('layers("conv", latent=2) | indent(4)', 'layers("conv", latent=2)'):
        folder = tmp_path / str(len(inside))
        page = f'# Page\n\n!!! note "Layers"\n\n    {{{{ {block} }}}}\n\nAfter.\n'
        result = _mini_build(folder, page)
        assert result.returncode == 0, result.stderr[-3000:]
        html = (folder / "site" / "index.html").read_text(encoding="utf-8")
        admonition = html[html.index('class="admonition note"'):]
        inside[block] = "<table>" in admonition[:admonition.index("</div>")] and "|---|" not in html
    assert inside == {'layers("conv", latent=2) | indent(4)': True, 'layers("conv", latent=2)': False}


def test_a_finding_is_placed_by_name_with_the_sentence_of_its_verdict(tmp_path):
    """`say` writes the catalogue's sentence for the verdict in findings.json, and stops the build
    with the finding's name when it is missing, or when its sentence names a missing number."""
    import json
    finding = {"verdict": "same", "numbers": {"this_report": 147.5, "seed_000": 147.87, "difference": -0.37,
                                             "margin": 0.5, "precision": "fp32"}}
    (tmp_path / "findings.json").write_text(json.dumps({"findings": {"seed_000_test": finding}}))
    assets = site_macros.Assets(tmp_path)
    text = site_macros.say(assets, "seed_000_test")
    assert text.startswith("Its test −ELBO is 147.50 nats against the seed report's 147.87: the two cannot be told apart within")
    with pytest.raises(site_macros.PageValueError, match="no finding 'beta_best'"):
        site_macros.say(assets, "beta_best")
    del finding["numbers"]["margin"]
    (tmp_path / "findings.json").write_text(json.dumps({"findings": {"seed_000_test": finding}}))
    with pytest.raises(site_macros.PageValueError, match="margin"):
        site_macros.say(site_macros.Assets(tmp_path), "seed_000_test")


def test_values_on_a_page_are_filled_from_the_assets_by_the_one_formatter(tmp_path):
    files = {"assets/a.json": '{"elbo": 144.3, "params": 9000, "auc": 0.91234}'}
    page = ('# Page\n\n{% set a = asset("a.json") %}'
            'A scores {{ a.elbo | nats }} nats with {{ a.params }} parameters, AUC {{ a.auc | auc }}.\n')
    config = _mini_site(tmp_path, page, MINI_PLUGINS, files)
    result = _build(config, tmp_path / "site")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "A scores 144.30 nats with 9,000 parameters, AUC 0.912." in html


def test_conditional_wording_on_its_own_lines_stays_in_its_paragraph(tmp_path):
    files = {"assets/a.json": '{"elbo": 150.0}', "assets/b.json": '{"elbo": 147.5}'}
    page = ('# Page\n\n!!! note "Result"\n\n    A is\n'
            '    {% if asset("a.json").elbo < asset("b.json").elbo %}\n    better\n    {% else %}\n'
            '    worse\n    {% endif %}\n    than B.\n')
    result = _build(_mini_site(tmp_path, page, MINI_PLUGINS, files), tmp_path / "site")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "<p>A is\nworse\nthan B.</p>" in html


def test_an_indented_line_that_opens_with_a_condition_stays_in_its_admonition(tmp_path):
    """`{% if %}` at the start of an indented line with words after it would lose the indentation
    (lstrip_blocks) and the words their box: the build refuses it; `{%+ if %}` keeps them inside."""
    files = {"assets/a.json": '{"elbo": 150.0}'}
    line = '{% if asset("a.json").elbo > 1 %}Worse{% endif %} than B.'
    results = {}
    for tag in ("{%", "{%+"):
        folder = tmp_path / str(len(results))
        page = f'# Page\n\n!!! note "Result"\n\n    A first line.\n    {line.replace("{%", tag, 1)}\n\nAfter.\n'
        results[tag] = _build(_mini_site(folder, page, MINI_PLUGINS, files), folder / "site"), folder
    refused, _ = results["{%"]
    assert refused.returncode != 0 and "index.md, line 6" in refused.stderr and "{%+" in refused.stderr
    kept, folder = results["{%+"]
    assert kept.returncode == 0, kept.stderr[-3000:]
    html = (folder / "site" / "index.html").read_text(encoding="utf-8")
    box = html[html.index('class="admonition note"'):]
    assert "Worse than B." in box[:box.index("</div>")]


def test_run_downloads_link_only_the_files_that_exist(tmp_path):
    run = tmp_path / "runs" / "mnist-conv-z2"
    run.mkdir(parents=True)
    for name in ("config.json", "history.csv", "metrics.json"):
        (run / name).write_text("{}")
    table = site_macros.run_downloads(tmp_path)
    assert "[metrics.json](assets/runs/mnist-conv-z2/metrics.json)" in table
    assert "model.pt" not in table.splitlines()[-1]  # no weights in this folder: no dead link
    with pytest.raises(site_macros.PageValueError, match="no run folders"):
        site_macros.run_downloads(tmp_path / "empty")


def test_tags_that_load_from_another_host_are_removed():
    page = types.SimpleNamespace(file=types.SimpleNamespace(src_uri="index.md"))
    remote = ['<iframe src="https://example.org/x" width="9"></iframe>', "<iframe src=//example.org/y>",
              '<script src="https://cdn.example.org/m.js"></script>',
              '<link rel="stylesheet" href="https://cdn.example.org/s.css">']
    local = ['<iframe src="explorer.html"></iframe>', '<script src="javascripts/tables.js"></script>']
    html = "<p>text</p>" + "".join(remote + local)
    cleaned = site_hooks.on_post_page(html, page=page, config={})
    assert cleaned == "<p>text</p>" + "".join(local)


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


def test_the_appendix_gets_the_folded_listings_and_the_blocks_marked_for_it(tmp_path):
    page = ('# Training\n\nProse.\n\n??? example "The loop (training.py)"\n\n    === "one step"\n\n'
            '        ```python\n        --8<-- "code/vae/training.py:step"\n        ```\n\nMore prose.\n\n'
            '??? note "Kept in place"\n\n    A note of the results.\n\n'
            '??? note appendix "On a GPU"\n\n    CUDA graphs.\n\n    Second paragraph.\n\nThe end.\n')
    assert site_hooks.folded_listings(page) == [
        ("The loop (training.py)", '=== "one step"\n\n    ```python\n    --8<-- "code/vae/training.py:step"\n    ```'),
        ("On a GPU", "CUDA graphs.\n\nSecond paragraph.")]
    (tmp_path / "training.md").write_text(page, encoding="utf-8")
    (tmp_path / "index.md").write_text("# Home\n", encoding="utf-8")
    (tmp_path / "reproduce.md").write_text('??? example "Makefile"\n\n    make\n', encoding="utf-8")
    nav = [{"Home": "index.md"}, {"Method": [{"Training": "training.md"}]},
           {"Appendix": [{"Reproduce": "reproduce.md"}, {"Code listings": "appendix-code.md"}]}]
    assert site_hooks.body_chapters(nav) == [("Home", "index.md"), ("Training", "training.md")]
    listings = site_hooks.listings_markdown(tmp_path, nav)
    assert listings.startswith("## Training\n\n### The loop (training.py)\n\n=== ")
    assert "### On a GPU\n\nCUDA graphs." in listings and "Kept in place" not in listings and "Makefile" not in listings


def test_the_print_page_numbers_figures_through_the_document():
    figure, table = '<span class="caption-prefix">Figure {}.</span>', '<span class="caption-prefix">Table {}.</span>'
    chapters = [figure.format(1) + table.format(1) + figure.format(2), figure.format(1), table.format(1) + figure.format(1)]
    assert _prefixes(site_hooks.number_through_document("".join(chapters))) == \
        ["Figure 1.", "Table 1.", "Figure 2.", "Figure 3.", "Table 2.", "Figure 4."]
    # a caption that paper does not show (a folded listing, an appendix note, a web-only block) takes no number
    hidden = ('<details class="example"><summary>x</summary>' + table.format(5) + "</details>"
              + '<div class="web-only"><div>' + figure.format(9) + "</div></div>")
    assert _prefixes(site_hooks.number_through_document(figure.format(1) + hidden + figure.format(3))) == \
        ["Figure 1.", "Table 5.", "Figure 9.", "Figure 2."]


def test_a_figure_keeps_the_width_at_which_its_text_is_readable(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (840).to_bytes(4, "big") + (338).to_bytes(4, "big")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "beta.png").write_bytes(png)
    html = ('<p><img alt="β" loading="lazy" src="../assets/figures/beta.png"></p>'
            '<img src="../assets/figures/unlisted.png"><img src="data:image/png;base64,AAAA">')
    marked = site_hooks.readable_widths(html, tmp_path, {"figures/beta.png": 14.0})
    # 840 px drawn with 14 px text: 10 px text at 600 px wide.
    assert '<img alt="β" loading="lazy" src="../assets/figures/beta.png" style="--readable-width: 600px">' in marked
    assert marked.count("--readable-width") == 1


# ---------------------------------------------------------------------------------------------
# The built site (built once per session: tests/support/site.py); the browser checks are in
# test_site_browser.py.

def test_the_notebook_is_offered_as_py_and_ipynb(built_site):
    folder = built_site / "notebooks" / "latent_space"
    notebook = json.loads((folder / "latent_space.ipynb").read_text(encoding="utf-8"))
    assert (folder / "latent_space.py").is_file() and len(notebook["cells"]) >= 5
    # with the outputs the page shows: the figures as PNG, computed by this build
    outputs = [output for cell in notebook["cells"] if cell["cell_type"] == "code" for output in cell["outputs"]]
    assert any("image/png" in output.get("data", {}) for output in outputs)
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


def test_every_snippet_section_in_the_code_is_shown_by_a_page(repo_root):
    """A section marker that no page includes is dead weight in the code the pages teach from."""
    import re
    shown = " ".join(p.read_text(encoding="utf-8") for p in (repo_root / "docs").rglob("*.md"))
    unused = []
    for source in sorted((repo_root / "code").rglob("*.py")):
        relative = source.relative_to(repo_root).as_posix()
        for section in re.findall(r"# --8<-- \[start:([\w-]+)\]", source.read_text(encoding="utf-8")):
            if f'"{relative}:{section}"' not in shown:
                unused.append(f"{relative}:{section}")
    assert unused == []
