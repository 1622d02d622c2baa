"""Procedural images for the demo, the benchmarks and the tests.

Nothing is shipped or downloaded: a camera-like photo is synthesised from
1/f texture, shapes and a simulated sensor (Bayer mosaic, shot and read
noise, demosaicing), so its noise and colour-filter correlations behave like a
camera's.  `paste_resampled_patch` then plants the classic AI-compositing
trace: a region whose pixels were generated at half resolution and upscaled.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from models.types import Box


def camera_like_photo(height: int = 768, width: int = 1024, seed: int = 0,
                      noise_sigma: float = 5.0) -> np.ndarray:
    """An 8-bit RGB image with natural-looking texture and sensor noise."""
    rng = np.random.default_rng(seed)
    luma = np.zeros((height, width), np.float32)
    chroma = np.zeros((height, width, 3), np.float32)
    for octave in range(1, 9):  # 1/f texture: coarse octaves carry most energy
        gh, gw = max(2, height >> octave), max(2, width >> octave)
        luma += cv2.resize(rng.standard_normal((gh, gw)).astype(np.float32), (width, height),
                           interpolation=cv2.INTER_CUBIC) * (octave ** 1.5) * 1.1
        if octave >= 5:
            chroma += cv2.resize(rng.standard_normal((gh, gw, 3)).astype(np.float32), (width, height),
                                 interpolation=cv2.INTER_CUBIC) * 6
    sky = np.linspace(50, -30, height, dtype=np.float32)[:, None]
    scene = (110 + luma + sky)[:, :, None] * np.array([1.0, 0.95, 0.85], np.float32) + chroma
    for _ in range(6):  # hard edges, as objects give
        grey = rng.uniform(40, 200)
        colour = [float(grey + c) for c in rng.uniform(-25, 25, 3)]
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        if rng.random() < 0.5:
            cv2.circle(scene, centre, int(rng.integers(20, max(21, min(height, width) // 5))), colour, -1, cv2.LINE_AA)
        else:
            size = (int(rng.integers(20, width // 4 + 21)), int(rng.integers(20, height // 4 + 21)))
            cv2.rectangle(scene, centre, (centre[0] + size[0], centre[1] + size[1]), colour, -1, cv2.LINE_AA)
    scene = cv2.GaussianBlur(scene, (0, 0), 0.8)
    # Sensor: sample an RGGB mosaic, add shot and read noise, demosaic.
    scene = np.clip(scene, 0, 255)
    mosaic = np.empty((height, width), np.float32)
    mosaic[0::2, 0::2] = scene[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = scene[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = scene[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = scene[1::2, 1::2, 2]
    shot = rng.standard_normal(mosaic.shape).astype(np.float32) * np.sqrt(np.maximum(mosaic, 0) / 255.0) * noise_sigma
    read = rng.standard_normal(mosaic.shape).astype(np.float32) * noise_sigma * 0.6
    raw = np.clip(mosaic + shot + read, 0, 255).astype(np.uint8)
    return cv2.cvtColor(raw, cv2.COLOR_BayerRG2RGB)


def paste_resampled_patch(rgb: np.ndarray, box: Box, factor: float = 2.0) -> np.ndarray:
    """Replace `box` with its own content re-rendered at 1/factor resolution and
    upscaled (bicubic), as an inpainting model working at low resolution leaves
    it: the scene stays seamless, the pixel statistics do not."""
    out = rgb.copy()
    rows, cols = box.pixel_slices()
    patch_h, patch_w = rows.stop - rows.start, cols.stop - cols.start
    source = rgb[rows, cols]
    small = cv2.resize(source, (max(1, round(patch_w / factor)), max(1, round(patch_h / factor))),
                       interpolation=cv2.INTER_AREA)
    out[rows, cols] = cv2.resize(small, (patch_w, patch_h), interpolation=cv2.INTER_CUBIC)
    return out


def encode(rgb: np.ndarray, fmt: str = "JPEG", quality: int = 92, **save_options) -> bytes:
    """Encode an RGB array with Pillow and return the file bytes."""
    buffer = io.BytesIO()
    image = Image.fromarray(rgb)
    if fmt.upper() == "JPEG":
        save_options.setdefault("quality", quality)
    image.save(buffer, fmt, **save_options)
    return buffer.getvalue()
