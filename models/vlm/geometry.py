"""Where the model's boxes are: from its resized input grid back to the pixels
of the image as displayed, and the crops that stage 2 zooms into.

The processor resizes every image to whole cells of its family (28 px for
Qwen2.5-VL, 32 px for Qwen3-VL and Qwen3.5; families.py) between a minimum
and a maximum pixel count (transformers' `smart_resize`).  Qwen2.5-VL writes
boxes in absolute pixels of that resized image, Qwen3-VL and Qwen3.5 in
0-1000 of each axis.  The resize keeps the aspect ratio only approximately,
so the way back uses one scale per axis, never one for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torchvision.ops import nms

from models.types import Box
from models.vlm.families import DEFAULT_FAMILY, ModelFamily
from models.vlm.settings import MIN_IMAGE_PIXELS

MIN_BOX_SIDE = 2.0
"""Boxes thinner than this many displayed pixels are dropped as degenerate."""

DUPLICATE_IOU = 0.5
"""Boxes overlapping an earlier (more prominent) box at least this much are the same region."""


def model_input_size(width: int, height: int, max_pixels: int, family: ModelFamily = DEFAULT_FAMILY
                     ) -> tuple[int, int]:
    """(width, height) the family's processor resizes a width x height image to."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    if max(width, height) / max(1, min(width, height)) > 200:
        raise ValueError(f"the image's aspect ratio ({width}x{height}) is beyond the model's limit of 200:1")
    resized_height, resized_width = smart_resize(height, width, factor=family.cell, min_pixels=family.min_pixels,
                                                 max_pixels=max(max_pixels, family.min_pixels))
    return int(resized_width), int(resized_height)


@dataclass(frozen=True)
class ModelGrid:
    """The displayed image (original_*), the resized image the model saw (model_*) and
    the units the model writes boxes in (its family's convention)."""

    original_width: int
    original_height: int
    model_width: int
    model_height: int
    units: str = "pixels"          # "pixels" (of the resized input) or "normalized-1000"

    @classmethod
    def for_image(cls, width: int, height: int, max_pixels: int, family: ModelFamily = DEFAULT_FAMILY
                  ) -> "ModelGrid":
        return cls(width, height, *model_input_size(width, height, max_pixels, family), units=family.box_units)

    def seen_as(self, width: int, height: int) -> "ModelGrid":
        """The same grid with the input size the model actually saw."""
        return ModelGrid(self.original_width, self.original_height, width, height, self.units)

    @property
    def scale_x(self) -> float:
        return self.original_width / self.model_width

    @property
    def scale_y(self) -> float:
        return self.original_height / self.model_height

    def scaled_corners(self, coords: Sequence[float], units: str = "pixels") -> tuple[float, float, float, float]:
        """A box as the model wrote it, in displayed pixels, corners ordered but
        not clamped (a model may write the corners in either order)."""
        x1, y1, x2, y2 = (float(c) for c in coords[:4])
        if units == "normalized-1000":
            fx, fy = self.original_width / 1000.0, self.original_height / 1000.0
        elif units == "fraction":
            fx, fy = float(self.original_width), float(self.original_height)
        else:
            fx, fy = self.scale_x, self.scale_y
        left, right = sorted((x1 * fx, x2 * fx))
        top, bottom = sorted((y1 * fy, y2 * fy))
        return left, top, right, bottom

    def to_original(self, coords: tuple[float, float, float, float], units: str = "pixels") -> Box | None:
        """A box as the model wrote it, in displayed pixels: clamped to the image,
        None when nothing of it is left or it is degenerate."""
        left, top, right, bottom = self.scaled_corners(coords, units)
        left, top = max(0.0, left), max(0.0, top)
        right, bottom = min(float(self.original_width), right), min(float(self.original_height), bottom)
        if right - left < MIN_BOX_SIDE or bottom - top < MIN_BOX_SIDE:
            return None
        return Box(left, top, right, bottom)

    def to_model(self, box: Box) -> tuple[float, float, float, float]:
        """A displayed-pixel box in the model's own convention (what prompts and training answers show)."""
        if self.units == "normalized-1000":
            fx, fy = 1000.0 / self.original_width, 1000.0 / self.original_height
        else:
            fx, fy = 1.0 / self.scale_x, 1.0 / self.scale_y
        return (box.x1 * fx, box.y1 * fy, box.x2 * fx, box.y2 * fy)

    def to_model_ints(self, box: Box) -> list[int]:
        x1, y1, x2, y2 = self.to_model(box)
        return [int(round(x1)), int(round(y1)), int(round(x2)), int(round(y2))]

    def answer_units(self, boxes: list[tuple[float, float, float, float]], setting: str = "auto") -> str:
        """The units to read one answer's boxes in: the setting when given; a 0-1000 family's
        own convention; for an absolute-pixel family, what the numbers say (guess_units)."""
        if setting != "auto":
            return setting
        return self.units if self.units != "pixels" else self.guess_units(boxes)

    def guess_units(self, boxes: list[tuple[float, float, float, float]]) -> str:
        """Which units a model used for a whole answer (Qwen2.5-VL: its input pixels;
        Qwen2-VL, many others: 0-1000; some: 0-1)."""
        values = [v for box in boxes for v in box]
        if not values:
            return "pixels"
        if max(values) <= 1.0 and any(v != int(v) for v in values):
            return "fraction"
        fits_x = max(max(b[0], b[2]) for b in boxes) <= self.model_width * 1.02
        fits_y = max(max(b[1], b[3]) for b in boxes) <= self.model_height * 1.02
        if fits_x and fits_y:
            return "pixels"
        if max(values) <= 1000:
            return "normalized-1000"
        return "pixels"


def resize_for_model(rgb: np.ndarray, grid: ModelGrid) -> Image.Image:
    """The full image at the model's input size (so the processor needs no resize of its own)."""
    image = Image.fromarray(rgb)
    if image.size == (grid.model_width, grid.model_height):
        return image
    return image.resize((grid.model_width, grid.model_height), Image.Resampling.BICUBIC)


def zoom_crop(rgb: np.ndarray, box: Box, margin: float, zoom_size: int, family: ModelFamily = DEFAULT_FAMILY
              ) -> tuple[Image.Image, Box]:
    """The region with `margin` context around it, from the full-resolution pixels,
    resized so its longest side is about `zoom_size` (whole cells of the family).
    Returns the crop and the displayed-pixel box it covers."""
    height, width = rgb.shape[:2]
    context = box.expand(margin, width, height)
    rows, cols = context.pixel_slices()
    crop = Image.fromarray(np.ascontiguousarray(rgb[rows, cols]))
    longest = max(crop.size)
    target = (max(1, round(crop.size[0] * zoom_size / longest)), max(1, round(crop.size[1] * zoom_size / longest)))
    cells = model_input_size(*target, max_pixels=max(MIN_IMAGE_PIXELS, zoom_size * zoom_size), family=family)
    return crop.resize(cells, Image.Resampling.BICUBIC), context


def merge_duplicates(boxes: list[Box], keep: int, iou: float = DUPLICATE_IOU) -> list[int]:
    """Indices of the boxes to keep, in the given order of prominence: a box
    overlapping an earlier one by `iou` or more is the same region."""
    if not boxes:
        return []
    tensor = torch.tensor([[b.x1, b.y1, b.x2, b.y2] for b in boxes], dtype=torch.float64)
    prominence = torch.linspace(1.0, 0.5, len(boxes), dtype=torch.float64)  # earlier = more prominent
    kept = nms(tensor, prominence, iou).tolist()
    return sorted(kept)[:keep]


def coarse_grid(width: int, height: int, count: int) -> list[Box]:
    """A fallback when nothing proposed a region: the image's quadrants, then its centre."""
    half_w, half_h = width / 2, height / 2
    cells = [Box(0, 0, half_w, half_h), Box(half_w, 0, width, half_h), Box(0, half_h, half_w, height),
             Box(half_w, half_h, width, height), Box(width / 4, height / 4, 3 * width / 4, 3 * height / 4)]
    return cells[:count]
