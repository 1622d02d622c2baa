"""Do matched keypoints agree on one geometry?  A cropped, padded or resized copy maps
every corner of the original by the same scale and shift; corners that merely look
alike in two unrelated pictures do not.  The fit is a small RANSAC over pairs of
matches (two matches fix a scale and a shift)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# How far (fraction of the stored picture's longer side) a mapped corner may land from its match.
TOLERANCE = 0.015
MIN_SCALE, MAX_SCALE = 0.25, 4.0
HYPOTHESES = 300
# Corners closer than this (fraction of the longer side) fix no scale.
MIN_SPAN = 0.05


@dataclass(frozen=True)
class Fit:
    """stored = scale * query + shift, and how many distinct query corners agree."""

    inliers: int
    scale: float
    shift_x: float
    shift_y: float
    # The smaller side of the box around the agreeing corners (fraction of the longer side):
    # a shared logo or border agrees in one small patch, a copy across the picture.
    spread: float = 0.0


def fit_scale_shift(query_points: np.ndarray, stored_points: np.ndarray, query_ids: np.ndarray,
                    seed: int = 0, hypotheses: int = HYPOTHESES) -> Fit | None:
    """The scale-and-shift most matches agree on, or None with fewer than two matches.
    `query_ids` names the query corner of each match, so one corner counts once."""
    count = len(query_points)
    if count < 2:
        return None
    generator = np.random.default_rng(seed)
    if count * (count - 1) // 2 <= hypotheses:
        first, second = np.triu_indices(count, 1)
    else:
        first = generator.integers(0, count, hypotheses)
        second = generator.integers(0, count, hypotheses)
    # All hypotheses at once: each pair of matches fixes a scale and a shift.
    span = np.linalg.norm(query_points[second] - query_points[first], axis=1)
    usable = (first != second) & (span >= MIN_SPAN)
    first, second, span = first[usable], second[usable], span[usable]
    scale = np.linalg.norm(stored_points[second] - stored_points[first], axis=1) / np.maximum(span, 1e-9)
    usable = (scale >= MIN_SCALE) & (scale <= MAX_SCALE)
    first, scale = first[usable], scale[usable]
    if len(first) == 0:
        return None
    shift = stored_points[first] - scale[:, None] * query_points[first]
    predicted = scale[:, None, None] * query_points[None] + shift[:, None, :]
    error = np.linalg.norm(stored_points[None] - predicted, axis=2)
    close = error < TOLERANCE * np.maximum(1.0, scale)[:, None]
    corners = np.unique(query_ids, return_inverse=True)[1]
    one_hot = np.zeros((len(query_ids), corners.max() + 1), dtype=bool)
    one_hot[np.arange(len(query_ids)), corners] = True
    inliers = (close.astype(np.int32) @ one_hot.astype(np.int32) > 0).sum(axis=1)
    best = int(np.argmax(inliers))
    agreeing = query_points[close[best]]
    spread = float(min(np.ptp(agreeing[:, 0]), np.ptp(agreeing[:, 1]))) if len(agreeing) else 0.0
    return Fit(int(inliers[best]), float(scale[best]), float(shift[best][0]), float(shift[best][1]), spread)


def covered_fractions(fit: Fit, query_size: tuple[int, int], stored_size: tuple[int, int]) -> tuple[float, float]:
    """(share of the stored picture the query shows, share of the query that is the stored
    picture): below 1 on the left means the query is a crop, on the right that it adds a
    frame or padding (a screenshot)."""
    query_longer, stored_longer = max(query_size), max(stored_size)
    query_w, query_h = query_size[0] / query_longer, query_size[1] / query_longer
    stored_w, stored_h = stored_size[0] / stored_longer, stored_size[1] / stored_longer
    x1, y1 = fit.shift_x, fit.shift_y
    x2, y2 = x1 + fit.scale * query_w, y1 + fit.scale * query_h
    overlap = max(0.0, min(x2, stored_w) - max(x1, 0.0)) * max(0.0, min(y2, stored_h) - max(y1, 0.0))
    return overlap / (stored_w * stored_h), overlap / ((x2 - x1) * (y2 - y1))
