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
