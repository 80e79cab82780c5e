"""The drawing pad on filled silhouettes (Fashion-MNIST): the hint, Fill and the shapes to start from.

A model trained on filled grey garments places hand-drawn outlines among the wrong classes (an
outlined trouser among dresses, an outlined shoe among bags). Where the test images are filled
silhouettes, the explorer says what the model expects and offers Fill (each new stroke closed and
filled in the test images' typical grey) and garment shapes to start from. These tests drive the
explorer's scripts in headless Chromium on a minimal page serving the report's own explorer folders
(docs/assets/runs/<run>/explorer, the trained models), through the reader's input path: mouse drags
on the pad and clicks on the buttons. A filled trouser and a filled shoe must land among test images
of their class (the k nearest of explorer.json's points to the page's mu); an outline drawn without
Fill must give the same input as before Fill existed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from support.explorer_images import drag_on_pad, read_png, sprite_cell

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "assets" / "runs"
DATASETS = {"mnist": "mnist-conv-z2", "fashion-mnist": "fashion-mnist-conv-z2"}
SCRIPTS = ("vae-model.js", "latent-explorer.js")
K = 15                 # nearest test points read for a drawing's class
MAJORITY = 0.5         # "among its class": more than half of them
FOOTWEAR = ("Sandal", "Sneaker", "Ankle boot")
FILLED = 0.6           # a filled input's ink covers more of its box than this (the page's own threshold)

# Closed outlines in pad fractions (x right, y down), as a reader draws them in one stroke.
# The trouser is proportioned as the test set's are (width 0.36 of its height; their median is 0.39):
# the model tells trousers from dresses mostly by that ratio, and one 0.45 wide lands among dresses.
TROUSER = [(0.37, 0.10), (0.63, 0.10), (0.645, 0.90), (0.54, 0.90), (0.50, 0.32), (0.46, 0.90), (0.355, 0.90),
           (0.37, 0.10)]
SHOE = [(0.06, 0.62), (0.20, 0.52), (0.40, 0.47), (0.58, 0.38), (0.75, 0.42), (0.92, 0.36), (0.94, 0.68),
        (0.06, 0.68), (0.06, 0.62)]


def explorer(dataset: str) -> str:
    return f".latent-explorer[data-explorer='{DATASETS[dataset]}']"


@pytest.fixture(scope="module")
def specs() -> dict:
    return {d: json.loads((RUNS / run / "explorer" / "explorer.json").read_text()) for d, run in DATASETS.items()}


@pytest.fixture(scope="module")
def pad_site(tmp_path_factory) -> Path:
    """Both explorers of the Latent space page, side by side on one plain page (no site build)."""
    site = tmp_path_factory.mktemp("pad-site")
    for run in DATASETS.values():
        if not (RUNS / run / "explorer" / "explorer.json").is_file():
            pytest.skip(f"docs/assets has no explorer for {run}; run `python -m vae report` (make report) first")
        shutil.copytree(RUNS / run / "explorer", site / run)
    for name in SCRIPTS:
        shutil.copy(ROOT / "docs" / "javascripts" / name, site / name)
    shutil.copy(ROOT / "docs" / "stylesheets" / "explorer.css", site / "explorer.css")
    blocks = "".join(f'<div class="latent-explorer" data-explorer="{run}"><p>JavaScript off.</p></div>'
                     for run in DATASETS.values())
    (site / "index.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>pad</title><link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="explorer.css"></head><body style="width: 900px">{blocks}'
        + "".join(f'<script src="{name}"></script>' for name in SCRIPTS) + "</body></html>", encoding="utf-8")
    return site


@pytest.fixture
def page(chromium, pad_site):
    import site_pdf

    with site_pdf.serve_folder(pad_site) as url:
        context = chromium.new_context(viewport={"width": 1000, "height": 900}, device_scale_factor=1)
        opened = context.new_page()
        errors: list[str] = []
        opened.on("pageerror", lambda error: errors.append(str(error)))
        opened.goto(f"{url}/index.html")
        for dataset in DATASETS:
            opened.wait_for_function(f"document.querySelector(\"{explorer(dataset)}\").dataset.ready === 'true'",
                                     timeout=30_000)
        yield opened
        assert not errors, errors
        context.close()


def _settle(page, dataset: str) -> None:
    page.wait_for_function(f"document.querySelector(\"{explorer(dataset)}\").dataset.busy === 'false'")


def _draw(page, dataset: str, stroke) -> None:
    """One stroke as a real mouse drag over the pad, with points in between."""
    pad = page.locator(f"{explorer(dataset)} .lx-pad")
    pad.scroll_into_view_if_needed()
    drag_on_pad(page, pad.bounding_box(), [stroke])
    _settle(page, dataset)


def _press(page, dataset: str, selector: str) -> None:
    page.locator(f"{explorer(dataset)} {selector}").click()
    _settle(page, dataset)


def _shown(page, dataset: str) -> dict:
    return page.evaluate("""(selector) => { const e = document.querySelector(selector).explorer;
        return {input: e.input && Array.from(e.input), mu: e.mu && Array.from(e.mu), silhouette: e.silhouette,
                source: document.querySelector(selector + ' .lx-source').textContent}; }""", explorer(dataset))


def _nearest(spec: dict, mu) -> list[str]:
    """The class names of the K test points nearest to mu on the plane."""
    z = np.array(spec["points"]["z"]).reshape(-1, 2)
    order = np.argsort(((z - np.array(mu)) ** 2).sum(1))[:K]
    return [spec["classes"][spec["points"]["labels"][i]] for i in order]


def _coverage(values) -> float:
    """The share of its ink's bounding box that an image's ink (intensity over 0.1) covers."""
    ink = np.reshape(values, (28, 28)) > 0.1
    rows, columns = np.nonzero(ink)
    return ink.sum() / ((rows.max() - rows.min() + 1) * (columns.max() - columns.min() + 1))


def _share(names: list[str], wanted) -> float:
    return sum(name in wanted for name in names) / len(names)


@pytest.mark.browser
def test_the_hint_fill_and_shapes_are_offered_only_for_filled_silhouettes(page, specs):
    """Fashion-MNIST's test images are filled silhouettes, MNIST's are pen strokes: only the first gets the tools."""
    seen = page.evaluate("""(selectors) => selectors.map((selector) => {
        const root = document.querySelector(selector), hint = root.querySelector('.lx-hint');
        return {hint: hint && hint.textContent, fill: root.querySelector('.lx-fill')?.getAttribute('aria-pressed'),
                shapes: Array.from(root.querySelectorAll('.lx-shape'), (b) => [b.textContent, b.getAttribute('aria-label')]),
                silhouette: root.explorer.silhouette}; })""", [explorer("mnist"), explorer("fashion-mnist")])
    mnist, fashion = seen
    assert mnist["hint"] is None and mnist["fill"] is None and mnist["shapes"] == [], mnist
    assert not mnist["silhouette"]["filled"] and fashion["silhouette"]["filled"], seen
    assert "filled grey silhouettes" in fashion["hint"] and fashion["fill"] == "false", fashion
    assert [text for text, _ in fashion["shapes"]] == ["Trousers", "Shoe", "T-shirt"], fashion["shapes"]
    assert all(label.startswith("Start from a filled") for _, label in fashion["shapes"]), fashion["shapes"]
    # The fill's grey is the test images' median ink intensity, as Python measures it from the same sprite.
    spec = specs["fashion-mnist"]
    sprite = read_png(RUNS / DATASETS["fashion-mnist"] / "explorer" / spec["points"]["originals"])
    inks = []
    for n in range(spec["points"]["count"]):
        cell = sprite_cell(sprite, *divmod(n, spec["points"]["columns"])) / 255
        inks.append(np.median(cell[cell > 0.1]))
    assert abs(fashion["silhouette"]["grey"] - np.median(inks)) <= 1 / 255, (fashion["silhouette"], np.median(inks))

    # Fill is a toggle the keyboard reaches: Tab to it, Space presses it.
    page.locator(f"{explorer('fashion-mnist')} .lx-resample").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('lx-fill')")
    page.keyboard.press("Space")
    assert page.locator(f"{explorer('fashion-mnist')} .lx-fill").get_attribute("aria-pressed") == "true"


@pytest.mark.browser
@pytest.mark.parametrize("how", ["fill", "shape"])
@pytest.mark.parametrize("garment", ["trouser", "shoe"])
def test_a_filled_trouser_and_shoe_land_among_their_classes(page, specs, garment, how):
    """Drawn with Fill on (a closed outline, one mouse stroke) or started from its shape: a trouser lands
    among Trousers, a shoe among footwear (Sandal, Sneaker, Ankle boot), by the K nearest test points."""
    spec = specs["fashion-mnist"]
    wanted = ("Trouser",) if garment == "trouser" else FOOTWEAR
    if how == "fill":
        _press(page, "fashion-mnist", ".lx-fill")
        _draw(page, "fashion-mnist", TROUSER if garment == "trouser" else SHOE)
    else:
        _press(page, "fashion-mnist", f".lx-shape[data-shape='{'Trouser' if garment == 'trouser' else 'Sneaker'}']")
    shown = _shown(page, "fashion-mnist")
    assert shown["mu"] is not None, f"the filled {garment} gave no encoding"
    image = np.reshape(shown["input"], (28, 28))
    grey = shown["silhouette"]["grey"]
    # Filled: most of the ink's box is ink, at the test images' grey (no full-intensity outline).
    assert _coverage(image) > FILLED and image.max() <= grey + 1e-6, (_coverage(image), image.max())
    names = _nearest(spec, shown["mu"])
    share = _share(names, wanted)
    print(f"filled {garment} ({how}): mu = {np.round(shown['mu'], 2).tolist()}, {K} nearest: {names}, "
          f"share {'/'.join(wanted)} = {share:.2f}")
    assert share > MAJORITY, f"the filled {garment} ({how}) lands among {names}"


@pytest.mark.browser
def test_an_outline_without_fill_is_the_input_it_always_was(page, specs):
    """Fill off (the default), an outline is ink as before: pressing Fill on and off again changes nothing,
    strokes drawn before Fill stay outlines, and the same outline with Fill on is filled."""
    spec = specs["fashion-mnist"]
    _draw(page, "fashion-mnist", TROUSER)
    outline = _shown(page, "fashion-mnist")
    image = np.reshape(outline["input"], (28, 28))
    assert image.max() == 1.0, "the outline is no longer full ink"
    print(f"outlined trouser, no fill: {K} nearest: {_nearest(spec, outline['mu'])}")

    _press(page, "fashion-mnist", ".lx-fill")
    _press(page, "fashion-mnist", ".lx-fill")
    _press(page, "fashion-mnist", ".lx-clear")
    _draw(page, "fashion-mnist", TROUSER)
    again = _shown(page, "fashion-mnist")
    assert np.array_equal(again["input"], outline["input"]) and again["mu"] == outline["mu"]

    _press(page, "fashion-mnist", ".lx-fill")       # on: the outline already drawn stays as it is
    assert _shown(page, "fashion-mnist")["input"] == outline["input"]
    _press(page, "fashion-mnist", ".lx-clear")
    _draw(page, "fashion-mnist", TROUSER)
    filled = _shown(page, "fashion-mnist")
    assert _coverage(filled["input"]) > FILLED and np.max(filled["input"]) <= filled["silhouette"]["grey"] + 1e-6, \
        (_coverage(filled["input"]), np.max(filled["input"]))
