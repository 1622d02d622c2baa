"""How often the scan proposes a region, on real photos and on planted composites.

    .venv/bin/python benchmarks/measure_scan.py ../shared/data/dev/manifest.csv

1. Every image of the manifest: the share that gets at least one region from
   the signal-map cues and the local-inconsistency maps (the learned model's tiles left out), per label and per
   whether the source was in the scan's calibration set (in-sample) or not.
2. Synthetic camera-like photos with a patch re-rendered at half resolution and
   upscaled 2x (models.sample_images.paste_resampled_patch), saved as PNG and
   as JPEG at qualities 95, 90 and 80: the share where a region overlaps the
   patch with IoU >= 0.3, and the share of the untouched photos with any region.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.evidence.dev_manifest import read_manifest  # noqa: E402
from models.evidence.image_signals import ImageSignals  # noqa: E402
from models.evidence.maps import map_input, measure_local_maps, measure_maps  # noqa: E402
from models.evidence.maps.calibration import LocalMapCalibration  # noqa: E402
from models.evidence.scan import ScanSettings, propose_regions  # noqa: E402
from models.evidence.scan_calibration import ScanCalibration  # noqa: E402
from models.evidence.signal_maps import PixelEvidence, measure_tiles  # noqa: E402
from models.image_input import ImageInputError, load_image  # noqa: E402
from models.sample_images import camera_like_photo, encode, paste_resampled_patch  # noqa: E402
from models.types import Box  # noqa: E402

CALIBRATION = ScanCalibration.load()
LOCAL_CALIBRATION = LocalMapCalibration.load()


def regions(rgb: np.ndarray, data: bytes | None = None):
    """The scan's cue and local-map regions (the learned model's tiles left out); `data`: the file,
    whose JPEG tables the JPEG-trace map reads."""
    image = load_image(data) if data is not None else None
    pixels = PixelEvidence.compute(rgb)
    local = (measure_local_maps(image, pixels) if image is not None
             else measure_maps(map_input(rgb, pixels)))
    return propose_regions(ImageSignals(pixels, measure_tiles(pixels), CALIBRATION, local_maps=local,
                                        local_calibration=LOCAL_CALIBRATION), ScanSettings())


def manifest_rates(manifest: Path) -> None:
    calibrated = set(CALIBRATION.record.get("sources", {}))
    counts: dict[str, list[bool]] = defaultdict(list)
    for entry in read_manifest(manifest):
        try:
            data = entry.path.read_bytes()
            rgb = load_image(data).rgb
        except (ImageInputError, OSError):
            continue
        label = "AI-generated" if entry.label else "real"
        sample = "in calibration set" if (entry.source in calibrated and not entry.label) else "not in calibration set"
        counts[f"{label}, {sample}"].append(bool(regions(rgb, data)))
    print("| images | n | with a region |\n| --- | ---: | ---: |")
    for name, hits in sorted(counts.items()):
        print(f"| {name} | {len(hits)} | {np.mean(hits):.0%} |")


def planted_rates(samples: int) -> None:
    found: dict[str, list[bool]] = defaultdict(list)
    clean = []
    for seed in range(samples):
        photo = camera_like_photo(768, 1024, seed=100 + seed)
        size = (128, 192, 256)[seed % 3]
        x, y = 50 + (seed * 53) % 600, 40 + (seed * 37) % 400
        patch = Box(x, y, x + size, y + size)
        composite = paste_resampled_patch(photo, patch)
        for name, fmt, quality in (("PNG", "PNG", 0), ("JPEG q95", "JPEG", 95), ("JPEG q90", "JPEG", 90),
                                   ("JPEG q80", "JPEG", 80)):
            data = encode(composite, fmt, quality=quality)
            rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            found[name].append(any(r.box.iou(patch) >= 0.3 for r in regions(rgb, data)))
        clean.append(bool(regions(photo)))
    print(f"\n{samples} synthetic photos, patch 128-256 px re-rendered at half resolution:\n")
    print("| saved as | patch boxed (IoU >= 0.3) |\n| --- | ---: |")
    for name, hits in found.items():
        print(f"| {name} | {np.mean(hits):.0%} |")
    print(f"| untouched photo, any region | {np.mean(clean):.0%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--planted-only", action="store_true", help="only part 2 (the synthetic composites)")
    args = parser.parse_args()
    if not args.planted_only:
        manifest_rates(args.manifest)
    planted_rates(args.samples)


if __name__ == "__main__":
    main()
