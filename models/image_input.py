"""Reading an image file safely into the one form every analysis uses.

Whatever arrives (JPEG, PNG, WebP, TIFF, GIF, HEIC, AVIF; CMYK, 16-bit,
palette with transparency, animated, EXIF-rotated) becomes an 8-bit RGB array
in displayed orientation, plus the untouched file bytes and the metadata the
provenance checks need.  Anything that cannot be read becomes an
ImageInputError whose message a journalist can act on; no Pillow traceback
leaves this module.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from models.safe_text import safe_text

try:  # HEIC/HEIF through the maintained Pillow plugin; AVIF is built into Pillow >= 11.3.
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - the plugin is a declared dependency
    pillow_heif = None

DEFAULT_MAX_PIXELS = 100_000_000
"""Refuse images above this many pixels (a 100 MP medium-format frame still passes);
override with ZOOMIN_MAX_PIXELS or the CLI's --max-pixels."""

MAX_ASPECT_RATIO = 1000
"""Refuse, before decoding, images whose long side is more than this many times
the short side (a 1 x 100,000,000 strip): no photograph has that shape, the
signal maps have no 8x8 blocks to measure, and decoding it can exhaust memory.
The longest panoramas and scrolled screenshots stay far below (about 50:1)."""

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".gif", ".bmp",
     ".heic", ".heif", ".avif", ".jfif"}
)

_MIME_BY_FORMAT = {
    "JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff",
    "GIF": "image/gif", "BMP": "image/bmp", "HEIF": "image/heic", "AVIF": "image/avif",
    "MPO": "image/jpeg",
}

# EXIF orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# EXIF orientation -> numpy operation that undoes _TRANSPOSE.
_UNDO_ORIENTATION = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, 1),
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
    8: lambda a: np.rot90(a, -1),
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
        undo = _UNDO_ORIENTATION.get(self.orientation)
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
            image = _open(data, display_name, limit)
            loaded = _decode(image, data, display_name, limit)
        except MemoryError:
            raise ImageInputError(f"{display_name}: the image is too large to decode in the memory available "
                                  "(lower --max-pixels or use a machine with more memory)", "too-large") from None
    if display_name != given_name:
        loaded.notes.append("the file name holds bytes that are not UTF-8; they are shown as \ufffd")
    loaded.notes.extend(_warning_notes(caught))
    return loaded


def _warning_notes(caught: list[warnings.WarningMessage]) -> list[str]:
    messages = [safe_text(str(w.message)).strip() for w in caught
                if not issubclass(w.category, Image.DecompressionBombWarning)]
    unique = list(dict.fromkeys(m for m in messages if m))
    return [f"the image library warned: {m[:200]}" for m in unique[:3]]


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


def _decode(image: Image.Image, data: bytes, name: str, limit: int) -> LoadedImage:
    notes: list[str] = []
    frame_count, image = _count_frames(image, data, name, notes)
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
    try:
        exif = image.getexif()
        _decode_exif_now(exif)
    except Exception:  # a broken EXIF block must not stop the pixel analysis
        exif = None
        notes.append("the EXIF block is unreadable and was ignored")
    orientation = _orientation(exif, notes)

    info = {k: v for k, v in image.info.items()}
    text_chunks = _text_chunks(image)
    xmp = _find_xmp(image, data)
    quantization = {int(k): list(v) for k, v in image.quantization.items()} \
        if fmt in ("JPEG", "MPO") and getattr(image, "quantization", None) else None
    bit_depth = _bit_depth(image, data, fmt)

    if orientation != 1:
        # Our own transpose, not ImageOps.exif_transpose: that one re-writes the
        # EXIF block, which raises on the odd tag types a file may hold.
        image = image.transpose(_TRANSPOSE[orientation])
        notes.append(f"EXIF orientation {orientation} applied: boxes are in the displayed orientation")
    rgb = _to_rgb(image, mode, bit_depth, notes)
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


def _decode_exif_now(exif: Image.Exif) -> None:
    """Pillow decodes each EXIF value when it is first asked for, warning on
    stderr about damaged ones.  Asking for all of them here, where warnings are
    recorded as notes, gives the metadata readers decoded values, silently."""
    for tag in list(exif):
        exif.get(tag)
    for directory in (0x8769, 0x8825):  # the Exif and GPS sub-directories the readers open
        if directory in exif:
            try:
                exif.get_ifd(directory)
            except Exception:  # the reader says the sub-directory is garbled
                pass


def _orientation(exif: Image.Exif | None, notes: list[str]) -> int:
    """The EXIF Orientation (1-8), also when a writer stored it as text ("6") or
    as a rational (6/1); any other value is ignored, noted."""
    raw = exif.get(0x0112) if exif else None
    if raw is None:
        return 1
    value = raw[0] if isinstance(raw, tuple) and raw else raw
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    try:
        number = float(value.strip("\x00 ") if isinstance(value, str) else value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        number = math.nan
    if not (math.isfinite(number) and number.is_integer() and 1 <= number <= 8):
        notes.append(f"invalid EXIF orientation {safe_text(repr(raw))[:40]} ignored")
        return 1
    if not isinstance(raw, int):
        notes.append(f"EXIF orientation stored as {type(raw).__name__} {safe_text(repr(raw))[:40]}, read as "
                     f"{int(number)}")
    return int(number)


def _text_chunks(image: Image.Image) -> dict[str, str]:
    """Text metadata written by generators (PNG tEXt/iTXt/zTXt, WebP/GIF comments)."""
    chunks: dict[str, str] = {}
    text = getattr(image, "text", None)  # PNG: reads every text chunk, also after IDAT
    sources = [text] if isinstance(text, dict) else []
    sources.append(image.info)
    for source in sources:
        for key, value in source.items():
            if isinstance(key, str) and key not in chunks:
                if isinstance(value, bytes):
                    if key in ("comment",):
                        chunks[key] = value.decode("utf-8", "replace")
                elif isinstance(value, str):
                    chunks[key] = value
    return {safe_text(key): safe_text(value) for key, value in chunks.items()}


def _find_xmp(image: Image.Image, data: bytes) -> bytes | None:
    for key in ("xmp", "XML:com.adobe.xmp"):
        value = image.info.get(key)
        if value:
            return value.encode("utf-8") if isinstance(value, str) else bytes(value)
    tag_v2 = getattr(image, "tag_v2", None)
    if tag_v2 is not None and 700 in tag_v2:
        value = tag_v2[700]
        return value.encode("utf-8") if isinstance(value, str) else bytes(value)
    # Other containers (HEIC, AVIF, GIF) keep the packet as plain bytes.
    start = data.find(b"<x:xmpmeta")
    if start >= 0:
        end = data.find(b"</x:xmpmeta>", start)
        if end > start:
            return data[start:end + len(b"</x:xmpmeta>")]
    return None


def _bit_depth(image: Image.Image, data: bytes, fmt: str) -> int:
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return 16
    if fmt == "PNG" and len(data) > 24 and data[12:16] == b"IHDR":
        return int(data[24])  # PNG IHDR bit depth; Pillow silently reduces 16-bit RGB to 8
    if fmt == "TIFF":
        bits = getattr(image, "tag_v2", {}).get(258)
        if bits:
            return int(max(bits) if isinstance(bits, tuple) else bits)
    return 8


def _to_rgb(image: Image.Image, mode: str, bit_depth: int, notes: list[str]) -> np.ndarray:
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
    return np.ascontiguousarray(np.asarray(rgb_image, dtype=np.uint8))
