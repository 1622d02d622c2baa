"""A JPEG file's primary quantisation, as a likelihood model (jpeg_traces' "primary quantisation").

Dividing a block's DCT coefficients by the file's own step q2 gives the
integers k it stored.  Where the picture was quantised before, on the same
grid, with a coarser step q1, the k that multiples of q1 round to take the
coefficients: the histogram has empty bins (q75 then q90), or bins with twice
their neighbours' share and others with half (q75 then q80, steps 6 then 4).
A delivered photo is often saved a little above its first quality, which
leaves no bin empty, so each bin is modelled rather than tested for emptiness.

Per frequency and candidate step q1, the stored k's probability under "m q1,
rounded by the decoder, requantised by q2" and under "quantised once" are both
predicted from the calibrated histogram: the DCT on a grid 4 px off the file's
(MapInput.lattice_shifted_dct), where no lattice survives (after Fan and de
Queiroz 2003, and Bianchi and Piva 2012).  The first compression is found as a
whole: the libjpeg quality whose table explains the most evidence over all
frequencies (FIRST_QUALITIES), or, for a camera's own table, each frequency's
best step on its own where that shows clearly.  Each k then carries the
log-likelihood ratio of the two, and a block's sum is standardised by its mean
and variance under the twice-quantised model: a block that fits the rest
reads about 0, one that was quantised once (a pasted patch) reads negative by
as many standard deviations as its coefficients allow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from models.evidence.maps.jpeg_tables import (
    HISTOGRAM_RANGE, LOW_FREQUENCIES, MIN_BLOCK_VOTES, MIN_FREQUENCY_COEFFICIENTS, counted, quality_table)

ROUNDING_NOISE = 0.4  # of m q1 after the first decoding (8-bit rounding of RGB and of Y), DCT units
# Share of coefficients the twice-quantised model lets land anywhere (clipping, decoder
# differences): at 0.02 a few stray coefficients sank a whole block of an untouched photo, and
# the strongest compact window of the tune half's real photos re-saved at q90 reached 2.47;
# at 0.1 it is 1.48, while the splices boxed at q80 and q90 stay the same.
UNEXPLAINED = 0.1
MIXES = np.array([0.3, 0.5, 0.7, 0.9])  # shares of twice-quantised coefficients a step is judged at
# Whether a step shows at all is judged at mixes of half or more: a step that only a third of the
# coefficients fit was found in never-compressed photos re-saved once (CBSD68 at q90), while a
# pasted patch can be half the measured blocks (the large-patch test).
MIN_EXISTENCE_MIX = 0.5
PSEUDO_COUNT = 0.5  # per histogram bin: no bin of the once-quantised model is impossible
# A frequency's own best step counts where its mean log-likelihood ratio per coefficient reaches
# this.  Never-compressed photos re-saved once fit a step by chance up to 0.028 (CBSD68 at q90, a
# camera JPEG at q80: the tune half's strongest untouched windows then reached 2.09 and 1.62); a
# q75 thumbnail re-saved at q80 shows 0.03 to 0.3 per frequency.
MIN_EVIDENCE = 0.04
# A libjpeg first quality counts where the evidence of its steps, summed over the frequencies it
# quantised more coarsely, reaches this.  On the tune half's real photos re-saved at q95, q90 and
# q80, those with no coarser first compression (never-compressed PNGs, camera JPEGs above the
# save) reach at most 0.054; the faintest q75 thumbnail re-saved at q80 reaches 0.25, where no
# frequency alone reaches MIN_EVIDENCE.
FIRST_QUALITIES = range(50, 100)
MIN_TABLE_EVIDENCE = 0.15


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
class StepFit:
    """One candidate earlier step of one frequency: how well it explains the stored histogram
    (mean log-likelihood ratio per coefficient against a single quantisation, at the best mix of
    all, and at the best of MIN_EXISTENCE_MIX and more) and the two models it compares."""

    step: int
    fit: float
    evidence: float
    twice: np.ndarray  # probability of each k, twice quantised (k = 0 excluded)
    once: np.ndarray   # the same, quantised once

    @property
    def ratio(self) -> np.ndarray:
        """Per stored k: the log-likelihood ratio a coefficient votes with (UNEXPLAINED strays allowed)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            lift = np.where(self.once > 0, self.twice / self.once, 1.0)
        return np.log((1.0 - UNEXPLAINED) * lift + UNEXPLAINED)


@dataclass(frozen=True)
class EarlierStep:
    """One frequency's chosen earlier step: per stored k, the log-likelihood ratio of twice
    quantised against once, and its mean and variance over a twice-quantised block's coefficients."""

    step: int
    ratio: np.ndarray
    mean: float
    variance: float

    @classmethod
    def of(cls, fitted: StepFit) -> "EarlierStep":
        ratio = fitted.ratio
        twice = (1.0 - UNEXPLAINED) * fitted.twice + UNEXPLAINED * fitted.once  # the moments allow the strays too
        mean = float((twice * ratio).sum())
        return cls(fitted.step, ratio, mean, float((twice * np.square(ratio - mean)).sum()))


def step_fits(k: np.ndarray, calibrated: np.ndarray, q2: int) -> dict[int, StepFit]:
    """Every coarser earlier step q1 tried for one frequency's stored coefficients `k`, against a
    single quantisation (`calibrated`: the same frequency off the grid); empty where too few
    coefficients vote."""
    nonzero = k[counted(k, q2)]
    steps = np.arange(q2 + 1, min(4 * q2 + 8, HISTOGRAM_RANGE))
    if nonzero.size < MIN_FREQUENCY_COEFFICIENTS or steps.size == 0:
        return {}
    bins = 2 * HISTOGRAM_RANGE + 1
    histogram = np.bincount(nonzero + HISTOGRAM_RANGE, minlength=bins) / nonzero.size
    votes = np.abs(np.arange(-HISTOGRAM_RANGE, HISTOGRAM_RANGE + 1)) > 0
    values = calibrated.ravel()
    once_k = np.clip(np.rint(values / q2), -HISTOGRAM_RANGE - 1, HISTOGRAM_RANGE + 1).astype(np.int64)
    once_k = once_k[np.abs(once_k) <= HISTOGRAM_RANGE]
    once = np.where(votes, np.bincount(once_k + HISTOGRAM_RANGE, minlength=bins) + PSEUDO_COUNT, 0.0)
    once /= once.sum()
    fits = {}
    for q1 in (int(step) for step in steps):
        first, matrix = requantised(q1, q2)
        m = np.clip(np.rint(values / q1).astype(np.int64) - first, 0, matrix.shape[0] - 1)
        twice = (np.bincount(m, minlength=matrix.shape[0]) + PSEUDO_COUNT) @ matrix
        twice = np.where(votes, twice, 0.0) / max(float(twice[votes].sum()), 1e-12)
        with np.errstate(divide="ignore", invalid="ignore"):
            lift = np.where(votes, twice / once, 1.0)
        # The image is part twice quantised and part (a patch, clipped blocks) once: each step
        # is judged at the mix that suits it best, or a patch of half the measured blocks made
        # a finer step, which half fits both, win over the true one.
        by_mix = np.log(MIXES[:, None] * lift[None, :] + (1.0 - MIXES[:, None])) @ histogram
        fits[q1] = StepFit(q1, float(by_mix.max()), float(by_mix[MIXES >= MIN_EXISTENCE_MIX].max()), twice, once)
    return fits


def first_quality(fits: dict[tuple[int, int], dict[int, StepFit]]) -> tuple[int, float] | None:
    """(quality, evidence): the libjpeg first quality whose steps explain most, summed over the
    frequencies it quantised more coarsely than the file, or None where none reaches
    MIN_TABLE_EVIDENCE."""
    best = None
    for quality in FIRST_QUALITIES:
        table = quality_table(quality)
        used = [by_step[int(table[u, v])].evidence for (u, v), by_step in fits.items() if int(table[u, v]) in by_step]
        if len(used) >= 2 and (best is None or sum(used) > best[1]):
            best = (quality, float(sum(used)))
    return best if best is not None and best[1] >= MIN_TABLE_EVIDENCE else None


def chosen_steps(fits: dict[tuple[int, int], dict[int, StepFit]]) -> dict[tuple[int, int], EarlierStep]:
    """Per frequency, the earlier step its blocks are judged by: the first quality's step where
    it explains the frequency at all and no other step clearly does better; else the frequency's
    own best step, where it shows clearly (a camera's own table is no libjpeg quality)."""
    found = first_quality(fits)
    table = quality_table(found[0]) if found is not None else None
    chosen = {}
    for (u, v), by_step in fits.items():
        if not by_step:
            continue
        own = max(by_step.values(), key=lambda fitted: fitted.fit)
        listed = by_step.get(int(table[u, v])) if table is not None else None
        if listed is not None and listed.evidence > 0 and own.evidence < listed.evidence + MIN_EVIDENCE:
            chosen[(u, v)] = EarlierStep.of(listed)
        elif own.evidence >= MIN_EVIDENCE:
            chosen[(u, v)] = EarlierStep.of(own)
    return chosen


def primary_likelihood(coefficients: np.ndarray, table: np.ndarray, lattice_from: np.ndarray,
                       calibrated: np.ndarray) -> np.ndarray | None:
    """Per block of a JPEG file: the sum of its coefficients' log-likelihood ratios, less its mean
    under the twice-quantised model, over that model's standard deviation (NaN: too few votes;
    None: no earlier step shows in two frequencies).  The steps are fitted on `lattice_from` and
    `calibrated` (the whole image, and the whole image off its grid)."""
    def stored(dct: np.ndarray, u: int, v: int) -> np.ndarray:
        return np.rint(dct[..., u, v] / int(table[u, v])).astype(np.int64)

    judged = [(u, v) for u, v in LOW_FREQUENCIES if table[u, v] >= 2]  # a step of 1 leaves every bin reachable
    stored_k = {(u, v): stored(coefficients, u, v) for u, v in judged}
    fits = {(u, v): step_fits(stored_k[(u, v)] if lattice_from is coefficients else stored(lattice_from, u, v),
                              calibrated[..., u, v], int(table[u, v]))
            for u, v in judged}
    steps = chosen_steps(fits)
    if len(steps) < 2:
        return None
    total = np.zeros(coefficients.shape[:2], np.float64)
    expected = np.zeros_like(total)
    variance = np.zeros_like(total)
    votes = np.zeros_like(total)
    for (u, v), fitted in steps.items():
        k = stored_k[(u, v)]
        voting = counted(k, int(table[u, v]))
        total += np.where(voting, fitted.ratio[np.clip(k, -HISTOGRAM_RANGE, HISTOGRAM_RANGE) + HISTOGRAM_RANGE], 0.0)
        expected += voting * fitted.mean
        variance += voting * fitted.variance
        votes += voting
    standardised = (total - expected) / np.sqrt(np.maximum(variance, 1e-12))
    return np.where(votes >= MIN_BLOCK_VOTES, standardised, np.nan).astype(np.float32)
