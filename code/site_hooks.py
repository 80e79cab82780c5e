"""MkDocs hooks of the report site (mkdocs.yml: `hooks: [code/site_hooks.py]`).

1. Values in prose. A page writes `{{ runs/mnist-conv-z2/metrics.json | test.elbo | .1f }}` and
   the build puts in the value from that JSON file under docs/assets/. A missing file or key
   stops the build, so a page can never show a number that the generator did not write.
2. No stale notebook outputs. mkdocs-jupyter caches an executed notebook under a key computed
   from the notebook's bytes (and a few options) only: after a retraining the notebook's bytes
   are the same, so the cache would serve outputs of the earlier models. The cache is forced off
   here and any cache file left by an earlier build is deleted.
3. Consistent assets. Before anything is built, `vae.consistency.check_assets` compares
   manifest.json, runs/ and tables/ and stops the build if they come from different reports.
4. Nothing from third parties. nbconvert's notebook template adds <script> tags for MathJax and
   Mermaid from public CDNs; the site renders math with its own KaTeX, so those tags are removed.
4. Words chosen by the numbers. `{{ compare a.json | key | b.json | key | lower / higher / equal }}`
   writes the first word when a < b, the second when a > b, the third when they are equal, so a
   sentence that compares two results stays true after a retraining; `{{ ratio a.json | key |
   b.json | key | .1f }}` writes a / b and `{{ difference ... }}` a − b.
5. A generated block keeps its place. A placeholder indented inside a content tab or an
   admonition gets every line of its (multi-line) value indented the same way, not only the first.
6. Figure and table numbers without gaps. pymdownx numbers captions in document order, so the
   figures of a hidden tab use up numbers. Here the tabs of one tab set share their numbers: each
   tab starts where the set starts, and the set uses up as many numbers as its longest tab.
7. Downloads. `{{ run_downloads }}` writes a table with a link to each file a reader may want
   of every run folder under docs/assets/runs/ (only the files that exist), and every notebook
   of docs/notebooks/ is also saved as .ipynb next to its page's copied .py source.
8. The repository link comes from the build environment (mkdocs.yml: `!ENV REPO_URL`);
   `{{ repo_url }}` writes it, or a neutral phrase when the build has none.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

log = logging.getLogger("mkdocs.hooks.site")

VALUE = re.compile(r"\{\{\s*(?P<file>[\w./-]+\.json)\s*\|\s*(?P<key>[\w.-]+)\s*(?:\|\s*(?P<fmt>[^}|]*?)\s*)?\}\}")
REMOTE_TAG = re.compile(
    r"<script\b[^>]*\bsrc=[\"']?(?:https?:)?//[^>]*>\s*</script>"
    r"|<link\b[^>]*\bhref=[\"']?(?:https?:)?//[^>]*\brel=[\"']?stylesheet[^>]*>"
    r"|<link\b[^>]*\brel=[\"']?stylesheet[\"']?[^>]*\bhref=[\"']?(?:https?:)?//[^>]*>"
    r"|<script\b[^>]*>[^<]*\bimport\s+\w+\s+from\s+[\"'](?:https?:)?//[^<]*</script>",
    re.IGNORECASE,
)
COMPARE = re.compile(r"\{\{\s*(?P<op>compare|ratio|difference)\s+(?P<file_a>[\w./-]+\.json)\s*\|\s*(?P<key_a>[\w.-]+)\s*\|"
                     r"\s*(?P<file_b>[\w./-]+\.json)\s*\|\s*(?P<key_b>[\w.-]+)\s*\|\s*(?P<arg>[^}|]*?)\s*\}\}")
RUN_DOWNLOADS = re.compile(r"\{\{\s*run_downloads\s*\}\}")
DOWNLOADS = (("config.json", "configuration"), ("history.csv", "history"), ("metrics.json", "metrics"),
             ("model.pt", "weights"), ("latents.npz", "latent codes"))
REPO_URL = re.compile(r"\{\{\s*repo_url\s*\}\}")
NO_REPO_URL = "<URL of this repository>"
CAPTION_PREFIX = re.compile(r'(<span class="caption-prefix">)(?P<text>[^<]*)(</span>)')
LAYERS = re.compile(r"\{\{\s*layers\s*\|\s*(?P<arch>\w+)\s*\|\s*latent=(?P<latent>\d+)"
                    r"(?:\s*\|\s*hidden=(?P<hidden>[\d,]+))?\s*\}\}")
JUPYTER_PLUGIN = "mkdocs-jupyter"


def _lookup(data: Any, key: str, where: str) -> Any:
    for part in key.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.lstrip("-").isdigit() and -len(data) <= int(part) < len(data):
            data = data[int(part)]
        else:
            raise PluginError(f"{where}: no value '{key}' (missing part '{part}'); "
                              "regenerate the assets with `python -m vae report`")
    return data


def _format(value: Any, fmt: str | None, where: str) -> str:
    if not fmt:
        text = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
    else:
        try:
            text = format(value, fmt)
        except (TypeError, ValueError) as err:
            raise PluginError(f"{where}: cannot format {value!r} with '{fmt}': {err}") from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        text = text.replace("-", "\u2212")  # a typographic minus, as in the tables
    return text


def choose_word(a: float, b: float, words: str) -> str:
    """`lower / higher / equal` -> the first word if a < b, the second if a > b, else the third."""
    options = [w.strip() for w in words.split("/")]
    if len(options) != 3 or not all(options):
        raise ValueError(f"expected three words 'if-less / if-greater / if-equal', got {words!r}")
    return options[0] if a < b else options[1] if a > b else options[2]


def indent_like_placeholder(markdown: str, start: int, value: str) -> str:
    """Indent the lines after the first of `value` like the placeholder that starts at `start`.

    Only when the placeholder opens its line (after spaces): then it is a block inside a tab or an
    admonition, and a table whose later lines lost the indentation would leave the block.
    """
    prefix = markdown[markdown.rfind("\n", 0, start) + 1:start]
    if prefix.strip() or "\n" not in value:
        return value
    return value.replace("\n", "\n" + prefix)


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


def run_downloads(assets: Path, link_prefix: str = "assets/runs") -> str:
    """A Markdown table: one row per run folder, one link per downloadable file that exists."""
    runs = sorted(p for p in (assets / "runs").iterdir() if p.is_dir()) if (assets / "runs").is_dir() else []
    if not runs:
        raise ValueError(f"no run folders in {assets / 'runs'}; run `python -m vae report`")
    lines = ["| run | " + " | ".join(label for _, label in DOWNLOADS) + " |",
             "|---|" + "---|" * len(DOWNLOADS)]
    for run in runs:
        cells = [f"[{name}]({link_prefix}/{run.name}/{name})" if (run / name).is_file() else "–"
                 for name, _ in DOWNLOADS]
        lines.append(f"| `{run.name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def layer_table(arch: str, latent_dim: int, hidden: tuple[int, ...] = (400,)) -> str:
    """A Markdown table of every layer of `build_model(arch, ...)`: output shape and parameters.

    The model is built by the package itself and a zero image (and a zero latent) is passed
    through it with forward hooks, so the table always matches `code/vae/models.py`.
    """

    code_dir = str(Path(__file__).resolve().parent)
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    import torch

    from vae.models import IMAGE_SHAPE, build_model, count_parameters

    model = build_model(arch, latent_dim, hidden).eval()
    rows: list[tuple[str, str, str, int]] = []

    def watch(part: str, name: str, module: torch.nn.Module) -> None:
        def hook(_module, _inputs, output):
            shape = " × ".join(str(d) for d in output.shape[1:])
            rows.append((part, f"`{name}` {_describe(module)}", shape,
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
        model.decode(torch.zeros(1, latent_dim))
    lines = ["| part | layer | output shape (per example) | parameters |", "|---|---|---|--:|",
             f"| input | image | {' × '.join(map(str, IMAGE_SHAPE))} | |"]
    lines += [f"| {part} | {name} | {shape} | {params:,} |" for part, name, shape, params in rows]
    lines.append(f"| **total** | | | **{count_parameters(model):,}** |")
    return "\n".join(lines)


def _describe(layer) -> str:
    kind = type(layer).__name__
    if hasattr(layer, "kernel_size"):
        k, st, pad = layer.kernel_size[0], layer.stride[0], layer.padding[0]
        return f"{kind} {layer.in_channels}→{layer.out_channels}, kernel {k}, stride {st}, padding {pad}"
    if hasattr(layer, "in_features"):
        return f"{kind} {layer.in_features}→{layer.out_features}"
    return kind


def on_config(config, **kwargs):
    plugin = config["plugins"].get(JUPYTER_PLUGIN)
    if plugin is not None:
        if plugin.config.get("cache"):
            log.info("mkdocs-jupyter cache forced off: it is keyed by notebook bytes only")
        plugin.config["cache"] = False
        cache_dir = Path(plugin.config.get("cache_dir") or ".cache/mkdocs-jupyter")
        if cache_dir.is_dir():
            shutil.rmtree(cache_dir, ignore_errors=True)
            log.info("deleted stale mkdocs-jupyter cache %s", cache_dir)
    return config


def on_pre_build(config, **kwargs):
    """Refuse assets whose runs, tables and manifest come from different reports (vae/consistency.py)."""
    code_dir = str(Path(__file__).resolve().parent)
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    from vae.consistency import InconsistentAssets, check_assets

    try:
        check_assets(Path(config["docs_dir"]) / "assets")
    except InconsistentAssets as err:
        raise PluginError(str(err)) from None


def on_page_markdown(markdown: str, page, config, files, **kwargs):
    assets = Path(config["docs_dir"]) / "assets"
    cache: dict[Path, Any] = {}

    def load(path: Path, where: str) -> Any:
        if path not in cache:
            try:
                cache[path] = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise PluginError(f"{where}: {path} does not exist; run `python -m vae report`") from None
            except (OSError, ValueError) as err:
                raise PluginError(f"{where}: cannot read {path}: {err}") from None
        return cache[path]

    def replace(match: re.Match) -> str:
        where = f"{page.file.src_uri}: {{{{ {match['file']} | {match['key']} }}}}"
        return _format(_lookup(load(assets / match["file"], where), match["key"], where), match["fmt"], where)

    def compare(match: re.Match) -> str:
        where = f"{page.file.src_uri}: {match[0]}"
        a = value(match["file_a"], match["key_a"], where)
        b = value(match["file_b"], match["key_b"], where)
        try:
            if match["op"] == "ratio":
                return _format(a / b, match["arg"], where)
            if match["op"] == "difference":
                return _format(a - b, match["arg"], where)
            return choose_word(a, b, match["arg"])
        except (TypeError, ValueError, ZeroDivisionError) as err:
            raise PluginError(f"{where}: {err}") from None

    def value(file: str, key: str, where: str) -> Any:
        return _lookup(load(assets / file, where), key, where)

    def layers(match: re.Match) -> str:
        hidden = tuple(int(h) for h in match["hidden"].split(",")) if match["hidden"] else (400,)
        try:
            return layer_table(match["arch"], int(match["latent"]), hidden)
        except Exception as err:  # an unknown architecture or a broken model: stop the build
            raise PluginError(f"{page.file.src_uri}: cannot describe {match[0]}: {err}") from err

    def indented(function):
        return lambda match: indent_like_placeholder(match.string, match.start(), function(match))

    def downloads(_match: re.Match) -> str:
        try:
            return run_downloads(assets)
        except (OSError, ValueError) as err:
            raise PluginError(f"{page.file.src_uri}: {err}") from None

    markdown = RUN_DOWNLOADS.sub(indented(downloads), markdown)
    repo_url = config.get("repo_url") or NO_REPO_URL
    markdown = REPO_URL.sub(lambda _match: repo_url, markdown)
    markdown = COMPARE.sub(compare, markdown)
    markdown = VALUE.sub(indented(replace), markdown)
    return LAYERS.sub(indented(layers), markdown)


def on_page_content(html: str, page, config, files, **kwargs):
    source = page.file.src_uri
    if source.startswith("notebooks/") and source.endswith(".py"):
        # The notebook page offers its own source, next to it in the built site (on_post_build).
        stem = Path(source).stem
        html = (f'<p class="notebook-downloads">Download this notebook: '
                f'<a href="{stem}.ipynb" download>{stem}.ipynb</a> (Jupyter) or '
                f'<a href="{stem}.py" download>{stem}.py</a> (Python, percent format). '
                "It runs from <code>docs/notebooks/</code> of a clone, where it finds the assets.</p>\n") + html
    return renumber_captions(html)


def on_post_build(config, **kwargs):
    """Save every notebook of docs/notebooks/ as .ipynb beside the .py that mkdocs-jupyter copies."""
    import jupytext

    for source in sorted((Path(config["docs_dir"]) / "notebooks").glob("*.py")):
        target = Path(config["site_dir"]) / "notebooks" / source.stem / f"{source.stem}.ipynb"
        if target.parent.is_dir():
            jupytext.write(jupytext.read(source), target)


def on_post_page(output: str, page, config, **kwargs):
    cleaned, removed = REMOTE_TAG.subn("", output)
    if removed:
        log.debug("%s: removed %d third-party script/style tag(s)", page.file.src_uri, removed)
    return cleaned
