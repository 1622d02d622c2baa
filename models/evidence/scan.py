"""Stage 1 of the evidence engine: the local-inconsistency maps' compact peaks -> at most K boxes.

The local maps (models.evidence.maps: noise, JPEG traces, demosaicing) each
propose their compact peaks that are beyond those of real photos
(models.evidence.maps.calibration); they and the learned model's confident
tiles compete in non-maximum suppression (OpenCV's), and the best K survive.

The older per-tile cues (models.evidence.cues: noise level, periodic trace,
error level) no longer propose boxes: on the dev set's "tune" half
(benchmarks/bench_splices.py) they put 20 boxes on untouched real photos for
10 on pasted regions that the maps did not already find.  The examination
still reads them to explain a region.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.evidence.image_signals import ImageSignals
from models.evidence.maps import LOCAL_MIN_SCORE, label_of, proposed_peaks
from models.evidence.tile_grid import TileGrid
from models.types import Box, Region


@dataclass(frozen=True)
class ScanSettings:
    max_regions: int = 5
    min_score: float = 0.9
    nms_iou: float = 0.3

    def __post_init__(self) -> None:
        if self.max_regions < 0:
            raise ValueError("max_regions must be 0 or more")
        if not 0.0 < self.min_score <= 1.0:
            raise ValueError("min_score must lie in (0, 1]")


@dataclass(frozen=True)
class Candidate:
    box: Box
    score: float
    label: str


def candidates_from_grid(score: np.ndarray, label: str, grid: TileGrid, settings: ScanSettings) -> list[Candidate]:
    """Touching tiles of a 0..1 score map at or above `min_score`, as boxes."""
    mask = (np.nan_to_num(score, nan=0.0) >= settings.min_score).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    found = []
    for component in range(1, count):
        x, y, w, h = (int(v) for v in stats[component, :4])
        found.append(Candidate(grid.box(y, x, h, w), float(score[labels == component].max()), label))
    return found


# A block whose luma varies less than this (grey levels of standard deviation) shows no
# structure: sky, background blur, a flat wall.  A box mostly made of such blocks is
# "texture-less"; on a generated image a learned-model box there explains nothing.
STRUCTURED_BLOCK_SPREAD = 4.0
MIN_STRUCTURED_SHARE = 0.3


def structured_share(signals: ImageSignals, box: Box) -> float:
    """Share of the box's 8x8 blocks with visible structure (edges, texture, detail)."""
    luma = signals.pixels.luma8
    if luma is None:
        return 1.0
    rows, cols = box.clip(signals.pixels.width, signals.pixels.height).pixel_slices()
    crop = luma[rows, cols]
    bh, bw = crop.shape[0] // 8, crop.shape[1] // 8
    if bh == 0 or bw == 0:
        return 1.0
    blocks = crop[: bh * 8, : bw * 8].reshape(bh, 8, bw, 8).astype(np.float32)
    return float(np.mean(blocks.std(axis=(1, 3)) >= STRUCTURED_BLOCK_SPREAD))


def with_structure(candidates: list[Candidate], signals: ImageSignals) -> list[Candidate]:
    """The candidates whose box has structure (for the learned model's tile boxes, whose
    high P(AI) on a smooth background or sky says nothing about where to look)."""
    return [c for c in candidates if structured_share(signals, c.box) >= MIN_STRUCTURED_SHARE]


def prefer_structure(candidates: list[Candidate], signals: ImageSignals) -> list[Candidate]:
    """Boxes with structure first, texture-less ones (sky, background blur) after, each group
    best first: when there are more candidates than slots, the texture-less lose theirs."""
    return sorted(candidates, key=lambda c: structured_share(signals, c.box) < MIN_STRUCTURED_SHARE)


def local_map_candidates(signals: ImageSignals, settings: ScanSettings) -> list[Candidate]:
    """Compact peaks of the local-inconsistency maps (models.evidence.maps) beyond those
    of LOCAL_MIN_SCORE of real photos (and at least the scan's own minimum)."""
    if signals.local_calibration is None:
        return []
    threshold = max(settings.min_score, LOCAL_MIN_SCORE)
    return [Candidate(peak.box, score, label_of(peak.key))
            for peak, score in proposed_peaks(signals.local_maps, signals.local_calibration, threshold)]


def propose_regions(signals: ImageSignals, settings: ScanSettings,
                    extra: list[Candidate] | None = None) -> list[Region]:
    """The scan: the local maps' compact peaks (plus `extra`, e.g. from the learned
    model's tile map), suppressed and ranked."""
    candidates = list(extra or []) + local_map_candidates(signals, settings)
    kept = sorted(prefer_structure(suppress(candidates, settings.nms_iou), signals)[: settings.max_regions],
                  key=lambda c: c.score, reverse=True)
    return [Region(box=c.box, score=c.score, label=c.label, id=f"r{i}") for i, c in enumerate(kept, 1)]


def suppress(candidates: list[Candidate], iou_threshold: float) -> list[Candidate]:
    """Non-maximum suppression, best first (OpenCV's, which is already loaded;
    torchvision's would cost a torch import on every command-line run)."""
    if not candidates:
        return []
    boxes = [(c.box.x1, c.box.y1, c.box.width, c.box.height) for c in candidates]
    kept = cv2.dnn.NMSBoxes(boxes, [c.score for c in candidates], 0.0, iou_threshold)
    survivors = [candidates[int(i)] for i in np.asarray(kept).ravel()]
    return sorted(survivors, key=lambda c: c.score, reverse=True)
