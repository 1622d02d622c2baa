"""Boxes drawn on images, zoomed crops and click hit-testing (models/overlay.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from models.overlay import (
    ANALYST_COLOUR,
    DELETED_COLOUR,
    OverlayBox,
    draw_boxes,
    hit_test,
    score_colour,
    zoom_context,
    zoom_crop,
)
from models.types import Box


def _grey(width: int = 400, height: int = 300) -> Image.Image:
    return Image.new("RGB", (width, height), (200, 200, 200))


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image)


def test_score_colour_runs_green_amber_red():
    assert score_colour(0.0) == (46, 160, 67)
    assert score_colour(1.0) == (214, 40, 40)
    assert score_colour(0.5) == (230, 160, 20)
    assert score_colour(-3) == score_colour(0.0) and score_colour(7) == score_colour(1.0)


def test_model_box_is_drawn_solid_in_its_score_colour():
    drawn = _pixels(draw_boxes(_grey(), [OverlayBox(Box(100, 100, 300, 250), 1, 1.0)]))
    bottom_edge = drawn[249, 150:290]
    assert (bottom_edge == (214, 40, 40)).all(axis=1).all()


def test_analyst_box_is_dashed_blue_and_deleted_box_grey_and_crossed():
    image = _grey()
    analyst = _pixels(draw_boxes(image, [OverlayBox(Box(100, 100, 300, 250), 2, 0.9, source="analyst")]))
    edge = analyst[249, 150:290]
    blue = (edge == ANALYST_COLOUR).all(axis=1)
    assert 0.2 < blue.mean() < 0.9, "a dashed edge is partly drawn, partly background"
    deleted = _pixels(draw_boxes(image, [OverlayBox(Box(100, 100, 300, 250), 3, 0.9, deleted=True)]))
    assert (deleted[175, 200] == DELETED_COLOUR).all(), "the cross passes through the box's centre"


def test_drawing_leaves_the_input_untouched_and_shrinks_to_max_side():
    image = _grey(1200, 800)
    drawn = draw_boxes(image, [OverlayBox(Box(0, 0, 1200, 800), 1, 0.3)], max_side=600)
    assert drawn.size == (600, 400)
    assert _pixels(image).max() == 200 and _pixels(image).min() == 200


def test_zoom_crop_keeps_context_and_enlarges_with_nearest_neighbour():
    image = Image.new("RGB", (200, 100), (0, 0, 0))
    image.paste((255, 255, 255), (50, 40, 60, 50))
    crop = zoom_crop(image, Box(50, 40, 60, 50), margin=0.0, min_side=10, out_side=100)
    assert crop.size == (100, 100)
    assert set(map(tuple, _pixels(crop).reshape(-1, 3))) == {(255, 255, 255)}
    wider = zoom_crop(image, Box(50, 40, 60, 50), margin=0.0, min_side=20, out_side=100)
    values = set(map(tuple, _pixels(wider).reshape(-1, 3)))
    assert values == {(0, 0, 0), (255, 255, 255)}, "min_side adds surrounding context, unblurred"


def test_zoom_crop_near_the_edge_stays_inside_the_image():
    crop = zoom_crop(_grey(50, 40), Box(45, 35, 50, 40), min_side=64, out_side=128)
    assert max(crop.size) == 128


def test_hit_test_picks_the_smallest_box_containing_the_click():
    boxes = [Box(0, 0, 100, 100), Box(20, 20, 40, 40), Box(200, 200, 220, 220)]
    assert hit_test(boxes, 30, 30) == 1
    assert hit_test(boxes, 80, 80) == 0
    assert hit_test(boxes, 150, 150) is None
    assert hit_test([], 1, 1) is None


@given(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 300), st.integers(1, 200), st.integers(1, 200)),
                min_size=1, max_size=8),
       st.integers(0, 500), st.integers(0, 500))
def test_hit_test_result_contains_the_point_and_nothing_smaller_does(raw, x, y):
    boxes = [Box(a, b, a + w, b + h) for a, b, w, h in raw]
    found = hit_test(boxes, x, y)
    containing = [b for b in boxes if b.contains(x, y)]
    if found is None:
        assert not containing
    else:
        assert boxes[found].contains(x, y)
        assert boxes[found].area == min(b.area for b in containing)


@pytest.mark.parametrize("side", [1, 7])
def test_tiny_images_draw_without_error(side):
    drawn = draw_boxes(_grey(side, side), [OverlayBox(Box(0, 0, side, side), 12, 0.5)])
    assert drawn.size == (side, side)


def test_zoom_context_grows_small_boxes_to_min_side_inside_the_image():
    assert zoom_context(Box(50, 40, 60, 50), 200, 100, margin=0.0, min_side=20) == Box(45, 35, 65, 55)
    assert zoom_context(Box(0, 0, 4, 4), 200, 100, margin=0.0, min_side=20) == Box(0, 0, 12, 12)
    big = Box(10, 10, 110, 60)
    assert zoom_context(big, 200, 100, margin=0.1, min_side=20) == big.expand(0.1, 200, 100)


def test_a_box_number_sits_inside_the_box_even_at_the_top_edge():
    """Above the box it would be hidden by a viewer's caption or toolbar at the image's top edge."""
    box = Box(100, 0, 220, 120)
    drawn = _pixels(draw_boxes(_grey(), [OverlayBox(box, 1, 0.9)]))
    tag = drawn[1:12, 100:103].reshape(-1, 3)  # the tag's fill, left of its white digit
    assert (np.abs(tag.astype(int) - score_colour(0.9)).max(axis=1) < 10).all()
    assert (drawn[2:12, 104:116] == 255).all(axis=2).any(), "the white digit on it"
    above_box_right = drawn[0:3, 240:260]
    assert (above_box_right == 200).all()


def test_the_chosen_box_is_drawn_thicker_with_a_white_halo():
    box = Box(100, 80, 220, 200)
    plain = _pixels(draw_boxes(_grey(), [OverlayBox(box, 1, 0.2)]))
    chosen = _pixels(draw_boxes(_grey(), [OverlayBox(box, 1, 0.2, highlighted=True)]))
    outline = np.abs(chosen.astype(int) - score_colour(0.2)).max(axis=2) < 10
    assert outline.sum() > (np.abs(plain.astype(int) - score_colour(0.2)).max(axis=2) < 10).sum()
    assert (chosen[140, 90:100] == 255).all(axis=1).any(), "a white halo just outside the box"
