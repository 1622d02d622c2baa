"""Demosaicing (CFA) inconsistency, for camera-origin images.

A camera sensor records one colour per pixel through a Bayer filter; green
is measured on one quincunx lattice and interpolated on the other.  An
interpolated pixel is predictable from its four neighbours, a measured one is
not, so the green residual G - mean(4 neighbours) is much weaker on one
lattice than on the other, everywhere the camera's pixels survive.  Pasted,
generated or resampled material lacks that periodic trace (after Popescu and
Farid 2005; Dirik and Memon 2009).

The map exists only where the image shows the trace as a whole (most of its
cells agree on which lattice is interpolated): in other images, screenshots,
renders, strongly compressed or resized photos, its absence means nothing.
"""

from __future__ import annotations

import numpy as np

from models.evidence.maps.base import InconsistencyMap, LocalMap, MapInput, robust_z, sampled_blocks

# log2 ratio of the two lattices' residual energy that an image's typical cell
# must show, with the sign shared by this share of cells, for the trace to count.
MIN_TRACE = 0.5
MIN_AGREEMENT = 0.75


def lattice_ratio(green: np.ndarray, stride: int) -> np.ndarray:
    """Per cell: log2 of the residual energy on the even lattice (x + y even) over the odd one,
    inside the first 8x8 block of each cell (its 6x6 interior, which has all four neighbours)."""
    blocks = sampled_blocks(green, stride).astype(np.float32)
    centre = blocks[..., 1:-1, 1:-1]
    residual = centre - 0.25 * (blocks[..., :-2, 1:-1] + blocks[..., 2:, 1:-1]
                                + blocks[..., 1:-1, :-2] + blocks[..., 1:-1, 2:])
    energy = residual * residual
    even = (np.add.outer(np.arange(6), np.arange(6)) % 2 == 0)
    return np.log2((energy[..., even].mean(axis=-1) + 0.05) / (energy[..., ~even].mean(axis=-1) + 0.05))


def measure(image: MapInput) -> InconsistencyMap | None:
    if image.pixels.block_sigma.size < 64:
        return None
    ratio = lattice_ratio(image.rgb[..., 1], image.stride)
    ratio = np.where(np.isfinite(image.sampled_sigma), ratio, np.nan)
    finite = ratio[np.isfinite(ratio)]
    if finite.size < 64:
        return None
    typical = float(np.median(finite))
    agreement = float(np.mean(np.sign(finite) == np.sign(typical)))
    if abs(typical) < MIN_TRACE or agreement < MIN_AGREEMENT:
        return None
    # Signed so that positive z means "the camera's trace is weaker here than in the rest".
    trace = np.sign(typical) * ratio
    return InconsistencyMap(name=CFA_MAP.name, channels={"demosaicing trace": -robust_z(trace, 0.15)},
                            cell=image.cell, width=image.pixels.width, height=image.pixels.height,
                            directions={"demosaicing trace": (+1,)})


CFA_MAP = LocalMap(
    name="cfa",
    label="camera demosaicing trace missing (CFA)",
    legend="demosaicing (CFA): bright where the camera's colour-filter interpolation trace is missing",
    measure=measure,
)
