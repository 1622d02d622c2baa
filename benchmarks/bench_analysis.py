"""Benchmark: a full evidence-engine analysis against merely decoding the image.

For a 12-megapixel camera-style JPEG and a 1024x1024 PNG (both synthesised,
so the benchmark needs no files), reports the median wall time of

* decoding with Pillow (open + load), and
* a full analysis (safe loading, scan, examination, provenance, watermark,
  learned score, fusion) with a fresh engine cache each run,

their ratio, and the peak resident memory of a process that does only that
(measured in a fresh child process per image, beside its baseline after
imports).  Goal on a 2-core machine: 12 MP within 10x decode, under 1.5 GB.

    .venv/bin/python benchmarks/bench_analysis.py [--runs 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "camera-12mp.jpg": dict(height=3000, width=4000, fmt="JPEG"),
    "render-1024.png": dict(height=1024, width=1024, fmt="PNG"),
}


def make_image(path: Path, height: int, width: int, fmt: str) -> None:
    from PIL import Image

    from models.sample_images import camera_like_photo, encode

    exif = Image.Exif()
    if fmt == "JPEG":  # what a camera writes: make, model, exposure
        exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R6"
        exif[0x0112] = 1
    path.write_bytes(encode(camera_like_photo(height, width, seed=1), fmt, quality=92, exif=exif.tobytes()))


def peak_rss_mb() -> float:
    """This process's high-water resident memory (VmHWM: unlike ru_maxrss it
    is not inherited from the parent across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(path: Path, runs: int) -> dict:
    """Run in a fresh process: decode and analyse `runs` times, report medians and peak RSS."""
    from PIL import Image

    from models.evidence.engine import EvidenceEngine
    from models.image_input import load_image

    data = path.read_bytes()
    engine = EvidenceEngine()
    engine.analyze(load_image(data))  # warm-up: first-call imports and caches are not the steady state
    baseline_mb = peak_rss_mb()
    decode, analyse, stages = [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
        decode.append(time.perf_counter() - start)
        engine._cache.clear()  # measure the work, not the cache
        start = time.perf_counter()
        analysis = engine.analyze(load_image(data))
        analyse.append(time.perf_counter() - start)
        stages.append(analysis.timings)
    return {
        "image": path.name, "megapixels": round(analysis.width * analysis.height / 1e6, 2),
        "bytes": len(data), "runs": runs,
        "decode_median_s": statistics.median(decode),
        "analysis_median_s": statistics.median(analyse),
        "ratio": statistics.median(analyse) / statistics.median(decode),
        "stage_medians_s": {k: statistics.median(t.get(k, 0.0) for t in stages) for k in stages[0]},
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_warmup_mb": baseline_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.runs)))
        return
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for name, spec in CASES.items():
            path = Path(folder) / name
            make_image(path, **spec)
            done = subprocess.run([sys.executable, __file__, "--child", str(path), "--runs", str(args.runs)],
                                  capture_output=True, text=True, check=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{'image':18s} {'MP':>5s} {'decode':>8s} {'analysis':>9s} {'ratio':>6s} {'peak RSS':>9s} {'after warm-up':>13s}")
    for r in results:
        print(f"{r['image']:18s} {r['megapixels']:5.1f} {r['decode_median_s']:7.3f}s {r['analysis_median_s']:8.3f}s "
              f"{r['ratio']:5.1f}x {r['peak_rss_mb']:7.0f} MB {r['rss_after_warmup_mb']:10.0f} MB")
        print("    stages: " + ", ".join(f"{k} {v:.3f}s" for k, v in r["stage_medians_s"].items()))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
