"""The latent explorer in headless Chromium, on the real site built from docs/assets.

A mouse click on the epoch slider must change the samples to that epoch's row of frames.png (in
the figures' grey levels), Play and Pause must run and stop the animation, the explorer must fit
a phone in both palettes, without JavaScript the static figure stays, and on the Portuguese page
every text it shows is Portuguese. Screenshots at 1400 and 400 px, light and dark, go to
$SITE_SCREENSHOTS (default: a temporary folder). The model in the
page (drawing, the pointer's decode, test images, interpolation) is tests/test_explorer_model_browser.py's.
The site is built once per session and driven through Playwright (tests/support/site.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from support.site import screenshot_folder

from support.explorer_images import read_png, sprite_cell
from vae.data import FASHION_MNIST
from vae.figures import display_grey
from vae.language import translate

ASSETS = Path(__file__).resolve().parents[1] / "docs" / "assets" / "runs" / "mnist-conv-z2" / "explorer"
EXPLORER = ".latent-explorer[data-explorer='assets/runs/mnist-conv-z2/explorer']"
FASHION = ".latent-explorer[data-explorer='assets/runs/fashion-mnist-conv-z2/explorer']"
GRAY_TOLERANCE = 2   # canvas pixels of a drawn grayscale PNG; colour management may move one level

# The 28 x 28 image a canvas shows: the centre pixel of each of its 28 x 28 blocks (red channel).
CANVAS_CELL = r"""
((selector, left, top, size) => {
  const canvas = document.querySelector(selector);
  const data = canvas.getContext('2d').getImageData(left, top, size, size).data;
  const step = size / 28, values = [];
  for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++) {
    const x = Math.floor((c + 0.5) * step), y = Math.floor((r + 0.5) * step);
    values.push(data[(y * size + x) * 4]);
  }
  return values;
})(%s, %d, %d, %d)
"""


def _canvas_cell(page, selector: str, left: int = 0, top: int = 0, size: int | None = None) -> np.ndarray:
    if size is None:
        size = page.evaluate(f"document.querySelector({json.dumps(selector)}).width")
    values = page.evaluate(CANVAS_CELL % (json.dumps(selector), left, top, size))
    return np.array(values, dtype=np.int16).reshape(28, 28)


def _wait(page, expression: str, timeout_s: float = 20.0):
    """The value of `expression` once it is truthy, or its last value after `timeout_s`."""
    try:
        page.wait_for_function(expression, timeout=timeout_s * 1000)
    except Exception:  # Playwright's TimeoutError: the caller reports the value it got
        pass
    return page.evaluate(expression)


def _click_at(page, x: float, y: float) -> None:
    """A real pointer: move there, press and release the left button."""
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.up()


def _box(page, selector: str) -> dict:
    return page.evaluate(f"""(() => {{ const el = document.querySelector({json.dumps(selector)});
        el.scrollIntoView({{block: 'center'}}); const r = el.getBoundingClientRect();
        return {{left: r.left, top: r.top, width: r.width, height: r.height}}; }})()""")


def _pixel_of(box: dict, z: tuple[float, float], extent: float) -> tuple[float, float]:
    """The page pixel of latent point z on the plane, which spans [-extent, extent] on both axes (z2 up)."""
    return (box["left"] + (z[0] + extent) / (2 * extent) * box["width"],
            box["top"] + (extent - z[1]) / (2 * extent) * box["height"])


def _open_explorer(page, url: str) -> None:
    page.goto(url)
    ready = _wait(page, f"document.querySelector(\"{EXPLORER}\").dataset.ready")
    assert ready == "true", f"the explorer did not start (data-ready={ready!r}); see the browser console"


@pytest.fixture(scope="module")
def spec() -> dict:
    return json.loads((ASSETS / "explorer.json").read_text())


@pytest.mark.browser
@pytest.mark.slow
def test_epoch_slider_changes_the_picture(site_browser, spec, tmp_path_factory):
    frames = spec["frames"]
    assert frames and len(frames["epochs"]) >= 2 and frames["epochs"][0] == 0, "no epoch frames were generated"
    page = site_browser.new_page(width=1400, height=1000)
    _open_explorer(page, f"{site_browser.url}/latent-space/")
    samples = f"{EXPLORER} .lx-samples"
    last_epoch = page.evaluate(f"document.querySelector(\"{EXPLORER}\").dataset.epoch")
    assert last_epoch == str(frames["epochs"][-1])
    before = page.evaluate(f"document.querySelector(\"{samples}\").toDataURL()")
    slider = _box(page, f"{EXPLORER} input[type=range]")
    _click_at(page, slider["left"] + 2, slider["top"] + slider["height"] / 2)   # the slider's left end: epoch 0
    assert _wait(page, f"document.querySelector(\"{EXPLORER}\").dataset.epoch === '0'")
    assert page.evaluate(f"document.querySelector(\"{samples}\").toDataURL()") != before
    sprite = read_png(ASSETS / frames["sprite"])
    for k in (0, frames["samples"] - 1):      # first and last sample of epoch 0's row
        left, top = (k % 8) * 28, (k // 8) * 28
        # drawn in the figures' grey levels (dark ink on white), as every static figure is
        expected = np.round(255 * display_grey(sprite_cell(sprite, 0, k) / 255)).astype(np.int16)
        assert np.abs(_canvas_cell(page, samples, left, top, 28) - expected).max() <= GRAY_TOLERANCE

    # Play, then Pause: the animation advances and stops when asked.
    page.click(f"{EXPLORER} .lx-play")
    assert _wait(page, f"document.querySelector(\"{EXPLORER}\").dataset.epoch !== '0'", timeout_s=5)
    page.click(f"{EXPLORER} .lx-play")
    paused_at = page.evaluate(f"document.querySelector(\"{EXPLORER}\").dataset.epoch")
    page.wait_for_timeout(2000)
    assert page.evaluate(f"document.querySelector(\"{EXPLORER}\").dataset.epoch") == paused_at


@pytest.mark.browser
@pytest.mark.slow
def test_explorer_fits_a_phone_and_both_palettes(site_browser, spec, tmp_path_factory):
    screens = screenshot_folder(tmp_path_factory, "explorer-screens")
    z, extent = np.array(spec["points"]["z"]).reshape(-1, 2), spec["extent"]
    for width in (1400, 400):
        page = site_browser.new_page(width=width, height=1000)
        _open_explorer(page, f"{site_browser.url}/latent-space/")
        box = _box(page, f"{EXPLORER} .lx-plane")
        x, y = _pixel_of(box, (z[0, 0], z[0, 1]), extent)      # on test image 1
        _click_at(page, x, y)
        right = page.evaluate(f"Math.max(...[...document.querySelectorAll(\"{EXPLORER} *\")]"
                              ".map(el => el.getBoundingClientRect().right))")
        assert right <= width, f"the explorer overflows a {width} px window ({right:.0f} px)"
        assert box["width"] >= min(250, width - 60), f"plane only {box['width']:.0f} px wide at {width} px"
        for scheme in ("default", "slate"):
            page.evaluate(f"document.body.setAttribute('data-md-color-scheme', '{scheme}')")
            background = page.evaluate(f"""(() => {{ const c = document.querySelector("{EXPLORER} .lx-plane");
                return [...c.getContext('2d').getImageData(2, 2, 1, 1).data.slice(0, 3)]; }})()""")
            page_colour = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert f"rgb({background[0]}, {background[1]}, {background[2]})" == page_colour, \
                f"{scheme}: plane background {background} is not the page's {page_colour}"
            shot = _box(page, EXPLORER)
            clip = {"x": 0, "y": shot["top"] + page.evaluate("window.scrollY") - 8, "width": width,
                    "height": min(shot["height"] + 16, 3000)}
            page.screenshot(path=str(screens / f"explorer-{width}-{scheme}.png"), clip=clip, full_page=True)
    print(f"screenshots in {screens}")


@pytest.mark.browser
@pytest.mark.slow
def test_without_javascript_the_static_manifold_figure_stays(site_browser):
    page = site_browser.new_page(width=1400, height=1000, java_script_enabled=False)
    page.goto(f"{site_browser.url}/latent-space/")
    seen = page.evaluate(f"""(() => {{
        const root = document.querySelector("{EXPLORER}");
        const manifold = [...document.querySelectorAll('img')]
            .find(img => img.src.endsWith('mnist-conv-z2/manifold.png'));
        manifold.scrollIntoView();
        return {{canvases: root.querySelectorAll('canvas').length,
                 fallback: root.querySelector('a[href="#the-learned-manifold"]') !== null && root.offsetHeight > 0,
                 manifold: manifold.getBoundingClientRect().height}};
    }})()""")
    assert seen["canvases"] == 0 and seen["fallback"], seen
    assert seen["manifold"] > 100, f"the static manifold figure is not shown without JavaScript: {seen}"




# What the explorers of a page show: the pad's buttons, the shapes' row, the epoch slider's name
# and label, the Play button, the pointer's z, and the Fashion-MNIST legend.
SHOWN_WORDS = r"""
(([mnist, fashion]) => {
  const texts = (root, selector) => [...document.querySelector(root).querySelectorAll(selector)]
    .map((el) => el.textContent.trim());
  const one = (root, selector) => document.querySelector(root).querySelector(selector);
  return {buttons: texts(fashion, '.lx-buttons:not(.lx-shapes) > button'),
          shapes: texts(fashion, '.lx-shapes > *'),
          slider: one(mnist, '.lx-epoch').getAttribute('aria-label'),
          epoch: one(mnist, '.lx-epoch-label').textContent, play: one(mnist, '.lx-play').textContent,
          pad: one(mnist, '.lx-pad').getAttribute('aria-label'), z: one(mnist, '.lx-z').textContent,
          legend: texts(fashion, '.lx-legend li')};
})"""


@pytest.mark.browser
@pytest.mark.slow
def test_the_explorer_speaks_the_language_of_its_page(site_browser, spec):
    """On pt/latent-space/ the explorer's buttons, the epoch slider, the z readout (decimal comma) and
    the Fashion-MNIST class names of its legend are Portuguese; the English page keeps English."""
    last = spec["frames"]["epochs"][-1]
    expected = {
        "en": {"buttons": ["Undo", "Clear", "New sample", "Fill"],
               "shapes": ["Start from:", "Trousers", "Shoe", "T-shirt"], "slider": "epoch",
               "epoch": f"epoch {last} of {last}", "play": "Play", "pad": "Drawing pad:",
               "z": "z = (0.00, 0.00)", "legend": list(FASHION_MNIST.classes)},
        "pt": {"buttons": ["Desfazer", "Limpar", "Nova amostra", "Preencher"],
               "shapes": ["Começar de:", "Calça", "Tênis", "Camiseta"], "slider": "época",
               "epoch": f"época {last} de {last}", "play": "Reproduzir", "pad": "Área de desenho:",
               "z": "z = (0,00; 0,00)", "legend": [translate(name, "pt") for name in FASHION_MNIST.classes]},
    }
    assert "Bota de cano curto" in expected["pt"]["legend"]
    for language, prefix in (("en", ""), ("pt", "pt/")):
        page = site_browser.new_page(width=1400, height=1000)
        _open_explorer(page, f"{site_browser.url}/{prefix}latent-space/")
        for root in (EXPLORER, FASHION):
            ready = _wait(page, f"document.querySelector(\"{root}\").dataset.ready === 'true' "
                                f"&& document.querySelector(\"{root}\").dataset.busy === 'false'")
            assert ready, f"{language}: {root} did not start"
        seen = page.evaluate(SHOWN_WORDS, [EXPLORER, FASHION])
        seen["pad"] = seen["pad"].split(":")[0] + ":"
        assert seen == expected[language], f"{language}: {seen}"
