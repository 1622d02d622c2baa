"""Signal maps: each a float array whose documented meaning the tests check."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from models.evidence.signal_maps import (PixelEvidence, error_level_map, measure_tiles, noise_residual_map,
                                         residual_spectrum, tile_statistics)
from models.sample_images import camera_like_photo


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return camera_like_photo(384, 512, seed=4)


def _noise(shape, sigma, seed=0):
    return np.random.default_rng(seed).normal(0, sigma, shape)


def test_pixel_maps_are_float_arrays_of_the_image_size(photo):
    for pixel_map in (error_level_map(photo), noise_residual_map(photo), residual_spectrum(photo)):
        assert pixel_map.shape == photo.shape[:2] and pixel_map.dtype == np.float32
        assert np.all(np.isfinite(pixel_map))


def test_noise_map_reads_sigma_in_grey_levels():
    flat = np.full((256, 256), 128.0)
    for sigma in (2.0, 6.0):
        noisy = np.clip(flat + _noise(flat.shape, sigma), 0, 255).astype(np.uint8)
        estimate = float(noise_residual_map(np.dstack([noisy] * 3)).mean())
        assert estimate == pytest.approx(sigma, rel=0.12)


def test_error_level_is_high_where_the_compression_history_differs(photo):
    once = np.asarray(Image.open(io.BytesIO(_jpeg(photo, 90))))
    patched = once.copy()
    patched[100:228, 200:328] = photo[100:228, 200:328]  # never compressed: re-saving changes it more
    ela = error_level_map(patched)
    assert ela[100:228, 200:328].mean() > 1.5 * ela[260:, :150].mean()


def _jpeg(rgb, quality):
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def test_spectrum_shows_a_periodic_trace_as_an_off_centre_peak():
    rng = np.random.default_rng(1)
    grid = np.clip(128 + rng.normal(0, 3, (256, 256)), 0, 255)
    grid[:, ::4] += 12  # a 4-pixel column period
    spectrum = residual_spectrum(np.dstack([grid.astype(np.uint8)] * 3))
    centre_row = spectrum[128]
    assert centre_row[128 + 64] > np.median(centre_row) + 1.0  # 1/4 cycles/pixel, a decade above


def test_noise_ratio_follows_the_noise_level_function_not_brightness():
    """Shot noise grows with brightness; a dark area that is quieter only
    because it is dark must not stand out, a quieter patch at equal brightness must."""
    height, width = 512, 512
    level = np.where(np.arange(width) < width // 2, 60.0, 190.0)[None, :].repeat(height, 0)
    sigma = 1.0 + level / 60.0  # brighter -> noisier, as photon noise is
    image = level + _noise(level.shape, 1.0) * sigma
    image[192:320, 320:448] = level[192:320, 320:448] + _noise((128, 128), 1.0, seed=2) * sigma[0, 300] * 0.4
    rgb = np.dstack([np.clip(image, 0, 255).astype(np.uint8)] * 3)
    stats = tile_statistics(PixelEvidence.compute(rgb), 64)
    ratio = stats.noise_ratio.values
    quiet_patch = ratio[3:5, 5:7]
    dark_half, bright_half = ratio[:, :4], np.delete(ratio[:, 4:], np.s_[1:3], axis=1)
    assert np.nanmax(np.abs(dark_half)) < 0.4 and np.nanmedian(np.abs(bright_half)) < 0.4
    assert np.nanmax(quiet_patch) < -0.8


def test_constant_and_clipped_areas_are_not_measured(photo):
    framed = photo.copy()
    framed[:, :128] = 90       # a letterbox: constant
    framed[:128, 384:] = 255   # clipped highlight
    stats = tile_statistics(PixelEvidence.compute(framed), 64)
    assert np.all(np.isnan(stats.noise_ratio.values[:, :2]))
    assert np.all(np.isnan(stats.periodic_deficit.values[:2, 6:]))
    assert np.isfinite(stats.noise_ratio.values[3:, 3:]).all()


def test_scales_adapt_to_the_image_size():
    assert [s.tile for s in measure_tiles(PixelEvidence.compute(np.zeros((120, 90, 3), np.uint8)))] == []
    big = cv2.resize(camera_like_photo(300, 400, seed=1), (2600, 1950))
    assert [s.tile for s in measure_tiles(PixelEvidence.compute(big))] == [64, 128, 256]
