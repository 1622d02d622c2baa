"""The one function that draws the page: every output from the session's
`ViewState` and the case store, the same way for every event (see
screen.py for the rule and the documented subsets).

Each output has one drawing function, registered in `_DRAWERS`; they read
what they need from a `Frame`, which loads the case, the analysis and the
image at most once per draw."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import gradio as gr

from zoomin_ui import workbench
from zoomin_ui.web import pictures, rendering
from zoomin_ui.web.provenance import provenance_text
from zoomin_ui.web.regions import DECISION_NAMES, NumberedRegion, numbered_regions
from zoomin_ui.web.screen import PAGE, ViewState
from zoomin_ui.web.zoom import ZoomView, zoom_region

if TYPE_CHECKING:
    from storage import AnalysisRecord, CaseDetail, CaseStore


class Frame:
    """What one draw reads from the store, each thing loaded once."""

    def __init__(self, store: CaseStore, state: ViewState, maps: bool):
        self.store = store
        self.state = state
        self.maps = maps

    @cached_property
    def case(self) -> CaseDetail | None:
        return workbench.case_detail(self.store, self.state.case_id) if self.state.case_id is not None else None

    @cached_property
    def analysis(self) -> AnalysisRecord | None:
        if self.state.analysis_id is None:
            return None
        return workbench.get_analysis(self.store, self.state.analysis_id)

    @cached_property
    def regions(self) -> list[NumberedRegion]:
        return numbered_regions(self.analysis) if self.analysis is not None else []

    @cached_property
    def base(self):
        """(the image shrunk for the page, display pixels per image pixel), or None."""
        if self.state.evidence_file_id is None:
            return None
        return pictures.display_base(workbench.evidence_image(self.store, self.state.evidence_file_id))

    @cached_property
    def picture_key(self) -> str:
        """The shown evidence file's SHA-256 (the page's pictures of it are kept by it)."""
        assert self.state.evidence_file_id is not None
        return workbench.evidence_image(self.store, self.state.evidence_file_id).sha256

    @cached_property
    def zoom(self) -> ZoomView | None:
        if self.state.analysis_id is None or self.state.region_id is None:
            return None
        return zoom_region(self.store, self.state.analysis_id, self.state.region_id, with_maps=self.maps)

    @cached_property
    def chosen(self) -> NumberedRegion | None:
        return self.zoom.region if self.zoom is not None else None


def draw(store: CaseStore, state: ViewState, parts: Sequence[str] = PAGE, *, maps: bool = True) -> list[Any]:
    """The values of `parts` (names from screen.PAGE), in that order."""
    frame = Frame(store, state, maps)
    return [_DRAWERS[name](frame) for name in parts]


# ---------------------------------------------------------------------- the case and its evidence


def _case_title(frame: Frame) -> Any:
    title = frame.case.summary.title if frame.case else ""
    return gr.update(value=title, interactive=frame.case is not None)


def _file_info(frame: Frame) -> str:
    if frame.state.waiting_upload:
        return rendering.waiting_text(frame.state.waiting_upload)
    return rendering.file_info_text(frame.case.evidence_files) if frame.case else ""


def _evidence_choice(frame: Frame) -> Any:
    files = frame.case.evidence_files if frame.case else ()
    return gr.update(choices=[(f"{f.original_name} ({f.sha256[:12]})", f.id) for f in files],
                     value=frame.state.evidence_file_id if files else None)


def _evidence_strip(frame: Frame) -> list[tuple[Any, str]]:
    if frame.case is None:
        return []
    return rendering.evidence_strip(frame.store, frame.case)


def _upload(frame: Frame) -> Any:
    return list(frame.state.waiting_upload) or None


def _not_running(frame: Frame) -> Any:
    return gr.update(interactive=not frame.state.running)


# ---------------------------------------------------------------------- the verdict card


def _verdict_word(frame: Frame) -> Any:
    card = rendering.verdict_card(frame.analysis, running=frame.state.running)
    return gr.update(value=card.word, elem_classes=["verdict-word", card.css_class])


def _verdict_headline(frame: Frame) -> str:
    return rendering.verdict_card(frame.analysis, running=frame.state.running).headline


def _verdict_figure(frame: Frame) -> Any:
    card = rendering.verdict_card(frame.analysis, running=frame.state.running)
    if card.figure is None:
        return gr.update(value="", label="Figure", visible=False)
    return gr.update(value=f"{card.figure:.2f}", label=card.figure_label or "Figure", visible=True)


def _verdict_why(frame: Frame) -> str:
    text = "" if frame.state.running else rendering.reading_text(frame.analysis)
    return text or "Nothing to explain yet: analyse the image first."


def _technical(frame: Frame) -> str:
    return rendering.verdict_text(frame.analysis)


def _provenance(frame: Frame) -> str:
    return provenance_text(frame.analysis.evidence)[0] if frame.analysis else ""


def _provenance_raw(frame: Frame) -> str:
    return provenance_text(frame.analysis.evidence)[1] if frame.analysis else ""


# ---------------------------------------------------------------------- the image and its regions


def _image(frame: Frame) -> Any:
    if frame.base is None:
        return None
    base, scale = frame.base
    if frame.analysis is None:
        boxes = rendering.scan_boxes(scale, frame.state.scan)
    else:
        boxes = rendering.region_boxes(scale, frame.regions, chosen=frame.state.region_id)
    return pictures.page_image(frame.picture_key, base, boxes)


def _regions(frame: Frame) -> Any:
    if frame.analysis is None:
        return rendering.scan_rows(frame.state.scan) if frame.state.scan else rendering.empty_rows(
            "not analysed yet" if frame.state.evidence_file_id else "")
    return rendering.region_rows(frame.regions, chosen=frame.state.region_id)


def _zoom_panel(frame: Frame) -> Any:
    # "hidden" keeps the panel mounted (not shown), so opening it builds nothing: ~0.1 s of a box click.
    return gr.update(visible=True if frame.zoom is not None else "hidden")


def _zoom_crop(frame: Frame) -> Any:
    return pictures.fast_png(frame.zoom.crop) if frame.zoom else None


def _zoom_maps(frame: Frame) -> list[tuple[Any, str]]:
    return list(frame.zoom.maps) if frame.zoom and frame.maps else []


def _region_text(frame: Frame) -> str:
    return frame.zoom.text if frame.zoom else ""


def _answer(frame: Frame) -> str:
    if frame.chosen is None:
        return ""
    return frame.state.answer or rendering.last_answer(frame.chosen.record)


def _question(frame: Frame) -> str:
    return ""  # a question belongs to the region it was typed for: a redraw starts a new one


def _decision(frame: Frame) -> Any:
    """The chosen region's own decision (none while undecided), never the last one made."""
    return DECISION_NAMES.get(frame.chosen.record.status) if frame.chosen else None


def _decision_note(frame: Frame) -> str:
    if frame.chosen is None or frame.chosen.record.status not in DECISION_NAMES:
        return ""
    return frame.chosen.record.note


def _editor_fold(frame: Frame) -> Any:
    return gr.update(open=frame.state.editing)


def _editor(frame: Frame) -> Any:
    # Only while unfolded: a second full-size copy of the image costs a redraw its transfer.
    if not frame.state.editing or frame.base is None or frame.analysis is None:
        return None
    base, scale = frame.base
    return rendering.editor_value(base, scale, frame.regions)


def _compare(frame: Frame) -> list[list[Any]]:
    if frame.state.compare is None:
        return []
    before, after = (workbench.get_analysis(frame.store, a) for a in frame.state.compare)
    return rendering.compare_rows(before, after)


# ---------------------------------------------------------------------- concluding, cases, files


def _final_verdict(frame: Frame) -> Any:
    return frame.case.summary.final_verdict if frame.case else None


def _final_note(frame: Frame) -> str:
    return frame.case.final_note if frame.case else ""


def _training_allowed(frame: Frame) -> bool:
    """The case's release as training data (storage: cases.training_allowed), off when no case is open."""
    from zoomin_ui import memory

    return memory.training_allowed(frame.store, frame.case.summary.id) if frame.case else False


def _case_list(frame: Frame) -> list[list[Any]]:
    return rendering.case_rows(workbench.search_cases(frame.store, frame.state.query))


def _tabs(frame: Frame) -> Any:
    return gr.update(selected=frame.state.tab)


_DRAWERS: dict[str, Callable[[Frame], Any]] = {
    "state": lambda frame: frame.state,
    "status": lambda frame: frame.state.status,
    "notice": lambda frame: gr.update(value=frame.state.notice, visible=bool(frame.state.notice)),
    "case_title": _case_title,
    "file_info": _file_info,
    "evidence_choice": _evidence_choice,
    "evidence_strip": _evidence_strip,
    "upload": _upload,
    "analyse_btn": _not_running,
    "analyse_all_btn": _not_running,
    "verdict_word": _verdict_word,
    "verdict_headline": _verdict_headline,
    "verdict_figure": _verdict_figure,
    "verdict_why": _verdict_why,
    "verdict": _technical,
    "provenance": _provenance,
    "provenance_raw": _provenance_raw,
    "image": _image,
    "regions": _regions,
    "zoom_panel": _zoom_panel,
    "zoom_crop": _zoom_crop,
    "zoom_maps": _zoom_maps,
    "region_text": _region_text,
    "answer": _answer,
    "question": _question,
    "decision": _decision,
    "decision_note": _decision_note,
    "editor_fold": _editor_fold,
    "editor": _editor,
    "compare": _compare,
    "final_verdict": _final_verdict,
    "final_note": _final_note,
    "training_allowed": _training_allowed,
    "case_list": _case_list,
    "pdf_file": lambda frame: frame.state.pdf_file,
    "bundle_file": lambda frame: frame.state.bundle_file,
    "tabs": _tabs,
}
assert set(_DRAWERS) == set(PAGE), "every output of the page has exactly one drawing function"
