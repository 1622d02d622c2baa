"""Does any input break an analysis?  Dev images turned into the files users really send.

Each image of a dev-set subset (every k-th row of ../shared/data/dev's
manifest) is re-saved the ways delivered and odd files come: JPEG at
qualities 1, 10, 25 and 30, greyscale and CMYK JPEG, progressive, 4:4:4 at
quality 50, a JPEG cut short, WebP, GIF, TIFF, BMP, palette, RGBA, LA,
16-bit and 1-bit PNG, 1x1, 24x24 and extreme strips (2000x16, 9x1200), and a
flat grey or black frame of the same size.  Once, for the first image: every
EXIF orientation on an odd size (and an invalid one), 48-bit PNG, animated GIF
and APNG, multi-page, float and 32-bit TIFF, JPEG 2000, AVIF where Pillow
writes it, ICO, PPM, TGA, an empty file, random bytes, text, SVG, a PNG header
claiming 100,000 x 100,000 pixels, a 108 MP JPEG, 5,000 nested XMP elements,
random EXIF bytes, a 1 MB PNG text chunk, deeply nested ComfyUI JSON and a
20,000-node workflow.  Each goes through the image reader and, where it is
read, the full evidence engine (the scan and the examination of its regions).  The reader may refuse a file with its clear
error (that is counted apart); an exception out of the engine is a failure:
the user would see "analysis failed: internal error".

    .venv/bin/python benchmarks/measure_hostile_inputs.py [--images 24]

Found with it: JPEGs saved at quality 34 or less failed in the JPEG-traces
map (8 of 40 dev real photos at quality 30), fixed in models/evidence/maps/jpeg_traces.py.
"""

from __future__ import annotations

import argparse
import io
import os
import struct
import sys
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, PngImagePlugin

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.heap import reuse_large_blocks  # noqa: E402

reuse_large_blocks()

from benchmarks.bench_scale import dev_subset  # noqa: E402
from models.image_input import ImageInputError, load_image  # noqa: E402


def _saved(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def variants(image: Image.Image) -> Iterator[tuple[str, bytes]]:
    rgb = image.convert("RGB")
    for quality in (1, 10, 25, 30):
        yield f"JPEG q{quality}", _saved(rgb, "JPEG", quality=quality)
    yield "greyscale JPEG", _saved(image.convert("L"), "JPEG", quality=70)
    yield "CMYK JPEG", _saved(image.convert("CMYK"), "JPEG", quality=80)
    yield "progressive q95", _saved(rgb, "JPEG", quality=95, progressive=True)
    yield "4:4:4 q50", _saved(rgb, "JPEG", quality=50, subsampling=0)
    yield "JPEG cut short", _saved(rgb, "JPEG", quality=80)[:-2000]
    yield "WebP q50", _saved(rgb, "WEBP", quality=50)
    for fmt in ("GIF", "TIFF", "BMP"):
        yield fmt, _saved(rgb, fmt)
    for mode in ("P", "RGBA", "LA", "I;16", "1"):
        yield f"PNG {mode}", _saved(image.convert(mode), "PNG")
    for size in ((1, 1), (24, 24), (2000, 16), (9, 1200)):
        yield f"{size[0]}x{size[1]}", _saved(rgb.resize(size), "PNG")
    yield "flat grey JPEG", _saved(Image.new("RGB", image.size, (128, 128, 128)), "JPEG", quality=90)
    yield "flat black PNG", _saved(Image.new("RGB", image.size, 0), "PNG")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _with_text(image: Image.Image, key: str, text: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text(key, text)
    return _saved(image, "PNG", pnginfo=info)


def oddities(image: Image.Image) -> Iterator[tuple[str, bytes]]:
    """Files whose container or metadata is odd, made once from one image."""
    rgb = image.convert("RGB")
    for orientation in (*range(1, 9), 77):
        exif = Image.Exif()
        exif[0x0112] = orientation
        yield f"EXIF orientation {orientation}", _saved(rgb.resize((333, 257)), "JPEG", quality=85, exif=exif)
    yield "48-bit PNG", cv2.imencode(".png", (np.asarray(rgb).astype(np.uint16) * 257)[..., ::-1])[1].tobytes()
    frames = [rgb.rotate(angle) for angle in (0, 90, 180)]
    for name, fmt, options in (("animated GIF", "GIF", {"duration": 100, "loop": 0}), ("APNG", "PNG", {}),
                               ("multi-page TIFF", "TIFF", {})):
        yield name, _saved(frames[0], fmt, save_all=True, append_images=frames[1:], **options)
    yield "float TIFF", _saved(rgb.convert("F"), "TIFF")
    yield "32-bit TIFF", _saved(rgb.convert("I"), "TIFF")
    for fmt in ("JPEG2000", "AVIF"):
        try:
            yield fmt, _saved(rgb, fmt)
        except (KeyError, OSError):
            pass  # this Pillow cannot write it
    yield "ICO", _saved(rgb.resize((64, 64)), "ICO")
    for fmt in ("PPM", "TGA"):
        yield fmt, _saved(rgb, fmt)
    yield "empty file", b""
    yield "random bytes", os.urandom(5000)
    yield "text", b"not an image\n" * 20
    yield "SVG", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    yield "PNG header 100000x100000", (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
                                        + _png_chunk(b"IEND", b""))
    yield "108 MP JPEG", _saved(rgb.resize((12000, 9000)), "JPEG", quality=70)
    yield "nested XMP", _saved(rgb, "JPEG", xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + b"<a>" * 5000
                                + b"</a>" * 5000 + b"</x:xmpmeta>")
    yield "random EXIF", _saved(rgb, "JPEG", exif=b"Exif\x00\x00" + os.urandom(3000))
    yield "1 MB PNG text", _with_text(rgb, "parameters", "x" * 1_000_000)
    yield "nested ComfyUI prompt", _with_text(rgb, "prompt", "{" * 100_000)
    nodes = ",".join(f'{{"id": {i}, "type": "KSampler", "widgets_values": [1, 2, "x"]}}' for i in range(20_000))
    yield "20,000-node workflow", _with_text(rgb, "workflow", f'{{"nodes": [{nodes}]}}')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=24)
    args = parser.parse_args()
    from models.evidence.engine import EvidenceEngine

    engine = EvidenceEngine()
    refused: Counter = Counter()
    failed: Counter = Counter()
    first_failure: dict[str, str] = {}
    analysed = 0
    started = time.perf_counter()
    for number, file in enumerate(dev_subset(args.images)):
        with Image.open(file) as opened:
            opened.load()
            source = opened.copy()
        made = [*variants(source), *(oddities(source) if number == 0 else ())]
        for name, data in made:
            try:
                image = load_image(data, name=name)
            except ImageInputError:
                refused[name] += 1
                continue
            try:
                engine.analyze(image)
                analysed += 1
            except Exception as exc:  # noqa: BLE001 - what is measured: anything that escapes
                failed[name] += 1
                first_failure.setdefault(name, f"{Path(file).name}: {''.join(traceback.format_exception(exc)[-2:])}")
    print(f"{args.images} dev images, {analysed + sum(failed.values()) + sum(refused.values())} inputs, "
          f"{time.perf_counter() - started:.0f} s")
    print(f"analysed: {analysed}; refused by the reader with its error: {dict(refused) or 'none'}; "
          f"failed in the engine: {dict(failed) or 'none'}")
    for name, where in first_failure.items():
        print(f"\n{name}: {where}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
