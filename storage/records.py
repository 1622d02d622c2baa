"""The typed values the case store hands out.

Nothing outside storage/ ever sees an ORM object: every read returns these
frozen dataclasses, built from the rows inside the session that read them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from models.types import Analysis, Box, Evidence, Reading

CaseStatus = Literal["open", "in-review", "closed"]
AnalysisStatus = Literal["running", "done", "failed", "interrupted"]
# Who drew a region: the detector ("model") or a person ("analyst").
RegionSource = Literal["model", "analyst"]
# The analyst's decision on a region: "confirmed" (an AI artefact), "rejected"
# (authentic), "not-relevant" (neither: not evidence either way).
# "deleted" is a row of its own whose parent is the deleted region, so the
# region itself (and the model's original box) stays on record.
RegionStatus = Literal["open", "confirmed", "rejected", "not-relevant", "deleted"]

CASE_STATUSES: tuple[str, ...] = get_args(CaseStatus)
REGION_STATUSES: tuple[str, ...] = get_args(RegionStatus)


class Unchanged(enum.Enum):
    """Marks an update argument that was not given (None may be a real value,
    e.g. clearing the final verdict)."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


@dataclass(frozen=True)
class BackendInfo:
    """Which detector produced an analysis, precisely enough to reproduce it."""

    backend: str
    backend_version: str = ""
    model_id: str = ""
    model_revision: str = ""  # a named revision or the weights' SHA-256
    quantization: str = ""


@dataclass(frozen=True)
class EvidenceFileRecord:
    id: int
    case_id: int
    sha256: str
    original_name: str
    size_bytes: int
    format: str
    mime: str
    width: int
    height: int
    intake_at: datetime
    intake_by: str


@dataclass(frozen=True)
class QuestionRecord:
    id: int
    region_id: int
    question: str
    answer: str
    backend: str
    asked_by: str
    asked_at: datetime


@dataclass(frozen=True)
class RegionRecord:
    """One version of a region.  An analyst edit is a new record whose
    parent_region_id names the version it changed; `current` is True for the
    latest version of each region (no later edit points at it).

    `source` is who DREW the box ("model" or "analyst"), the same on every
    version of it and on a re-run's region made from it; who changed this
    version is `created_by`.  `moved_by` names the analyst who last moved the
    box away from where it was drawn ("" if it never moved), read from the
    version chain (and, for a re-run, from the run's recorded boxes)."""

    id: int
    analysis_id: int
    parent_region_id: int | None
    source: RegionSource
    status: RegionStatus
    region_key: str
    box: Box
    score: float
    label: str
    explanation: str
    evidence: tuple[Evidence, ...]
    created_by: str
    created_at: datetime
    current: bool
    questions: tuple[QuestionRecord, ...] = ()
    # The analyst's note on this version (why confirmed / rejected, a deletion's reason).
    note: str = ""
    moved_by: str = ""

    @property
    def moved(self) -> bool:
        """Whether an analyst moved the box from where it was drawn."""
        return bool(self.moved_by)


@dataclass(frozen=True)
class RegionChanges:
    """The new region versions one set of box edits wrote (CaseStore.change_regions)."""

    moved: tuple[RegionRecord, ...] = ()
    added: tuple[RegionRecord, ...] = ()
    deleted: tuple[RegionRecord, ...] = ()


@dataclass(frozen=True)
class AnalysisRecord:
    id: int
    case_id: int
    evidence_file_id: int
    backend: BackendInfo
    parameters: dict[str, Any]
    software: dict[str, str]
    status: AnalysisStatus
    error: str
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    timings: dict[str, float]
    verdict: str | None
    score: float | None
    explanation: str
    evidence: tuple[Evidence, ...]
    notes: tuple[str, ...]
    raw_output: dict[str, Any] | None
    regions: tuple[RegionRecord, ...] = ()

    def current_regions(self) -> list[RegionRecord]:
        """The regions as the analyst now sees them: latest versions, deleted ones left out."""
        return [r for r in self.regions if r.current and r.status != "deleted"]

    def model_output(self) -> Analysis | None:
        """The detector's own result, exactly as it was recorded."""
        return Analysis.from_dict(self.raw_output) if self.raw_output else None

    @property
    def reading(self) -> Reading | None:
        """The analysis in plain words: the reading recorded with it, or, for an
        analysis recorded before readings existed, one read now from its recorded
        result (the same function made the recorded ones).  None: nothing recorded."""
        output = self.model_output()
        if output is None:
            return None
        if output.reading is not None:
            return output.reading
        from models.reading import read_analysis  # lazy: opening the store never loads the wording code

        return read_analysis(output)


@dataclass(frozen=True)
class ReportRecord:
    id: int
    case_id: int
    analysis_id: int | None
    file_name: str
    sha256: str
    size_bytes: int
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class AuditEvent:
    id: int
    case_id: int
    actor: str
    action: str
    subject: str
    before: Any
    after: Any
    at: datetime


@dataclass(frozen=True)
class CaseSummary:
    """A case as listed.  `verdict` is the analyst's final verdict when given,
    otherwise the verdict of the latest finished analysis."""

    id: int
    uid: str
    title: str
    status: CaseStatus
    verdict: str | None
    final_verdict: str | None
    model_verdict: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    files: tuple[str, ...] = ()
    file_hashes: tuple[str, ...] = ()  # SHA-256 of each file, in the order of `files`


@dataclass(frozen=True)
class Sighting:
    """A case that already holds a file, found by the file's SHA-256: what an
    analyst taking the same file in again is told before anything is stored."""

    case_id: int
    case_title: str
    evidence_file_id: int
    file_name: str
    taken_in_at: datetime
    taken_in_by: str
    analysed_at: datetime | None  # the latest finished analysis of the file in that case
    latest_verdict: str | None
    final_verdict: str | None  # the case's conclusion, with who gave it and when
    concluded_by: str = ""
    concluded_at: datetime | None = None


@dataclass(frozen=True)
class CaseDetail:
    """A case with everything on record about it, history included."""

    summary: CaseSummary
    notes: str
    final_note: str
    evidence_files: tuple[EvidenceFileRecord, ...]
    analyses: tuple[AnalysisRecord, ...]
    reports: tuple[ReportRecord, ...]
    history: tuple[AuditEvent, ...]

    @property
    def id(self) -> int:
        return self.summary.id


@dataclass(frozen=True)
class CasePage:
    cases: tuple[CaseSummary, ...]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True)
class VerifyProblem:
    """Something on disk or in the database that differs from the record."""

    # chain: a record changed, deleted or added behind ZoomIn's back (storage/chain.py);
    # orphan: a stored file no record names; stale-temp: a partial file a killed process left.
    kind: Literal["missing", "hash-mismatch", "size-mismatch", "database", "chain", "orphan", "stale-temp"]
    message: str
    case_id: int | None = None
    subject: str = ""
    path: str = ""
    expected: str = ""
    actual: str = ""


@dataclass(frozen=True)
class BundleSummary:
    """What export_bundle wrote: the zip and the SHA-256 of its manifest."""

    path: str
    case_id: int
    manifest_sha256: str
    files: tuple[str, ...] = field(default_factory=tuple)
