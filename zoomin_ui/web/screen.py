"""The session's view state, the page's outputs and the rule that joins them.

The page is drawn from state: a handler only changes the session's
`ViewState` (and the store, through the service layer) and returns the new
state.  `page_event` then draws the event's outputs with `draw.draw`, from
that state and the store, the same way for every event.  So nothing on
screen can outlive the state it came from (a decision form of another case,
a download of another case), and a new output cannot be forgotten by a
handler: it is drawn by the one function or not at all.

Most events draw the whole page (`PAGE`).  A few draw a documented subset
because a full redraw is too slow for them (a box click) or would overwrite
what the analyst is typing (an export); every output of a subset is still
drawn from the state.  A failure keeps the state as it was, with the error
as its status line, and draws the same outputs from it: the page shows what
the store holds, the store's transactions left the case as it was."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

from models.types import Region
from zoomin_ui.service import WorkbenchError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ViewState:
    """What one browser session has open and what it is in the middle of
    (kept per session in gr.State).  Everything the page shows that is not in
    the store is here."""

    case_id: int | None = None
    evidence_file_id: int | None = None
    analysis_id: int | None = None
    region_id: int | None = None
    selected_case: int | None = None  # the row chosen in the case list
    status: str = ""  # the one-line status message
    scan: tuple[Region, ...] = ()  # stage 1's boxes while stage 2 runs (not stored yet)
    running: bool = False  # an analysis of this session is running: Analyse is disabled
    waiting_upload: tuple[str, ...] = ()  # files dropped before the analyst gave a name
    waiting_add: bool = False  # ...and whether they join the open case
    notice: str = ""  # "seen before" notice of the latest intake
    compare: tuple[int, int] | None = None  # (before, after) analysis ids of the latest re-run
    answer: str = ""  # an answer just given about the chosen region
    pdf_file: str | None = None  # files exported from this case in this session
    bundle_file: str | None = None
    editing: bool = False  # the box editor is unfolded
    query: str = ""  # the case search
    tab: str = "analyse"  # the step shown: analyse, review, conclude, cases

    def opened(self, case_id: int, evidence_file_id: int | None, analysis_id: int | None, status: str
               ) -> ViewState:
        """A fresh state for another case: nothing of the previous one stays."""
        return ViewState(case_id=case_id, evidence_file_id=evidence_file_id, analysis_id=analysis_id,
                         selected_case=case_id, status=status, query=self.query, editing=self.editing,
                         tab="analyse")

    def on_evidence(self, evidence_file_id: int, analysis_id: int | None, status: str = "") -> ViewState:
        """Another evidence item of the same case: its region, answer and comparison go."""
        return replace(self, evidence_file_id=evidence_file_id, analysis_id=analysis_id, region_id=None, scan=(),
                       compare=None, answer="", status=status)

    def on_analysis(self, analysis_id: int | None, status: str, compare: tuple[int, int] | None = None
                    ) -> ViewState:
        return replace(self, analysis_id=analysis_id, region_id=None, scan=(), running=False, compare=compare,
                       answer="", status=status)


# Every output of the page, in the order the events list them (layout.py
# names a component for each).
PAGE = ("state", "status", "notice", "case_title", "file_info", "evidence_choice", "evidence_strip", "upload",
        "analyse_btn", "analyse_all_btn", "verdict_word", "verdict_headline", "verdict_figure", "verdict_why",
        "verdict", "provenance", "provenance_raw", "image", "regions", "zoom_panel", "zoom_crop", "zoom_maps",
        "region_text", "answer", "question", "decision", "decision_note", "editor_fold", "editor", "compare", "final_verdict",
        "final_note", "training_allowed", "case_list", "pdf_file", "bundle_file", "tabs")
# A box click or a table row: the chosen region, its highlight, its zoom and its decision form.
REGION = ("state", "status", "image", "regions", "zoom_panel", "zoom_crop", "zoom_maps", "region_text", "answer",
          "question", "decision", "decision_note", "tabs")
# A box click or a table row in two steps, so the enlarged crop is on screen
# sooner: first the zoom panel and the decision form of the chosen region...
REGION_ZOOM = ("state", "status", "zoom_panel", "zoom_crop", "zoom_maps", "region_text", "answer", "question",
               "decision", "decision_note", "tabs")
# ...then the highlight of its box and row and its signal maps (together REGION's outputs).
REGION_HIGHLIGHT = ("image", "regions", "zoom_maps")
assert set(REGION_ZOOM) | set(REGION_HIGHLIGHT) == set(REGION)
# The case list while a search is typed.
CASES = ("state", "case_list")
# Exports: the files and the status only, so an unsaved note being typed stays.
FILES = ("state", "status", "pdf_file", "bundle_file")
# A step tab chosen by the analyst: remembered in the state only.
STATE_ONLY = ("state",)


def require_analyst(name: str | None) -> str:
    from storage.identity import signed_in

    user = signed_in()  # on the newsroom server the login signs, not the typed name
    if user is not None and user.name:
        return user.name
    name = (name or "").strip()
    if not name:
        raise WorkbenchError("enter your name in 'Analyst' first: every action is signed with it", "analyst")
    return name


def error_line(exc: BaseException) -> str:
    if isinstance(exc, WorkbenchError):
        return f"Error: {exc}"
    log.exception("workbench handler failed")
    return f"Error: something went wrong ({type(exc).__name__}: {exc}); nothing was changed by the failed step"


def _incoming_state(args: Sequence[Any]) -> ViewState:
    return next((a for a in args if isinstance(a, ViewState)), ViewState())


def page_event(store: Any, handler: Callable[..., Any], parts: Sequence[str], *, maps: bool = True
               ) -> Callable[..., Any]:
    """`handler` (returning or yielding a ViewState) as a Gradio event whose
    outputs are `parts`, drawn from that state and the store.  Any exception
    becomes the old state with a one-line status (no traceback reaches the
    page).  Gradio reads the handler's own signature (functools.wraps), so
    its event data and progress parameters keep working."""
    from zoomin_ui.web.draw import draw

    def values(state: ViewState | None) -> list[Any]:
        if state is None:  # the handler changed nothing: the page already shows this state
            return [gr.skip() for _ in parts]
        try:
            return draw(store, state, parts, maps=maps)
        except Exception as exc:  # noqa: BLE001 (the page's error boundary: the store changed under the state)
            return draw(store, ViewState(status=error_line(exc), query=state.query), parts, maps=maps)

    def drawn(state: ViewState | None) -> Any:
        shown = values(state)
        return shown[0] if len(shown) == 1 else shown  # Gradio takes one output's value bare

    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def stream(*args: Any, **kwargs: Any):
            state = _incoming_state(args)
            try:
                for shown in handler(*args, **kwargs):
                    state = shown
                    yield drawn(state)
            except Exception as exc:  # noqa: BLE001 (the page's error boundary)
                yield drawn(replace(state, status=error_line(exc), running=False, scan=()))
        return stream

    @functools.wraps(handler)
    def plain(*args: Any, **kwargs: Any):
        state = _incoming_state(args)
        try:
            changed = handler(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 (the page's error boundary)
            changed = replace(state, status=error_line(exc))
        return drawn(changed)
    return plain


class HandlerBase:
    """Handlers bound to one case store and one set of detectors."""

    def __init__(self, store: Any, detectors: Any):
        self.store = store
        self.detectors = detectors
