"""Measure the Stable Diffusion watermark detector: speed, the developer image
set, and survival of JPEG re-encoding.

    .venv/bin/python benchmarks/measure_watermark.py            # timing + dev set
    .venv/bin/python benchmarks/measure_watermark.py --jpeg     # + JPEG survival (imports imwatermark)

The dev set is read in place (../shared/data/dev by default); nothing is copied.
Numbers quoted in docs/watermark.md come from this script.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.evidence.watermark import (  # noqa: E402
    KNOWN_PATTERNS, MIN_PIXELS, WatermarkCheck, check_patterns, decode_vote_fractions,
)
from models.image_input import ImageInputError, load_image  # noqa: E402
from models.sample_images import camera_like_photo, encode  # noqa: E402

DEFAULT_DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dev"


def median_ms(step: Callable[[np.ndarray], object], height: int = 3000, width: int = 4000,
              repeats: int = 15) -> float:
    """Median wall time of `step` on one synthetic photo (image synthesis and
    file decoding excluded)."""
    rgb = camera_like_photo(height, width, seed=7)
    step(rgb)  # warm-up: first-call allocations and cv2 initialisation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step(rgb)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


@dataclass
class GroupTally:
    images: int = 0
    checked: int = 0
    detected: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    best: WatermarkCheck | None = None
    best_file: str = ""
    uncorrected: list[float] = field(default_factory=list)


def _closest(checks: list[WatermarkCheck]) -> WatermarkCheck:
    return min(checks, key=lambda c: c.false_alarm_probability)


def measure_dev_set(root: Path) -> dict[tuple[str, str, str], GroupTally]:
    """Per (label, generator, source repository): how many images carry each
    watermark, and the closest agreement seen."""
    groups: dict[tuple[str, str, str], GroupTally] = defaultdict(GroupTally)
    with open(root / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            tally = groups[(row["label"], row["generator"], row["source_repo"])]
            tally.images += 1
            try:
                image = load_image(root / row["file"])
            except ImageInputError as exc:
                print(f"skipped {row['file']}: {exc}", file=sys.stderr)
                continue
            if image.width * image.height < MIN_PIXELS:
                continue
            tally.checked += 1
            checks = check_patterns(image.pixels_as_stored())
            for check in checks:
                tally.detected[check.pattern] += int(check.detected)
                tally.uncorrected.append(check.uncorrected_probability)
            closest = _closest(checks)
            if tally.best is None or closest.false_alarm_probability < tally.best.false_alarm_probability:
                tally.best, tally.best_file = closest, row["file"]
    return groups


def print_dev_table(groups: dict[tuple[str, str, str], GroupTally]) -> None:
    names = [p.name for p in KNOWN_PATTERNS]
    print("| label | generator | source | images | >= 256x256 | " + " | ".join(names) + " | closest (p) |")
    print("|---" * (6 + len(names)) + "|")
    for (label, generator, source), tally in sorted(groups.items()):
        closest = tally.best
        close = (f"{closest.pattern.replace('Stable Diffusion ', 'SD ')} {closest.bits_agreeing}/"
                 f"{closest.bits_compared} ({closest.false_alarm_probability:.2g})") if closest else "-"
        counts = " | ".join(str(tally.detected.get(n, 0)) for n in names)
        print(f"| {label} | {generator} | {source} | {tally.images} | {tally.checked} | {counts} | {close} |")
    real = [t for (label, _, _), t in groups.items() if label == "real"]
    checked = sum(t.checked for t in real)
    detections = sum(sum(t.detected.values()) for t in real)
    worst = min((t for t in real if t.best), key=lambda t: t.best.false_alarm_probability)
    print(f"\nreal images: {sum(t.images for t in real)}, checked {checked}, detections {detections}; "
          f"closest: {worst.best_file} {worst.best.pattern} {worst.best.bits_agreeing}/"
          f"{worst.best.bits_compared}, p={worst.best.false_alarm_probability:.3g}")
    # Calibration: without watermarks, uncorrected p <= a should happen at most a share a of the time.
    p_values = np.array([p for t in real for p in t.uncorrected])
    print(f"real-image tests ({p_values.size} image x pattern): uncorrected p <= 0.05 in "
          f"{np.mean(p_values <= 0.05):.1%}, <= 0.01 in {np.mean(p_values <= 0.01):.1%}, "
          f"<= 0.001 in {np.mean(p_values <= 0.001):.1%}")


def measure_jpeg_survival(seeds: int = 8) -> None:
    """Embed each pattern with imwatermark (on uint8 pixels, in the channel
    order its code uses) and report the detection rate after a PNG or Pillow
    JPEG round trip."""
    import cv2
    from imwatermark import WatermarkEncoder  # slow: imports torch; benchmark only

    rates: dict[tuple[str, str], list[bool]] = defaultdict(list)
    settings = [("PNG", None, None)] + [("JPEG", q, s) for s in (None, 0) for q in (95, 90, 80)]
    for seed in range(seeds):
        for height, width in ((512, 512), (768, 1024)):
            rgb = camera_like_photo(height, width, seed=100 + seed)
            for pattern in KNOWN_PATTERNS:
                encoder = WatermarkEncoder()
                encoder.set_watermark("bits", list(pattern.bits))
                if pattern.channel_order == "bgr":
                    marked = encoder.encode(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), "dwtDct")[:, :, ::-1].copy()
                else:  # the old diffusers / generative-models mistake: RGB handed over as if BGR
                    marked = encoder.encode(rgb.copy(), "dwtDct")
                for fmt, quality, subsampling in settings:
                    options = {} if subsampling is None else {"subsampling": subsampling}
                    data = encode(marked, fmt, quality=quality or 95, **options)
                    pixels = load_image(data).pixels_as_stored()
                    found = {c.pattern for c in check_patterns(pixels) if c.detected}
                    label = "PNG" if fmt == "PNG" else \
                        f"JPEG q{quality} {'4:2:0 (Pillow default)' if subsampling is None else '4:4:4'}"
                    rates[(pattern.name, label)].append(found == {pattern.name})
    for (name, label), hits in sorted(rates.items()):
        print(f"{name:22s} {label:30s} {sum(hits)}/{len(hits)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", type=Path, default=DEFAULT_DEV, help="developer image set folder")
    parser.add_argument("--jpeg", action="store_true", help="also measure JPEG survival (imports imwatermark)")
    args = parser.parse_args()
    print(f"4000x3000 image, median: check all {len(KNOWN_PATTERNS)} patterns {median_ms(check_patterns):.1f} ms; "
          f"one decode_vote_fractions {median_ms(lambda rgb: decode_vote_fractions(rgb, 48)):.1f} ms")
    if (args.dev / "manifest.csv").is_file():
        print_dev_table(measure_dev_set(args.dev))
    else:
        print(f"dev set not found at {args.dev}; skipped")
    if args.jpeg:
        measure_jpeg_survival()


if __name__ == "__main__":
    main()
