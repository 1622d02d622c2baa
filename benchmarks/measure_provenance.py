"""Count what the provenance readers (C2PA, generator/camera metadata) say on a
labelled image set, per manifest `meta_flags` group and label.

    .venv/bin/python benchmarks/measure_provenance.py ../shared/data/dev/manifest.csv [--trust-anchors PEM]

Each image falls in one outcome, the strongest of its evidence: decisive ai,
decisive real, weak ai, weak real, neither (informative only), none.  The
files are read in place and never copied.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.evidence.c2pa_credentials import read_content_credentials  # noqa: E402
from models.evidence.generator_metadata import read_generator_metadata  # noqa: E402
from models.image_input import ImageInputError, load_image  # noqa: E402
from models.types import Evidence  # noqa: E402

OUTCOMES = ("decisive ai", "decisive real", "weak ai", "weak real", "neither", "none", "error")


def outcome(evidence: list[Evidence]) -> str:
    for supports, decisive, name in (("ai-generated", True, "decisive ai"), ("real", True, "decisive real"),
                                     ("ai-generated", False, "weak ai"), ("real", False, "weak real")):
        if any(e.supports == supports and e.decisive == decisive for e in evidence):
            return name
    return "neither" if evidence else "none"


def flag_group(meta_flags: str) -> str:
    flags = [f for f in meta_flags.split(";") if f]
    for prefix in ("png_text:", "c2pa_manifest", "exif_camera:"):
        hit = next((f for f in flags if f.startswith(prefix)), None)
        if hit:
            return "exif_camera:*" if prefix == "exif_camera:" else hit
    return "+".join(flags) or "none"


def measure(manifest: Path, trust_anchors: str | None) -> dict:
    root = manifest.parent
    with open(manifest, newline="") as handle:
        rows = list(csv.DictReader(handle))
    counts: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
    errors: list[str] = []
    timing = {"c2pa": 0.0, "metadata": 0.0}
    for row in rows:
        group = (flag_group(row["meta_flags"]), row["label"])
        try:
            image = load_image(root / row["file"])
        except ImageInputError as exc:
            errors.append(f"{row['file']}: {exc}")
            for reader in ("c2pa", "metadata", "both"):
                counts[(reader, *group)]["error"] += 1
            continue
        results = {}
        for reader, read in (("c2pa", lambda: read_content_credentials(image, trust_anchors)),
                             ("metadata", lambda: read_generator_metadata(image))):
            start = time.perf_counter()
            try:
                results[reader] = read()
            except Exception as exc:  # a reader that raises is a bug worth counting, not a crash
                errors.append(f"{row['file']}: {reader} raised {type(exc).__name__}: {exc}")
                results[reader] = None
            timing[reader] += time.perf_counter() - start
        for reader, evidence in results.items():
            counts[(reader, *group)]["error" if evidence is None else outcome(evidence)] += 1
        both = [e for evidence in results.values() if evidence for e in evidence]
        counts[("both", *group)][outcome(both)] += 1
    return {"rows": len(rows), "counts": counts, "errors": errors, "timing": timing}


def print_table(result: dict) -> None:
    print(f"{result['rows']} images; reader time: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in result["timing"].items()))
    for reader in ("c2pa", "metadata", "both"):
        print(f"\n### {reader}\n")
        print("| meta_flags group | label | n | " + " | ".join(OUTCOMES) + " |")
        print("|---|---|---:|" + "---:|" * len(OUTCOMES))
        for (name, group, label), counter in sorted(
                (k, v) for k, v in result["counts"].items() if k[0] == reader):
            cells = " | ".join(str(counter.get(o, 0) or "") for o in OUTCOMES)
            print(f"| {group} | {label} | {sum(counter.values())} | {cells} |")
    print(f"\nerrors: {len(result['errors'])}")
    for line in result["errors"][:50]:
        print(f"- {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--trust-anchors", default=None, help="PEM file of trusted C2PA roots")
    args = parser.parse_args()
    print_table(measure(args.manifest, args.trust_anchors))


if __name__ == "__main__":
    main()
