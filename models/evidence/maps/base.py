"""What every local-inconsistency map takes and gives.

A map measures one forensic trace per cell (an 8x8 JPEG block, or on large
images one sampled block per cell of `stride` x `stride` blocks, so a 12 MP
photo costs what a 1.5 MP one does) and turns it into signed robust z-scores
against the same image's own cells: a channel.  Positive z means "departs from
what most of this image shows" in the direction that channel cares about.
The compact-anomaly search (models.evidence.maps.anomaly) then looks for a
coherent patch of high z, and the calibration against real photos
(models.evidence.maps.calibration) says how unusual that patch is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from models.evidence.signal_maps import NOISE_BLOCK, PixelEvidence

# Above this many 8x8 blocks (about half a megapixel) a map samples one block per cell:
# a 12 MP photo becomes about 100 x 75 cells of 40 px, fine enough for a region of
# 5% of the frame (20 x 15 cells) and within the engine's time budget.
MAX_CELLS = 8_000
Z_FLOOR = 1e-3
GRID_SHIFT = NOISE_BLOCK // 2  # half a block: as far from the file's grid as a grid can be


@dataclass(frozen=True)
class MapInput:
    """The image as the maps read it: the engine's pixels and arrays already measured."""

    rgb: np.ndarray
    pixels: PixelEvidence
    luma_quantization: tuple[int, ...] | None = None  # the file's JPEG luma table (natural order), if a JPEG
    grid_aligned: bool = True  # the JPEG block grid starts at pixel (0, 0) of rgb (no EXIF rotation moved it)
    lossless: bool = False  # a lossless container (PNG, TIFF, BMP): its pixels may still hold a JPEG's lattice
    # The image an earlier JPEG lattice is estimated from, where not this one: the zoom panel
    # measures a crop that is mostly the region it shows, so it passes the whole image, as the
    # scan saw it.
    lattice_rgb: np.ndarray | None = None

    @property
    def stride(self) -> int:
        """Blocks per cell side: 1 up to MAX_CELLS blocks, more above."""
        return block_stride(self.pixels.height, self.pixels.width)

    @property
    def cell(self) -> int:
        return NOISE_BLOCK * self.stride

    @cached_property
    def luma_blocks(self) -> np.ndarray:
        """(rows, cols, 8, 8) float32 luma of the sampled block of every cell, shared by the maps."""
        return sampled_blocks(self.pixels.luma8, self.stride).astype(np.float32)

    @cached_property
    def block_dct(self) -> np.ndarray:
        """Orthonormal 8x8 DCT of the level-shifted sampled blocks (JPEG's transform)."""
        return _DCT @ (self.luma_blocks - 128.0) @ _DCT.T

    @cached_property
    def rgb_blocks(self) -> np.ndarray:
        """(rows, cols, 8, 8, 3) uint8 colour of the sampled block of every cell."""
        return sampled_rgb_blocks(self.rgb, self.stride)

    @cached_property
    def luma_dct(self) -> np.ndarray:
        """The same DCT of the unrounded luma (0.299 R + 0.587 G + 0.114 B, JPEG's Y, which
        the decoder's colour conversion keeps to within its rounding): the stored coefficients
        of a JPEG, less the extra rounding of the 8-bit grey image."""
        return luma_dct_of(self.rgb_blocks)

    @cached_property
    def lattice_dct(self) -> np.ndarray:
        """The luma DCT (luma_dct) of the image the earlier lattice is estimated from."""
        return self.luma_dct if self.lattice_rgb is None else whole_image_luma_dct(self.lattice_rgb)

    @cached_property
    def lattice_shifted_dct(self) -> np.ndarray:
        """The same image's luma DCT on a grid 4 px off the file's: no quantisation lattice survives
        there, so its histogram stands for the coefficients before any (the "calibrated" histogram
        of Fan and de Queiroz 2003, and of Bianchi and Piva 2012)."""
        return whole_image_luma_dct(self.rgb if self.lattice_rgb is None else self.lattice_rgb, offset=GRID_SHIFT)

    @cached_property
    def clipped_blocks(self) -> np.ndarray:
        """(rows, cols) True where a sampled block has a colour value at 0 or 255: clipping
        after decoding moves its DCT coefficients off any quantisation lattice."""
        blocks = self.rgb_blocks
        return (blocks.min(axis=(2, 3, 4)) == 0) | (blocks.max(axis=(2, 3, 4)) == 255)

    @cached_property
    def block_contrast(self) -> np.ndarray:
        """Standard deviation of each sampled block (from its AC energy: the DCT is orthonormal)."""
        energy = np.square(self.block_dct).sum(axis=(-2, -1)) - np.square(self.block_dct[..., 0, 0])
        return np.sqrt(np.maximum(energy, 0.0)) / NOISE_BLOCK

    @cached_property
    def sampled_sigma(self) -> np.ndarray:
        """The engine's noise sigma of each sampled block (NaN: constant or clipped)."""
        rows, cols = self.luma_blocks.shape[:2]
        return self.pixels.block_sigma[:: self.stride, :: self.stride][:rows, :cols]


@dataclass
class InconsistencyMap:
    """Per-cell signed z of one or more channels of one map (NaN: not measured)."""

    name: str
    channels: dict[str, np.ndarray]
    cell: int
    width: int
    height: int
    # Which departures mean something, per channel (+1: z above the rest, -1: below); both by default.
    directions: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # Per channel and window scale (models.evidence.maps.anomaly.WINDOW_FRACTIONS), the smallest
    # window mean |z| that may propose a box, whatever the reference photos say: where they
    # rarely show the channel at all (a primary compression), the calibration's tail is too
    # thin to stand on its own.
    floors: dict[str, tuple[float, ...]] = field(default_factory=dict)
    # Per channel whose z is not over the image's own spread (robust_z's `fixed`): what one unit
    # of z is, in words, and its size in them, so a finding can say it as measured.
    units: dict[str, tuple[str, float]] = field(default_factory=dict)

    def floor(self, channel: str, scale_index: int) -> float:
        floors = self.floors.get(channel, ())
        return floors[scale_index] if scale_index < len(floors) else 0.0

    def amount(self, channel: str, z: float) -> str:
        """|z| said in the channel's units: "2.4 robust standard deviations" by default."""
        words, size = self.units.get(channel, ("robust standard deviations", 1.0))
        return f"{abs(z) * size:.1f} {words}"

    def display(self) -> np.ndarray:
        """0..1 per cell, "how inconsistent": the strongest channel's |z|, 0 at z 0, 1 from z 6 up."""
        stacked = np.stack([np.abs(np.nan_to_num(z, nan=0.0)) for z in self.channels.values()])
        return np.clip(stacked.max(axis=0) / 6.0, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class LocalMap:
    """One registered map: its name, the label of the boxes it proposes, the
    legend the zoom panel prints under it, and how it is measured (None where
    it does not apply, e.g. JPEG traces on a PNG)."""

    name: str
    label: str
    legend: str
    measure: Callable[[MapInput], InconsistencyMap | None]


def block_stride(height: int, width: int) -> int:
    """Blocks per cell side for an image of this size: 1 up to MAX_CELLS blocks, more above."""
    blocks = (height // NOISE_BLOCK) * (width // NOISE_BLOCK)
    return max(1, math.ceil(math.sqrt(blocks / MAX_CELLS)))


def sampled_rgb_blocks(rgb: np.ndarray, stride: int) -> np.ndarray:
    """(rows, cols, 8, 8, 3) uint8 colour of the first 8x8 block of every cell of `stride` x `stride` blocks."""
    rows, cols = rgb.shape[0] // NOISE_BLOCK, rgb.shape[1] // NOISE_BLOCK
    blocks = rgb[: rows * NOISE_BLOCK, : cols * NOISE_BLOCK].reshape(rows, NOISE_BLOCK, cols, NOISE_BLOCK, 3)
    return blocks[::stride, :, ::stride].swapaxes(1, 2)


def luma_dct_of(rgb_blocks: np.ndarray) -> np.ndarray:
    """Orthonormal 8x8 DCT of the unrounded, level-shifted luma of colour blocks (MapInput.luma_dct)."""
    luma = rgb_blocks.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return _DCT @ (luma - 128.0) @ _DCT.T


def whole_image_luma_dct(rgb: np.ndarray, offset: int = 0) -> np.ndarray:
    """The luma DCT the scan's maps read from a whole image (its sampled blocks, at the stride of
    the whole image), on the grid starting `offset` px down and right of the file's."""
    stride = block_stride(rgb.shape[0], rgb.shape[1])
    return luma_dct_of(sampled_rgb_blocks(rgb[offset:, offset:], stride))


def dct_matrix() -> np.ndarray:
    n = np.arange(NOISE_BLOCK)
    matrix = np.sqrt(2.0 / NOISE_BLOCK) * np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / (2.0 * NOISE_BLOCK))
    matrix[0] /= np.sqrt(2.0)
    return matrix.astype(np.float32)


_DCT = dct_matrix()


def robust_z(values: np.ndarray, floor: float, fixed: bool = False) -> np.ndarray:
    """(value - median) / (1.4826 MAD), over the finite cells; the spread is at
    least `floor` so a very uniform image does not turn wobbles into large z.
    With `fixed`, the spread is `floor` itself: for a channel already in
    meaningful units, whose MAD a large anomaly would widen and so hide."""
    finite = values[np.isfinite(values)]
    if finite.size < 16:
        return np.full(values.shape, np.nan, np.float32)
    median = float(np.median(finite))
    spread = floor if fixed else float(np.median(np.abs(finite - median))) * 1.4826
    spread = max(spread, floor, Z_FLOOR)
    return ((values - median) / spread).astype(np.float32)


def sampled_blocks(plane: np.ndarray, stride: int) -> np.ndarray:
    """(rows, cols, 8, 8) view of the top-left 8x8 block of every cell of
    `stride` x `stride` blocks (all blocks when stride is 1)."""
    rows, cols = plane.shape[0] // NOISE_BLOCK, plane.shape[1] // NOISE_BLOCK
    blocks = plane[: rows * NOISE_BLOCK, : cols * NOISE_BLOCK].reshape(rows, NOISE_BLOCK, cols, NOISE_BLOCK)
    return blocks.swapaxes(1, 2)[::stride, ::stride]


def pooled(block_values: np.ndarray, stride: int) -> np.ndarray:
    """Mean of the finite block values inside each cell of `stride` x `stride` blocks
    (the cells sampled_blocks reads), NaN where a cell has none."""
    if stride == 1:
        return block_values.astype(np.float32)
    rows, cols = -(-block_values.shape[0] // stride), -(-block_values.shape[1] // stride)
    padded = np.full((rows * stride, cols * stride), np.nan, np.float32)
    padded[: block_values.shape[0], : block_values.shape[1]] = block_values
    cells = padded.reshape(rows, stride, cols, stride).swapaxes(1, 2).reshape(rows, cols, -1)
    finite = np.isfinite(cells)
    total = np.where(finite, cells, 0.0).sum(axis=-1)
    count = finite.sum(axis=-1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)
