"""CaseStore: the one API the UI, the command line and the report use to
keep cases.  Typed values go in (models.types), records come out
(storage.records); every method is one transaction, and every change an
analyst makes is signed with their name and written to the audit trail in
that same transaction.  StoreError is the only exception it raises."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.orm import Session

from models.image_input import LoadedImage
from models.types import Analysis, Box
from storage import analyses, bundle, cases, convert, evidence, migrate, regions
from storage import chain  # noqa: F401  (every session chains the records it writes)
from storage.audit import load_case, require_analyst
from storage.blobs import BlobStore
from storage.bundle_format import BundleLimits
from storage.config import data_home, database_url
from storage.database import Database
from storage.errors import StoreError
from storage.evidence import EvidenceIntake
from storage.keys import KeyRing, Signer
from storage.memory import CaseMemory
from storage.private import private_file, private_folder
from storage.records import (
    UNCHANGED,
    AnalysisRecord,
    BackendInfo,
    BundleSummary,
    CaseDetail,
    CasePage,
    CaseSummary,
    EvidenceFileRecord,
    QuestionRecord,
    RegionChanges,
    RegionRecord,
    ReportRecord,
    Sighting,
    Unchanged,
    VerifyProblem,
)
from storage.runners import Runners
from storage.tables import EvidenceFileRow
from storage.chain_check import clean_leftovers
from storage.verify import verify


class CaseStore:
    """Cases, evidence, analyses, regions, questions, reports and the audit trail."""

    def __init__(self, db: Database, blobs: BlobStore):
        self._db = db
        self._blobs = blobs
        self._runners = Runners(blobs.home)
        self.interrupted_on_open: list[int] = []

    @classmethod
    def open(cls, home: str | os.PathLike | None = None, url: str | None = None) -> CaseStore:
        """Open (creating if needed) the store in `home` (default ZOOMIN_HOME or the user's
        data folder) and database `url` (default DATABASE_URL or SQLite in `home`);
        upgrade the schema and mark runs left by crashed processes `interrupted`."""
        folder = data_home(home)
        address = database_url(folder, url)
        try:
            private_folder(folder)
            if address.get_backend_name() == "sqlite" and address.database not in (None, "", ":memory:") \
                    and Path(address.database).parent.is_dir():
                private_file(Path(address.database))
        except OSError as exc:
            raise StoreError(f"cannot create the data folder {folder}: {exc.strerror or exc}", "storage") from None
        db = Database(address)
        try:
            migrate.upgrade(db)
            store = cls(db, BlobStore(folder))
            store.interrupted_on_open = store.mark_interrupted()
        except BaseException:
            db.dispose()
            raise
        return store

    @property
    def home(self) -> Path:
        return self._blobs.home

    @property
    def database(self) -> str:
        return self._db.describe()

    def close(self) -> None:
        self._db.dispose()

    def __enter__(self) -> CaseStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------ cases

    def create_case(self, title: str, analyst: str, notes: str = "") -> CaseSummary:
        name = require_analyst(analyst)
        return self._db.write(lambda s: cases.summary(s, cases.create_case(s, title, name, notes)))

    def update_case(self, case_id: int, analyst: str, *, title: str | Unchanged = UNCHANGED,
                    notes: str | Unchanged = UNCHANGED, status: str | Unchanged = UNCHANGED,
                    final_verdict: str | None | Unchanged = UNCHANGED,
                    final_note: str | Unchanged = UNCHANGED) -> CaseSummary:
        """Change what is given (final_verdict=None clears it); audited with before and after."""
        name = require_analyst(analyst)
        return self._db.write(lambda s: cases.summary(s, cases.update_case(
            s, case_id, name, title=title, notes=notes, status=status, final_verdict=final_verdict,
            final_note=final_note)))

    def list_cases(self, query: str = "", verdict: str | None = None, analyst: str | None = None,
                   page: int = 1, page_size: int = 50) -> CasePage:
        """Newest first.  `query` matches the title or a file name (substring, any case),
        a SHA-256 prefix (4+ hex digits) or a case id; `verdict` the case's verdict;
        `analyst` anyone who changed the case."""
        return self._db.read(lambda s: cases.list_cases(s, query, verdict, analyst, page, page_size))

    def cases_with_file(self, sha256: str) -> list[Sighting]:
        """Every case already holding the file with this SHA-256 (newest first):
        when it was taken in and analysed, its latest verdict and the case's conclusion."""
        return self._db.read(lambda s: cases.sightings(s, sha256))

    def get_case(self, case_id: int) -> CaseDetail:
        """The case with its files, analyses (every region version), reports and history."""
        return self._db.read(lambda s: cases.case_detail(s, case_id))

    # ------------------------------------------------------------------ evidence files

    def add_evidence_file(self, case_id: int, source: bytes | str | os.PathLike | LoadedImage, analyst: str,
                          original_name: str | None = None, max_pixels: int | None = None) -> EvidenceIntake:
        """Take an image in as evidence: stored once by SHA-256, read-only; the same
        file twice in one case is the same item (is_new False)."""
        name = require_analyst(analyst)
        image, file_name = evidence.read_image(source, original_name, max_pixels)
        return evidence.add_evidence_file(self._db, self._blobs, case_id, image, file_name, name)

    def open_case_with_evidence(self, title: str, source: bytes | str | os.PathLike | LoadedImage, analyst: str,
                                original_name: str | None = None, max_pixels: int | None = None) -> EvidenceIntake:
        """A new case and its first evidence file in one step: both or neither."""
        name = require_analyst(analyst)
        image, file_name = evidence.read_image(source, original_name, max_pixels)
        return evidence.add_evidence_file(self._db, self._blobs, None, image, file_name, name, new_case_title=title)

    def get_evidence_file(self, evidence_file_id: int) -> EvidenceFileRecord:
        def load(session: Session) -> EvidenceFileRecord:
            row = session.get(EvidenceFileRow, evidence_file_id)
            if row is None:
                raise StoreError(f"no evidence file {evidence_file_id}", "not-found")
            return convert.evidence_file(row)

        return self._db.read(load)

    def evidence_bytes(self, evidence_file_id: int) -> bytes:
        """The stored evidence file, checked against its recorded SHA-256."""
        record = self.get_evidence_file(evidence_file_id)
        subject = f"evidence file {evidence_file_id} '{record.original_name}'"
        try:
            data = self._blobs.path_for(record.sha256).read_bytes()
        except OSError:
            raise StoreError(f"{subject} is missing from the store; run `zoomin verify`", "tampered") from None
        if hashlib.sha256(data).hexdigest() != record.sha256:
            raise StoreError(f"{subject} no longer matches its recorded SHA-256; it is left as found, "
                             "run `zoomin verify`", "tampered")
        return data

    def stored_path(self, sha256: str) -> Path:
        """Where the read-only copy of an evidence file or report lies."""
        return self._blobs.path_for(sha256)

    # ------------------------------------------------------------------ analyses

    def start_analysis(self, case_id: int, evidence_file_id: int, backend: BackendInfo, analyst: str,
                       parameters: dict | None = None, examined: Sequence[RegionRecord] = ()) -> AnalysisRecord:
        """Record a run as `running` (committed) before the detector starts.
        Refused ("busy") while a live process runs the same file on the same
        backend.  `examined`: for a re-run, the region versions whose boxes it
        examines, so its regions keep who drew each box (and the analyst's label)."""
        name = require_analyst(analyst)
        runner = self._runners.current()
        settings = dict(parameters or {})
        if examined:
            settings[convert.EXAMINED_REGIONS] = analyses.examined_parameter(examined)
        return self._db.write(lambda s: convert.analysis(analyses.start_analysis(
            s, case_id, evidence_file_id, backend, name, settings, runner, self._runners.is_gone)))

    def finish_analysis(self, analysis_id: int, result: Analysis) -> AnalysisRecord:
        """Results, regions (source 'model') and the case's verdict in one transaction."""
        def finish(session: Session) -> AnalysisRecord:
            analyses.finish_analysis(session, analysis_id, result)
            return analyses.analysis_record(session, analysis_id)

        return self._db.write(finish)

    def fail_analysis(self, analysis_id: int, error: str) -> AnalysisRecord:
        return self._db.write(lambda s: convert.analysis(analyses.fail_analysis(s, analysis_id, error)))

    def mark_interrupted(self) -> list[int]:
        """Runs whose process died become `interrupted` (done on open); returns their ids."""
        # Looked at first without the write lock: most starts find nothing running.
        if not self._db.read(analyses.any_running):
            self._runners.sweep()
            return []
        return self._db.write(lambda s: analyses.mark_interrupted(s, self._runners.is_gone))

    def get_analysis(self, analysis_id: int) -> AnalysisRecord:
        return self._db.read(lambda s: analyses.analysis_record(s, analysis_id))

    # ------------------------------------------------------------------ regions

    def edit_region(self, region_id: int, analyst: str, *, box: Box | Unchanged = UNCHANGED,
                    label: str | Unchanged = UNCHANGED, status: str | Unchanged = UNCHANGED,
                    explanation: str | Unchanged = UNCHANGED, note: str | Unchanged = UNCHANGED) -> RegionRecord:
        """A new version of the region (the edited version stays on record).
        `note` is the analyst's reason for this version, e.g. why it was rejected."""
        name = require_analyst(analyst)
        return self._db.write(lambda s: regions.region_record(s, regions.edit_region(
            s, region_id, name, box=box, label=label, status=status, explanation=explanation, note=note)))

    def add_region(self, analysis_id: int, analyst: str, box: Box, label: str = "", explanation: str = "",
                   status: str = "open") -> RegionRecord:
        name = require_analyst(analyst)
        return self._db.write(lambda s: regions.region_record(s, regions.add_region(
            s, analysis_id, name, box, label, explanation, status)))

    def delete_region(self, region_id: int, analyst: str, reason: str = "") -> RegionRecord:
        """Recorded as a new 'deleted' version; nothing is removed."""
        name = require_analyst(analyst)
        return self._db.write(lambda s: regions.region_record(s, regions.delete_region(s, region_id, name, reason)))

    def change_regions(self, analysis_id: int, analyst: str, *, moves: Sequence[tuple[int, Box]] = (),
                       additions: Sequence[tuple[Box, str]] = (), deletions: Sequence[int] = (),
                       reason: str = "") -> RegionChanges:
        """Move (region id, new box), add (box, label) and delete (region id,
        with `reason`) in one transaction: a refused change leaves every box as it was."""
        name = require_analyst(analyst)
        return self._db.write(lambda s: regions.change_regions(s, analysis_id, name, moves, additions, deletions,
                                                               reason))

    def add_question(self, region_id: int, analyst: str, question: str, answer: str,
                     backend: str) -> QuestionRecord:
        name = require_analyst(analyst)
        return self._db.write(lambda s: convert.question(regions.add_question(
            s, region_id, name, question, answer, backend)))

    # ------------------------------------------------------------------ reports

    def record_report(self, case_id: int, path: str | os.PathLike, analyst: str,
                      analysis_id: int | None = None) -> ReportRecord:
        """Keep a hashed, read-only copy of a report written about the case."""
        name = require_analyst(analyst, export=True)
        return evidence.record_report(self._db, self._blobs, case_id, Path(path), name, analysis_id)

    # ------------------------------------------------------------------ integrity and bundles

    def verify(self) -> list[VerifyProblem]:
        """Re-hash every stored evidence file and report against the database, check every
        case's hash chain, and find orphan stored files and stale temporary files."""
        return verify(self._db, self._blobs)

    def chain_head(self, case_id: int) -> str:
        """The newest link of the case's hash chain (what a report or a colleague can write down
        to tell later whether the record was altered); "" for a case with no record yet."""
        return self._db.read(lambda s: load_case(s, case_id).chain_head or "")

    def clean_leftovers(self, problems: list[VerifyProblem]) -> list[str]:
        """Remove the orphan and stale temporary files verify() found; returns their paths.
        Nothing else is ever removed: any other problem is evidence."""
        return clean_leftovers(self._blobs, problems, lambda sha256: evidence.is_referenced(self._db, sha256))

    def export_bundle(self, case_id: int, destination: str | os.PathLike, analyst: str) -> BundleSummary:
        name = require_analyst(analyst, export=True)
        return bundle.export_bundle(self._db, self._blobs, case_id, Path(destination), name)

    def import_bundle(self, source: str | os.PathLike, analyst: str,
                      limits: BundleLimits | None = None, accept_unverified: bool = False) -> CaseSummary:
        """Import a bundle as a new case, every hash, record and the signature checked; on any
        failure nothing is imported.  An unsigned bundle or one from a key not trusted here is
        refused unless `accept_unverified` (the import event then says so)."""
        name = require_analyst(analyst)
        case_id = bundle.import_bundle(self._db, self._blobs, Path(source), name, limits, accept_unverified)
        return self._db.read(lambda s: cases.summary(s, load_case(s, case_id)))

    def bundle_signer(self, source: str | os.PathLike) -> Signer:
        """Who signed a bundle, as this installation sees it."""
        return bundle.bundle_signer(self._blobs, Path(source))

    @property
    def memory(self) -> CaseMemory:
        """Near-duplicates across every case, the hash index's back-fill, training releases."""
        return CaseMemory(self._db, self._blobs)

    @property
    def keys(self) -> KeyRing:
        """This installation's signing key and the keys it trusts."""
        return KeyRing(self._blobs.home)
