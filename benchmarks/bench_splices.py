"""Benchmark: are pasted regions boxed, and are untouched photos left alone?

Built from the developer set alone (../shared/data/dev), split by dup_group:
a group's half ("tune" or "test", from a hash of its id) decides where its
images may be used, and the figures are measured on the "test" half only
(the local-map calibration, models/evidence/maps/calibration.py, reads the
"tune" half's real photos).

Each splice pastes, into a dev real photo (the host), either a crop of a dev
AI image or a crop of another real photo upscaled 2x, of a random size between
5% and 25% of the host's frame, with a hard edge or a feathered one, and saves
it as PNG and JPEG q95, q90 and q80.  The untouched host is saved the same
four ways.  Every file goes through the evidence engine's scan (stage 1, all
maps, the learned model's tiles included), and reports:

* the share of splices with a box of IoU >= 0.3 on the pasted region, per format;
* the same share among the splices whose host was a JPEG of a lower quality
  than the save (any quality, for PNG): only there does the rest of the frame
  keep a first compression that the patch lacks.  A never-compressed host
  (CBSD68, Kodak24) or a camera JPEG at q90 and up, saved once at q80, leaves
  the patch and the photo with one compression each;
* the share of untouched photos with any box, per format.

    .venv/bin/python benchmarks/bench_splices.py ../shared/data/dev/manifest.csv [--splices 60] [--json out.json]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.evidence.dev_manifest import ManifestEntry, read_manifest  # noqa: E402
from models.evidence.maps.calibration import half_of  # noqa: E402
from models.image_input import ImageInputError, LoadedImage, load_image  # noqa: E402
from models.types import Box  # noqa: E402

FORMATS = (("PNG", "PNG", 0), ("q95", "JPEG", 95), ("q90", "JPEG", 90), ("q80", "JPEG", 80))
MIN_HOST_SIDE = 256


def _loaded(entry: ManifestEntry) -> LoadedImage | None:
    """The entry's LoadedImage, or None where unreadable or smaller than MIN_HOST_SIDE."""
    try:
        image = load_image(entry.path)
    except ImageInputError:
        return None
    return image if min(image.rgb.shape[:2]) >= MIN_HOST_SIDE else None


def _rgb(entry: ManifestEntry) -> np.ndarray | None:
    image = _loaded(entry)
    return None if image is None else image.rgb


def jpeg_quality_of(image: LoadedImage) -> int | None:
    """A loaded file's own JPEG quality (estimated from its luma table), None if not a JPEG."""
    from models.evidence.maps.jpeg_tables import estimated_quality

    luma = (image.jpeg_quantization or {}).get(0)
    return estimated_quality(np.array(luma, np.float32)) if luma else None


def make_splice(host: np.ndarray, donor: np.ndarray, upscale: bool, feather: bool,
                rng: np.random.Generator) -> tuple[np.ndarray, Box]:
    """Paste a crop of `donor` (upscaled 2x when `upscale`) into `host`; the pasted box."""
    height, width = host.shape[:2]
    area = rng.uniform(0.05, 0.25) * height * width
    aspect = rng.uniform(0.6, 1.6)
    patch_w = int(min(width - 2, max(32, np.sqrt(area * aspect))))
    patch_h = int(min(height - 2, max(32, area / patch_w)))
    source_w, source_h = (patch_w + 1) // 2 if upscale else patch_w, (patch_h + 1) // 2 if upscale else patch_h
    if donor.shape[0] < source_h or donor.shape[1] < source_w:  # a small donor: enlarge it to fit
        factor = max(source_h / donor.shape[0], source_w / donor.shape[1]) * 1.01
        donor = cv2.resize(donor, (int(np.ceil(donor.shape[1] * factor)), int(np.ceil(donor.shape[0] * factor))),
                           interpolation=cv2.INTER_CUBIC)
    dy = int(rng.integers(0, donor.shape[0] - source_h + 1))
    dx = int(rng.integers(0, donor.shape[1] - source_w + 1))
    patch = donor[dy:dy + source_h, dx:dx + source_w]
    if upscale:
        patch = cv2.resize(patch, (source_w * 2, source_h * 2), interpolation=cv2.INTER_CUBIC)
    patch = patch[:patch_h, :patch_w].astype(np.float32)
    y = int(rng.integers(0, height - patch_h + 1))
    x = int(rng.integers(0, width - patch_w + 1))
    alpha = np.ones((patch_h, patch_w), np.float32)
    if feather:  # a soft edge over ~6% of the patch's short side, as a careful editor blends
        edge = max(2, int(0.06 * min(patch_h, patch_w)))
        ramp_y = np.minimum(np.arange(patch_h), np.arange(patch_h)[::-1]) / edge
        ramp_x = np.minimum(np.arange(patch_w), np.arange(patch_w)[::-1]) / edge
        alpha = np.clip(np.minimum(ramp_y[:, None], ramp_x[None, :]), 0, 1).astype(np.float32)
    out = host.astype(np.float32)
    region = out[y:y + patch_h, x:x + patch_w]
    out[y:y + patch_h, x:x + patch_w] = alpha[..., None] * patch + (1 - alpha[..., None]) * region
    return np.clip(np.round(out), 0, 255).astype(np.uint8), Box(x, y, x + patch_w, y + patch_h)


def encode(rgb: np.ndarray, fmt: str, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def run(manifest: Path, splices: int, seed: int, half: str = "test") -> dict:
    from models.evidence.engine import EvidenceEngine

    entries = [e for e in read_manifest(manifest) if half_of(e.group) == half]
    hosts = [e for e in entries if e.label == 0]
    ai = [e for e in entries if e.label == 1]
    rng = np.random.default_rng(seed)
    engine = EvidenceEngine()
    boxed: dict[str, list[bool]] = defaultdict(list)
    first_shows: dict[str, list[bool]] = defaultdict(list)
    by_kind: dict[str, list[bool]] = defaultdict(list)
    clean: dict[str, list[bool]] = defaultdict(list)
    seen_hosts: set[str] = set()
    hit_labels: Counter = Counter()
    false_labels: Counter = Counter()
    each: list[dict] = []   # one row per splice and format: what a miss looked like
    start = time.perf_counter()
    made = 0
    for attempt in range(splices * 4):
        if made >= splices:
            break
        host_entry = hosts[int(rng.integers(len(hosts)))]
        host_image = _loaded(host_entry)
        host = None if host_image is None else host_image.rgb
        upscale = bool(attempt % 2)
        donors = [e for e in (hosts if upscale else ai) if e.group != host_entry.group]
        donor = _rgb(donors[int(rng.integers(len(donors)))]) if donors else None
        if host is None or donor is None:
            continue
        feather = bool(rng.integers(2))
        composite, box = make_splice(host, donor, upscale, feather, rng)
        made += 1
        kind = ("upscaled real" if upscale else "AI crop") + (", feathered" if feather else ", hard edge")
        host_quality = jpeg_quality_of(host_image)
        for name, fmt, quality in FORMATS:
            regions = engine.scan(load_image(encode(composite, fmt, quality)))
            hit = any(r.box.iou(box) >= 0.3 for r in regions)
            boxed[name].append(hit)
            # Where the host was a JPEG of a lower quality than this save (any quality, for a
            # lossless save), the rest of the frame keeps a first compression the patch lacks.
            if host_quality is not None and (fmt != "JPEG" or host_quality < quality):
                first_shows[name].append(hit)
            each.append({"format": name, "kind": kind, "host": str(host_entry.path),
                         "host_size": list(host.shape[1::-1]), "host_quality": host_quality, "box": box.to_list(),
                         "share": round(box.area / (host.shape[0] * host.shape[1]), 3), "hit": hit,
                         "best_iou": round(max((r.box.iou(box) for r in regions), default=0.0), 3),
                         "boxes": [[r.label, round(r.score, 3)] for r in regions]})
            by_kind[f"{name} {kind}"].append(hit)
            for region in regions:
                if region.box.iou(box) >= 0.3:
                    hit_labels[region.label] += 1
            if str(host_entry.path) not in seen_hosts:
                false_regions = engine.scan(load_image(encode(host, fmt, quality)))
                clean[name].append(bool(false_regions))
                for region in false_regions:
                    false_labels[region.label] += 1
        seen_hosts.add(str(host_entry.path))
    return {
        "splices": made, "untouched_hosts": len(seen_hosts), "seconds": round(time.perf_counter() - start, 1),
        "boxed_iou_0.3": {k: float(np.mean(v)) for k, v in boxed.items()},
        "boxed_where_a_first_compression_shows": {k: [float(np.mean(v)), len(v)] for k, v in first_shows.items()},
        "boxed_by_kind": {k: [float(np.mean(v)), len(v)] for k, v in sorted(by_kind.items())},
        "untouched_with_any_box": {k: float(np.mean(v)) for k, v in clean.items()},
        "labels_of_hits": dict(hit_labels.most_common()),
        "labels_of_boxes_on_untouched": dict(false_labels.most_common()),
        "untouched_with_any_box_all_formats": float(np.mean([any(v) for v in zip(*clean.values())])) if clean else 0.0,
        "half": half, "each": each,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--splices", type=int, default=60)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--half", choices=("test", "tune"), default="test",
                        help="which half of the dup_groups to build from: the figures are the test half's; "
                             "try changes on the tune half")
    args = parser.parse_args()
    result = run(args.manifest, args.splices, args.seed, args.half)
    print(f"{result['splices']} splices into {result['untouched_hosts']} real photos of the {args.half} half "
          f"({result['seconds']} s)\n")
    print("| saved as | pasted region boxed (IoU >= 0.3) | of those whose host was a coarser JPEG | "
          "untouched photos with any box |\n| --- | ---: | ---: | ---: |")
    for name, _, _ in FORMATS:
        share, count = result["boxed_where_a_first_compression_shows"].get(name, [0.0, 0])
        print(f"| {name} | {result['boxed_iou_0.3'][name]:.0%} | {share:.0%} of {count} | "
              f"{result['untouched_with_any_box'][name]:.0%} |")
    print(f"\nuntouched photos with a box in any format: {result['untouched_with_any_box_all_formats']:.0%}")
    for kind, (share, n) in result["boxed_by_kind"].items():
        print(f"  {kind}: {share:.0%} of {n}")
    print(f"boxes on the pasted region, by label: {result['labels_of_hits']}")
    print(f"boxes on untouched photos, by label: {result['labels_of_boxes_on_untouched']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
