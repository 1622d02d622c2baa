"""The analyst workbench's service layer: intake, two-stage analysis, zoom,
questions, overrides, box edits, re-runs, verdicts, reports and bundles.

Nothing here knows about Gradio: typed values go in and come out, so the web
handlers stay thin and the tests drive the same code the page does.  Every
failure is a WorkbenchError with a message meant for the analyst.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from models.detector import Detector, DetectorUnavailable, RegionProgress
from models.image_input import ImageInputError, LoadedImage, load_image
from models.types import Region
from zoomin_ui.service import SavedAnalysis, WorkbenchError, backend_info, finish_run
from zoomin_ui.web.security import discard_refused_upload

if TYPE_CHECKING:
    from storage import (
        AnalysisRecord,
        CaseDetail,
        CaseStore,
        CaseSummary,
        Sighting,
    )

MAX_UPLOAD_BYTES = int(float(os.environ.get("ZOOMIN_MAX_UPLOAD_MB", "64")) * 1024 * 1024)


@contextmanager
def store_errors(subject: str = "") -> Iterator[None]:
    """StoreError and ImageInputError become WorkbenchError (one readable line)."""
    from storage import StoreError

    try:
        yield
    except (StoreError, ImageInputError) as exc:
        raise WorkbenchError(f"{subject}{exc}", exc.code) from None
    except DetectorUnavailable as exc:  # a model backend failed mid-run (server down, out of memory)
        raise WorkbenchError(f"{subject}{exc}", "backend") from None


# ---------------------------------------------------------------------- images, loaded once


_IMAGES: OrderedDict[tuple[str, int], LoadedImage] = OrderedDict()
_IMAGES_LOCK = threading.Lock()
CACHED_IMAGES = 3


def evidence_image(store: CaseStore, evidence_file_id: int) -> LoadedImage:
    """The stored, hash-checked evidence file decoded (the last few are kept:
    a zoom click must not decode a 12-megapixel JPEG again)."""
    key = (str(store.home), evidence_file_id)
    with _IMAGES_LOCK:
        if key in _IMAGES:
            _IMAGES.move_to_end(key)
            return _IMAGES[key]
    with store_errors():
        record = store.get_evidence_file(evidence_file_id)
        image = load_image(store.evidence_bytes(evidence_file_id), name=record.original_name)
    _remember(key, image)
    return image


def _remember(key: tuple[str, int], image: LoadedImage) -> None:
    with _IMAGES_LOCK:
        _IMAGES[key] = image
        while len(_IMAGES) > CACHED_IMAGES:
            _IMAGES.popitem(last=False)


# ---------------------------------------------------------------------- intake and cases


@dataclass(frozen=True)
class IntakeItem:
    evidence_file_id: int
    name: str
    sha256: str
    size_bytes: int
    format: str
    width: int
    height: int
    is_new: bool
    # Other cases that already held this exact file, as found before it was stored.
    seen_before: tuple[Sighting, ...] = ()


@dataclass(frozen=True)
class Intake:
    case_id: int
    items: tuple[IntakeItem, ...]


def take_in(store: CaseStore, files: Sequence[str | Path], analyst: str, *, case_id: int | None = None,
            title: str | None = None, max_bytes: int = MAX_UPLOAD_BYTES,
            names: Sequence[str] | None = None,
            decoded: Sequence[LoadedImage | None] | None = None) -> Intake:
    """Each file becomes an evidence item of the case (a new case when
    `case_id` is None).  Every file is checked by content before any is kept,
    so one bad file leaves the case as it was; without an analyst nothing is
    read or kept (the page keeps the upload waiting for the name).  Each item
    says which other cases already held that exact file (`seen_before`).
    `decoded` may hold each file as the caller already decoded it (None: decode here);
    one whose bytes are not the file's is decoded again."""
    if not (analyst or "").strip():
        raise WorkbenchError("enter your name in 'Analyst' first: every action is signed with it; "
                             "nothing was stored", "analyst")
    if not files:
        raise WorkbenchError("no file was given", "empty")
    images: list[tuple[LoadedImage, str]] = []
    for index, file in enumerate(files):
        name = names[index] if names else Path(file).name
        try:
            try:
                size = Path(file).stat().st_size
                if size > max_bytes:
                    raise WorkbenchError(f"{name}: {size / 2**20:.1f} MB is over the {max_bytes / 2**20:.0f} MB "
                                         "upload limit", "too-large")
                data = Path(file).read_bytes()
            except OSError as exc:
                raise WorkbenchError(f"{name}: cannot read the upload ({exc.strerror or exc})",
                                     "unreadable") from None
            given = decoded[index] if decoded and index < len(decoded) else None
            if given is not None and given.data == data and given.name == name:
                images.append((given, name))
                continue
            with store_errors():
                images.append((load_image(data, name=name), name))
        except WorkbenchError:
            discard_refused_upload(file)  # a refused upload is not kept in the data folder
            raise
    items = []
    with store_errors("not saved: "):
        for image, name in images:
            earlier = tuple(seen_before(store, image.sha256, excluding_case=case_id))
            if case_id is None:
                intake = store.open_case_with_evidence(title or name, image, analyst, original_name=name)
            else:
                intake = store.add_evidence_file(case_id, image, analyst, original_name=name)
            case_id = intake.record.case_id
            record = intake.record
            _remember((str(store.home), record.id), image)
            items.append(IntakeItem(record.id, record.original_name, record.sha256, record.size_bytes,
                                    record.format, record.width, record.height, intake.is_new, earlier))
    assert case_id is not None
    return Intake(case_id, tuple(items))


def seen_before(store: CaseStore, sha256: str, *, excluding_case: int | None = None) -> list[Sighting]:
    """The cases already holding the exact file with this SHA-256, newest
    first (each: case id and title, when analysed, the latest verdict, the
    final verdict and who concluded it); ask before taking the file in again.
    Exact copies only (perceptual near-duplicates are for another day)."""
    with store_errors():
        return [s for s in store.cases_with_file(sha256) if s.case_id != excluding_case]


def rename_case(store: CaseStore, case_id: int, title: str, analyst: str) -> CaseSummary:
    """A new title for the case, audited with the old and the new one
    (non-empty, one line, at most MAX_TITLE characters; the same title changes nothing)."""
    from storage.cases import MAX_TITLE

    cleaned = " ".join((title or "").split())
    if not cleaned:
        raise WorkbenchError("a case needs a title: type one first", "invalid")
    if len(cleaned) > MAX_TITLE:
        raise WorkbenchError(f"a case title is at most {MAX_TITLE} characters (this one has {len(cleaned)})",
                             "invalid")
    with store_errors():
        return store.update_case(case_id, analyst, title=cleaned)


def search_cases(store: CaseStore, query: str = "", limit: int = 50) -> list[CaseSummary]:
    """Newest first; the query matches title, file name, a SHA-256 prefix or a case id."""
    with store_errors():
        return list(store.list_cases(query=query.strip(), page_size=limit).cases)


def case_detail(store: CaseStore, case_id: int) -> CaseDetail:
    with store_errors():
        return store.get_case(case_id)


def latest_analysis(detail: CaseDetail, evidence_file_id: int | None = None) -> AnalysisRecord | None:
    """The newest finished analysis (of one evidence item, when given)."""
    done = [a for a in detail.analyses if a.status == "done"
            and (evidence_file_id is None or a.evidence_file_id == evidence_file_id)]
    return done[-1] if done else None


def get_analysis(store: CaseStore, analysis_id: int) -> AnalysisRecord:
    with store_errors():
        return store.get_analysis(analysis_id)


# ---------------------------------------------------------------------- the two stages


@dataclass(frozen=True)
class ScannedRun:
    """Stage 1 done and the run recorded as `running`: what stage 2 needs."""

    run_id: int
    case_id: int
    evidence_file_id: int
    regions: tuple[Region, ...]


def scan_evidence(store: CaseStore, detector: Detector, evidence_file_id: int, analyst: str) -> ScannedRun:
    """Record the run as `running`, then propose regions (stage 1)."""
    image = evidence_image(store, evidence_file_id)
    with store_errors():
        record = store.get_evidence_file(evidence_file_id)
        run = store.start_analysis(record.case_id, evidence_file_id, backend_info(detector), analyst,
                                   {"stages": "scan+examine"})
    try:
        with store_errors():
            regions = detector.scan(image)
    except BaseException as exc:
        abandon_run(store, run.id, f"scan failed: {exc}")
        raise
    scanned = ScannedRun(run.id, record.case_id, evidence_file_id, tuple(regions))
    # The page pauses between the stages; a ScannedRun dropped there (page closed,
    # run cancelled) must not leave its run `running`, blocking this file on this backend.
    finalizer = weakref.finalize(scanned, abandon_run, store, run.id)
    finalizer.atexit = False  # a server stopping mid-run: the next start marks it interrupted
    _UNFINISHED[(str(store.home), run.id)] = finalizer
    return scanned


def examine_scanned(store: CaseStore, detector: Detector, scanned: ScannedRun,
                    on_region: RegionProgress | None = None) -> SavedAnalysis:
    """Stage 2 on the scan's regions; the run ends `done` or `failed`."""
    finalizer = _UNFINISHED.pop((str(store.home), scanned.run_id), None)
    if finalizer is not None:
        finalizer.detach()
    image = evidence_image(store, scanned.evidence_file_id)
    with store_errors():
        return finish_run(store, detector, image, list(scanned.regions), None, scanned.run_id, scanned.case_id,
                          scanned.evidence_file_id, on_region)


ABANDONED = "stopped before stage 2: the page was closed or the run cancelled"
_UNFINISHED: dict[tuple[str, int], weakref.finalize] = {}  # (data folder, run id)


def abandon_run(store: CaseStore, run_id: int, message: str = ABANDONED) -> None:
    """Record a run that will not finish as `failed`, with why (nothing if it already ended)."""
    from storage import StoreError

    _UNFINISHED.pop((str(store.home), run_id), None)
    try:
        if store.get_analysis(run_id).status == "running":
            store.fail_analysis(run_id, message)
    except StoreError:
        pass  # the run stays `running`; the next start marks it interrupted


def analyse_evidence(store: CaseStore, detector: Detector, evidence_file_id: int, analyst: str,
                     on_scan: Callable[[ScannedRun], None] | None = None) -> SavedAnalysis:
    """Both stages; `on_scan` sees the proposed boxes before stage 2 starts."""
    scanned = scan_evidence(store, detector, evidence_file_id, analyst)
    if on_scan is not None:
        on_scan(scanned)
    return examine_scanned(store, detector, scanned)


@dataclass(frozen=True)
class Comparison:
    before: AnalysisRecord
    after: AnalysisRecord


def rerun_on_current_boxes(store: CaseStore, detector: Detector, analysis_id: int, analyst: str,
                           on_region: RegionProgress | None = None) -> Comparison:
    """Stage 2 again on the analysis' current boxes only (moved, added, minus
    deleted), as a new analysis; the old one stays as it was."""
    before = get_analysis(store, analysis_id)
    current = before.current_regions()
    if not current:
        raise WorkbenchError("there are no boxes to examine: add a box first", "no-boxes")
    regions = [Region(box=r.box, score=0.0, label=r.label or "analyst box", id=r.region_key) for r in current]
    image = evidence_image(store, before.evidence_file_id)
    with store_errors():
        # `examined` keeps who drew each box: an analyst's box stays theirs in the new analysis.
        run = store.start_analysis(before.case_id, before.evidence_file_id, backend_info(detector), analyst,
                                   {"boxes": [r.box.to_list() for r in regions], "rerun_of": analysis_id,
                                    "stages": "examine"}, examined=current)
        saved = finish_run(store, detector, image, regions, None, run.id, before.case_id, before.evidence_file_id,
                           on_region)
    return Comparison(before, get_analysis(store, saved.analysis_id))


# ---------------------------------------------------------------------- the case


def set_final_verdict(store: CaseStore, case_id: int, analyst: str, verdict: str | None, note: str) -> CaseSummary:
    """The analyst's verdict on the case (None clears it) and their note."""
    with store_errors():
        return store.update_case(case_id, analyst, final_verdict=verdict or None, final_note=note or "")


def exports_folder(store: CaseStore) -> Path:
    """Where reports and bundles are written: inside the data folder, the one
    place the web app serves files from."""
    folder = store.home / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
