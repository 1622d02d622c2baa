"""What "unusual" means for a local cue, measured on real photographs.

Every photo has some tile that departs from the rest: the maximum of hundreds
of tile z-scores is large even in an untouched picture, and larger in small,
heavily recompressed ones.  So a cue's z-score is turned into a score by
asking how many real photographs of the reference set had their most extreme
tile, for that cue and tile scale, below it.  A region score of 0.95 thus
reads "more unusual than in 95% of the real photos measured", a statement
that can be checked, instead of an arbitrary threshold.

The shipped table is built by `zoomin calibrate-scan MANIFEST` from the real
images of the developer set whose licence allows it (see
models/evidence/weights/scan_calibration.json for the record).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from models.evidence.cues import CUES, cue_scores
from models.evidence.signal_maps import PixelEvidence, measure_tiles

DEFAULT_PATH = Path(__file__).with_name("weights") / "scan_calibration.json"


class CalibrationError(Exception):
    """The calibration table is missing or malformed."""


@dataclass
class ScanCalibration:
    """Sorted per-image maximum z of each cue at each scale index, over real photos."""

    reference: dict[str, np.ndarray]
    record: dict = field(default_factory=dict)

    @staticmethod
    def key(scale_index: int, cue: str) -> str:
        return f"{scale_index}:{cue}"

    def reference_for(self, scale_index: int, cue: str) -> np.ndarray:
        # Coarse scales exist only for larger photos; fall back to the nearest finer one measured.
        for index in range(scale_index, -1, -1):
            values = self.reference.get(self.key(index, cue))
            if values is not None and values.size:
                return values
        raise CalibrationError(f"no calibration for cue {cue!r}")

    def score(self, scale_index: int, cue: str, z: np.ndarray | float) -> np.ndarray:
        """Share of reference photos whose most extreme tile was less extreme (0..1).

        Beyond the most extreme reference photo the score approaches but never
        reaches 1: n photos cannot vouch for more than n / (n + 1)."""
        reference = self.reference_for(scale_index, cue)
        count = reference.size
        ranks = np.interp(np.nan_to_num(np.asarray(z, np.float64), nan=-np.inf),
                          reference, np.arange(1, count + 1), left=0.0, right=count)
        return ranks / (count + 1.0)

    def to_json(self) -> dict:
        return {"record": self.record,
                "reference": {k: [round(float(v), 4) for v in values] for k, values in self.reference.items()}}

    @classmethod
    def from_json(cls, data: dict) -> "ScanCalibration":
        try:
            reference = {str(k): np.sort(np.asarray(v, np.float64)) for k, v in data["reference"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CalibrationError(f"malformed scan calibration: {exc}") from None
        if not reference or any(v.ndim != 1 or not np.all(np.isfinite(v)) for v in reference.values()):
            raise CalibrationError("malformed scan calibration: empty or non-finite reference values")
        return cls(reference, dict(data.get("record") or {}))

    @classmethod
    def load(cls, path: Path | None = None) -> "ScanCalibration":
        return _load_cached(str(path or DEFAULT_PATH))


@lru_cache(maxsize=4)
def _load_cached(path: str) -> ScanCalibration:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibrationError(f"scan calibration not found at {path}; rebuild it with "
                               "`zoomin calibrate-scan MANIFEST`") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"scan calibration at {path} is unreadable: {exc}") from None
    return ScanCalibration.from_json(data)


def image_maxima(rgb: np.ndarray) -> dict[str, float]:
    """Most extreme tile z of every cue at every scale of one image."""
    maxima = {}
    for index, stats in enumerate(measure_tiles(PixelEvidence.compute(rgb))):
        scores = cue_scores(stats)
        for cue in CUES:
            values = scores.z[cue.name]
            if np.isfinite(values).any():
                maxima[ScanCalibration.key(index, cue.name)] = float(np.nanmax(values))
    return maxima


def calibrate(real_images: Iterable[np.ndarray], record: dict | None = None) -> ScanCalibration:
    """Build the table from RGB arrays of real photographs."""
    collected: dict[str, list[float]] = {}
    count = 0
    for rgb in real_images:
        count += 1
        for key, value in image_maxima(rgb).items():
            collected.setdefault(key, []).append(value)
    if not collected:
        raise CalibrationError("no usable real photos to calibrate on")
    summary = {"real_photos": count, "per_key_counts": {k: len(v) for k, v in sorted(collected.items())}}
    return ScanCalibration({k: np.sort(np.asarray(v)) for k, v in collected.items()},
                           {**(record or {}), **summary})
