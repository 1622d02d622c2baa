"""Exporting a case to one zip and importing it into another installation.

Export writes the zip under a temporary name and renames it into place, so
a full disk never leaves a half-written bundle under the real name, and
signs it with this installation's key (storage.bundle_signature).  Import
checks everything first (storage.bundle_format, storage.bundle_schema),
stages the files inside the data folder, stores them, then inserts every
row in one transaction: any failure leaves the database as it was and takes
back the files it added.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import __version__
from models.image_input import ImageInputError, load_image
from storage import bundle_format as fmt
from storage import bundle_schema as schema
from storage.bundle_signature import check_signature, refuse_unverified, signature_member
from storage.audit import load_case, record
from storage.blobs import BlobStore, Stored, is_sha256
from storage.cases import case_detail
from storage.database import Database
from storage.errors import StoreError
from storage.evidence import is_referenced
from storage.migrate import head_revision
from storage.keys import KeyRing, Signer
from storage.records import AnalysisRecord, BundleSummary, CaseDetail, EvidenceFileRecord
from storage.serialization import to_json
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


def export_bundle(db: Database, blobs: BlobStore, case_id: int, destination: Path, analyst: str) -> BundleSummary:
    detail = db.read(lambda session: case_detail(session, case_id))
    if destination.exists():
        raise StoreError(f"{destination} already exists; choose another file name", "conflict")
    case_json = json.dumps({"schema_revision": head_revision(), "case": to_json(detail)}, ensure_ascii=False,
                           indent=1, sort_keys=True).encode("utf-8")
    files = {fmt.CASE_JSON: (hashlib.sha256(case_json).hexdigest(), len(case_json))}
    for sha256, size in {(f.sha256, f.size_bytes) for f in detail.evidence_files}:
        files[f"evidence/{sha256}"] = (sha256, size)
    for sha256, size in {(r.sha256, r.size_bytes) for r in detail.reports}:
        files[f"reports/{sha256}"] = (sha256, size)
    manifest = json.dumps({
        "format": fmt.BUNDLE_FORMAT, "version": fmt.BUNDLE_VERSION, "schema_revision": head_revision(),
        "zoomin_version": __version__, "exported_at": utc_now().isoformat(), "exported_by": analyst,
        "case_uid": detail.summary.uid, "case_id": detail.id,
        # The case record's chain head here: what case.json describes, for the receiver's record.
        "case_chain_head": db.read(lambda session: load_case(session, case_id).chain_head),
        "files": {name: {"sha256": sha, "size": size} for name, (sha, size) in sorted(files.items())},
    }, indent=1, sort_keys=True).encode("utf-8")
    manifest_sha256 = hashlib.sha256(manifest).hexdigest()
    signature = signature_member(KeyRing(blobs.home), manifest, analyst)
    try:
        handle, partial_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".partial",
                                                dir=destination.parent)
    except OSError as exc:
        raise StoreError(f"cannot write {destination}: {exc.strerror or exc}", "storage") from None
    partial = Path(partial_name)
    try:
        with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            archive.writestr(fmt.MANIFEST, manifest, zipfile.ZIP_DEFLATED)
            archive.writestr(fmt.SIGNATURE, signature, zipfile.ZIP_DEFLATED)
            archive.writestr(fmt.CASE_JSON, case_json, zipfile.ZIP_DEFLATED)
            for name, (sha256, _) in sorted(files.items()):
                if name != fmt.CASE_JSON:
                    _copy_checked(blobs, archive, name, sha256)
            raw.flush()
            os.fsync(raw.fileno())

        def log(session: Session) -> None:
            record(session, load_case(session, case_id, for_update=True), analyst, "case-exported",
                   f"case:{case_id}", None, {"file": destination.name, "manifest_sha256": manifest_sha256})

        db.write(log)
        os.replace(partial, destination)
    except OSError as exc:
        raise StoreError(f"cannot write {destination}: {exc.strerror or exc}; no bundle was written",
                         "storage") from None
    finally:
        partial.unlink(missing_ok=True)
    return BundleSummary(path=str(destination), case_id=case_id, manifest_sha256=manifest_sha256,
                         files=tuple(sorted(files)))


def _copy_checked(blobs: BlobStore, archive: zipfile.ZipFile, name: str, sha256: str) -> None:
    """Copy a stored file into the zip, re-hashing it: an altered file is never exported."""
    digest = hashlib.sha256()
    try:
        source = open(blobs.path_for(sha256), "rb")
    except FileNotFoundError:
        raise StoreError(f"{name} is missing from the store; run `zoomin verify`. No bundle was written",
                         "tampered") from None
    # Images are compressed already; storing them keeps the export fast.
    with source, archive.open(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), "w") as writer:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            writer.write(chunk)
    if digest.hexdigest() != sha256:
        raise StoreError(f"{name} no longer matches its SHA-256 in the store; run `zoomin verify`. "
                         "No bundle was written", "tampered")


def import_bundle(db: Database, blobs: BlobStore, source: Path, analyst: str,
                  limits: fmt.BundleLimits | None = None, accept_unverified: bool = False) -> int:
    """Import a bundle as a new case; returns its id.  The members, the manifest,
    case.json's hash, every record and the signature are checked before a byte
    is unpacked; each evidence file must then decode as the image its record
    describes; an unsigned or untrusted bundle is refused last (unless
    `accept_unverified`), so that a damaged one says what is wrong with it."""
    limits = limits or fmt.BundleLimits()
    with fmt.open_bundle(source) as archive:
        members = fmt.check_members(archive, limits)
        manifest = fmt.read_manifest(archive, members, limits)
        case_sha, case_size = manifest.files[fmt.CASE_JSON]
        case_data = fmt.read_member(archive, members[fmt.CASE_JSON], limits.case_json_bytes)
        if hashlib.sha256(case_data).hexdigest() != case_sha or len(case_data) != case_size:
            raise fmt.bad("case.json does not match its SHA-256 in the manifest (altered in transit?)")
        payload, repairs = schema.loads_bounded(case_data, "case.json")
        detail = schema.read_case(payload, manifest.schema_revision)
        _check_files_match(detail, manifest)
        signer = check_signature(archive, members, manifest, KeyRing(blobs.home), limits)
        formats = {f"evidence/{f.sha256}": f for f in detail.evidence_files}
        fmt.check_room(blobs.home, sum(size for name, (_, size) in manifest.files.items() if name != fmt.CASE_JSON))
        with blobs.staging_folder("import-") as staging:
            staged: list[tuple[Path, str]] = []
            for name, (sha256, size) in sorted(manifest.files.items()):
                if name == fmt.CASE_JSON:
                    continue
                path = staging / sha256
                if not path.exists():
                    record_of = formats.get(name)
                    fmt.extract_checked(archive, members[name], sha256, size, path,
                                        record_of.format if record_of else None)
                    if record_of is not None:
                        _check_decodes(path, record_of)
                staged.append((path, sha256))
            # Said last, so that a bundle that is also damaged says that first.
            if signer.status in ("unsigned", "unknown") and not accept_unverified:
                raise refuse_unverified(signer)
            stored: list[Stored] = []
            sender_head = manifest.raw.get("case_chain_head")
            imported = {"signature": signer.status, "signer_fingerprint": signer.fingerprint,
                        "signer": signer.describe(),
                        "sender_chain_head": sender_head if isinstance(sender_head, str) and is_sha256(sender_head)
                        else None}
            if repairs:
                imported["repairs"] = repairs.describe("case.json")
            try:
                for path, sha256 in staged:
                    stored.append(blobs.put_file(path, expected_sha256=sha256))
                return db.write(lambda session: _insert(session, detail, manifest, source.name, analyst,
                                                        imported))
            except BaseException:
                for item in stored:
                    if item.created and not is_referenced(db, item.sha256):
                        blobs.remove_unreferenced(item.sha256)
                raise


def bundle_signer(blobs: BlobStore, source: Path, limits: fmt.BundleLimits | None = None) -> Signer:
    """Who signed a bundle, as this installation sees it (checks the manifest and signature only)."""
    limits = limits or fmt.BundleLimits()
    with fmt.open_bundle(source) as archive:
        members = fmt.check_members(archive, limits)
        manifest = fmt.read_manifest(archive, members, limits)
        return check_signature(archive, members, manifest, KeyRing(blobs.home), limits)


def _check_decodes(path: Path, item: EvidenceFileRecord) -> None:
    """Evidence is an image of its recorded format and size, decoded in full, not a file that merely
    hashes right."""
    try:
        image = load_image(path, name=item.original_name)
    except ImageInputError as exc:
        raise fmt.bad(f"evidence file {item.id} '{item.original_name}' is not a readable image ({exc})") from None
    same_format = image.format == item.format or {image.format, item.format} == {"JPEG", "MPO"}
    if not same_format or (image.width, image.height) != (item.width, item.height):
        raise fmt.bad(f"evidence file {item.id} '{item.original_name}' is recorded as a {item.format} "
                      f"{item.width}x{item.height} image but is a {image.format} {image.width}x{image.height}")


def _check_files_match(detail: CaseDetail, manifest: fmt.Manifest) -> None:
    wanted = {f"evidence/{f.sha256}": f.size_bytes for f in detail.evidence_files}
    wanted.update({f"reports/{r.sha256}": r.size_bytes for r in detail.reports})
    carried = {name: size for name, (_, size) in manifest.files.items() if name != fmt.CASE_JSON}
    if wanted != carried:
        missing = sorted(set(wanted) - set(carried))[:3]
        raise fmt.bad(f"its files do not match the case records (missing or different: {missing or 'sizes'})")


def _insert(session: Session, detail: CaseDetail, manifest: fmt.Manifest, bundle_name: str, analyst: str,
            imported: dict[str, str]) -> int:
    summary = detail.summary
    existing = session.scalar(select(CaseRow.id).where(CaseRow.uid == summary.uid))
    if existing is not None:
        raise StoreError(f"this case is already here as case {existing}; nothing imported", "conflict")
    case = CaseRow(uid=summary.uid, title=summary.title, notes=detail.notes, status=summary.status,
                   final_verdict=summary.final_verdict, final_note=detail.final_note,
                   model_verdict=summary.model_verdict, created_by=summary.created_by,
                   created_at=summary.created_at, updated_at=summary.updated_at)
    session.add(case)
    session.flush()
    evidence_ids = {}
    for item in detail.evidence_files:
        row = EvidenceFileRow(case_id=case.id, sha256=item.sha256, original_name=item.original_name,
                              size_bytes=item.size_bytes, format=item.format, mime=item.mime, width=item.width,
                              height=item.height, intake_at=item.intake_at, intake_by=item.intake_by)
        session.add(row)
        session.flush()
        evidence_ids[item.id] = row.id
    analysis_ids = {}
    for analysis in detail.analyses:
        analysis_ids[analysis.id] = _insert_analysis(session, case.id, evidence_ids, analysis)
    for report in detail.reports:
        if report.analysis_id is not None and report.analysis_id not in analysis_ids:
            raise fmt.bad(f"report {report.id} names an analysis that is not in the bundle")
        session.add(ReportRow(case_id=case.id, analysis_id=analysis_ids.get(report.analysis_id),
                              file_name=report.file_name, sha256=report.sha256, size_bytes=report.size_bytes,
                              created_by=report.created_by, created_at=report.created_at))
    # The history is kept as recorded; ids inside it are the exporting installation's.
    for event in detail.history:
        session.add(AuditEventRow(case_id=case.id, actor=event.actor, action=event.action, subject=event.subject,
                                  before=event.before, after=event.after, at=event.at))
    record(session, case, analyst, "case-imported", f"case:{case.id}", None, {
        "bundle": bundle_name, "manifest_sha256": manifest.sha256, "original_case_id": summary.id,
        "exported_by": manifest.raw.get("exported_by"), "exported_at": manifest.raw.get("exported_at"),
        **imported})
    return case.id


def _insert_analysis(session: Session, case_id: int, evidence_ids: dict[int, int], analysis: AnalysisRecord) -> int:
    if analysis.evidence_file_id not in evidence_ids:
        raise fmt.bad(f"analysis {analysis.id} names an evidence file that is not in the bundle")
    backend = analysis.backend
    # A run still going where the bundle was made can never finish here.
    running = analysis.status == "running"
    row = AnalysisRow(
        case_id=case_id, evidence_file_id=evidence_ids[analysis.evidence_file_id], backend=backend.backend,
        backend_version=backend.backend_version, model_id=backend.model_id, model_revision=backend.model_revision,
        quantization=backend.quantization, parameters=analysis.parameters, software=analysis.software,
        status="interrupted" if running else analysis.status,
        error="still running when the case was exported" if running else analysis.error,
        runner_host="", runner_pid=0, runner_token="", started_by=analysis.started_by,
        started_at=analysis.started_at, finished_at=analysis.finished_at, timings=analysis.timings,
        verdict=analysis.verdict, score=analysis.score, explanation=analysis.explanation,
        evidence=[e.to_dict() for e in analysis.evidence], notes=list(analysis.notes),
        raw_output=analysis.raw_output)
    session.add(row)
    session.flush()
    region_ids: dict[int, int] = {}
    for region in sorted(analysis.regions, key=lambda r: r.id):
        if region.parent_region_id is not None and region.parent_region_id not in region_ids:
            raise fmt.bad(f"region {region.id} was edited from a region that is not before it in the bundle")
        new = RegionRow(
            analysis_id=row.id, parent_region_id=region_ids.get(region.parent_region_id),
            source=region.source, status=region.status, region_key=region.region_key, x1=region.box.x1,
            y1=region.box.y1, x2=region.box.x2, y2=region.box.y2, score=region.score, label=region.label,
            explanation=region.explanation, evidence=[e.to_dict() for e in region.evidence],
            note=region.note, created_by=region.created_by, created_at=region.created_at)
        session.add(new)
        session.flush()
        region_ids[region.id] = new.id
        for question in region.questions:
            session.add(RegionQuestionRow(region_id=new.id, question=question.question, answer=question.answer,
                                          backend=question.backend, asked_by=question.asked_by,
                                          asked_at=question.asked_at))
    return row.id
