"""Benchmark: the case store as the newsroom's memory (issue 15).

recall   One dev image per dup_group, split by a hash of the group: the "stored" half is
         taken into a throw-away store; every stored image is looked up again after each
         transform (JPEG q50-95, resize 25-100 %, crops keeping 80-95 % of each side at a
         random place, heavy crops keeping 60-70 % reported apart, mirror, screenshot-like
         padding, a caption band).  Recall: the share of copies whose own case is found.
         False matches: the "unrelated" half's originals looked up against the stored half
         (share of pairs matched), and any other case matched by a transformed copy.
lookup   A SQLite (or --database-url PostgreSQL) store filled with N hashes (bulk insert, index
         and key counts built after; 1/65 PDQ, the rest keypoint descriptors, 65 per owner as
         intake stores a picture) plus the stored half of the dev images; the median time of
         the whole `seen_before` lookup (hashing the query included) over real dev pictures, a
         JPEG q75 copy of each and, with --crops, a cropped one too.  --fill random: random
         hashes (no two share a key); --fill pictures: the hashes of random windows of the dev
         pictures no query comes from (real corners, which share generic keys; ~27 windows of
         each of ~560 pictures at 1M, so a corner of one picture is stored up to ~27 times,
         harsher on the stop list than a store of 15,000 distinct pictures).
cases    A store with C decided dev cases (final verdict = the dev label, released as training
         data) -> `records_from_cases` -> a JSON Lines dataset checked by `zoomin dataset validate`;
         the signal score re-fitted on its train split (`train_signal_model`, as `zoomin
         train-signal` does) and compared with the shipped one on its test split
         (models/evaluation/versions.py, as `zoomin dataset compare-versions`).

    .venv/bin/python benchmarks/bench_memory.py ../shared/data/dev/manifest.csv \
        [--images 120] [--offset 0] [--hashes 1000000] [--fill random|pictures] [--crops]
        [--cases 200] [--parts recall,lookup,cases]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import multiprocessing
import random
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps
from sqlalchemy import func, insert, select, text

from models.dataset.from_cases import records_from_cases
from models.dataset.jsonl import dataset_problems, write_dataset
from models.evaluation.versions import compare_versions, split_images, versions_table
from models.evidence.signal_model import SignalModel
from models.evidence.train_signal import train_signal_model
from models.similarity.hashes import bands, image_hashes
from storage import CaseStore
from storage import memory as storage_memory
from storage import hash_keys, similarity
from storage.tables import BAND_COLUMNS, HashListEntryRow, HashListRow, PerceptualHashRow
from zoomin_ui import memory


def _jpeg(picture: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _crop(picture: Image.Image, keep: float, rng: random.Random) -> Image.Image:
    width, height = int(picture.width * keep), int(picture.height * keep)
    x, y = rng.randint(0, picture.width - width), rng.randint(0, picture.height - height)
    return picture.crop((x, y, x + width, y + height))


def _padded(picture: Image.Image, rng: random.Random) -> Image.Image:
    side, top, bottom = rng.uniform(0.03, 0.15), rng.uniform(0.08, 0.25), rng.uniform(0.05, 0.2)
    canvas = Image.new("RGB", (int(picture.width * (1 + 2 * side)), int(picture.height * (1 + top + bottom))),
                       rng.choice([(255, 255, 255), (20, 20, 24), (240, 242, 245)]))
    canvas.paste(picture, (int(picture.width * side), int(picture.height * top)))
    return canvas


def _captioned(picture: Image.Image, rng: random.Random) -> Image.Image:
    out = picture.copy()
    draw = ImageDraw.Draw(out)
    band = int(out.height * rng.uniform(0.06, 0.12))
    draw.rectangle((0, out.height - band, out.width, out.height), fill=(0, 0, 0))
    draw.text((8, out.height - band + 4), "BREAKING: SHARED 10,000 TIMES", fill=(255, 255, 255))
    return out


FAMILIES = {
    "jpeg q50-95": lambda p, r: _jpeg(p, r.choice([50, 60, 75, 85, 95])),
    "resize 25-100%": lambda p, r: p.resize((max(16, int(p.width * (s := r.uniform(0.25, 1.0)))),
                                             max(16, int(p.height * s)))),
    "crop <=20%": lambda p, r: _crop(p, r.uniform(0.80, 0.95), r),
    "heavy crop 30-40%": lambda p, r: _crop(p, r.uniform(0.60, 0.70), r),
    "mirror": lambda p, r: ImageOps.mirror(p),
    "screenshot padding": _padded,
    "text overlay": _captioned,
}


def _picks(manifest: Path, count: int) -> tuple[list[Path], list[Path]]:
    rows = list(csv.DictReader(manifest.open()))
    by_group: dict[str, dict] = {}
    for row in rows:
        by_group.setdefault(row["dup_group"], row)
    stored, unrelated = [], []
    for group, row in sorted(by_group.items()):
        half = stored if int(hashlib.sha256(group.encode()).hexdigest()[:4], 16) % 2 == 0 else unrelated
        half.append(manifest.parent / row["file"])
    return stored[:count], unrelated[:count]


def _encode(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def bench_recall(manifest: Path, count: int, offset: int = 0) -> dict:
    """`offset` skips that many groups of each half: --offset 0 and --offset 120 (with --images
    120) are two disjoint splits by dup_group, one to set the rules on and one held out."""
    stored, unrelated = _picks(manifest, offset + count)
    stored, unrelated = stored[offset:], unrelated[offset:]
    rng = random.Random(15)
    with tempfile.TemporaryDirectory() as home, CaseStore.open(Path(home)) as store:
        case_of = {}
        for path in stored:
            case_of[path] = store.open_case_with_evidence(path.name, path.read_bytes(), "bench").record.case_id
        recall, wrong, missed = {}, 0, {}
        for family, transform in FAMILIES.items():
            found = 0
            for path in stored:
                copy = transform(Image.open(path).convert("RGB"), rng)
                cases = {m.case_id for m in memory.seen_before(store, _encode(copy))}
                found += case_of[path] in cases
                if case_of[path] not in cases:
                    missed.setdefault(family, []).append(path.name)
                wrong += len(cases - {case_of[path]})
            recall[family] = round(found / len(stored), 3)
        false_matches = [(p.name, m.image.file_name if m.image else "list", m.method, m.transform)
                         for p in unrelated for m in memory.seen_before(store, p.read_bytes())]
        false_pairs = len(false_matches)
    return {"stored_images": len(stored), "unrelated_images": len(unrelated), "offset": offset, "recall": recall,
            "missed": missed, "false_matches": false_matches,
            "false_match_share_unrelated_pairs": false_pairs / (len(stored) * len(unrelated)),
            "unrelated_pairs_matched": false_pairs, "transformed_copies_matching_another_case": wrong,
            "transformed_copies": len(stored) * len(FAMILIES)}


def _random_groups(hashes: int, seed: int = 16):
    """Random 256-bit hashes, 65 to a group: (hex, key_x, key_y) with no place for the PDQ."""
    rng = np.random.default_rng(seed)
    for start in range(0, hashes, 65):
        count = min(65, hashes - start)
        raw, places = rng.integers(0, 256, (count, 32), dtype=np.uint8), rng.random((count, 2)).tolist()
        yield [(raw[i].tobytes().hex(), *((None, None) if i == 0 else places[i])) for i in range(count)]


def _window_hashes(job: tuple[str, int]) -> list[list[tuple]]:
    """The hashes of random windows of one picture, as an intake would store each: a crop
    keeping 50-100 % of each side, at a random place, mirrored half the time."""
    path, windows = job
    rgb = np.asarray(Image.open(path).convert("RGB"))
    rng, groups = random.Random(path), []
    for _ in range(windows):
        height, width = rgb.shape[:2]
        w, h = max(16, int(width * rng.uniform(0.5, 1))), max(16, int(height * rng.uniform(0.5, 1)))
        x, y = rng.randint(0, width - w), rng.randint(0, height - h)
        window = np.ascontiguousarray(rgb[y:y + h, x:x + w][:, ::-1] if rng.random() < 0.5 else rgb[y:y + h, x:x + w])
        hashes = image_hashes(window)
        if len(hashes) == 65:
            groups.append([(item.hex, item.key_x, item.key_y) for item in hashes])
    return groups


def _picture_groups(manifest: Path, hashes: int, queried: list[Path]):
    """Hashes of real pictures, as a store of real cases holds them: windows of the dev
    pictures whose dup_group no query comes from, enough windows of each to make N hashes
    (2 processes).  Real ORB descriptors share generic 32-bit keys (frame corners, edges),
    which random hashes never do: this is the store a newsroom's lookups actually meet."""
    rows = list(csv.DictReader(manifest.open()))
    queried_groups = {row["dup_group"] for row in rows if manifest.parent / row["file"] in set(queried)}
    pictures = sorted({str(manifest.parent / row["file"]) for row in rows if row["dup_group"] not in queried_groups})
    owners = (hashes + 64) // 65
    each = -(-owners // len(pictures))
    made = 0
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        for groups in pool.imap(_window_hashes, [(path, each) for path in pictures], chunksize=4):
            for group in groups:
                if made < hashes:
                    yield group[:hashes - made]
                    made += len(group[:hashes - made])


def _fill(store: CaseStore, groups) -> float:
    """Groups of hashes (one PDQ first, then keypoint descriptors, as intake stores a picture),
    each owned by one entry of a throw-away hash list so candidates fall to many owners as in
    a real store.  Bulk: the index is dropped, the rows inserted 100,000 at a time, the index
    and the key counts built again (a throw-away store; intake never does this)."""
    table = PerceptualHashRow.__table__
    groups = list(groups)
    owners = len(groups)
    started = time.perf_counter()
    with store._db.engine.begin() as connection:
        listed = connection.execute(insert(HashListRow.__table__).values(
            source="bench: random hashes", file_name="random", file_sha256="0" * 64, entries=owners,
            imported_by="bench", imported_at=datetime.now(timezone.utc))).inserted_primary_key[0]
        first = connection.execute(select(func.coalesce(func.max(HashListEntryRow.id), 0))).scalar() + 1
        connection.execute(insert(HashListEntryRow.__table__), [
            {"id": first + i, "list_id": listed, "line": i + 1, "verdict": "", "label": "", "listed_on": ""}
            for i in range(owners)])
        indexes = list(table.indexes)
        for index in indexes:
            index.drop(connection)
        rows = []
        for owner, group in enumerate(groups):
            for n, (hex_digits, key_x, key_y) in enumerate(group):
                row = {"evidence_file_id": None, "list_entry_id": first + owner, "algorithm": "pdq" if n == 0 else "orb",
                       "window": "full" if n == 0 else "kp", "hash": hex_digits, "quality": 80, "key_x": key_x,
                       "key_y": key_y}
                row.update(zip(BAND_COLUMNS, bands(hex_digits)))
                rows.append(row)
            if len(rows) >= 100_000 or owner == owners - 1:
                connection.execute(insert(table), rows)
                rows = []
        for index in indexes:
            index.create(connection)
        hash_keys.rebuild(connection)
        # Fresh statistics, as autovacuum (PostgreSQL) gathers after a large load: without them
        # PostgreSQL guessed 100 keypoint rows and hash-joined all of them instead of probing.
        connection.execute(text("ANALYZE perceptual_hashes"))
    return time.perf_counter() - started


# The steps of one lookup, timed where they are called (module attribute, label): the split
# timing once measured 72 ms where this bench measured 212 ms, and only the bench's own query
# path can say where its time goes.
_STEPS = ((memory, "load_image", "decode"), (storage_memory, "picture_hashes", "hashing"),
          (similarity, "candidates", "PDQ candidates"), (similarity, "key_votes", "keypoint candidates"),
          (similarity, "rows_of_owners", "shortlisted pictures' rows"),
          (storage_memory, "keypoint_matches", "keypoint matching"), (similarity, "pdq_of", "stored PDQ of matches"),
          (similarity, "stored_images", "stored images"))


@contextlib.contextmanager
def _timed_steps(spent: dict[str, float]):
    """Wrap each step so the time of the current lookup adds up in `spent` (put back after)."""
    originals = [(module, name, getattr(module, name)) for module, name, _ in _STEPS]

    def timed(step, label):
        def run(*args, **kwargs):
            begin = time.perf_counter()
            try:
                return step(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - begin
        return run

    for (module, name, step), (_, _, label) in zip(originals, _STEPS):
        setattr(module, name, timed(step, label))
    try:
        yield
    finally:
        for module, name, step in originals:
            setattr(module, name, step)


def _cropped(picture: Image.Image) -> Image.Image:
    """The crop the lookup bench looks up: 10 % off the left, 5 % off the right and top, 8 % off
    the bottom (85 % x 87 % kept), off centre as a reposted crop is."""
    w, h = picture.size
    return picture.crop((int(w * 0.10), int(h * 0.05), int(w * 0.95), int(h * 0.92)))


def bench_lookup(manifest: Path, hashes: int, queries: int, database_url: str | None = None,
                 fill: str = "random", crops: bool = False) -> dict:
    stored, unrelated = _picks(manifest, queries)
    begin = time.perf_counter()
    groups = list(_random_groups(hashes) if fill == "random" else _picture_groups(manifest, hashes, stored + unrelated))
    hashed = time.perf_counter() - begin
    kinds = {"JPEG q75": lambda picture: picture, **({"crop 85 x 87 %, JPEG q75": _cropped} if crops else {})}
    result = {"fill": fill, "hashes": sum(len(g) for g in groups), "fill_hashing_seconds": round(hashed, 1)}
    with tempfile.TemporaryDirectory() as home, CaseStore.open(Path(home), database_url) as store:
        result["fill_seconds"] = round(_fill(store, groups), 1)
        for path in stored:
            store.open_case_with_evidence(path.name, path.read_bytes(), "bench")
        # Statistics of the store as it is looked up in: those of the fill alone saw no evidence
        # file's hashes (all owned by list entries), so SQLite judged the evidence_file_id index
        # useless and scanned all 1M rows for the stored PDQ of every keypoint match (~70 ms of
        # the 212 ms median measured before).  PostgreSQL's autovacuum refreshes them by itself.
        with store._db.engine.begin() as connection:
            connection.execute(text("ANALYZE perceptual_hashes"))
            connection.execute(text("ANALYZE hash_key_counts"))
        for kind, transform in kinds.items():
            times, hits, own, steps = [], 0, 0, []
            for path in stored + unrelated:
                data = _encode(_jpeg(transform(Image.open(path).convert("RGB")), 75))
                spent: dict[str, float] = {}
                with _timed_steps(spent):
                    begin = time.perf_counter()
                    found = memory.seen_before(store, data)
                    times.append(time.perf_counter() - begin)
                steps.append(spent)
                hits += bool(found)
                own += any(m.image is not None and m.image.case_title == path.name for m in found)
            result[kind] = {
                "queries": len(times), "median_lookup_ms": round(1000 * statistics.median(times), 1),
                "p90_lookup_ms": round(1000 * float(np.percentile(times, 90)), 1),
                "median_step_ms": {label: round(1000 * statistics.median(s.get(label, 0.0) for s in steps), 1)
                                   for *_, label in _STEPS},
                "queries_with_a_match": hits, "stored_pictures_found_again": own, "stored_pictures": len(stored)}
    return result


def bench_cases(manifest: Path, count: int) -> dict:
    # Half real, half AI (the manifest lists all fakes first: its first 200 rows are one class).
    every = list(csv.DictReader(manifest.open()))
    rows = [r for r in every if r["label"] == "fake"][:count // 2] + \
        [r for r in every if r["label"] == "real"][:count - count // 2]
    with tempfile.TemporaryDirectory() as home, CaseStore.open(Path(home)) as store:
        begin = time.perf_counter()
        for row in rows:
            case = store.open_case_with_evidence(row["file"], (manifest.parent / row["file"]).read_bytes(),
                                                 "D. Reyes").record.case_id
            store.update_case(case, "D. Reyes", final_verdict="ai-generated" if row["label"] == "fake" else "real")
            memory.release_for_training(store, case, "D. Reyes")
        summary = records_from_cases(store)
        out = Path(home) / "train.jsonl"
        written = write_dataset(out, summary.records)
        checked, problems = dataset_problems(out)
        seconds = time.perf_counter() - begin
        groups: dict[str, set] = {}
        for record in summary.records:
            groups.setdefault(record.extra["dup_group"], set()).add(record.extra["split"])
        # Re-fit the signal score on the train split, then both versions side by side on the test split.
        train = Path(home) / "train-split.jsonl"
        write_dataset(train, [r for r in summary.records if r.extra["split"] == "train"])
        begin = time.perf_counter()
        fitted = train_signal_model(train, Path(home) / "refit.json", progress=False)
        refit_seconds = time.perf_counter() - begin
        comparison = compare_versions(split_images(out, "test"), {
            "shipped": SignalModel.load(), "re-fitted on the cases": SignalModel.load(fitted.weights_path)})
    print(versions_table(comparison), flush=True)
    return {"cases": len(rows), "records": written, "validated_rows": checked, "problems": len(problems),
            "splits": {s: sum(r.extra["split"] == s for r in summary.records) for s in ("train", "test")},
            "groups_on_both_sides": sum(len(s) > 1 for s in groups.values()), "seconds": round(seconds, 1),
            "refit_seconds": round(refit_seconds, 1),
            "refit_thresholds": {"ai": fitted.ai_threshold, "real": fitted.real_threshold},
            "versions_on_test_split": [r.as_dict() for r in comparison.versions],
            "unreadable": len(comparison.unreadable)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--offset", type=int, default=0,
                        help="recall: skip this many dup_groups of each half (0: the tune split, 120: held out)")
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--parts", default="recall,lookup,cases")
    parser.add_argument("--fill", choices=("random", "pictures"), default="random",
                        help="lookup: the stored hashes are random, or those of windows of real dev pictures")
    parser.add_argument("--crops", action="store_true", help="lookup: a cropped copy of each query too")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--database-url", default=None,
                        help="lookup only: an empty PostgreSQL database (postgresql+psycopg://...) instead of SQLite")
    args = parser.parse_args()
    result = {}
    for part in args.parts.split(","):
        if part == "recall":
            result["recall"] = bench_recall(args.manifest, args.images, args.offset)
        elif part == "lookup":
            result["lookup"] = bench_lookup(args.manifest, args.hashes, args.queries, args.database_url, args.fill,
                                            args.crops)
        elif part == "cases":
            result["cases"] = bench_cases(args.manifest, args.cases)
        print(json.dumps({part: result.get(part)}, indent=1), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
