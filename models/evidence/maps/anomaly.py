"""Compact anomalies in a local-inconsistency map: where a coherent patch of cells departs.

A pasted or regenerated region covers many neighbouring cells, so its cells'
z-scores agree; a real photo's odd cells mostly stand alone.  Each channel's
z map is averaged over square windows of two sizes (12% and 24% of the
image's short side: a pasted region of 5% of the frame is about 22% of a side
across), in both directions (a patch can be smoother or rougher), and the
strongest window is a peak.  Its box is the half-maximum region around it:
for a uniform patch larger than the window, the half-maximum contour of the
window average falls on the patch's edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.evidence.maps.base import InconsistencyMap
from models.types import Box

WINDOW_FRACTIONS = (0.12, 0.24)
MIN_WINDOW = 3
MIN_COVERAGE = 0.5  # of a window's cells must be measured for its mean to count


@dataclass(frozen=True)
class Peak:
    """The strongest window of one channel, scale and direction, and the region around it."""

    key: str          # "map|channel|scale|direction", the calibration's key
    statistic: float  # mean z of the window
    box: Box


def peak_key(map_name: str, channel: str, scale_index: int, direction: int) -> str:
    return f"{map_name}|{channel}|{scale_index}|{'+' if direction > 0 else '-'}"


def window_side(shape: tuple[int, int], scale_index: int) -> int:
    return max(MIN_WINDOW, int(round(min(shape) * WINDOW_FRACTIONS[scale_index])))


Z_CLIP = 6.0  # a single extreme cell cannot carry a window on its own
# A box the scan may draw from a map: a compact region of 2-35% of the frame that sits in no
# corner (touches at most one border).  Larger or corner regions are what real photos' maps show
# (sky, vignetting, a blurred background across the frame), not a pasted object.
COMPACT_AREA = (0.02, 0.35)


def windowed_mean(z: np.ndarray, side: int) -> np.ndarray:
    """Mean of the measured cells (z clipped to +-Z_CLIP) in each side x side window
    (NaN where too few are measured)."""
    valid = np.isfinite(z).astype(np.float32)
    values = np.clip(np.where(valid > 0, z, 0.0), -Z_CLIP, Z_CLIP).astype(np.float32)
    total = cv2.boxFilter(values, -1, (side, side), normalize=False, borderType=cv2.BORDER_CONSTANT)
    count = cv2.boxFilter(valid, -1, (side, side), normalize=False, borderType=cv2.BORDER_CONSTANT)
    return np.where(count >= MIN_COVERAGE * side * side, total / np.maximum(count, 1.0), np.nan)


def map_peaks(found: InconsistencyMap) -> list[Peak]:
    """Every peak of every channel, scale and direction of one map (one per half-maximum region)."""
    peaks = []
    for channel, z in found.channels.items():
        if z.ndim != 2 or min(z.shape) < MIN_WINDOW:
            continue
        for scale_index in range(len(WINDOW_FRACTIONS)):
            mean = windowed_mean(z, window_side(z.shape, scale_index))
            for direction in found.directions.get(channel, (+1, -1)):
                peaks += _regions(found, direction * mean, peak_key(found.name, channel, scale_index, direction))
    return peaks


def _regions(found: InconsistencyMap, values: np.ndarray, key: str) -> list[Peak]:
    filled = np.nan_to_num(values, nan=-np.inf)
    top = float(filled.max()) if filled.size else -np.inf
    if not np.isfinite(top) or top <= 0:
        return []
    mask = (filled >= 0.5 * top).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    peaks = []
    for component in range(1, count):
        x, y, w, h = (int(v) for v in stats[component, :4])
        box = Box(x * found.cell, y * found.cell, (x + w) * found.cell, (y + h) * found.cell)
        peaks.append(Peak(key, float(filled[labels == component].max()), box.clip(found.width, found.height)))
    return peaks


def box_statistics(found: InconsistencyMap, box: Box) -> dict[str, float]:
    """Per calibration key, the mean z of the cells inside a box (for an analyst's box or a
    scan region), at the window scale closest to the box's size."""
    result = {}
    for channel, z in found.channels.items():
        rows = slice(int(box.y1 // found.cell), max(int(box.y1 // found.cell) + 1, int(round(box.y2 / found.cell))))
        cols = slice(int(box.x1 // found.cell), max(int(box.x1 // found.cell) + 1, int(round(box.x2 / found.cell))))
        inside = z[rows, cols]
        finite = inside[np.isfinite(inside)]
        if finite.size < max(1, MIN_COVERAGE * inside.size):
            continue
        short = min(inside.shape)
        scale_index = max([i for i in range(len(WINDOW_FRACTIONS)) if window_side(z.shape, i) <= short] or [0])
        mean = float(np.clip(finite, -Z_CLIP, Z_CLIP).mean())
        for direction in found.directions.get(channel, (+1, -1)):
            result[peak_key(found.name, channel, scale_index, direction)] = direction * mean
    return result


def is_compact(box: Box, width: int, height: int) -> bool:
    """Whether a peak's region is compact enough to be boxed (COMPACT_AREA, at most one border)."""
    share = box.width * box.height / max(width * height, 1)
    borders = (box.x1 <= 0) + (box.y1 <= 0) + (box.x2 >= width) + (box.y2 >= height)
    return COMPACT_AREA[0] <= share <= COMPACT_AREA[1] and borders <= 1
