"""What every handler returns and shares: the session's view state, the
Screen of outputs, the error boundary and the code that shows an analysis.

Every handler returns a `Screen` (one value per main component, gr.skip()
for those it leaves alone), so every event updates the same outputs and a
failure is one readable line in the status box, never a traceback; a failed
step changes nothing else on the page, and the store's own transactions
leave the case as it was."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import gradio as gr

from models.types import Box
from zoomin_ui import workbench
from zoomin_ui.service import WorkbenchError
from zoomin_ui.web import rendering
from zoomin_ui.web.detectors import Detectors
from zoomin_ui.web.provenance import provenance_text
from zoomin_ui.web.regions import numbered_regions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ViewState:
    """What one browser session has open (kept per session in gr.State)."""

    case_id: int | None = None
    evidence_file_id: int | None = None
    analysis_id: int | None = None
    region_id: int | None = None
    scale: float = 1.0  # display pixels per image pixel
    boxes: tuple[tuple[int, Box], ...] = field(default_factory=tuple)  # (region id, box), hit-test order
    selected_case: int | None = None


class Screen(NamedTuple):
    state: Any
    status: Any
    file_info: Any
    evidence_choice: Any
    image: Any
    regions: Any
    verdict: Any
    provenance: Any
    provenance_raw: Any
    editor: Any
    zoom_panel: Any
    zoom_crop: Any
    zoom_maps: Any
    region_text: Any
    answer: Any
    compare: Any
    final_verdict: Any
    final_note: Any
    cases: Any
    pdf_file: Any
    bundle_file: Any


def screen(**changes: Any) -> Screen:
    """A Screen that changes only what is given."""
    return Screen(**{name: changes.pop(name) if name in changes else gr.skip() for name in Screen._fields})


def require_analyst(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise WorkbenchError("enter your name in 'Analyst' first: every action is signed with it", "analyst")
    return name


def _message(exc: BaseException) -> str:
    if isinstance(exc, WorkbenchError):
        return f"Error: {exc}"
    log.exception("workbench handler failed")
    return f"Error: something went wrong ({type(exc).__name__}: {exc}); nothing was changed by the failed step"


def readable_errors(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Any exception becomes a one-line status message (generators too)."""
    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def generator(*args: Any, **kwargs: Any):
            try:
                yield from handler(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 (the page's error boundary)
                yield screen(status=_message(exc))
        return generator

    @functools.wraps(handler)
    def plain(*args: Any, **kwargs: Any):
        try:
            return handler(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 (the page's error boundary)
            return screen(status=_message(exc))
    return plain


class HandlerBase:
    """Handlers bound to one case store and one set of detectors."""

    def __init__(self, store: Any, detectors: Detectors):
        self.store = store
        self.detectors = detectors

    # ------------------------------------------------------------------ showing an analysis

    def _analysis_screen(self, state: ViewState, analysis_id: int | None, **extra: Any) -> Screen:
        """The image with the analysis' current boxes, its table, verdict,
        provenance and box editor; the zoom panel closed."""
        if analysis_id is None:
            image = workbench.evidence_image(self.store, state.evidence_file_id) if state.evidence_file_id else None
            base = rendering.display_base(image)[0] if image else None
            state = replace(state, analysis_id=None, region_id=None, boxes=())
            return screen(state=state, image=base, regions=[], verdict=rendering.verdict_text(None),
                          provenance="", provenance_raw="", editor=None, zoom_panel=gr.update(visible=False),
                          **extra)
        analysis = workbench.get_analysis(self.store, analysis_id)
        image = workbench.evidence_image(self.store, analysis.evidence_file_id)
        base, scale = rendering.display_base(image)
        numbered = numbered_regions(analysis)
        plain, raw = provenance_text(analysis.evidence)
        state = replace(state, case_id=analysis.case_id, evidence_file_id=analysis.evidence_file_id,
                        analysis_id=analysis.id, region_id=None, scale=scale,
                        boxes=tuple((n.record.id, n.record.box) for n in numbered))
        return screen(state=state, image=rendering.overlay_regions(base, scale, numbered),
                      regions=rendering.region_rows(numbered), verdict=rendering.verdict_text(analysis),
                      provenance=plain, provenance_raw=raw, editor=rendering.editor_value(base, scale, numbered),
                      zoom_panel=gr.update(visible=False), **extra)

    def _case_screen(self, case_id: int, state: ViewState, status: str, show_file: int | None = None) -> Screen:
        """The case with `show_file` (default: its first evidence file) on screen."""
        detail = workbench.case_detail(self.store, case_id)
        files = detail.evidence_files
        first = show_file if show_file is not None else (files[0].id if files else None)
        latest = workbench.latest_analysis(detail, first)
        state = ViewState(case_id=case_id, evidence_file_id=first, selected_case=case_id)
        return self._analysis_screen(
            state, latest.id if latest else None, status=status, file_info=rendering.file_info_text(files),
            evidence_choice=gr.update(choices=[(f"{f.original_name} ({f.sha256[:12]})", f.id) for f in files],
                                      value=first),
            final_verdict=detail.summary.final_verdict, final_note=detail.final_note, compare=[],
            cases=self._case_rows(""))

    def _case_rows(self, query: str) -> list[list[Any]]:
        return rendering.case_rows(workbench.search_cases(self.store, query))

