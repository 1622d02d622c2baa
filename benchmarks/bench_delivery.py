"""Benchmark: the evidence engine's verdicts on developer images as they are delivered.

    nice -n 10 .venv/bin/python benchmarks/bench_delivery.py ../shared/data/dev/manifest.csv \
        [--fraction 0.5] [--compare-thresholds 0.819,none] [--json out.json]

Every image of the manifest (or the images of a seeded share of its
dup_groups: near-duplicates stay together) is analysed as received and after
each transform of models.evidence.delivery_transforms (JPEG 95/85/75/60,
downscale to 1080 and 720 px, a 5% crop, a letterbox, a screen-size PNG
capture, a messenger's resize + q75).  Reported, for the shipped engine:

- real photos called ai-generated under any version (goal <= 0.5%);
- precision of ai-generated calls on sources left out of the signal model's
  training (the evaluation-only sources; goal >= 0.95);
- images whose versions get both an ai-generated and a real verdict (flips; goal 0);
- how many versions end can't-tell (the price).

The verdict is computed from the image-level evidence alone (file checks,
signal score, delivery check, fusion) without the region scan, which costs
most of an analysis: regions can only hold back a `real` call, and no
threshold measured here calls real (the run refuses one that does unless
--full runs the whole engine per version).

--compare-thresholds re-decides the same signal scores at other thresholds
(e.g. the ones chosen on held-out groups before issue 13) twice: without the
delivery check and with it, so what each rule buys is measured on the same
images.  The images are read in place and never copied.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.evidence.delivery import DELIVERY_SOURCE, assess_delivery  # noqa: E402
from models.evidence.delivery_transforms import TRANSFORMS  # noqa: E402
from models.evidence.dev_manifest import read_manifest  # noqa: E402
from models.evidence.engine import EvidenceEngine  # noqa: E402
from models.evidence.fusion import fuse  # noqa: E402
from models.types import Analysis  # noqa: E402
from models.evidence.signal_model import DEFAULT_WEIGHTS, SignalModel, SignalScore, signal_evidence  # noqa: E402
from models.image_input import ImageInputError, load_image  # noqa: E402

VERSIONS = ("received", *TRANSFORMS)


def chosen_groups(entries: list, fraction: float, seed: int) -> set[str]:
    """A seeded share of the dup_groups (by hash, so independent of file order)."""
    def share(group: str) -> float:
        return int(hashlib.sha1(f"{seed}:{group}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return {e.group for e in entries if share(e.group) < fraction}


def model_with_thresholds(ai: float | None, real: float | None) -> SignalModel:
    data = json.loads(DEFAULT_WEIGHTS.read_text())
    grouped = data["metrics"]["grouped_cv"]["overall"]["at_thresholds"]
    data["thresholds"].update(ai_threshold=ai, real_threshold=real, ai=grouped.get("ai"), real=grouped.get("real"),
                              on_unseen_sources={})
    return SignalModel.from_dict(data, "comparison thresholds")


def compared_verdicts(image, analysis, model: SignalModel) -> dict[str, str]:
    """The same signal score decided at the comparison thresholds, fused without
    and with the delivery check (file evidence and regions as the engine found them)."""
    signal = next((e for e in analysis.evidence if e.source == "signal-model"), None)
    files = [e for e in analysis.evidence if e.source not in ("signal-model", DELIVERY_SOURCE)]
    if signal is None:
        verdict = fuse(files, analysis.regions).verdict
        return {"without_delivery": verdict, "with_delivery": verdict}
    p = float(signal.details["probability"])
    decision = "inconclusive" if signal.details.get("too_small") else model.thresholds.decide(p)
    score = SignalScore(p, None, decision, {**signal.details, "decision": decision})
    leaning = signal_evidence(score, model)
    without = fuse([*files, leaning], analysis.regions).verdict
    delivery = assess_delivery(image.rgb, image.format, image.jpeg_quantization, [*files, leaning], score, model)
    with_check = fuse([*files, leaning, *([delivery] if delivery else [])], analysis.regions).verdict
    return {"without_delivery": without, "with_delivery": with_check}


def verdict_only(engine: EvidenceEngine, image) -> Analysis:
    """What engine.analyze decides, without the scan (see the module docstring)."""
    evidence = engine._read_file_evidence(image, {}, [])
    score = engine.signal_model.score(image.rgb)
    evidence.append(signal_evidence(score, engine.signal_model))
    delivery = assess_delivery(image.rgb, image.format, image.jpeg_quantization, evidence, score, engine.signal_model)
    evidence += [delivery] if delivery else []
    fusion = fuse(evidence, [])
    return Analysis(file=image.name, sha256=image.sha256, size_bytes=image.size_bytes, format=image.format,
                    width=image.width, height=image.height, verdict=fusion.verdict, score=fusion.score, regions=[],
                    evidence=evidence, explanation=fusion.explanation, backend="evidence (no scan)",
                    backend_version=engine.version)


def analyse_entry(entry, engine: EvidenceEngine, compare: SignalModel | None, full: bool) -> dict:
    data = entry.path.read_bytes()
    record = {"file": str(entry.path.name), "label": entry.label, "source": entry.source,
              "trainable": entry.trainable, "group": entry.group, "versions": {}}
    try:
        original = load_image(data, name=entry.path.name)
    except ImageInputError as exc:
        record["error"] = str(exc)
        return record
    for version in VERSIONS:
        try:
            blob = data if version == "received" else TRANSFORMS[version](original.rgb)
            image = load_image(blob, name=f"{entry.path.stem}-{version}")
        except (ImageInputError, ValueError, OSError) as exc:
            record["versions"][version] = {"error": str(exc)}
            continue
        start = time.perf_counter()
        analysis = engine.analyze(image) if full else verdict_only(engine, image)
        signal = next((e for e in analysis.evidence if e.source == "signal-model"), None)
        delivery = next((e for e in analysis.evidence if e.source == DELIVERY_SOURCE), None)
        row = {"verdict": analysis.verdict, "seconds": round(time.perf_counter() - start, 3),
               "p_ai": signal.details.get("probability") if signal else None,
               "delivery_limits": delivery.details.get("limits") if delivery else None}
        if compare is not None:
            row["compared"] = compared_verdicts(image, analysis, compare)
        record["versions"][version] = row
    return record


def summarise(records: list[dict], pick) -> dict:
    """The issue's figures for one way of deciding (pick: version row -> verdict)."""
    real = [r for r in records if r["label"] == 0 and r["versions"]]
    fake = [r for r in records if r["label"] == 1 and r["versions"]]
    verdicts = lambda r: [pick(v) for v in r["versions"].values() if "verdict" in v]  # noqa: E731
    real_any_ai = [r["file"] for r in real if "ai-generated" in verdicts(r)]
    flips = [r["file"] for r in records if {"ai-generated", "real"} <= set(verdicts(r))]

    def precision(rows: list[dict]) -> dict:
        calls = [(r["label"], v) for r in rows for v in verdicts(r) if v == "ai-generated"]
        tp = sum(label == 1 for label, _ in calls)
        return {"ai_calls": len(calls), "precision": round(tp / len(calls), 4) if calls else None}

    every = [v for r in records for v in verdicts(r)]
    counts = Counter(every)
    per_version = {version: dict(Counter(pick(r["versions"][version]) for r in records
                                         if "verdict" in r["versions"].get(version, {})))
                   for version in VERSIONS}
    real_ai_by_version = {version: sum(pick(r["versions"][version]) == "ai-generated" for r in real
                                       if "verdict" in r["versions"].get(version, {})) for version in VERSIONS}
    # Of the images called as received, how many get another verdict under each transform.
    called = [r for r in records if "verdict" in r["versions"].get("received", {})
              and pick(r["versions"]["received"]) != "inconclusive"]
    changed = {version: sum(pick(r["versions"][version]) != pick(r["versions"]["received"]) for r in called
                            if "verdict" in r["versions"].get(version, {})) for version in VERSIONS[1:]}
    return {
        "images": {"real": len(real), "ai": len(fake)}, "versions": len(every),
        "called_as_received": len(called), "calls_changed_by_version": changed,
        "real_called_ai_any_version": {"n": len(real_any_ai), "share": round(len(real_any_ai) / max(len(real), 1), 4),
                                       "files": real_any_ai},
        "ai_precision_left_out_sources": precision([r for r in records if not r["trainable"]]),
        "ai_precision_training_sources": precision([r for r in records if r["trainable"]]),
        "flips": {"n": len(flips), "files": flips},
        "verdicts": dict(counts), "cant_tell_share": round(counts["inconclusive"] / max(len(every), 1), 4),
        "per_version": per_version, "real_called_ai_per_version": real_ai_by_version,
    }


def table(name: str, s: dict) -> str:
    r, left, seen = s["real_called_ai_any_version"], s["ai_precision_left_out_sources"], \
        s["ai_precision_training_sources"]
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    return (f"| {name} | {r['n']}/{s['images']['real']} ({r['share']:.1%}) | {fmt(left['precision'])} "
            f"({left['ai_calls']} calls) | {fmt(seen['precision'])} ({seen['ai_calls']}) | {s['flips']['n']} | "
            f"{s['cant_tell_share']:.1%} of {s['versions']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--fraction", type=float, default=1.0, help="share of dup_groups to run (seeded)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare-thresholds", default=None, help="AI,REAL thresholds to compare ('none' for a side)")
    parser.add_argument("--full", action="store_true", help="run the whole engine (scan included) per version")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    entries = read_manifest(args.manifest)
    groups = chosen_groups(entries, args.fraction, args.seed)
    entries = [e for e in entries if e.group in groups]
    compare = None
    if args.compare_thresholds:
        ai, real = (None if v.strip().lower() == "none" else float(v) for v in args.compare_thresholds.split(","))
        compare = model_with_thresholds(ai, real)
    engine = EvidenceEngine()
    calls_real = [m for m in (engine.signal_model, compare) if m is not None and m.thresholds.real_threshold is not None]
    if calls_real and not args.full:
        parser.error("a threshold calls real, so regions matter to the verdict: run with --full")
    start = time.perf_counter()
    records = [analyse_entry(e, engine, compare, args.full) for e in tqdm(entries, desc="images")]
    results = {"manifest": str(args.manifest), "fraction": args.fraction, "seed": args.seed, "full": args.full,
               "images": len(records), "transforms": list(TRANSFORMS), "seconds": round(time.perf_counter() - start),
               "shipped": summarise(records, lambda v: v["verdict"])}
    lines = ["| rule | real photos called AI, any version | AI precision, left-out sources | "
             "AI precision, training sources | AI↔real flips | can't-tell |", "|---|---|---|---|---|---|",
             table("shipped (out-of-source thresholds + delivery check)", results["shipped"])]
    if compare is not None:
        for key in ("without_delivery", "with_delivery"):
            results[f"compared_{key}"] = summarise(records, lambda v, k=key: v["compared"][k])
            lines.append(table(f"thresholds {args.compare_thresholds}, {key.replace('_', ' ')}",
                               results[f"compared_{key}"]))
    print("\n".join(lines))
    print(f"{len(records)} images x {len(VERSIONS)} versions in {results['seconds']} s")
    if args.json:
        args.json.write_text(json.dumps({**results, "records": records}, indent=1))


if __name__ == "__main__":
    main()
