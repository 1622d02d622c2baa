"""Intake of evidence files and reports: the file goes into the content-
addressed store first, then its row and audit event in one transaction.  If
the transaction fails, a file this call created is taken back, so a failed
intake leaves neither a row nor a stray file."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.image_input import ImageInputError, LoadedImage, load_image
from storage import convert, similarity
from storage.audit import load_case, record
from storage.blobs import BlobStore, Stored
from storage.cases import check_title, create_case
from storage.database import Database
from storage.errors import StoreError
from storage.memory import hashes_for_intake
from storage.records import EvidenceFileRecord, ReportRecord
from storage.tables import AnalysisRow, EvidenceFileRow, ReportRow, utc_now

T = TypeVar("T")
MAX_NAME = 1000


@dataclass(frozen=True)
class EvidenceIntake:
    """The evidence item for a file, and whether this intake created it (the
    same file taken in twice in one case is one item)."""

    record: EvidenceFileRecord
    is_new: bool


def read_image(source: bytes | str | os.PathLike | LoadedImage, original_name: str | None,
               max_pixels: int | None) -> tuple[LoadedImage, str]:
    if isinstance(source, LoadedImage):
        return source, original_name or Path(source.name).name
    if isinstance(source, (bytes, bytearray)):
        name = original_name or "unnamed"
    else:
        name = original_name or Path(source).name
    try:
        return load_image(source, name=name, max_pixels=max_pixels), name
    except ImageInputError as exc:
        raise StoreError(f"not taken in as evidence: {exc}", exc.code) from None


def add_evidence_file(db: Database, blobs: BlobStore, case_id: int | None, image: LoadedImage, original_name: str,
                      analyst: str, new_case_title: str | None = None) -> EvidenceIntake:
    """Take `image` in to case `case_id`, or (case_id None) to a new case
    titled `new_case_title` created in the same transaction."""
    name = _clean_name(original_name)
    if case_id is None:
        check_title(new_case_title or "")
    else:
        db.read(lambda session: load_case(session, case_id))  # no file is stored for a case that does not exist

    hashes = hashes_for_intake(image.rgb, image.sha256)  # perceptual hashes for "seen before" (storage/memory.py)

    def insert(session: Session) -> EvidenceIntake:
        if case_id is None:
            case = create_case(session, new_case_title or "", analyst)
        else:
            case = load_case(session, case_id, for_update=True)
        existing = session.scalars(select(EvidenceFileRow).where(
            EvidenceFileRow.case_id == case.id, EvidenceFileRow.sha256 == image.sha256)).one_or_none()
        if existing is not None:
            return EvidenceIntake(convert.evidence_file(existing), is_new=False)
        now = utc_now()
        row = EvidenceFileRow(case_id=case.id, sha256=image.sha256, original_name=name,
                              size_bytes=image.size_bytes, format=image.format, mime=image.mime,
                              width=image.width, height=image.height, intake_at=now, intake_by=analyst)
        session.add(row)
        session.flush()
        similarity.insert_hashes(session, [similarity.hash_row(h, evidence_file_id=row.id) for h in hashes])
        record(session, case, analyst, "evidence-added", f"evidence:{row.id}", None,
               {"sha256": row.sha256, "original_name": name, "size_bytes": row.size_bytes,
                "format": row.format, "width": row.width, "height": row.height}, at=now)
        return EvidenceIntake(convert.evidence_file(row), is_new=True)

    stored = blobs.put_bytes(image.data)
    try:
        return _write_then_keep(db, blobs, stored, insert)
    except StoreError as exc:
        if exc.code != "conflict" or case_id is None:
            raise
        # Another session took in the same file at the same moment: theirs is the item.
        return db.read(lambda session: EvidenceIntake(convert.evidence_file(session.scalars(select(
            EvidenceFileRow).where(EvidenceFileRow.case_id == case_id,
                                   EvidenceFileRow.sha256 == image.sha256)).one()), is_new=False))


def record_report(db: Database, blobs: BlobStore, case_id: int, path: Path, analyst: str,
                  analysis_id: int | None) -> ReportRecord:
    """Keep a copy of a report file, hashed, beside the case it describes."""
    if not path.is_file():
        raise StoreError(f"{path}: no such report file", "not-found")

    def check(session: Session) -> None:
        load_case(session, case_id)
        if analysis_id is not None:
            owner = session.scalar(select(AnalysisRow.case_id).where(AnalysisRow.id == analysis_id))
            if owner != case_id:
                raise StoreError(f"analysis {analysis_id} does not belong to case {case_id}", "invalid")

    db.read(check)

    def insert(session: Session) -> ReportRecord:
        case = load_case(session, case_id, for_update=True)
        now = utc_now()
        row = ReportRow(case_id=case_id, analysis_id=analysis_id, file_name=_clean_name(path.name),
                        sha256=stored.sha256, size_bytes=stored.size, created_by=analyst, created_at=now)
        session.add(row)
        session.flush()
        record(session, case, analyst, "report-recorded", f"report:{row.id}", None,
               {"file_name": row.file_name, "sha256": row.sha256, "analysis_id": analysis_id}, at=now)
        return convert.report(row)

    stored = blobs.put_file(path)
    return _write_then_keep(db, blobs, stored, insert)


def _write_then_keep(db: Database, blobs: BlobStore, stored: Stored, work: Callable[[Session], T]) -> T:
    try:
        return db.write(work)
    except BaseException:
        if stored.created and not is_referenced(db, stored.sha256):
            blobs.remove_unreferenced(stored.sha256)
        raise


def is_referenced(db: Database, sha256: str) -> bool:
    """Whether any row names this file (when unsure, say yes: a stray file is
    harmless, a missing one is not)."""
    def count(session: Session) -> int:
        files = session.scalar(select(func.count()).where(EvidenceFileRow.sha256 == sha256)) or 0
        reports = session.scalar(select(func.count()).where(ReportRow.sha256 == sha256)) or 0
        return files + reports
    try:
        return db.read(count) > 0
    except StoreError:
        return True


def _clean_name(name: str) -> str:
    cleaned = "".join(ch for ch in (name or "") if ch.isprintable()).strip() or "unnamed"
    return cleaned[-MAX_NAME:]
