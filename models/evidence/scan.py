"""Stage 1 of the evidence engine: multi-scale tiles -> at most K suspicious boxes.

Each tile size gets its cue z-scores (models.evidence.cues), scored against
real photos (models.evidence.scan_calibration); tiles are grouped by
hysteresis (a component needs one tile at `min_score` and grows through
neighbours at `grow_score`, so the box covers the whole odd region rather than
its single worst tile); the components of every scale compete in
non-maximum suppression (OpenCV's), and the best K survive.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.evidence.cues import CUES, cue_scores
from models.evidence.scan_calibration import ScanCalibration
from models.evidence.signal_maps import TileStatistics
from models.evidence.tile_grid import TileGrid
from models.types import Box, Region


@dataclass(frozen=True)
class ScanSettings:
    max_regions: int = 5
    min_score: float = 0.9
    grow_score: float = 0.5
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
    tile: int


def candidates_from_grid(score: np.ndarray, label_of_tile: np.ndarray, grid: TileGrid, tile: int,
                         settings: ScanSettings) -> list[Candidate]:
    """Hysteresis components of a per-tile score map, as boxes."""
    min_score = settings.min_score
    grow = (score >= min(settings.grow_score, min_score)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(grow, connectivity=8)
    found = []
    for component in range(1, count):
        member_scores = np.where(labels == component, score, -1.0)
        peak = np.unravel_index(int(np.argmax(member_scores)), score.shape)
        if member_scores[peak] < min_score:
            continue
        x, y, w, h = (int(v) for v in stats[component, :4])
        found.append(Candidate(grid.box(y, x, h, w), float(member_scores[peak]), str(label_of_tile[peak]), tile))
    return found


def tile_scores(stats: TileStatistics, scale_index: int, calibration: ScanCalibration) -> tuple[np.ndarray, np.ndarray]:
    """Per tile: the highest calibrated cue score, and that cue's label."""
    z = cue_scores(stats).z
    scored = np.stack([calibration.score(scale_index, cue.name, z[cue.name]) for cue in CUES])
    labels = np.array([cue.label for cue in CUES])
    return scored.max(axis=0), labels[scored.argmax(axis=0)]


def propose_regions(tiles: list[TileStatistics], settings: ScanSettings, calibration: ScanCalibration,
                    extra: list[Candidate] | None = None) -> list[Region]:
    """The scan: cue candidates at every tile size (plus `extra`, e.g. from the
    learned model's tile map), suppressed and ranked."""
    candidates = list(extra or [])
    for scale_index, stats in enumerate(tiles):
        score, label = tile_scores(stats, scale_index, calibration)
        candidates += candidates_from_grid(score, label, stats.noise_sigma, stats.tile, settings)
    kept = suppress(candidates, settings.nms_iou)[: settings.max_regions]
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
