"""Analyst work on one analysis' regions: numbering, questions, decisions and
box edits.  Part of the workbench's service layer (no Gradio here): the
handlers and the tests call it alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from models.detector import Detector
from models.types import Box, Region
from zoomin_ui.service import WorkbenchError
from zoomin_ui.workbench import evidence_image, get_analysis, store_errors

if TYPE_CHECKING:
    from storage import AnalysisRecord, CaseStore, QuestionRecord, RegionRecord

# The analyst's decision on a region, as the store's region statuses record it.
DECISIONS = {"AI artefact": "confirmed", "authentic": "rejected", "not relevant": "not-relevant"}
DECISION_NAMES = {status: name for name, status in DECISIONS.items()}


@dataclass(frozen=True)
class NumberedRegion:
    """A region as the analyst sees it: its number stays the same through
    edits and deletions of other regions (model boxes first, then added ones)."""

    number: int
    record: RegionRecord

    @property
    def explanation(self) -> str:
        return self.record.explanation

    @property
    def decision(self) -> str:
        """The analyst's decision in words, with its note ('' while undecided)."""
        name = DECISION_NAMES.get(self.record.status, "")
        if not name:
            return ""
        return name + (f": {self.record.note}" if self.record.note else "")


def _key_order(key: str) -> tuple[int, int, str]:
    prefix, digits = key[:1], key[1:]
    return (0 if prefix == "r" else 1, int(digits) if digits.isdigit() else 0, key)


def numbered_regions(analysis: AnalysisRecord) -> list[NumberedRegion]:
    """The current, not deleted regions, numbered by their stable region key."""
    keys = sorted({r.region_key for r in analysis.regions}, key=_key_order)
    number = {key: index for index, key in enumerate(keys, 1)}
    current = sorted(analysis.current_regions(), key=lambda r: _key_order(r.region_key))
    return [NumberedRegion(number[r.region_key], r) for r in current]


def find_region(analysis: AnalysisRecord, region_id: int) -> RegionRecord:
    for region in analysis.regions:
        if region.id == region_id:
            return region
    raise WorkbenchError(f"region {region_id} is not part of analysis {analysis.id}", "not-found")


def region_as_detected(record: RegionRecord) -> Region:
    """A stored region as a detector takes it (the analyst's decision left out)."""
    return Region(box=record.box, score=record.score, label=record.label,
                  explanation=record.explanation, evidence=list(record.evidence),
                  id=record.region_key)


def ask_about_region(store: CaseStore, detector: Detector, analysis_id: int, region_id: int, question: str,
                     analyst: str) -> QuestionRecord:
    """The backend's answer about one region, saved with the region."""
    question = (question or "").strip()
    if not question:
        raise WorkbenchError("type a question first", "invalid")
    analysis = get_analysis(store, analysis_id)
    region = find_region(analysis, region_id)
    image = evidence_image(store, analysis.evidence_file_id)
    with store_errors():
        result = detector.examine(image, [region_as_detected(region)], question=question)
        return store.add_question(region_id, analyst, question, result.answer or "(no answer)", detector.name)


def override_region(store: CaseStore, analysis_id: int, region_id: int, analyst: str, decision: str,
                    note: str = "") -> RegionRecord:
    """Mark a region AI artefact / authentic / not relevant, with a note: a
    new version of the region (status confirmed, rejected or not-relevant,
    the note kept with it), audited."""
    if decision not in DECISIONS:
        raise WorkbenchError(f"choose one of: {', '.join(DECISIONS)}", "invalid")
    find_region(get_analysis(store, analysis_id), region_id)
    with store_errors():
        return store.edit_region(region_id, analyst, status=DECISIONS[decision], note=note)


@dataclass(frozen=True)
class EditedBox:
    """A box as the editor returns it: `number` names the region it was
    (None for a box the analyst drew), the box is in image pixels."""

    number: int | None
    box: Box


@dataclass(frozen=True)
class BoxChanges:
    moved: tuple[int, ...] = ()
    added: tuple[int, ...] = ()
    deleted: tuple[int, ...] = ()

    def describe(self) -> str:
        parts = [f"{len(ids)} {what}" for ids, what in
                 ((self.moved, "moved"), (self.added, "added"), (self.deleted, "deleted")) if ids]
        return ", ".join(parts) if parts else "no box changed"


def apply_box_edits(store: CaseStore, analysis_id: int, edited: Sequence[EditedBox], analyst: str,
                    tolerance: float = 1.0) -> BoxChanges:
    """Bring the analysis' regions in line with the editor: moved boxes become
    new versions, missing ones are deleted, unknown ones added (every change
    audited; the model's original boxes stay on record).  Shifts within
    `tolerance` pixels are the editor's rounding, not a move."""
    analysis = get_analysis(store, analysis_id)
    if analysis.status != "done":
        raise WorkbenchError(f"analysis {analysis_id} is {analysis.status}: boxes are edited on finished "
                             "analyses", "conflict")
    by_number = {n.number: n.record for n in numbered_regions(analysis)}
    kept = {e.number for e in edited if e.number in by_number}
    moved, added, deleted = [], [], []
    with store_errors():
        for item in edited:
            record = by_number.get(item.number) if item.number is not None else None
            if record is None:
                added.append(store.add_region(analysis_id, analyst, item.box, label="analyst box").id)
            elif _moved(record.box, item.box, tolerance):
                moved.append(store.edit_region(record.id, analyst, box=item.box).id)
        for number, record in by_number.items():
            if number not in kept:
                deleted.append(store.delete_region(record.id, analyst, "removed in the box editor").id)
    return BoxChanges(tuple(moved), tuple(added), tuple(deleted))


def _moved(old: Box, new: Box, tolerance: float) -> bool:
    return any(abs(a - b) > tolerance for a, b in zip(old.to_list(), new.to_list()))
