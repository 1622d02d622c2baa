"""Boxes drawn on an image, zoomed crops and box hit-testing.

One module so the workbench and the PDF report show a region the same way:
the same number, the same colour for the same score, the same styles for a
detector's box, an analyst's box and a deleted box.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

from models.types import Box

# Scores run from calm (low) to alarming (high); analyst boxes are blue
# whatever their score so they never read as a detector's finding.
_LOW = (46, 160, 67)
_MID = (230, 160, 20)
_HIGH = (214, 40, 40)
ANALYST_COLOUR = (30, 110, 230)
DELETED_COLOUR = (128, 128, 128)


@dataclass(frozen=True)
class OverlayBox:
    """One box as drawn: `number` is the label the analyst sees everywhere."""

    box: Box
    number: int
    score: float
    source: Literal["model", "analyst"] = "model"
    deleted: bool = False
    highlighted: bool = False  # the box the analyst has chosen (drawn thicker, with a white halo)


def score_colour(score: float) -> tuple[int, int, int]:
    """Green at 0, amber at 0.5, red at 1 (linear in between)."""
    score = min(1.0, max(0.0, float(score)))
    start, end, t = (_LOW, _MID, score * 2) if score < 0.5 else (_MID, _HIGH, (score - 0.5) * 2)
    return tuple(round(a + (b - a) * t) for a, b in zip(start, end))  # type: ignore[return-value]


def box_colour(item: OverlayBox) -> tuple[int, int, int]:
    if item.deleted:
        return DELETED_COLOUR
    return ANALYST_COLOUR if item.source == "analyst" else score_colour(item.score)


def draw_boxes(image: Image.Image, boxes: Sequence[OverlayBox], max_side: int | None = None) -> Image.Image:
    """An RGB copy of `image` (shrunk so its longest side is at most `max_side`)
    with the boxes drawn and numbered.  Detector boxes are solid, analyst boxes
    dashed blue, deleted boxes dashed grey and crossed out."""
    canvas = image.convert("RGB")
    scale = 1.0
    if max_side and max(canvas.size) > max_side:
        scale = max_side / max(canvas.size)
        canvas = canvas.resize((max(1, round(canvas.width * scale)), max(1, round(canvas.height * scale))),
                               Image.Resampling.LANCZOS)
    else:
        canvas = canvas.copy()
    draw = ImageDraw.Draw(canvas)
    line = max(2, round(max(canvas.size) / 300))
    # Numbers about 1/26 of the longest side: ~14 px still when a phone shows the image 370 px wide.
    font = _font(max(12, max(canvas.size) // 26))
    # Deleted boxes first so live boxes are drawn on top of them.
    for item in sorted(boxes, key=lambda b: not b.deleted):
        x1, y1, x2, y2 = (c * scale for c in (item.box.x1, item.box.y1, item.box.x2, item.box.y2))
        colour = box_colour(item)
        width = line * 2 if item.highlighted else line
        if item.highlighted:
            draw.rectangle((x1 - width, y1 - width, x2 + width, y2 + width), outline=(255, 255, 255), width=line)
        if item.source == "analyst" or item.deleted:
            _dashed_rectangle(draw, (x1, y1, x2, y2), colour, width)
        else:
            draw.rectangle((x1, y1, x2, y2), outline=colour, width=width)
        if item.deleted:
            draw.line((x1, y1, x2, y2), fill=colour, width=max(1, line // 2))
            draw.line((x1, y2, x2, y1), fill=colour, width=max(1, line // 2))
        _number_tag(draw, str(item.number), (x1, y1), colour, font, canvas.size)
    return canvas


def zoom_context(box: Box, width: int, height: int, *, margin: float = 0.15, min_side: int = 64) -> Box:
    """The region with `margin` (a fraction of its size) of context around it,
    at least `min_side` pixels across where the image allows (a few-pixel box
    says nothing without its neighbourhood)."""
    context = box.expand(margin, width, height)
    grow_x = max(0.0, (min_side - context.width) / 2)
    grow_y = max(0.0, (min_side - context.height) / 2)
    return Box(context.x1 - grow_x, context.y1 - grow_y, context.x2 + grow_x, context.y2 + grow_y).clip(width,
                                                                                                       height)


def zoom_crop(image: Image.Image, box: Box, *, margin: float = 0.15, min_side: int = 64,
              out_side: int = 512) -> Image.Image:
    """The region's zoom context (`zoom_context`), enlarged or shrunk so its
    longest side is `out_side`.  Enlarging uses nearest-neighbour so an
    examiner sees the pixels as they are, not as an interpolation invents them."""
    context = zoom_context(box, *image.size, margin=margin, min_side=min_side)
    rows, cols = context.pixel_slices()
    crop = image.crop((cols.start, rows.start, cols.stop, rows.stop)).convert("RGB")
    factor = out_side / max(crop.size)
    size = (max(1, round(crop.width * factor)), max(1, round(crop.height * factor)))
    method = Image.Resampling.NEAREST if factor >= 1 else Image.Resampling.LANCZOS
    return crop.resize(size, method)


def hit_test(boxes: Sequence[Box], x: float, y: float) -> int | None:
    """The index of the smallest box containing the point (a click), or None.
    Smallest wins so a box nested in a larger one can still be picked."""
    inside = [(box.area, index) for index, box in enumerate(boxes) if box.contains(x, y)]
    return min(inside)[1] if inside else None


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType: the bitmap font, unscaled
        return ImageFont.load_default()


def _dashed_rectangle(draw: ImageDraw.ImageDraw, xy: tuple[float, float, float, float],
                      colour: tuple[int, int, int], width: int) -> None:
    x1, y1, x2, y2 = xy
    dash = width * 4
    for start, end in (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))):
        length = max(abs(end[0] - start[0]), abs(end[1] - start[1]))
        steps = max(1, int(length // (dash * 2)) + 1)
        for step in range(steps):
            a = step * dash * 2 / max(length, 1e-9)
            b = min(1.0, (step * dash * 2 + dash) / max(length, 1e-9))
            if a >= 1.0:
                break
            draw.line((start[0] + (end[0] - start[0]) * a, start[1] + (end[1] - start[1]) * a,
                       start[0] + (end[0] - start[0]) * b, start[1] + (end[1] - start[1]) * b),
                      fill=colour, width=width)


def _number_tag(draw: ImageDraw.ImageDraw, text: str, corner: tuple[float, float], colour: tuple[int, int, int],
                font: ImageFont.FreeTypeFont | ImageFont.ImageFont, size: tuple[int, int]) -> None:
    """The box's number on a filled tag inside its top-left corner, kept inside
    the image: never above the box, where a viewer's caption or toolbar
    would cover it at the image's top edge."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = max(2, (bottom - top) // 4)
    tag_w, tag_h = right - left + 2 * pad, bottom - top + 2 * pad
    x = min(max(0.0, corner[0]), size[0] - tag_w)
    y = min(max(0.0, corner[1]), size[1] - tag_h)
    draw.rectangle((x, y, x + tag_w, y + tag_h), fill=colour)
    draw.text((x + pad - left, y + pad - top), text, fill=(255, 255, 255), font=font)
