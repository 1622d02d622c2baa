"""Measure the evidence engine on a labelled image set, per provenance group.

    .venv/bin/python benchmarks/evaluate_engine.py ../shared/data/dev/manifest.csv [--out results.json]

Each image is analysed twice: as received, and with its provenance stripped
(pixels only, re-saved losslessly as PNG, so metadata and C2PA are gone) to
show what the pixels alone support.  The stripped copy also loses any uniform
four-sided frame: the CNNDetection thumbnails carry a frame whose colour gives
their label away (docs/signal-model.md), which says nothing about generation.  Reported per group
(`meta_flags` of the manifest: generator text, camera EXIF, C2PA, none) and per
source: how many verdicts were ai-generated / real / inconclusive, accuracy
where a verdict was given, ROC-AUC of the score, and how often regions were
proposed.  The images are read in place and never copied.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.evidence.dev_manifest import training_licence  # noqa: E402
from models.evidence.engine import EvidenceEngine  # noqa: E402
from models.evidence.signal_features import strip_uniform_frame  # noqa: E402
from models.image_input import ImageInputError, load_image  # noqa: E402


def provenance_group(meta_flags: str) -> str:
    if "png_text" in meta_flags:
        return "generator text chunk"
    if "c2pa_manifest" in meta_flags:
        return "C2PA manifest"
    if "exif_camera" in meta_flags:
        return "camera EXIF"
    return "no provenance"


def strip_provenance(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(strip_uniform_frame(rgb)).save(buffer, "PNG")
    return buffer.getvalue()


def auc(scores: list[float], labels: list[int]) -> float | None:
    scores_arr, labels_arr = np.asarray(scores), np.asarray(labels)
    positives, negatives = scores_arr[labels_arr == 1], scores_arr[labels_arr == 0]
    if positives.size == 0 or negatives.size == 0:
        return None
    greater = (positives[:, None] > negatives[None, :]).sum() + 0.5 * (positives[:, None] == negatives[None, :]).sum()
    return float(greater / (positives.size * negatives.size))


def summarise(records: list[dict], key: str) -> dict:
    groups: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        groups[record[key]].append(record)
    table = {}
    for name, members in sorted(groups.items()):
        row = {}
        for mode in ("received", "stripped"):
            verdicts = [m[mode]["verdict"] for m in members]
            labels = [m["label"] for m in members]
            decided = [(v, y) for v, y in zip(verdicts, labels) if v != "inconclusive"]
            correct = sum((v == "ai-generated") == (y == 1) for v, y in decided)
            row[mode] = {
                "n": len(members),
                "ai-generated": verdicts.count("ai-generated"), "real": verdicts.count("real"),
                "inconclusive": verdicts.count("inconclusive"),
                "accuracy_where_decided": round(correct / len(decided), 3) if decided else None,
                "auc": auc([m[mode]["score"] for m in members], labels),
                "with_regions": sum(m[mode]["regions"] > 0 for m in members),
            }
        table[name] = row
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--out", type=Path, help="write the per-image records and tables as JSON")
    args = parser.parse_args()
    rows = list(csv.DictReader(args.manifest.open(encoding="utf-8")))
    engine = EvidenceEngine()
    records = []
    for row in tqdm(rows, desc="evaluating", unit="image"):
        path = args.manifest.parent / row["file"]
        try:
            image = load_image(path)
        except ImageInputError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            continue
        received = engine.analyze(image)
        stripped = engine.analyze(load_image(strip_provenance(image.rgb), name=row["file"]))
        records.append({
            "file": row["file"], "label": 1 if row["label"] == "fake" else 0,
            "group": provenance_group(row.get("meta_flags", "")),
            # The signal model's training pool scores in-sample here; its held-out
            # figures are in docs/signal-model.md.
            "source": row["source_repo"] + (" (in signal-model training)" if training_licence(row["license"])
                                            else ""),
            "generator": row["generator"],
            **{mode: {"verdict": a.verdict, "score": a.score, "regions": len(a.regions),
                      "decided_by": next((e.source for e in a.evidence if e.decisive), None)}
               for mode, a in (("received", received), ("stripped", stripped))},
        })
    tables = {"by_group": summarise(records, "group"), "by_source": summarise(records, "source"),
              "all": summarise([{**r, "all": "all"} for r in records], "all")}
    for title, table in tables.items():
        print(f"\n## {title}")
        print("| group | mode | n | AI | real | inconclusive | accuracy where decided | AUC | with regions |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, row in table.items():
            for mode, m in row.items():
                acc = "-" if m["accuracy_where_decided"] is None else f"{m['accuracy_where_decided']:.3f}"
                auc_text = "-" if m["auc"] is None else f"{m['auc']:.3f}"
                print(f"| {name} | {mode} | {m['n']} | {m['ai-generated']} | {m['real']} | {m['inconclusive']} "
                      f"| {acc} | {auc_text} | {m['with_regions']} |")
    if args.out:
        args.out.write_text(json.dumps({"tables": tables, "records": records}, indent=1))


if __name__ == "__main__":
    main()
