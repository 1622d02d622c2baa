"""Reading an image file safely into the one form every analysis uses.

Whatever arrives (JPEG, PNG, WebP, TIFF, GIF, HEIC, AVIF; CMYK, 16-bit,
palette with transparency, animated, EXIF-rotated) becomes an 8-bit RGB array
in displayed orientation, plus the untouched file bytes and the metadata the
provenance checks need.  Anything that cannot be read becomes an
ImageInputError whose message a journalist can act on; no Pillow traceback
leaves this module.  What is read besides the pixels (EXIF, orientation, text
chunks, XMP) is in image_metadata.py.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from models.image_metadata import (
    UNDO_ORIENTATION,
    find_xmp,
    png_without_compressed_text,
    read_bit_depth,
    read_exif,
    read_orientation,
    read_text_chunks,
    text_chunk_refused,
    upright,
    warning_notes,
)
from models.image_pixels import to_rgb8
from models.safe_text import safe_text

try:  # HEIC/HEIF through the maintained Pillow plugin; AVIF is built into Pillow >= 11.3.
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - the plugin is a declared dependency
    pillow_heif = None

DEFAULT_MAX_PIXELS = 100_000_000
"""Refuse images above this many pixels (a 100 MP medium-format frame still passes);
override with ZOOMIN_MAX_PIXELS or the CLI's --max-pixels."""

MAX_ASPECT_RATIO = 10_000
"""Refuse, before decoding, images whose long side is more than this many times
the short side (a 1 x 100,000,000 strip): no photograph has that shape, and
the learned score pads a thin strip to 32 px across, so a 1 x 10,000,000 strip
needs over 20 GB.  Within the ratio the padding stays small (a 31 x 310,000
strip grows 3 %); the longest panoramas and scrolled screenshots are near 50:1."""

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".gif", ".bmp",
     ".heic", ".heif", ".avif", ".jfif"}
)

_MIME_BY_FORMAT = {
    "JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff",
    "GIF": "image/gif", "BMP": "image/bmp", "HEIF": "image/heic", "AVIF": "image/avif",
    "MPO": "image/jpeg",
}

class ImageInputError(Exception):
    """A file that cannot be analysed, with a message meant for the analyst."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


@dataclass
class LoadedImage:
    """One decoded image and everything about its file that analyses read."""

    name: str
    data: bytes
    sha256: str
    format: str
    mime: str
    mode: str
    rgb: np.ndarray
    orientation: int = 1
    frame_count: int = 1
    bit_depth: int = 8
    info: dict[str, Any] = field(default_factory=dict)
    exif: Image.Exif | None = None
    xmp: bytes | None = None
    text_chunks: dict[str, str] = field(default_factory=dict)
    jpeg_quantization: dict[int, list[int]] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def size_bytes(self) -> int:
        return len(self.data)

    def pixels_as_stored(self) -> np.ndarray:
        """The RGB pixels in the file's stored orientation (before EXIF rotation),
        which is where an embedded watermark's block grid lies."""
        undo = UNDO_ORIENTATION.get(self.orientation)
        return np.ascontiguousarray(undo(self.rgb)) if undo else self.rgb


def max_pixels_from_env() -> int:
    raw = os.environ.get("ZOOMIN_MAX_PIXELS", "")
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(float(raw))
    except ValueError:
        raise ImageInputError(f"ZOOMIN_MAX_PIXELS must be a number of pixels, got {raw!r}", "config") from None
    if value <= 0:
        raise ImageInputError("ZOOMIN_MAX_PIXELS must be positive", "config")
    return value


def load_image(source: str | os.PathLike | bytes, name: str | None = None,
               max_pixels: int | None = None) -> LoadedImage:
    """Read and decode an image from a path or from bytes.

    Raises ImageInputError for anything that cannot be analysed.
    """
    limit = max_pixels if max_pixels is not None else max_pixels_from_env()
    given_name = name or ("<bytes>" if isinstance(source, (bytes, bytearray)) else os.fspath(source))
    # A file name is text from outside: bytes that are not UTF-8 arrive as lone
    # surrogates and would break every write of the name (stdout, the case store).
    display_name = safe_text(str(given_name))
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        data = _read_file(Path(source), display_name)
    if not data:
        raise ImageInputError(f"{display_name}: the file is empty (0 bytes)", "empty")
    with warnings.catch_warnings(record=True) as caught:
        # Pillow warns (on stderr) about damaged metadata; the analyst reads it in the notes instead.
        warnings.simplefilter("always")
        try:
            loaded = _load(data, data, display_name, limit)
        except ImageInputError as exc:
            readable = png_without_compressed_text(data) if text_chunk_refused(str(exc)) else None
            if readable is None:
                raise
            # Pillow refuses a compressed text chunk that inflates past 1 MB (its
            # decompression-bomb guard); the pixels are fine, so read them without it.
            loaded = _load(data, readable[0], display_name, limit)
            loaded.notes.append(readable[1])
        except MemoryError:
            raise ImageInputError(f"{display_name}: the image is too large to decode in the memory available "
                                  "(lower --max-pixels or use a machine with more memory)", "too-large") from None
    if display_name != given_name:
        loaded.notes.append("the file name holds bytes that are not UTF-8; they are shown as \ufffd")
    loaded.notes.extend(warning_notes(caught))
    return loaded


def _load(data: bytes, decodable: bytes, name: str, limit: int) -> LoadedImage:
    """The file's `data`, decoded from `decodable` (the same bytes, or a copy
    without what Pillow refuses to read)."""
    return _decode(_open(decodable, name, limit), data, decodable, name, limit)


def _read_file(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageInputError(f"{name}: no such file", "not-found") from None
    except IsADirectoryError:
        raise ImageInputError(f"{name}: is a folder, not an image file", "not-a-file") from None
    except PermissionError:
        raise ImageInputError(f"{name}: permission denied", "permission") from None
    except MemoryError:
        raise ImageInputError(f"{name}: the file is too large to read into memory", "too-large") from None
    except OSError as exc:
        raise ImageInputError(f"{name}: cannot be read ({exc.strerror or exc})", "unreadable") from None


def _too_large(name: str, width: int, height: int, limit: int) -> ImageInputError:
    return ImageInputError(
        f"{name}: {width}x{height} = {width * height / 1e6:.1f} megapixels exceeds the limit of "
        f"{limit / 1e6:.1f} megapixels (a guard against decompression bombs; raise it with "
        f"--max-pixels or ZOOMIN_MAX_PIXELS if the file is genuine)",
        "too-large",
    )


def _open(data: bytes, name: str, limit: int) -> Image.Image:
    # Pillow refuses outright above twice its own MAX_IMAGE_PIXELS; a user who
    # raised our limit past that must be able to open what they asked for.
    if Image.MAX_IMAGE_PIXELS is not None and 2 * Image.MAX_IMAGE_PIXELS < limit:
        Image.MAX_IMAGE_PIXELS = limit // 2 + 1
    with warnings.catch_warnings():
        # Our own pixel limit applies below; Pillow's warning would only repeat it.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise ImageInputError(f"{name}: not an image Pillow can read ({_describe_content(data)})",
                                  "not-an-image") from None
        except Image.DecompressionBombError as exc:
            raise _bomb_message(exc, name, limit) from None
        except Exception as exc:  # corrupt headers surface as many exception types
            raise ImageInputError(f"{name}: the image header is corrupt ({exc})", "corrupt") from None
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageInputError(f"{name}: the image declares no pixels ({width}x{height})", "corrupt")
    if width * height > limit:
        raise _too_large(name, width, height, limit)
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ImageInputError(
            f"{name}: {width}x{height} is too elongated to analyse (sides in a ratio above "
            f"{MAX_ASPECT_RATIO}:1; no photograph has this shape and the signal maps cannot measure it)",
            "too-large")
    return image


def _bomb_message(exc: Exception, name: str, limit: int) -> ImageInputError:
    """Pillow refused before we saw the size; its message carries the pixel count."""
    match = re.search(r"\((\d+) pixels\)", str(exc))
    pixels = f"{int(match.group(1)) / 1e6:.1f} megapixels" if match else "the declared size"
    return ImageInputError(
        f"{name}: {pixels} exceeds the limit of {limit / 1e6:.1f} megapixels (a guard against decompression "
        f"bombs; raise it with --max-pixels or ZOOMIN_MAX_PIXELS if the file is genuine)", "too-large")


def _describe_content(data: bytes) -> str:
    head = data[:64].lstrip()
    if head[:1] in (b"<", b"{") or all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "the content is text"
    if head.startswith(b"%PDF"):
        return "the content is a PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "the content is a zip archive"
    return f"unrecognised content starting with bytes {data[:8].hex()}"


def _decode(image: Image.Image, data: bytes, decodable: bytes, name: str, limit: int) -> LoadedImage:
    notes: list[str] = []
    frame_count, image = _count_frames(image, decodable, name, notes)
    if frame_count > 1:
        notes.append(f"animated or multi-frame image with {frame_count} frames: only the first frame was analysed")
        image.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image.load()
        except Image.DecompressionBombError as exc:
            raise _bomb_message(exc, name, limit) from None
        except OSError as exc:
            text = str(exc)
            if "truncated" in text or "broken data stream" in text or "end of file" in text.lower():
                raise ImageInputError(f"{name}: the file is truncated or damaged ({text})", "truncated") from None
            raise ImageInputError(f"{name}: the image data cannot be decoded ({text})", "corrupt") from None
        except Exception as exc:
            raise ImageInputError(f"{name}: the image data cannot be decoded ({exc})", "corrupt") from None

    fmt = image.format or "unknown"
    mode = image.mode
    exif = read_exif(image, notes)
    orientation = read_orientation(exif, notes)

    info = {k: v for k, v in image.info.items()}
    text_chunks = read_text_chunks(image)
    xmp = find_xmp(image, data)
    quantization = {int(k): list(v) for k, v in image.quantization.items()} \
        if fmt in ("JPEG", "MPO") and getattr(image, "quantization", None) else None
    bit_depth = read_bit_depth(image, data, fmt)

    if orientation != 1:
        image = upright(image, orientation)
        notes.append(f"EXIF orientation {orientation} applied: boxes are in the displayed orientation")
    rgb = to_rgb8(image, mode, bit_depth, notes)
    return LoadedImage(
        name=name, data=data, sha256=hashlib.sha256(data).hexdigest(), format=fmt,
        mime=_MIME_BY_FORMAT.get(fmt, f"image/{fmt.lower()}"), mode=mode, rgb=rgb,
        orientation=orientation, frame_count=frame_count, bit_depth=bit_depth, info=info,
        exif=exif, xmp=xmp, text_chunks=text_chunks, jpeg_quantization=quantization, notes=notes,
    )


def _count_frames(image: Image.Image, data: bytes, name: str, notes: list[str]) -> tuple[int, Image.Image]:
    """How many frames or pages the file holds.  Counting walks the file's chain
    of pages; when a link is broken (a TIFF next-page pointer past the end of
    the file) the first page is still good, so it is analysed alone, noted."""
    try:
        return int(getattr(image, "n_frames", 1) or 1), image
    except Exception:
        notes.append("the file's list of pages is damaged (a page pointer leads nowhere): only the first page "
                     "was read")
        try:  # counting left the image on the broken page: start again from the file
            return 1, Image.open(io.BytesIO(data))
        except Exception as exc:
            raise ImageInputError(f"{name}: the image header is corrupt ({exc})", "corrupt") from None
