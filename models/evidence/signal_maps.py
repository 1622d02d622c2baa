"""Signal maps that localise: error level, noise level and periodic resampling traces.

All three work on full-resolution pixels (resizing would erase what they
measure) and come in two forms:

* pixel maps for display (`error_level_map`, `noise_residual_map`,
  `residual_spectrum`): float arrays an analyst can look at;
* tile statistics (`tile_statistics`): one number per tile, which the scan
  compares against the image's own typical tile.

Meanings, in the units the explanations cite:

noise sigma
    Standard deviation of the sensor-like noise, in grey levels, estimated
    with Immerkaer's Laplacian-difference operator on the flattest 8x8 blocks
    of each tile (edges and texture inflate every noise estimate; the flat
    blocks give the floor).  Camera noise is roughly uniform across a photo;
    generated, upscaled or denoised regions are smoother, pasted-in noisy
    material is rougher.
periodicity
    Height of the strongest periodic peak in the spectrum of the absolute
    second-derivative residual, averaged along rows (horizontal period) or
    columns (vertical period), divided by the spectrum's median.  Interpolation
    makes every n-th pixel predictable from its neighbours, so n-times
    upsampling leaves a peak at 1/n cycles/pixel; JPEG's 8-pixel grid and
    demosaicing leave peaks too, which is why the scan compares tiles against
    the image's own median tile rather than against a fixed threshold.
error level
    Mean absolute change of luma (grey levels) when the image is re-saved as
    JPEG at quality 90.  Regions with a different compression
    history from the rest (pasted, regenerated) re-compress differently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from models.evidence.signal_features import jpeg_round_trip
from models.evidence.tile_grid import TileGrid

ELA_QUALITY = 90
NOISE_BLOCK = 8
FLAT_BLOCK_QUANTILE = 0.25
# Immerkaer (1996): sigma = sqrt(pi/2) / 6 * E|N * I| for N = [1 -2 1; -2 4 -2; 1 -2 1].
_IMMERKAER_SCALE = math.sqrt(math.pi / 2.0) / 6.0
_SECOND_DIFFERENCE = np.array([1.0, -2.0, 1.0], np.float32)
# Frequencies below this carry scene content rather than resampling traces.
MIN_PERIOD_FREQUENCY = 0.09
# A periodic trace this many times above the typical tile's other frequencies is
# consistent enough that its absence from a tile means something.
STRONG_TRACE = 1.4


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma as float32 (the channel JPEG and most detectors work on)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def laplacian_residual(gray: np.ndarray) -> np.ndarray:
    """Immerkaer's noise residual: second difference along x then along y."""
    return cv2.sepFilter2D(gray, cv2.CV_32F, _SECOND_DIFFERENCE, _SECOND_DIFFERENCE,
                           borderType=cv2.BORDER_REFLECT)


def second_differences(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|d2/dx2| and |d2/dy2| of the image: small where a pixel is predictable
    from its neighbours, as interpolated pixels are."""
    one = np.array([1.0], np.float32)
    d2x = cv2.sepFilter2D(gray, cv2.CV_32F, _SECOND_DIFFERENCE, one, borderType=cv2.BORDER_REFLECT)
    d2y = cv2.sepFilter2D(gray, cv2.CV_32F, one, _SECOND_DIFFERENCE, borderType=cv2.BORDER_REFLECT)
    return np.abs(d2x, out=d2x), np.abs(d2y, out=d2y)


def error_level_map(rgb: np.ndarray, quality: int = ELA_QUALITY) -> np.ndarray:
    """Per-pixel error level (grey levels): |luma - JPEG(luma, quality)|.

    Luma alone: JPEG quantises it with its own table, so its re-compression
    error carries the compression history at a third of the cost of all three
    channels (the 12-megapixel budget matters here)."""
    return _luma_error_level(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), quality)


def _luma_error_level(gray: np.ndarray, quality: int = ELA_QUALITY) -> np.ndarray:
    # jpeg_round_trip tiles sides past JPEG's limit, so any image has an error level.
    return cv2.absdiff(gray, jpeg_round_trip(gray, quality)).astype(np.float32)


def noise_residual_map(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel noise-level estimate (grey levels): Immerkaer's residual, scaled
    so that its local mean equals sigma of white Gaussian noise."""
    return np.abs(laplacian_residual(luminance(rgb))) * _IMMERKAER_SCALE


def residual_spectrum(rgb: np.ndarray) -> np.ndarray:
    """log10 magnitude of the centred 2-D spectrum of the Laplacian residual:
    bright off-centre dots are periodic traces (resampling, generator grids, JPEG blocks).
    The Laplacian (d2x + d2y), unlike the noise residual (d2x then d2y), keeps
    patterns that repeat along one axis only."""
    residual = cv2.Laplacian(luminance(rgb), cv2.CV_32F, borderType=cv2.BORDER_REFLECT)
    window = np.outer(np.hanning(residual.shape[0]), np.hanning(residual.shape[1])).astype(np.float32)
    spectrum = np.fft.fftshift(np.abs(np.fft.fft2(residual * window)))
    return np.log10(spectrum + 1e-3).astype(np.float32)


@dataclass
class TileStatistics:
    """Per-tile measurements at one tile size (see the module docstring for units).

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


@dataclass
class PixelEvidence:
    """The full-resolution arrays the tile statistics and region examinations share."""

    width: int
    height: int
    block_sigma: np.ndarray  # (H // 8, W // 8) noise sigma per 8x8 block; NaN where clipped
    block_mean: np.ndarray   # mean luma per 8x8 block
    abs_d2x: np.ndarray
    abs_d2y: np.ndarray
    error_level: np.ndarray
    noise_level_function: np.ndarray  # expected sigma per luma bin of width 256 / NLF_BINS
    block_noise_ratio: np.ndarray     # log2(sigma / expected sigma at the block's brightness) per 8x8 block
    luma8: np.ndarray | None = None   # the 8-bit luma itself, which the local-inconsistency maps sample

    @classmethod
    def compute(cls, rgb: np.ndarray) -> "PixelEvidence":
        gray8 = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        gray = gray8.astype(np.float32)
        height, width = gray.shape
        abs_d2x, abs_d2y = second_differences(gray)
        block_sigma, block_mean = _block_noise(gray)
        levels = _noise_level_function(block_sigma, block_mean)
        expected = levels[_luma_bin(block_mean)]
        ratio = np.log2((block_sigma + NOISE_FLOOR) / (expected + NOISE_FLOOR))
        return cls(width, height, block_sigma, block_mean, abs_d2x, abs_d2y, _luma_error_level(gray8), levels, ratio,
                   gray8)

    def region_blocks(self, rows: slice, cols: slice) -> tuple[slice, slice]:
        return (slice(rows.start // NOISE_BLOCK, -(-rows.stop // NOISE_BLOCK)),
                slice(cols.start // NOISE_BLOCK, -(-cols.stop // NOISE_BLOCK)))

    def region_noise(self, rows: slice, cols: slice) -> tuple[float, float]:
        """(noise sigma, log2 ratio to the noise level function) inside a pixel region,
        both taken over its flattest blocks."""
        block_rows, block_cols = self.region_blocks(rows, cols)
        sigma = self.block_sigma[block_rows, block_cols]
        ratio = self.block_noise_ratio[block_rows, block_cols]
        valid = np.isfinite(sigma)
        if not valid.any():
            return float("nan"), float("nan")
        return (float(np.quantile(sigma[valid], FLAT_BLOCK_QUANTILE)),
                float(np.quantile(ratio[valid], FLAT_BLOCK_QUANTILE)))

    def region_periodicity(self, rows: slice, cols: slice) -> "Periodicity":
        """Strongest periodic peak of the residual inside a pixel region (both axes)."""
        horizontal = _profile_peak(self.abs_d2x[rows, cols].mean(axis=0), "horizontal")
        vertical = _profile_peak(self.abs_d2y[rows, cols].mean(axis=1), "vertical")
        return max(horizontal, vertical, key=lambda p: p.ratio)

    def region_error_level(self, rows: slice, cols: slice) -> float:
        return float(self.error_level[rows, cols].mean())


@dataclass(frozen=True)
class Periodicity:
    ratio: float
    frequency: float
    axis: str

    @property
    def period(self) -> float:
        return 1.0 / self.frequency if self.frequency > 0 else float("inf")


def _profile_peak(profile: np.ndarray, axis: str) -> Periodicity:
    if profile.size < 8:
        return Periodicity(1.0, 0.0, axis)
    spectrum = np.abs(np.fft.rfft(profile - profile.mean()))
    frequencies = np.fft.rfftfreq(profile.size)
    usable = frequencies >= MIN_PERIOD_FREQUENCY
    floor = float(np.median(spectrum[1:])) + 1e-6
    peak = int(np.argmax(np.where(usable, spectrum, -1.0)))
    return Periodicity(float(spectrum[peak] / floor), float(frequencies[peak]), axis)


def _block_noise(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    height, width = gray.shape
    bh, bw = max(1, height // NOISE_BLOCK), max(1, width // NOISE_BLOCK)
    if height < NOISE_BLOCK or width < NOISE_BLOCK:
        return np.full((bh, bw), np.nan, np.float32), np.full((bh, bw), np.nan, np.float32)
    crop = gray[: bh * NOISE_BLOCK, : bw * NOISE_BLOCK]
    residual = np.abs(laplacian_residual(crop))
    sigma = cv2.resize(residual, (bw, bh), interpolation=cv2.INTER_AREA) * _IMMERKAER_SCALE
    mean = cv2.resize(crop, (bw, bh), interpolation=cv2.INTER_AREA)
    spread = np.sqrt(np.maximum(cv2.resize(crop * crop, (bw, bh), interpolation=cv2.INTER_AREA) - mean * mean, 0))
    # No noise can be measured in clipped highlights and shadows, nor in blocks
    # that are constant: frames, letterboxes, graphics, and smooth areas that
    # JPEG flattened to their DC value.
    sigma[(mean >= 250.0) | (mean <= 5.0) | (spread < FLAT_BLOCK_SPREAD)] = np.nan
    return sigma, mean


FLAT_BLOCK_SPREAD = 0.5  # grey levels of standard deviation: below this a block is constant
MEASURABLE_SHARE = 0.5  # of a tile's 8x8 blocks must be neither constant nor clipped
NLF_BINS = 16
NOISE_FLOOR = 0.1  # grey levels; keeps ratios of near-noiseless images finite and calm


def _luma_bin(mean: np.ndarray) -> np.ndarray:
    return np.clip(np.nan_to_num(mean, nan=0.0) * (NLF_BINS / 256.0), 0, NLF_BINS - 1).astype(int)


def _noise_level_function(sigma: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Expected noise sigma per brightness bin (shot noise grows with brightness):
    the flat-block quantile of the blocks in each bin, filled from neighbours
    where a bin has too few blocks."""
    bins = _luma_bin(mean)
    valid = np.isfinite(sigma)
    overall = float(np.quantile(sigma[valid], FLAT_BLOCK_QUANTILE)) if valid.any() else 0.0
    levels = np.full(NLF_BINS, np.nan)
    for index in range(NLF_BINS):
        members = sigma[valid & (bins == index)]
        if members.size >= 16:
            levels[index] = np.quantile(members, FLAT_BLOCK_QUANTILE)
    known = np.flatnonzero(np.isfinite(levels))
    if known.size == 0:
        return np.full(NLF_BINS, overall, np.float32)
    return np.interp(np.arange(NLF_BINS), known, levels[known]).astype(np.float32)


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

    spectra_x, frequencies = _ratio_spectra(_tile_view(pixels.abs_d2x, tile).mean(axis=2))
    spectra_y, _ = _ratio_spectra(_tile_view(pixels.abs_d2y, tile).mean(axis=3))
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
    ela = _tile_view(pixels.error_level, tile).mean(axis=(2, 3))
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
