"""Checks a dataset row must pass before anything trains or evaluates on it.

Each problem becomes a DatasetError naming the line it is on, so a person
fixing a 20,000-line file goes straight to the row; `zoomin dataset validate`
lists them all, `read_dataset` stops at the first.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from models.dataset.records import LABELS, AnnotatedBox, Annotator, DatasetRecord
from models.types import Box

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Annotators round box corners; a corner this far past the edge is still "inside".
EDGE_TOLERANCE_PX = 1.0


class DatasetError(ValueError):
    """One problem in a dataset file; `line` is 1-based (0: not tied to a line)."""

    def __init__(self, message: str, line: int = 0):
        super().__init__(f"line {line}: {message}" if line else message)
        self.message = message
        self.line = line


def record_from_dict(data: Any, line: int = 0) -> DatasetRecord:
    """A row as parsed JSON -> DatasetRecord, or DatasetError saying what is wrong."""
    if not isinstance(data, dict):
        raise DatasetError(f"a row must be a JSON object, got {type(data).__name__}", line)
    for key in ("path", "sha256", "label"):
        if not isinstance(data.get(key), str) or not data.get(key):
            raise DatasetError(f"missing or empty {key!r}", line)
    sha256 = data["sha256"].lower()
    if not _SHA256.match(sha256):
        raise DatasetError(f"sha256 must be 64 hex digits, got {data['sha256']!r}", line)
    if data["label"] not in LABELS:
        raise DatasetError(f"label must be one of {list(LABELS)}, got {data['label']!r}", line)
    width, height = _size(data, line)
    boxes = tuple(_annotated_box(item, index, width, height, line)
                  for index, item in enumerate(_list(data, "boxes", line)))
    if data["label"] == "real" and boxes:
        raise DatasetError(f"label is 'real' but the row has {len(boxes)} artefact box(es); "
                           "boxes mark AI artefacts and belong to 'fake' rows only", line)
    annotator = data.get("annotator") or {}
    if not isinstance(annotator, dict):
        raise DatasetError("'annotator' must be an object {model_id, prompt_version, backend}", line)
    extra = data.get("extra") or {}
    if not isinstance(extra, dict):
        raise DatasetError("'extra' must be an object", line)
    return DatasetRecord(
        path=data["path"], sha256=sha256, label=data["label"], width=width, height=height,
        generator=_text(data, "generator", line), boxes=boxes, explanation=_text(data, "explanation", line),
        annotator=Annotator(model_id=str(annotator.get("model_id", "")),
                            prompt_version=str(annotator.get("prompt_version", "")),
                            backend=str(annotator.get("backend", ""))),
        extra=dict(extra))


def record_to_dict(record: DatasetRecord, path: str | None = None) -> dict[str, Any]:
    """The JSON row of a record (`path` overrides how the image path is written)."""
    return {
        "path": record.path if path is None else path,
        "sha256": record.sha256,
        "label": record.label,
        "width": record.width,
        "height": record.height,
        "generator": record.generator,
        "boxes": [{"box": b.box.to_list(), "explanation": b.explanation} for b in record.boxes],
        "explanation": record.explanation,
        "annotator": {"model_id": record.annotator.model_id,
                      "prompt_version": record.annotator.prompt_version,
                      "backend": record.annotator.backend},
        "extra": record.extra,
    }


def check_record(record: DatasetRecord, line: int = 0) -> None:
    """Re-check a record built in code (importers, annotator) with the same rules as a read row."""
    record_from_dict(record_to_dict(record), line)


def check_file_exists(image_path: Path, line: int = 0) -> None:
    if not image_path.is_file():
        raise DatasetError(f"image file not found: {image_path}", line)


class DuplicateChecker:
    """Remembers which images were seen; the same picture twice in a split would
    count twice in training and in every metric."""

    def __init__(self) -> None:
        self._first_line: dict[str, int] = {}

    def check(self, record: DatasetRecord, line: int = 0) -> None:
        first = self._first_line.setdefault(record.sha256, line)
        if first != line:
            raise DatasetError(f"duplicate image {record.path} (sha256 {record.sha256[:12]}…) "
                               f"already on line {first}", line)


def _size(data: dict, line: int) -> tuple[int, int]:
    values = []
    for key in ("width", "height"):
        value = data.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DatasetError(f"{key!r} must be a whole number of pixels >= 0, got {value!r}", line)
        values.append(value)
    return values[0], values[1]


def _list(data: dict, key: str, line: int) -> list:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise DatasetError(f"{key!r} must be a list", line)
    return value


def _text(data: dict, key: str, line: int) -> str:
    value = data.get(key) or ""
    if not isinstance(value, str):
        raise DatasetError(f"{key!r} must be text", line)
    return value


def _annotated_box(item: Any, index: int, width: int, height: int, line: int) -> AnnotatedBox:
    where = f"box {index + 1}"
    if not isinstance(item, dict) or "box" not in item:
        raise DatasetError(f"{where} must be an object {{\"box\": [x1, y1, x2, y2], \"explanation\": ...}}", line)
    try:
        box = Box.from_list(item["box"])
    except ValueError as exc:
        raise DatasetError(f"{where}: {exc}", line) from None
    if width and height and not box_inside(box, width, height):
        raise DatasetError(f"{where} {box.to_list()} lies outside the {width}x{height} image", line)
    explanation = item.get("explanation") or ""
    if not isinstance(explanation, str):
        raise DatasetError(f"{where}: explanation must be text", line)
    return AnnotatedBox(box=box, explanation=explanation)


def box_inside(box: Box, width: int, height: int, tolerance: float = EDGE_TOLERANCE_PX) -> bool:
    return (box.x1 >= -tolerance and box.y1 >= -tolerance
            and box.x2 <= width + tolerance and box.y2 <= height + tolerance)
