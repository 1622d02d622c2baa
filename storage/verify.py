"""Re-hash every stored evidence file and report against the database,
check every case's hash chain (storage/chain.py), and find what crashed
processes left behind; say what differs.  Nothing found is ever "repaired":
a mismatch is evidence in itself.  Only leftovers (a stored file no record
names, a partial temporary file) may be removed, on request, after the
report (clean_leftovers)."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from storage.blobs import BlobStore
from storage.chain_check import check_chains, find_leftovers
from storage.database import Database
from storage.records import VerifyProblem
from storage.tables import EvidenceFileRow, ReportRow


def verify(db: Database, blobs: BlobStore) -> list[VerifyProblem]:
    problems: list[VerifyProblem] = []
    if db.is_sqlite:
        problems += db.read(_sqlite_integrity)

    def stored(session: Session) -> list[tuple[str, int, int, str, str, int]]:
        files = session.execute(select(EvidenceFileRow.id, EvidenceFileRow.case_id, EvidenceFileRow.original_name,
                                       EvidenceFileRow.sha256, EvidenceFileRow.size_bytes)
                                .order_by(EvidenceFileRow.id))
        reports = session.execute(select(ReportRow.id, ReportRow.case_id, ReportRow.file_name, ReportRow.sha256,
                                         ReportRow.size_bytes).order_by(ReportRow.id))
        return ([("evidence file", *row) for row in files.all()]
                + [("report", *row) for row in reports.all()])

    checked: dict[tuple[str, int], tuple[str, str] | None] = {}
    for what, row_id, case_id, name, sha256, size in db.read(stored):
        key = (sha256, size)
        if key not in checked:  # one file may back several rows (the same image in two cases)
            checked[key] = blobs.check(sha256, size)
        found = checked[key]
        if found is None:
            continue
        kind, actual = found
        subject = f"{what} {row_id} '{name}'"
        path = str(blobs.path_for(sha256))
        if kind == "missing":
            message = f"case {case_id}: {subject} is missing from the store ({path})"
        elif kind == "hash-mismatch":
            message = (f"case {case_id}: {subject} has changed on disk: SHA-256 {actual}, "
                       f"recorded {sha256} ({path})")
        else:
            message = f"case {case_id}: {subject} has {actual} bytes on disk, recorded {size} ({path})"
        problems.append(VerifyProblem(kind=kind, message=message, case_id=case_id, subject=subject, path=path,
                                      expected=sha256 if kind != "size-mismatch" else str(size), actual=actual))
    problems += db.read(check_chains)
    problems += find_leftovers(blobs, {sha256 for sha256, _ in checked})
    return problems


def _sqlite_integrity(session: Session) -> list[VerifyProblem]:
    rows = [row[0] for row in session.execute(text("PRAGMA integrity_check"))]
    if rows == ["ok"]:
        return []
    return [VerifyProblem(kind="database", message=f"the SQLite integrity check failed: {line}")
            for line in rows[:20]]
