"""Stable Diffusion invisible-watermark detection (models/evidence/watermark.py).

Watermarks are embedded with the real invisible-watermark encoder, the way the
SD scripts call it; the library is imported here only (it imports torch).
"""

from __future__ import annotations

import csv
import itertools
import json
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from models.evidence.watermark import (
    KNOWN_PATTERNS, MIN_PIXELS, WatermarkPattern, check_patterns, compare_with_pattern,
    decode_vote_fractions, detect_sd_watermarks, hypergeometric_tail,
)
from models.image_input import load_image
from models.sample_images import camera_like_photo, encode

imwatermark = pytest.importorskip("imwatermark")
pywt = pytest.importorskip("pywt")
from imwatermark import WatermarkDecoder, WatermarkEncoder  # noqa: E402
from imwatermark.maxDct import EmbedMaxDct  # noqa: E402

PATTERNS = {p.name: p for p in KNOWN_PATTERNS}
SD1, SD2, SDXL = "Stable Diffusion 1.x", "Stable Diffusion 2.x", "Stable Diffusion XL"
SDXL_SWAPPED = "Stable Diffusion XL (red/blue swapped)"
DEV_SET = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dev"


@lru_cache(maxsize=None)
def watermarked(name: str, height: int = 512, width: int = 512, seed: int = 0) -> np.ndarray:
    """A camera-like RGB photo carrying `name`'s pattern, embedded as the
    generating code does (BGR, or RGB handed over unconverted)."""
    pattern = PATTERNS[name]
    rgb = camera_like_photo(height, width, seed=seed)
    encoder = WatermarkEncoder()
    if name == SD1:
        encoder.set_watermark("bytes", b"StableDiffusionV1")
    elif name == SD2:
        encoder.set_watermark("bytes", b"SDV2")
    else:
        encoder.set_watermark("bits", [int(b) for b in bin(0b101100111110110010010000011110111011000110011110)[2:]])
    assert tuple(int(b) for b in encoder._watermarks) == pattern.bits
    if pattern.channel_order == "bgr":
        return encoder.encode(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), "dwtDct")[:, :, ::-1].copy()
    return encoder.encode(rgb.copy(), "dwtDct")


def library_vote_fractions(rgb: np.ndarray, n_bits: int, swapped: bool = False) -> np.ndarray:
    """imwatermark's own per-bit averages (EmbedMaxDct.decode's avgScores)."""
    bgr = rgb if swapped else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    rows, cols = bgr.shape[:2]
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)
    approximation, _ = pywt.dwt2(yuv[:rows // 4 * 4, :cols // 4 * 4, 1], "haar")
    scores = EmbedMaxDct(watermarks=[], wmLen=n_bits).decode_frame(approximation, 36, [[] for _ in range(n_bits)])
    return np.array([np.mean(s) for s in scores])


def detected_names(data: bytes) -> set[str]:
    evidence = detect_sd_watermarks(load_image(data))
    return {e.details["pattern"] for e in evidence if e.supports == "ai-generated"}


# ------------------------------------------------------------ the patterns


def test_pattern_table_matches_the_published_payloads():
    assert PATTERNS[SD1].bits == tuple(np.unpackbits(np.frombuffer(b"StableDiffusionV1", np.uint8)))
    assert len(PATTERNS[SD1].bits) == 136 and len(PATTERNS[SD2].bits) == 32
    assert int("".join(map(str, PATTERNS[SDXL].bits)), 2) == 0b101100111110110010010000011110111011000110011110
    assert len(PATTERNS[SDXL].bits) == 48 and PATTERNS[SDXL_SWAPPED].bits == PATTERNS[SDXL].bits
    assert PATTERNS[SDXL_SWAPPED].channel_order == "rgb-as-bgr"


# ------------------------------------------------- equivalence with the library


def equivalence_images() -> list[tuple[str, np.ndarray]]:
    flat = np.full((300, 420, 3), (120, 125, 200), np.uint8)  # many exact quantisation edges
    noisy = np.clip(flat + np.random.default_rng(1).integers(-2, 3, flat.shape), 0, 255).astype(np.uint8)
    return [
        ("photo", camera_like_photo(517, 770, seed=3)),
        ("sd1", watermarked(SD1)), ("sdxl-odd-size", watermarked(SDXL, 601, 333, seed=4)),
        ("sdxl-swapped", watermarked(SDXL_SWAPPED)), ("flat", flat), ("nearly-flat", noisy),
    ]


@pytest.mark.parametrize("swapped", [False, True], ids=["bgr", "rgb-as-bgr"])
def test_vote_fractions_and_bits_equal_imwatermark(swapped):
    order = "rgb-as-bgr" if swapped else "bgr"
    for label, rgb in equivalence_images():
        for n_bits in (136, 32, 48):
            ours = decode_vote_fractions(rgb, n_bits, order)
            theirs = library_vote_fractions(rgb, n_bits, swapped)
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12, err_msg=f"{label} {n_bits}")
            bgr = rgb if swapped else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
            library_bits = np.asarray(WatermarkDecoder("bits", n_bits).decode(bgr, "dwtDct"), bool)
            np.testing.assert_array_equal(ours * 255 > 127, library_bits, err_msg=f"{label} {n_bits}")


# --------------------------------------------------------------- detection


@pytest.mark.parametrize("name", [SD1, SD2, SDXL, SDXL_SWAPPED])
@pytest.mark.parametrize("size", [(512, 512), (768, 1024)])
def test_each_pattern_is_detected_after_a_png_round_trip(name, size):
    image = load_image(encode(watermarked(name, *size, seed=size[1]), "PNG"))
    evidence = detect_sd_watermarks(image)
    assert len(evidence) == 1
    item = evidence[0]
    assert (item.kind, item.source, item.supports, item.decisive) == \
        ("watermark", "invisible-watermark", "ai-generated", True)
    assert item.strength >= 0.95 and item.details["pattern"] == name
    assert item.finding.startswith(f"{name} invisible watermark: ")
    assert "bits agree; chance of this agreement without a watermark" in item.finding
    assert f"after testing {len(KNOWN_PATTERNS)} patterns" in item.finding
    json.dumps(item.to_dict())


@pytest.mark.parametrize("name", [SDXL, SDXL_SWAPPED])
def test_sdxl_mark_embedded_on_float_pixels_as_diffusers_does_is_detected(name):
    # diffusers / generative-models hand the encoder float32 pixels in 0..255
    # (cv2 then uses another YUV offset) and round to 8 bits afterwards.
    rgb = camera_like_photo(768, 768, seed=8).astype(np.float32)
    encoder = WatermarkEncoder()
    encoder.set_watermark("bits", list(PATTERNS[name].bits))
    if PATTERNS[name].channel_order == "bgr":
        out = encoder.encode(np.ascontiguousarray(rgb[:, :, ::-1]), "dwtDct")[:, :, ::-1]
    else:
        out = encoder.encode(rgb, "dwtDct")
    pixels = np.rint(np.clip(out, 0, 255)).astype(np.uint8)
    assert detected_names(encode(pixels, "PNG")) == {name}


@pytest.mark.parametrize("name", [SD1, SD2, SDXL, SDXL_SWAPPED])
def test_jpeg_quality_95_without_chroma_subsampling_keeps_the_watermark(name):
    # Pillow's default 4:2:0 subsampling usually destroys this chroma watermark
    # (rates in docs/watermark.md); full-resolution chroma at q95 keeps it.
    assert detected_names(encode(watermarked(name), "JPEG", quality=95, subsampling=0)) == {name}


def test_exif_rotated_jpeg_is_decoded_in_stored_orientation():
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise
    data = encode(watermarked(SDXL, 512, 768), "JPEG", quality=95, subsampling=0, exif=exif.tobytes())
    image = load_image(data)
    assert image.orientation == 6 and image.rgb.shape[:2] == (768, 512)
    assert detected_names(data) == {SDXL}
    # The displayed pixels no longer line up with the block grid.
    assert not any(c.detected for c in check_patterns(image.rgb))


def unwatermarked_images() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:512, 0:640]
    checker = (((y // 8) + (x // 8)) % 2 * 255).astype(np.uint8)
    colour_checker = np.where((((y // 5) + (x // 3)) % 2)[:, :, None] > 0, (250, 10, 30), (5, 240, 200))
    stripes = np.stack([(x * 7) % 256, (y * 3) % 256, ((x + y) * 5) % 256], axis=2)
    images = [(f"photo-{seed}", camera_like_photo(512 + 64 * (seed % 3), 640 + 96 * (seed % 2), seed=seed))
              for seed in range(20, 30)]
    images += [
        ("flat-grey", np.full((512, 512, 3), 128, np.uint8)),
        ("flat-colour", np.full((600, 400, 3), (200, 40, 90), np.uint8)),
        ("checkerboard", np.repeat(checker[:, :, None], 3, axis=2)),
        ("colour-checkerboard", colour_checker.astype(np.uint8)),
        ("gradient", np.stack([x * 255 // 639, y * 255 // 511, 255 - x * 255 // 639], axis=2).astype(np.uint8)),
        ("stripes", stripes.astype(np.uint8)),
        ("uniform-noise", rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)),
        ("grey-photo", np.repeat(camera_like_photo(512, 512, seed=31)[:, :, 1:2], 3, axis=2)),
        ("saturated-blocks", np.kron(rng.integers(0, 2, (64, 80, 3)) * 255, np.ones((8, 8, 1))).astype(np.uint8)),
        ("jpeg-photo", load_image(encode(camera_like_photo(512, 768, seed=32), "JPEG", quality=70)).rgb),
    ]
    return images


def test_no_false_alarm_on_twenty_unwatermarked_images():
    images = unwatermarked_images()
    assert len(images) == 20
    for label, rgb in images:
        evidence = detect_sd_watermarks(load_image(encode(rgb, "PNG")))
        assert len(evidence) == 1, label
        item = evidence[0]
        assert (item.supports, item.decisive, item.strength) == ("neither", False, 0.0), label
        assert item.finding.startswith("No known Stable Diffusion invisible watermark found"), label
        assert "Absence proves nothing" in item.finding
        assert all(c["false_alarm_probability"] > 1e-3 for c in item.details["checks"]), label
        json.dumps(item.to_dict())


@pytest.mark.parametrize("height,width", [(100, 100), (255, 256), (5, 20000), (0, 0)])
def test_images_too_small_or_thin_to_carry_a_watermark(height, width):
    rgb = np.zeros((height, width, 3), np.uint8)
    fractions = decode_vote_fractions(rgb, 48)  # the low-level decoder reads whatever blocks exist
    assert fractions.shape == (48,) and np.isnan(fractions).all() == (min(height, width) < 8)
    if height and width:
        assert height * width < MIN_PIXELS or min(height, width) < 8
        [item] = detect_sd_watermarks(load_image(encode(rgb, "PNG")))
        assert item.supports == "neither" and item.details["checked"] is False
        assert "cannot carry" in item.finding


def test_odd_arrays_do_not_raise():
    for array in (np.zeros((300, 300), np.uint8), np.ones((300, 300, 4), np.uint8),
                  np.full((300, 300, 3), 2.5, np.float32), np.zeros((3, 3, 3), np.uint8)):
        fractions = decode_vote_fractions(array, 32)
        assert fractions.shape == (32,)
        check_patterns(array)


# -------------------------------------------------------------- statistics


def brute_force_tail(population: int, marked: int, draws: int, observed: int) -> float:
    marked_items = set(range(marked))
    subsets = list(itertools.combinations(range(population), draws))
    return sum(len(marked_items.intersection(s)) >= observed for s in subsets) / len(subsets)


def test_hypergeometric_tail_equals_enumeration():
    for population in range(1, 10):
        for marked in range(population + 1):
            for draws in range(population + 1):
                for observed in range(-1, min(marked, draws) + 2):
                    assert hypergeometric_tail(population, marked, draws, observed) == \
                        pytest.approx(brute_force_tail(population, marked, draws, observed), abs=1e-12)


def test_probability_is_that_of_the_agreement_over_all_pattern_placements():
    # Under H0 every placement of the pattern's ones is equally likely: the
    # reported probability must be the share of placements agreeing as well.
    rng = np.random.default_rng(5)
    for trial in range(30):
        n_bits, ones = 10, int(rng.integers(1, 10))
        fractions = np.round(rng.beta(0.7, 1.5, n_bits), 1)
        pattern = WatermarkPattern("p", tuple(int(i < ones) for i in rng.permutation(n_bits)), "test")
        check = compare_with_pattern(fractions, pattern)
        agreements = []
        for placed in itertools.combinations(range(n_bits), ones):
            bits = tuple(int(i in placed) for i in range(n_bits))
            agreements.append(compare_with_pattern(fractions, WatermarkPattern("q", bits, "test")).bits_agreeing)
        share = np.mean(np.array(agreements) >= check.bits_agreeing)
        assert check.uncorrected_probability == pytest.approx(share, abs=1e-12), trial


def test_a_lossless_watermark_with_unbalanced_pattern_is_significant():
    # Fractions exactly 0/1 with more zeros than ones: a median cut with ties
    # abstaining would compare nothing; ours compares all bits.
    pattern = PATTERNS[SD2]
    check = compare_with_pattern(np.asarray(pattern.bits, float), pattern, patterns_tested=4)
    assert (check.bits_agreeing, check.bits_compared) == (32, 32)
    ones = sum(pattern.bits)
    assert check.false_alarm_probability == pytest.approx(4 / __import__("math").comb(32, ones))
    assert check.detected


def test_biased_uninformative_fractions_keep_the_false_alarm_rate():
    # Smooth images vote 0 almost everywhere: fractions skewed to 0 with ties.
    rng = np.random.default_rng(9)
    pattern = PATTERNS[SDXL]
    p_values = [compare_with_pattern(np.round(rng.beta(0.3, 4.0, 48), 2), pattern).uncorrected_probability
                for _ in range(1500)]
    assert np.mean(np.array(p_values) <= 0.05) <= 0.05 + 0.015
    assert np.mean(np.array(p_values) <= 0.01) <= 0.01 + 0.008


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 60).flatmap(lambda n: st.tuples(
    st.just(n), st.integers(0, n), st.integers(0, n), st.integers(-2, n + 2))))
def test_tail_is_a_probability_and_falls_with_agreement(args):
    population, marked, draws, observed = args
    tail = hypergeometric_tail(population, marked, draws, observed)
    assert 0.0 <= tail <= 1.0 + 1e-12
    assert hypergeometric_tail(population, marked, draws, observed + 1) <= tail + 1e-12
    assert hypergeometric_tail(population, marked, draws, -1) == pytest.approx(1.0)


# -------------------------------------------------------------- dev data


@pytest.mark.devdata
def test_no_detection_on_the_real_images_of_the_dev_set():
    if not (DEV_SET / "manifest.csv").is_file():
        pytest.skip(f"developer image set not found at {DEV_SET}")
    with open(DEV_SET / "manifest.csv", newline="") as handle:
        real = [row["file"] for row in csv.DictReader(handle) if row["label"] == "real"]
    assert real
    detections = [(f, e.finding) for f in real for e in detect_sd_watermarks(load_image(DEV_SET / f))
                  if e.supports == "ai-generated"]
    assert detections == []
