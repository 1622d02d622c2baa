"""What `zoomin verify` checks beyond the files' hashes: each case's hash
chain (storage/chain.py), and the leftovers of processes killed mid-write.

A chain is read back in link order and recomputed; the first link that
does not hold is named: a record changed after it was recorded (a verdict
edited in the database, an evidence file swapped together with its row),
a link missing (an audit event deleted), a record in no link (a row
inserted behind ZoomIn's back), or a chain shorter than the case says.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.blobs import BlobStore, is_sha256
from storage.chain import CHAINED_ROWS, RECORD_NAMES, genesis, is_linkable, link_hash, row_values
from storage.records import VerifyProblem
from storage.tables import (
    AnalysisRow,
    AuditEventRow,
    CaseRow,
    EvidenceFileRow,
    RegionQuestionRow,
    RegionRow,
    ReportRow,
)

# A leftover younger than this may belong to a write still in progress (another session).
STALE_AFTER_S = 15 * 60


def check_chains(session: Session, batch: int = 200) -> list[VerifyProblem]:
    problems = []
    case_ids = list(session.scalars(select(CaseRow.id).order_by(CaseRow.id)))
    for start in range(0, len(case_ids), batch):
        chunk = case_ids[start:start + batch]
        records, reports = _records(session, chunk)
        for case in session.scalars(select(CaseRow).where(CaseRow.id.in_(chunk)).order_by(CaseRow.id)):
            problems += _check_case(case, records.get(case.id, []), reports.get(case.id, []))
        session.expunge_all()  # a read: nothing to keep, and a large store must not pile up in memory
    return problems


def _records(session: Session, case_ids: list[int]) -> tuple[dict[int, list[Any]], dict[int, list[ReportRow]]]:
    """Every chained record and report of these cases, by case."""
    records: dict[int, list[Any]] = defaultdict(list)
    for table in (EvidenceFileRow, AnalysisRow, AuditEventRow):
        for row in session.scalars(select(table).where(table.case_id.in_(case_ids))):
            records[row.case_id].append(row)
    in_cases = AnalysisRow.case_id.in_(case_ids)
    for row, case_id in session.execute(select(RegionRow, AnalysisRow.case_id)
                                        .join(AnalysisRow, RegionRow.analysis_id == AnalysisRow.id).where(in_cases)):
        records[case_id].append(row)
    for row, case_id in session.execute(select(RegionQuestionRow, AnalysisRow.case_id)
                                        .join(RegionRow, RegionQuestionRow.region_id == RegionRow.id)
                                        .join(AnalysisRow, RegionRow.analysis_id == AnalysisRow.id).where(in_cases)):
        records[case_id].append(row)
    reports: dict[int, list[ReportRow]] = defaultdict(list)
    for report in session.scalars(select(ReportRow).where(ReportRow.case_id.in_(case_ids))):
        reports[report.case_id].append(report)
    return records, reports


def _name(row: Any) -> str:
    label = RECORD_NAMES[CHAINED_ROWS[type(row)]]
    if isinstance(row, EvidenceFileRow):
        return f"{label} {row.id} '{row.original_name}'"
    if isinstance(row, AuditEventRow):
        return f"{label} {row.id} ({row.action} by {row.actor})"
    return f"{label} {row.id}"


def _check_case(case: CaseRow, rows: list[Any], reports: list[ReportRow]) -> list[VerifyProblem]:
    linked = sorted((r for r in rows if r.chain_seq is not None), key=lambda r: (r.chain_seq, type(r).__name__))
    breaks: list[str] = []
    previous, expected_seq = genesis(case.uid), 1
    for row in linked:
        where = f"{_name(row)} (link {row.chain_seq})"
        if row.chain_seq < expected_seq:
            breaks.append(f"{where} claims a place another record holds: it was inserted behind ZoomIn's back")
            continue
        if row.chain_seq > expected_seq:
            one = row.chain_seq == expected_seq + 1
            missing = f"link {expected_seq} is" if one else f"links {expected_seq}-{row.chain_seq - 1} are"
            breaks.append(f"{missing} missing before {where}: a record was deleted from the database")
        elif row.chain_prev != previous:
            breaks.append(f"the record before {where} is not the one it was chained to: a record was deleted "
                          "or replaced")
        if link_hash(row.chain_prev or "", _table(row), row.chain_seq, row_values(row)) != row.chain_hash:
            breaks.append(f"{where} has changed since it was recorded{_now_reads(row)}")
        previous, expected_seq = row.chain_hash, row.chain_seq + 1
    for row in rows:
        if row.chain_seq is None and is_linkable(row):
            breaks.append(f"{_name(row)} is in no link of the chain: it was added behind ZoomIn's back")
    last = expected_seq - 1
    if not breaks and (case.chain_length != last or (last and case.chain_head != previous)):
        breaks.append(f"the chain ends at link {last} but the case recorded {case.chain_length} links: "
                      "the newest records were deleted")
    heads = {genesis(case.uid), *(r.chain_hash for r in linked)}
    for report in sorted(reports, key=lambda r: r.id):
        if report.chain_head is not None and report.chain_head not in heads:
            breaks.append(f"report {report.id} '{report.file_name}' describes a case record that is no longer "
                          "in the chain")
    if not breaks:
        return []
    more = f" (and {len(breaks) - 1} more broken link{'s' if len(breaks) > 2 else ''} after it)" \
        if len(breaks) > 1 else ""
    return [VerifyProblem(kind="chain", case_id=case.id, subject=f"case {case.id}",
                          message=f"case {case.id}: the case record was altered: {breaks[0]}{more}")]


def _table(row: Any) -> str:
    return row.__table__.name


def _now_reads(row: Any) -> str:
    if isinstance(row, AnalysisRow):
        return f" (it now reads verdict {row.verdict!r}, score {row.score})"
    if isinstance(row, EvidenceFileRow):
        return f" (it now names the file SHA-256 {row.sha256}, {row.size_bytes} bytes)"
    return ""


# ---------------------------------------------------------------------- leftovers


def find_leftovers(blobs: BlobStore, referenced: set[str], now: float | None = None) -> list[VerifyProblem]:
    """Stored files no record names and temporary files older than STALE_AFTER_S."""
    now = time.time() if now is None else now
    problems = []
    for path in _entries(blobs.objects, depth=2):
        if _age(path, now) < STALE_AFTER_S or not path.is_file():
            continue
        if is_sha256(path.name) and path.parent.name == path.name[:2]:
            if path.name not in referenced:
                problems.append(VerifyProblem(kind="orphan", path=str(path), subject=path.name,
                                              message=f"stored file {path} belongs to no case record (left by "
                                                      "an interrupted intake or import)"))
        else:
            problems.append(_stale(path))
    for path in _entries(blobs.scratch, depth=1):
        if _age(path, now) >= STALE_AFTER_S:
            problems.append(_stale(path))
    return problems


def _stale(path: Path) -> VerifyProblem:
    return VerifyProblem(kind="stale-temp", path=str(path), subject=path.name,
                         message=f"temporary {'folder' if path.is_dir() else 'file'} {path} was left by a process "
                                 "that stopped mid-write")


def _entries(folder: Path, depth: int) -> list[Path]:
    if not folder.is_dir():
        return []
    found = sorted(folder.iterdir())
    if depth == 2:
        return sorted(p for sub in found if sub.is_dir() for p in sub.iterdir())
    return found


def _age(path: Path, now: float) -> float:
    try:
        return now - path.lstat().st_mtime
    except FileNotFoundError:
        return 0.0


def clean_leftovers(blobs: BlobStore, problems: list[VerifyProblem], still_referenced) -> list[str]:
    """Remove the orphan and stale-temp files `problems` names; `still_referenced(sha256)` is asked
    again just before an orphan goes (a record may have arrived since)."""
    removed = []
    roots = (blobs.objects.resolve(), blobs.scratch.resolve())
    for problem in problems:
        if problem.kind not in ("orphan", "stale-temp") or not problem.path:
            continue
        path = Path(problem.path)
        if not any(path.resolve().is_relative_to(root) for root in roots):
            continue
        if problem.kind == "orphan" and still_referenced(path.name):
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except FileNotFoundError:
            pass
        removed.append(str(path))
    return removed
