"""Images placed in the report: the evidence with its boxes, and region crops.

Drawing is models.overlay's (the workbench shows regions the same way); this
module only turns a region view into overlay boxes and a PIL image into a
flowable.  Pictures are embedded as JPEG (quality 90): reportlab passes JPEG
through unchanged, which keeps the export fast and the file small.  They are
illustrations; the evidence is the stored file whose SHA-256 the report gives.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import replace

from PIL import Image as PILImage
from reportlab.platypus import Image

from exports.report_model import EvidenceView, RegionView
from models.overlay import OverlayBox, draw_boxes, zoom_context, zoom_crop
from models.types import Box

OVERVIEW_MAX_SIDE = 1600
CROP_SIDE = 384


def overlay_boxes(regions: Sequence[RegionView]) -> list[OverlayBox]:
    return [OverlayBox(box=r.latest.box, number=r.number, score=r.latest.score, source=r.drawn_style,  # type: ignore[arg-type]
                       deleted=r.deleted) for r in regions]


class Overviews:
    """The image of each evidence item with every box drawn and numbered, drawn
    once per report: the first page and the item's section embed the same JPEG
    (reportlab stores identical image data once)."""

    def __init__(self) -> None:
        self._drawn: dict[int, tuple[bytes, int, int]] = {}

    def flowable(self, item: EvidenceView, max_width: float, max_height: float) -> Image:
        if item.file.id not in self._drawn:
            picture = drawn_overview(PILImage.fromarray(item.image.rgb), item.regions)
            self._drawn[item.file.id] = (jpeg(picture), picture.width, picture.height)
        data, width, height = self._drawn[item.file.id]
        scale = min(max_width / width, max_height / height)
        return Image(io.BytesIO(data), width=width * scale, height=height * scale)


def drawn_overview(image: PILImage.Image, regions: Sequence[RegionView]) -> PILImage.Image:
    """The image with every region's box drawn and numbered, at most OVERVIEW_MAX_SIDE pixels across."""
    boxes = overlay_boxes(regions)
    # A 12-megapixel photo is first reduced by a whole factor (a fast box filter) to at most twice the
    # drawn size, so the high-quality resize in draw_boxes works on a few megapixels, not twelve.
    factor = max(1, -(-max(image.size) // (2 * OVERVIEW_MAX_SIDE)))  # ceil: at least OVERVIEW_MAX_SIDE left
    if factor > 1:
        image = image.reduce(factor)
        boxes = [replace(b, box=Box(b.box.x1 / factor, b.box.y1 / factor, b.box.x2 / factor, b.box.y2 / factor))
                 for b in boxes]
    return draw_boxes(image, boxes, max_side=OVERVIEW_MAX_SIDE)


def crop(image: PILImage.Image, region: RegionView, max_width: float, max_height: float) -> Image:
    """The region's zoomed context with its box outlined (and numbered) as on the overview."""
    return flowable(outlined_crop(image, region), max_width, max_height)


def outlined_crop(image: PILImage.Image, region: RegionView) -> PILImage.Image:
    box = region.latest.box
    context = zoom_context(box, *image.size)
    zoomed = zoom_crop(image, box, out_side=CROP_SIDE)
    # zoom_crop crops whole pixels of the context, then scales; the box follows the same mapping.
    rows, cols = context.pixel_slices()
    scale_x, scale_y = zoomed.width / (cols.stop - cols.start), zoomed.height / (rows.stop - rows.start)
    inside = Box((box.x1 - cols.start) * scale_x, (box.y1 - rows.start) * scale_y,
                 (box.x2 - cols.start) * scale_x, (box.y2 - rows.start) * scale_y)
    outline, = overlay_boxes([region])
    return draw_boxes(zoomed, [replace(outline, box=inside)])


def flowable(picture: PILImage.Image, max_width: float, max_height: float) -> Image:
    scale = min(max_width / picture.width, max_height / picture.height)
    return Image(io.BytesIO(jpeg(picture)), width=picture.width * scale, height=picture.height * scale)


def jpeg(picture: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, "JPEG", quality=90, optimize=False)
    return buffer.getvalue()
