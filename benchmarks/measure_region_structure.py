"""Item 4 of issue 13: on fully generated images, do the boxes sit on structure or on smooth background?

For the AI-generated images of the developer set's "test" half (dup_group
split, models/evidence/maps/calibration.py), the evidence engine's scan is run
twice: with the structure rule (the learned model's tile boxes must have at
least MIN_STRUCTURED_SHARE of structured 8x8 blocks, models/evidence/scan.py)
and without it.  Reported: images with any box, and the share of top boxes
(rank 1) and of all boxes that lie on low-structure areas (fewer than that share
of their blocks structured: sky, background blur, flat walls).

    .venv/bin/python benchmarks/measure_region_structure.py ../shared/data/dev/manifest.csv [--images 80]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.evidence import scan  # noqa: E402
from models.evidence.dev_manifest import read_manifest  # noqa: E402
from models.evidence.maps.calibration import half_of  # noqa: E402
from models.image_input import ImageInputError, load_image  # noqa: E402


def measure(entries, rule: bool) -> dict:
    from models.evidence.engine import EvidenceEngine

    saved = scan.MIN_STRUCTURED_SHARE
    scan.MIN_STRUCTURED_SHARE = saved if rule else 0.0
    try:
        engine = EvidenceEngine()
        top, every, boxed = [], [], 0
        for entry in entries:
            try:
                image = load_image(entry.path)
            except ImageInputError:
                continue
            regions = engine.scan(image)
            signals = engine._measure(image).signals
            flat = [scan.structured_share(signals, r.box) < saved for r in regions]
            boxed += bool(regions)
            top += flat[:1]
            every += flat
    finally:
        scan.MIN_STRUCTURED_SHARE = saved
    return {"images": len(entries), "with_a_box": boxed, "top_boxes": len(top),
            "top_on_low_structure": float(np.mean(top)) if top else 0.0,
            "boxes": len(every), "all_on_low_structure": float(np.mean(every)) if every else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--images", type=int, default=80)
    args = parser.parse_args()
    entries = [e for e in read_manifest(args.manifest) if e.label == 1 and half_of(e.group) == "test"]
    entries = entries[:: max(1, len(entries) // args.images)][: args.images]
    print("| structure rule | AI images | with a box | top boxes on low structure | all boxes on low structure |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for rule in (False, True):
        r = measure(entries, rule)
        print(f"| {'on' if rule else 'off'} | {r['images']} | {r['with_a_box']} | "
              f"{r['top_on_low_structure']:.0%} of {r['top_boxes']} | {r['all_on_low_structure']:.0%} of {r['boxes']} |")


if __name__ == "__main__":
    main()
