"""Analyst work on one analysis' regions: numbering, questions, decisions and
box edits.  Part of the workbench's service layer (no Gradio here): the
handlers and the tests call it alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models.detector import Detector, RegionProgress
from models.types import Box, Region
from zoomin_ui.service import WorkbenchError
from zoomin_ui.workbench import Comparison, evidence_image, get_analysis, rerun_on_current_boxes, store_errors

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
    """Bring the analysis' regions in line with the editor, in one audited
    transaction (all or none): each box is compared with its stored region in
    image pixels and only a genuine move (more than `tolerance` pixels, the
    editor's rounding) becomes a new version; boxes no longer in the editor
    are deleted, boxes the analyst drew are added.  A box the analyst did not
    move is never changed, and the model's original boxes stay on record."""
    analysis = get_analysis(store, analysis_id)
    if analysis.status != "done":
        raise WorkbenchError(f"analysis {analysis_id} is {analysis.status}: boxes are edited on finished "
                             "analyses", "conflict")
    by_number = {n.number: n.record for n in numbered_regions(analysis)}
    numbers = [e.number for e in edited if e.number in by_number]
    twice = sorted({n for n in numbers if numbers.count(n) > 1})
    if twice:
        raise WorkbenchError(f"box {twice[0]} appears more than once in the editor; no box was changed", "invalid")
    edited = _numbers_found(edited, by_number, tolerance)
    numbers = [e.number for e in edited if e.number in by_number]
    moves = [(by_number[e.number].id, e.box) for e in edited
             if e.number in by_number and _moved(by_number[e.number].box, e.box, tolerance)]
    additions = [(e.box, "analyst box") for e in edited if e.number not in by_number]
    deletions = [record.id for number, record in by_number.items() if number not in numbers]
    if not (moves or additions or deletions):
        return BoxChanges()
    with store_errors("no box was changed: "):
        changes = store.change_regions(analysis_id, analyst, moves=moves, additions=additions,
                                       deletions=deletions, reason="removed in the box editor")
    return BoxChanges(tuple(r.id for r in changes.moved), tuple(r.id for r in changes.added),
                      tuple(r.id for r in changes.deleted))


def _numbers_found(edited: Sequence[EditedBox], by_number: dict[int, RegionRecord],
                   tolerance: float) -> list[EditedBox]:
    """A box that lost its number label (the editor's value carries only a
    label) but lies exactly on a region no other box names is that region,
    unmoved: not a deletion plus an analyst's new box."""
    unclaimed = {number: record for number, record in by_number.items()
                 if number not in {e.number for e in edited}}
    found = []
    for item in edited:
        if item.number not in by_number:
            same = next((n for n, r in unclaimed.items() if not _moved(r.box, item.box, tolerance)), None)
            if same is not None:
                del unclaimed[same]
                item = EditedBox(same, item.box)
        found.append(item)
    return found


def _moved(old: Box, new: Box, tolerance: float) -> bool:
    return any(abs(a - b) > tolerance for a, b in zip(old.to_list(), new.to_list()))


def editor_margin(shown_width: int) -> int:
    """Display pixels of blank band above the picture in the box editor: the editor draws
    each box's number above its top edge, so a box at the image's top edge would have its
    number cut off.  About 1/30 of the width, since the editor shrinks the picture to fit."""
    return max(32, round(shown_width / 30))


def editor_boxes(value: dict[str, Any] | None, width: int, height: int, scale: float) -> list[EditedBox] | None:
    """The box editor's value as boxes in image pixels (None: no value).

    The value must describe the picture the editor was given: this
    `width` x `height` image shown at `scale`, not rotated.  Otherwise every
    coordinate is in another frame, and saving would move boxes nobody
    moved, so the value is refused and nothing is changed.  A label that is
    a region's number names that region; any other label (or none) marks a
    box the analyst drew.  A box of no size (a slip of the mouse) is left out."""
    if not value:
        return None
    if int(value.get("orientation") or 0) % 4:
        raise WorkbenchError("the box editor's picture is rotated: boxes are saved on the image as it is; "
                             "reload the editor (no box was changed)", "invalid")
    margin = editor_margin(round(width * scale))
    shown, expected = _picture_size(value.get("image")), (round(width * scale), round(height * scale) + margin)
    if shown is not None and any(abs(a - b) > 1 for a, b in zip(shown, expected)):
        raise WorkbenchError(f"the box editor holds a {shown[0]}x{shown[1]} picture, not this image as shown "
                             f"({expected[0]}x{expected[1]}): reload the editor (no box was changed)", "invalid")
    edited = []
    for item in value.get("boxes") or []:
        label = str(item.get("label") or "").strip()
        try:
            box = Box(*(float(item[k]) / scale for k in ("xmin", "ymin", "xmax", "ymax")))
        except (KeyError, TypeError, ValueError):
            continue
        box = Box(box.x1, box.y1 - margin / scale, box.x2, box.y2 - margin / scale)  # the band above the picture
        if box.x1 >= width or box.y1 >= height or box.x2 <= 0 or box.y2 <= 0:
            raise WorkbenchError(f"a box at {[round(v) for v in box.to_list()]} lies outside the {width}x{height} "
                                 "image: reload the editor (no box was changed)", "invalid")
        edited.append(EditedBox(int(label) if label.isdigit() else None, box.clip(width, height)))
    return edited


def _picture_size(image: Any) -> tuple[int, int] | None:
    """(width, height) of the editor's picture: a PIL image or a numpy array (None for a URL)."""
    if hasattr(image, "size") and isinstance(getattr(image, "size"), tuple):
        return image.size
    shape = getattr(image, "shape", None)
    return (int(shape[1]), int(shape[0])) if shape is not None and len(shape) >= 2 else None


@dataclass(frozen=True)
class EditorRerun:
    """What re-running on the editor's boxes saved, and the two analyses."""

    changes: BoxChanges
    comparison: Comparison


def rerun_with_editor_boxes(store: CaseStore, detector: Detector, analysis_id: int,
                            edited: Sequence[EditedBox] | None, analyst: str, *, tolerance: float = 1.0,
                            on_region: RegionProgress | None = None) -> EditorRerun:
    """Stage 2 again on exactly the boxes the editor shows: its edits are
    saved first (audited as usual), then examined as a new analysis.
    `edited` None means the editor was not opened: the stored boxes are
    examined.  An editor with no box is refused before anything is saved."""
    if edited is not None and not edited:
        raise WorkbenchError("the box editor has no boxes to examine: draw a box first (nothing was changed)",
                             "no-boxes")
    changes = apply_box_edits(store, analysis_id, edited, analyst, tolerance) if edited is not None else BoxChanges()
    return EditorRerun(changes, rerun_on_current_boxes(store, detector, analysis_id, analyst, on_region))
