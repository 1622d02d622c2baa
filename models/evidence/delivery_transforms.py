"""What delivery does to an image: the re-encodings, resizes and crops a
picture goes through between its source and a journalist.

One place for the transforms, so the engine's stability check
(models.evidence.delivery) and the delivery benchmark
(benchmarks/bench_delivery.py) mean the same thing by "messenger" or "q60".
Each transform takes 8-bit RGB and gives the delivered file (Delivery.file:
bytes, in the container delivery would use: JPEG for re-compression, PNG
where only the geometry changes, so the one effect is measured alone) or just
its pixels (Delivery.pixels, which skips the lossless file).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from models.evidence.signal_features import downscale

MESSENGER_LONG_SIDE, MESSENGER_QUALITY = 1280, 75
SCREEN_SIZE = (1920, 1080)
CROP_FRACTION = 0.05
LETTERBOX_ASPECT = 16 / 9


def encode(rgb: np.ndarray, fmt: str, quality: int = 95) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(rgb))
    if fmt == "JPEG":
        image.save(buffer, "JPEG", quality=quality)  # Pillow's default 4:2:0, as web and messenger encoders
    else:
        image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def to_long_side(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """Area-average down so the longer side is `long_side`; never up."""
    height, width = rgb.shape[:2]
    scale = long_side / max(height, width)
    if scale >= 1.0:
        return rgb
    return downscale(rgb, (max(1, round(width * scale)), max(1, round(height * scale))))


def crop_border(rgb: np.ndarray, fraction: float = CROP_FRACTION) -> np.ndarray:
    """Cut `fraction` of each dimension, half from each side (a reframing crop)."""
    height, width = rgb.shape[:2]
    dy, dx = round(height * fraction / 2), round(width * fraction / 2)
    return rgb[dy:height - dy, dx:width - dx]


def letterbox(rgb: np.ndarray, aspect: float = LETTERBOX_ASPECT) -> np.ndarray:
    """Black bars on two sides to fill a 16:9 frame (or, for a frame already wider, a 9:16 one)."""
    height, width = rgb.shape[:2]
    target = aspect if width / height < aspect else 1 / aspect
    if width / height < target:
        new_w, new_h = round(height * target), height
    else:
        new_w, new_h = width, round(width / target)
    canvas = np.zeros((new_h, new_w, 3), np.uint8)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    canvas[top:top + height, left:left + width] = rgb
    return canvas


def on_screen(rgb: np.ndarray, screen: tuple[int, int] = SCREEN_SIZE) -> np.ndarray:
    """The image shown fitted on a screen of `screen` pixels (black around it), as a screenshot holds it."""
    width, height = screen
    if rgb.shape[0] > rgb.shape[1]:
        width, height = height, width
    scale = min(width / rgb.shape[1], height / rgb.shape[0])
    new_w, new_h = max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))
    if scale < 1.0:
        fitted = downscale(rgb, (new_w, new_h))
    else:
        fitted = np.asarray(Image.fromarray(rgb).resize((new_w, new_h), Image.BILINEAR))
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = fitted
    return canvas


@dataclass(frozen=True)
class Delivery:
    """One transform: a change of geometry, then the container it is saved in."""

    geometry: Callable[[np.ndarray], np.ndarray]
    container: str = "PNG"
    quality: int = 95

    def file(self, rgb: np.ndarray) -> bytes:
        """The delivered file."""
        return encode(self.geometry(rgb), self.container, self.quality)

    def pixels(self, rgb: np.ndarray) -> np.ndarray:
        """The delivered file's pixels, without writing a file where the container is lossless."""
        changed = self.geometry(rgb)
        return decode(encode(changed, "JPEG", self.quality)) if self.container == "JPEG" else changed


def _same(rgb: np.ndarray) -> np.ndarray:
    return rgb


DELIVERIES: dict[str, Delivery] = {
    "jpeg95": Delivery(_same, "JPEG", 95),
    "jpeg85": Delivery(_same, "JPEG", 85),
    "jpeg75": Delivery(_same, "JPEG", 75),
    "jpeg60": Delivery(_same, "JPEG", 60),
    "long1080": Delivery(lambda rgb: to_long_side(rgb, 1080)),
    "long720": Delivery(lambda rgb: to_long_side(rgb, 720)),
    "crop5": Delivery(crop_border),
    "letterbox": Delivery(letterbox),
    "screen_png": Delivery(on_screen),
    "messenger": Delivery(lambda rgb: to_long_side(rgb, MESSENGER_LONG_SIDE), "JPEG", MESSENGER_QUALITY),
}
TRANSFORMS: dict[str, Callable[[np.ndarray], bytes]] = {name: d.file for name, d in DELIVERIES.items()}

DESCRIPTIONS: dict[str, str] = {
    "jpeg95": "JPEG re-save at quality 95", "jpeg85": "JPEG re-save at quality 85",
    "jpeg75": "JPEG re-save at quality 75", "jpeg60": "JPEG re-save at quality 60",
    "long1080": "downscale to 1080 px on the long side", "long720": "downscale to 720 px on the long side",
    "crop5": "a 5% crop", "letterbox": "black letterbox bars to 16:9",
    "screen_png": "shown on a 1920x1080 screen and captured as PNG",
    "messenger": f"a messenger's resize to {MESSENGER_LONG_SIDE} px and JPEG quality {MESSENGER_QUALITY}",
}
