"""JPEG compression-history traces, for JPEG files and for lossless files that were JPEGs.

A photo saved as JPEG, edited and saved again carries two compressions in the
untouched part and one in whatever was pasted in (or the other way round).
Three channels, all from the 8x8 DCT of the decoded luma on the file's own
block grid (a lossless file, PNG or TIFF, gets the first alone: see below):

primary quantisation (aligned double quantisation)
    Where the picture was quantised before, on the same grid, with a coarser
    step, the integers the file stored crowd onto the values that multiples of
    the earlier step round to.  A likelihood model of that, per frequency,
    fitted on the image itself (models.evidence.maps.primary_likelihood),
    gives each block its standardised evidence of the earlier compression; a
    pasted, singly compressed patch is a region whose blocks lack it (after
    Lin et al. 2009 and Bianchi and Piva 2012).  The channel exists only where
    the image as a whole shows a primary compression.
JPEG ghost
    Re-quantising at quality q costs little where the block was already
    quantised at q (Farid 2009).  Computed in the DCT domain (orthonormal, so
    the squared error is the pixel-domain one, before rounding) at qualities
    50-95, normalised per block across q; the channel is the ghost at the
    quality where the image dips most.  Blocks with a clipped colour value are
    left out: most blocks of a re-saved photo fit the earlier quality exactly
    (a ghost of 0, so a spread of almost 0), and clipping alone made a bright
    object stand out (2 of the 3 untouched hosts bench_splices' test half
    still boxed, CNNDetection thumbnails re-saved at q95).
8x8 grid
    Strength of the blocking edges at the image's own grid phase against the
    other seven phases, and how far a cell's strongest phase sits from the
    image's (a pasted JPEG crop keeps its own, misaligned, grid).

A JPEG edited and exported as PNG (or TIFF) keeps its earlier compression in
the pixels: the DCT of the stored luma lies within rounding (about 0.35) of the
JPEG's lattice, so a lossless file gets its own channel, "lossless primary
quantisation": a stored step of 1, one bin of slack either side of each value
a multiple of q1 reaches, and each coefficient voting on whether it lies on one
(after Fan and de Queiroz 2003, who estimate a bitmap's earlier JPEG table the
same way); the patch pasted in before the export lacks it.  The ghost and the
grid channels are left to JPEG files: no reference photo measures them on
lossless ones.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from models.evidence.maps.base import InconsistencyMap, LocalMap, MapInput, robust_z
from models.evidence.maps.jpeg_tables import (  # noqa: F401  (quality_table: re-exported for the tests)
    HISTOGRAM_RANGE, LOW_FREQUENCIES, MIN_BLOCK_VOTES, MIN_FREQUENCY_COEFFICIENTS, counted, estimated_quality,
    quality_table, slack_of)
from models.evidence.maps.primary_likelihood import primary_likelihood

# Smallest spread per channel (its units): most cells' grid offset is exactly 0, whose MAD
# of 0 would turn every cell with its own grid into a huge z.
# The primary quantisation is two channels: a JPEG file's (the likelihood model, in standard
# deviations of a block's evidence) and a lossless file's (the reachable-bin vote, in
# log-likelihood ratio per coefficient).  Their units differ, so each has its own calibration key.
PRIMARY = "primary quantisation"
LOSSLESS_PRIMARY = "lossless primary quantisation"
Z_FLOORS = {PRIMARY: 1.0, LOSSLESS_PRIMARY: 0.5, "JPEG ghost": 0.05, "8x8 grid strength": 0.25,
            "8x8 grid offset": 0.5}
# Channels whose spread is their floor, not the image's MAD.  The primary quantisation is a
# likelihood ratio, meaningful as it stands, and a large pasted patch (or a
# photo whose smooth blocks cast too few votes, leaving the patch a large share of the measured
# cells) widened the MAD and hid itself: on bench_splices' tune half at q90, four patches with
# as clear a gap as the boxed ones (patch median -1.1 to -1.3 against the photo's 0.6 to 0.95)
# stayed below the floor.  Every untouched real photo's MAD was within the floor already (all
# 213 variants of the tune half's, as received and re-saved at q95/q90/q80, that show the
# channel), so they read exactly as before.
FIXED_SPREAD = frozenset({PRIMARY, LOSSLESS_PRIMARY})
LIKELIHOOD_UNITS = ("standard deviations of a recompressed block's evidence", Z_FLOORS[PRIMARY])
# A box from it needs a window mean of at least this, per window scale: above the strongest
# compact window of the dev set's "tune" half real photos, as received and re-saved at q95, q90
# and q80 (1.48 and 1.26, both at q90; benchmarks/bench_splices.py).
LIKELIHOOD_FLOORS = (1.6, 1.4)
GHOST_QUALITIES = (50, 60, 70, 75, 80, 85, 90, 95)
GHOST_FREQUENCIES = 4  # the 4x4 lowest: where a quality's table differs most, at a quarter of the cost


# The reachable-bin vote (lossless files): a frequency counts when its reachable bins hold this much more of the
# image's coefficients than chance would put there; a coefficient off the reachable bins of a
# block that was quantised twice is this rare (decoder rounding, clipping).
MIN_PRIMARY_GAIN = 0.2
MIN_PRIMARY_SHARE = 0.6
OFF_LATTICE = 0.08
ROUNDING_TOLERANCE = 0.15  # m q1 / q2 this close to a half lands on either neighbour
# Few reference photos show a lossless file's primary compression, so a box from it also needs
# a window mean z of at least this, per window scale (set for the reachable-bin vote on JPEG
# files, above the tune half's strongest q90/q95 windows, 1.97 and 0.92; the tune half's
# untouched PNGs reach 0.72 and 0.58).
LOSSLESS_FLOORS = (2.1, 1.0)


# A lossless file: its stored "step" is 1, and the decoder's rounding moves a coefficient up to
# about one unit off the earlier lattice, so each reachable value gets a bin of slack either side
# and only |k| beyond it counts (a smooth block's rounding noise is all |k| <= 1).  Steps below 4
# would leave every bin reachable; camera JPEGs (quality 90 and up) therefore rarely show.
LOSSLESS_STEPS = (4, 40)


@lru_cache(maxsize=4096)
def reachable_bins(q1: int, q2: int) -> np.ndarray:
    """Boolean over k in [-HISTOGRAM_RANGE, HISTOGRAM_RANGE]: the k a coefficient quantised by
    q1 and then by q2 can take (k = 0 excluded: every block has zeros; for a lossless file,
    q2 = 1, each value widened by its slack and |k| <= slack excluded)."""
    multiples = np.arange(-(HISTOGRAM_RANGE * q2) // q1 - 2, (HISTOGRAM_RANGE * q2) // q1 + 3) * (q1 / q2)
    near_half = np.abs(multiples - np.floor(multiples) - 0.5) < ROUNDING_TOLERANCE
    reach = np.concatenate([np.rint(multiples), np.floor(multiples[near_half]), np.ceil(multiples[near_half])])
    slack = slack_of(q2)
    reach = np.concatenate([reach + shift for shift in range(-slack, slack + 1)])
    reach = reach[np.abs(reach) <= HISTOGRAM_RANGE].astype(np.int64) + HISTOGRAM_RANGE
    mask = np.zeros(2 * HISTOGRAM_RANGE + 1, bool)
    mask[reach] = True
    mask[HISTOGRAM_RANGE - slack: HISTOGRAM_RANGE + slack + 1] = False
    mask.flags.writeable = False  # shared by the cache
    return mask


@lru_cache(maxsize=256)
def _earlier_steps(q2: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The coarser earlier steps q1 tried for a stored step q2, each with its reachable bins and
    the histogram positions its moving window of 2 q1 + 1 bins starts and ends at (cumulative
    sums give every window at once: one call per frequency, not one per step)."""
    steps = np.arange(*LOSSLESS_STEPS) if q2 == 1 else np.arange(q2 + 1, min(4 * q2 + 8, HISTOGRAM_RANGE))
    bins = np.arange(2 * HISTOGRAM_RANGE + 1)
    masks = np.array([reachable_bins(int(q1), q2) for q1 in steps], bool).reshape(steps.size, bins.size)
    starts = np.clip(bins[None, :] - steps[:, None], 0, bins.size)
    ends = np.clip(bins[None, :] + steps[:, None] + 1, 0, bins.size)
    for array in (steps, masks, starts, ends):
        array.flags.writeable = False  # shared by the cache
    return steps, masks, starts, ends


def primary_step(k: np.ndarray, q2: int) -> tuple[np.ndarray, float] | None:
    """(reachable bins, chance share) of the coarser earlier step that best explains one
    frequency's stored coefficients, or None where no earlier step shows, or none fits the
    histogram (a stored step of HISTOGRAM_RANGE - 1 or more: JPEGs saved at quality 34 or less)."""
    nonzero = k[counted(k, q2)]
    if nonzero.size < MIN_FREQUENCY_COEFFICIENTS:
        return None
    steps, masks, starts, ends = _earlier_steps(q2)
    if steps.size == 0:
        return None
    histogram = np.bincount(nonzero + HISTOGRAM_RANGE, minlength=2 * HISTOGRAM_RANGE + 1).astype(np.float64)
    magnitude = np.abs(np.arange(-HISTOGRAM_RANGE, HISTOGRAM_RANGE + 1))
    used = (magnitude <= int(np.abs(nonzero).max())) & (magnitude > slack_of(q2))
    # Chance: the share a smooth (singly quantised) histogram, its moving average over 2 q1 + 1
    # bins, puts on each step's reachable bins.
    running = np.concatenate(([0.0], np.cumsum(histogram)))
    smooth = (running[ends] - running[starts]) / (2.0 * steps[:, None] + 1.0)
    chance = (smooth * masks).sum(axis=1) / np.maximum((smooth * used).sum(axis=1), 1e-9)
    share = (masks @ histogram) / histogram.sum()
    best = int(np.argmax(share - chance))  # the first of equal gains, the finest step
    if share[best] - chance[best] < MIN_PRIMARY_GAIN or share[best] < MIN_PRIMARY_SHARE:
        return None
    return masks[best], min(max(float(chance[best]), 0.05), 0.95)


def lossless_primary_quantisation(coefficients: np.ndarray, lattice_from: np.ndarray | None = None
                                  ) -> np.ndarray | None:
    """Per block of a lossless file (a stored step of 1 at every frequency): mean log-likelihood
    ratio, over its voting low-frequency coefficients, of an earlier JPEG's quantisation against
    none (NaN: too few votes; None: no earlier one shows).  `lattice_from`: the coefficients the
    earlier steps are estimated from (default: these)."""
    source = coefficients if lattice_from is None else lattice_from
    total = np.zeros(coefficients.shape[:2], np.float32)
    votes = np.zeros(coefficients.shape[:2], np.float32)
    frequencies = 0
    for u, v in LOW_FREQUENCIES:
        k = np.rint(coefficients[..., u, v]).astype(np.int64)
        found = primary_step(k if source is coefficients else np.rint(source[..., u, v]).astype(np.int64), 1)
        if found is None:
            continue
        mask, chance = found
        frequencies += 1
        voting = counted(k, 1)
        on_lattice = mask[np.clip(k, -HISTOGRAM_RANGE, HISTOGRAM_RANGE) + HISTOGRAM_RANGE]
        ratio = np.where(on_lattice, np.log((1 - OFF_LATTICE) / chance), np.log(OFF_LATTICE / (1 - chance)))
        total += np.where(voting, ratio, 0.0)
        votes += voting
    if frequencies < 2:
        return None
    return np.where(votes >= MIN_BLOCK_VOTES, total / np.maximum(votes, 1.0), np.nan).astype(np.float32)


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


def measure(image: MapInput) -> InconsistencyMap | None:
    if image.pixels.luma8 is None or image.pixels.block_sigma.size < 64 or not image.grid_aligned:
        return None
    if image.luma_quantization is None:
        return _measure_lossless(image) if image.lossless else None
    if len(image.luma_quantization) != 64:
        return None
    table = np.maximum(np.asarray(image.luma_quantization, np.float32).reshape(8, 8), 1.0)
    coefficients = image.block_dct
    rows, cols = coefficients.shape[:2]
    strength, offset = grid_traces(image.pixels.luma8, image.stride, rows, cols)
    flat = ~np.isfinite(image.sampled_sigma)  # constant or clipped blocks carry no trace
    strength[0], strength[:, 0], offset[0], offset[:, 0] = np.nan, np.nan, np.nan, np.nan  # no edge before them
    channels = {
        # Clipped blocks left out, as for the primary quantisation: clipping after decoding moves
        # a block off the earlier quality's lattice, so a bright or dark object read as a ghost.
        "JPEG ghost": np.where(image.clipped_blocks, np.nan, ghost(coefficients, estimated_quality(table))),
        "8x8 grid strength": strength,
        "8x8 grid offset": offset,
    }
    primary = primary_likelihood(image.luma_dct, table, image.lattice_dct, image.lattice_shifted_dct)
    if primary is not None:
        channels[PRIMARY] = np.where(image.clipped_blocks, np.nan, primary)
    return InconsistencyMap(
        name=JPEG_MAP.name,
        channels={name: robust_z(np.where(flat, np.nan, values), Z_FLOORS[name], fixed=name in FIXED_SPREAD)
                  for name, values in channels.items()},
        cell=image.cell, width=image.pixels.width, height=image.pixels.height,
        # A patch lacks the dip of the rest, lacks the grid, has its own grid, or lacks the
        # primary compression of the rest.
        directions={"JPEG ghost": (+1,), "8x8 grid strength": (-1,), "8x8 grid offset": (+1,),
                    PRIMARY: (-1,)},
        floors={PRIMARY: LIKELIHOOD_FLOORS}, units={PRIMARY: LIKELIHOOD_UNITS})


def _measure_lossless(image: MapInput) -> InconsistencyMap | None:
    """A lossless file's primary quantisation alone (the module docstring), where it shows."""
    primary = lossless_primary_quantisation(image.luma_dct, lattice_from=image.lattice_dct)
    if primary is None:
        return None
    flat = ~np.isfinite(image.sampled_sigma) | image.clipped_blocks
    name = LOSSLESS_PRIMARY
    z = robust_z(np.where(flat, np.nan, primary), Z_FLOORS[name], fixed=True)
    return InconsistencyMap(
        name=JPEG_MAP.name, channels={name: z}, cell=image.cell, width=image.pixels.width, height=image.pixels.height,
        directions={name: (-1,)}, floors={name: LOSSLESS_FLOORS},
        units={name: ("log-likelihood ratio per coefficient", Z_FLOORS[name])})


JPEG_MAP = LocalMap(
    name="jpeg-traces",
    label="compression history differs (JPEG traces)",
    legend="JPEG traces: bright where the primary compression is missing, or a JPEG ghost or the 8x8 grid differ from the rest",
    measure=measure,
)
