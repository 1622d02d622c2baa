"""Cases: creating, changing, listing/searching and opening one with its history."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from models.types import VERDICTS
from storage import convert
from storage.audit import load_case, record
from storage.errors import StoreError
from storage.records import (
    CASE_STATUSES,
    UNCHANGED,
    CaseDetail,
    CasePage,
    CaseSummary,
    QuestionRecord,
    Sighting,
    Unchanged,
)
from storage.tables import (
    AnalysisRow,
    AuditEventRow,
    CaseRow,
    EvidenceFileRow,
    RegionQuestionRow,
    RegionRow,
    ReportRow,
    utc_now,
)

MAX_TITLE = 500
MAX_PAGE_SIZE = 500
# A search term this long made only of hex digits is also read as the start of a SHA-256.
MIN_SHA_PREFIX = 4


def check_title(title: str) -> str:
    cleaned = (title or "").strip()
    if not cleaned:
        raise StoreError("a case needs a title", "invalid")
    if len(cleaned) > MAX_TITLE:
        raise StoreError(f"a case title is at most {MAX_TITLE} characters", "invalid")
    return cleaned


def check_verdict(verdict: str | None) -> str | None:
    if verdict is not None and verdict not in VERDICTS:
        raise StoreError(f"a verdict is one of {', '.join(VERDICTS)}, got {verdict!r}", "invalid")
    return verdict


def create_case(session: Session, title: str, analyst: str, notes: str = "") -> CaseRow:
    now = utc_now()
    row = CaseRow(uid=uuid.uuid4().hex, title=check_title(title), notes=notes or "", status="open",
                  final_verdict=None, final_note="", model_verdict=None, created_by=analyst,
                  created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    record(session, row, analyst, "case-created", f"case:{row.id}", None,
           {"title": row.title, "notes": row.notes}, at=now)
    return row


def update_case(session: Session, case_id: int, analyst: str, *, title: str | Unchanged, notes: str | Unchanged,
                status: str | Unchanged, final_verdict: str | None | Unchanged,
                final_note: str | Unchanged) -> CaseRow:
    row = load_case(session, case_id, for_update=True)
    wanted: dict[str, Any] = {}
    if title is not UNCHANGED:
        wanted["title"] = check_title(title)
    if notes is not UNCHANGED:
        wanted["notes"] = notes or ""
    if status is not UNCHANGED:
        if status not in CASE_STATUSES:
            raise StoreError(f"a case status is one of {', '.join(CASE_STATUSES)}, got {status!r}", "invalid")
        wanted["status"] = status
    if final_verdict is not UNCHANGED:
        wanted["final_verdict"] = check_verdict(final_verdict)
        if status is UNCHANGED:  # a concluded case is closed; clearing the conclusion reopens it
            if final_verdict is not None:
                wanted["status"] = "closed"
            elif row.status == "closed":
                wanted["status"] = "open"
    if final_note is not UNCHANGED:
        wanted["final_note"] = final_note or ""
    before = {name: getattr(row, name) for name, value in wanted.items() if getattr(row, name) != value}
    if before:
        after = {name: wanted[name] for name in before}
        for name, value in after.items():
            setattr(row, name, value)
        record(session, row, analyst, "case-updated", f"case:{row.id}", before, after)
    return row


def summary(session: Session, row: CaseRow) -> CaseSummary:
    files = session.execute(select(EvidenceFileRow.original_name, EvidenceFileRow.sha256)
                            .where(EvidenceFileRow.case_id == row.id).order_by(EvidenceFileRow.id)).all()
    return convert.case_summary(row, [name for name, _ in files], [sha256 for _, sha256 in files])


def list_cases(session: Session, query: str = "", verdict: str | None = None, analyst: str | None = None,
               page: int = 1, page_size: int = 50) -> CasePage:
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise StoreError(f"page starts at 1 and page_size lies in 1..{MAX_PAGE_SIZE}", "invalid")
    conditions = _search_conditions(query, check_verdict(verdict), analyst)
    total = session.scalar(select(func.count()).select_from(CaseRow).where(*conditions)) or 0
    rows = session.scalars(
        select(CaseRow).where(*conditions).order_by(CaseRow.updated_at.desc(), CaseRow.id.desc())
        .limit(page_size).offset((page - 1) * page_size)).all()
    files: dict[int, list[str]] = defaultdict(list)
    hashes: dict[int, list[str]] = defaultdict(list)
    if rows:
        for case_id, name, sha256 in session.execute(
                select(EvidenceFileRow.case_id, EvidenceFileRow.original_name, EvidenceFileRow.sha256)
                .where(EvidenceFileRow.case_id.in_([r.id for r in rows])).order_by(EvidenceFileRow.id)):
            files[case_id].append(name)
            hashes[case_id].append(sha256)
    return CasePage(cases=tuple(convert.case_summary(r, files[r.id], hashes[r.id]) for r in rows), total=total,
                    page=page, page_size=page_size)


def _search_conditions(query: str, verdict: str | None, analyst: str | None) -> list[Any]:
    conditions: list[Any] = []
    text = (query or "").strip()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        matches = [
            CaseRow.title.ilike(pattern, escape="\\"),
            CaseRow.id.in_(select(EvidenceFileRow.case_id)
                           .where(EvidenceFileRow.original_name.ilike(pattern, escape="\\"))),
        ]
        prefix = text.lower()
        if len(prefix) >= MIN_SHA_PREFIX and all(c in "0123456789abcdef" for c in prefix):
            # A range, not LIKE, so the sha256 index serves it on every backend
            # ("g" sorts after every hex digit).
            matches.append(CaseRow.id.in_(select(EvidenceFileRow.case_id).where(
                EvidenceFileRow.sha256 >= prefix, EvidenceFileRow.sha256 < prefix + "g")))
        if text.isdigit():
            matches.append(CaseRow.id == int(text))
        conditions.append(or_(*matches))
    if verdict:
        conditions.append(or_(CaseRow.final_verdict == verdict,
                              and_(CaseRow.final_verdict.is_(None), CaseRow.model_verdict == verdict)))
    if analyst:
        conditions.append(CaseRow.id.in_(select(AuditEventRow.case_id).where(AuditEventRow.actor == analyst.strip())))
    return conditions


def case_detail(session: Session, case_id: int) -> CaseDetail:
    row = load_case(session, case_id)
    files = session.scalars(select(EvidenceFileRow).where(EvidenceFileRow.case_id == case_id)
                            .order_by(EvidenceFileRow.id)).all()
    analyses = session.scalars(select(AnalysisRow).where(AnalysisRow.case_id == case_id)
                               .order_by(AnalysisRow.id)).all()
    regions = session.scalars(select(RegionRow).join(AnalysisRow, RegionRow.analysis_id == AnalysisRow.id)
                              .where(AnalysisRow.case_id == case_id).order_by(RegionRow.id)).all()
    questions: dict[int, list[QuestionRecord]] = defaultdict(list)
    for question in session.scalars(
            select(RegionQuestionRow).join(RegionRow, RegionQuestionRow.region_id == RegionRow.id)
            .join(AnalysisRow, RegionRow.analysis_id == AnalysisRow.id)
            .where(AnalysisRow.case_id == case_id).order_by(RegionQuestionRow.id)):
        questions[question.region_id].append(convert.question(question))
    regions_by_analysis: dict[int, list[RegionRow]] = defaultdict(list)
    for region in regions:
        regions_by_analysis[region.analysis_id].append(region)
    reports = session.scalars(select(ReportRow).where(ReportRow.case_id == case_id).order_by(ReportRow.id)).all()
    history = session.scalars(select(AuditEventRow).where(AuditEventRow.case_id == case_id)
                              .order_by(AuditEventRow.at, AuditEventRow.id)).all()
    return CaseDetail(
        summary=convert.case_summary(row, [f.original_name for f in files], [f.sha256 for f in files]),
        notes=row.notes, final_note=row.final_note,
        evidence_files=tuple(convert.evidence_file(f) for f in files),
        analyses=tuple(convert.analysis(a, convert.regions_with_lineage(regions_by_analysis[a.id], questions,
                                                                        convert.moves_before_rerun(a)))
                       for a in analyses),
        reports=tuple(convert.report(r) for r in reports),
        history=tuple(convert.audit_event(e) for e in history),
    )


def sightings(session: Session, sha256: str) -> list[Sighting]:
    """Every case holding the file with this SHA-256, newest case first."""
    digest = (sha256 or "").strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise StoreError(f"a SHA-256 is 64 hex digits, got {sha256!r}", "invalid")
    found = []
    for file in session.scalars(select(EvidenceFileRow).where(EvidenceFileRow.sha256 == digest)
                                .order_by(EvidenceFileRow.case_id.desc())):
        case = load_case(session, file.case_id)
        latest = session.scalars(select(AnalysisRow).where(AnalysisRow.evidence_file_id == file.id,
                                                           AnalysisRow.status == "done")
                                 .order_by(AnalysisRow.finished_at.desc(), AnalysisRow.id.desc()).limit(1)).first()
        concluded = _conclusion(session, case) if case.final_verdict else None
        found.append(Sighting(
            case_id=case.id, case_title=case.title, evidence_file_id=file.id, file_name=file.original_name,
            taken_in_at=file.intake_at, taken_in_by=file.intake_by,
            analysed_at=latest.finished_at if latest else None, latest_verdict=latest.verdict if latest else None,
            final_verdict=case.final_verdict, concluded_by=concluded.actor if concluded else "",
            concluded_at=concluded.at if concluded else None))
    return found


def _conclusion(session: Session, case: CaseRow) -> AuditEventRow | None:
    """The audit event that gave the case its final verdict (the latest one that set it)."""
    for event in session.scalars(select(AuditEventRow).where(AuditEventRow.case_id == case.id,
                                                             AuditEventRow.action == "case-updated")
                                 .order_by(AuditEventRow.at.desc(), AuditEventRow.id.desc())):
        if isinstance(event.after, dict) and "final_verdict" in event.after:
            return event
    return None
