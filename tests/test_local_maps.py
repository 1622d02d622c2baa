"""The local-inconsistency maps (models/evidence/maps): each one boxes the patch it
is built to see, and leaves the same image untouched alone.  Every fixture is
made here: a synthetic scene, a patch with other noise, a double-compressed
JPEG with a singly compressed patch, a demosaiced "camera" image with a patch
that never went through a colour filter."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from models.evidence.engine import EvidenceEngine
from models.evidence.maps import LOCAL_MAPS, MAP_BY_NAME, measure_local_maps, proposed_peaks, region_findings
from models.evidence.maps.base import MapInput, pooled, robust_z
from models.evidence.maps.calibration import LocalMapCalibration
from models.evidence.maps.jpeg_traces import HISTOGRAM_RANGE, quality_table, reachable_bins
from models.image_input import load_image
from models.types import Box

PATCH = Box(320, 160, 544, 368)
CALIBRATION = LocalMapCalibration.load()


def scene(height: int = 512, width: int = 768, seed: int = 0) -> np.ndarray:
    """A smooth colour scene with texture and edges, float32 0..255, before any sensor."""
    rng = np.random.default_rng(seed)
    base = np.zeros((height, width, 3), np.float32)
    for octave in range(2, 8):
        small = rng.standard_normal((max(2, height >> octave), max(2, width >> octave), 3)).astype(np.float32)
        base += cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC) * octave * 4.0
    base += 120.0 + np.linspace(30, -30, height, dtype=np.float32)[:, None, None]
    for _ in range(5):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(base, centre, int(rng.integers(20, 90)), [float(v) for v in rng.uniform(50, 200, 3)], -1,
                   cv2.LINE_AA)
    return np.clip(cv2.GaussianBlur(base, (0, 0), 1.0), 10, 245)


def camera(scene_rgb: np.ndarray, seed: int = 1, sigma: float = 2.5) -> np.ndarray:
    """A BGGR Bayer mosaic of the scene with sensor noise, demosaiced by OpenCV."""
    rng = np.random.default_rng(seed)
    r, g, b = scene_rgb[..., 0], scene_rgb[..., 1], scene_rgb[..., 2]
    mosaic = np.empty(scene_rgb.shape[:2], np.float32)
    mosaic[0::2, 0::2], mosaic[0::2, 1::2] = b[0::2, 0::2], g[0::2, 1::2]
    mosaic[1::2, 0::2], mosaic[1::2, 1::2] = g[1::2, 0::2], r[1::2, 1::2]
    raw = np.clip(mosaic + rng.standard_normal(mosaic.shape) * sigma, 0, 255).astype(np.uint8)
    return cv2.cvtColor(raw, cv2.COLOR_BayerBG2RGB)


def paste(host: np.ndarray, patch_source: np.ndarray, box: Box = PATCH) -> np.ndarray:
    out = host.copy()
    rows, cols = box.pixel_slices()
    out[rows, cols] = patch_source[rows, cols]
    return out


def jpeg(rgb: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    return buffer.getvalue()


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def map_boxes(data: bytes, map_name: str) -> list[tuple[Box, float]]:
    """The boxes one map proposes to the scan (its compact peaks beyond the bar for local maps)."""
    found = [m for m in measure_local_maps(load_image(data)) if m.name == map_name]
    return [(peak.box, score) for peak, score in proposed_peaks(found, CALIBRATION)]


def channel_boxes(data: bytes, map_name: str, channel: str) -> list[tuple[Box, float]]:
    """The boxes one channel of one map proposes to the scan."""
    found = [m for m in measure_local_maps(load_image(data)) if m.name == map_name]
    return [(peak.box, score) for peak, score in proposed_peaks(found, CALIBRATION)
            if peak.key.split("|")[1] == channel]


def boxed(boxes: list[tuple[Box, float]], target: Box = PATCH) -> bool:
    return any(box.iou(target) >= 0.3 for box, _ in boxes)


# ---------------------------------------------------------------- fixtures per map

@pytest.fixture(scope="module")
def noisy_patch() -> tuple[bytes, bytes]:
    """A clean scene with mild noise; the patch carries three times the noise (PNG)."""
    rng = np.random.default_rng(5)
    base = scene(seed=2)
    host = np.clip(base + rng.standard_normal(base.shape) * 1.5, 0, 255).astype(np.uint8)
    louder = np.clip(base + rng.standard_normal(base.shape) * 5.0, 0, 255).astype(np.uint8)
    return png(paste(host, louder)), png(host)


@pytest.fixture(scope="module")
def double_compressed() -> tuple[bytes, bytes]:
    """A photo saved at q70 then edited and saved at q90; the patch comes from the
    uncompressed original, so it is compressed once."""
    rng = np.random.default_rng(6)
    original = np.clip(scene(seed=3) + rng.standard_normal((512, 768, 3)) * 2.0, 0, 255).astype(np.uint8)
    first = decoded(jpeg(original, 70))
    return jpeg(paste(first, original), 90), jpeg(first, 90)


@pytest.fixture(scope="module")
def demosaiced_camera() -> tuple[bytes, bytes]:
    """A demosaiced camera image; the patch is the same scene with the same noise
    level added per pixel and channel, never through a colour filter (PNG)."""
    rng = np.random.default_rng(7)
    base = scene(seed=4)
    photo = camera(base)
    flat = np.clip(base + rng.standard_normal(base.shape) * 2.5 * 0.7, 0, 255).astype(np.uint8)
    return png(paste(photo, flat)), png(photo)


# ---------------------------------------------------------------- the maps

def test_the_registry_holds_one_map_per_trace_with_a_legend_and_plain_words():
    from models.region_words import REGION_WORDS

    assert [m.name for m in LOCAL_MAPS] == ["noise-inconsistency", "jpeg-traces", "cfa"]
    assert all(m.legend and m.label and callable(m.measure) for m in LOCAL_MAPS)
    assert all(m.label in REGION_WORDS for m in LOCAL_MAPS)  # a region they box reads in plain words


def test_noise_map_boxes_a_patch_with_other_noise(noisy_patch):
    spliced, _ = noisy_patch
    assert boxed(map_boxes(spliced, "noise-inconsistency"))


def test_noise_map_leaves_the_untouched_image_alone(noisy_patch):
    _, untouched = noisy_patch
    assert map_boxes(untouched, "noise-inconsistency") == []


def test_jpeg_map_boxes_a_singly_compressed_patch_in_a_double_compressed_photo(double_compressed):
    spliced, _ = double_compressed
    assert boxed(map_boxes(spliced, "jpeg-traces"))


def test_jpeg_map_leaves_the_untouched_double_compressed_photo_alone(double_compressed):
    _, untouched = double_compressed
    assert map_boxes(untouched, "jpeg-traces") == []


def test_primary_quantisation_boxes_the_patch_that_lacks_the_first_compression(double_compressed):
    spliced, untouched = double_compressed
    jpeg_map = next(m for m in measure_local_maps(load_image(spliced)) if m.name == "jpeg-traces")
    assert "primary quantisation" in jpeg_map.channels
    assert boxed(channel_boxes(spliced, "jpeg-traces", "primary quantisation"))
    assert channel_boxes(untouched, "jpeg-traces", "primary quantisation") == []


def test_primary_quantisation_needs_an_earlier_coarser_compression():
    rng = np.random.default_rng(8)
    original = np.clip(scene(seed=5) + rng.standard_normal((512, 768, 3)) * 2.0, 0, 255).astype(np.uint8)
    for data in (jpeg(original, 90), jpeg(decoded(jpeg(original, 95)), 90)):  # once; or finer first
        jpeg_map = next(m for m in measure_local_maps(load_image(data)) if m.name == "jpeg-traces")
        assert "primary quantisation" not in jpeg_map.channels


def test_a_large_patch_among_few_measured_blocks_does_not_hide_its_missing_first_compression():
    """A smooth sky over half the photo casts no votes, so the pasted patch is about half of the
    measured blocks: the image's MAD then spans both and a z over it hid the patch (bench_splices'
    tune half lost four q90 patches so); the channel is in its own units instead."""
    rng = np.random.default_rng(6)
    original = np.clip(scene(seed=3) + rng.standard_normal((512, 768, 3)) * 2.0, 0, 255)
    original[:280] = 150 + np.linspace(-8, 8, 768)[None, :, None] + rng.standard_normal((280, 768, 3)) * 0.5
    original = np.clip(original, 0, 255).astype(np.uint8)
    first = decoded(jpeg(original, 70))
    patch = Box(32, 296, 512, 504)
    spliced, untouched = jpeg(paste(first, original, patch), 90), jpeg(first, 90)
    assert boxed(channel_boxes(spliced, "jpeg-traces", "primary quantisation"), patch)
    assert channel_boxes(untouched, "jpeg-traces", "primary quantisation") == []


def test_a_fixed_spread_z_keeps_its_units_where_the_mad_is_wide():
    values = np.r_[np.zeros(20), np.full(20, -2.0)].astype(np.float32)
    assert robust_z(values, 0.5).min() > -1.0                  # the MAD (1.48) spans both halves
    assert robust_z(values, 0.5, fixed=True).min() == pytest.approx(-2.0)  # (-2 - -1) / 0.5


def test_only_compact_regions_away_from_the_corners_are_boxed():
    from models.evidence.maps.anomaly import is_compact

    assert is_compact(Box(300, 200, 500, 400), 1000, 800)      # 5% of the frame, inside
    assert is_compact(Box(0, 200, 300, 500), 1000, 800)        # one border: an object at the edge
    assert not is_compact(Box(0, 0, 300, 300), 1000, 800)      # a corner (vignetting, sky)
    assert not is_compact(Box(100, 100, 900, 700), 1000, 800)  # most of the frame
    assert not is_compact(Box(500, 400, 540, 430), 1000, 800)  # a speck


def test_jpeg_map_applies_to_jpeg_files_and_to_lossless_files_that_were_jpegs(noisy_patch, double_compressed):
    assert "jpeg-traces" not in [m.name for m in measure_local_maps(load_image(noisy_patch[0]))]  # never a JPEG
    assert "jpeg-traces" in [m.name for m in measure_local_maps(load_image(double_compressed[0]))]
    once = decoded(double_compressed[1])
    assert "jpeg-traces" in [m.name for m in measure_local_maps(load_image(png(once)))]
    webp = io.BytesIO()
    Image.fromarray(once).save(webp, "WEBP", lossless=True)  # could be either: left alone
    assert "jpeg-traces" not in [m.name for m in measure_local_maps(load_image(webp.getvalue()))]


@pytest.mark.parametrize("quality", [60, 75, 85])
def test_a_jpeg_exported_as_png_keeps_its_lattice_and_the_patch_pasted_before_lacks_it(quality):
    """Edit a JPEG, export it as PNG: the photo's pixels still lie on the JPEG's lattice (within
    the decoder's rounding), the pasted patch's do not."""
    rng = np.random.default_rng(9)
    original = np.clip(scene(seed=3) + rng.standard_normal((512, 768, 3)) * 2.0, 0, 255).astype(np.uint8)
    first = decoded(jpeg(original, quality))
    spliced, untouched = png(paste(first, original)), png(first)
    jpeg_map = next(m for m in measure_local_maps(load_image(spliced)) if m.name == "jpeg-traces")
    assert list(jpeg_map.channels) == ["lossless primary quantisation"]  # the ghost and grid: JPEG files only
    assert boxed(channel_boxes(spliced, "jpeg-traces", "lossless primary quantisation"))
    assert map_boxes(untouched, "jpeg-traces") == []


def test_the_lossless_lattice_needs_steps_the_rounding_cannot_fill():
    """With a stored step of 1, each reachable value carries a bin of slack either side and |k| <= 1
    never votes (a smooth block's rounding noise); a step of 4 leaves one bin in four empty."""
    mask = reachable_bins(4, 1)
    k = np.arange(-HISTOGRAM_RANGE, HISTOGRAM_RANGE + 1)
    assert not mask[np.abs(k) <= 1].any()
    assert mask[k == 3] and mask[k == 4] and mask[k == 5] and not mask[k == 2] and not mask[k == 6]
    camera_quality = np.clip(scene(seed=6) + 2.0 * np.random.default_rng(1).standard_normal((512, 768, 3)), 0, 255)
    fine = decoded(jpeg(camera_quality.astype(np.uint8), 97))  # steps of 1-3: nothing to see as PNG
    assert "jpeg-traces" not in [m.name for m in measure_local_maps(load_image(png(fine)))]


def test_cfa_map_boxes_a_patch_without_the_demosaicing_trace(demosaiced_camera):
    spliced, _ = demosaiced_camera
    assert boxed(map_boxes(spliced, "cfa"))


def test_cfa_map_leaves_the_untouched_camera_image_alone(demosaiced_camera):
    _, untouched = demosaiced_camera
    assert "cfa" in [m.name for m in measure_local_maps(load_image(untouched))]  # the trace is there
    assert map_boxes(untouched, "cfa") == []


def test_cfa_map_does_not_apply_without_a_camera_trace(noisy_patch):
    # Noise added per pixel, no colour filter anywhere: no trace, so its absence means nothing.
    assert "cfa" not in [m.name for m in measure_local_maps(load_image(noisy_patch[1]))]


# ---------------------------------------------------------------- the scan and the examination

@pytest.fixture(scope="module")
def engine() -> EvidenceEngine:
    return EvidenceEngine()


@pytest.mark.parametrize("fixture", ["noisy_patch", "double_compressed", "demosaiced_camera"])
def test_the_scan_boxes_each_patch_and_the_examination_says_why(fixture, engine, request):
    spliced, _ = request.getfixturevalue(fixture)
    image = load_image(spliced)
    regions = engine.scan(image)
    hits = [r for r in regions if r.box.iou(PATCH) >= 0.3]
    assert hits, [(r.label, r.box.to_list()) for r in regions]
    examined = engine.examine(image, hits[:1]).regions[0]
    assert examined.label != "no clear anomaly"
    assert any(e.source in MAP_BY_NAME and e.supports == "ai-generated" for e in examined.evidence)


def test_a_finding_states_the_primary_quantisation_in_its_own_units(double_compressed):
    """Its z is over a fixed spread, not the image's: the finding says the measured gap in the
    model's own units, not the "robust standard deviations" it never divided by; the other
    channels keep theirs.  A lossless file's channel is a log-likelihood ratio per coefficient."""
    spliced, _ = double_compressed
    maps = measure_local_maps(load_image(spliced))
    words = {e.details["channel"]: e.finding for e in region_findings(PATCH, maps, CALIBRATION)}
    jpeg_map = next(m for m in maps if m.name == "jpeg-traces")
    z = float(np.nanmean(jpeg_map.channels["primary quantisation"][20:46, 40:68]))
    unit = "standard deviations of a recompressed block's evidence"
    assert jpeg_map.amount("primary quantisation", z) == f"{abs(z):.1f} {unit}"
    assert f"{unit} below the rest" in words["primary quantisation"]
    assert "robust standard deviations" not in words["primary quantisation"]
    assert jpeg_map.amount("JPEG ghost", -2.0) == "2.0 robust standard deviations"
    rng = np.random.default_rng(9)
    original = np.clip(scene(seed=3) + rng.standard_normal((512, 768, 3)) * 2.0, 0, 255).astype(np.uint8)
    exported = load_image(png(paste(decoded(jpeg(original, 75)), original)))
    lossless_map = next(m for m in measure_local_maps(exported) if m.name == "jpeg-traces")
    assert lossless_map.amount("lossless primary quantisation", -2.0) == "1.0 log-likelihood ratio per coefficient"


@pytest.mark.parametrize("fixture", ["noisy_patch", "double_compressed", "demosaiced_camera"])
def test_the_scan_proposes_no_local_map_box_on_the_untouched_images(fixture, engine, request):
    _, untouched = request.getfixturevalue(fixture)
    labels = {m.label for m in LOCAL_MAPS}
    assert [r.label for r in engine.scan(load_image(untouched)) if r.label in labels] == []


def test_a_hand_drawn_box_elsewhere_is_not_called_unusual(noisy_patch, engine):
    image = load_image(noisy_patch[0])
    maps = measure_local_maps(image)
    elsewhere = region_findings(Box(20, 20, 220, 140), maps, CALIBRATION)
    assert elsewhere and all(f.supports == "neither" for f in elsewhere)


# ---------------------------------------------------------------- building blocks

def test_quality_tables_follow_libjpeg():
    assert quality_table(50)[0, :4].tolist() == [16, 11, 10, 16]
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(buffer, "JPEG", quality=90)
    assert np.array_equal(np.asarray(Image.open(buffer).quantization[0]).reshape(8, 8), quality_table(90))


def test_large_images_are_sampled_to_a_bounded_number_of_cells():
    from models.evidence.signal_maps import PixelEvidence

    rgb = np.zeros((2000, 3000, 3), np.uint8)
    given = MapInput(rgb, PixelEvidence.compute(rgb[:16, :16]))
    assert given.stride == 1
    big = MapInput(rgb, type("P", (), {"height": 3000, "width": 4000})())  # only the size is read
    assert big.stride >= 3 and (3000 // big.cell) * (4000 // big.cell) <= 8_000


def test_pooling_and_z_scores_ignore_unmeasured_cells():
    values = np.arange(16, dtype=np.float32).reshape(4, 4)
    values[0, 0] = np.nan
    assert pooled(values, 2)[0, 0] == pytest.approx((1 + 4 + 5) / 3)
    z = robust_z(np.r_[np.zeros(30), 10.0].astype(np.float32), 0.5)
    assert z[-1] == pytest.approx(20.0) and np.all(z[:30] == 0)


def test_texture_less_boxes_lose_their_slots_to_boxes_with_structure():
    from models.evidence.image_signals import ImageSignals
    from models.evidence.scan import Candidate, prefer_structure, structured_share, with_structure
    from models.evidence.scan_calibration import ScanCalibration
    from models.evidence.signal_maps import PixelEvidence

    rgb = np.full((256, 512, 3), 128, np.uint8)  # left half a flat sky, right half texture
    rgb[:, 256:] = (np.random.default_rng(3).integers(60, 200, (256, 256, 1)) * np.ones((1, 1, 3))).astype(np.uint8)
    signals = ImageSignals(PixelEvidence.compute(rgb), [], ScanCalibration.load())
    sky, texture = Box(16, 16, 200, 200), Box(300, 16, 480, 200)
    assert structured_share(signals, sky) == 0.0 and structured_share(signals, texture) == 1.0
    ranked = prefer_structure([Candidate(sky, 0.99, "a"), Candidate(texture, 0.95, "b")], signals)
    assert [c.box for c in ranked] == [texture, sky]
    assert [c.box for c in with_structure(ranked, signals)] == [texture]


def test_noise_map_does_not_box_a_textured_object_with_the_same_noise():
    """A rough object (fine texture, as a rock or foliage) in a smooth photo, with the camera's
    noise everywhere: the texture raises the block noise estimate there, which is no splice."""
    rng = np.random.default_rng(8)
    base = scene(seed=5)
    rows, cols = PATCH.pixel_slices()
    texture = cv2.GaussianBlur(rng.standard_normal(base.shape[:2]).astype(np.float32), (0, 0), 0.8) * 40.0
    base[rows, cols] += texture[rows, cols, None]
    photo = np.clip(base + rng.standard_normal(base.shape) * 1.5, 0, 255).astype(np.uint8)
    assert not boxed(map_boxes(png(photo), "noise-inconsistency"))


def test_jpeg_ghost_does_not_box_a_clipped_object_of_an_untouched_photo():
    """A photo saved at q75 and re-saved at q95, with a sunlit, partly clipped object: clipping
    after decoding moves its blocks off the q75 lattice, which is no sign of another origin."""
    rng = np.random.default_rng(10)
    base = scene(seed=8)
    rows, cols = PATCH.pixel_slices()
    texture = cv2.GaussianBlur(rng.standard_normal(base.shape[:2]).astype(np.float32), (0, 0), 1.0) * 150.0
    base[rows, cols] = 200.0 + texture[rows, cols, None]
    photo = np.clip(base + rng.standard_normal(base.shape) * 2.0, 0, 255).astype(np.uint8)
    delivered = jpeg(decoded(jpeg(photo, 75)), 95)
    assert not boxed(channel_boxes(delivered, "jpeg-traces", "JPEG ghost"))


def test_the_earlier_step_search_is_the_moving_average_it_describes():
    """primary_step's windows of 2 q1 + 1 bins, all steps at once from cumulative sums, against
    the direct moving average (np.convolve) of each step, on double- and single-quantised values."""
    from models.evidence.maps.jpeg_traces import HISTOGRAM_RANGE, primary_step, reachable_bins

    rng = np.random.default_rng(3)
    for q1, q2 in ((9, 6), (14, 5), (None, 7)):
        values = rng.laplace(0, 40, 5000)
        if q1 is not None:
            values = np.rint(values / q1) * q1
        k = np.rint(values / q2).astype(np.int64)
        nonzero = k[(k != 0) & (np.abs(k) <= HISTOGRAM_RANGE)]
        histogram = np.bincount(nonzero + HISTOGRAM_RANGE, minlength=2 * HISTOGRAM_RANGE + 1).astype(float)
        used = np.abs(np.arange(-HISTOGRAM_RANGE, HISTOGRAM_RANGE + 1)) <= np.abs(nonzero).max()
        used[HISTOGRAM_RANGE] = False
        gains = []
        for step in range(q2 + 1, min(4 * q2 + 8, HISTOGRAM_RANGE)):
            mask = reachable_bins(step, q2)
            smooth = np.convolve(histogram, np.ones(2 * step + 1) / (2 * step + 1), mode="same")
            gains.append((histogram[mask].sum() / histogram.sum() - smooth[mask].sum() / smooth[used].sum(), step))
        found = primary_step(k, q2)
        if q1 is None:
            assert found is None
            continue
        best_step = max(gains, key=lambda item: item[0])[1]
        assert found is not None and np.array_equal(found[0], reachable_bins(best_step, q2))


@pytest.mark.parametrize("quality", [30, 5])
def test_a_heavily_compressed_jpeg_is_judged_too_compressed_not_a_crash(quality):
    """At quality 34 or less some stored steps (59 and up) leave no coarser earlier step inside
    the histogram's range: the primary-quantisation search once unpacked an empty result there,
    and the analysis of a textured photo failed with an internal error (8 of 40 dev real photos
    re-saved at quality 30)."""
    rng = np.random.default_rng(0)
    textured = np.clip(scene(seed=2) + rng.standard_normal((512, 768, 3)) * 25.0, 0, 255).astype(np.uint8)
    data = jpeg(textured, quality)
    jpeg_map = next(m for m in measure_local_maps(load_image(data)) if m.name == "jpeg-traces")
    assert "primary quantisation" not in jpeg_map.channels
    analysis = EvidenceEngine().analyze(load_image(data))
    assert analysis.verdict == "inconclusive"
    assert f"heavily compressed JPEG (quality about {quality})" in analysis.explanation


@pytest.mark.parametrize("save, channel, scale", [
    ("png", "lossless primary quantisation", "1.5 log-likelihood ratio per coefficient"),
    ("jpeg", "primary quantisation", "3.0 standard deviations of a recompressed block's evidence")])
def test_the_zoom_panel_shows_the_missing_first_compression_the_scan_boxed(save, channel, scale):
    """The zoom measures a crop that is mostly the region, whose blocks lack the earlier JPEG: the
    lattice is taken from the whole image, as the scan took it, and the scale is said in its units."""
    from models.evidence.maps.display import local_map_images
    from models.overlay import zoom_context
    from zoomin_ui.web.zoom import CONTEXT_MARGIN, MIN_CONTEXT

    rng = np.random.default_rng(9)
    original = np.clip(scene(seed=3) + rng.standard_normal((512, 768, 3)) * 2.0, 0, 255).astype(np.uint8)
    edited = paste(decoded(jpeg(original, 75)), original)
    image = load_image(png(edited) if save == "png" else jpeg(edited, 90))
    assert boxed(channel_boxes(png(edited) if save == "png" else jpeg(edited, 90), "jpeg-traces", channel))
    context = zoom_context(PATCH, image.width, image.height, margin=CONTEXT_MARGIN, min_side=MIN_CONTEXT)
    rows, cols = context.pixel_slices()
    inside = Box(PATCH.x1 - cols.start, PATCH.y1 - rows.start, PATCH.x2 - cols.start, PATCH.y2 - rows.start)
    shown = local_map_images(np.ascontiguousarray(image.rgb[rows, cols]), inside, (cols.start, rows.start), 320,
                             image.format, image.jpeg_quantization, image.orientation, whole=image.rgb)
    captions = [caption for _, caption in shown]
    jpeg_caption = next(c for c in captions if c.startswith(MAP_BY_NAME["jpeg-traces"].legend))
    assert jpeg_caption.endswith(f"full at {scale})")
    assert any(c.endswith("full at 3.0 robust standard deviations)") for c in captions if c != jpeg_caption)
