"""Any decoded mode (16-bit, float, CMYK, palette, with transparency) as the
8-bit RGB array every analysis reads, each conversion noted."""

from __future__ import annotations

import numpy as np
from PIL import Image


def to_rgb8(image: Image.Image, mode: str, bit_depth: int, notes: list[str]) -> np.ndarray:
    """The decoded image as contiguous 8-bit RGB, each conversion noted."""
    if bit_depth > 8:
        notes.append(f"{bit_depth}-bit samples reduced to 8 bits for analysis")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        if mode == "F":
            top = max(1.0, float(values.max(initial=1.0)))
        gray = np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info) \
        or (mode in ("L", "RGB") and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba)[:, :, 3]
        transparent = float(np.mean(alpha < 255))
        if transparent > 0:
            notes.append(f"transparency flattened onto white ({transparent:.1%} of pixels are not opaque)")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        rgb_image = Image.alpha_composite(white, rgba).convert("RGB")
    elif mode == "RGB":
        rgb_image = image
    else:
        if mode == "CMYK":
            notes.append("CMYK image converted to RGB")
        elif mode == "P":
            notes.append("palette image expanded to RGB")
        rgb_image = image.convert("RGB")
    return _rgb_array(rgb_image)


def _rgb_array(image: Image.Image) -> np.ndarray:
    """np.asarray(image) for an RGB image, without the cost of Pillow's array
    interface: it packs the pixels in 64 kB pieces and joins them (600 pieces
    and a 36 MB copy for a 12 MP photo, as long as decoding the JPEG); one
    pass of the same raw packer into one buffer gives the same bytes."""
    width, height = image.size
    try:
        encoder = Image._getencoder("RGB", "raw", "RGB")
        encoder.setimage(image.im, (0, 0, width, height))
        _, status, data = encoder.encode(width * height * 3)
    except Exception:  # a Pillow without this internal path: the public one
        status, data = 0, b""
    if status != 1 or len(data) != width * height * 3:
        return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
    return np.frombuffer(data, np.uint8).reshape(height, width, 3)
