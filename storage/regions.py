"""Analyst work on regions.  Nothing here updates a region row: a correction,
a status, a deletion is a new row whose parent is the version it changes,
so the model's original box and every later version stay on record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.types import Box
from storage import convert
from storage.audit import load_case, record
from storage.errors import StoreError
from storage.records import REGION_STATUSES, UNCHANGED, RegionChanges, RegionRecord, Unchanged
from storage.tables import (
    AnalysisRow,
    EvidenceFileRow,
    RegionQuestionRow,
    RegionRow,
    utc_now,
)

MAX_LABEL = 500


def _snapshot(row: RegionRow) -> dict[str, Any]:
    return {"region_id": row.id, "source": row.source, "status": row.status, "label": row.label,
            "box": Box(row.x1, row.y1, row.x2, row.y2).to_list(), "explanation": row.explanation,
            "note": row.note or ""}


def _load(session: Session, region_id: int) -> tuple[RegionRow, AnalysisRow]:
    row = session.get(RegionRow, region_id)
    if row is None:
        raise StoreError(f"no region {region_id}", "not-found")
    analysis = session.get(AnalysisRow, row.analysis_id)
    assert analysis is not None  # a foreign key guarantees it
    return row, analysis


def _drawn_by(session: Session, row: RegionRow) -> str:
    """The source of the chain's first version (who drew the box)."""
    while row.parent_region_id is not None:
        parent = session.get(RegionRow, row.parent_region_id)
        if parent is None:
            break
        row = parent
    return row.source


def region_record(session: Session, row: RegionRow) -> RegionRecord:
    """The version as the analysis reads it: who drew it and who moved it come from its chain."""
    analysis = session.get(AnalysisRow, row.analysis_id)
    assert analysis is not None  # a foreign key guarantees it
    rows = session.scalars(select(RegionRow).where(RegionRow.analysis_id == row.analysis_id)
                           .order_by(RegionRow.id)).all()
    records = convert.regions_with_lineage(rows, {}, convert.moves_before_rerun(analysis))
    return next(r for r in records if r.id == row.id)


def _require_latest(session: Session, row: RegionRow) -> None:
    later = session.scalar(select(RegionRow.id).where(RegionRow.parent_region_id == row.id))
    if later is not None:
        raise StoreError(f"region {row.id} was already changed (its latest version is region {later}); "
                         "change the latest version", "conflict")


def _inside_image(session: Session, analysis: AnalysisRow, box: Box) -> Box:
    evidence = session.get(EvidenceFileRow, analysis.evidence_file_id)
    assert evidence is not None
    try:
        return box.clip(evidence.width, evidence.height)
    except ValueError:
        raise StoreError(f"box {box.to_list()} lies outside the {evidence.width}x{evidence.height} image",
                         "invalid") from None


def _check_status(status: str) -> str:
    if status not in REGION_STATUSES:
        raise StoreError(f"a region status is one of {', '.join(REGION_STATUSES)}, got {status!r}", "invalid")
    return status


def _check_label(label: str) -> str:
    if len(label) > MAX_LABEL:
        raise StoreError(f"a region label is at most {MAX_LABEL} characters", "invalid")
    return label


def edit_region(session: Session, region_id: int, analyst: str, *, box: Box | Unchanged,
                label: str | Unchanged, status: str | Unchanged, explanation: str | Unchanged,
                note: str | Unchanged = UNCHANGED) -> RegionRow:
    parent, analysis = _load(session, region_id)
    case = load_case(session, analysis.case_id, for_update=True)
    _require_latest(session, parent)
    old_box = Box(parent.x1, parent.y1, parent.x2, parent.y2)
    new_box = old_box if box is UNCHANGED else _inside_image(session, analysis, box)
    moved = new_box != old_box
    values = {
        "label": parent.label if label is UNCHANGED else _check_label(label),
        "status": parent.status if status is UNCHANGED else _check_status(status),
        "explanation": parent.explanation if explanation is UNCHANGED else explanation,
        # A note explains this version's decision; an edit that gives none does not inherit the last one.
        "note": "" if note is UNCHANGED else note.strip(),
    }
    if not moved and all(getattr(parent, name) == value for name, value in values.items() if name != "note") \
            and not values["note"]:
        return parent
    row = RegionRow(
        # Who drew the box stays who drew it; who changed it is this version's created_by.
        analysis_id=parent.analysis_id, parent_region_id=parent.id, source=_drawn_by(session, parent),
        region_key=parent.region_key, x1=new_box.x1, y1=new_box.y1, x2=new_box.x2, y2=new_box.y2,
        # The detector's score and findings describe the old box only.
        score=0.0 if moved else parent.score, evidence=[] if moved else list(parent.evidence),
        created_by=analyst, created_at=utc_now(), **values)
    session.add(row)
    session.flush()
    record(session, case, analyst, "region-edited", f"region:{row.id}", _snapshot(parent), _snapshot(row),
           at=row.created_at)
    return row


def add_region(session: Session, analysis_id: int, analyst: str, box: Box, label: str, explanation: str,
               status: str) -> RegionRow:
    analysis = session.get(AnalysisRow, analysis_id)
    if analysis is None:
        raise StoreError(f"no analysis {analysis_id}", "not-found")
    if analysis.status != "done":
        raise StoreError(f"analysis {analysis_id} is {analysis.status}: regions are added to finished "
                         "analyses", "conflict")
    case = load_case(session, analysis.case_id, for_update=True)
    clipped = _inside_image(session, analysis, box)
    row = RegionRow(analysis_id=analysis_id, parent_region_id=None, source="analyst",
                    status=_check_status(status), region_key=_next_analyst_key(session, analysis_id),
                    x1=clipped.x1, y1=clipped.y1,
                    x2=clipped.x2, y2=clipped.y2, score=0.0, label=_check_label(label), explanation=explanation,
                    evidence=[], created_by=analyst, created_at=utc_now())
    session.add(row)
    session.flush()
    record(session, case, analyst, "region-added", f"region:{row.id}", None, _snapshot(row), at=row.created_at)
    return row


def _next_analyst_key(session: Session, analysis_id: int) -> str:
    """a1, a2, ...: one past the highest analyst key in the analysis (a re-run
    carries the keys of the boxes it examined, gaps included)."""
    keys = session.scalars(select(RegionRow.region_key).where(RegionRow.analysis_id == analysis_id)).all()
    numbers = [int(key[1:]) for key in keys if key.startswith("a") and key[1:].isdigit()]
    return f"a{max(numbers, default=0) + 1}"


def delete_region(session: Session, region_id: int, analyst: str, reason: str) -> RegionRow:
    parent, analysis = _load(session, region_id)
    if parent.status == "deleted":
        raise StoreError(f"region {region_id} is already deleted", "conflict")
    case = load_case(session, analysis.case_id, for_update=True)
    _require_latest(session, parent)
    row = RegionRow(
        analysis_id=parent.analysis_id, parent_region_id=parent.id, source=_drawn_by(session, parent),
        status="deleted",
        region_key=parent.region_key, x1=parent.x1, y1=parent.y1, x2=parent.x2, y2=parent.y2,
        score=parent.score, label=parent.label, explanation=parent.explanation, evidence=list(parent.evidence),
        note=reason.strip(), created_by=analyst, created_at=utc_now())
    session.add(row)
    session.flush()
    record(session, case, analyst, "region-deleted", f"region:{row.id}", _snapshot(parent),
           {**_snapshot(row), "reason": reason}, at=row.created_at)
    return row


def add_question(session: Session, region_id: int, analyst: str, question: str, answer: str,
                 backend: str) -> RegionQuestionRow:
    if not question.strip():
        raise StoreError("the question is empty", "invalid")
    region, analysis = _load(session, region_id)
    case = load_case(session, analysis.case_id, for_update=True)
    row = RegionQuestionRow(region_id=region.id, question=question, answer=answer or "", backend=backend or "",
                            asked_by=analyst, asked_at=utc_now())
    session.add(row)
    session.flush()
    record(session, case, analyst, "region-question", f"region:{region.id}", None,
           {"question_id": row.id, "question": question, "answer": row.answer, "backend": row.backend},
           at=row.asked_at)
    return row


def change_regions(session: Session, analysis_id: int, analyst: str, moves: Sequence[tuple[int, Box]],
                   additions: Sequence[tuple[Box, str]], deletions: Sequence[int],
                   reason: str) -> RegionChanges:
    """Several box edits of one analysis in one transaction: all or none."""
    for region_id in [*(region_id for region_id, _ in moves), *deletions]:
        if _load(session, region_id)[0].analysis_id != analysis_id:
            raise StoreError(f"region {region_id} is not part of analysis {analysis_id}", "invalid")
    moved = [edit_region(session, region_id, analyst, box=box, label=UNCHANGED, status=UNCHANGED,
                         explanation=UNCHANGED) for region_id, box in moves]
    added = [add_region(session, analysis_id, analyst, box, label, "", "open") for box, label in additions]
    deleted = [delete_region(session, region_id, analyst, reason) for region_id in deletions]
    return RegionChanges(tuple(region_record(session, r) for r in moved),
                         tuple(region_record(session, r) for r in added),
                         tuple(region_record(session, r) for r in deleted))
