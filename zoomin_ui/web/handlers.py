"""The page's case-level event handlers: intake, the case list, analysing,
re-running, the final verdict and the files handed out.  Thin: each calls
the workbench service layer and returns (or, while analysing, yields) the
new ViewState, which the page draws (screen.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr

from models.detector import Detector, RegionProgress
from models.image_input import ImageInputError, LoadedImage, load_image
from zoomin_ui import memory, runs, workbench
from zoomin_ui.service import WorkbenchError
from zoomin_ui.web import exports, rendering
from zoomin_ui.web.region_handlers import RegionHandlers
from zoomin_ui.web.regions import rerun_with_editor_boxes
from zoomin_ui.web.screen import ViewState, require_analyst


class Handlers(RegionHandlers):
    """Every handler of the page, bound to one case store and its detectors."""

    # ------------------------------------------------------------------ intake and cases

    def upload(self, files: list[str] | None, analyst: str, state: ViewState, add_to_open_case: bool = False,
               backend: str | None = None) -> ViewState:
        """Each file an evidence item: of a new case, or of the open one when
        asked.  Without an analyst name the files wait (shown as waiting) and
        are taken in as soon as the name is given."""
        paths = tuple(str(getattr(f, "name", f)) for f in (files or []))
        if not paths:
            raise WorkbenchError("choose or drop one or more image files", "empty")
        if not (analyst or "").strip():
            return replace(state, waiting_upload=paths, waiting_add=add_to_open_case,
                           status="Enter your name in 'Analyst' to take in the upload: it waits, nothing is "
                                  "stored until then")
        # An open detector measures the upload from its decode on, beside the rest of the
        # intake and while the analyst reads it (nothing is recorded); none is opened for it.
        return self._take_in(paths, require_analyst(analyst), state, add_to_open_case,
                             ahead=self.detectors.opened(backend))

    def name_given(self, analyst: str, state: ViewState) -> ViewState | None:
        """The analyst typed a name: a waiting upload is taken in now (nothing to draw otherwise)."""
        if not state.waiting_upload or not (analyst or "").strip():
            return None
        return self._take_in(state.waiting_upload, require_analyst(analyst), state, state.waiting_add)

    def _take_in(self, paths: tuple[str, ...], name: str, state: ViewState, add_to_open_case: bool,
                 ahead: Detector | None = None) -> ViewState:
        if add_to_open_case and state.case_id is None:
            raise WorkbenchError("no case is open to add to: open one, or untick 'Add these images'", "empty")
        case_id = state.case_id if add_to_open_case else None
        notice, decoded = self._seen_before(paths, ahead)  # told before anything is stored again
        intake = workbench.take_in(self.store, paths, name, case_id=case_id, names=[Path(p).name for p in paths],
                                   decoded=decoded)
        verb = "added to" if case_id is not None else "taken in as"
        first = intake.items[0].evidence_file_id
        opened = state.opened(intake.case_id, first, None, f"{len(intake.items)} evidence item(s) {verb} case "
                              f"{intake.case_id}; press Analyse")
        return replace(opened, notice=notice)

    def _seen_before(self, paths: tuple[str, ...], ahead: Detector | None = None
                     ) -> tuple[str, list[LoadedImage | None]]:
        """The notice, and each upload as decoded for it (None where it would not decode),
        so the intake need not decode a 12-megapixel photo a second time.  `ahead`, if
        given, starts measuring the first upload (the one the page shows) once decoded."""
        lines, decoded = [], []
        for path in paths:
            data = Path(path).read_bytes()
            lines += rendering.seen_before_text(Path(path).name, workbench.seen_before(
                self.store, hashlib.sha256(data).hexdigest()))
            try:  # then near-duplicates (crops, re-compressions, shared lists): zoomin_ui/memory.py
                image = load_image(data, name=Path(path).name)
                if ahead is not None and not decoded:
                    runs.prepare_upload_in_background(ahead, image)
                lines += memory.seen_before_lines(self.store, image, Path(path).name, near_only=True)
            except (WorkbenchError, ImageInputError):
                image = None  # an unreadable upload is refused by the intake itself, with its reason
            decoded.append(image)
        return "\n".join(lines), decoded

    def first_view(self, query: str) -> ViewState:
        """The page as a new session first sees it: the case list for the search box."""
        return ViewState(query=query or "")

    def search(self, query: str, state: ViewState) -> ViewState:
        return replace(state, query=query or "")

    def find(self, query: str, state: ViewState) -> ViewState:
        """The search from the top of the page: the Cases step, with its list."""
        return replace(state, query=query or "", tab="cases")

    def _open(self, case_id: int, state: ViewState, status: str, show_file: int | None = None) -> ViewState:
        detail = workbench.case_detail(self.store, case_id)
        files = detail.evidence_files
        first = show_file if show_file is not None else (files[0].id if files else None)
        latest = workbench.latest_analysis(detail, first)
        return state.opened(case_id, first, latest.id if latest else None, status)

    def pick_case(self, state: ViewState, evt: gr.SelectData) -> ViewState:
        row = evt.row_value or []
        if not row:
            raise WorkbenchError("choose a case in the list", "invalid")
        return self._open(int(row[0]), state, f"Opened case {int(row[0])}")

    def open_case(self, query: str, state: ViewState) -> ViewState:
        """Open the case chosen in the list if the search finds it, else the newest one it finds."""
        found = [c.id for c in workbench.search_cases(self.store, query or "")]
        if not found:
            raise WorkbenchError("no case matches the search", "not-found")
        case_id = state.selected_case if state.selected_case in found else found[0]
        return self._open(case_id, state, f"Opened case {case_id}")

    def choose_evidence(self, evidence_file_id: int | None, state: ViewState) -> ViewState | None:
        if evidence_file_id is None or state.case_id is None or int(evidence_file_id) == state.evidence_file_id:
            return None
        latest = workbench.latest_analysis(workbench.case_detail(self.store, state.case_id), int(evidence_file_id))
        return state.on_evidence(int(evidence_file_id), latest.id if latest else None)

    def pick_evidence(self, state: ViewState, evt: gr.SelectData) -> ViewState | None:
        """A thumbnail of the evidence strip."""
        if state.case_id is None or evt.index is None:
            return None
        files = workbench.case_detail(self.store, state.case_id).evidence_files
        index = int(evt.index if not isinstance(evt.index, list) else evt.index[0])
        return self.choose_evidence(files[index].id, state) if 0 <= index < len(files) else None

    def rename_case(self, title: str, analyst: str, state: ViewState) -> ViewState | None:
        name = require_analyst(analyst)
        if state.case_id is None:
            raise WorkbenchError("open or create a case first", "empty")
        if (title or "").strip() == workbench.case_detail(self.store, state.case_id).summary.title:
            return None
        summary = workbench.rename_case(self.store, state.case_id, title or "", name)
        return replace(state, status=f"Case {summary.id} renamed: {summary.title}")

    # ------------------------------------------------------------------ analysing

    def analyse(self, evidence_file_id: int | None, backend: str, analyst: str, state: ViewState,
                progress: gr.Progress = gr.Progress()) -> Iterator[ViewState]:  # noqa: B008 (Gradio's idiom)
        """Stage 1, its boxes on the page at once, then stage 2; one progress
        indicator moves through decoding, the scan and each region."""
        name = require_analyst(analyst)
        if state.waiting_upload:
            state = self._take_in(state.waiting_upload, name, state, state.waiting_add)
        evidence_id = int(evidence_file_id) if evidence_file_id else state.evidence_file_id
        if evidence_id is None:
            raise WorkbenchError("upload an image or open a case first", "empty")
        state = replace(state.on_evidence(evidence_id, None, "Analysing…"), running=True)
        yield from self._analyse_one(evidence_id, backend, name, state, progress)

    def analyse_all(self, backend: str, analyst: str, state: ViewState,
                    progress: gr.Progress = gr.Progress()) -> Iterator[ViewState]:  # noqa: B008
        """Every evidence item of the case not analysed yet, one after another
        in the backend's queue (runs.analyse_each: a bad file fails alone)."""
        name = require_analyst(analyst)
        if state.case_id is None:
            raise WorkbenchError("open or create a case first", "empty")
        detail = workbench.case_detail(self.store, state.case_id)
        todo = sum(workbench.latest_analysis(detail, f.id) is None for f in detail.evidence_files)
        if not todo:
            yield replace(state, status="Every evidence item of this case is analysed already")
            return
        progress(0.0, desc=f"item 1 of {todo}: both stages")
        yield replace(state, running=True, status=f"Analysing {todo} evidence item(s)…")
        failed = []
        for outcome in runs.analyse_each(self.store, self.detectors.get(backend), state.case_id, name,
                                         only_unanalysed=True):
            if not outcome.ok:
                failed.append(f"{outcome.name}: {outcome.error}")
            shown = outcome.analysis_id if outcome.ok else None
            state = replace(state.on_evidence(outcome.evidence_file_id, shown), running=outcome.index < outcome.total,
                            status=f"Item {outcome.index} of {outcome.total} ({outcome.name}): "
                                   f"{outcome.verdict if outcome.ok else 'failed'}")
            done = outcome.index / outcome.total
            progress(done, desc=f"item {min(outcome.index + 1, outcome.total)} of {outcome.total}: both stages"
                     if outcome.index < outcome.total else "done")
            yield state
        summary = f"Analysed {todo - len(failed)} of {todo} evidence item(s) of case {state.case_id}"
        yield replace(state, running=False, status=summary + (f"; failed: {'; '.join(failed)}" if failed else ""))

    def _analyse_one(self, evidence_id: int, backend: str, name: str, state: ViewState, progress: gr.Progress
                     ) -> Iterator[ViewState]:
        step = _Steps(progress)
        step(0.0, "decoding the image")
        yield state
        workbench.evidence_image(self.store, evidence_id)
        step(0.15, f"stage 1: signal maps and scan ({backend} backend)")
        detector = self.detectors.get(backend)
        # Closed between the stages (the page left), the run is recorded failed at once.
        for result in runs.analyse_in_steps(self.store, detector, evidence_id, name, on_region=step.regions()):
            if isinstance(result, workbench.ScannedRun):
                yield replace(state, scan=result.regions,
                              status=f"Scan found {len(result.regions)} region(s); examining them…")
                step(0.5, f"stage 2: {len(result.regions)} region(s) to examine")
            else:
                step(1.0, "done")
                yield state.on_analysis(result.analysis_id, f"Analysis {result.analysis_id} done: "
                                        f"{result.analysis.verdict}")

    def rerun(self, backend: str, analyst: str, editor: dict[str, Any] | None, state: ViewState,
              progress: gr.Progress = gr.Progress()) -> ViewState:  # noqa: B008 (Gradio's idiom)
        """Stage 2 on the boxes the editor shows: its unsaved edits are saved first (audited)."""
        name = require_analyst(analyst)
        if state.analysis_id is None:
            raise WorkbenchError("analyse the image first", "empty")
        step = _Steps(progress)
        step(0.05, "saving the editor's boxes, then stage 2 on them")
        done = rerun_with_editor_boxes(self.store, self.detectors.get(backend), state.analysis_id,
                                       self.editor_boxes(editor, state), name,
                                       tolerance=1.0 / self._scale(state) + 0.5, on_region=step.regions())
        comparison = done.comparison
        return state.on_analysis(comparison.after.id, f"Re-examined the current boxes as analysis "
                                 f"{comparison.after.id} (was {comparison.before.id})",
                                 compare=(comparison.before.id, comparison.after.id))

    # ------------------------------------------------------------------ the case's verdict and files

    def save_verdict(self, verdict: str | None, note: str, analyst: str, state: ViewState,
                     training: bool | None = None) -> ViewState:
        name = require_analyst(analyst)
        if state.case_id is None:
            raise WorkbenchError("open or create a case first", "empty")
        chosen = verdict if verdict in ("ai-generated", "real", "inconclusive") else None
        summary = workbench.set_final_verdict(self.store, state.case_id, name, chosen, note or "")
        released = ""
        if training is not None and bool(training) != memory.training_allowed(self.store, state.case_id):
            memory.release_for_training(self.store, state.case_id, name, bool(training))  # audited
            released = "; released as training data" if training else "; withdrawn from training data"
        return replace(state, status=f"Case {summary.id}: final verdict {summary.final_verdict or 'cleared'}, "
                                     f"note saved{released}")

    def export_pdf(self, analyst: str, state: ViewState) -> ViewState:
        name = require_analyst(analyst)
        if state.case_id is None:
            raise WorkbenchError("open or create a case first", "empty")
        path = exports.export_pdf(self.store, state.case_id, name, analysis_id=state.analysis_id)
        return replace(state, pdf_file=str(path), status=f"Report written: {path.name}")

    def export_bundle(self, analyst: str, state: ViewState) -> ViewState:
        name = require_analyst(analyst)
        if state.case_id is None:
            raise WorkbenchError("open or create a case first", "empty")
        path = exports.export_case_bundle(self.store, state.case_id, name)
        return replace(state, bundle_file=str(path), status=f"Case bundle written: {path.name}")

    def import_bundle(self, upload: Any, analyst: str, state: ViewState) -> ViewState:
        name = require_analyst(analyst)
        if not upload:
            raise WorkbenchError("choose a case bundle (.zip) to import", "empty")
        summary = exports.import_case_bundle(self.store, getattr(upload, "name", upload), name)
        return self._open(summary.id, state, f"Imported the bundle as case {summary.id}")


class _Steps:
    """The one progress indicator of a run, moving through its stages in
    order: decoding, the scan, then one step per region examined."""

    def __init__(self, progress: gr.Progress):
        self.progress = progress

    def __call__(self, fraction: float, what: str) -> None:
        self.progress(fraction, desc=what)

    def regions(self) -> RegionProgress:
        def report(done: int, total: int) -> None:
            self(0.5 + 0.5 * done / max(total, 1), f"stage 2: region {done} of {total} examined")
        return report
