"""Local noise inconsistency: a region whose residual statistics differ from the rest.

In the spirit of Splicebuster and the noise-level-function methods, per image
and unsupervised: every cell is compared with the same photo's other cells,
never with a fixed threshold.  Two channels, both from residuals the engine
already computed (models.evidence.signal_maps.PixelEvidence):

noise level
    log2 of the cell's noise (Immerkaer, flattest blocks) over the noise this
    image shows at the same brightness: a pasted, regenerated or denoised
    patch is quieter than the camera's noise around it.  Only "quieter"
    counts: texture raises the Immerkaer estimate of a block (its filter
    passes fine structure as noise), so "louder" here mostly marks a textured
    object in a smooth photo (a rock against sky and water, a lighthouse's
    railings: 8 of the 10 boxes on untouched photos of bench_splices' test half
    were such), and texture cannot make a block look quieter.  A louder
    pasted patch still shows in the fine-detail channel, which compares each
    block with blocks of the same contrast.
fine detail
    log2 of the second-difference residual over the block's own contrast: the
    share of the local contrast that lives at the finest scale, against what
    the image's blocks of the same contrast show.  Upscaled or
    generated material has almost none, and JPEG at quality 80-90 keeps enough
    of it (it quantises the noise, not the edges' fine structure) for a 2x
    upscaled patch to stay visible where the noise level alone fades.
"""

from __future__ import annotations

import numpy as np

from models.evidence.maps.base import InconsistencyMap, LocalMap, MapInput, pooled, robust_z, sampled_blocks

DETAIL_OFFSET = 1.0  # grey levels: keeps flat blocks' ratios calm
CONTRAST_BINS = 10


def measure(image: MapInput) -> InconsistencyMap | None:
    pixels, stride = image.pixels, image.stride
    if pixels.block_sigma.size < 64:
        return None
    noise = pooled(pixels.block_noise_ratio, stride)
    d2 = (sampled_blocks(pixels.abs_d2x, stride).mean(axis=(2, 3))
          + sampled_blocks(pixels.abs_d2y, stride).mean(axis=(2, 3)))
    detail = np.log2((d2 + DETAIL_OFFSET) / (image.block_contrast + DETAIL_OFFSET)).astype(np.float32)
    detail = np.where(np.isfinite(image.sampled_sigma), detail, np.nan)
    detail = detail - _expected_by_contrast(detail, image.block_contrast)
    rows, cols = min(noise.shape[0], detail.shape[0]), min(noise.shape[1], detail.shape[1])
    return InconsistencyMap(
        name=NOISE_MAP.name,
        channels={"noise level": robust_z(noise[:rows, :cols], 0.15),
                  "fine detail": robust_z(detail[:rows, :cols], 0.1)},
        cell=image.cell, width=pixels.width, height=pixels.height,
        directions={"noise level": (-1,)})  # see the module docstring: texture reads as "louder"


def _expected_by_contrast(detail: np.ndarray, contrast: np.ndarray) -> np.ndarray:
    """The detail this image's blocks of the same contrast show (median per contrast decile):
    flat blocks are all noise, hence all fine detail, and textured ones less, so a block is
    compared only with blocks like it, as the noise level is compared at the same brightness."""
    finite = np.isfinite(detail)
    if finite.sum() < 10 * CONTRAST_BINS:
        return np.float32(np.nanmedian(detail)) if finite.any() else np.float32(0.0)
    edges = np.quantile(contrast[finite], np.linspace(0, 1, CONTRAST_BINS + 1)[1:-1])
    bins = np.digitize(contrast, edges)
    medians = np.array([np.median(detail[finite & (bins == b)]) if np.any(finite & (bins == b)) else 0.0
                        for b in range(CONTRAST_BINS)], np.float32)
    return medians[bins]


NOISE_MAP = LocalMap(
    name="noise-inconsistency",
    label="noise differs from the rest (noise inconsistency)",
    legend="noise inconsistency: bright where the noise or the finest detail differs from the rest of the picture",
    measure=measure,
)
