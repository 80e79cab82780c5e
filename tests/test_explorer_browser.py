"""The latent explorer in headless Chromium, on the real site built from docs/assets.

A mouse click on the epoch slider must change the samples to that epoch's row of frames.png, Play
and Pause must run and stop the animation, the explorer must fit a phone in both palettes, and
without JavaScript the static figure stays. Screenshots at 1400 and 400 px, light and dark, go to
$SITE_SCREENSHOTS (default: a temporary folder). The model in the page (drawing, the pointer's
decode, test images, interpolation) is tests/test_explorer_model_browser.py's.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

# The DevTools client and the built, served site of the browser test of every page.
from support.chromium import Tab
from test_site import browser, built_site, served_site  # noqa: F401

from vae.explorer import read_png, sprite_cell
from vae.figures import display_grey

ASSETS = Path(__file__).resolve().parents[1] / "docs" / "assets" / "explorer" / "mnist"
EXPLORER = ".latent-explorer[data-explorer='assets/explorer/mnist']"
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


def _canvas_cell(tab: Tab, selector: str, left: int = 0, top: int = 0, size: int | None = None) -> np.ndarray:
    if size is None:
        size = tab.js(f"document.querySelector({json.dumps(selector)}).width")
    values = tab.js(CANVAS_CELL % (json.dumps(selector), left, top, size))
    return np.array(values, dtype=np.int16).reshape(28, 28)


def _wait(tab: Tab, expression: str, timeout_s: float = 20.0):
    deadline = time.monotonic() + timeout_s
    value = tab.js(expression)
    while not value and time.monotonic() < deadline:
        time.sleep(0.1)
        value = tab.js(expression)
    return value


def _mouse(tab: Tab, kind: str, x: float, y: float) -> None:
    tab.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left" if kind != "mouseMoved"
                                          else "none", "clickCount": 1 if kind != "mouseMoved" else 0})


def _box(tab: Tab, selector: str) -> dict:
    return tab.js(f"""(() => {{ const el = document.querySelector({json.dumps(selector)});
        el.scrollIntoView({{block: 'center'}}); const r = el.getBoundingClientRect();
        return {{left: r.left, top: r.top, width: r.width, height: r.height}}; }})()""")


def _pixel_of(box: dict, z: tuple[float, float], extent: float) -> tuple[float, float]:
    """The page pixel of latent point z on the plane, which spans [-extent, extent] on both axes (z2 up)."""
    return (box["left"] + (z[0] + extent) / (2 * extent) * box["width"],
            box["top"] + (extent - z[1]) / (2 * extent) * box["height"])


def _open_explorer(tab: Tab, url: str) -> None:
    tab.goto(url)
    ready = _wait(tab, f"document.querySelector(\"{EXPLORER}\").dataset.ready")
    assert ready == "true", f"the explorer did not start (data-ready={ready!r}); see the browser console"


@pytest.fixture(scope="module")
def spec() -> dict:
    return json.loads((ASSETS / "explorer.json").read_text())


@pytest.mark.browser
@pytest.mark.slow
def test_epoch_slider_changes_the_picture(browser, served_site, spec, tmp_path_factory):
    frames = spec["frames"]
    assert frames and len(frames["epochs"]) >= 2 and frames["epochs"][0] == 0, "no epoch frames were generated"
    tab = Tab(browser, width=1400, height=1000)
    _open_explorer(tab, f"{served_site}/latent-space/")
    samples = f"{EXPLORER} .lx-samples"
    last_epoch = tab.js(f"document.querySelector(\"{EXPLORER}\").dataset.epoch")
    assert last_epoch == str(frames["epochs"][-1])
    before = tab.js(f"document.querySelector(\"{samples}\").toDataURL()")
    slider = _box(tab, f"{EXPLORER} input[type=range]")
    for kind in ("mouseMoved", "mousePressed", "mouseReleased"):   # the slider's left end: epoch 0
        _mouse(tab, kind, slider["left"] + 2, slider["top"] + slider["height"] / 2)
    assert _wait(tab, f"document.querySelector(\"{EXPLORER}\").dataset.epoch === '0'")
    assert tab.js(f"document.querySelector(\"{samples}\").toDataURL()") != before
    sprite = read_png(ASSETS / frames["sprite"])
    for k in (0, frames["samples"] - 1):      # first and last sample of epoch 0's row
        left, top = (k % 8) * 28, (k // 8) * 28
        # drawn in the figures' grey levels (dark ink on white), as every static figure is
        expected = np.round(255 * display_grey(sprite_cell(sprite, 0, k) / 255)).astype(np.int16)
        assert np.abs(_canvas_cell(tab, samples, left, top, 28) - expected).max() <= GRAY_TOLERANCE

    # Play, then Pause: the animation advances and stops when asked.
    tab.click(f"{EXPLORER} .lx-play")
    assert _wait(tab, f"document.querySelector(\"{EXPLORER}\").dataset.epoch !== '0'", timeout_s=5)
    tab.click(f"{EXPLORER} .lx-play")
    paused_at = tab.js(f"document.querySelector(\"{EXPLORER}\").dataset.epoch")
    time.sleep(2.0)
    assert tab.js(f"document.querySelector(\"{EXPLORER}\").dataset.epoch") == paused_at


@pytest.mark.browser
@pytest.mark.slow
def test_explorer_fits_a_phone_and_both_palettes(browser, served_site, spec, tmp_path_factory):
    screens = Path(os.environ.get("SITE_SCREENSHOTS") or tmp_path_factory.mktemp("explorer-screens"))
    screens.mkdir(parents=True, exist_ok=True)
    z, extent = np.array(spec["points"]["z"]).reshape(-1, 2), spec["extent"]
    for width in (1400, 400):
        tab = Tab(browser, width=width, height=1000)
        _open_explorer(tab, f"{served_site}/latent-space/")
        box = _box(tab, f"{EXPLORER} .lx-plane")
        x, y = _pixel_of(box, (z[0, 0], z[0, 1]), extent)      # on test image 1
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            _mouse(tab, kind, x, y)
        right = tab.js(f"Math.max(...[...document.querySelectorAll(\"{EXPLORER} *\")]"
                       ".map(el => el.getBoundingClientRect().right))")
        assert right <= width, f"the explorer overflows a {width} px window ({right:.0f} px)"
        assert box["width"] >= min(250, width - 60), f"plane only {box['width']:.0f} px wide at {width} px"
        for scheme in ("default", "slate"):
            tab.js(f"document.body.setAttribute('data-md-color-scheme', '{scheme}')")
            background = tab.js(f"""(() => {{ const c = document.querySelector("{EXPLORER} .lx-plane");
                return [...c.getContext('2d').getImageData(2, 2, 1, 1).data.slice(0, 3)]; }})()""")
            page = tab.js("getComputedStyle(document.body).backgroundColor")
            assert f"rgb({background[0]}, {background[1]}, {background[2]})" == page, \
                f"{scheme}: plane background {background} is not the page's {page}"
            shot = _box(tab, EXPLORER)
            clip = {"x": 0, "y": shot["top"] + tab.js("window.scrollY") - 8, "width": width,
                    "height": min(shot["height"] + 16, 3000), "scale": 1}
            data = tab.send("Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True})
            (screens / f"explorer-{width}-{scheme}.png").write_bytes(base64.b64decode(data["data"]))
    print(f"screenshots in {screens}")


@pytest.mark.browser
@pytest.mark.slow
def test_without_javascript_the_static_manifold_figure_stays(browser, served_site):
    tab = Tab(browser, width=1400, height=1000)
    tab.send("Emulation.setScriptExecutionDisabled", {"value": True})
    tab.goto(f"{served_site}/latent-space/")
    seen = tab.js(f"""(() => {{
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


