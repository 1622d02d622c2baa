"""The local-inconsistency maps: one registry that the scan, the examination and the zoom panel read.

Each map is a module of this package (noise_inconsistency, jpeg_traces, cfa)
exporting one LocalMap; adding a map means adding its module and one entry in
LOCAL_MAPS.  Their peaks (models.evidence.maps.anomaly) become scan
candidates scored against real photos (models.evidence.maps.calibration).
"""

from __future__ import annotations

import numpy as np

from models.evidence.maps.anomaly import Peak, box_statistics, is_compact, map_peaks
from models.evidence.maps.base import InconsistencyMap, LocalMap, MapInput
from models.evidence.maps.calibration import LocalMapCalibration
from models.evidence.maps.cfa import CFA_MAP
from models.evidence.maps.jpeg_traces import JPEG_MAP
from models.evidence.maps.noise_inconsistency import NOISE_MAP
from models.evidence.signal_maps import PixelEvidence
from models.types import Box, Evidence

LOCAL_MAPS: tuple[LocalMap, ...] = (NOISE_MAP, JPEG_MAP, CFA_MAP)
# Containers that store pixels exactly, so a JPEG decoded into one keeps its DCT lattice (GIF's
# palette and WebP's own lossy transform do not).
LOSSLESS_FORMATS = frozenset({"PNG", "TIFF", "BMP", "PPM"})
MAP_BY_NAME = {m.name: m for m in LOCAL_MAPS}
# A local map's box needs a peak beyond those of this share of real photos: three maps,
# several channels and two window sizes on top of the tile cues must not add false boxes.
LOCAL_MIN_SCORE = 0.97


def map_input(rgb: np.ndarray, pixels: PixelEvidence, file_format: str = "",
              jpeg_quantization: dict[int, list[int]] | None = None, orientation: int = 1,
              lattice_rgb: np.ndarray | None = None) -> MapInput:
    luma = (jpeg_quantization or {}).get(0) if file_format.upper() in ("JPEG", "MPO") else None
    return MapInput(rgb, pixels, tuple(luma) if luma else None, grid_aligned=orientation in (0, 1),
                    lossless=file_format.upper() in LOSSLESS_FORMATS, lattice_rgb=lattice_rgb)


def measure_local_maps(image, pixels: PixelEvidence | None = None) -> list[InconsistencyMap]:
    """Every registered map that applies to a LoadedImage (pixels: the engine's, if measured)."""
    pixels = pixels if pixels is not None else PixelEvidence.compute(image.rgb)
    return measure_maps(map_input(image.rgb, pixels, image.format, image.jpeg_quantization, image.orientation))


def measure_maps(given: MapInput) -> list[InconsistencyMap]:
    return [found for local in LOCAL_MAPS if (found := local.measure(given)) is not None]


def peaks_of(maps: list[InconsistencyMap]) -> list[Peak]:
    return [peak for found in maps for peak in map_peaks(found)]


def scored_peaks(maps: list[InconsistencyMap], calibration: LocalMapCalibration) -> list[tuple[Peak, float]]:
    """Every peak with its score against real photos, best first."""
    scored = [(peak, calibration.score(peak.key, peak.statistic)) for peak in peaks_of(maps)]
    return sorted(scored, key=lambda item: item[1], reverse=True)


def proposed_peaks(maps: list[InconsistencyMap], calibration: LocalMapCalibration,
                   min_score: float = LOCAL_MIN_SCORE) -> list[tuple[Peak, float]]:
    """The peaks the scan may box, best first: beyond those of `min_score` of real photos, at or
    above their channel's floor, and compact (models.evidence.maps.anomaly.is_compact)."""
    by_name = {found.name: found for found in maps}
    kept = []
    for peak, score in scored_peaks(maps, calibration):
        name, channel, scale, _ = peak.key.split("|")
        found = by_name[name]
        if (score >= min_score and peak.statistic >= found.floor(channel, int(scale))
                and is_compact(peak.box, found.width, found.height)):
            kept.append((peak, score))
    return kept


def label_of(key: str) -> str:
    return MAP_BY_NAME[key.split("|")[0]].label


def region_findings(box: Box, maps: list[InconsistencyMap], calibration: LocalMapCalibration) -> list[Evidence]:
    """One finding per map: its most unusual channel inside the box, scored as the scan scores a peak."""
    findings = []
    for found in maps:
        statistics = box_statistics(found, box)
        if not statistics:
            continue
        key, value = max(statistics.items(), key=lambda item: calibration.score(*item))
        score = calibration.score(key, value)
        channel, direction = key.split("|")[1], key.split("|")[3]
        local = MAP_BY_NAME[found.name]
        notable = score >= LOCAL_MIN_SCORE and value >= found.floor(channel, int(key.split("|")[2]))
        reference = calibration.reference_photos
        verdict = (f"more unusual than anything in {score:.0%} of {reference} real photos measured" if notable
                   else f"within what real photos show (beyond only {score:.0%} of {reference} measured)")
        side = "above" if direction == "+" else "below"
        findings.append(Evidence(
            kind="signal", source=found.name,
            finding=f"{local.name} map, {channel}: the region's cells lie {found.amount(channel, value)} {side} "
                    f"the rest of the image — {verdict}",
            supports="ai-generated" if notable else "neither", strength=score,
            details={"channel": channel, "mean_z": round(value, 4), "score": round(score, 4),
                     "reference_photos": reference, "label": local.label, "notable_at": LOCAL_MIN_SCORE}))
    return findings
