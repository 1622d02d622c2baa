"""The page: components (with the element ids the browser tests use, see
docs/workbench.md) and the events that connect them to the handlers.

Every event's outputs are named by screen.py (the whole page, or one of its
documented subsets) and drawn by draw.py from the session's state; no
handler chooses its outputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from gradio_image_annotation import image_annotator

from zoomin_ui.service import open_store
from zoomin_ui.users import page_analyst
from zoomin_ui.web.detectors import BackendConfig, Detectors
from zoomin_ui.web.handlers import Handlers
from zoomin_ui.web.queues import wire_detector_work
from zoomin_ui.web.rendering import CASE_COLUMNS, COMPARE_COLUMNS, REGION_COLUMNS
from zoomin_ui.web.screen import (CASES, FILES, PAGE, REGION, REGION_HIGHLIGHT, REGION_ZOOM, STATE_ONLY, ViewState,
                                  page_event)

VERDICTS = ["ai-generated", "real", "inconclusive"]
DECISION_CHOICES = ["AI artefact", "authentic", "not relevant"]
# Analyses, re-runs and questions queue per backend (zoomin_ui/web/queues.py);
# everything else reads or writes the case store and runs up to this many at once.
OTHER_CONCURRENCY = 4
CACHE_CLEANUP = (3600, 86400)  # every hour, files older than a day
# The page's layout styles (launch.py passes them to Gradio); among them, the
# box editor's rotate buttons are hidden (see page.css).
PAGE_CSS = (Path(__file__).with_name("page.css")).read_text(encoding="utf-8")

INTRO = "**ZoomIn Workbench**: is this image AI-generated, where, and why? Nothing leaves this machine."
REVIEW_HINT = "Click a numbered box on the image, or a row of the table, to zoom in."
LEGEND = ("Regions, highest score first. Box colour: green low, amber, red high score; dashed blue: drawn "
          "or moved by an analyst. Click a row to zoom.")


def _text(elem_id: str, label: str, lines: int = 1, **kwargs: Any) -> gr.Textbox:
    """Read-only text: model and analyst words are shown as text, never as HTML."""
    return gr.Textbox(label=label, elem_id=elem_id, lines=lines, interactive=False, **kwargs)


def log_out_shown(request: gr.Request) -> Any:
    """Log out is offered to a session that logged in (a login is set) only."""
    return gr.Button(visible=bool(getattr(request, "username", None)))


def build_app(store_home: str | Path | None = None, *, backends: BackendConfig | None = None,
              store: Any = None) -> gr.Blocks:
    """The workbench page on the case store in `store_home` (default ZOOMIN_HOME)."""
    store = store or open_store(str(store_home) if store_home else None)
    backends = backends or BackendConfig.from_env()
    handlers = Handlers(store, Detectors(backends))
    # Gradio's copies of uploads and shown images are evidence too: dropped
    # after a day and whenever the server restarts (the case store keeps its own).
    with gr.Blocks(title="ZoomIn Workbench", analytics_enabled=False, delete_cache=CACHE_CLEANUP) as demo:
        demo.zoomin_store = store  # type: ignore[attr-defined]  # for launchers and tests
        c: dict[str, Any] = {"state": gr.State(ViewState())}
        remembered = gr.BrowserState("", storage_key="zoomin-analyst")
        with gr.Row(elem_id="top-bar", equal_height=True):
            gr.Markdown(INTRO, elem_id="intro")
            analyst = gr.Textbox(label="Analyst (your name)", elem_id="analyst-name", placeholder="e.g. Dana Reyes",
                                 min_width=160)
            backend = gr.Dropdown(backends.choices(), value=backends.default, label="Backend",
                                  elem_id="backend-choice", min_width=120)
            case_search = gr.Textbox(label="Find a case (title, file name, SHA-256 prefix, id)",
                                     elem_id="case-search", min_width=200)
            open_case_btn = gr.Button("Open case", elem_id="open-case-btn", min_width=90)
            # Gradio's /logout ends the session (and the server log records it: launch.py).
            log_out = gr.Button("Log out", link="/logout", elem_id="log-out", visible=False, min_width=80)
        c["status"] = _text("status-message", "Status", show_label=False, container=False)
        with gr.Group(elem_id="verdict-card"):
            with gr.Row(equal_height=True):
                c["verdict_word"] = _text("verdict-word", "Tool verdict", elem_classes=["verdict-word"],
                                          scale=1, min_width=150)
                c["verdict_headline"] = _text("verdict-headline", "In plain words", lines=2, max_lines=6,
                                              scale=4, min_width=200)
                c["verdict_figure"] = _text("verdict-figure", "Figure", visible=False, scale=1, min_width=110)
            with gr.Accordion("Why, key evidence and what would settle it", open=False, elem_id="reading-detail"):
                c["verdict_why"] = _text("verdict-why", "Details in plain words", lines=3, max_lines=16)
            with gr.Accordion("Technical detail: the expert explanation and provenance", open=False,
                              elem_id="technical-detail"):
                c["verdict"] = _text("verdict-view", "Tool verdict, explained", lines=5)
                c["provenance"] = _text("provenance-panel", "Provenance (Content Credentials, metadata, watermark)",
                                        lines=6)
                with gr.Accordion("Raw provenance details", open=False):
                    c["provenance_raw"] = gr.Code(language="json", interactive=False, elem_id="provenance-raw")
        with gr.Row(elem_id="workspace"):
            with gr.Column(scale=3, min_width=300):
                # No label or buttons over the picture: they would cover the numbers of boxes at its top edge.
                c["image"] = gr.Image(type="pil", format="jpeg", interactive=False, show_label=False, buttons=[],
                                      height=380, elem_id="image-view")
                c["regions"] = gr.Dataframe(headers=REGION_COLUMNS, datatype=["str", "str", "number", "str", "str"],
                                            interactive=False, label=LEGEND, wrap=True, max_height=260,
                                            column_widths=["8%", "52%", "12%", "14%", "14%"],
                                            elem_id="regions-table")
            with gr.Column(scale=2, min_width=300):
                with gr.Tabs(elem_id="steps") as c["tabs"]:
                    with gr.Tab("1 Analyse", id="analyse", elem_id="tab-analyse", render_children=True) as tab_a:
                        upload = c["upload"] = gr.File(label="Images (drop one or several)", file_count="multiple",
                                                       elem_id="upload", height=110)
                        with gr.Row():
                            c["analyse_btn"] = gr.Button("Analyse", variant="primary", elem_id="analyse-btn")
                            c["analyse_all_btn"] = gr.Button("Analyse all", elem_id="analyse-all-btn")
                        add_to_case = gr.Checkbox(label="Add these images to the open case (otherwise: a new case)",
                                                  value=False, elem_id="add-to-case")
                        c["notice"] = _text("seen-before", "Seen before", lines=1, visible=False)
                        c["case_title"] = gr.Textbox(label="Case title (Enter to rename)", elem_id="case-title",
                                                     interactive=False)
                        c["evidence_strip"] = gr.Gallery(label="The case's evidence items", columns=4, height=140,
                                                         allow_preview=False, buttons=[], format="jpeg",
                                                         object_fit="contain",
                                                         elem_id="evidence-strip")
                        c["evidence_choice"] = gr.Dropdown([], label="Evidence item", elem_id="evidence-choice")
                        c["file_info"] = _text("file-info", "Evidence files (SHA-256, size, format)", lines=2)
                    with gr.Tab("2 Review regions", id="review", elem_id="tab-review", render_children=True) as tab_r:
                        gr.Markdown(REVIEW_HINT, elem_id="review-hint")
                        # "hidden": mounted but not shown, so a box click need not build the panel.
                        with gr.Column(visible="hidden", elem_id="zoom-panel") as c["zoom_panel"]:
                            c["zoom_crop"] = gr.Image(label="Zoomed region", type="pil", format="png", height=250,
                                                      interactive=False, buttons=["download", "fullscreen"],
                                                      elem_id="zoom-crop")
                            c["region_text"] = _text("region-explanation", "Explanation and evidence", lines=3,
                                                     max_lines=8)
                            c["decision"] = gr.Radio(DECISION_CHOICES, label="Analyst decision",
                                                     elem_id="override-choice")
                            c["decision_note"] = gr.Textbox(label="Note", elem_id="override-note")
                            override_btn = gr.Button("Save decision", elem_id="override-btn")
                            with gr.Row():
                                c["question"] = gr.Textbox(label="Ask about this region", elem_id="question-box",
                                                           scale=3)
                                ask_btn = gr.Button("Ask", elem_id="ask-btn", scale=1, min_width=60)
                            c["answer"] = _text("answer-view", "Answer", lines=2)
                            c["zoom_maps"] = gr.Gallery(label="Signal maps of the crop", columns=3, format="jpeg",
                                                        height=200, buttons=["fullscreen"], elem_id="zoom-maps")
                    with gr.Tab("3 Conclude & export", id="conclude", elem_id="tab-conclude",
                                render_children=True) as tab_c:
                        c["final_verdict"] = gr.Radio(VERDICTS, label="Final verdict (analyst)",
                                                      elem_id="final-verdict")
                        c["final_note"] = gr.Textbox(label="Final note", lines=3, elem_id="final-note")
                        c["training_allowed"] = gr.Checkbox(
                            label="The decisions in this case may be used as training data (off unless ticked)",
                            elem_id="training-allowed")
                        save_verdict_btn = gr.Button("Save verdict", elem_id="save-verdict-btn")
                        with gr.Row():
                            export_pdf_btn = gr.Button("Export PDF report", elem_id="export-pdf-btn")
                            bundle_export_btn = gr.Button("Export case bundle", elem_id="bundle-export-btn")
                        c["pdf_file"] = gr.File(label="PDF report", interactive=False, elem_id="pdf-file", height=80)
                        c["bundle_file"] = gr.File(label="Case bundle", interactive=False, elem_id="bundle-file",
                                                   height=80)
                        bundle_import = gr.File(label="Import a case bundle (.zip)", elem_id="bundle-import",
                                                height=80)
                    with gr.Tab("4 Cases", id="cases", elem_id="tab-cases", render_children=True) as tab_k:
                        c["case_list"] = gr.Dataframe(headers=CASE_COLUMNS, interactive=False, wrap=True,
                                                      label="Cases (click one to open)", max_height=420,
                                                      datatype=["number"] + ["str"] * (len(CASE_COLUMNS) - 1),
                                                      elem_id="case-list")
        with gr.Accordion("Edit boxes (move, resize, add, delete), then re-run stage 2", open=False,
                          elem_id="box-editor-fold") as c["editor_fold"]:
            # No caption over the picture: it would cover the band that keeps top-edge numbers readable.
            c["editor"] = image_annotator(label="Box editor", show_label=False, image_type="pil", sources=[],
                                          disable_edit_boxes=True, show_clear_button=False, show_remove_button=True,
                                          show_share_button=False, show_download_button=False,
                                          height=560, elem_id="box-editor")
            with gr.Row():
                save_boxes_btn = gr.Button("Save boxes", elem_id="save-boxes-btn")
                rerun_btn = gr.Button("Re-run stage 2 on these boxes", elem_id="rerun-btn")
            c["compare"] = gr.Dataframe(headers=COMPARE_COLUMNS, interactive=False, label="Before and after",
                                        elem_id="compare-view")

        assert set(c) == set(PAGE), set(PAGE) ^ set(c)
        state = c["state"]
        offered = backends.available()
        # One progress indicator, on the status line: the image and the other outputs stay as they are.
        progress = {"show_progress": "full", "show_progress_on": [c["status"]]}
        # The other events show no progress, and they keep their loading status on the
        # status line too: by default Gradio's page keeps one for every output of every
        # event, and refreshes all of them (each with a copy of the data of all the
        # component's children: the step tabs hold most of the page) when any event is
        # sent and again when it ends.  That refresh was ~0.1 s of each box click before
        # its request left the page.
        quiet = {"show_progress": "hidden", "show_progress_on": [c["status"]]}

        def outputs(parts: Sequence[str]) -> list[Any]:
            return [c[name] for name in parts]

        def on(listener: Callable[..., Any], handler: Callable[..., Any], inputs: list[Any],
               parts: Sequence[str] = PAGE, maps: bool = True, **options: Any) -> Any:
            return listener(page_event(store, handler, parts, maps=maps), inputs, outputs(parts),
                            **{**quiet, **options})

        def detector_work(starters: list[Any], handler: Callable[..., Any], inputs: list[Any],
                          parts: Sequence[str] = PAGE) -> None:
            wire_detector_work(starters, backend, offered, page_event(store, handler, parts), inputs,
                               outputs(parts), **progress)

        # Fill in the remembered name only: never overwrite one being typed (signed in: the login's name).
        demo.load(page_analyst, [remembered, analyst], analyst, queue=False)
        demo.load(log_out_shown, None, log_out, queue=False)
        on(demo.load, handlers.first_view, [case_search], CASES)
        analyst.change(lambda name: (name or "").strip(), analyst, remembered, queue=False)
        # A waiting upload (dropped before the name) is taken in once the name is given.
        on(analyst.blur, handlers.name_given, [analyst, state])
        on(analyst.submit, handlers.name_given, [analyst, state])
        on(upload.upload, handlers.upload, [upload, analyst, state, add_to_case, backend])
        on(c["evidence_choice"].input, handlers.choose_evidence, [c["evidence_choice"], state])
        on(c["evidence_strip"].select, handlers.pick_evidence, [state])
        on(c["case_title"].submit, handlers.rename_case, [c["case_title"], analyst, state])
        detector_work([c["analyse_btn"].click], handlers.analyse, [c["evidence_choice"], backend, analyst, state])
        detector_work([c["analyse_all_btn"].click], handlers.analyse_all, [backend, analyst, state])
        # A box click reads the store and a crop only: it skips the queue so
        # the zoom opens at once even while an analysis runs; the maps follow.
        for chooses_region, handler in ((c["image"].select, handlers.click_image),
                                        (c["regions"].select, handlers.pick_region)):
            on(chooses_region, handler, [state], REGION_ZOOM, maps=False, queue=False).then(
                page_event(store, handlers.show_maps, REGION_HIGHLIGHT), state, outputs(REGION_HIGHLIGHT),
                queue=False, **quiet)
        detector_work([ask_btn.click, c["question"].submit], handlers.ask, [c["question"], backend, analyst, state],
                      REGION)
        on(override_btn.click, handlers.override, [c["decision"], c["decision_note"], analyst, state])
        on(c["editor_fold"].expand, handlers.open_editor, [state])
        on(c["editor_fold"].collapse, handlers.close_editor, [state], STATE_ONLY)
        on(save_boxes_btn.click, handlers.save_boxes, [c["editor"], analyst, state])
        detector_work([rerun_btn.click], handlers.rerun, [backend, analyst, c["editor"], state])
        on(save_verdict_btn.click, handlers.save_verdict, [c["final_verdict"], c["final_note"], analyst, state,
                                                               c["training_allowed"]])
        on(export_pdf_btn.click, handlers.export_pdf, [analyst, state], FILES)
        on(bundle_export_btn.click, handlers.export_bundle, [analyst, state], FILES)
        on(bundle_import.upload, handlers.import_bundle, [bundle_import, analyst, state])
        on(case_search.submit, handlers.find, [case_search, state], CASES + ("tabs",))
        on(case_search.change, handlers.search, [case_search, state], CASES, trigger_mode="always_last")
        on(c["case_list"].select, handlers.pick_case, [state])
        on(open_case_btn.click, handlers.open_case, [case_search, state])
        for tab, name in ((tab_a, "analyse"), (tab_r, "review"), (tab_c, "conclude"), (tab_k, "cases")):
            on(tab.select, handlers.tab_chosen(name), [state], STATE_ONLY, queue=False)
    demo.queue(default_concurrency_limit=OTHER_CONCURRENCY)
    return demo
