"""A score per tile of an image, with the tile's box in image pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.types import Box


@dataclass
class TileGrid:
    """values[r, c] describes the tile whose top-left corner is
    (c * tile_width, r * tile_height) in pixels of the displayed image; the last
    row/column may be cut by the image border."""

    values: np.ndarray
    tile_width: float
    tile_height: float
    image_width: int
    image_height: int
    meaning: str

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.values.shape)  # type: ignore[return-value]

    def box(self, row: int, col: int, rows: int = 1, cols: int = 1) -> Box:
        """The box of `rows` x `cols` tiles starting at (row, col), clipped to the image."""
        return Box(col * self.tile_width, row * self.tile_height,
                   (col + cols) * self.tile_width, (row + rows) * self.tile_height).clip(
            self.image_width, self.image_height)
