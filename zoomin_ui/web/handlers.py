"""The page's case-level event handlers: intake, the case list, analysing,
re-running, the final verdict and the files handed out.  Thin: each calls
the workbench service layer and returns a Screen (see screen.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr

from models.detector import RegionProgress
from zoomin_ui import workbench
from zoomin_ui.service import WorkbenchError
from zoomin_ui.web import exports, rendering
from zoomin_ui.web.region_handlers import RegionHandlers
from zoomin_ui.web.screen import (
    Screen,
    ViewState,
    readable_errors,
    require_analyst,
    screen,
)


class Handlers(RegionHandlers):
    """Every handler of the page, bound to one case store and its detectors."""

    # ------------------------------------------------------------------ intake and cases

    @readable_errors
    def upload(self, files: list[str] | None, analyst: str, state: ViewState, add_to_open_case: bool = False
               ) -> Screen:
        """Each file an evidence item: of a new case, or of the open one when asked."""
        name = require_analyst(analyst)
        paths = [getattr(f, "name", f) for f in (files or [])]
        if not paths:
            raise WorkbenchError("choose or drop one or more image files", "empty")
        if add_to_open_case and state.case_id is None:
            raise WorkbenchError("no case is open to add to: open one, or untick 'Add these images'", "empty")
        case_id = state.case_id if add_to_open_case else None
        intake = workbench.take_in(self.store, paths, name, case_id=case_id, names=[Path(p).name for p in paths])
        verb = "added to" if case_id is not None else "taken in as"
        return self._case_screen(intake.case_id, state, f"{len(intake.items)} evidence item(s) {verb} case "
                                 f"{intake.case_id}; press Analyse", show_file=intake.items[0].evidence_file_id)

    @readable_errors
    def search(self, query: str) -> Screen:
        return screen(cases=self._case_rows(query or ""))

    @readable_errors
    def pick_case(self, state: ViewState, evt: gr.SelectData) -> Screen:
        row = evt.row_value or []
        if not row:
            raise WorkbenchError("choose a case in the list", "invalid")
        return self._case_screen(int(row[0]), state, f"Opened case {int(row[0])}")

    @readable_errors
    def open_case(self, query: str, state: ViewState) -> Screen:
        """Open the newest case the search finds, else the one chosen in the list."""
        case_id = state.selected_case
        if (query or "").strip() or case_id is None:
            found = workbench.search_cases(self.store, query or "", limit=1)
            if not found:
                raise WorkbenchError("no case matches the search", "not-found")
            case_id = found[0].id
        return self._case_screen(case_id, state, f"Opened case {case_id}")

    @readable_errors
    def choose_evidence(self, evidence_file_id: int | None, state: ViewState) -> Screen:
        if evidence_file_id is None or state.case_id is None:
            return screen()
        detail = workbench.case_detail(self.store, state.case_id)
        latest = workbench.latest_analysis(detail, int(evidence_file_id))
        state = replace(state, evidence_file_id=int(evidence_file_id))
        return self._analysis_screen(state, latest.id if latest else None, compare=[])

    # ------------------------------------------------------------------ analysing

    @readable_errors
    def analyse(self, evidence_file_id: int | None, backend: str, analyst: str, state: ViewState,
                progress: gr.Progress = gr.Progress()):  # noqa: B008 (Gradio's idiom)
        """Stage 1, its boxes on the page at once, then stage 2."""
        name = require_analyst(analyst)
        evidence_id = int(evidence_file_id) if evidence_file_id else state.evidence_file_id
        if evidence_id is None:
            raise WorkbenchError("upload an image or open a case first", "empty")
        progress(0.05, desc=f"starting the {backend} backend")
        detector = self.detectors.get(backend)
        progress(0.1, desc="stage 1: scanning the whole image")
        scanned = workbench.scan_evidence(self.store, detector, evidence_id, name)
        base, scale = rendering.display_base(workbench.evidence_image(self.store, evidence_id))
        count = len(scanned.regions)
        yield screen(image=rendering.overlay_scan(base, scale, scanned.regions),
                     regions=rendering.scan_rows(scanned.regions), zoom_panel=gr.update(visible=False),
                     status=f"Scan found {count} region(s); examining them…",
                     state=replace(state, evidence_file_id=evidence_id, analysis_id=None, boxes=()))
        progress(0.5, desc=f"stage 2: examining {count} region(s) zoomed in")
        saved = workbench.examine_scanned(self.store, detector, scanned, on_region=_stage_two_progress(progress))
        progress(1.0, desc="done")
        yield self._analysis_screen(replace(state, evidence_file_id=evidence_id), saved.analysis_id,
                                    status=f"Analysis {saved.analysis_id} done: {saved.analysis.verdict}",
                                    compare=[], cases=self._case_rows(""))

    @readable_errors
    def rerun(self, backend: str, analyst: str, state: ViewState,
              progress: gr.Progress = gr.Progress()) -> Screen:  # noqa: B008 (Gradio's idiom)
        name = require_analyst(analyst)
        if state.analysis_id is None:
            raise WorkbenchError("analyse the image first", "empty")
        progress(0.1, desc=f"stage 2 on {len(state.boxes)} box(es)")
        comparison = workbench.rerun_on_current_boxes(self.store, self.detectors.get(backend), state.analysis_id,
                                                      name, on_region=_stage_two_progress(progress))
        return self._analysis_screen(state, comparison.after.id,
                                     compare=rendering.compare_rows(comparison.before, comparison.after),
                                     status=f"Re-examined the current boxes as analysis {comparison.after.id} "
                                            f"(was {comparison.before.id})")

    # ------------------------------------------------------------------ the case's verdict and files

    @readable_errors
    def save_verdict(self, verdict: str | None, note: str, analyst: str, state: ViewState) -> Screen:
        name = require_analyst(analyst)
        if state.case_id is None:
            raise WorkbenchError("open or create a case first", "empty")
        chosen = verdict if verdict in ("ai-generated", "real", "inconclusive") else None
        summary = workbench.set_final_verdict(self.store, state.case_id, name, chosen, note or "")
        return screen(status=f"Case {summary.id}: final verdict {summary.final_verdict or 'cleared'}, note saved",
                      cases=self._case_rows(""))

    @readable_errors
    def export_pdf(self, analyst: str, state: ViewState) -> Screen:
        name = require_analyst(analyst)
        if state.case_id is None:
            raise WorkbenchError("open or create a case first", "empty")
        path = exports.export_pdf(self.store, state.case_id, name, analysis_id=state.analysis_id)
        return screen(pdf_file=str(path), status=f"Report written: {path.name}")

    @readable_errors
    def export_bundle(self, analyst: str, state: ViewState) -> Screen:
        name = require_analyst(analyst)
        if state.case_id is None:
            raise WorkbenchError("open or create a case first", "empty")
        path = exports.export_case_bundle(self.store, state.case_id, name)
        return screen(bundle_file=str(path), status=f"Case bundle written: {path.name}")

    @readable_errors
    def import_bundle(self, upload: Any, analyst: str, state: ViewState) -> Screen:
        name = require_analyst(analyst)
        if not upload:
            raise WorkbenchError("choose a case bundle (.zip) to import", "empty")
        summary = exports.import_case_bundle(self.store, getattr(upload, "name", upload), name)
        return self._case_screen(summary.id, state, f"Imported the bundle as case {summary.id}")


def _stage_two_progress(progress: gr.Progress) -> RegionProgress:
    """Stage 2 fills the second half of the bar, one step per region examined."""
    def report(done: int, total: int) -> None:
        progress(0.5 + 0.5 * done / max(total, 1), desc=f"stage 2: region {done} of {total} examined")
    return report
