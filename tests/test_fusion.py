"""Fusion rules: what decides, what only leans, and what keeps a verdict open."""

from __future__ import annotations

import pytest

from models.evidence.fusion import fuse
from models.types import Box, Evidence, Region

WATERMARK = Evidence("watermark", "invisible-watermark", "SDXL watermark: 48 of 48 bits agree",
                     "ai-generated", 0.98, True)
CAPTURE = Evidence("provenance", "c2pa", "camera capture signed by a trusted signer", "real", 0.95, True)
CAMERA_EXIF = Evidence("metadata", "exif-camera", "Canon EOS R5 EXIF", "real", 0.3, False)


def signal(supports: str, probability: float) -> Evidence:
    return Evidence("signal", "signal-model", f"learned residual model: P(AI)={probability:.2f}", supports,
                    0.4 if supports != "neither" else 0.0, False, {"probability": probability})


ODD_REGION = Region(Box(0, 0, 64, 64), 0.99, "smoother than the rest (noise)", id="r1")
QUIET_REGION = Region(Box(0, 0, 64, 64), 0.3, "no clear anomaly", id="r2")


def test_decisive_ai_evidence_decides_and_names_itself():
    result = fuse([WATERMARK, signal("real", 0.1)], [])
    assert result.verdict == "ai-generated" and result.score == pytest.approx(0.98)
    assert result.explanation.startswith("AI-generated, decided by watermark evidence: SDXL watermark")


def test_ai_and_camera_credentials_together_are_reported_as_a_conflict():
    result = fuse([CAPTURE, WATERMARK], [])
    assert result.verdict == "ai-generated"
    assert "Conflicting provenance evidence" in result.explanation and "edited" in result.explanation


def test_trusted_capture_decides_real():
    result = fuse([CAPTURE, signal("neither", 0.6)], [])
    assert result.verdict == "real" and result.score == pytest.approx(0.05)


def test_signal_alone_decides_only_past_its_measured_threshold():
    assert fuse([signal("ai-generated", 0.97)], []).verdict == "ai-generated"
    assert fuse([signal("real", 0.03)], [QUIET_REGION]).verdict == "real"
    inconclusive = fuse([signal("neither", 0.6)], [])
    assert inconclusive.verdict == "inconclusive" and "weak" in inconclusive.explanation


def test_a_region_that_stands_out_keeps_real_from_being_called():
    result = fuse([signal("real", 0.03)], [ODD_REGION])
    assert result.verdict == "inconclusive" and "r1" in result.explanation


def test_score_moves_with_weak_evidence_and_odd_regions():
    base = fuse([signal("neither", 0.5)], []).score
    assert fuse([signal("neither", 0.5), CAMERA_EXIF], []).score < base
    assert fuse([signal("neither", 0.5)], [ODD_REGION]).score > base
    assert "Weakly supports a real photo: Canon EOS R5 EXIF" in fuse([signal("neither", 0.5), CAMERA_EXIF], []).explanation


def test_no_signal_model_is_inconclusive_and_says_why():
    result = fuse([CAMERA_EXIF], [])
    assert result.verdict == "inconclusive" and "no learned signal score" in result.explanation


def test_weak_signal_never_overrides_intact_camera_metadata():
    result = fuse([CAMERA_EXIF, signal("ai-generated", 0.9)], [])
    assert result.verdict == "inconclusive"
    assert "points to a camera capture" in result.explanation and "does not overrule" in result.explanation


def test_copied_camera_exif_does_not_hold_back_an_ai_call():
    copied = Evidence("metadata", "exif:camera", "Canon EOS R5 EXIF", "real", 0.3, False, {"contradicted": True})
    assert fuse([copied, signal("ai-generated", 0.9)], []).verdict == "ai-generated"


def test_undecided_content_credentials_are_named_in_the_verdict_text():
    edits_only = Evidence("provenance", "c2pa", "Valid Content Credentials signed by Adobe Inc. record actions "
                          "c2pa.edited (x13)", details={})
    result = fuse([edits_only, signal("neither", 0.52)], [])
    assert result.verdict == "inconclusive"
    assert "no provenance" not in result.explanation
    assert result.explanation.count("signed by Adobe Inc.") == 1


def test_an_unverified_camera_claim_is_named_once_and_keeps_ai_from_being_called():
    claim = Evidence("provenance", "c2pa", "Content Credentials signed by X declare a camera capture", "real", 0.4)
    result = fuse([claim, signal("ai-generated", 0.9)], [])
    assert result.verdict == "inconclusive" and "provenance evidence points to a camera capture" in result.explanation
    open_result = fuse([claim, signal("neither", 0.5)], [])
    assert open_result.explanation.count("declare a camera capture") == 1


def test_camera_metadata_alone_does_not_decide_real():
    """EXIF can be forged: with the pixels undecided, intact camera metadata leaves the verdict open."""
    result = fuse([CAMERA_EXIF, signal("neither", 0.3)], [QUIET_REGION])
    assert result.verdict == "inconclusive" and "Weakly supports a real photo" in result.explanation


def _delivery(blocks: bool, reason: str = "the image is only 200x150 px") -> Evidence:
    return Evidence("signal", "delivery", f"delivery check: {reason}", "neither", 0.0, False,
                    {"blocks_pixel_call": blocks, "reasons": [reason] if blocks else []})


@pytest.mark.parametrize("supports,probability", [("ai-generated", 0.97), ("real", 0.03)])
def test_a_delivery_limit_keeps_a_pixel_only_call_from_being_made(supports, probability):
    result = fuse([signal(supports, probability), _delivery(True)], [QUIET_REGION])
    assert result.verdict == "inconclusive"
    assert "the image is only 200x150 px, so no call is made on pixels alone" in result.explanation
    assert fuse([signal(supports, probability), _delivery(False)], [QUIET_REGION]).verdict == supports


def test_a_delivery_limit_is_named_even_when_the_pixels_do_not_decide():
    result = fuse([signal("neither", 0.5), _delivery(True, "the image looks like a screen capture")], [])
    assert result.verdict == "inconclusive" and "Also: the image looks like a screen capture" in result.explanation


def test_decisive_file_evidence_still_decides_a_delivered_image():
    assert fuse([WATERMARK, signal("neither", 0.5), _delivery(True)], []).verdict == "ai-generated"
