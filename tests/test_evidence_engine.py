"""The evidence engine end to end: scan, zoom-in examination, questions, fusion."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from models.evidence.engine import EvidenceEngine
from models.image_input import load_image
from models.sample_images import camera_like_photo, encode, paste_resampled_patch
from models.types import Box, Evidence, Region

PATCH = Box(400, 200, 656, 456)


@pytest.fixture(scope="module")
def engine() -> EvidenceEngine:
    return EvidenceEngine()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return camera_like_photo(768, 1024, seed=21)


@pytest.fixture(scope="module")
def composite(photo) -> np.ndarray:
    return paste_resampled_patch(photo, PATCH, factor=2.0)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_scan_boxes_the_patch_resampled_2x(engine, composite, fmt):
    regions = engine.scan(load_image(encode(composite, fmt, quality=95)))
    on_patch = [r for r in regions if r.box.iou(PATCH) >= 0.3]
    assert on_patch, [(r.box.to_list(), r.score) for r in regions]
    assert on_patch[0].score >= 0.9
    assert [r.score for r in regions] == sorted((r.score for r in regions), reverse=True)


def test_untouched_photo_gets_no_box_there(engine, photo):
    regions = engine.scan(load_image(encode(photo, "PNG")))
    assert all(r.box.iou(PATCH) < 0.3 for r in regions)


def test_examination_explains_with_measured_numbers(engine, composite):
    analysis = engine.analyze(load_image(encode(composite, "PNG"), name="composite.png"))
    region = max(analysis.regions, key=lambda r: r.box.iou(PATCH))
    # The tile cue or the local noise-inconsistency map (models/evidence/maps), whichever is more unusual.
    assert region.label in ("smoother than the rest (noise)", "noise differs from the rest (noise inconsistency)")
    match = re.search(r"noise level (\d+\.\d+) grey levels, (\d+\.\d)x lower than the (\d+\.\d+)", region.explanation)
    assert match and float(match.group(2)) >= 1.5
    assert {"smoother", "periodic", "error-level"} <= {e.source for e in region.evidence}
    assert {"scan", "examine", "signal_maps", "total"} <= set(analysis.timings)
    assert analysis.file == "composite.png" and analysis.backend == "evidence"
    assert analysis.verdict in ("inconclusive", "ai-generated")  # a local anomaly alone never says "real"


def test_analyst_boxes_are_examined_as_given(engine, composite):
    image = load_image(encode(composite, "PNG"))
    elsewhere = Box(20, 480, 276, 736)
    analysis = engine.examine(image, [Region(PATCH, 0.0, "analyst box", id="a1"),
                                      Region(elsewhere, 0.0, "analyst box", id="a2")])
    by_id = {r.id: r for r in analysis.regions}
    assert by_id["a1"].box == PATCH and by_id["a2"].box == elsewhere
    assert by_id["a1"].score >= 0.9 > by_id["a2"].score
    assert by_id["a2"].label == "no clear anomaly"


def test_question_is_answered_from_the_region_measurements(engine, composite):
    image = load_image(encode(composite, "PNG"))
    analysis = engine.examine(image, [Region(PATCH, 0.0, "analyst box", id="a1")],
                              question="Is the noise here consistent with the rest?")
    assert analysis.question.startswith("Is the noise")
    assert analysis.answer.startswith("Its noise level (grain) is")  # a plain answer, not a list of findings
    assert re.search(r"\d+\.\d+ grey levels against the \d+\.\d+ elsewhere", analysis.answer)
    assert "compress" not in analysis.answer  # routed to the noise measurements only


def test_exif_rotated_photo_gets_boxes_in_displayed_orientation(engine, composite):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, displayed rotated 90 degrees clockwise
    image = load_image(encode(composite, "PNG", exif=exif.tobytes()))
    height = composite.shape[0]
    displayed_patch = Box(height - PATCH.y2, PATCH.x1, height - PATCH.y1, PATCH.x2)
    regions = engine.scan(image)
    assert (image.width, image.height) == (768, 1024)
    assert max(r.box.iou(displayed_patch) for r in regions) >= 0.3


def test_generator_metadata_decides_and_says_so(engine):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, "
                                "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly")
    analysis = engine.analyze(load_image(encode(camera_like_photo(384, 512, seed=2), "PNG", pnginfo=info)))
    assert analysis.verdict == "ai-generated" and analysis.score >= 0.9
    assert "AUTOMATIC1111" in analysis.explanation and "metadata" in analysis.explanation


@pytest.mark.parametrize("size", [(30, 40), (8, 2000), (512, 512)])
def test_tiny_thin_and_flat_images_are_handled(engine, size):
    flat = np.full((*size, 3), 128, np.uint8)
    analysis = engine.analyze(load_image(encode(flat, "PNG")))
    assert analysis.verdict in ("inconclusive", "real", "ai-generated")
    assert all(0 <= r.box.x1 < r.box.x2 <= size[1] for r in analysis.regions)


def test_measurements_are_reused_for_the_same_image(engine, composite):
    image = load_image(encode(composite, "PNG"))
    first = engine.analyze(image)
    second = engine.examine(image, first.regions)
    assert second.timings["signal_maps"] == first.timings["signal_maps"]  # cached, not re-measured
    assert [r.to_dict() for r in second.regions] == [r.to_dict() for r in first.regions]


def test_image_evidence_alone_for_other_backends(engine):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 256x256")
    image = load_image(encode(camera_like_photo(256, 256, seed=4), "PNG", pnginfo=info))
    kinds = {e.kind for e in engine.image_evidence(image)}
    assert {"metadata", "watermark", "signal"} <= kinds


def test_analysis_records_which_tables_produced_it(engine, composite):
    analysis = engine.analyze(load_image(encode(composite, "PNG")))
    record = analysis.provenance
    assert len(record["signal_model"]["sha256"]) == 64 and len(record["scan_calibration"]["sha256"]) == 64
    assert record["parameters"]["max_regions"] == 5 and "numpy" in record["software"]
    assert record["signal_model"]["sha256"][:12] in analysis.backend_version


def test_a_region_without_measurable_tiles_reports_no_median_rather_than_nan():
    from models.evidence.examine import _finite_median

    assert _finite_median(np.array([[np.nan, np.nan]])) is None
    assert _finite_median(np.array([[np.nan, 1.0], [3.0, np.inf]])) == 2.0


def test_file_findings_fall_into_one_provenance_topic_each():
    from models.evidence.topics import CAMERA_SOURCE, provenance_topic

    def item(kind, source):
        return Evidence(kind, source, "finding", "neither", 0.0)

    assert provenance_topic(item("provenance", "c2pa")) == "c2pa"
    assert provenance_topic(item("provenance", "jumbf")) == "other-provenance"
    assert provenance_topic(item("metadata", CAMERA_SOURCE)) == "camera"
    assert provenance_topic(item("metadata", "png:parameters")) == "generator"
    assert provenance_topic(item("watermark", "invisible-watermark")) == "watermark"
    assert provenance_topic(item("signal", "signal-model")) is None
