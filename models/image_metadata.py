"""What load_image reads about an image besides its pixels: EXIF (decoded
while warnings are recorded), the orientation that shows it upright, text
chunks, the XMP packet, the bit depth, and Pillow's warnings as notes.

Everything here is text from outside: strings are made safe (safe_text) and
a value of an unexpected type is read if it means one thing, or ignored with
a note, never an exception.
"""

from __future__ import annotations

import math
import struct
import warnings

import numpy as np
from PIL import Image

from models.safe_text import safe_text

# EXIF orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# EXIF orientation -> numpy operation that undoes upright().
UNDO_ORIENTATION = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, 1),
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
    8: lambda a: np.rot90(a, -1),
}


def read_exif(image: Image.Image, notes: list[str]) -> Image.Exif | None:
    """The image's EXIF, every value already decoded; None (noted) when unreadable."""
    try:
        exif = image.getexif()
        _decode_exif_now(exif)
    except Exception:  # a broken EXIF block must not stop the pixel analysis
        notes.append("the EXIF block is unreadable and was ignored")
        return None
    return exif


def upright(image: Image.Image, orientation: int) -> Image.Image:
    """The image as displayed.  Our own transpose, not ImageOps.exif_transpose:
    that one re-writes the EXIF block, which raises on odd tag types."""
    return image.transpose(_TRANSPOSE[orientation])


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


def read_orientation(exif: Image.Exif | None, notes: list[str]) -> int:
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


def read_text_chunks(image: Image.Image) -> dict[str, str]:
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


def find_xmp(image: Image.Image, data: bytes) -> bytes | None:
    for key in ("xmp", "XML:com.adobe.xmp"):
        value = image.info.get(key)
        if value:
            return safe_text(value).encode("utf-8") if isinstance(value, str) else bytes(value)
    tag_v2 = getattr(image, "tag_v2", None)
    if tag_v2 is not None and 700 in tag_v2:
        value = tag_v2[700]
        return safe_text(value).encode("utf-8") if isinstance(value, str) else bytes(value)
    # Other containers (HEIC, AVIF, GIF) keep the packet as plain bytes.
    start = data.find(b"<x:xmpmeta")
    if start >= 0:
        end = data.find(b"</x:xmpmeta>", start)
        if end > start:
            return data[start:end + len(b"</x:xmpmeta>")]
    return None


def read_bit_depth(image: Image.Image, data: bytes, fmt: str) -> int:
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return 16
    if fmt == "PNG" and len(data) > 24 and data[12:16] == b"IHDR":
        return int(data[24])  # PNG IHDR bit depth; Pillow silently reduces 16-bit RGB to 8
    if fmt == "TIFF":
        bits = getattr(image, "tag_v2", {}).get(258)
        try:
            return int(max(bits) if isinstance(bits, tuple) else bits) if bits else 8
        except (TypeError, ValueError):  # a BitsPerSample of another type: the decoder managed anyway
            return 8
    return 8


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_REFUSALS = ("Decompressed data too large for PngImagePlugin.MAX_TEXT_CHUNK",
                  "Too much memory used in text chunks")


def text_chunk_refused(message: str) -> bool:
    """Whether Pillow refused the file for its text chunks, not for its pixels."""
    return any(refusal in message for refusal in _TEXT_REFUSALS)


def png_without_compressed_text(data: bytes) -> tuple[bytes, str] | None:
    """The PNG without its compressed text chunks (zTXt, compressed iTXt), and a
    note naming what was left unread; None when `data` is no PNG or holds none."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    kept, dropped, position = [_PNG_SIGNATURE], [], len(_PNG_SIGNATURE)
    while position + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        end = min(len(data), position + 12 + length)
        body = data[position + 8:end - 4]
        keyword = body.split(b"\0", 1)[0][:79]
        compressed = kind == b"zTXt" or (kind == b"iTXt" and body[len(keyword) + 1:len(keyword) + 2] == b"\1")
        if compressed:
            dropped.append(safe_text(keyword.decode("latin-1")))
        else:
            kept.append(data[position:end])
        position = end
    if not dropped:
        return None
    names = ", ".join(repr(name) for name in dropped[:5]) + (f" and {len(dropped) - 5} more" * (len(dropped) > 5))
    return b"".join(kept), (f"compressed text chunks {names} were not read: one inflates past the image library's "
                            "1 MB limit (its guard against decompression bombs); the pixels were analysed")


def warning_notes(caught: list[warnings.WarningMessage]) -> list[str]:
    """Pillow's warnings while reading (damaged metadata), as at most three notes."""
    messages = [safe_text(str(w.message)).strip() for w in caught
                if not issubclass(w.category, Image.DecompressionBombWarning)]
    unique = list(dict.fromkeys(m for m in messages if m))
    return [f"the image library warned: {m[:200]}" for m in unique[:3]]
