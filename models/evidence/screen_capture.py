"""Is the image a screen capture?  Then its pixels describe a screen, not a camera or a generator.

A screenshot's statistics come from the display pipeline (rendering, the
screen's scaling, often lossless PNG), which the signal model never learned:
its lean on one is not evidence about the picture shown.  Four cues, each
cheap and each named in the verdict text:

- the exact pixel size of a common screen (either orientation);
- no camera EXIF in the file;
- flat interface areas: a large share of 8x8 blocks whose pixels are all
  equal (window chrome, panels, text backgrounds), counted inside any
  uniform bands along the edges (a letterbox or a frame is a border, not an
  interface).  Camera sensors and generators leave noise in almost every block;
- a lossless container (PNG), as screenshot tools write.

Recognised when there is no camera EXIF, the flat share is past
FLAT_SHARE_WITH_SIZE and either the screen size or the PNG cue holds, or when
an image with no camera EXIF is both a screen size and a PNG.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

# Common display resolutions (desktop, laptop, tablet, phone), as width x height in landscape.
SCREEN_SIZES: frozenset[tuple[int, int]] = frozenset({
    (1024, 768), (1280, 720), (1280, 800), (1280, 1024), (1360, 768), (1366, 768), (1440, 900), (1536, 864),
    (1600, 900), (1680, 1050), (1920, 1080), (1920, 1200), (2048, 1152), (2560, 1080), (2560, 1440),
    (2560, 1600), (2880, 1800), (3024, 1964), (3440, 1440), (3456, 2234), (3840, 2160), (5120, 2880),
    (2048, 1536), (2224, 1668), (2388, 1668), (2732, 2048), (2360, 1640), (2266, 1488),
    (1334, 750), (1792, 828), (1920, 1080), (2208, 1242), (2436, 1125), (2532, 1170), (2556, 1179),
    (2688, 1242), (2778, 1284), (2796, 1290), (2340, 1080), (2400, 1080), (2412, 1080), (3040, 1440),
    (3120, 1440), (3200, 1440), (1600, 720), (1560, 720), (2640, 1080),
})
FLAT_BLOCK = 8
SAMPLED_BLOCKS = 40_000
BAND_TOLERANCE = 4  # a row or column this close to one colour is a bar or frame, not picture
# A camera photo or a generated image has almost no perfectly flat 8x8 block
# (noise); a desktop or app screenshot has many.
FLAT_SHARE_WITH_SIZE = 0.2
LOSSLESS_FORMATS = frozenset({"PNG", "BMP", "GIF"})


@dataclass(frozen=True)
class ScreenCapture:
    recognised: bool
    cues: list[str] = field(default_factory=list)   # plain words, one per cue that holds
    flat_share: float | None = None

    def to_dict(self) -> dict:
        return {"recognised": self.recognised, "cues": list(self.cues), "flat_share": self.flat_share}


def is_screen_size(width: int, height: int) -> bool:
    return (max(width, height), min(width, height)) in SCREEN_SIZES


def inside_edge_bands(rgb: np.ndarray, tolerance: int = BAND_TOLERANCE) -> np.ndarray:
    """The picture without uniform bands along any of its edges (letterbox bars,
    frames): their flatness is a border around a picture, not an interface.
    An image that is all one colour has no inside: an empty array."""
    if rgb.size == 0:
        return rgb
    rows = _row_spread(rgb) <= tolerance
    cols = (rgb.max(axis=0).astype(np.int16) - rgb.min(axis=0)).reshape(rgb.shape[1], -1).max(axis=1) <= tolerance
    if rows.all() or cols.all():
        return rgb[:0, :0]
    top, bottom = int(np.argmin(rows)), len(rows) - int(np.argmin(rows[::-1]))
    left, right = int(np.argmin(cols)), len(cols) - int(np.argmin(cols[::-1]))
    return rgb[top:bottom, left:right]


def _row_spread(rgb: np.ndarray) -> np.ndarray:
    """Per row, the largest (max - min) over its pixels of any channel.  OpenCV's
    row reduction: numpy's max over axis 1 of an (H, W, 3) array cost 0.04 s
    per pass on 1 MP, most of the delivery check's time on a PNG."""
    if rgb.dtype == np.uint8 and rgb.ndim in (2, 3) and (rgb.ndim == 2 or rgb.shape[2] <= 4):
        top = cv2.reduce(rgb, 1, cv2.REDUCE_MAX).reshape(rgb.shape[0], -1)
        bottom = cv2.reduce(rgb, 1, cv2.REDUCE_MIN).reshape(rgb.shape[0], -1)
    else:
        top, bottom = rgb.max(axis=1).reshape(rgb.shape[0], -1), rgb.min(axis=1).reshape(rgb.shape[0], -1)
    return (top.astype(np.int16) - bottom).max(axis=1)


def flat_block_share(rgb: np.ndarray, block: int = FLAT_BLOCK) -> float:
    """Share of whole block x block tiles whose pixels are all equal in every channel."""
    h, w = (rgb.shape[0] // block) * block, (rgb.shape[1] // block) * block
    if h == 0 or w == 0:
        return 0.0
    # A regular sample of about SAMPLED_BLOCKS blocks is plenty for a share, and bounds the cost on 12 MP.
    step = max(1, int(np.sqrt((h // block) * (w // block) / SAMPLED_BLOCKS)))
    pixels = rgb[:h, :w].reshape(h // block, block, w // block, block, -1)[::step, :, ::step]
    if pixels.shape[-1] == 3:  # one 24-bit number per pixel: one comparison covers all three channels
        c = pixels.astype(np.uint32)
        pixels = (c[..., 0:1] << 16) | (c[..., 1:2] << 8) | c[..., 2:3]
    blocks = pixels.transpose(0, 2, 1, 3, 4).reshape(pixels.shape[0] * pixels.shape[2], -1)
    return float((blocks == blocks[:, :1]).all(axis=1).mean())


def recognise_screen_capture(rgb: np.ndarray, file_format: str, has_camera_exif: bool) -> ScreenCapture:
    """The cues that hold and whether together they say 'screen capture'.

    The flat-area measure (a pass over the pixels) runs only where the cheap
    cues leave the question open."""
    if has_camera_exif:
        return ScreenCapture(False)
    height, width = rgb.shape[:2]
    screen_size = is_screen_size(width, height)
    lossless = file_format.upper() in LOSSLESS_FORMATS
    cues = ["no camera metadata"]
    if screen_size:
        cues.append(f"the exact size of a common screen ({width}x{height})")
    if lossless:
        cues.append(f"a lossless {file_format.upper()} file, as screenshot tools write")
    if not (screen_size or lossless):
        return ScreenCapture(False, cues)
    inside = rgb
    for _ in range(3):  # bars around a frame: once the bars go, the frame's edges are uniform in turn
        trimmed = inside_edge_bands(inside)
        if trimmed.shape == inside.shape:
            break
        inside = trimmed
    share = flat_block_share(inside)
    if share >= FLAT_SHARE_WITH_SIZE:
        cues.append(f"flat interface-like areas ({share:.0%} of 8x8 blocks are a single colour)")
    recognised = (screen_size and lossless) or share >= FLAT_SHARE_WITH_SIZE
    return ScreenCapture(recognised, cues, round(share, 4))
