"""Does any input break an analysis?  Dev images turned into the files users really send.

Each image of a dev-set subset (every k-th row of ../shared/data/dev's
manifest) is re-saved the ways delivered and odd files come: JPEG at
qualities 1, 10, 25 and 30, greyscale and CMYK JPEG, progressive, 4:4:4 at
quality 50, a JPEG cut short, WebP, GIF, TIFF, BMP, palette, RGBA, LA,
16-bit and 1-bit PNG, 1x1, 24x24 and extreme strips (2000x16, 9x1200), and a
flat grey or black frame of the same size.  Each goes through the image
reader and, where it is read, the full evidence engine (the scan and the
examination of its regions).  The reader may refuse a file with its clear
error (that is counted apart); an exception out of the engine is a failure:
the user would see "analysis failed: internal error".

    .venv/bin/python benchmarks/measure_hostile_inputs.py [--images 24]

Found with it: JPEGs saved at quality 34 or less failed in the JPEG-traces
map (8 of 40 dev real photos at quality 30), fixed in models/evidence/maps/jpeg_traces.py.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

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
    for file in dev_subset(args.images):
        with Image.open(file) as opened:
            opened.load()
            source = opened.copy()
        for name, data in variants(source):
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
