"""The page's region-level event handlers: a click on the image or a row
chooses a region; questions, decisions and box edits on that region.  Thin:
each calls the service layer and returns the new ViewState, which the page
draws (screen.py)."""

from __future__ import annotations

from dataclasses import replace
from collections.abc import Callable
from typing import Any

import gradio as gr

from models.overlay import hit_test
from zoomin_ui import workbench
from zoomin_ui.service import WorkbenchError
from zoomin_ui.web import pictures
from zoomin_ui.web.regions import (
    apply_box_edits,
    ask_about_region,
    editor_boxes,
    numbered_regions,
    override_region,
)
from zoomin_ui.web.screen import HandlerBase, ViewState, require_analyst


class RegionHandlers(HandlerBase):

    def _scale(self, state: ViewState) -> float:
        assert state.evidence_file_id is not None
        return pictures.display_base(workbench.evidence_image(self.store, state.evidence_file_id))[1]

    def _numbered(self, state: ViewState):
        if state.analysis_id is None:
            raise WorkbenchError("no boxes to choose yet: analyse the image first", "empty")
        return numbered_regions(workbench.get_analysis(self.store, state.analysis_id))

    def _choose(self, state: ViewState, region_id: int, status: str) -> ViewState:
        return replace(state, region_id=region_id, answer="", status=status, tab="review")

    def click_image(self, state: ViewState, evt: gr.SelectData) -> ViewState:
        """A click in display pixels, hit-tested against the boxes in image
        pixels (the smallest box containing it wins)."""
        numbered = self._numbered(state)
        scale = self._scale(state)
        x, y = (float(v) / scale for v in evt.index[:2])
        index = hit_test([n.record.box for n in numbered], x, y)
        if index is None:
            return replace(state, region_id=None, answer="",
                           status=f"No box at ({x:.0f}, {y:.0f}); click inside a numbered box")
        return self._choose(state, numbered[index].record.id, f"Region chosen at ({x:.0f}, {y:.0f})")

    def pick_region(self, state: ViewState, evt: gr.SelectData) -> ViewState:
        """A row of the regions table (its first cell is the region's number)."""
        row = evt.row_value or []
        number = str(row[0]).strip() if row else ""
        if not number.isdigit():
            raise WorkbenchError("no region to choose: this row only says why the table is empty", "empty")
        found = [n for n in self._numbered(state) if n.number == int(number)]
        if not found:
            raise WorkbenchError(f"region {number} is no longer on the image", "not-found")
        return self._choose(state, found[0].record.id, f"Region {number} chosen")

    def show_maps(self, state: ViewState) -> ViewState:
        """The chosen region's highlight and signal maps, after its panel has opened (REGION_HIGHLIGHT)."""
        return state

    def _region(self, state: ViewState) -> tuple[int, int]:
        if state.analysis_id is None or state.region_id is None:
            raise WorkbenchError("choose a region first: click inside a box or its row", "empty")
        return state.analysis_id, state.region_id

    def ask(self, question: str, backend: str, analyst: str, state: ViewState) -> ViewState:
        name = require_analyst(analyst)
        analysis_id, region_id = self._region(state)
        record = ask_about_region(self.store, self.detectors.get(backend), analysis_id, region_id, question, name)
        return replace(state, answer=f"Q: {record.question}\nA: {record.answer}",
                       status=f"Answer saved with region (question {record.id})")

    def override(self, decision: str | None, note: str, analyst: str, state: ViewState) -> ViewState:
        name = require_analyst(analyst)
        analysis_id, region_id = self._region(state)
        if not decision:
            raise WorkbenchError("choose AI artefact, authentic or not relevant", "invalid")
        edited = override_region(self.store, analysis_id, region_id, name, decision, note or "")
        return replace(state, region_id=edited.id, status=f"Region marked {decision} (saved by {name})")

    def editor_boxes(self, value: dict[str, Any] | None, state: ViewState) -> list[Any] | None:
        """The editor's boxes in image pixels (None: the editor is folded, so it shows nothing to save)."""
        if not state.editing or state.evidence_file_id is None:
            return None
        image = workbench.evidence_image(self.store, state.evidence_file_id)
        return editor_boxes(value, image.width, image.height, self._scale(state))

    def save_boxes(self, value: dict[str, Any] | None, analyst: str, state: ViewState) -> ViewState:
        name = require_analyst(analyst)
        if state.analysis_id is None:
            raise WorkbenchError("analyse the image first", "empty")
        edited = self.editor_boxes(value, state)
        if edited is None:
            raise WorkbenchError("open the box editor first", "empty")
        scale = self._scale(state)
        changes = apply_box_edits(self.store, state.analysis_id, edited, name, tolerance=1.0 / scale + 0.5)
        return replace(state, region_id=None, answer="", status=f"Boxes saved: {changes.describe()}")

    def open_editor(self, state: ViewState) -> ViewState:
        """The box editor unfolded: from now on it is drawn with the boxes."""
        return replace(state, editing=True)

    def close_editor(self, state: ViewState) -> ViewState:
        return replace(state, editing=False)

    @staticmethod
    def tab_chosen(tab: str) -> Callable[[ViewState], ViewState]:
        """The handler for choosing the step tab `tab`: remembered so a redraw keeps it."""
        def chosen(state: ViewState) -> ViewState:
            return replace(state, tab=tab)
        chosen.__name__ = f"tab_{tab}"
        return chosen
