"""Builders of odd, malformed and hostile image files for the hardening and fuzz
tests.  Everything is made here, from synthetic pixels; nothing is shipped.

strict_lines and zoomin read and run the command line as a user would.
Raw builders (png_with_chunks, exif_block, app_segment) write bytes by hand
where Pillow would refuse or repair what a hostile file holds: invalid UTF-8
in iTXt, EXIF tags of the wrong type, JUMBF boxes with lying lengths.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from models.sample_images import camera_like_photo

REPO = Path(__file__).resolve().parent.parent

# A ComfyUI API graph whose class_type holds a lone surrogate, as JSON escapes it
# (ensure_ascii keeps the \ud800 escape in the text, as in the file).
SURROGATE_PROMPT = json.dumps({"3": {"class_type": "KSampler\ud800", "inputs": {"seed": 1, "steps": 20}},
                               "4": {"class_type": "CheckpointLoaderSimple",
                                     "inputs": {"ckpt_name": "model\udcff.safetensors"}}}, ensure_ascii=True)
NAN_PROMPT = '{"3": {"class_type": "KSampler", "inputs": {"seed": NaN, "steps": Infinity, "cfg": -Infinity}}}'
NAN_PARAMETERS = '{"model": "sdxl", "seed": NaN, "steps": Infinity, "prompt": "a cat"}'


def photo(width: int = 96, height: int = 72, seed: int = 5) -> np.ndarray:
    return camera_like_photo(height, width, seed=seed)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_with_chunks(rgb: np.ndarray, chunks: list[tuple[bytes, bytes]] = ()) -> bytes:
    """An 8-bit RGB PNG with the given raw (type, body) chunks before IDAT."""
    height, width = rgb.shape[:2]
    rows = b"".join(b"\x00" + rgb[y].tobytes() for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + b"".join(_chunk(kind, body) for kind, body in chunks)
            + _chunk(b"IDAT", zlib.compress(rows, 6)) + _chunk(b"IEND", b""))


def text_chunk(key: str, value: str | bytes) -> tuple[bytes, bytes]:
    """tEXt: latin-1 key and value (bytes are written as they are)."""
    body = value if isinstance(value, bytes) else value.encode("latin-1", "replace")
    return b"tEXt", key.encode("latin-1") + b"\0" + body


def itxt_chunk(key: str, value: bytes) -> tuple[bytes, bytes]:
    """iTXt, uncompressed, with `value` written raw (it need not be UTF-8)."""
    return b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + value


def ztxt_chunk(key: str, value: bytes) -> tuple[bytes, bytes]:
    """zTXt: `value` deflated (a few KB can inflate to many MB)."""
    return b"zTXt", key.encode("latin-1") + b"\0\0" + zlib.compress(value, 9)


def png_text(rgb: np.ndarray, **texts: str) -> bytes:
    return png_with_chunks(rgb, [text_chunk(k, v) for k, v in texts.items()])


def exif_block(entries: list[tuple[int, int, int, bytes]], big_endian: bool = False) -> bytes:
    """An APP1 EXIF payload with one IFD of raw (tag, type, count, value) entries.

    A value longer than 4 bytes is stored after the IFD and pointed to, as the
    format says; the caller may lie in `count` about how long it is."""
    order = ">" if big_endian else "<"
    header = (b"MM\0*" if big_endian else b"II*\0") + struct.pack(order + "I", 8)
    data_at = 8 + 2 + 12 * len(entries) + 4
    fields, extra = [], b""
    for tag, kind, count, value in entries:
        if len(value) <= 4:
            field = value.ljust(4, b"\0")
        else:
            field = struct.pack(order + "I", data_at + len(extra))
            extra += value
        fields.append(struct.pack(order + "HHI", tag, kind, count) + field)
    ifd = struct.pack(order + "H", len(entries)) + b"".join(fields) + struct.pack(order + "I", 0)
    return b"Exif\0\0" + header + ifd + extra


def orientation_exif(kind: str) -> bytes:
    """EXIF whose Orientation is stored as text ('ascii') or as a rational ('rational')."""
    if kind == "ascii":
        return exif_block([(0x0112, 2, 2, b"6\0")])
    return exif_block([(0x0112, 5, 1, struct.pack("<II", 6, 1))])


def jpeg(rgb: np.ndarray, exif: bytes | None = None, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality, **({"exif": exif} if exif else {}))
    return buffer.getvalue()


def app_segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, min(len(payload) + 2, 0xFFFF)) + payload


def with_segment(jpeg_bytes: bytes, segment: bytes) -> bytes:
    """`segment` inserted right after the JPEG's SOI marker."""
    return jpeg_bytes[:2] + segment + jpeg_bytes[2:]


def jumbf_payload(label: bytes = b"c2pa", box_length: int | None = None, body: bytes = b"") -> bytes:
    """A C2PA-like APP11 payload: JPEG XT header, then a 'jumb' superbox whose
    'jumd' description carries the c2pa type and `label`; box_length may lie."""
    description = b"jumd" + b"c2pa" + b"\x00\x11\x00\x10\x80\x00\x00\xaa\x00\x38\x9b\x71" + b"\x03" + label + b"\0"
    description = struct.pack(">I", len(description) + 4) + description
    superbox = b"jumb" + description + body
    length = len(superbox) + 4 if box_length is None else box_length
    return b"JP" + struct.pack(">HI", 1, 1) + struct.pack(">I", length) + superbox


def xmp_packet(inner: str) -> bytes:
    return ('<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'{inner}</rdf:RDF></x:xmpmeta><?xpacket end="w"?>').encode("utf-8", "surrogatepass")


def tiff_with_next_ifd_past_end(rgb: np.ndarray) -> bytes:
    """A one-page TIFF whose next-IFD pointer points past the end of the file."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "TIFF")
    data = bytearray(buffer.getvalue())
    first = struct.unpack("<I", data[4:8])[0]
    entries = struct.unpack("<H", data[first:first + 2])[0]
    pointer = first + 2 + 12 * entries
    data[pointer:pointer + 4] = struct.pack("<I", len(data) + 4096)
    return bytes(data)


def long_strip_png(width: int, height: int) -> bytes:
    """A flat grey PNG of any size, written row by row (a 1 x 100,000,000 strip is ~400 KB)."""
    row = b"\x00" + b"\x80" * (3 * width)
    packer = zlib.compressobj(9)
    rows_per_step = max(1, (1 << 22) // len(row))
    parts = [packer.compress(row * min(rows_per_step, height - top)) for top in range(0, height, rows_per_step)]
    parts.append(packer.flush())
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b""))


# ------------------------------------------------------------------ running zoomin


def _refuse(constant: str):
    raise AssertionError(f"not strict JSON: {constant}")


def strict_json(text: str):
    """One JSON document, refusing NaN and Infinity as a strict parser does."""
    return json.loads(text, parse_constant=_refuse)


def strict_lines(text: str) -> list:
    """JSON Lines, each line parsed as strict_json does."""
    return [strict_json(line) for line in text.splitlines() if line.strip()]


def zoomin(*args: str | bytes, home: Path | None = None) -> subprocess.CompletedProcess:
    """`zoomin ...` in a real process: arguments may be bytes that are not UTF-8."""
    env = {**os.environ, "LC_ALL": "C.UTF-8", "ZOOMIN_ANALYST": "alice", "ZOOMIN_QUIET": "1"}
    env.pop("DATABASE_URL", None)
    if home is not None:
        env["ZOOMIN_HOME"] = str(home)
    command = [os.fsencode(sys.executable), b"-m", b"zoomin_ui.cli",
               *(os.fsencode(a) for a in args)]
    return subprocess.run(command, capture_output=True, env=env, cwd=REPO, timeout=300)
