"""JPEG compression-history traces, for JPEG files and for lossless files that were JPEGs.

A photo saved as JPEG, edited and saved again carries two compressions in the
untouched part and one in whatever was pasted in (or the other way round).
Three channels, all from the 8x8 DCT of the decoded luma on the file's own
block grid (a lossless file, PNG or TIFF, gets the first alone: see below):

primary quantisation (aligned double quantisation)
    Dividing a block's DCT coefficients by the file's own table gives the
    integers k it stored.  Where the picture was quantised before, on the same
    grid, with a coarser step q1, the k that multiples of q1 round to take
    the coefficients: the histogram has empty bins (q75 then q90), or bins
    with twice their neighbours' share and others with half (q75 then q80,
    steps 6 then 4).  Per frequency, the step q1 under which the image's
    coefficients are likeliest is estimated from the image itself, each k
    then carries the log-likelihood ratio of "quantised by q1 before" against
    "quantised once", both predicted from the calibrated histogram (the DCT on
    a grid 4 px off, where no lattice survives), and a block's sum is
    standardised under the twice-quantised model.  A pasted, singly compressed
    patch is a region whose blocks lack the primary compression (after Lin et
    al. 2009 and Bianchi and Piva 2012).  The channel exists only where the
    image as a whole shows a primary compression.
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

import math
from dataclasses import dataclass
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
GHOST_QUALITIES = (50, 60, 70, 75, 80, 85, 90, 95)
GHOST_FREQUENCIES = 4  # the 4x4 lowest: where a quality's table differs most, at a quarter of the cost


def quality_table(quality: int) -> np.ndarray:
    """libjpeg's luma table at `quality` (1-100)."""
    scale = 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality
    return np.clip(np.floor((STANDARD_LUMA * scale + 50.0) / 100.0), 1, 255).astype(np.float32)


# The reachable-bin vote (lossless files): a frequency counts when its reachable bins hold this much more of the
# image's coefficients than chance would put there; a coefficient off the reachable bins of a
# block that was quantised twice is this rare (decoder rounding, clipping).
MIN_PRIMARY_GAIN = 0.2
MIN_PRIMARY_SHARE = 0.6
MIN_FREQUENCY_COEFFICIENTS = 200
OFF_LATTICE = 0.08
MIN_BLOCK_VOTES = 3
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
LOSSLESS_SLACK = 1
LOSSLESS_STEPS = (4, 40)


def slack_of(q2: int) -> int:
    return LOSSLESS_SLACK if q2 == 1 else 0


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


def counted(k: np.ndarray, q2: int) -> np.ndarray:
    """The coefficients that vote: nonzero (beyond the slack of a lossless file), within range."""
    magnitude = np.abs(k)
    return (magnitude > slack_of(q2)) & (magnitude <= HISTOGRAM_RANGE)


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


def primary_quantisation(coefficients: np.ndarray, table: np.ndarray, lossless: bool = False,
                         lattice_from: np.ndarray | None = None) -> np.ndarray | None:
    """Per block: mean log-likelihood ratio, over its nonzero low-frequency coefficients, of an
    earlier coarser quantisation against none (NaN: too few votes; None: no earlier one shows).
    `lossless`: the file stored the pixels exactly (table all ones), so step 1 is searched too.
    `lattice_from`: the coefficients the earlier steps are estimated from (default: these)."""
    source = coefficients if lattice_from is None else lattice_from
    total = np.zeros(coefficients.shape[:2], np.float32)
    votes = np.zeros(coefficients.shape[:2], np.float32)
    frequencies = 0
    for u, v in LOW_FREQUENCIES:
        q2 = int(table[u, v])
        if q2 < 2 and not lossless:  # a JPEG's step of 1 leaves every bin reachable
            continue
        k = np.rint(coefficients[..., u, v] / q2).astype(np.int64)
        found = primary_step(k if source is coefficients else np.rint(source[..., u, v] / q2).astype(np.int64), q2)
        if found is None:
            continue
        mask, chance = found
        frequencies += 1
        voting = counted(k, q2)
        on_lattice = mask[np.clip(k, -HISTOGRAM_RANGE, HISTOGRAM_RANGE) + HISTOGRAM_RANGE]
        ratio = np.where(on_lattice, np.log((1 - OFF_LATTICE) / chance), np.log(OFF_LATTICE / (1 - chance)))
        total += np.where(voting, ratio, 0.0)
        votes += voting
    if frequencies < 2:
        return None
    return np.where(votes >= MIN_BLOCK_VOTES, total / np.maximum(votes, 1.0), np.nan).astype(np.float32)


# The likelihood model of a JPEG file's primary quantisation.  A delivered photo is often saved
# a little above its first quality (q75, then q80): steps 6 -> 4 or 5 -> 4 leave every bin
# reachable, some holding twice the share of their neighbours, and the empty-bin test above
# finds nothing (bench_splices' q80 splices, 3 of 60 boxed).  Modelled per bin instead, each
# stored k carries a log-likelihood ratio of "m q1, rounded by the decoder, requantised by q2"
# against "quantised once", both predicted from the calibrated histogram (the grid 4 px off,
# MapInput.lattice_shifted_dct), and a block's sum is standardised by its mean and variance
# under the twice-quantised model: a block that fits the rest reads about 0, one that was
# quantised once reads negative by as many standard deviations as its coefficients allow.
ROUNDING_NOISE = 0.4      # of m q1 after the first decoding (8-bit rounding of RGB and of Y), DCT units
# Share of coefficients the twice-quantised model lets land anywhere (clipping, decoder
# differences): at 0.02 a few stray coefficients sank a whole block of an untouched photo, and
# the strongest compact window of the tune half's real photos re-saved at q90 reached 2.47;
# at 0.1 it is 1.48, while the splices boxed at q80 and q90 stay the same.
UNEXPLAINED = 0.1
MIN_EVIDENCE = 0.01       # mean log-likelihood ratio per coefficient a frequency's best step must reach
MIXES = np.array([0.3, 0.5, 0.7, 0.9])  # shares of twice-quantised coefficients a step is judged at
MIN_EXISTENCE_MIX = 0.5  # the least share of twice-quantised coefficients that shows a step at all
PSEUDO_COUNT = 0.5        # per histogram bin: no bin of the once-quantised model is impossible
LIKELIHOOD_UNITS = ("standard deviations of a recompressed block's evidence", Z_FLOORS[PRIMARY])
# A box from it needs a window mean of at least this, per window scale: above the strongest
# compact window of the dev set's "tune" half real photos, as received and re-saved at q95, q90
# and q80 (1.48 and 1.26, both at q90; benchmarks/bench_splices.py).
LIKELIHOOD_FLOORS = (1.6, 1.4)


def _normal_cdf(values: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(values / math.sqrt(2.0)))


@lru_cache(maxsize=4096)
def requantised(q1: int, q2: int) -> tuple[int, np.ndarray]:
    """(first m, matrix): row i gives, for the earlier value (m0 + i) q1 plus the decoder's rounding,
    the probability of each stored k in [-HISTOGRAM_RANGE, HISTOGRAM_RANGE] after requantising by q2."""
    m = np.arange(-(HISTOGRAM_RANGE * q2) // q1 - 2, (HISTOGRAM_RANGE * q2) // q1 + 3)
    position = m * q1 / q2
    lower = np.floor(position).astype(np.int64)
    # q2 >= 2 puts the far boundary at least 5 noise widths away: only the nearer one matters.
    upper_share = _normal_cdf((position - lower - 0.5) * q2 / ROUNDING_NOISE)
    matrix = np.zeros((m.size, 2 * HISTOGRAM_RANGE + 1))
    for k, share in ((lower, 1.0 - upper_share), (lower + 1, upper_share)):
        inside = np.abs(k) <= HISTOGRAM_RANGE
        matrix[np.flatnonzero(inside), k[inside] + HISTOGRAM_RANGE] = share[inside]
    matrix.flags.writeable = False  # shared by the cache
    return int(m[0]), matrix


@dataclass(frozen=True)
class EarlierStep:
    """One frequency's fitted earlier step: per stored k, the log-likelihood ratio of twice
    quantised against once, and its mean and variance over a twice-quantised block's coefficients."""

    step: int
    ratio: np.ndarray
    mean: float
    variance: float


def earlier_step(k: np.ndarray, calibrated: np.ndarray, q2: int) -> EarlierStep | None:
    """The coarser earlier step q1 under which the stored coefficients `k` of one frequency are
    likeliest, against a single quantisation (`calibrated`: the same frequency off the grid), or
    None where none gains MIN_EVIDENCE per coefficient."""
    nonzero = k[counted(k, q2)]
    steps = np.arange(q2 + 1, min(4 * q2 + 8, HISTOGRAM_RANGE))
    if nonzero.size < MIN_FREQUENCY_COEFFICIENTS or steps.size == 0:
        return None
    bins = 2 * HISTOGRAM_RANGE + 1
    histogram = np.bincount(nonzero + HISTOGRAM_RANGE, minlength=bins) / nonzero.size
    votes = np.abs(np.arange(-HISTOGRAM_RANGE, HISTOGRAM_RANGE + 1)) > 0
    values = calibrated.ravel()
    once_k = np.clip(np.rint(values / q2), -HISTOGRAM_RANGE - 1, HISTOGRAM_RANGE + 1).astype(np.int64)
    once_k = once_k[np.abs(once_k) <= HISTOGRAM_RANGE]
    once = np.where(votes, np.bincount(once_k + HISTOGRAM_RANGE, minlength=bins) + PSEUDO_COUNT, 0.0)
    once /= once.sum()
    best = None
    for q1 in steps:
        first, matrix = requantised(int(q1), q2)
        m = np.clip(np.rint(values / q1).astype(np.int64) - first, 0, matrix.shape[0] - 1)
        twice = (np.bincount(m, minlength=matrix.shape[0]) + PSEUDO_COUNT) @ matrix
        twice = np.where(votes, twice, 0.0) / max(float(twice[votes].sum()), 1e-12)
        with np.errstate(divide="ignore", invalid="ignore"):
            lift = np.where(votes, twice / once, 1.0)
        # The image is part twice quantised and part (a patch, clipped blocks) once: each step
        # is judged at the mix that suits it best, or a patch of half the measured blocks made
        # a finer step, which half fits both, win over the true one.
        fits = np.log(MIXES[:, None] * lift[None, :] + (1.0 - MIXES[:, None])) @ histogram
        if best is None or fits.max() > best[0]:
            best = (float(fits.max()), float(fits[MIXES >= MIN_EXISTENCE_MIX].max()), int(q1),
                    np.log((1.0 - UNEXPLAINED) * lift + UNEXPLAINED), twice)
    _, evidence, step, ratio, twice = best
    # Whether it shows at all is judged at mixes of half or more: a step that only a third of the
    # coefficients fit was found in never-compressed photos re-saved once (CBSD68 at q90), while
    # a patch can be half the measured blocks (the large-patch test).
    if evidence < MIN_EVIDENCE:
        return None
    twice = (1.0 - UNEXPLAINED) * twice + UNEXPLAINED * once  # the moments allow the strays too
    mean = float((twice * ratio).sum())
    return EarlierStep(step, ratio, mean, float((twice * np.square(ratio - mean)).sum()))


def primary_likelihood(coefficients: np.ndarray, table: np.ndarray, lattice_from: np.ndarray,
                       calibrated: np.ndarray) -> np.ndarray | None:
    """Per block of a JPEG file: the sum of its coefficients' log-likelihood ratios (earlier_step),
    less its mean under the twice-quantised model, over that model's standard deviation (NaN: too
    few votes; None: no earlier step shows in two frequencies).  The steps are fitted on
    `lattice_from` and `calibrated` (the whole image, and the whole image off its grid)."""
    total = np.zeros(coefficients.shape[:2], np.float64)
    expected = np.zeros_like(total)
    variance = np.zeros_like(total)
    votes = np.zeros_like(total)
    frequencies = 0
    for u, v in LOW_FREQUENCIES:
        q2 = int(table[u, v])
        if q2 < 2:  # a step of 1 leaves every bin reachable
            continue
        fitted = earlier_step(np.rint(lattice_from[..., u, v] / q2).astype(np.int64), calibrated[..., u, v], q2)
        if fitted is None:
            continue
        frequencies += 1
        k = np.rint(coefficients[..., u, v] / q2).astype(np.int64)
        voting = counted(k, q2)
        total += np.where(voting, fitted.ratio[np.clip(k, -HISTOGRAM_RANGE, HISTOGRAM_RANGE) + HISTOGRAM_RANGE], 0.0)
        expected += voting * fitted.mean
        variance += voting * fitted.variance
        votes += voting
    if frequencies < 2:
        return None
    standardised = (total - expected) / np.sqrt(np.maximum(variance, 1e-12))
    return np.where(votes >= MIN_BLOCK_VOTES, standardised, np.nan).astype(np.float32)


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
    primary = primary_quantisation(image.luma_dct, np.ones((8, 8), np.float32), lossless=True,
                                   lattice_from=image.lattice_dct)
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
