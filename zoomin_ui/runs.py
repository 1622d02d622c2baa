"""Analyses the page drives step by step (service layer, no Gradio).

`analyse_in_steps` runs one evidence item as the page shows it: the scan's
boxes first, then the examined result.  The page pauses between the two
(it draws the boxes); a page closed or a run cancelled in that pause must not
leave the run `running`, or the store would refuse every later run of that
file on that backend as "already running": closing the generator records the
run `failed` at once.

`analyse_all` runs every evidence item of a case in order, reporting each as
it ends; one bad file fails alone and the rest go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from models.detector import Detector, RegionProgress
from models.image_input import LoadedImage
from zoomin_ui.service import SavedAnalysis, WorkbenchError
from zoomin_ui.workbench import (
    ScannedRun,
    abandon_run,
    case_detail,
    evidence_image,
    examine_scanned,
    scan_evidence,
)

if TYPE_CHECKING:
    from storage import CaseStore


log = logging.getLogger(__name__)
# One at a time: a prepared measurement only helps the item the analyst looks at.
_PREPARING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zoomin-prepare")


def prepare_in_background(store: CaseStore, detector: Detector, evidence_file_id: int) -> Future:
    """Let the detector measure an evidence item while the analyst reads its
    intake, so pressing Analyse finds the work under way or done.  It records
    nothing; a failure is only logged, as the analysis, when asked for, meets
    it again and reports it."""
    return _PREPARING.submit(_prepare, detector, lambda: evidence_image(store, evidence_file_id),
                             f"evidence item {evidence_file_id}")


def prepare_upload_in_background(detector: Detector, image: LoadedImage) -> Future:
    """The same for an upload as soon as it is decoded, before its intake
    (the seen-before lookup, storing it, drawing it) has ended: the
    measurement overlaps with the intake.  Nothing is recorded, so an upload
    the intake then refuses leaves nothing behind but the detector's cache."""
    return _PREPARING.submit(_prepare, detector, lambda: image, image.name)


def _prepare(detector: Detector, image: Callable[[], LoadedImage], what: str) -> None:
    try:
        detector.prepare(image())
    except Exception:  # noqa: BLE001 (work ahead of time never fails anything)
        log.debug("preparing %s failed", what, exc_info=True)


def analyse_in_steps(store: CaseStore, detector: Detector, evidence_file_id: int, analyst: str,
                     on_region: RegionProgress | None = None) -> Iterator[ScannedRun | SavedAnalysis]:
    """Yields the ScannedRun (stage 1, recorded `running`), then the
    SavedAnalysis (stage 2, `done`).  Closed in between, the run is recorded
    `failed` with the reason at once (a ScannedRun merely dropped is failed
    when it is garbage-collected)."""
    scanned = scan_evidence(store, detector, evidence_file_id, analyst)
    finished = False
    try:
        yield scanned
        saved = examine_scanned(store, detector, scanned, on_region)
        finished = True  # examine_scanned records a failure of its own
        yield saved
    finally:
        if not finished:
            abandon_run(store, scanned.run_id)


@dataclass(frozen=True)
class ItemOutcome:
    """How one evidence item of an `analyse_all` ended."""

    index: int  # 1-based, in intake order
    total: int
    evidence_file_id: int
    name: str
    analysis_id: int | None = None
    verdict: str | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.analysis_id is not None


def analyse_all(store: CaseStore, detector: Detector, case_id: int, analyst: str, *,
                only_unanalysed: bool = False,
                on_item: Callable[[ItemOutcome], None] | None = None) -> list[ItemOutcome]:
    """Every evidence item of the case through both stages, in intake order
    (`only_unanalysed`: those without a finished analysis).  Each item's
    outcome goes to `on_item` as it ends; a failure is that item's outcome
    (its run recorded `failed`), never the end of the batch."""
    outcomes = []
    for outcome in analyse_each(store, detector, case_id, analyst, only_unanalysed=only_unanalysed):
        if on_item is not None:
            on_item(outcome)
        outcomes.append(outcome)
    return outcomes


def analyse_each(store: CaseStore, detector: Detector, case_id: int, analyst: str, *,
                 only_unanalysed: bool = False) -> Iterator[ItemOutcome]:
    """`analyse_all` as a generator: one ItemOutcome per item as it ends."""
    if not (analyst or "").strip():
        raise WorkbenchError("enter your name in 'Analyst' first: every action is signed with it", "analyst")
    detail = case_detail(store, case_id)
    done = {a.evidence_file_id for a in detail.analyses if a.status == "done"}
    items = [f for f in detail.evidence_files if not (only_unanalysed and f.id in done)]
    for index, item in enumerate(items, 1):
        outcome = ItemOutcome(index, len(items), item.id, item.original_name)
        try:
            saved = _both_stages(store, detector, item.id, analyst)
        except WorkbenchError as exc:
            outcome = _failed(outcome, str(exc))
        except Exception as exc:  # a detector's own failure: recorded on the run, reported for this item only
            outcome = _failed(outcome, f"{type(exc).__name__}: {exc}")
        else:
            outcome = ItemOutcome(index, len(items), item.id, item.original_name, saved.analysis_id,
                                  saved.analysis.verdict)
        yield outcome


def _both_stages(store: CaseStore, detector: Detector, evidence_file_id: int, analyst: str) -> SavedAnalysis:
    steps = analyse_in_steps(store, detector, evidence_file_id, analyst)
    next(steps)
    saved = next(steps)
    assert isinstance(saved, SavedAnalysis)
    return saved


def _failed(outcome: ItemOutcome, error: str) -> ItemOutcome:
    return ItemOutcome(outcome.index, outcome.total, outcome.evidence_file_id, outcome.name, error=error)
