"""Tile statistics: the signal maps of models.evidence.signal_maps summed
per tile, at every scan scale, for the scan to compare against the image's
own typical tile (the meanings and units are in that module's docstring).

Tile means come from sums over runs of 8 pixels, made once per image and
shared by every tile size (see _eight_sums).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.evidence.signal_maps import (ELA_QUALITY, FLAT_BLOCK_QUANTILE, MIN_PERIOD_FREQUENCY, NOISE_BLOCK,
                                         PixelEvidence)
from models.evidence.tile_grid import TileGrid

# A periodic trace this many times above the typical tile's other frequencies is
# consistent enough that its absence from a tile means something.
STRONG_TRACE = 1.4
MEASURABLE_SHARE = 0.5  # of a tile's 8x8 blocks must be neither constant nor clipped


@dataclass
class TileStatistics:
    """Per-tile measurements at one tile size (units: models.evidence.signal_maps).

    noise_ratio is log2 of the tile's noise against the image's own noise level
    function (noise expected at the tile's brightness), so shadows, which are
    naturally quieter, do not stand out.  periodic_excess is log2 of the tile's
    strongest residual peak against the image's median tile at the same
    frequency (a new periodic trace); periodic_deficit is log2 of how much
    weaker than elsewhere the image's dominant trace is in the tile (a
    demosaicing or JPEG grid missing from pasted or generated pixels).
    """

    tile: int
    noise_sigma: TileGrid
    noise_ratio: TileGrid
    periodic_excess: TileGrid
    periodic_deficit: TileGrid
    error_level: TileGrid
    median_error_level: float
    dominant_frequency: float


def _tile_view(array: np.ndarray, tile: int) -> np.ndarray:
    """(rows, cols, tile, tile) view of the whole tiles of a 2-D array."""
    rows, cols = array.shape[0] // tile, array.shape[1] // tile
    return array[: rows * tile, : cols * tile].reshape(rows, tile, cols, tile).swapaxes(1, 2)


def tile_statistics(pixels: PixelEvidence, tile: int) -> TileStatistics:
    """Measure every whole tile of side `tile` pixels."""
    if tile % NOISE_BLOCK:
        raise ValueError(f"tile size must be a multiple of {NOISE_BLOCK}")
    grid = dict(tile_width=tile, tile_height=tile, image_width=pixels.width, image_height=pixels.height)
    per_tile = tile // NOISE_BLOCK

    sigma_blocks = _tile_view(pixels.block_sigma, per_tile)
    rows, cols = sigma_blocks.shape[:2]
    # A tile mostly made of constant or clipped blocks has no residual to read:
    # its noise and its periodic traces are not measured (NaN), rather than
    # reported as "missing", which every letterbox and JPEG-flattened sky would be.
    measurable = np.isfinite(sigma_blocks).reshape(rows, cols, -1).mean(axis=-1) >= MEASURABLE_SHARE
    sigma = _nan_quantile_last_axis(sigma_blocks.reshape(rows, cols, -1), FLAT_BLOCK_QUANTILE)
    ratio_blocks = _tile_view(pixels.block_noise_ratio, per_tile).reshape(rows, cols, -1)
    noise_ratio = _nan_quantile_last_axis(ratio_blocks, FLAT_BLOCK_QUANTILE)

    profile_x, profile_y = _tile_profiles(pixels, tile, rows, cols)
    spectra_x, frequencies = _ratio_spectra(profile_x)
    spectra_y, _ = _ratio_spectra(profile_y)
    spectra = np.maximum(spectra_x, spectra_y)  # (rows, cols, F): either axis may carry the trace
    usable = frequencies >= MIN_PERIOD_FREQUENCY
    reference = spectra[measurable] if measurable.any() else spectra.reshape(-1, spectra.shape[-1])
    typical = np.median(reference, axis=0)  # the image's own spectrum
    excess_all = np.log2(spectra[..., usable] / typical[usable])
    excess = excess_all.max(axis=-1)
    dominant = int(np.flatnonzero(usable)[np.argmax(typical[usable])])
    # Every consistent trace of the image (demosaicing at 1/2, JPEG blocks at 1/8 ...) may go missing.
    traces = np.flatnonzero(usable & (typical >= STRONG_TRACE * np.median(typical[usable])))
    if traces.size:
        deficit = np.max(np.log2(typical[traces] / spectra[..., traces]), axis=-1)
    else:
        deficit = np.zeros(spectra.shape[:2], np.float32)

    noise_ratio[~measurable] = np.nan
    sigma[~measurable] = np.nan
    excess = np.where(measurable, excess, np.nan)
    deficit = np.where(measurable, deficit, np.nan)
    ela = _tile_error_level(pixels, tile, rows, cols)
    return TileStatistics(
        tile=tile,
        noise_sigma=TileGrid(sigma, meaning="noise sigma of the flattest blocks (grey levels)", **grid),
        noise_ratio=TileGrid(noise_ratio, meaning="log2 noise / noise expected at this brightness", **grid),
        periodic_excess=TileGrid(excess.astype(np.float32), meaning="log2 strongest residual peak / image's typical", **grid),
        periodic_deficit=TileGrid(deficit.astype(np.float32),
                                  meaning="log2 image's dominant residual peak / this tile's", **grid),
        error_level=TileGrid(ela, meaning=f"mean |image - JPEG q{ELA_QUALITY}| (grey levels)", **grid),
        median_error_level=_finite_median(ela),
        dominant_frequency=float(frequencies[dominant]),
    )


# Tile means from sums over runs of 8 pixels, made once per image and shared
# by every tile size.  The maps hold whole numbers (|d2x|, |d2y| <= 510, error
# level <= 255), so these sums, and numpy's float32 mean over a tile, are exact
# wherever a tile's sum stays under 2**24, and give the same float32 value; a
# tile whose error level sums past that (a 512 px tile averaging over 64 grey
# levels) has its tiles averaged as before.
_EXACT_FLOAT32 = 2.0 ** 24


def _eight_sums(pixels: PixelEvidence) -> dict[str, np.ndarray]:
    sums = pixels.__dict__.get("_eight_sums")
    if sums is None:
        bh, bw = pixels.height // NOISE_BLOCK, pixels.width // NOISE_BLOCK
        h8, w8 = bh * NOISE_BLOCK, bw * NOISE_BLOCK

        def area(values: np.ndarray, size: tuple[int, int], count: int) -> np.ndarray:
            return cv2.resize(values, size, interpolation=cv2.INTER_AREA) * np.float32(count)  # whole numbers, exact

        sums = {"x": area(pixels.abs_d2x[:h8], (pixels.width, bh), NOISE_BLOCK),   # down 8 rows, per column
                "y": area(pixels.abs_d2y[:, :w8], (bw, pixels.height), NOISE_BLOCK),  # along 8 columns, per row
                "ela": area(pixels.error_level[:h8, :w8], (bw, bh), NOISE_BLOCK ** 2)}
        pixels.__dict__["_eight_sums"] = sums
    return sums


def _tile_profiles(pixels: PixelEvidence, tile: int, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols, tile) column means of |d2x| and row means of |d2y| per tile:
    _tile_view(abs_d2x, tile).mean(axis=2) and _tile_view(abs_d2y, tile).mean(axis=3)."""
    per = tile // NOISE_BLOCK
    sums = _eight_sums(pixels)
    down = sums["x"][: rows * per, : cols * tile].reshape(rows, per, cols, tile).sum(axis=1, dtype=np.float64)
    along = sums["y"][: rows * tile, : cols * per].reshape(rows, tile, cols, per).sum(axis=3, dtype=np.float64)
    return (down / tile).astype(np.float32), (along.swapaxes(1, 2) / tile).astype(np.float32)


def _tile_error_level(pixels: PixelEvidence, tile: int, rows: int, cols: int) -> np.ndarray:
    """_tile_view(error_level, tile).mean(axis=(2, 3)), from the 8x8 block sums."""
    per = tile // NOISE_BLOCK
    blocks = _eight_sums(pixels)["ela"][: rows * per, : cols * per]
    total = blocks.reshape(rows, per, cols, per).sum(axis=(1, 3), dtype=np.float64)
    if (total >= _EXACT_FLOAT32).any():
        return _tile_view(pixels.error_level, tile).mean(axis=(2, 3))
    return (total / (tile * tile)).astype(np.float32)


def tile_sizes(width: int, height: int) -> tuple[int, ...]:
    """Tile sides for the scan: finer tiles on small images, coarser on large
    ones (a 12 MP photo scanned at 32 px would be 11,000 noisy tiles), each
    scale needing at least 3 tiles across the short side."""
    short = min(width, height)
    base = 32 if short <= 1200 else 64 if short <= 2400 else 128
    return tuple(t for t in (base, base * 2, base * 4) if short >= 3 * t)


def measure_tiles(pixels: PixelEvidence) -> list[TileStatistics]:
    """Tile statistics at every scan scale, finest first."""
    return [tile_statistics(pixels, tile) for tile in tile_sizes(pixels.width, pixels.height)]


def _ratio_spectra(profiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude spectra of residual profiles divided by their own median: peak heights."""
    spectrum = np.abs(np.fft.rfft(profiles - profiles.mean(axis=-1, keepdims=True), axis=-1))
    floor = np.median(spectrum[..., 1:], axis=-1, keepdims=True) + 1e-6
    return (spectrum / floor).astype(np.float32) + 1e-3, np.fft.rfftfreq(profiles.shape[-1])


def _nan_quantile_last_axis(values: np.ndarray, q: float) -> np.ndarray:
    """Quantile over the last axis ignoring NaN, vectorised (np.nanquantile loops per row)."""
    ordered = np.sort(np.where(np.isfinite(values), values, np.inf), axis=-1)
    count = np.isfinite(values).sum(axis=-1)
    index = np.clip(np.floor(q * (count - 1)).astype(int), 0, values.shape[-1] - 1)
    result = np.take_along_axis(ordered, index[..., None], axis=-1)[..., 0].astype(np.float32)
    result[count < max(2, values.shape[-1] // 4)] = np.nan  # mostly clipped: no estimate
    return result


def _finite_median(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")
