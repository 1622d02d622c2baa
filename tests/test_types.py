"""The typed values: validation, geometry and the JSON round trip."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.types import Analysis, Box, Evidence, Region

coordinate = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)


@st.composite
def boxes(draw) -> Box:
    x1, y1 = draw(coordinate), draw(coordinate)
    return Box(x1, y1, x1 + draw(st.floats(0.5, 5e3)), y1 + draw(st.floats(0.5, 5e3)))


@given(boxes(), boxes())
def test_iou_is_symmetric_and_bounded(a, b):
    assert 0.0 <= a.iou(b) <= 1.0
    assert a.iou(b) == pytest.approx(b.iou(a))
    assert a.iou(a) == pytest.approx(1.0)


@given(boxes(), st.integers(1, 5000), st.integers(1, 5000), st.floats(0, 2))
def test_expanded_and_clipped_boxes_stay_inside_the_image(box, width, height, margin):
    dx, dy = box.width * margin, box.height * margin
    outside = box.x2 + dx <= 0 or box.y2 + dy <= 0 or box.x1 - dx >= width or box.y1 - dy >= height
    if outside:
        with pytest.raises(ValueError):
            box.expand(margin, width, height)
        return
    grown = box.expand(margin, width, height)
    assert 0 <= grown.x1 < grown.x2 <= width and 0 <= grown.y1 < grown.y2 <= height


@pytest.mark.parametrize("values", [[0, 0, 0, 5], [5, 0, 1, 5], [0, 0, float("nan"), 1], [1, 2, 3], "abcd"])
def test_degenerate_or_malformed_boxes_are_rejected(values):
    with pytest.raises(ValueError):
        Box.from_list(values)


def test_scores_and_kinds_are_validated():
    with pytest.raises(ValueError):
        Evidence(kind="rumour", source="x", finding="y")
    with pytest.raises(ValueError):
        Evidence(kind="signal", source="x", finding="y", strength=1.5)
    with pytest.raises(ValueError):
        Region(box=Box(0, 0, 1, 1), score=-0.1, label="x")


def test_analysis_round_trips_through_json():
    evidence = Evidence("watermark", "invisible-watermark", "SDXL watermark: 48 of 48 bits agree",
                        "ai-generated", 0.98, True, {"bits": [1, 0, 1]})
    region = Region(Box(10, 20, 110, 220), 0.93, "smoother than the rest (noise)", "noise 2.0x lower",
                    [Evidence("signal", "smoother", "noise 0.3 vs 0.6", "ai-generated", 0.93)], "r1")
    analysis = Analysis("a.png", "ab" * 32, 1234, "PNG", 640, 480, "ai-generated", 0.98, [region], [evidence],
                        "decided by watermark", "evidence", "0.1.0", {"scan": 0.1, "total": 0.2}, ["note"],
                        question="why?", answer="because")
    data = json.loads(json.dumps(analysis.to_dict()))
    assert Analysis.from_dict(data).to_dict() == analysis.to_dict()
    assert data["regions"][0]["box"] == [10, 20, 110, 220]
    with pytest.raises(ValueError):
        Analysis.from_dict({**data, "verdict": "probably"})


def test_provenance_and_raw_output_survive_the_round_trip():
    analysis = Analysis("a.png", "cd" * 32, 1, "PNG", 2, 2, "inconclusive", 0.5, [], [], "x", "vlm", "1",
                        provenance={"model": "Qwen/Qwen2.5-VL-3B-Instruct", "quantization": "nf4"},
                        raw_output="<verdict>real</verdict>")
    data = json.loads(json.dumps(analysis.to_dict()))
    assert data["provenance"]["quantization"] == "nf4" and data["raw_output"].startswith("<verdict>")
    assert Analysis.from_dict(data).to_dict() == analysis.to_dict()
