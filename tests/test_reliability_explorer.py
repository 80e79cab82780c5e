"""The live model of the Latent space page refuses damaged files and says so in the page.

The explorer's scripts (docs/javascripts/vae-model.js, latent-explorer.js) run in headless Chromium
on a minimal page served from a temporary folder, with an explorer folder written by
code/vae/explorer.py from a small untrained model; each case damages one file. Each test is tagged
with the guarantee it checks (tests/support/reliability.py) for docs/includes/robustness.md.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from support.reliability import guarantee

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ("vae-model.js", "latent-explorer.js")
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>explorer</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="explorer.css"></head><body>
<div class="latent-explorer" data-explorer="explorer"><p class="fallback">The explorer runs the model with JavaScript.</p></div>
<script src="vae-model.js"></script><script src="latent-explorer.js"></script></body></html>"""


def _append_64_mb(folder: Path) -> None:
    with open(folder / "model.bin", "ab") as f:
        f.write(bytes(64 * 2**20))


def _nan_filled(folder: Path) -> None:
    size = (folder / "model.bin").stat().st_size
    (folder / "model.bin").write_bytes(np.full(size // 4, np.nan, dtype="<f4").tobytes())


def _one_infinity(folder: Path) -> None:
    floats = np.fromfile(folder / "model.bin", dtype="<f4")
    floats[len(floats) // 2] = np.inf
    (folder / "model.bin").write_bytes(floats.tobytes())


def _truncated(folder: Path) -> None:
    data = (folder / "model.bin").read_bytes()
    (folder / "model.bin").write_bytes(data[:len(data) // 2])


def _edit_spec(change) -> callable:
    def edit(folder: Path) -> None:
        spec = json.loads((folder / "explorer.json").read_text())
        change(spec)
        (folder / "explorer.json").write_text(json.dumps(spec))
    return edit


# case -> (damage, what the page must say)
DAMAGES = {
    "model-bin-cut-in-half": (_truncated, "bytes, expected"),
    "model-bin-empty": (lambda f: (f / "model.bin").write_bytes(b""), "is 0 bytes, expected"),
    "model-bin-64-mb-appended": (_append_64_mb, "bytes, expected"),
    "model-bin-full-of-nan": (_nan_filled, "not a number or infinite"),
    "model-bin-one-infinity": (_one_infinity, "not a number or infinite"),
    "model-bin-missing": (lambda f: (f / "model.bin").unlink(), "model.bin could not be loaded (HTTP 404)"),
    "explorer-json-missing": (lambda f: (f / "explorer.json").unlink(), "explorer.json could not be loaded (HTTP 404)"),
    "explorer-json-not-json": (lambda f: (f / "explorer.json").write_text('{"model": {'), "explorer.json is not valid JSON"),
    "explorer-json-without-model": (_edit_spec(lambda s: s.pop("model")), "explorer.json is malformed"),
    "explorer-json-layer-of-another-shape": (_edit_spec(lambda s: s["model"]["decoder"][0].update(out=7)),
                                             "explorer.json's model is malformed"),
}


@pytest.fixture(scope="module")
def explorer_files(tmp_path_factory) -> Path:
    """An explorer folder as the report writes it, from a small untrained MLP VAE."""
    from vae import explorer
    from vae.data import Splits
    from vae.models import MLPVAE

    torch.manual_seed(0)
    x = torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = torch.arange(40) % 10
    splits = Splits(train_x=x, train_y=y, val_x=x, val_y=y, test_x=x, test_y=y, classes=tuple(map(str, range(10))))
    folder = tmp_path_factory.mktemp("explorer-files")
    explorer.write_explorer(MLPVAE(latent_dim=2, hidden=(32,)).eval(), splits, folder, points=20)
    return folder


def _serve(tmp_path: Path, explorer_files: Path, damage) -> Path:
    site = tmp_path / "site"
    shutil.copytree(explorer_files, site / "explorer")
    for name in SCRIPTS:
        shutil.copy(ROOT / "docs" / "javascripts" / name, site / name)
    shutil.copy(ROOT / "docs" / "stylesheets" / "explorer.css", site / "explorer.css")
    (site / "index.html").write_text(PAGE, encoding="utf-8")
    if damage is not None:
        damage(site / "explorer")
    return site


def _open(chromium, site: Path) -> tuple[object, list[str]]:
    import site_pdf

    console: list[str] = []
    with site_pdf.serve_folder(site) as url:
        context = chromium.new_context()
        page = context.new_page()
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.goto(f"{url}/index.html")
        page.wait_for_function("document.querySelector('.latent-explorer').dataset.ready", timeout=30_000)
        state = page.evaluate("""() => { const root = document.querySelector('.latent-explorer');
            const error = root.querySelector('.lx-error'), fallback = root.querySelector('.fallback');
            return {ready: root.dataset.ready, error: error && error.textContent,
                    errorShown: !!error && error.offsetParent !== null,
                    fallbackShown: fallback.offsetParent !== null}; }""")
        context.close()
    return state, console


@guarantee("assets")
@pytest.mark.browser
def test_the_explorer_starts_from_the_files_the_report_writes(chromium, explorer_files, tmp_path):
    """The explorer's files as the report writes them: the live model starts, with no error in the page or console."""
    state, console = _open(chromium, _serve(tmp_path, explorer_files, None))
    assert state["ready"] == "true" and state["error"] is None, (state, console)
    assert not [line for line in console if line.startswith("error")], console


@guarantee("assets")
@pytest.mark.browser
@pytest.mark.parametrize("case", list(DAMAGES))
def test_a_damaged_or_missing_model_file_is_named_in_the_page_never_ready(case, chromium, explorer_files, tmp_path):
    """A model.bin or explorer.json damaged or missing: the page names it and the fix, logs an error, is never ready.

    Cut in half, empty, 64 MB appended, NaN or an infinity in model.bin; explorer.json missing, not JSON, without
    its model, or with a layer whose shape does not match its weights."""
    damage, says = DAMAGES[case]
    state, console = _open(chromium, _serve(tmp_path, explorer_files, damage))
    assert state["ready"] == "failed", (state, console)
    assert state["errorShown"] and says in state["error"] and "python -m vae report" in state["error"], state
    assert not state["fallbackShown"], "the page still blames JavaScript being off"
    assert any(line.startswith("error: latent explorer:") and says in line for line in console), console
