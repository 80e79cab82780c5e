"""Reading the explorer's PNG sprites back, for the tests that compare them with the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vae.explorer import CELL


def read_png(path: str | Path) -> np.ndarray:
    """A PNG as a 2-D array of 8-bit grey levels."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("L"))


def sprite_cell(sprite: np.ndarray, row: int, column: int) -> np.ndarray:
    """The 28 x 28 cell at (row, column) of a sprite (explorer.sprite lays cells out row by row)."""
    return sprite[row * CELL:(row + 1) * CELL, column * CELL:(column + 1) * CELL]


def drag_on_pad(page, box: dict, strokes, touch: bool = False) -> None:
    """Each stroke (points as fractions of the pad's width and height) as a real pointer drag over
    the pad whose bounding box is `box`, with a point half-way between each two given: a mouse
    button held down, or a finger (Chrome's touch events). The pad joins the points it receives
    with straight lines, so more points between would draw the same strokes: each one is a
    pointer event the page answers with an encoding and a redraw (about 40 ms here)."""
    cdp = page.context.new_cdp_session(page) if touch else None
    for stroke in strokes:
        path = [stroke[0]] + [(x0 + (x1 - x0) * t / 2, y0 + (y1 - y0) * t / 2)
                              for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]) for t in (1, 2)]
        pixels = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in path]
        if touch:
            for kind, (x, y) in zip(["touchStart"] + ["touchMove"] * (len(pixels) - 1), pixels):
                cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        else:
            page.mouse.move(*pixels[0])
            page.mouse.down()
            for x, y in pixels[1:]:
                page.mouse.move(x, y)
            page.mouse.up()
