"""How unusual a local-map peak is, measured on real photographs.

Every real photo has some strongest window in every channel of every map; a
peak means something only if it is stronger than those.  Per key (map,
channel, window scale, direction) the reference keeps the real photos'
strongest peaks, and a peak becomes its rank among them on a normal scale
(the probit of its share; beyond the strongest, rising by the key's tail
width), which puts all keys on one scale without letting one key's long
tail set the bar; each reference photo's largest normalised peak over all
keys then forms the reference distribution.  A peak's score is the share of reference photos
whose largest peak was smaller: 0.97 reads "more unusual than anything any map
found in 97% of the real photos measured", multiple comparisons included.

The reference photos are the real photos of the developer set's "tune" half
(dup_group split, benchmarks/bench_splices.py) whose licence allows it, each
as received (with its PNG export's lossless primary quantisation) and re-saved
as JPEG at quality 95, 90 and 80, since delivered photos are re-compressed or
exported.  Keys that too few reference photos reach (a camera's
demosaicing trace survives in few of them) borrow the spread of all keys at
the same window scale.  Rebuild with
`.venv/bin/python -m models.evidence.maps.calibration MANIFEST`.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "weights" / "local_map_calibration.json"
MIN_PHOTOS_PER_KEY = 8
RESAVE_QUALITIES = (95, 90, 80)


class LocalCalibrationError(Exception):
    """The local-map calibration table is missing or malformed."""


@dataclass
class LocalMapCalibration:
    keys: dict[str, np.ndarray]      # key -> sorted strongest peaks of the real photos
    fallback: dict[str, np.ndarray]  # window scale -> the same over every key at that scale
    photo_peaks: np.ndarray                   # sorted: each reference photo's largest normalised peak
    record: dict = field(default_factory=dict)

    def normalised(self, key: str, statistic: float) -> float:
        scale = key.split("|")[2] if key.count("|") == 3 else "0"
        reference = self.keys.get(key)
        if reference is None:
            reference = self.fallback.get(scale, np.zeros(1))
        return _probit_rank(reference, statistic)

    def score(self, key: str, statistic: float) -> float:
        """Share of reference photos whose largest peak was smaller (at most n / (n + 1))."""
        count = self.photo_peaks.size
        rank = np.interp(self.normalised(key, statistic), self.photo_peaks, np.arange(1, count + 1),
                         left=0.0, right=count)
        return float(rank / (count + 1.0))

    @property
    def reference_photos(self) -> int:
        return int(self.photo_peaks.size)

    def to_json(self) -> dict:
        return {"record": self.record,
                "keys": {k: [round(float(v), 4) for v in a] for k, a in sorted(self.keys.items())},
                "fallback": {k: [round(float(v), 4) for v in a] for k, a in sorted(self.fallback.items())},
                "photo_peaks": [round(float(v), 4) for v in self.photo_peaks]}

    @classmethod
    def from_json(cls, data: dict) -> "LocalMapCalibration":
        try:
            keys = {str(k): np.sort(np.asarray(v, np.float64)) for k, v in data["keys"].items()}
            fallback = {str(k): np.sort(np.asarray(v, np.float64)) for k, v in data["fallback"].items()}
            peaks = np.sort(np.asarray(data["photo_peaks"], np.float64))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise LocalCalibrationError(f"malformed local-map calibration: {type(exc).__name__}: {exc}") from None
        arrays = [peaks, *keys.values(), *fallback.values()]
        if any(a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)) for a in arrays):
            raise LocalCalibrationError("malformed local-map calibration: no reference peaks")
        return cls(keys, fallback, peaks, dict(data.get("record") or {}))

    @classmethod
    def load(cls, path: Path | None = None) -> "LocalMapCalibration":
        return _load_cached(str(path or DEFAULT_PATH))


@lru_cache(maxsize=4)
def _load_cached(path: str) -> LocalMapCalibration:
    try:
        return LocalMapCalibration.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise LocalCalibrationError(f"local-map calibration not found at {path}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise LocalCalibrationError(f"local-map calibration at {path} is unreadable: {exc}") from None


def half_of(group: str) -> str:
    """'tune' or 'test': a stable split of the developer set's dup_groups (never of files)."""
    return "tune" if hashlib.sha256(group.encode()).digest()[0] % 2 == 0 else "test"


def strongest_peaks(peaks: Iterable) -> dict[str, float]:
    best: dict[str, float] = {}
    for peak in peaks:
        best[peak.key] = max(best.get(peak.key, -np.inf), peak.statistic)
    return best


def calibrate(photos: list[dict[str, float]], record: dict | None = None) -> LocalMapCalibration:
    """From each reference photo's strongest peak per key."""
    if not photos:
        raise LocalCalibrationError("no reference photos to calibrate on")
    per_key: dict[str, list[float]] = {}
    for photo in photos:
        for key, value in photo.items():
            per_key.setdefault(key, []).append(value)
    keys = {k: np.sort(v) for k, v in per_key.items() if len(v) >= MIN_PHOTOS_PER_KEY}
    per_scale: dict[str, list[float]] = {}
    for key, values in per_key.items():
        per_scale.setdefault(key.split("|")[2], []).extend(values)
    fallback = {scale: np.sort(values) for scale, values in per_scale.items()}
    table = LocalMapCalibration(keys, fallback, np.zeros(1), dict(record or {}))
    table.photo_peaks = np.sort([max(table.normalised(k, v) for k, v in photo.items()) if photo else 0.0
                                 for photo in photos])
    table.record.update({"reference_photos": len(photos),
                         "photos_per_key": {k: len(v) for k, v in sorted(per_key.items())}})
    return table


def _probit_rank(reference: np.ndarray, statistic: float) -> float:
    """The statistic's share among the reference values (n sorted, shares 1/(n+1) .. n/(n+1)),
    as a standard-normal quantile; beyond the largest, it keeps rising by one per tail
    width (90th percentile - median, over 1.28), so stronger peaks still rank higher."""
    from statistics import NormalDist

    count = reference.size
    shares = np.arange(1, count + 1) / (count + 1.0)
    if statistic <= reference[-1]:
        share = float(np.interp(statistic, reference, shares, left=0.5 / (count + 1.0)))
        return NormalDist().inv_cdf(min(max(share, 1e-6), 1 - 1e-6))
    width = max((float(np.quantile(reference, 0.9)) - float(np.median(reference))) / 1.2816, 1e-3)
    return NormalDist().inv_cdf(shares[-1]) + (statistic - float(reference[-1])) / width


def reference_variants(data: bytes) -> list[bytes]:
    """A reference photo as received and re-saved at RESAVE_QUALITIES."""
    from PIL import Image

    variants = [data]
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
        for quality in RESAVE_QUALITIES:
            buffer = io.BytesIO()
            rgb.save(buffer, "JPEG", quality=quality)
            variants.append(buffer.getvalue())
    return variants


def lossless_export_peaks(data: bytes) -> dict[str, float]:
    """The strongest peaks of a photo's PNG export in the channels only a lossless file has."""
    from PIL import Image

    from models.evidence.maps import measure_local_maps, peaks_of
    from models.evidence.maps.jpeg_traces import LOSSLESS_PRIMARY
    from models.image_input import load_image

    with Image.open(io.BytesIO(data)) as image:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, "PNG")
    peaks = strongest_peaks(peaks_of(measure_local_maps(load_image(buffer.getvalue()))))
    return {key: value for key, value in peaks.items() if key.split("|")[1] == LOSSLESS_PRIMARY}


def calibrate_from_manifest(manifest: Path, out: Path = DEFAULT_PATH) -> LocalMapCalibration:
    from models.evidence.dev_manifest import read_manifest
    from models.evidence.maps import measure_local_maps, peaks_of
    from models.image_input import ImageInputError, load_image

    entries = [e for e in read_manifest(Path(manifest)) if e.label == 0 and e.trainable and half_of(e.group) == "tune"]
    photos = []
    for entry in entries:
        try:
            data = entry.path.read_bytes()
            variants = [strongest_peaks(peaks_of(measure_local_maps(load_image(v)))) for v in reference_variants(data)]
            # The photo as received also stands for its lossless export (the same pixels), whose
            # lossless primary quantisation no JPEG measures: only that channel is added, or its
            # other channels would count the same pixels twice.
            variants[0].update(lossless_export_peaks(data))
            photos.extend(variants)
        except (ImageInputError, OSError) as exc:
            print(f"skipped {entry.path.name}: {exc}", file=sys.stderr)
    table = calibrate(photos, {"built_by": "python -m models.evidence.maps.calibration MANIFEST",
                               "manifest": Path(manifest).name, "real_photos": len(entries),
                               "variants": ["as received (and its PNG export's lossless lattice)"]
                               + [f"JPEG q{q}" for q in RESAVE_QUALITIES],
                               "split": "dup_group half 'tune' (benchmarks/bench_splices.py)"})
    Path(out).write_text(json.dumps(table.to_json(), indent=1) + "\n", encoding="utf-8")
    _load_cached.cache_clear()
    return table


if __name__ == "__main__":
    built = calibrate_from_manifest(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_PATH)
    print(f"{built.reference_photos} reference variants; peaks at 90/95/97%: "
          f"{np.quantile(built.photo_peaks, [0.9, 0.95, 0.97]).round(2).tolist()}")
