"""Generation settings hidden in the pixels' least significant bits: the
"stealth" format of NovelAI and of AUTOMATIC1111's stealth-pnginfo extension.

Layout: bits are read column by column (x outer, y inner), one per pixel from
the alpha channel, or three per pixel (R, G, B) from the colour channels.
They spell a magic string, then a 32-bit big-endian count of payload BITS,
then the payload (UTF-8 text, gzip-compressed for the *comp variants):

    stealth_pnginfo  alpha, plain      stealth_pngcomp  alpha, gzip
    stealth_rgbinfo  RGB, plain        stealth_rgbcomp  RGB, gzip

Only lossless files can carry it (PNG, WebP lossless, TIFF, BMP); a JPEG has
lost its low bits.  The 15-byte magic string does not occur by chance.

Weighing (kind "metadata", source "stealth:<magic>"): a payload that is an
infotext or NovelAI JSON -> "ai-generated", decisive, 0.95; readable text of
another kind -> decisive 0.9 (only generation tools write this format); a
length that overruns the image, a truncated or corrupt gzip stream ->
"ai-generated", not decisive, 0.6, with what could be recovered.  Never raises.
"""

from __future__ import annotations

import io
import zlib
from typing import Any

import numpy as np

from models.evidence.generator_text import parse_infotext, recipe
from models.evidence.metadata_common import ai_evidence, load_json, mostly_printable
from models.image_input import LoadedImage
from models.types import Evidence

MAGICS = {b"stealth_pnginfo": ("alpha", False), b"stealth_pngcomp": ("alpha", True),
          b"stealth_rgbinfo": ("rgb", False), b"stealth_rgbcomp": ("rgb", True)}
_MAGIC_BITS = 15 * 8
_LOSSLESS = {"PNG", "WEBP", "TIFF", "BMP"}
MAX_PAYLOAD_BYTES = 2_000_000
MAX_PIXELS = 60_000_000


def read_stealth_metadata(image: LoadedImage) -> list[Evidence]:
    if image.format not in _LOSSLESS or image.width * image.height > MAX_PIXELS:
        return []
    pixels = _stored_pixels(image)
    if pixels is None:
        return []
    height = pixels.shape[0]
    for channels, per_pixel in (("alpha", 1), ("rgb", 3)):
        # The magic string sits in the first columns: look there before reading the whole image.
        columns = -(-_MAGIC_BITS // (height * per_pixel))
        head = _bit_stream(pixels[:, :columns], channels)
        if head is None or head.size < _MAGIC_BITS:
            continue
        magic = np.packbits(head[:_MAGIC_BITS]).tobytes()
        if magic in MAGICS and MAGICS[magic][0] == channels:
            bits = _bit_stream(pixels, channels)
            return [_evidence(magic.decode("ascii"), *decode_payload(bits[_MAGIC_BITS:], MAGICS[magic][1]))]
    return []


def decode_payload(bits: np.ndarray, compressed: bool) -> tuple[str | None, list[str]]:
    """(text, problems) from the bits after the magic: length, payload, optional gzip."""
    problems: list[str] = []
    if bits.size < 32:
        return None, ["the stream ends before its length field"]
    length = int.from_bytes(np.packbits(bits[:32]).tobytes(), "big")
    available = bits.size - 32
    if length > available:
        problems.append(f"the length field says {length} bits but only {available} follow")
        length = available
    if length > MAX_PAYLOAD_BYTES * 8:
        problems.append(f"the payload was cut at {MAX_PAYLOAD_BYTES} bytes")
        length = MAX_PAYLOAD_BYTES * 8
    if length % 8:
        problems.append("the length is not a whole number of bytes")
    data = np.packbits(bits[32:32 + length - length % 8]).tobytes()
    if compressed:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            data = decompressor.decompress(data, MAX_PAYLOAD_BYTES)
        except zlib.error as exc:
            return None, problems + [f"the gzip stream is corrupt ({exc})"]
        if not decompressor.eof:
            problems.append("the gzip stream is truncated")
    text = data.decode("utf-8", "replace").replace("\0", "").strip()
    if not text or not mostly_printable(text) or text.count("\ufffd") > len(text) // 10:
        return None, problems + ["the payload is not readable text"]
    return text, problems


def _stored_pixels(image: LoadedImage) -> np.ndarray | None:
    """The file's own pixels (stored orientation, alpha kept), 8 bits per channel."""
    from PIL import Image

    if image.mode == "RGB" and image.bit_depth == 8 and image.orientation == 1:
        return image.rgb  # already decoded as stored: no second decode
    try:
        with Image.open(io.BytesIO(image.data)) as opened:
            if opened.mode not in ("RGBA", "RGB", "LA", "L", "P", "PA", "RGBa"):
                return None
            converted = opened.convert("RGBA" if "A" in opened.mode or "transparency" in opened.info else "RGB")
            return np.asarray(converted)
    except Exception:  # the loader already read this file; a second decode failing is not a finding
        return None


def _bit_stream(pixels: np.ndarray, channels: str) -> np.ndarray | None:
    """Least significant bits in column-major order (x outer, y inner)."""
    if channels == "alpha":
        if pixels.ndim != 3 or pixels.shape[2] != 4:
            return None
        return (pixels[:, :, 3].T & 1).ravel()
    return (np.ascontiguousarray(pixels[:, :, :3].transpose(1, 0, 2)) & 1).ravel()


def _evidence(magic: str, text: str | None, problems: list[str]) -> Evidence:
    source, where = f"stealth:{magic}", f"Hidden metadata in the pixels' lowest bits ({magic})"
    details: dict[str, Any] = {"format": magic, "problems": problems}
    if text is None:
        return ai_evidence(source, f"{where} was found, as NovelAI and Stable Diffusion tools hide it, but it could "
                           f"not be read ({'; '.join(problems)}).", details, strength=0.6, decisive=False)
    strength, decisive = (0.6, False) if problems else (0.95, True)
    broken = f" Part of it is damaged ({'; '.join(problems)})." if problems else ""
    infotext = parse_infotext(text)
    if infotext:
        details.update(infotext)
        return ai_evidence(source, f"{where} holds generation settings written by {infotext['generator']}: "
                           f"{recipe(infotext)}.{broken}", details, strength, decisive)
    data = load_json(text)
    if isinstance(data, dict):
        comment = load_json(str(data.get("Comment", ""))) if isinstance(data.get("Comment"), str) else data
        comment = comment if isinstance(comment, dict) else {}
        novelai = "novelai" in str(data.get("Software", "")).lower() or "NovelAI" in str(data.get("Source", ""))
        params = {"generator": "NovelAI" if novelai else "an image generator",
                  "model": str(data.get("Source") or "")[:200] or None, "steps": comment.get("steps"),
                  "sampler": comment.get("sampler"), "seed": comment.get("seed"),
                  "prompt": str(comment.get("prompt") or data.get("Description") or "")[:2000]}
        details.update({k: v for k, v in params.items() if v not in (None, "")})
        return ai_evidence(source, f"{where} holds settings written by {params['generator']}: {recipe(params)}."
                           f"{broken}", details, strength, decisive)
    details["text"] = text[:2000]
    return ai_evidence(source, f"{where} holds text in the format only image generators write "
                       f"({text[:80]!r}).{broken}", details, 0.9 if decisive else strength, decisive)
