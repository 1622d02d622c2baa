"""What the JPEG channels share: libjpeg's quality tables, and the coefficients they read.

jpeg_traces (the ghost, the grid and a lossless file's lattice) and
primary_likelihood (a JPEG file's primary quantisation) both read the 20
lowest AC frequencies of the luma DCT, as integers k of the stored step,
within +-HISTOGRAM_RANGE.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# libjpeg's standard luminance table (ITU-T T.81 Annex K), natural order.
STANDARD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], np.float32).reshape(8, 8)
# The 20 lowest AC frequencies (u + v <= 5): the most populated, and the first to show a
# double quantisation; each adds evidence per block.
LOW_FREQUENCIES = tuple((u, v) for u in range(6) for v in range(6) if 0 < u + v <= 5)
HISTOGRAM_RANGE = 60
MIN_FREQUENCY_COEFFICIENTS = 200  # nonzero coefficients a frequency needs to show an earlier step
MIN_BLOCK_VOTES = 3               # voting coefficients a block needs to be measured
# A lossless file's stored "step" is 1, and the decoder's rounding moves a coefficient up to about
# one unit off an earlier JPEG's lattice: |k| within this slack never votes (jpeg_traces).
LOSSLESS_SLACK = 1


def slack_of(q2: int) -> int:
    return LOSSLESS_SLACK if q2 == 1 else 0


def counted(k: np.ndarray, q2: int) -> np.ndarray:
    """The coefficients that vote: nonzero (beyond the slack of a lossless file), within range."""
    magnitude = np.abs(k)
    return (magnitude > slack_of(q2)) & (magnitude <= HISTOGRAM_RANGE)


def quality_table(quality: int) -> np.ndarray:
    """libjpeg's luma table at `quality` (1-100)."""
    scale = 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality
    return np.clip(np.floor((STANDARD_LUMA * scale + 50.0) / 100.0), 1, 255).astype(np.float32)


@lru_cache(maxsize=256)
def _estimated_quality(table: tuple[int, ...]) -> int:
    values = np.asarray(table, np.float32).reshape(8, 8)
    return int(min(range(1, 101), key=lambda q: float(np.abs(quality_table(q) - values).mean())))


def estimated_quality(table: np.ndarray) -> int:
    """The libjpeg quality whose table is closest to the file's."""
    return _estimated_quality(tuple(int(v) for v in table.ravel()))
