"""The pictures the page shows, made once and handed to Gradio as files: the
evidence image shrunk for the screen, that image with its numbered boxes, the
evidence strip's thumbnails and the zoom crop.

Gradio encodes a picture it is given on every draw (~30 ms for the page's
1600x1200 JPEG, and a page draw happens about four times from upload to
verdict); a file it copies into its cache once, by content.  So each picture
is a file of this process's folder (removed at exit), kept by what it shows:
the same picture and boxes draw the same file."""

from __future__ import annotations

import atexit
import io
import shutil
import tempfile
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from models.image_input import LoadedImage
from models.overlay import OverlayBox, draw_boxes

DISPLAY_SIDE = 1600  # longest side of the image as the page shows it
# Quality 75 is what Gradio's own encoding of the page's pictures (Pillow's default) gave.
PAGE_JPEG_QUALITY = 75

class _Recent:
    """The last `kept` values made, by key (the page's pictures: the screen copies of images,
    the image with its boxes, the strip's thumbnails).  A value that `usable` rejects (a file
    removed meanwhile) is made again.  Making happens outside the lock: two sessions may
    make the same picture at once, and both results are the same picture."""

    def __init__(self, kept: int, usable: Callable[[Any], bool] = lambda value: True):
        self._values: OrderedDict[Any, Any] = OrderedDict()
        self._kept = kept
        self._usable = usable
        self._lock = threading.Lock()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            value = self._values.get(key)
            if value is not None and self._usable(value):
                self._values.move_to_end(key)
                return value
        value = make()
        with self._lock:
            self._values[key] = value
            while len(self._values) > self._kept:
                self._values.popitem(last=False)
        return value


def _file_exists(path: str) -> bool:
    return Path(path).exists()


_BASES = _Recent(4)


def display_base(image: LoadedImage) -> tuple[Image.Image, float]:
    """The image shrunk for the page (kept for the last few images) and the
    scale from image pixels to display pixels."""
    return _BASES.get(image.sha256, lambda: _display_copy(image))


def _display_copy(image: LoadedImage) -> tuple[Image.Image, float]:
    height, width = image.rgb.shape[:2]
    scale = min(1.0, DISPLAY_SIDE / max(width, height))
    pixels = image.rgb
    if scale < 1.0:
        pixels = _shrink(pixels, (max(1, round(width * scale)), max(1, round(height * scale))))
    return Image.fromarray(pixels), scale


def _shrink(pixels: Any, size: tuple[int, int]) -> Any:
    """`pixels` shrunk to `size` (width, height) for the screen: OpenCV's area average by
    the whole factor first (its fast path: each output pixel the mean of a k x k block),
    then bilinear for what is left (a factor between 1/2 and 1, where bilinear does not
    skip pixels).  On a 12-megapixel photo that is ~25 ms instead of ~150 ms for one
    area average by 2.5 (part of every upload and every first look at an image)."""
    height, width = pixels.shape[:2]
    whole = int(min(width / size[0], height / size[1]))
    if whole >= 2:
        # The whole factor divides the picture exactly (at most whole-1 pixels at the right and
        # bottom edges are left out: under one display pixel, as the scale maps boxes).
        kept = pixels[:height - height % whole, :width - width % whole]
        pixels = cv2.resize(kept, (kept.shape[1] // whole, kept.shape[0] // whole), interpolation=cv2.INTER_AREA)
    if (pixels.shape[1], pixels.shape[0]) == size:
        return pixels
    return cv2.resize(pixels, size, interpolation=cv2.INTER_LINEAR if whole >= 2 else cv2.INTER_AREA)


# Files are removed by _served_file once more than its `kept` of a kind exist, so each
# cache of files keeps no more than that and checks that a file it hands out is still there.
_PAGE_IMAGES_KEPT = 24
_PAGE_IMAGES = _Recent(_PAGE_IMAGES_KEPT, _file_exists)


def page_image(picture_key: str, base: Image.Image, boxes: Sequence[OverlayBox]) -> str:
    """`base` with `boxes` drawn (models.overlay.draw_boxes) as a JPEG file Gradio may serve;
    `picture_key` names the picture (its SHA-256), so equal keys and boxes draw the same file."""
    def make() -> str:
        data = io.BytesIO()
        draw_boxes(base, boxes).save(data, "JPEG", quality=PAGE_JPEG_QUALITY)
        return _served_file(data.getvalue(), "page", ".jpg", _PAGE_IMAGES_KEPT)
    return _PAGE_IMAGES.get((picture_key, base.size, tuple(boxes)), make)


THUMB_SIDE = 160
_THUMBS_KEPT = 64
_THUMBS = _Recent(_THUMBS_KEPT, _file_exists)


def thumbnail_file(picture_key: str, image: Callable[[], LoadedImage]) -> str:
    """A JPEG thumbnail of the picture named `picture_key` (its SHA-256), made from
    `image()` the first time only."""
    def make() -> str:
        small = display_base(image())[0].copy()  # the page's copy is already small
        small.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BILINEAR)
        data = io.BytesIO()
        small.convert("RGB").save(data, "JPEG", quality=PAGE_JPEG_QUALITY)
        return _served_file(data.getvalue(), "thumb", ".jpg", _THUMBS_KEPT)
    return _THUMBS.get(picture_key, make)


# A zoom crop is shown losslessly (a JPEG would add artefacts of its own to
# the pixels being judged).  Gradio would PNG-encode it at zlib level 6, which
# costs ~105 ms for a 512 px crop.  Here: the Paeth filter and Huffman coding
# alone, since a photo's filtered residuals are noise that LZ77 matching
# barely shortens: ~13 ms and 374 kB, where Pillow at zlib level 1 took ~27 ms
# for 436 kB.  Gradio copies the file into its own cache when the event
# returns, so only the latest few are kept here.
_CROP_FILES_KEPT = 32
_CROP_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_PAETH,
             cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]
_crop_folder: Path | None = None
_crop_lock = threading.Lock()


def fast_png(image: Image.Image) -> str:
    """`image` as a quickly compressed PNG file that Gradio may serve."""
    pixels = np.asarray(image.convert("RGB"))
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), _CROP_PNG)
    if not ok:  # cv2 reports a failed encode by its flag, not an exception
        raise ValueError(f"could not encode a {image.width}x{image.height} crop as PNG")
    return _served_file(encoded.tobytes(), "crop", ".png", _CROP_FILES_KEPT)


def _served_file(data: bytes, kind: str, suffix: str, kept: int) -> str:
    """`data` as a new file of this process's folder for the page's pictures (removed at
    exit); only the newest `kept` of each kind stay (Gradio keeps its own copy)."""
    global _crop_folder
    with _crop_lock:
        if _crop_folder is None:
            _crop_folder = Path(tempfile.mkdtemp(prefix="zoomin-pictures-"))
            atexit.register(shutil.rmtree, _crop_folder, True)
        path = _crop_folder / f"{kind}-{uuid.uuid4().hex}{suffix}"
        path.write_bytes(data)
        files = sorted(_crop_folder.glob(f"{kind}-*{suffix}"), key=lambda p: p.stat().st_mtime_ns)
        for old in files[:-kept]:
            old.unlink(missing_ok=True)
    return str(path)
