"""What the evidence engine measures once per image and both stages read.

The scan groups the surprising tiles of every cue; the examination sums the
surprising tiles inside a box.  Both read the same per-tile surprises from
here, computed once per image and cue scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models.evidence.cues import cue_z_maps
from models.evidence.maps import InconsistencyMap
from models.evidence.maps.calibration import LocalMapCalibration
from models.evidence.scan_calibration import GROUP_SURPRISE, ScanCalibration
from models.evidence.signal_maps import PixelEvidence, TileStatistics
from models.evidence.tile_grid import TileGrid
from models.types import Box


@dataclass
class ImageSignals:
    """Everything measured once per image that the scan and the examination read."""

    pixels: PixelEvidence
    tiles: list[TileStatistics]
    calibration: ScanCalibration
    model_tiles: TileGrid | None = None
    model_probability: float | None = None
    local_maps: list[InconsistencyMap] = field(default_factory=list)  # models.evidence.maps, those that apply
    local_calibration: LocalMapCalibration | None = None
    _surprise: dict[tuple[int, str], np.ndarray] = field(default_factory=dict)

    def surprise_map(self, scale_index: int, cue: str) -> np.ndarray:
        """Per-tile surprise (-log10 tail probability among real photos' tiles) of one cue."""
        key = (scale_index, cue)
        if key not in self._surprise:
            z = cue_z_maps(self.tiles[scale_index])
            for name, values in z.items():
                self._surprise[(scale_index, name)] = self.calibration.surprise(scale_index, name, values)
        return self._surprise[key]

    def region_surprise(self, box: Box, cue: str) -> tuple[float, int]:
        """(summed surprise of the surprising tiles inside the box, tile size), at
        the tile scale where the region stands out most, as the scan groups tiles."""
        best = (0.0, self.tiles[0].tile if self.tiles else 0)
        for scale_index, stats in enumerate(self.tiles):
            rows, cols = tiles_inside(stats, box)
            values = np.nan_to_num(self.surprise_map(scale_index, cue)[rows, cols], nan=0.0)
            total = float(values[values >= GROUP_SURPRISE].sum())
            best = max(best, (total, stats.tile))
        return best

    def scale_for(self, box: Box) -> int:
        """The coarsest tile scale that still fits the region: its statistics are the steadiest."""
        fitting = [i for i, stats in enumerate(self.tiles) if stats.tile <= min(box.width, box.height)]
        return fitting[-1] if fitting else 0


def tiles_inside(stats: TileStatistics, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the tiles at least half covered by the box
    (the nearest tile when the box is smaller than one)."""
    rows, cols = stats.noise_sigma.shape
    tile = stats.tile
    r0, r1 = int(round(box.y1 / tile)), int(round(box.y2 / tile))
    c0, c1 = int(round(box.x1 / tile)), int(round(box.x2 / tile))
    r0, c0 = min(max(r0, 0), rows - 1), min(max(c0, 0), cols - 1)
    r1, c1 = min(max(r1, r0 + 1), rows), min(max(c1, c0 + 1), cols)
    grid_r, grid_c = np.meshgrid(np.arange(r0, r1), np.arange(c0, c1), indexing="ij")
    return grid_r.ravel(), grid_c.ravel()
