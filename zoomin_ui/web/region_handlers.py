"""The page's region-level event handlers: a click on the image or a row
opens the zoom panel; questions, decisions and box edits on that region.
Thin: each calls the workbench service layer and returns a Screen."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import gradio as gr

from models.overlay import hit_test
from zoomin_ui.service import WorkbenchError
from zoomin_ui.web import rendering
from zoomin_ui.web.regions import (
    apply_box_edits,
    ask_about_region,
    numbered_regions,
    override_region,
)
from zoomin_ui.web.screen import (
    HandlerBase,
    Screen,
    ViewState,
    readable_errors,
    require_analyst,
    screen,
)
from zoomin_ui.web.zoom import zoom_region
from zoomin_ui.workbench import get_analysis


class RegionHandlers(HandlerBase):

    def _zoom_screen(self, state: ViewState, region_id: int, status: str, with_maps: bool = True) -> Screen:
        assert state.analysis_id is not None
        view = zoom_region(self.store, state.analysis_id, region_id, with_maps=with_maps)
        return screen(state=replace(state, region_id=region_id), zoom_panel=gr.update(visible=True),
                      zoom_crop=rendering.fast_png(view.crop), zoom_maps=[(image, caption) for image, caption in view.maps],
                      region_text=view.text, answer=_last_answer(view.region.record), status=status)

    @readable_errors
    def show_maps(self, state: ViewState) -> Screen:
        """The chosen region's signal maps, after its panel has opened."""
        if state.analysis_id is None or state.region_id is None:
            return screen()
        view = zoom_region(self.store, state.analysis_id, state.region_id)
        return screen(zoom_maps=[(image, caption) for image, caption in view.maps])

    @readable_errors
    def click_image(self, state: ViewState, evt: gr.SelectData) -> Screen:
        """A click in display pixels, hit-tested against the boxes in image
        pixels (the smallest box containing it wins)."""
        if state.analysis_id is None or not state.boxes:
            return screen(status="No boxes to choose yet: analyse the image first")
        x, y = (float(v) / state.scale for v in evt.index[:2])
        index = hit_test([box for _, box in state.boxes], x, y)
        if index is None:
            return screen(status=f"No box at ({x:.0f}, {y:.0f}); click inside a numbered box")
        return self._zoom_screen(state, state.boxes[index][0], f"Region chosen at ({x:.0f}, {y:.0f})",
                                 with_maps=False)

    @readable_errors
    def pick_region(self, state: ViewState, evt: gr.SelectData) -> Screen:
        """A row of the regions table (its first cell is the region's number)."""
        row = evt.row_value or []
        if state.analysis_id is None or not row:
            return screen(status="No region to choose yet: analyse the image first")
        number = int(row[0])
        found = [n for n in numbered_regions(get_analysis(self.store, state.analysis_id)) if n.number == number]
        if not found:
            raise WorkbenchError(f"region {number} is no longer on the image", "not-found")
        return self._zoom_screen(state, found[0].record.id, f"Region {number} chosen", with_maps=False)

    def _region(self, state: ViewState) -> tuple[int, int]:
        if state.analysis_id is None or state.region_id is None:
            raise WorkbenchError("choose a region first: click inside a box or its row", "empty")
        return state.analysis_id, state.region_id

    @readable_errors
    def ask(self, question: str, backend: str, analyst: str, state: ViewState) -> Screen:
        name = require_analyst(analyst)
        analysis_id, region_id = self._region(state)
        record = ask_about_region(self.store, self.detectors.get(backend), analysis_id, region_id, question, name)
        zoomed = self._zoom_screen(state, region_id, f"Answer saved with region (question {record.id})")
        return zoomed._replace(answer=record.answer)

    @readable_errors
    def override(self, decision: str | None, note: str, analyst: str, state: ViewState) -> Screen:
        name = require_analyst(analyst)
        analysis_id, region_id = self._region(state)
        if not decision:
            raise WorkbenchError("choose AI artefact, authentic or not relevant", "invalid")
        edited = override_region(self.store, analysis_id, region_id, name, decision, note or "")
        shown = self._analysis_screen(state, analysis_id, status=f"Region marked {decision} (saved by {name})")
        zoomed = self._zoom_screen(shown.state, edited.id, shown.status)
        return shown._replace(state=zoomed.state, zoom_panel=zoomed.zoom_panel, zoom_crop=zoomed.zoom_crop,
                              zoom_maps=zoomed.zoom_maps, region_text=zoomed.region_text, answer=zoomed.answer)

    @readable_errors
    def save_boxes(self, value: dict[str, Any] | None, analyst: str, state: ViewState) -> Screen:
        name = require_analyst(analyst)
        if state.analysis_id is None:
            raise WorkbenchError("analyse the image first", "empty")
        edited = rendering.edited_boxes(value, state.scale)
        changes = apply_box_edits(self.store, state.analysis_id, edited, name, tolerance=1.0 / state.scale + 0.5)
        return self._analysis_screen(state, state.analysis_id, status=f"Boxes saved: {changes.describe()}")


def _last_answer(record: Any) -> str:
    if not record.questions:
        return ""
    last = record.questions[-1]
    return f"Q: {last.question}\nA: {last.answer}"
