"""ORM rows to the typed records the store hands out (inside the session
that read them, so no lazy load ever happens outside storage/)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from models.types import Box, Evidence
from storage.records import (
    AnalysisRecord,
    AnalysisStatus,
    AuditEvent,
    BackendInfo,
    CaseStatus,
    CaseSummary,
    EvidenceFileRecord,
    QuestionRecord,
    RegionRecord,
    RegionSource,
    RegionStatus,
    ReportRecord,
)
from storage.tables import (
    AnalysisRow,
    AuditEventRow,
    CaseRow,
    EvidenceFileRow,
    RegionQuestionRow,
    RegionRow,
    ReportRow,
)


# A re-run's parameters name the regions it examined: each one's region key,
# the region version it came from, who drew it, its label and who had moved it.
EXAMINED_REGIONS = "examined_regions"


def case_summary(row: CaseRow, files: Sequence[str] = (), file_hashes: Sequence[str] = ()) -> CaseSummary:
    return CaseSummary(
        id=row.id, uid=row.uid, title=row.title, status=cast(CaseStatus, row.status),
        verdict=row.final_verdict or row.model_verdict, final_verdict=row.final_verdict,
        model_verdict=row.model_verdict, created_by=row.created_by, created_at=row.created_at,
        updated_at=row.updated_at, files=tuple(files), file_hashes=tuple(file_hashes),
    )


def evidence_file(row: EvidenceFileRow) -> EvidenceFileRecord:
    return EvidenceFileRecord(
        id=row.id, case_id=row.case_id, sha256=row.sha256, original_name=row.original_name,
        size_bytes=row.size_bytes, format=row.format, mime=row.mime, width=row.width, height=row.height,
        intake_at=row.intake_at, intake_by=row.intake_by,
    )


def question(row: RegionQuestionRow) -> QuestionRecord:
    return QuestionRecord(id=row.id, region_id=row.region_id, question=row.question, answer=row.answer,
                          backend=row.backend, asked_by=row.asked_by, asked_at=row.asked_at)


def evidence_items(data: Iterable[dict[str, Any]] | None) -> tuple[Evidence, ...]:
    return tuple(Evidence.from_dict(item) for item in data or ())


def region(row: RegionRow, current: bool, questions: Sequence[QuestionRecord] = (), *,
           drawn_by: str | None = None, moved_by: str = "") -> RegionRecord:
    return RegionRecord(
        id=row.id, analysis_id=row.analysis_id, parent_region_id=row.parent_region_id,
        source=cast(RegionSource, drawn_by or row.source), status=cast(RegionStatus, row.status),
        region_key=row.region_key, box=Box(row.x1, row.y1, row.x2, row.y2), score=row.score, label=row.label,
        explanation=row.explanation, evidence=evidence_items(row.evidence), created_by=row.created_by,
        created_at=row.created_at, current=current, questions=tuple(questions), note=row.note or "",
        moved_by=moved_by,
    )


def analysis(row: AnalysisRow, regions: Sequence[RegionRecord] = ()) -> AnalysisRecord:
    return AnalysisRecord(
        id=row.id, case_id=row.case_id, evidence_file_id=row.evidence_file_id,
        backend=BackendInfo(backend=row.backend, backend_version=row.backend_version, model_id=row.model_id,
                            model_revision=row.model_revision, quantization=row.quantization),
        parameters=dict(row.parameters or {}), software=dict(row.software or {}),
        status=cast(AnalysisStatus, row.status), error=row.error, started_by=row.started_by,
        started_at=row.started_at, finished_at=row.finished_at, timings=dict(row.timings or {}),
        verdict=row.verdict, score=row.score, explanation=row.explanation,
        evidence=evidence_items(row.evidence), notes=tuple(row.notes or ()), raw_output=row.raw_output,
        regions=tuple(regions),
    )


def report(row: ReportRow) -> ReportRecord:
    return ReportRecord(id=row.id, case_id=row.case_id, analysis_id=row.analysis_id, file_name=row.file_name,
                        sha256=row.sha256, size_bytes=row.size_bytes, created_by=row.created_by,
                        created_at=row.created_at)


def audit_event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(id=row.id, case_id=row.case_id, actor=row.actor, action=row.action, subject=row.subject,
                      before=row.before, after=row.after, at=row.at)


def regions_with_lineage(rows: Sequence[RegionRow], questions: dict[int, list[QuestionRecord]],
                         moved_before: dict[str, str] | None = None) -> list[RegionRecord]:
    """Region records, each marked current when no later edit points at it.

    Who drew a box is the first version's source, for every later version:
    stores written before that rule recorded an analyst's edit of a model box
    as source "analyst", and their rows are evidence, so they are read, not
    rewritten.  `moved_by` is who last moved the box along the chain ("" once
    it is back where it was drawn); a re-run's first versions take it from
    `moved_before` (region key -> name)."""
    edited = {row.parent_region_id for row in rows if row.parent_region_id is not None}
    known = {row.id: row for row in rows}
    first: dict[int, RegionRow] = {}
    moved: dict[int, str] = {}
    for row in sorted(rows, key=lambda r: r.id):  # a version is always written after its parent
        parent = known.get(row.parent_region_id) if row.parent_region_id is not None else None
        if parent is None or parent.id not in first:
            first[row.id] = row
            moved[row.id] = (moved_before or {}).get(row.region_key, "") if row.parent_region_id is None else ""
            continue
        first[row.id] = first[parent.id]
        if _corners(row) == _corners(parent):
            moved[row.id] = moved[parent.id]
        else:
            moved[row.id] = moved[first[row.id].id] if _corners(row) == _corners(first[row.id]) else row.created_by
    return [region(row, row.id not in edited, questions.get(row.id, ()), drawn_by=first[row.id].source,
                   moved_by=moved[row.id]) for row in rows]


def _corners(row: RegionRow) -> tuple[float, float, float, float]:
    return (row.x1, row.y1, row.x2, row.y2)


def moves_before_rerun(row: AnalysisRow) -> dict[str, str]:
    """For a re-run: who had moved each examined box (region key -> name), as the run recorded it."""
    examined = (row.parameters or {}).get(EXAMINED_REGIONS) or []
    return {str(item.get("key", "")): str(item.get("moved_by") or "") for item in examined
            if isinstance(item, dict) and item.get("moved_by")}
