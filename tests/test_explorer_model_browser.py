"""The model in the page: the latent explorer's encoder and decoder in headless Chromium against PyTorch.

Strokes are drawn on the pad with a mouse (1400 px window) and a finger (400 px, touch events);
test images are loaded by a click on their point; a dark-on-white image file is dropped on the pad.
Each time, what the page computed (the encoder's input, mu, log sigma^2, the reconstruction, the
sample, the pointer's decode, the interpolation) is read back and computed again by PyTorch from
the committed model.pt on the same input: every value must agree within 1e-3. The drawings must
land where the test images of their class are, their reconstructions must look like them, and the
input must be framed as the training images are (explorer.json `input`). The canvases must show
those values in the figures' grey levels and colours. The encode and decode times the page
measured are printed and written, with screenshots, to $SITE_SCREENSHOTS (default: a temporary
folder); they are reported, not asserted (speed is measured in benchmarks, not in tests).
"""

from __future__ import annotations

import base64
import io
import json
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch

from support.site import screenshot_folder

from vae import figures
from vae.checkpoints import load_model
from support.explorer_images import drag_on_pad, read_png, sprite_cell

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "docs" / "assets"
TOLERANCE = 1e-3
DATASETS = {"mnist": "mnist-conv-z2", "fashion-mnist": "fashion-mnist-conv-z2"}

# Strokes in pad fractions (x right, y down), a few points each; `_draw` adds points in between.
ONE = [[(0.52, 0.15), (0.50, 0.50), (0.47, 0.88)]]
ZERO = [[(0.50, 0.12), (0.27, 0.30), (0.24, 0.62), (0.42, 0.88), (0.66, 0.82), (0.76, 0.50), (0.68, 0.20),
         (0.50, 0.12)]]
SEVEN = [[(0.22, 0.18), (0.78, 0.18), (0.45, 0.88)]]


def explorer(dataset: str) -> str:
    return f".latent-explorer[data-explorer='assets/runs/{DATASETS[dataset]}/explorer']"


@pytest.fixture(scope="module")
def models() -> dict:
    loaded = {}
    for dataset, run in DATASETS.items():
        model, _ = load_model(ASSETS / "runs" / run / "model.pt")
        loaded[dataset] = model.eval()
    return loaded


@pytest.fixture(scope="module")
def specs() -> dict:
    return {d: json.loads((ASSETS / "runs" / run / "explorer" / "explorer.json").read_text())
            for d, run in DATASETS.items()}


@pytest.fixture(scope="module")
def screens(tmp_path_factory) -> Path:
    return screenshot_folder(tmp_path_factory, "explorer-model-screens")


@pytest.fixture(scope="module")
def timings(screens) -> dict:
    """Every encode and decode time (ms) the pages measured, printed and written at the end."""
    collected = {"encode": [], "decode": []}
    yield collected
    if collected["decode"]:
        summary = {kind: {"runs": len(v), "median_ms": round(statistics.median(v), 2),
                          "max_ms": round(max(v), 2)} for kind, v in collected.items() if v}
        (screens / "explorer-model-timings.json").write_text(json.dumps(summary, indent=2))
        print(f"in-page model, headless Chromium on this machine: {summary}")


def _open(site_browser, width: int, touch: bool = False):
    """The Latent space page in the session's site (tests/support/site.py), both explorers started."""
    page = site_browser.new_page(width=width, height=1000, has_touch=touch)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{site_browser.url}/latent-space/")
    for dataset in DATASETS:
        page.wait_for_function(f"document.querySelector(\"{explorer(dataset)}\").dataset.ready === 'true'",
                               timeout=30_000)
    page.errors = errors
    return page


def _box(page, selector: str) -> dict:
    page.locator(selector).first.scroll_into_view_if_needed()
    return page.locator(selector).first.bounding_box()


def _show_tab(page, dataset: str) -> None:
    """Click the label of the content tab that holds this dataset's explorer."""
    page.evaluate("""(selector) => {
        const block = document.querySelector(selector).closest('.tabbed-block');
        const set = block.closest('.tabbed-set'), index = [...block.parentNode.children].indexOf(block);
        set.querySelectorAll(':scope > .tabbed-labels > label')[index].click();
    }""", explorer(dataset))
    page.locator(f"{explorer(dataset)} .lx-pad").wait_for(state="visible")


def _settle(page, dataset: str) -> None:
    page.wait_for_function(f"document.querySelector(\"{explorer(dataset)}\").dataset.busy === 'false'")


def _draw(page, dataset: str, strokes, touch: bool = False) -> None:
    """Each stroke as a real pointer drag over the pad: mouse button down, or a finger."""
    drag_on_pad(page, _box(page, f"{explorer(dataset)} .lx-pad"), strokes, touch)
    _settle(page, dataset)


def _click(page, dataset: str, name: str) -> None:
    page.locator(f"{explorer(dataset)} .lx-{name}").click()
    _settle(page, dataset)


SHOWN = r"""
(selector) => {
  const e = document.querySelector(selector).explorer, list = (v) => v ? Array.from(v) : null;
  return {input: list(e.input), mu: list(e.mu), logvar: list(e.logvar), reconstruction: list(e.reconstruction),
          sample: e.sample && {z: list(e.sample.z), image: list(e.sample.image)},
          pointer: e.pointer && {z: list(e.pointer.z), image: list(e.pointer.image)},
          strip: e.strip && {z: e.strip.z.map(list), images: e.strip.images.map(list)},
          timings: {encode: e.timings.encode.slice(), decode: e.timings.decode.slice()}};
}
"""


def _shown(page, dataset: str) -> dict:
    return page.evaluate(SHOWN, explorer(dataset))


def _close(page, timings: dict) -> None:
    """Keep the times of the last runs each explorer of the page measured, then close it."""
    for dataset in DATASETS:
        shown = _shown(page, dataset)
        for kind in ("encode", "decode"):
            timings[kind].extend(shown["timings"][kind])
    assert not page.errors, page.errors
    page.close()


def _decode(model, z) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(model.decode(torch.tensor([z], dtype=torch.float32))).reshape(-1).numpy()


def _agrees(model, shown: dict) -> dict[str, float]:
    """PyTorch on the page's own input and z: the largest differences from what the page computed."""
    x = torch.tensor(shown["input"], dtype=torch.float32).reshape(1, 1, 28, 28)
    with torch.no_grad():
        mu, logvar = model.encode(x)
    errors = {"mu": np.abs(mu[0].numpy() - shown["mu"]).max(),
              "logvar": np.abs(logvar[0].numpy() - shown["logvar"]).max(),
              "reconstruction": np.abs(_decode(model, shown["mu"]) - shown["reconstruction"]).max(),
              "sample": np.abs(_decode(model, shown["sample"]["z"]) - shown["sample"]["image"]).max()}
    assert max(errors.values()) < TOLERANCE, f"the page and PyTorch differ: {errors}"
    return errors


def _canvas(page, selector: str) -> np.ndarray:
    """The 28 x 28 grey levels (red channel) of a model image's canvas."""
    values = page.evaluate("""(selector) => { const c = document.querySelector(selector);
        return Array.from(c.getContext('2d').getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0)); }""",
                           selector)
    return np.array(values, dtype=np.float64).reshape(28, 28)


def _grey(values) -> np.ndarray:
    """The figures' grey level (0-255) of each intensity: figures.display_grey, the static figures' own."""
    return 255 * figures.display_grey(np.asarray(values, dtype=np.float64).reshape(28, 28))


def _framing(values) -> dict:
    image = np.asarray(values).reshape(28, 28)
    rows, columns = np.nonzero(image > 0)
    mass = image.sum()
    index = np.arange(28)
    return {"side": max(rows.max() - rows.min(), columns.max() - columns.min()) + 1,
            "mass": ((image.sum(1) * index).sum() / mass, (image.sum(0) * index).sum() / mass),
            "box": ((rows.min() + rows.max()) / 2, (columns.min() + columns.max()) / 2)}


def _nearest_classes(spec: dict, mu, k: int = 15) -> list[int]:
    z = np.array(spec["points"]["z"]).reshape(-1, 2)
    order = np.argsort(((z - np.array(mu)) ** 2).sum(1))[:k]
    return [spec["points"]["labels"][i] for i in order]


def _correlation(a, b) -> float:
    return float(np.corrcoef(np.asarray(a).ravel(), np.asarray(b).ravel())[0, 1])


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("width, touch", [(1400, False), (400, True)], ids=["1400px-mouse", "400px-finger"])
def test_drawn_digits_are_encoded_and_decoded_as_pytorch_does(site_browser, models, specs, timings, screens,
                                                              width, touch):
    page = _open(site_browser, width, touch)
    spec, model, ex = specs["mnist"], models["mnist"], explorer("mnist")
    drawn = {}
    for name, strokes in (("one", ONE), ("zero", ZERO)):
        _click(page, "mnist", "clear")
        _draw(page, "mnist", strokes, touch)
        shown = _shown(page, "mnist")
        assert shown["mu"] is not None, f"drawing a {name} gave no encoding"
        _agrees(model, shown)
        # Framed as the training images are: longer side, centre of mass (whole-pixel shift).
        framing = _framing(shown["input"])
        assert abs(framing["side"] - spec["input"]["side_px"]) <= 1, framing
        assert spec["input"]["centre"] == "mass"
        assert np.abs(np.subtract(framing["mass"], spec["input"]["centre_px"])).max() <= 0.5 + 1e-9, framing
        # The canvases show these values in the figures' grey levels (dark ink on white).
        for canvas, values in (("lx-input", shown["input"]), ("lx-reconstruction", shown["reconstruction"]),
                               ("lx-sample", shown["sample"]["image"])):
            assert np.abs(_canvas(page, f"{ex} .{canvas}") - _grey(values)).max() <= 1, canvas
        drawn[name] = shown
        page.screenshot(path=str(screens / f"explorer-drawn-{name}-{width}.png"))
        if name == "one":   # and Undo: a second stroke, taken back, leaves the same input
            _draw(page, "mnist", [[(0.2, 0.5), (0.8, 0.5)]], touch)
            assert not np.allclose(_shown(page, "mnist")["input"], shown["input"])
            _click(page, "mnist", "undo")
            assert np.array_equal(_shown(page, "mnist")["input"], shown["input"]), "Undo did not restore the input"

    # New sample: another z from the same q(z|x), decoded as PyTorch does.
    _click(page, "mnist", "resample")
    resampled = _shown(page, "mnist")
    assert resampled["sample"]["z"] != drawn["zero"]["sample"]["z"] and resampled["mu"] == drawn["zero"]["mu"]
    _agrees(model, resampled)

    # The encoded points follow the drawings: each lands among test images of its own digit,
    assert statistics.mode(_nearest_classes(spec, drawn["one"]["mu"])) == 1, _nearest_classes(spec, drawn["one"]["mu"])
    assert statistics.mode(_nearest_classes(spec, drawn["zero"]["mu"])) == 0, _nearest_classes(spec, drawn["zero"]["mu"])
    # and each reconstruction looks more like its own drawing than like the other one.
    for own, other in (("one", "zero"), ("zero", "one")):
        reconstruction = drawn[own]["reconstruction"]
        assert _correlation(reconstruction, drawn[own]["input"]) > _correlation(reconstruction, drawn[other]["input"]) + 0.2

    # Clear then a new drawing: the strip interpolates from the "one" to the "zero", decoded as PyTorch does.
    page.wait_for_function(f"document.querySelector(\"{ex}\").dataset.strip === 'ready'")
    strip = _shown(page, "mnist")["strip"]
    assert np.allclose(strip["z"][0], drawn["one"]["mu"]) and np.allclose(strip["z"][-1], drawn["zero"]["mu"])
    steps = np.linspace(0, 1, len(strip["z"]))[:, None]
    assert np.allclose(strip["z"], (1 - steps) * np.array(drawn["one"]["mu"]) + steps * np.array(drawn["zero"]["mu"]))
    worst = max(np.abs(_decode(model, z) - image).max() for z, image in zip(strip["z"], strip["images"]))
    assert worst < TOLERANCE, f"interpolation differs from PyTorch by {worst}"
    _close(page, timings)


@pytest.mark.browser
@pytest.mark.slow
def test_pointer_decodes_the_exact_z_under_it(site_browser, models, specs, timings):
    page = _open(site_browser, 1400)
    spec, model, ex = specs["mnist"], models["mnist"], explorer("mnist")
    extent = spec["extent"]
    images = []
    for fraction in ((0.27, 0.61), (0.733, 0.182)):
        box = _box(page, f"{ex} .lx-explorer .lx-plane")
        x, y = box["x"] + fraction[0] * box["width"], box["y"] + fraction[1] * box["height"]
        page.mouse.move(x, y)
        _settle(page, "mnist")
        pointer = _shown(page, "mnist")["pointer"]
        expected_z = (-extent + 2 * extent * fraction[0], extent - 2 * extent * fraction[1])
        # No grid: the decoded z is the pointer's own, to within a pixel of the plane.
        assert np.abs(np.subtract(pointer["z"], expected_z)).max() <= 2 * extent / box["width"], (pointer["z"], expected_z)
        assert np.abs(_decode(model, pointer["z"]) - pointer["image"]).max() < TOLERANCE
        assert np.abs(_canvas(page, f"{ex} .lx-pointer") - _grey(pointer["image"])).max() <= 1
        images.append(pointer["image"])
    assert np.abs(np.subtract(*images)).max() > 0.5, "two far apart points decode to the same image"

    # Arrow keys move the decoded z by a 32nd of the half-width.
    before = _shown(page, "mnist")["pointer"]["z"]
    page.locator(f"{ex} .lx-explorer .lx-plane").focus()
    page.keyboard.press("ArrowRight")
    _settle(page, "mnist")
    after = _shown(page, "mnist")["pointer"]["z"]
    assert after[0] == pytest.approx(before[0] + extent / 32) and after[1] == pytest.approx(before[1])
    _close(page, timings)


def _click_test_point(page, spec: dict, dataset: str, index: int) -> None:
    ex, extent = explorer(dataset), spec["extent"]
    z = spec["points"]["z"][2 * index:2 * index + 2]
    box = _box(page, f"{ex} .lx-explorer .lx-plane")
    page.mouse.click(box["x"] + (z[0] + extent) / (2 * extent) * box["width"],
                     box["y"] + (extent - z[1]) / (2 * extent) * box["height"])
    _settle(page, dataset)


def _isolated_points(spec: dict, count: int) -> list[int]:
    """Test points with no other point within 0.15 (so that a click picks exactly them)."""
    z = np.array(spec["points"]["z"]).reshape(-1, 2)
    distance = np.sqrt(((z[:, None] - z[None]) ** 2).sum(-1)) + np.eye(len(z)) * 1e9
    inside = np.abs(z).max(1) < spec["extent"] - 0.2
    chosen = [int(i) for i in np.nonzero((distance.min(1) > 0.15) & inside)[0]]
    assert len(chosen) >= count, "too few isolated test points to click"
    return chosen[:count]


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("dataset", list(DATASETS))
def test_a_clicked_test_image_is_the_input_and_two_are_interpolated(site_browser, models, specs, timings,
                                                                     dataset):
    page = _open(site_browser, 1400)
    spec, model, ex = specs[dataset], models[dataset], explorer(dataset)
    _show_tab(page, dataset)
    first, second = _isolated_points(spec, 2)
    originals = read_png(ASSETS / "runs" / DATASETS[dataset] / "explorer" / spec["points"]["originals"])
    shown = {}
    for index in (first, second):
        _click_test_point(page, spec, dataset, index)
        shown[index] = _shown(page, dataset)
        expected = sprite_cell(originals, *divmod(index, spec["points"]["columns"])) / 255
        assert np.array_equal(np.reshape(shown[index]["input"], (28, 28)), expected), \
            f"the pad's input is not test image {index}"
        _agrees(model, shown[index])
        # The mean the page computed is where the report put the point (to the JSON's 2 decimals).
        assert np.abs(np.subtract(shown[index]["mu"], spec["points"]["z"][2 * index:2 * index + 2])).max() <= 0.005 + 1e-6
    page.wait_for_function(f"document.querySelector(\"{ex}\").dataset.strip === 'ready'")
    strip = _shown(page, dataset)["strip"]
    assert np.allclose(strip["z"][0], shown[first]["mu"]) and np.allclose(strip["z"][-1], shown[second]["mu"])
    worst = max(np.abs(_decode(model, z) - image).max() for z, image in zip(strip["z"], strip["images"]))
    assert worst < TOLERANCE, f"interpolation differs from PyTorch by {worst}"
    _close(page, timings)


@pytest.mark.browser
@pytest.mark.slow
def test_garments_are_framed_by_their_box_and_a_dropped_file_is_read_dark_on_light(site_browser, models,
                                                                                   specs, timings):
    from PIL import Image, ImageDraw

    page = _open(site_browser, 1400)
    _show_tab(page, "fashion-mnist")
    spec, model = specs["fashion-mnist"], models["fashion-mnist"]
    # A trouser: two legs side by side, about a quarter as wide as tall, as the test set's are.
    legs = [[(x, 0.15), (x, 0.88)] for x in (0.44, 0.56)]
    _draw(page, "fashion-mnist", [[(0.44, 0.15), (0.56, 0.15)], *legs])
    shown = _shown(page, "fashion-mnist")
    _agrees(model, shown)
    framing = _framing(shown["input"])
    assert spec["input"]["centre"] == "box" and abs(framing["side"] - spec["input"]["side_px"]) <= 1, framing
    assert np.abs(np.subtract(framing["box"], spec["input"]["centre_px"])).max() <= 0.5 + 1e-9, framing
    assert statistics.mode(_nearest_classes(spec, shown["mu"])) == spec["classes"].index("Trouser"), \
        [spec["classes"][c] for c in _nearest_classes(spec, shown["mu"])]

    # A PNG of a black bar on white, dropped on the MNIST pad: read as ink, framed, encoded.
    picture = Image.new("RGB", (120, 160), "white")
    ImageDraw.Draw(picture).rectangle([52, 20, 68, 140], fill="black")
    encoded = io.BytesIO()
    picture.save(encoded, format="PNG")
    _show_tab(page, "mnist")
    page.evaluate("""([selector, data]) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], 'bar.png', {type: 'image/png'}));
        document.querySelector(selector).dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true,
                                                                               cancelable: true}));
    }""", [f"{explorer('mnist')} .lx-pad", base64.b64encode(encoded.getvalue()).decode()])
    page.wait_for_function(f"(document.querySelector(\"{explorer('mnist')} .lx-source\").textContent || '')"
                           ".includes('bar.png')")
    _settle(page, "mnist")
    shown = _shown(page, "mnist")
    _agrees(models["mnist"], shown)
    image = np.reshape(shown["input"], (28, 28))
    framing = _framing(image)
    assert framing["side"] == specs["mnist"]["input"]["side_px"] and image[14, 14] > 0.9 and image[14, 4] == 0, framing
    assert statistics.mode(_nearest_classes(specs["mnist"], shown["mu"])) == 1
    _close(page, timings)


@pytest.mark.browser
@pytest.mark.slow
def test_the_explorer_uses_the_figures_colours_and_grey_levels(site_browser, specs):
    page = _open(site_browser, 1400)
    look = figures.look(10)
    for dataset, spec in specs.items():
        assert spec["look"] == look, f"{dataset}: explorer.json's look is not figures.look"
    swatches = page.evaluate(f"""Array.from(document.querySelectorAll("{explorer('mnist')} .lx-explorer .lx-swatch"),
        (s) => getComputedStyle(s).backgroundColor)""")
    expected = [f"rgb({int(h[1:3], 16)}, {int(h[3:5], 16)}, {int(h[5:7], 16)})" for h in look["class_colours"]]
    assert swatches == expected
    # An empty pad is the figures' paper; for every palette of the site.
    for scheme in ("default", "slate"):
        page.evaluate(f"document.body.setAttribute('data-md-color-scheme', '{scheme}')")
        _settle(page, "mnist")
        paper = page.evaluate(f"""Array.from(document.querySelector("{explorer('mnist')} .lx-pad")
            .getContext('2d').getImageData(3, 3, 1, 1).data.slice(0, 3))""")
        assert paper == [round(255 * look["paper_grey"])] * 3, f"{scheme}: pad paper {paper}"
    page.close()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("width", [1400, 400])
def test_screenshot_of_a_drawn_digit(site_browser, screens, width):
    """For a reader's eye: a drawn 7 with its mean, ellipse, sample and reconstruction."""
    page = _open(site_browser, width, touch=width < 600)
    _draw(page, "mnist", SEVEN, touch=width < 600)
    page.add_style_tag(content=".md-header, .md-tabs { visibility: hidden; }")   # the sticky header would cover it
    path = screens / f"explorer-seven-{width}.png"
    page.locator(f"{explorer('mnist')} .lx-explorer").screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"the page scrolls sideways at {width} px"
    page.close()
