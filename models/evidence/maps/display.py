"""The local-inconsistency maps of one zoomed region, as images with their legend.

The zoom panel shows a region with a margin of context.  Each registered map
is measured on that crop (on the file's own JPEG grid, so the crop is cut to
start on it) and re-centred on the context around the box, so the picture
reads "how the box differs from what surrounds it": of each map, the channel
in which the box differs most, averaged over 3x3 cells; dark is like the
context, bright is different, on a fixed 0..1 scale (1 = three units of the
channel: robust standard deviations, or the channel's own units where it has
them), so a consistent region stays dark rather than being stretched into
false alarms.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from models.evidence.maps import LOCAL_MAPS, MAP_BY_NAME, map_input, measure_maps
from models.evidence.maps.anomaly import windowed_mean
from models.evidence.signal_maps import NOISE_BLOCK, PixelEvidence
from models.types import Box

FULL_SCALE = 3.0  # z units (robust standard deviations, or the channel's own) of a 3x3-cell mean
MIN_CONTEXT_CELLS = 16


def local_map_images(crop: np.ndarray, box: Box, origin: tuple[int, int], side: int, file_format: str = "",
                     jpeg_quantization: dict[int, list[int]] | None = None, orientation: int = 1,
                     whole: np.ndarray | None = None) -> tuple[tuple[Image.Image, str], ...]:
    """(false-colour image of `side` px on its long side, caption with legend) per map that applies.
    `crop` starts at pixel `origin` (x, y) of the image; `box` is the region in crop pixels.
    `whole`: the whole image's pixels, where an earlier JPEG's lattice is estimated, as the scan did
    (the crop is mostly the region, whose blocks lack it, so on its own it often shows none)."""
    dx, dy = (-origin[0]) % NOISE_BLOCK, (-origin[1]) % NOISE_BLOCK  # onto the file's 8x8 grid
    aligned = np.ascontiguousarray(crop[dy:, dx:])
    if min(aligned.shape[:2]) < 4 * NOISE_BLOCK:
        return ()
    given = map_input(aligned, PixelEvidence.compute(aligned), file_format, jpeg_quantization, orientation, whole)
    inside = Box(max(0.0, box.x1 - dx), max(0.0, box.y1 - dy), max(1.0, box.x2 - dx), max(1.0, box.y2 - dy))
    images = []
    for found in measure_maps(given):
        values, channel = _against_context(found.channels, found.cell, inside)
        pixels = np.zeros(crop.shape[:2], np.float32)
        enlarged = np.kron(values, np.ones((found.cell, found.cell), np.float32))
        h, w = min(enlarged.shape[0], crop.shape[0] - dy), min(enlarged.shape[1], crop.shape[1] - dx)
        pixels[dy:dy + h, dx:dx + w] = enlarged[:h, :w]
        scale = f"dark: like the surrounding context; bright: differs, full at {found.amount(channel, FULL_SCALE)}"
        images.append((_coloured(pixels, side), f"{MAP_BY_NAME[found.name].legend} ({scale})"))
    return tuple(images)


def _against_context(channels: dict[str, np.ndarray], cell: int, box: Box) -> tuple[np.ndarray, str]:
    """0..1 per cell of the channel in which the box differs most from its context, centred on the
    context, averaged over 3x3 cells (single cells are noisy) and scaled to FULL_SCALE; its name."""
    best, best_difference, chosen = np.zeros((1, 1), np.float32), -1.0, ""
    for channel, z in channels.items():
        inside = np.zeros(z.shape, bool)
        inside[int(box.y1 // cell): int(np.ceil(box.y2 / cell)), int(box.x1 // cell): int(np.ceil(box.x2 / cell))] = True
        context, region = z[~inside & np.isfinite(z)], z[inside & np.isfinite(z)]
        centre = float(np.median(context)) if context.size >= MIN_CONTEXT_CELLS else 0.0
        difference = abs(float(np.median(region)) - centre) if region.size else 0.0
        if difference > best_difference:
            best, best_difference, chosen = windowed_mean(z - centre, 3), difference, channel
    return np.clip(np.abs(np.nan_to_num(best, nan=0.0)) / FULL_SCALE, 0.0, 1.0), chosen


def _coloured(values: np.ndarray, side: int) -> Image.Image:
    scaled = np.clip(values * 255.0, 0, 255).astype(np.uint8)
    rgb = cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    factor = side / max(rgb.shape[:2])
    size = (max(1, round(rgb.shape[1] * factor)), max(1, round(rgb.shape[0] * factor)))
    return Image.fromarray(cv2.resize(rgb, size, interpolation=cv2.INTER_NEAREST if factor >= 1 else cv2.INTER_AREA))


def legends() -> list[str]:
    """Every registered map's legend, for pages that list what the zoom can show."""
    return [m.legend for m in LOCAL_MAPS]
