"""What "unusual" means for a local cue, measured on real photographs.

Two levels, both measured on real photos of a reference set:

1. Tile level: how often does a tile of a real photo reach this z-score for
   this cue at this tile size?  The answer is a surprise, -log10 of the tail
   probability, so cues and scales become comparable.
2. Region level: tiles at least GROUP_SURPRISE surprising (1 in 100) that
   touch form a group, whose surprise is the sum of its tiles' (the joint
   surprise if tiles were independent).  A composited patch is a coherent
   block of such tiles; the odd tiles of an untouched photo mostly stand
   alone.  Every photo still has some surprising group somewhere (hundreds of
   tiles, five cues, three scales), so a group is scored by the share of
   reference photos whose MOST surprising group was less surprising.

A region score of 0.95 thus reads "more unusual than anything found in 95% of
the real photos measured", a statement that can be checked; the multiple
comparisons are inside the reference.  The shipped table is built by
`zoomin calibrate-scan MANIFEST` from the real images of the developer set
whose licence allows it (record inside weights/scan_calibration.json).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from models.evidence.cues import cue_z_maps
from models.evidence.signal_maps import PixelEvidence, measure_tiles

DEFAULT_PATH = Path(__file__).with_name("weights") / "scan_calibration.json"
# Tail probabilities at which the tile-level z is recorded (denser in the tail).
TAIL_GRID = tuple(10.0 ** -e for e in np.arange(0.25, 6.01, 0.25))
MAX_TAIL_SLOPE = 2.0
GROUP_SURPRISE = 2.0  # tiles at least this surprising (1 in 100 real-photo tiles) join a group


@dataclass(frozen=True)
class TileGroup:
    """Touching surprising tiles of one cue at one scale."""

    rows: slice
    cols: slice
    surprise: float


def surprising_groups(surprise: np.ndarray) -> list[TileGroup]:
    """Groups of 8-connected tiles at or above GROUP_SURPRISE, with their summed surprise."""
    values = np.nan_to_num(surprise, nan=0.0)
    count, labels, stats, _ = cv2.connectedComponentsWithStats((values >= GROUP_SURPRISE).astype(np.uint8),
                                                               connectivity=8)
    sums = np.bincount(labels.ravel(), weights=values.ravel(), minlength=count)
    return [TileGroup(slice(int(y), int(y + h)), slice(int(x), int(x + w)), float(sums[i]))
            for i, (x, y, w, h) in enumerate(stats[1:, :4], start=1)]


class CalibrationError(Exception):
    """The calibration table is missing or malformed."""


@dataclass
class TailTable:
    """z-scores at decreasing tail probabilities for one cue at one scale."""

    z: np.ndarray         # increasing
    surprise: np.ndarray  # -log10 tail probability, increasing

    def __call__(self, z: np.ndarray | float) -> np.ndarray:
        values = np.nan_to_num(np.asarray(z, np.float64), nan=-np.inf)
        inside = np.interp(values, self.z, self.surprise, left=0.0)
        # Beyond the most extreme tile seen, keep rising at the pace of the last
        # decade of the tail (at most MAX_TAIL_SLOPE decades per unit of z), so
        # two tiles both beyond the data still rank by how far out they are.
        beyond = self.surprise[-1] + self.tail_slope() * (values - self.z[-1])
        return np.where(values > self.z[-1], beyond, inside)

    def tail_slope(self) -> float:
        decade = np.flatnonzero(self.surprise <= self.surprise[-1] - 1.0)
        if decade.size == 0:
            return MAX_TAIL_SLOPE
        rise = self.z[-1] - self.z[decade[-1]]
        return min(MAX_TAIL_SLOPE, 1.0 / max(rise, 1e-6))


@dataclass
class ScanCalibration:
    tails: dict[str, TailTable]
    photo_surprise: np.ndarray  # sorted: each reference photo's most surprising tile group
    record: dict = field(default_factory=dict)

    @staticmethod
    def key(scale_index: int, cue: str) -> str:
        return f"{scale_index}:{cue}"

    def tail(self, scale_index: int, cue: str) -> TailTable:
        # Coarse scales exist only for larger photos; fall back to the nearest finer one measured.
        for index in range(scale_index, -1, -1):
            table = self.tails.get(self.key(index, cue))
            if table is not None:
                return table
        raise CalibrationError(f"no calibration for cue {cue!r}")

    def surprise(self, scale_index: int, cue: str, z: np.ndarray | float) -> np.ndarray:
        """-log10 of how often a tile of a real photo reaches z for this cue and scale."""
        return self.tail(scale_index, cue)(z)

    def score_surprise(self, surprise: np.ndarray | float) -> np.ndarray:
        """Share of reference photos whose most surprising tile group was less surprising.
        n photos cannot vouch for more than n / (n + 1)."""
        count = self.photo_surprise.size
        ranks = np.interp(np.asarray(surprise, np.float64), self.photo_surprise, np.arange(1, count + 1),
                          left=0.0, right=count)
        return ranks / (count + 1.0)

    @property
    def reference_photos(self) -> int:
        return int(self.photo_surprise.size)

    def to_json(self) -> dict:
        return {
            "record": self.record,
            "photo_surprise": [round(float(v), 4) for v in self.photo_surprise],
            "tails": {k: {"z": [round(float(v), 4) for v in t.z], "surprise": [round(float(v), 4) for v in t.surprise]}
                      for k, t in self.tails.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> "ScanCalibration":
        try:
            tails = {str(k): TailTable(np.asarray(v["z"], np.float64), np.asarray(v["surprise"], np.float64))
                     for k, v in data["tails"].items()}
            photos = np.sort(np.asarray(data["photo_surprise"], np.float64))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CalibrationError(f"malformed scan calibration: {type(exc).__name__}: {exc}") from None
        arrays = [photos] + [a for t in tails.values() for a in (t.z, t.surprise)]
        if not tails or photos.size == 0 or any(a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a))
                                                 for a in arrays):
            raise CalibrationError("malformed scan calibration: empty or non-finite values")
        if any(t.z.size != t.surprise.size or np.any(np.diff(t.z) < 0) for t in tails.values()):
            raise CalibrationError("malformed scan calibration: tail tables must be increasing and paired")
        return cls(tails, photos, dict(data.get("record") or {}))

    @classmethod
    def load(cls, path: Path | None = None) -> "ScanCalibration":
        return _load_cached(str(path or DEFAULT_PATH))


@lru_cache(maxsize=4)
def _load_cached(path: str) -> ScanCalibration:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibrationError(f"scan calibration not found at {path}; rebuild it with "
                               "`zoomin calibrate-scan MANIFEST --out PATH`") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"scan calibration at {path} is unreadable: {exc}") from None
    return ScanCalibration.from_json(data)


def tile_z_maps(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """The z map of every cue at every scale of one image."""
    maps = {}
    for index, stats in enumerate(measure_tiles(PixelEvidence.compute(rgb))):
        for cue, z in cue_z_maps(stats).items():
            maps[ScanCalibration.key(index, cue)] = z
    return maps


def most_surprising_group(table: ScanCalibration, z_maps: dict[str, np.ndarray]) -> float:
    best = 0.0
    for key, z in z_maps.items():
        scale, cue = key.split(":", 1)
        groups = surprising_groups(table.surprise(int(scale), cue, z))
        best = max([best] + [g.surprise for g in groups])
    return best


def _tail_table(pooled: np.ndarray) -> TailTable:
    ordered = np.sort(pooled)
    usable = [p for p in TAIL_GRID if p * ordered.size >= 1.0]  # no tail finer than one tile in the data
    z = np.array([np.quantile(ordered, 1.0 - p) for p in usable])
    surprise = -np.log10(np.array(usable))
    return TailTable(np.maximum.accumulate(z), surprise)


def calibrate(real_images: Iterable[np.ndarray], record: dict | None = None) -> ScanCalibration:
    """Build the table from RGB arrays of real photographs."""
    per_photo = [tile_z_maps(rgb) for rgb in real_images]
    pooled: dict[str, list[np.ndarray]] = {}
    for photo in per_photo:
        for key, z in photo.items():
            finite = z[np.isfinite(z)]
            if finite.size:
                pooled.setdefault(key, []).append(finite)
    if not pooled:
        raise CalibrationError("no usable real photos to calibrate on")
    table = ScanCalibration({k: _tail_table(np.concatenate(v)) for k, v in sorted(pooled.items())}, np.zeros(1))
    table.photo_surprise = np.sort([most_surprising_group(table, photo) for photo in per_photo])
    table.record = {**(record or {}), "real_photos": len(per_photo), "group_surprise": GROUP_SURPRISE,
                    "tiles_per_key": {k: int(sum(a.size for a in v)) for k, v in sorted(pooled.items())}}
    return table


def calibrate_from_manifest(manifest: Path, out: Path, progress: bool = True) -> ScanCalibration:
    """Calibrate on the real photos of a labelled manifest whose licence allows
    it (the same allow-list as the signal model's training), and write the table."""
    from collections import Counter

    from tqdm import tqdm

    from models.evidence.dev_manifest import read_manifest
    from models.image_input import ImageInputError, load_image

    entries = [e for e in read_manifest(Path(manifest)) if e.label == 0 and e.trainable]
    skipped: list[str] = []

    def images() -> Iterable[np.ndarray]:
        for entry in tqdm(entries, desc="calibrating", unit="photo", disable=not progress):
            try:
                yield load_image(entry.path).rgb
            except ImageInputError as exc:
                skipped.append(str(exc))

    table = calibrate(images(), {
        "built_by": "zoomin calibrate-scan MANIFEST",
        "manifest": Path(manifest).name,
        "rule": "real photos whose licence passes the allow-list of models/evidence/dev_manifest.py",
        "sources": dict(Counter(e.source for e in entries)),
    })
    table.record["skipped"] = skipped
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table.to_json(), indent=1) + "\n", encoding="utf-8")
    _load_cached.cache_clear()
    return table
