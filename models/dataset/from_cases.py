"""Training data from the analysts' decisions: one dataset record (docs/dataset.md) per
evidence file of every case an analyst RELEASED as training data (off by default,
storage/memory.py) and concluded real or ai-generated.

- label: the analyst's final verdict (inconclusive cases are left out);
- boxes: confirmed boxes and boxes the analyst drew, the analyst's note (or the box's
  explanation) as their explanation; rejected tool boxes go to extra.negative_boxes,
  marked so, never as positives;
- annotator: backend "human", the analyst who concluded the case as model_id;
- extra.dup_group: near-duplicate groups (PDQ or keypoint matches between the files),
  and extra.split "train"/"test" by group, so one picture never lands on both sides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from models.dataset.records import AnnotatedBox, Annotator, DatasetRecord
from models.dataset.validation import check_record

if TYPE_CHECKING:
    from storage import CaseStore
    from storage.records import AnalysisRecord, CaseDetail

PROMPT_VERSION = "case-decision-v1"
_LABELS = {"ai-generated": "fake", "real": "real"}


@dataclass(frozen=True)
class FromCasesSummary:
    records: tuple[DatasetRecord, ...]
    cases_used: int
    cases_skipped: dict[str, int]  # why -> how many


def records_from_cases(store: CaseStore, *, since: datetime | None = None, verdict: str | None = None,
                       test_share: float = 0.2) -> FromCasesSummary:
    """Released, concluded cases as dataset records (see the module docstring)."""
    records: list[DatasetRecord] = []
    skipped: dict[str, int] = {}
    seen: set[str] = set()
    used = 0
    for case_id in store.memory.released_case_ids():
        detail = store.get_case(case_id)
        why = _skip_reason(detail, since, verdict)
        if why:
            skipped[why] = skipped.get(why, 0) + 1
            continue
        used += 1
        for file in detail.evidence_files:
            if file.sha256 in seen:
                continue  # the same file in two released cases is one record
            seen.add(file.sha256)
            records.append(_record(store, detail, file))
    return FromCasesSummary(tuple(_with_splits(store, records, test_share)), used, skipped)


def _skip_reason(detail: CaseDetail, since: datetime | None, verdict: str | None) -> str:
    final = detail.summary.final_verdict
    if final not in _LABELS:
        return "not concluded real or ai-generated"
    if verdict is not None and final != verdict:
        return f"verdict is not {verdict}"
    if since is not None and detail.summary.updated_at < since:
        return "last changed before --since"
    return ""


def _record(store: CaseStore, detail: CaseDetail, file) -> DatasetRecord:
    label = _LABELS[detail.summary.final_verdict or ""]
    analysis = _latest_analysis(detail.analyses, file.id)
    boxes, negatives = [], []
    for region in (analysis.current_regions() if analysis else []):
        said = region.note or region.explanation or region.label
        if region.status == "rejected" and region.source == "model":
            negatives.append({"box": region.box.to_list(), "note": said, "marked": "rejected by the analyst"})
        elif region.status == "confirmed" or (region.source == "analyst" and region.status != "rejected"):
            boxes.append(AnnotatedBox(region.box, said))
    concluded_by = _concluded_by(detail)
    record = DatasetRecord(
        path=str(store.stored_path(file.sha256)), sha256=file.sha256, label=label, width=file.width,
        height=file.height, boxes=tuple(boxes) if label == "fake" else (),
        explanation=detail.final_note, annotator=Annotator(concluded_by, PROMPT_VERSION, "human"),
        extra={"case_id": detail.summary.id, "case_uid": detail.summary.uid, "evidence_file_id": file.id,
               "negative_boxes": negatives, "source": "zoomin-cases"})
    check_record(record)
    return record


def _latest_analysis(analyses: Sequence[AnalysisRecord], file_id: int) -> AnalysisRecord | None:
    done = [a for a in analyses if a.evidence_file_id == file_id and a.status == "done"]
    return max(done, key=lambda a: (a.finished_at, a.id)) if done else None


def _concluded_by(detail: CaseDetail) -> str:
    for event in reversed(detail.history):
        if isinstance(event.after, dict) and "final_verdict" in event.after:
            return event.actor
    return detail.summary.created_by


def _with_splits(store: CaseStore, records: list[DatasetRecord], test_share: float) -> list[DatasetRecord]:
    """Group records by near-duplicate matches (union-find over store.memory.near) and give
    each group one split, chosen by a hash of the group so reruns agree."""
    index = {record.extra["evidence_file_id"]: n for n, record in enumerate(records)}
    parent = list(range(len(records)))

    def root(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    from models.image_input import load_image

    for n, record in enumerate(records):
        image = load_image(store.stored_path(record.sha256).read_bytes(), name=record.sha256)
        for match in store.memory.near(image.rgb, image.sha256):
            other = index.get(match.image.evidence_file_id) if match.image else None
            if other is not None:
                parent[root(other)] = root(n)
    out = []
    for n, record in enumerate(records):
        group = min(r.sha256 for m, r in enumerate(records) if root(m) == root(n))[:16]
        draw = int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        extra = {**record.extra, "dup_group": group, "split": "test" if draw < test_share else "train"}
        out.append(DatasetRecord(record.path, record.sha256, record.label, record.width, record.height,
                                 record.generator, record.boxes, record.explanation, record.annotator, extra))
    return out


CASE_LICENCE = "released for training by the newsroom's analyst (zoomin cases release)"


def manifest_entries(dataset: Path):
    """A from-cases dataset as manifest rows, so `zoomin train-signal` and `zoomin calibrate-scan`
    take it where they take a CSV manifest (groups: the near-duplicate groups)."""
    from models.dataset.jsonl import read_dataset, resolve_path
    from models.evidence.dev_manifest import ManifestEntry

    try:
        records = read_dataset(dataset)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read dataset {dataset}: {exc}") from None
    if not records:
        raise ValueError(f"dataset {dataset} lists no images")
    return [ManifestEntry(path=resolve_path(r.path, Path(dataset)), label=1 if r.is_fake else 0,
                          generator=r.generator or ("unknown" if r.is_fake else "real"),
                          source=str(r.extra.get("source", "zoomin-cases")), licence=CASE_LICENCE,
                          group=str(r.extra.get("dup_group") or r.sha256[:16]))
            for r in records]
