"""JPEG compression-history traces, for JPEG files only.

A photo saved as JPEG, edited and saved again carries two compressions in the
untouched part and one in whatever was pasted in (or the other way round).
Three channels, all from the 8x8 DCT of the decoded luma on the file's own
block grid:

double quantisation (aligned)
    Dividing a block's DCT coefficients by the file's own table gives near
    integers k.  Where the block was quantised once before with another table,
    the histogram of k over the image has periodic peaks and gaps; a
    double-compressed block's coefficients land in the peaks, a singly
    compressed one's follow the smooth envelope.  Per block: the sum over the
    low frequencies of log(histogram / smoothed histogram) at its k (after Lin
    et al. 2009, "fast, automatic and fine-grained tampered JPEG detection").
JPEG ghost
    Re-quantising at quality q costs little where the block was already
    quantised at q (Farid 2009).  Computed in the DCT domain (orthonormal, so
    the squared error is the pixel-domain one, before rounding) at qualities
    50-95, normalised per block across q; the channel is the ghost at the
    quality where the image dips most.
8x8 grid
    Strength of the blocking edges at the image's own grid phase against the
    other seven phases, and how far a cell's strongest phase sits from the
    image's (a pasted JPEG crop keeps its own, misaligned, grid).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from models.evidence.maps.base import InconsistencyMap, LocalMap, MapInput, robust_z

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
# Smallest spread per channel (its units): most cells' grid offset is exactly 0, whose MAD
# of 0 would turn every cell with its own grid into a huge z.
Z_FLOORS = {"double quantisation": 0.1, "JPEG ghost": 0.05, "8x8 grid strength": 0.25, "8x8 grid offset": 0.5}
GHOST_QUALITIES = (50, 60, 70, 75, 80, 85, 90, 95)
GHOST_FREQUENCIES = 4  # the 4x4 lowest: where a quality's table differs most, at a quarter of the cost


def quality_table(quality: int) -> np.ndarray:
    """libjpeg's luma table at `quality` (1-100)."""
    scale = 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality
    return np.clip(np.floor((STANDARD_LUMA * scale + 50.0) / 100.0), 1, 255).astype(np.float32)


def double_quantisation(coefficients: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Per block: summed log(histogram / smoothed histogram) of its quantised low-frequency coefficients."""
    score = np.zeros(coefficients.shape[:2], np.float32)
    kernel = np.ones(5, np.float32) / 5.0
    for u, v in LOW_FREQUENCIES:
        k = np.rint(coefficients[..., u, v] / table[u, v]).astype(np.int64)
        index = np.clip(k, -HISTOGRAM_RANGE, HISTOGRAM_RANGE) + HISTOGRAM_RANGE
        histogram = np.bincount(index.ravel(), minlength=2 * HISTOGRAM_RANGE + 1).astype(np.float32)
        smooth = np.convolve(histogram, kernel, mode="same")
        contribution = np.log((histogram + 1.0) / (smooth + 1.0))[index]
        score += np.where(np.abs(k) >= 1, contribution, 0.0)  # the zero bin is everyone's peak
    return score


def ghost(coefficients: np.ndarray, own_quality: int | None) -> np.ndarray:
    """Per block: the normalised re-quantisation error at the quality where the image dips most."""
    qualities = [q for q in GHOST_QUALITIES if own_quality is None or abs(q - own_quality) > 2]
    low_band = coefficients[..., :GHOST_FREQUENCIES, :GHOST_FREQUENCIES]
    errors = np.stack([np.square(low_band - np.rint(low_band / t) * t).sum(axis=(-2, -1))
                       for t in (quality_table(q)[:GHOST_FREQUENCIES, :GHOST_FREQUENCIES] for q in qualities)])
    low, high = errors.min(axis=0), errors.max(axis=0)
    normalised = (errors - low) / np.maximum(high - low, 1.0)
    dip = int(np.argmin(np.median(normalised.reshape(len(qualities), -1), axis=1)))
    return normalised[dip]


def grid_traces(luma8: np.ndarray, stride: int, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """(grid strength at the image's phase, offset of each cell's strongest phase) per cell,
    from the horizontal and vertical blocking edges of each cell's sampled block."""
    step = 8 * stride
    ys = np.arange(rows)[:, None] * step + np.arange(-1, 8)[None, :]  # one pixel before the block, then its 8
    xs = np.arange(cols)[:, None] * step + np.arange(-1, 8)[None, :]
    ys, xs = np.clip(ys, 0, luma8.shape[0] - 1), np.clip(xs, 0, luma8.shape[1] - 1)
    inside_y, inside_x = ys[:, 1:], xs[:, 1:]
    # Horizontal differences inside each sampled block's rows: (rows, 8, cols, 9) -> per x phase.
    across = luma8[inside_y.ravel()][:, xs.ravel()].reshape(rows, 8, cols, 9).astype(np.int16)
    horizontal = np.abs(np.diff(across, axis=3)).mean(axis=1)            # (rows, cols, 8)
    down = luma8[ys.ravel()][:, inside_x.ravel()].reshape(rows, 9, cols, 8).astype(np.int16)
    vertical = np.abs(np.diff(down, axis=1)).mean(axis=3).swapaxes(1, 2)  # (rows, cols, 8)
    strength = np.zeros((rows, cols), np.float32)
    offset = np.zeros((rows, cols), np.float32)
    for edges in (horizontal, vertical):
        image_phase = int(np.argmax(edges[1:, 1:].reshape(-1, 8).mean(axis=0)))
        others = (edges.sum(axis=-1) - edges[..., image_phase]) / 7.0
        strength += np.log2((edges[..., image_phase] + 0.5) / (others + 0.5))
        offset += np.log2((edges.max(axis=-1) + 0.5) / (edges[..., image_phase] + 0.5))
    return strength, offset


@lru_cache(maxsize=64)
def _estimated_quality(table: tuple[int, ...]) -> int:
    values = np.asarray(table, np.float32).reshape(8, 8)
    return int(min(range(1, 101), key=lambda q: float(np.abs(quality_table(q) - values).mean())))


def estimated_quality(table: np.ndarray) -> int:
    """The libjpeg quality whose table is closest to the file's (for the ghost to skip it)."""
    return _estimated_quality(tuple(int(v) for v in table.ravel()))


def measure(image: MapInput) -> InconsistencyMap | None:
    if image.luma_quantization is None or len(image.luma_quantization) != 64 or not image.grid_aligned:
        return None
    if image.pixels.luma8 is None or image.pixels.block_sigma.size < 64:
        return None
    table = np.maximum(np.asarray(image.luma_quantization, np.float32).reshape(8, 8), 1.0)
    coefficients = image.block_dct
    rows, cols = coefficients.shape[:2]
    strength, offset = grid_traces(image.pixels.luma8, image.stride, rows, cols)
    flat = ~np.isfinite(image.sampled_sigma)  # constant or clipped blocks carry no trace
    strength[0], strength[:, 0], offset[0], offset[:, 0] = np.nan, np.nan, np.nan, np.nan  # no edge before them
    channels = {
        "double quantisation": double_quantisation(coefficients, table),
        "JPEG ghost": ghost(coefficients, estimated_quality(table)),
        "8x8 grid strength": strength,
        "8x8 grid offset": offset,
    }
    return InconsistencyMap(
        name=JPEG_MAP.name,
        channels={name: robust_z(np.where(flat, np.nan, values), Z_FLOORS[name]) for name, values in channels.items()},
        cell=image.cell, width=image.pixels.width, height=image.pixels.height,
        # A patch lacks the dip of the rest, lacks the grid, or has its own grid; double
        # quantisation can be missing from the patch or from the rest.
        directions={"JPEG ghost": (+1,), "8x8 grid strength": (-1,), "8x8 grid offset": (+1,)})


JPEG_MAP = LocalMap(
    name="jpeg-traces",
    label="compression history differs (JPEG traces)",
    legend="JPEG traces: bright where double compression, a JPEG ghost or the 8x8 grid differ from the rest",
    measure=measure,
)
