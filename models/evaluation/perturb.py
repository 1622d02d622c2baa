"""The paper's robustness axes, applied in memory to an image's bytes.

Each perturbation decodes the image as displayed (EXIF orientation applied),
changes the pixels and encodes new bytes, so the detector sees a file that
carries no metadata: `strip` isolates exactly that (pixels kept, lossless PNG),
`jpeg80` re-encodes at quality 80, `half` downscales by 0.5 (area averaging,
lossless PNG), `both` downscales then re-encodes at quality 80.  Boxes scale
by `scale` so references still point at the same content.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from models.types import Box

JPEG_QUALITY = 80
DOWNSCALE = 0.5


@dataclass(frozen=True)
class Perturbation:
    name: str
    scale: float          # displayed size factor (boxes scale by it)
    jpeg_quality: int | None
    description: str

    def apply(self, rgb: np.ndarray, original: bytes) -> bytes:
        """New file bytes for the displayed pixels `rgb` (or the original file for `none`)."""
        if self.name == "none":
            return original
        image = Image.fromarray(np.ascontiguousarray(rgb)).convert("RGB")
        if self.scale != 1.0:
            size = (max(1, round(image.width * self.scale)), max(1, round(image.height * self.scale)))
            image = image.resize(size, Image.Resampling.BOX)
        out = io.BytesIO()
        if self.jpeg_quality is None:
            image.save(out, format="PNG")
        else:
            image.save(out, format="JPEG", quality=self.jpeg_quality)
        return out.getvalue()

    def scale_boxes(self, boxes: Sequence[Box]) -> tuple[Box, ...]:
        s = self.scale
        return tuple(Box(b.x1 * s, b.y1 * s, b.x2 * s, b.y2 * s) for b in boxes)


PERTURBATIONS: dict[str, Perturbation] = {p.name: p for p in (
    Perturbation("none", 1.0, None, "the file as given (metadata and provenance intact)"),
    Perturbation("strip", 1.0, None, "same pixels re-encoded as lossless PNG: metadata and provenance removed"),
    Perturbation("jpeg80", 1.0, JPEG_QUALITY, "re-encoded as JPEG quality 80 (metadata removed)"),
    Perturbation("half", DOWNSCALE, None, "downscaled by 0.5, lossless PNG (metadata removed)"),
    Perturbation("both", DOWNSCALE, JPEG_QUALITY, "downscaled by 0.5, then JPEG quality 80 (metadata removed)"),
)}


def parse_perturbations(text: str) -> list[Perturbation]:
    """'none,jpeg80' -> the named perturbations, in order; ValueError naming an unknown one."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PERTURBATIONS]
    if unknown or not names:
        raise ValueError(f"unknown perturbation(s) {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(PERTURBATIONS)}")
    return [PERTURBATIONS[name] for name in dict.fromkeys(names)]
