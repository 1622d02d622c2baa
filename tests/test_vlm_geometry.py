"""Boxes between the model's resized grid and displayed pixels; crops; duplicates."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.types import Box
from models.vlm.geometry import MIN_BOX_SIDE, ModelGrid, coarse_grid, merge_duplicates, model_input_size, zoom_crop
from models.vlm.settings import QWEN_CELL, VLMSettings

sizes = st.integers(min_value=16, max_value=9000)
max_pixels = st.sampled_from([256 * 28 * 28, VLMSettings().max_image_pixels, 16384 * 28 * 28])


@st.composite
def image_and_box(draw):
    width, height = draw(sizes), draw(sizes)
    if max(width, height) / min(width, height) > 150:
        height = max(height, width // 150 + 1)
        width = max(width, height // 150 + 1)
    x1 = draw(st.floats(0, width - 3))
    y1 = draw(st.floats(0, height - 3))
    x2 = draw(st.floats(x1 + 2.5, width))
    y2 = draw(st.floats(y1 + 2.5, height))
    return width, height, Box(x1, y1, x2, y2), draw(max_pixels)


@settings(max_examples=300, deadline=None)
@given(image_and_box())
def test_model_grid_round_trip_within_a_pixel(case):
    width, height, box, limit = case
    grid = ModelGrid.for_image(width, height, limit)
    assert grid.model_width % QWEN_CELL == 0 and grid.model_height % QWEN_CELL == 0
    assert grid.model_width * grid.model_height <= limit
    back = grid.to_original(grid.to_model(box))
    assert back is not None
    for original, mapped in zip(box.to_list(), back.to_list()):
        assert abs(original - mapped) <= 1.0


@settings(max_examples=300, deadline=None)
@given(image_and_box())
def test_integer_model_boxes_land_within_half_a_model_pixel(case):
    """What the model writes (whole pixels of its input) maps back to at most
    half a model pixel (scaled per axis) from the true place."""
    width, height, box, limit = case
    grid = ModelGrid.for_image(width, height, limit)
    written = grid.to_model_ints(box)
    back = grid.to_original(tuple(written))
    if back is None:  # rounding can shrink a box of a few pixels below the degenerate limit
        assert min((written[2] - written[0]) * grid.scale_x, (written[3] - written[1]) * grid.scale_y) < MIN_BOX_SIDE
        assert min(box.width, box.height) < MIN_BOX_SIDE + max(grid.scale_x, grid.scale_y)
        return
    tolerance_x, tolerance_y = grid.scale_x / 2 + 1e-6, grid.scale_y / 2 + 1e-6
    assert abs(back.x1 - box.x1) <= tolerance_x and abs(back.x2 - box.x2) <= tolerance_x
    assert abs(back.y1 - box.y1) <= tolerance_y and abs(back.y2 - box.y2) <= tolerance_y


@settings(max_examples=200, deadline=None)
@given(image_and_box())
def test_normalised_boxes_round_trip(case):
    width, height, box, limit = case
    grid = ModelGrid.for_image(width, height, limit)
    per_mille = (box.x1 / width * 1000, box.y1 / height * 1000, box.x2 / width * 1000, box.y2 / height * 1000)
    back = grid.to_original(per_mille, "normalized-1000")
    fraction = grid.to_original(tuple(v / 1000 for v in per_mille), "fraction")
    for mapped in (back, fraction):
        assert all(abs(a - b) <= 1.0 for a, b in zip(box.to_list(), mapped.to_list()))


@settings(max_examples=25, deadline=None)
@given(width=st.integers(60, 1400), height=st.integers(60, 1400))
def test_our_grid_is_the_one_the_real_processor_uses(width, height):
    from tests.tiny_qwen import build_processor, build_tokenizer

    processor = _processor(build_processor, build_tokenizer)
    limit = 512 * 28 * 28
    expected = model_input_size(width, height, limit)
    image = np.zeros((height, width, 3), dtype=np.uint8)
    grid = processor.image_processor(images=[image], size={"shortest_edge": 56 * 56, "longest_edge": limit},
                                     return_tensors="pt")["image_grid_thw"][0].tolist()
    assert (grid[2] * 14, grid[1] * 14) == expected


_PROCESSOR = []


def _processor(build_processor, build_tokenizer):
    if not _PROCESSOR:
        _PROCESSOR.append(build_processor(build_tokenizer()))
    return _PROCESSOR[0]


def test_boxes_outside_or_degenerate_are_dropped_and_corners_ordered():
    grid = ModelGrid(1000, 500, 500, 250)
    assert grid.to_original((600, 10, 700, 50)) is None          # wholly right of the image
    assert grid.to_original((10, 10, 10.5, 100)) is None           # one displayed pixel wide
    assert grid.to_original((100, 50, 20, 10)).to_list() == [40, 20, 200, 100]
    assert grid.to_original((-5, -5, 600, 300)).to_list() == [0, 0, 1000, 500]


def test_units_are_guessed_for_the_whole_answer():
    grid = ModelGrid(2000, 1000, 1008, 504)
    assert grid.guess_units([(10, 10, 500, 400)]) == "pixels"
    assert grid.guess_units([(10, 10, 900, 980)]) == "normalized-1000"
    assert grid.guess_units([(0.1, 0.2, 0.5, 0.6)]) == "fraction"


def test_duplicates_merge_in_order_of_prominence():
    boxes = [Box(0, 0, 100, 100), Box(5, 5, 100, 100), Box(200, 200, 300, 300), Box(400, 0, 500, 50)]
    assert merge_duplicates(boxes, keep=5) == [0, 2, 3]
    assert merge_duplicates(boxes, keep=2) == [0, 2]
    assert merge_duplicates([], keep=3) == []


@pytest.mark.parametrize("box", [Box(10, 10, 60, 40), Box(0, 0, 800, 600), Box(700, 500, 800, 600)])
def test_zoom_crop_keeps_context_and_whole_cells(box):
    rgb = np.random.default_rng(0).integers(0, 255, (600, 800, 3), dtype=np.uint8)
    crop, covered = zoom_crop(rgb, box, margin=0.25, zoom_size=448)
    assert covered.x1 <= box.x1 and covered.y1 <= box.y1 and covered.x2 >= box.x2 and covered.y2 >= box.y2
    assert crop.size[0] % QWEN_CELL == 0 and crop.size[1] % QWEN_CELL == 0
    assert max(crop.size) <= 448 + QWEN_CELL


def test_coarse_grid_covers_the_image():
    cells = coarse_grid(640, 480, 4)
    assert sum(c.area for c in cells) == 640 * 480
