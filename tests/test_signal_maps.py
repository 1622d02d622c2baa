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


# ---------------------------------------------------------------------- same values as before the speed-ups
# The maps feed calibrated thresholds and the learned model's features, so the
# faster ways of computing them must give the same float32 values, bit for bit.

def _previous_pixel_arrays(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """The arrays as PixelEvidence.compute made them before: sepFilter2D for
    each second difference and for the residual, Pillow for the JPEG round trip."""
    from models.evidence.signal_features import jpeg_round_trip
    from models.evidence.signal_maps import _IMMERKAER_SCALE, FLAT_BLOCK_SPREAD

    kernel, one = np.array([1.0, -2.0, 1.0], np.float32), np.array([1.0], np.float32)
    gray8 = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    gray = gray8.astype(np.float32)
    d2x = np.abs(cv2.sepFilter2D(gray, cv2.CV_32F, kernel, one, borderType=cv2.BORDER_REFLECT))
    d2y = np.abs(cv2.sepFilter2D(gray, cv2.CV_32F, one, kernel, borderType=cv2.BORDER_REFLECT))
    bh, bw = gray.shape[0] // 8, gray.shape[1] // 8
    crop = gray[: bh * 8, : bw * 8]
    residual = np.abs(cv2.sepFilter2D(crop, cv2.CV_32F, kernel, kernel, borderType=cv2.BORDER_REFLECT))
    sigma = cv2.resize(residual, (bw, bh), interpolation=cv2.INTER_AREA) * _IMMERKAER_SCALE
    mean = cv2.resize(crop, (bw, bh), interpolation=cv2.INTER_AREA)
    spread = np.sqrt(np.maximum(cv2.resize(crop * crop, (bw, bh), interpolation=cv2.INTER_AREA) - mean * mean, 0))
    sigma[(mean >= 250.0) | (mean <= 5.0) | (spread < FLAT_BLOCK_SPREAD)] = np.nan
    ela = cv2.absdiff(gray8, jpeg_round_trip(gray8, 90)).astype(np.float32)
    return {"abs_d2x": d2x, "abs_d2y": d2y, "block_sigma": sigma, "block_mean": mean, "error_level": ela}


def _test_images() -> list[np.ndarray]:
    noisy = np.clip(camera_like_photo(389, 517, seed=7) + _noise((389, 517, 3), 40, seed=7), 0, 255).astype(np.uint8)
    return [camera_like_photo(384, 512, seed=4),   # sides a multiple of 8
            camera_like_photo(389, 517, seed=6),   # sides that cut the last 8x8 blocks
            noisy,                                 # loud residuals and error levels
            np.full((96, 130, 3), 128, np.uint8)]  # constant: no measurable block


@pytest.mark.parametrize("index", range(4))
def test_pixel_evidence_is_exactly_what_the_previous_computation_gave(index):
    rgb = _test_images()[index]
    pixels = PixelEvidence.compute(rgb)
    for name, expected in _previous_pixel_arrays(rgb).items():
        got = getattr(pixels, name)
        assert got.dtype == expected.dtype and got.shape == expected.shape, name
        assert np.array_equal(got, expected, equal_nan=True), name


def test_the_error_level_computed_on_another_thread_is_the_same(photo):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        beside = PixelEvidence.compute(photo, pool.submit)
    alone = PixelEvidence.compute(photo)
    assert np.array_equal(beside.error_level, alone.error_level) and np.array_equal(beside.abs_d2x, alone.abs_d2x)


@pytest.mark.parametrize("force_fallback", [False, True])
def test_tile_statistics_are_exactly_the_previous_tile_means(monkeypatch, force_fallback):
    import models.evidence.signal_tiles as signal_tiles

    def previous(pixels, tile):
        with monkeypatch.context() as patched:  # the means over tile views, as they were taken before
            view = signal_tiles._tile_view
            patched.setattr(signal_tiles, "_tile_profiles", lambda p, t, r, c: (
                view(p.abs_d2x, t).mean(axis=2), view(p.abs_d2y, t).mean(axis=3)))
            patched.setattr(signal_tiles, "_tile_error_level",
                            lambda p, t, r, c: view(p.error_level, t).mean(axis=(2, 3)))
            return tile_statistics(pixels, tile)

    if force_fallback:  # every error-level tile taken as too large to sum exactly
        monkeypatch.setattr(signal_tiles, "_EXACT_FLOAT32", 0.0)
    for rgb in _test_images()[:3]:
        pixels = PixelEvidence.compute(rgb)
        for tile in (32, 64, 128):
            got, expected = tile_statistics(pixels, tile), previous(pixels, tile)
            for name in ("noise_sigma", "noise_ratio", "periodic_excess", "periodic_deficit", "error_level"):
                assert np.array_equal(getattr(got, name).values, getattr(expected, name).values,
                                      equal_nan=True), (tile, name)
            assert got.dominant_frequency == expected.dominant_frequency
            assert got.median_error_level == expected.median_error_level
