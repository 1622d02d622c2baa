"""PDF report benchmark: export one case with 5 regions and 3 questions.

    .venv/bin/python benchmarks/bench_report.py [--width 4000 --height 3000] [--repeat 9]

The case is built through the case store's API in a temporary SQLite store:
a camera-like JPEG (12 megapixels by default), analysed by the evidence
engine, its regions set to exactly 5 (the engine's, then synthetic ones), one
analyst confirmation and 3 questions.  Each timing is a whole
export_case_report call: reading the case, re-hashing and decoding the
evidence file, drawing the boxes and crops, laying out the PDF, writing it
and recording it in the store.  Target: median under 1.5 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exports import export_case_report
from models.sample_images import camera_like_photo, encode
from models.types import Box, Region
from storage import CaseStore
from zoomin_ui import service

TARGET_S = 1.5
REGIONS = 5
QUESTIONS = 3


def build_case(store: CaseStore, image_path: Path) -> int:
    detector = service.open_detector("evidence")
    analysis = service.analyze_file(detector, str(image_path))
    width, height = analysis.width, analysis.height
    regions = list(analysis.regions[:REGIONS])
    for index in range(len(regions), REGIONS):
        x, y = width * (0.1 + 0.15 * index), height * (0.1 + 0.12 * index)
        regions.append(Region(box=Box(x, y, x + width * 0.12, y + height * 0.12), score=0.5 + 0.08 * index,
                              label=f"synthetic cue {index + 1}", explanation="benchmark region " * 12,
                              id=f"r{index + 1}"))
    analysis.regions = regions
    intake = store.open_case_with_evidence("Benchmark case", image_path, "bench")
    run = store.start_analysis(intake.record.case_id, intake.record.id, service.backend_info(detector), "bench")
    done = store.finish_analysis(run.id, analysis)
    ids = [region.id for region in done.regions]
    store.edit_region(ids[0], "bench", status="confirmed")
    for number in range(QUESTIONS):
        store.add_question(ids[number + 1], "bench", f"Is region {number + 2} consistent with the rest?",
                           "The noise level there is 1.9x lower than elsewhere at the same brightness.",
                           "evidence")
    return intake.record.case_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="zoomin-bench-report-") as folder, \
            CaseStore.open(Path(folder) / "home") as store:
        image = Path(folder) / "camera.jpg"
        image.write_bytes(encode(camera_like_photo(args.height, args.width, seed=5), "JPEG", quality=92))
        image_bytes = image.stat().st_size
        case_id = build_case(store, image)
        export_case_report(store, case_id, Path(folder) / "warm-up.pdf", "bench")  # fonts, imports
        samples, pages, size = [], 0, 0
        for run in range(args.repeat):
            start = time.perf_counter()
            written = export_case_report(store, case_id, Path(folder) / f"report-{run}.pdf", "bench")
            samples.append(time.perf_counter() - start)
            pages, size = written.pages, written.size_bytes
    median = statistics.median(samples)
    print(f"image {args.width}x{args.height} JPEG ({image_bytes:,} bytes), "
          f"{REGIONS} regions, {QUESTIONS} questions -> {pages} pages, {size:,} bytes")
    print(f"export: median {median:.3f} s, min {min(samples):.3f} s, max {max(samples):.3f} s over "
          f"{args.repeat} runs (target < {TARGET_S} s): {'OK' if median < TARGET_S else 'TOO SLOW'}")
    return 0 if median < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
