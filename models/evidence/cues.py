"""Local cues: how far each tile departs from the image's own typical tile.

A cue turns one tile statistic into a robust z-score against the rest of the
same image (median and MAD over its tiles), so a photo is judged against
itself rather than against a fixed threshold that a different camera, scene or
compression level would break.  The scan scores each cue against real photos
(models.evidence.scan_calibration); the examination reuses the same z-scores
to compare a region with the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.evidence.signal_maps import TileStatistics


@dataclass(frozen=True)
class Cue:
    """One way a tile can stand out.

    direction: +1 when high values are suspicious, -1 when low values are.
    scale_floor: smallest spread (in the statistic's units) used for z-scores,
    so a very uniform image does not turn tiny wobbles into large z.
    """

    name: str
    label: str
    direction: int
    scale_floor: float
    statistic: Callable[[TileStatistics], np.ndarray]


CUES: tuple[Cue, ...] = (
    Cue("smoother", "smoother than the rest (noise)", -1, 0.15, lambda s: s.noise_ratio.values),
    Cue("noisier", "noisier than the rest (noise)", +1, 0.15, lambda s: s.noise_ratio.values),
    Cue("periodic", "periodic resampling trace", +1, 0.25, lambda s: s.periodic_excess.values),
    Cue("trace-missing", "camera/grid trace missing", +1, 0.25, lambda s: s.periodic_deficit.values),
    Cue("error-level", "compression differs (error level)", +1, 0.15,
        lambda s: np.log2((s.error_level.values + 0.25) / (s.median_error_level + 0.25))),
)

CUE_BY_NAME = {cue.name: cue for cue in CUES}

def cue_z_maps(stats: TileStatistics) -> dict[str, np.ndarray]:
    """Robust z-score of every cue for every tile, against the image's own tiles."""
    z = {}
    for cue in CUES:
        values = cue.statistic(stats).astype(np.float64)
        finite = values[np.isfinite(values)]
        if finite.size < 4:
            z[cue.name] = np.zeros_like(values)
            continue
        median = float(np.median(finite))
        mad = float(np.median(np.abs(finite - median))) * 1.4826
        z[cue.name] = cue.direction * (values - median) / max(mad, cue.scale_floor)
    return z
