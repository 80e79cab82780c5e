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
        return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
    try:
        return format(value, fmt)
    except (TypeError, ValueError) as err:
        raise PluginError(f"{where}: cannot format {value!r} with '{fmt}': {err}") from None


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

    def replace(match: re.Match) -> str:
        path = assets / match["file"]
        where = f"{page.file.src_uri}: {{{{ {match['file']} | {match['key']} }}}}"
        if path not in cache:
            try:
                cache[path] = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise PluginError(f"{where}: {path} does not exist; run `python -m vae report`") from None
            except (OSError, ValueError) as err:
                raise PluginError(f"{where}: cannot read {path}: {err}") from None
        return _format(_lookup(cache[path], match["key"], where), match["fmt"], where)

    def layers(match: re.Match) -> str:
        hidden = tuple(int(h) for h in match["hidden"].split(",")) if match["hidden"] else (400,)
        try:
            return layer_table(match["arch"], int(match["latent"]), hidden)
        except Exception as err:  # an unknown architecture or a broken model: stop the build
            raise PluginError(f"{page.file.src_uri}: cannot describe {match[0]}: {err}") from err

    return LAYERS.sub(layers, VALUE.sub(replace, markdown))


def on_post_page(output: str, page, config, **kwargs):
    cleaned, removed = REMOTE_TAG.subn("", output)
    if removed:
        log.debug("%s: removed %d third-party script/style tag(s)", page.file.src_uri, removed)
    return cleaned
