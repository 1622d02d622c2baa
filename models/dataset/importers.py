"""Turning public explainable-detection annotations into dataset records.

LEGION / SynthScars (opendatalab/LEGION, checked against the repository's
`legion_batch1&batch2_val.json`): a JSON list of one-key objects
`{"<id>": {"caption", "img_file_name", "refs": [{"sentence", "explanation",
"bbox", "segmentation": [[x, y, x, y, ...], ...]}]}}`; every image is
synthetic; each artefact is a polygon, so its box is the polygon's extent.
`bbox`, when not null, is read as COCO [x, y, w, h] (an assumption: the file
we saw only has null bboxes).

FakeClue (FakeVLM): a LLaVA-style JSON list `{"image": relative path,
"conversations": [{"from": "human", ...}, {"from": "gpt", "value": answer}],
"label": 0|1, "cate": category}`; no boxes.  Label 0 is fake and 1 is real, as
a public FakeClue evaluation script reads it (not stated by the dataset card).

Image files are looked up under --images by the path as given, then by the
trailing parts of it (the annotation files carry the authors' cluster paths).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from PIL import Image, ImageOps

from models.dataset.records import AnnotatedBox, Annotator, DatasetRecord
from models.dataset.validation import DatasetError, DuplicateChecker, box_inside, check_record
from models.types import Box


@dataclass
class ImportResult:
    records: list[DatasetRecord] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (entry, reason)


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"annotation file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read {path} as JSON: {exc}") from None


def find_image(written: str, images: Path) -> Path | None:
    """The image file under `images` for a path written elsewhere (longest matching tail first)."""
    parts = PurePosixPath(written.replace("\\", "/")).parts
    for start in range(len(parts)):
        candidate = images.joinpath(*[p for p in parts[start:] if p != "/"])
        if candidate.is_file():
            return candidate
    return None


def _measure(path: Path) -> tuple[str, int, int]:
    data = path.read_bytes()
    with Image.open(path) as image:
        width, height = ImageOps.exif_transpose(image).size  # boxes are in displayed pixels
    return hashlib.sha256(data).hexdigest(), width, height


def _polygon_box(polygons: Any) -> Box | None:
    xs, ys = [], []
    for polygon in polygons or []:
        xs += [float(v) for v in polygon[0::2]]
        ys += [float(v) for v in polygon[1::2]]
    if not xs or not ys:
        return None
    return Box(min(xs), min(ys), max(xs), max(ys))


def _legion_box(ref: dict) -> Box | None:
    box = _polygon_box(ref.get("segmentation"))
    if box is None and ref.get("bbox"):
        x, y, w, h = (float(v) for v in ref["bbox"])
        box = Box(x, y, x + w, y + h)
    return box


def _legion_entries(data: Any) -> list[tuple[str, dict]]:
    if not isinstance(data, list):
        raise DatasetError("a LEGION/SynthScars file is a JSON list of {id: {...}} objects")
    entries = []
    for item in data:
        if not isinstance(item, dict):
            raise DatasetError("a LEGION/SynthScars entry must be an object {id: {caption, img_file_name, refs}}")
        entries += [(str(key), value) for key, value in item.items()]
    return entries


def import_legion(annotations: Path, images: Path) -> ImportResult:
    result = ImportResult()
    duplicates = DuplicateChecker()
    for entry_id, entry in _legion_entries(_load_json(annotations)):
        def build(image: Path, sha256: str, width: int, height: int, entry: dict = entry,
                  entry_id: str = entry_id) -> DatasetRecord:
            boxes = []
            for ref in entry.get("refs") or []:
                box = _legion_box(ref)
                if box is None:
                    raise DatasetError(f"artefact {ref.get('sentence')!r} has neither polygon nor bbox")
                box = box.clip(width, height) if box_inside(box, width, height, tolerance=8) else None
                if box is None:
                    raise DatasetError(f"artefact {ref.get('sentence')!r} lies outside the {width}x{height} image")
                what = (ref.get("sentence") or "").strip().rstrip(".:")
                boxes.append(AnnotatedBox(box, f"{what}: {ref.get('explanation', '').strip()}" if what
                                          else ref.get("explanation", "").strip()))
            return DatasetRecord(path=str(image), sha256=sha256, label="fake", width=width, height=height,
                                 boxes=tuple(boxes), explanation=(entry.get("caption") or "").strip(),
                                 annotator=Annotator("human experts (SynthScars)", "", "legion"),
                                 extra={"source_id": entry_id})
        _add(result, duplicates, entry_id, entry.get("img_file_name") or "", images, build)
    return result


def import_fakeclue(annotations: Path, images: Path) -> ImportResult:
    data = _load_json(annotations)
    if not isinstance(data, list):
        raise DatasetError("a FakeClue file is a JSON list of {image, conversations, label} objects")
    result = ImportResult()
    duplicates = DuplicateChecker()
    for index, entry in enumerate(data, start=1):
        name = str(entry.get("image", "")) if isinstance(entry, dict) else ""
        if str(entry.get("label") if isinstance(entry, dict) else "") not in ("0", "1"):
            result.skipped.append((name or f"entry {index}", "label must be 0 (fake) or 1 (real)"))
            continue
        answers = [turn.get("value", "") for turn in entry.get("conversations") or [] if turn.get("from") == "gpt"]

        def build(image: Path, sha256: str, width: int, height: int, entry=entry, answers=answers) -> DatasetRecord:
            return DatasetRecord(path=str(image), sha256=sha256, label="fake" if int(entry["label"]) == 0 else "real",
                                 width=width, height=height, explanation=(answers[-1] if answers else "").strip(),
                                 annotator=Annotator("FakeClue annotation pipeline", "", "fakeclue"),
                                 extra={"category": str(entry.get("cate", ""))} if entry.get("cate") else {})
        _add(result, duplicates, name or f"entry {index}", name, images, build)
    return result


def _add(result: ImportResult, duplicates: DuplicateChecker, entry: str, written: str, images: Path,
         build: Callable[[Path, str, int, int], DatasetRecord]) -> None:
    image = find_image(written, images) if written else None
    if image is None:
        result.skipped.append((entry, f"image {written or '(none given)'} not found under {images}"))
        return
    try:
        sha256, width, height = _measure(image)
        record = build(image, sha256, width, height)
        check_record(record)
        duplicates.check(record, len(result.records) + 1)
    except (DatasetError, OSError, ValueError) as exc:
        reason = exc.message if isinstance(exc, DatasetError) else str(exc)
        result.skipped.append((entry, reason))
        return
    result.records.append(record)


IMPORTERS: dict[str, Callable[[Path, Path], ImportResult]] = {"legion": import_legion, "synthscars": import_legion,
                                                              "fakeclue": import_fakeclue}
