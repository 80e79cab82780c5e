"""Values in the pages of the report site: mkdocs-macros (Jinja) variables, filters and macros.

mkdocs.yml loads this module (`plugins: macros: module_name: code/site_macros`); every page is
rendered as a Jinja template before Markdown, so a page writes

    a test −ELBO of {{ runs["mnist-conv-z2"].metrics.test.elbo | nats }} nats
    {% if runs["mnist-conv-z2"].metrics.best_epoch < runs["mnist-conv-z2"].metrics.epochs %} ... {% endif %}

Generated JSON (everything under docs/assets/, read when a page uses it):
- `manifest` (manifest.json), `classifier` (classifier.json), `bench` (bench/bench.json; its
  machine line `page.measured_on` in the page's language), `findings` (findings.json),
  `benchmark` (benchmark/manifest.json, written by `python -m vae benchmark`),
  `tables.<name>` (tables/<name>.json);
- `runs["<run>"].metrics` and `runs["<run>"].config` (runs/<run>/metrics.json, config.json);
  the manifest's own record of each run is in `manifest.runs`, so a page can reach a run through
  the manifest: `{% for run in manifest.runs %}{{ runs[run.name].metrics.test.kl | nats }}{% endfor %}`;
- `asset("<path>.json")` for any other file. Keys are read with `.key`, `["key-with-dashes"]`, `[0]`.

Strict (code/site_assets.py reads the files). A missing file, key or list item stops the build
with the file and the key; so do a NaN or ±infinity, a JSON null that a page prints or computes
with, and a name that is not defined (the plugin's `on_undefined: strict`). A page asks whether a key exists with `in`
(`{% if "likelihood" in run.metrics %}`); a null is false in `{% if %}`.

Numbers, all written by the report's one formatter (vae.report.tables, typographic minus U+2212):
`| nats` (2 decimals), `| auc` (3), `| per_pixel` (4), `| seconds` (1), `| count` (thousands
separators), `| setting` (as given: 0.5, 1e-05) and `| fmt(".1f")` (any format spec: ".0%",
",.0f"). A number printed without a filter is written as a count (integers) or a setting.
Strings are HTML-escaped when printed (`<` `>` `&`, and `[` `]` against Markdown links and images), so no
markup in a JSON file reaches a page.

Words and blocks:
- `| words`: a word or phrase that an asset holds or a page chooses ("uses", "centre of mass"), in
  the page's language (code/vae/labels/<language>.yml);
- `say("beta_best")`: the sentence of a finding for the verdict the report's code reached
  (findings.json; a `benchmark_` finding: benchmark/findings.json), from the sentence catalogue `code/vae/report/sentences/en.yml`, its numbers
  written by the one formatter; `say("beta_best", "summary")` a second form of it. A page never
  compares numbers to choose its words: the code judged each finding once, and the page places it;
- `layers("conv", latent=2)`, `layers("mlp", latent=2, hidden=[512, 256])`: a table of every
  layer of the model the package builds; `run_downloads()`: a table of every run's files;
  `explorer_labels()`: the class names of both datasets in the page's language, for the latent
  explorer (docs/javascripts/latent-explorer.js), once on a page that has one;
  a block inside a content tab or an admonition takes `| indent(4)`;
- `get_project`: the shell line that gets the project: `git clone <the repository> vae-report && cd
  vae-report` where the build environment names the repository, else a `cd` into the reader's copy
  (a local build knows no address, and a placeholder in a command is a command that fails).

A value never opens a source line followed by "." or ")": "10." there would start a numbered
list, so the build refuses it and names the line. An indented line that opens with a block tag
and goes on with text is refused too: `lstrip_blocks` would strip its indentation with the tag and
the text would leave its admonition or tab; such a line opens with `{%+ if ... %}`. Literal braces in a page go in
`{% raw %}...{% endraw %}`; code and tables included with `--8<--` are never templated, because
pymdownx.snippets runs in Markdown, after Jinja. Notebook pages are not templated either.
"""

from __future__ import annotations

import html
import json
import math
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from markupsafe import Markup
from mkdocs.exceptions import PluginError

CODE_DIR = Path(__file__).resolve().parent
if str(CODE_DIR) not in sys.path:
    sys.path.insert(0, str(CODE_DIR))

from site_assets import REGENERATE, Assets, Folder, Null, PageValueError, Record, what_regenerates  # noqa: E402
from site_editions import LOCAL_COPY  # noqa: E402

# The language of the page being rendered (the i18n plugin builds one language at a time; set
# before each page by on_pre_page_macros): numbers, sentences and generated tables follow it.
PAGE = SimpleNamespace(language="en")

DOWNLOADS = (("config.json", "configuration"), ("history.csv", "history"), ("metrics.json", "metrics"),
             ("model.pt", "weights"), ("latents.npz", "latent codes"))
NOTEBOOK_SUFFIXES = (".py", ".ipynb")
LIST_OPENER = re.compile(r"^[ \t]*\{\{(?:(?!\}\}).)*\}\}[.)](?:[ \t]|$)", re.MULTILINE)
# An indented line that opens with a block tag and has words after it: `lstrip_blocks` would take
# the indentation away with the tag, and the words would fall out of their admonition or tab.
INDENTED_TAG = re.compile(r"^[ \t]+\{%(?![+-])")
BLOCK_TAG = re.compile(r"\{%.*?%\}")


# ---------------------------------------------------------------------------------------------
# Numbers and words. One formatter for the site: vae.report.tables.


class PerLanguage(dict):
    """Markup with one form per language ({"en": ..., "pt": ...}), printed in the page's."""


def _number(value: Any, what: str) -> float | int:
    if isinstance(value, Null):
        raise PageValueError(f"{what}: {value.where}, not a number; {REGENERATE}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PageValueError(f"{what}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise PageValueError(f"{what}: {value} is not a number a page can show")
    return value


def _quantity_filter(quantity: str):
    def write(value: Any) -> str:
        from vae.report.tables import format_number
        return format_number(_number(value, quantity), quantity, PAGE.language)
    write.__name__ = quantity
    write.__doc__ = f"A number as a {quantity} (vae.report.tables.format_number)."
    return write


def words(text: Any) -> str:
    """A word or phrase from an asset or a page's own choice ("uses", "centre of mass"), in the
    page's language (vae.language, the labels catalogue)."""
    from vae.language import translate
    if not isinstance(text, str):
        raise PageValueError(f"words: expected a text, got {text!r}")
    return _text(translate(text, PAGE.language))


def fmt(value: Any, spec: str) -> str:
    """A number with an explicit format spec (".1f", ".0%", ",.0f"), minus as U+2212."""
    from vae.report.tables import format_spec
    return format_spec(_number(value, f"fmt({spec!r})"), spec, PAGE.language)


def finalize(value: Any) -> Any:
    """What `{{ ... }}` writes: numbers by the report's formatter, strings HTML-escaped.

    Markup (a table built by a macro) is written as it is. A container, None or a bool is
    refused: a page prints values, not records.
    """
    from vae.report.tables import format_number
    if isinstance(value, Markup):
        return value
    if isinstance(value, PerLanguage):
        return Markup(value[PAGE.language])
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, Null):
        raise PageValueError(f"{value.where}: nothing to print; {REGENERATE}")
    if isinstance(value, bool) or value is None or isinstance(value, (Record, Folder, SimpleNamespace, dict, list)):
        raise PageValueError(f"cannot print {value!r}: pick a number or a string from it")
    if isinstance(value, int):
        return format_number(value, "count", PAGE.language)
    if isinstance(value, float):
        return format_number(_number(value, "value"), "setting", PAGE.language)
    return _text(str(value))


def _text(value: str) -> str:
    # HTML-escaped, and its brackets as character references: the page shows them, but Markdown
    # sees no `[x](javascript:...)` link nor `![x](https://...)` image in a string from an asset.
    return html.escape(value, quote=False).replace("[", "&#91;").replace("]", "&#93;")


def say(assets: "Assets", name: str, form: str | None = None) -> str:
    """The sentence of finding `name` (or its `form`) for its verdict in the findings file that holds it."""
    from vae.report.wording import WordingError, sentence
    file = "benchmark/findings.json" if name.startswith("benchmark_") else "findings.json"
    found = assets(file)._read()   # the whole record: the wording reads plain data
    record = found.get("findings", {}).get(name)
    if record is None:
        raise PageValueError(f"docs/assets/{file}: no finding {name!r}; {what_regenerates('docs/assets/' + file)}")
    try:
        return sentence(name, record, PAGE.language, form=form)
    except WordingError as err:
        raise PageValueError(f"finding {name!r}: {err}") from None


def edition_bench(assets: "Assets") -> Record:
    """bench/bench.json as the page being rendered reads it: its machine line (`page.measured_on`,
    which the benchmark wrote in English) in the page's language, made from the machine the file
    records (`hardware`, vae.bench.markdown.hardware_line); an English page reads the file as it is."""
    record = assets("bench/bench.json")

    def read() -> Any:
        data = record._read()
        if PAGE.language == "en" or not isinstance(data, dict):
            return data
        hardware, page = data.get("hardware"), data.get("page")
        if not isinstance(hardware, dict) or not isinstance(page, dict) or "measured_on" not in page:
            return data
        from vae.bench.markdown import hardware_line
        try:
            line = hardware_line(hardware, PAGE.language)
        except KeyError as err:
            raise PageValueError(f"docs/assets/bench/bench.json: no value 'hardware.{err.args[0]}'; "
                                 f"{what_regenerates('docs/assets/bench/')}") from None
        return {**data, "page": {**page, "measured_on": line}}
    return Record(read, record._file)


# ---------------------------------------------------------------------------------------------
# Blocks.


def run_downloads(assets: Path, link_prefix: str = "assets/runs") -> Markup:
    """A Markdown table: one row per run folder, one link per downloadable file that exists."""
    runs = sorted(p for p in (assets / "runs").iterdir() if p.is_dir()) if (assets / "runs").is_dir() else []
    if not runs:
        raise PageValueError(f"no run folders in {assets / 'runs'}; {REGENERATE}")
    from vae.language import translate
    lines = ["| " + " | ".join(translate(label, PAGE.language) for label in ("run", *(label for _, label in DOWNLOADS)))
             + " |",
             "|---|" + "---|" * len(DOWNLOADS)]
    for run in runs:
        name = html.escape(run.name)
        cells = [f"[{file}]({link_prefix}/{name}/{file})" if (run / file).is_file() else "–"
                 for file, _ in DOWNLOADS]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return Markup("\n".join(lines))


def explorer_labels() -> Markup:
    """The class names the latent explorer shows, in the page's language: a JSON map from each
    dataset's class names (as explorer.json writes them, in English) to the page's, in a
    `<script type="application/json" class="lx-labels">` that latent-explorer.js reads. The
    translations are the figures' own (vae.language, labels/<language>.yml); an English page maps
    each name to itself."""
    from vae.data import DATASETS
    from vae.language import translate
    names = {name: translate(name, PAGE.language) for spec in DATASETS.values() for name in spec.classes}
    # JSON in a script element: "<" written as an escape, so no name can end the element.
    text = json.dumps(names, ensure_ascii=False).replace("<", "\\u003c")
    return Markup(f'<script type="application/json" class="lx-labels">{text}</script>')


def layer_table(arch: str, latent: int, hidden: tuple[int, ...] | list[int] = (400,)) -> Markup:
    """A Markdown table of every layer of `build_model(arch, ...)`: output shape and parameters.

    The model is built by the package itself and a zero image (and a zero latent) is passed
    through it with forward hooks, so the table always matches `code/vae/models.py`.
    """
    import torch

    from vae.models import IMAGE_SHAPE, build_model, count_parameters
    from vae.report.tables import format_number

    model = build_model(arch, latent, tuple(hidden)).eval()
    rows: list[tuple[str, str, str, int]] = []

    def watch(part: str, name: str, module: torch.nn.Module) -> None:
        def hook(_module, _inputs, output):
            shape = " × ".join(str(d) for d in output.shape[1:])
            rows.append((part, f"`{name}` {_layer_kind(module)}", shape,
                         sum(p.numel() for p in module.parameters())))
        module.register_forward_hook(hook)

    for i, layer in enumerate(model.encoder):
        watch("encoder", f"encoder[{i}]", layer)
    watch("heads", "fc_mu", model.fc_mu)
    watch("heads", "fc_logvar", model.fc_logvar)
    for i, layer in enumerate(model.decoder):
        watch("decoder", f"decoder[{i}]", layer)
    with torch.no_grad():
        model.encode(torch.zeros(1, *IMAGE_SHAPE))
        model.decode(torch.zeros(1, latent))
    from vae.language import translate

    def words(*texts: str) -> list[str]:
        return [translate(text, PAGE.language) for text in texts]
    lines = ["| " + " | ".join(words("part", "layer", "output shape (per example)", "parameters")) + " |",
             "|---|---|---|--:|", "| {} | {} | {} | |".format(*words("input", "image"), " × ".join(map(str, IMAGE_SHAPE)))]
    lines += [f"| {translate(part, PAGE.language)} | {name} | {shape} | {format_number(params, 'count', PAGE.language)} |"
              for part, name, shape, params in rows]
    lines.append(f"| **{translate('total', PAGE.language)}** | | | "
                 f"**{format_number(count_parameters(model), 'count', PAGE.language)}** |")
    return Markup("\n".join(lines))


def _layer_kind(layer) -> str:
    from vae.language import translate
    kind = type(layer).__name__
    if hasattr(layer, "kernel_size"):
        k, st, pad = layer.kernel_size[0], layer.stride[0], layer.padding[0]
        # the class name is PyTorch's own, in every language; the words after it are translated
        return f"{kind} {layer.in_channels}→{layer.out_channels}, " + translate(
            f"kernel {k}, stride {st}, padding {pad}", PAGE.language)
    if hasattr(layer, "in_features"):
        return f"{kind} {layer.in_features}→{layer.out_features}"
    return kind


# ---------------------------------------------------------------------------------------------
# mkdocs-macros entry points.


def define_env(env) -> None:
    """Register the variables, filters and macros above with mkdocs-macros."""
    if env.config.get("on_undefined") != "strict" or not env.config.get("on_error_fail"):
        raise PluginError("mkdocs.yml: the macros plugin needs `on_undefined: strict` and "
                          "`on_error_fail: true`, so that a page cannot show a missing value")
    assets = Assets(Path(env.conf["docs_dir"]) / "assets")
    variables = {
        "asset": assets,
        "manifest": assets("manifest.json"), "classifier": assets("classifier.json"),
        "bench": edition_bench(assets), "findings": assets("findings.json"),
        "benchmark": assets("benchmark/manifest.json"),
        "tables": Folder(lambda name: assets(f"tables/{name}.json")),
        "runs": Folder(lambda name: SimpleNamespace(name=name, metrics=assets(f"runs/{name}/metrics.json"),
                                                    config=assets(f"runs/{name}/config.json"))),
        # The builder's own setting, written as it is: it goes into a shell command (a code block).
        "get_project": PerLanguage({language: f"git clone {env.conf['repo_url']} vae-report && cd vae-report"
                                    if env.conf.get("repo_url") else local for language, local in LOCAL_COPY.items()}),
    }
    for name, value in variables.items():
        env.variables[name] = value
    for quantity in ("nats", "auc", "per_pixel", "seconds", "minutes", "milliseconds", "count", "rate", "ratio",
                     "percent", "setting", "mean"):
        env.filter(_quantity_filter(quantity))
    env.filter(fmt)
    env.filter(words)
    env.macro(lambda name, form=None: say(assets, name, form), "say")
    env.macro(lambda arch, latent, hidden=(400,): layer_table(arch, latent, hidden), "layers")
    env.macro(lambda: run_downloads(assets.folder), "run_downloads")
    env.macro(explorer_labels, "explorer_labels")
    _report_errors_in_one_line()


def on_pre_page_macros(env) -> None:
    """Before each page: our finalize, no templating of notebook sources, no value opening a list."""
    # Read when a page is compiled (the plugin builds the Environment after define_env). A block
    # tag on its own line leaves no line behind, so an {% if %} inside a paragraph, indented in
    # an admonition or not, does not split it.
    env.env.finalize, env.env.trim_blocks, env.env.lstrip_blocks = finalize, True, True
    from vae.language import building
    PAGE.language = building(env.conf)
    source = env.page.file.src_uri
    if source.endswith(NOTEBOOK_SUFFIXES):
        # mkdocs-jupyter renders the notebook from its file; its Python may hold "{{" (f-strings).
        env.page.meta["render_macros"] = False
        return
    for number, line in enumerate(env.markdown.split("\n"), 1):
        if INDENTED_TAG.match(line) and BLOCK_TAG.sub("", line).strip():
            raise PluginError(f"{source}, line {number}: an indented line opens with a block tag and has text "
                              f"after it, and Jinja would take its indentation away (out of its admonition or "
                              f"tab); write '{{%+' to keep it ({line.strip()[:60]})")
    match = LIST_OPENER.search(env.markdown)
    if match:
        line = env.markdown.count("\n", 0, match.start()) + 1
        raise PluginError(f"{source}, line {line}: a value opens the line and a '.' or ')' follows it, "
                          f"so Markdown would start a numbered list there; move it into the line before "
                          f"({match[0].strip()})")


def _report_errors_in_one_line() -> None:
    """Make a failing page stop the build with one line that names the page, not a traceback.

    mkdocs-macros turns any exception of a page into a message made by `format_error` (and, with
    `on_error_fail`, exits with status 100). Registering our own formatter that raises a
    PluginError lets MkDocs report it like every other build error.
    """
    try:
        from jinja2 import TemplateSyntaxError
        from mkdocs_macros.errors import format_error
    except ImportError:   # another mkdocs-macros: its own message, the build still fails
        return

    @format_error.register(Exception)
    def _any(error: Exception, markdown: str, page) -> str:
        raise PluginError(f"{page.file.src_uri}: {error}") from None

    @format_error.register(TemplateSyntaxError)
    def _syntax(error: TemplateSyntaxError, markdown: str, page) -> str:
        raise PluginError(f"{page.file.src_uri}, line {error.lineno}: {error.message}") from None
