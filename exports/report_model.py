"""A typed view of one case, gathered from the case store before anything is
drawn, so rendering is a pure function of this view (and the same view
always gives the same PDF).  Gathering is also where every evidence file is
re-read and re-hashed: a file that changed since intake stops the export."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from exports.errors import ReportError
from models.image_input import ImageInputError, LoadedImage, load_image
from models.types import Analysis, Reading, Region

if TYPE_CHECKING:
    from storage import (
        AnalysisRecord,
        AuditEvent,
        CaseStore,
        CaseSummary,
        EvidenceFileRecord,
        QuestionRecord,
        RegionRecord,
    )

TOOL_NAME = "ZoomIn Workbench"
# Recording a report is itself logged; leaving those events out keeps a report
# about the evidence, so exporting an unchanged case twice gives the same content.
UNREPORTED_ACTIONS = frozenset({"report-recorded"})


@dataclass(frozen=True)
class RegionChange:
    """One analyst version of a region, against the version it replaced."""

    by: str
    at: datetime
    changes: tuple[str, ...]  # e.g. "status open -> confirmed"
    status: str
    explanation: str
    reason: str = ""  # the analyst's note on this version (a decision's why, a deletion's reason)


@dataclass(frozen=True)
class RegionView:
    """A region through all its versions; `number` is the one drawn on the image."""

    number: int
    key: str
    original: RegionRecord
    latest: RegionRecord
    changes: tuple[RegionChange, ...]
    questions: tuple[QuestionRecord, ...]

    @property
    def deleted(self) -> bool:
        return self.latest.status == "deleted"

    line: str = ""  # the region in one plain sentence (models.reading.region_line)

    @property
    def drawn_by(self) -> str:
        """Who drew the box, as the store records it: 'model' or 'analyst'.  A decision
        or a move by an analyst does not change it (the version's created_by says who)."""
        return self.original.source

    @property
    def moved(self) -> bool:
        return self.latest.box != self.original.box

    @property
    def drawn_style(self) -> str:
        """How the box is drawn: dashed blue ('analyst') when an analyst drew it or
        moved it, as the legend says; a decision alone leaves the tool's style."""
        return "analyst" if self.drawn_by == "analyst" or self.moved else "model"


@dataclass(frozen=True)
class EvidenceView:
    file: EvidenceFileRecord
    verified_sha256: str  # computed from the stored bytes at export time
    image: LoadedImage
    analysis: AnalysisRecord | None
    model_output: Analysis | None
    regions: tuple[RegionView, ...]
    reading: Reading | None = None  # the analysis in plain words


@dataclass(frozen=True)
class ReportData:
    case: CaseSummary
    notes: str
    final_note: str
    items: tuple[EvidenceView, ...]
    history: tuple[AuditEvent, ...]
    generated_at: datetime  # timezone-aware
    tool_version: str
    exported_by: str = ""
    concluded: AuditEvent | None = None  # the event that set the final verdict now on record

    @property
    def analysis_ids(self) -> tuple[int, ...]:
        return tuple(item.analysis.id for item in self.items if item.analysis is not None)


def gather_report(store: CaseStore, case_id: int, analysis_id: int | None = None,
                  now: datetime | None = None, exported_by: str = "") -> ReportData:
    from models import __version__
    from storage import StoreError

    try:
        detail = store.get_case(case_id)
    except StoreError as exc:
        raise ReportError(str(exc), exc.code) from None
    chosen = _chosen_analyses(detail.analyses, case_id, analysis_id)
    reasons = {event.subject: (event.after or {}).get("reason", "") for event in detail.history
               if event.action == "region-deleted" and isinstance(event.after, dict)}
    items = []
    for record in detail.evidence_files:
        analysis = chosen.get(record.id)
        items.append(EvidenceView(
            file=record, verified_sha256=record.sha256, image=_verified_image(store, record),
            analysis=analysis, model_output=analysis.model_output() if analysis else None,
            regions=region_views(analysis, reasons) if analysis else (),
            reading=analysis.reading if analysis else None))
    when = now or datetime.now(timezone.utc)
    when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when
    history = tuple(e for e in detail.history if e.action not in UNREPORTED_ACTIONS)
    return ReportData(case=detail.summary, notes=detail.notes, final_note=detail.final_note, items=tuple(items),
                      history=history, generated_at=when, tool_version=__version__,
                      exported_by=(exported_by or "").strip(),
                      concluded=conclusion_event(history, detail.summary.final_verdict))


def conclusion_event(history: tuple[AuditEvent, ...], final_verdict: str | None) -> AuditEvent | None:
    """The latest event that set the final verdict now on record (who concluded, and when)."""
    if final_verdict is None:
        return None
    return next((e for e in reversed(history) if isinstance(e.after, dict)
                 and e.after.get("final_verdict") == final_verdict), None)


def _chosen_analyses(analyses: tuple[AnalysisRecord, ...], case_id: int,
                     analysis_id: int | None) -> dict[int, AnalysisRecord]:
    """The latest finished analysis of each file; `analysis_id` replaces it for its file."""
    chosen: dict[int, AnalysisRecord] = {}
    for analysis in sorted(analyses, key=lambda a: a.id):
        if analysis.status == "done":
            chosen[analysis.evidence_file_id] = analysis
    if analysis_id is not None:
        picked = next((a for a in analyses if a.id == analysis_id), None)
        if picked is None:
            raise ReportError(f"case {case_id} has no analysis {analysis_id}", "not-found")
        if picked.status != "done":
            raise ReportError(f"analysis {analysis_id} is {picked.status}: only finished analyses are reported",
                              "no-analysis")
        chosen[picked.evidence_file_id] = picked
    return chosen


def _verified_image(store: CaseStore, record: EvidenceFileRecord) -> LoadedImage:
    from storage import StoreError

    try:
        data = store.evidence_bytes(record.id)
    except StoreError as exc:
        code = "hash-mismatch" if exc.code == "tampered" else exc.code
        raise ReportError(f"report not written: {exc}", code) from None
    # Checked here too: the report states this hash, so it must be the one it computed.
    actual = hashlib.sha256(data).hexdigest()
    if actual != record.sha256:
        raise ReportError(f"report not written: evidence file {record.id} '{record.original_name}' has SHA-256 "
                          f"{actual}, not the recorded {record.sha256}", "hash-mismatch")
    try:
        return load_image(data, name=record.original_name)
    except ImageInputError as exc:
        raise ReportError(f"report not written: evidence file {record.id} cannot be decoded: {exc}",
                          exc.code) from None


def region_views(analysis: AnalysisRecord, deletion_reasons: dict[str, str]) -> tuple[RegionView, ...]:
    """Each region's versions folded into one view, model regions first, in the detector's order."""
    # Followed through parent links, not region keys: a backend may give regions no id, or the same one twice.
    child = {r.parent_region_id: r for r in analysis.regions if r.parent_region_id is not None}
    chains = []
    for root in sorted((r for r in analysis.regions if r.parent_region_id is None), key=lambda r: r.id):
        chain = [root]
        while chain[-1].id in child:
            chain.append(child[chain[-1].id])
        chains.append(chain)
    chains.sort(key=lambda chain: (chain[0].source != "model", chain[0].id))
    views = []
    for number, chain in enumerate(chains, 1):
        changes = tuple(_change(before, after, deletion_reasons) for before, after in itertools.pairwise(chain))
        questions = tuple(sorted((q for version in chain for q in version.questions), key=lambda q: q.id))
        views.append(RegionView(number=number, key=chain[0].region_key, original=chain[0], latest=chain[-1],
                                changes=changes, questions=questions, line=_plain_line(chain[-1])))
    return tuple(views)


def _change(before: RegionRecord, after: RegionRecord, reasons: dict[str, str]) -> RegionChange:
    changes = []
    if after.status != before.status:
        changes.append(f"status {before.status} -> {after.status}")
    if after.box != before.box:
        changes.append(f"box {_box(before)} -> {_box(after)}")
    if after.label != before.label:
        changes.append(f"label '{before.label}' -> '{after.label}'")
    if after.explanation != before.explanation:
        changes.append("explanation rewritten")
    return RegionChange(by=after.created_by, at=after.created_at, changes=tuple(changes), status=after.status,
                        explanation=after.explanation if after.explanation != before.explanation else "",
                        # Older cases kept a deletion's reason in the audit log only.
                        reason=after.note or str(reasons.get(f"region:{after.id}", "") or ""))


def _plain_line(region: RegionRecord) -> str:
    from models.reading import region_line

    return region_line(Region(box=region.box, score=region.score, label=region.label,
                              explanation=region.explanation, evidence=list(region.evidence), id=region.region_key))


def _box(region: RegionRecord) -> str:
    return "[" + ", ".join(f"{v:g}" for v in region.box.to_list()) + "]"
