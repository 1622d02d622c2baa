"""Signal maps that localise: error level, noise level and periodic resampling traces.

All three work on full-resolution pixels (resizing would erase what they
measure) and come in two forms:

* pixel maps for display (`error_level_map`, `noise_residual_map`,
  `residual_spectrum`): float arrays an analyst can look at;
* tile statistics (`models.evidence.signal_tiles`): one number per tile, which the scan
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
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import cv2
import numpy as np

from models.evidence.signal_features import JPEG_MAX_SIDE, jpeg_round_trip

ELA_QUALITY = 90
NOISE_BLOCK = 8
FLAT_BLOCK_QUANTILE = 0.25
# Immerkaer (1996): sigma = sqrt(pi/2) / 6 * E|N * I| for N = [1 -2 1; -2 4 -2; 1 -2 1].
_IMMERKAER_SCALE = math.sqrt(math.pi / 2.0) / 6.0
_SECOND_DIFFERENCE = np.array([1.0, -2.0, 1.0], np.float32)
_ROW_KERNEL, _COLUMN_KERNEL = _SECOND_DIFFERENCE.reshape(1, 3), _SECOND_DIFFERENCE.reshape(3, 1)
# Frequencies below this carry scene content rather than resampling traces.
MIN_PERIOD_FREQUENCY = 0.09


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
    d2x, d2y = _signed_second_differences(gray)
    return np.abs(d2x, out=d2x), np.abs(d2y, out=d2y)


def _signed_second_differences(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # filter2D with a 1x3 (3x1) kernel: the same sums as sepFilter2D with a
    # one-tap kernel on the other axis, at half its cost on a 12 MP image.
    return (cv2.filter2D(gray, cv2.CV_32F, _ROW_KERNEL, borderType=cv2.BORDER_REFLECT),
            cv2.filter2D(gray, cv2.CV_32F, _COLUMN_KERNEL, borderType=cv2.BORDER_REFLECT))


def error_level_map(rgb: np.ndarray, quality: int = ELA_QUALITY) -> np.ndarray:
    """Per-pixel error level (grey levels): |luma - JPEG(luma, quality)|.

    Luma alone: JPEG quantises it with its own table, so its re-compression
    error carries the compression history at a third of the cost of all three
    channels (the 12-megapixel budget matters here)."""
    return _luma_error_level(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), quality)


def _luma_error_level(gray: np.ndarray, quality: int = ELA_QUALITY) -> np.ndarray:
    return cv2.absdiff(gray, _grey_jpeg_round_trip(gray, quality)).astype(np.float32)


def _grey_jpeg_round_trip(gray: np.ndarray, quality: int) -> np.ndarray:
    """JPEG-encode and decode 8-bit grey with OpenCV: the same libjpeg-turbo
    baseline coding (IJG tables scaled by quality, integer DCT) as Pillow's,
    so the same pixels (tests/test_signal_maps.py compares them), without
    Pillow's copies in and out of its own image memory.  Sides past JPEG's
    limit go through jpeg_round_trip, which codes them in tiles."""
    if max(gray.shape) <= JPEG_MAX_SIDE:
        ok, coded = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            decoded = cv2.imdecode(coded, cv2.IMREAD_GRAYSCALE)
            if decoded is not None and decoded.shape == gray.shape:
                return decoded
    return jpeg_round_trip(gray, quality)


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
    def compute(cls, rgb: np.ndarray, submit: Callable[..., Future] | None = None) -> "PixelEvidence":
        """Every value is a sum of whole grey levels computed exactly in
        float32 (second differences, the Laplacian residual, 8x8 block sums),
        so the order in which they are computed cannot change a result: the
        residual is taken as the second difference along y of d2x, which is
        already at hand, rather than from the image again.

        `submit` (an executor's submit) runs the error level's JPEG round
        trip, which releases the GIL, on another thread meanwhile."""
        gray8 = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        error_level = submit(_luma_error_level, gray8) if submit is not None else None
        gray = gray8.astype(np.float32)
        height, width = gray.shape
        d2x, abs_d2y = _signed_second_differences(gray)
        block_sigma, block_mean = _block_noise(gray, d2x)
        abs_d2x = np.abs(d2x, out=d2x)
        np.abs(abs_d2y, out=abs_d2y)
        levels = _noise_level_function(block_sigma, block_mean)
        expected = levels[_luma_bin(block_mean)]
        ratio = np.log2((block_sigma + NOISE_FLOOR) / (expected + NOISE_FLOOR))
        ela = error_level.result() if error_level is not None else _luma_error_level(gray8)
        return cls(width, height, block_sigma, block_mean, abs_d2x, abs_d2y, ela, levels, ratio, gray8)

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


def _block_noise(gray: np.ndarray, d2x: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Noise sigma and mean luma per 8x8 block of the whole blocks of `gray`;
    `d2x`, the image's signed second difference along x, saves a filter pass."""
    height, width = gray.shape
    bh, bw = max(1, height // NOISE_BLOCK), max(1, width // NOISE_BLOCK)
    if height < NOISE_BLOCK or width < NOISE_BLOCK:
        return np.full((bh, bw), np.nan, np.float32), np.full((bh, bw), np.nan, np.float32)
    crop = gray[: bh * NOISE_BLOCK, : bw * NOISE_BLOCK]
    residual = _crop_residual(crop, d2x) if d2x is not None else laplacian_residual(crop)
    residual = np.abs(residual, out=residual)
    sigma = cv2.resize(residual, (bw, bh), interpolation=cv2.INTER_AREA) * _IMMERKAER_SCALE
    mean = cv2.resize(crop, (bw, bh), interpolation=cv2.INTER_AREA)
    squares = np.multiply(crop, crop, out=residual)  # the residual's memory is free again
    spread = np.sqrt(np.maximum(cv2.resize(squares, (bw, bh), interpolation=cv2.INTER_AREA) - mean * mean, 0))
    # No noise can be measured in clipped highlights and shadows, nor in blocks
    # that are constant: frames, letterboxes, graphics, and smooth areas that
    # JPEG flattened to their DC value.
    sigma[(mean >= 250.0) | (mean <= 5.0) | (spread < FLAT_BLOCK_SPREAD)] = np.nan
    return sigma, mean


def _crop_residual(crop: np.ndarray, d2x: np.ndarray) -> np.ndarray:
    """laplacian_residual(crop), from the whole image's d2x: identical inside;
    where the crop cuts the image its last row and column see the reflected
    border instead of the pixels beyond it, and are computed from the crop."""
    height, width = crop.shape
    residual = cv2.filter2D(d2x[:height + 1, :width + 1], cv2.CV_32F, _COLUMN_KERNEL,
                            borderType=cv2.BORDER_REFLECT)
    residual = residual[:height, :width]
    if height < d2x.shape[0]:
        residual[-1] = laplacian_residual(crop[-2:])[-1]
    if width < d2x.shape[1]:
        residual[:, -1] = laplacian_residual(crop[:, -2:])[:, -1]
    return residual


FLAT_BLOCK_SPREAD = 0.5  # grey levels of standard deviation: below this a block is constant
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


_MOVED = frozenset({"TileStatistics", "tile_statistics", "tile_sizes", "measure_tiles"})


def __getattr__(name: str):
    """The tile statistics live in models.evidence.signal_tiles (which reads
    PixelEvidence from here); callers may still import them from here."""
    if name in _MOVED:
        from models.evidence import signal_tiles

        return getattr(signal_tiles, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
