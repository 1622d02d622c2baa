"""The page: components (with the element ids the browser tests use, see
docs/workbench.md) and the events that connect them to the handlers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
from gradio_image_annotation import image_annotator

from zoomin_ui.service import open_store
from zoomin_ui.web.detectors import BackendConfig, Detectors
from zoomin_ui.web.handlers import Handlers
from zoomin_ui.web.queues import wire_detector_work
from zoomin_ui.web.rendering import CASE_COLUMNS, COMPARE_COLUMNS, REGION_COLUMNS
from zoomin_ui.web.screen import Screen, ViewState

VERDICTS = ["ai-generated", "real", "inconclusive"]
DECISION_CHOICES = ["AI artefact", "authentic", "not relevant"]
# Analyses, re-runs and questions queue per backend (zoomin_ui/web/queues.py);
# everything else reads or writes the case store and runs up to this many at once.
OTHER_CONCURRENCY = 4
CACHE_CLEANUP = (3600, 86400)  # every hour, files older than a day

INTRO = ("**ZoomIn Workbench** — is this image AI-generated, where is the evidence, and why. "
         "Everything runs on this machine. Enter your name, drop one or more images, press *Analyse*, "
         "then click inside a numbered box to zoom in.")


def _text(elem_id: str, label: str, lines: int = 1, **kwargs: Any) -> gr.Textbox:
    """Read-only text: model and analyst words are shown as text, never as HTML."""
    return gr.Textbox(label=label, elem_id=elem_id, lines=lines, interactive=False, **kwargs)


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
        state = gr.State(ViewState())
        remembered = gr.BrowserState("", storage_key="zoomin-analyst")
        gr.Markdown(INTRO)
        with gr.Row():
            analyst = gr.Textbox(label="Analyst (your name, asked once per session)", elem_id="analyst-name",
                                 placeholder="e.g. Dana Reyes", scale=2)
            backend = gr.Dropdown(backends.choices(), value=backends.default, label="Backend",
                                  elem_id="backend-choice", scale=1)
        status = _text("status-message", "Status")
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label="Images (drop one or several)", file_count="multiple", elem_id="upload")
                add_to_case = gr.Checkbox(label="Add these images to the open case (otherwise: a new case)",
                                          value=False, elem_id="add-to-case")
                file_info = _text("file-info", "Evidence files (SHA-256, size, format)", lines=2)
                evidence_choice = gr.Dropdown([], label="Evidence item", elem_id="evidence-choice")
                analyse_btn = gr.Button("Analyse", variant="primary", elem_id="analyse-btn")
                verdict = _text("verdict-view", "Tool verdict", lines=5)
            with gr.Column(scale=2):
                image = gr.Image(label="Image: click inside a box to zoom (box colour by score: green low, amber, "
                                       "red high; dashed blue: an analyst's box)", type="pil", format="jpeg",
                                 interactive=False, elem_id="image-view")
                regions = gr.Dataframe(headers=REGION_COLUMNS, datatype=["number", "str", "number", "str", "str"],
                                       interactive=False, label="Regions (click a row to zoom)",
                                       elem_id="regions-table")
        # "hidden": in the page but not shown, so opening it needs no mounting.
        with gr.Column(visible=False, elem_id="zoom-panel") as zoom_panel:
            with gr.Row():
                zoom_crop = gr.Image(label="Zoomed region", type="pil", format="png", interactive=False,
                                     elem_id="zoom-crop")
                zoom_maps = gr.Gallery(label="Signal maps of the crop", columns=3, format="jpeg",
                                       elem_id="zoom-maps")
            region_text = _text("region-explanation", "Explanation and evidence", lines=6)
            with gr.Row():
                question = gr.Textbox(label="Ask about this region", elem_id="question-box", scale=3)
                ask_btn = gr.Button("Ask", elem_id="ask-btn", scale=1)
            answer = _text("answer-view", "Answer", lines=3)
            with gr.Row():
                decision = gr.Radio(DECISION_CHOICES, label="Analyst decision", elem_id="override-choice")
                decision_note = gr.Textbox(label="Note", elem_id="override-note")
                override_btn = gr.Button("Save decision", elem_id="override-btn")
        with gr.Accordion("Edit boxes (move, resize, add, delete), then re-run stage 2", open=True):
            editor = image_annotator(label="Box editor", image_type="pil", sources=[], disable_edit_boxes=True,
                                     show_clear_button=False, show_remove_button=True, elem_id="box-editor")
            with gr.Row():
                save_boxes_btn = gr.Button("Save boxes", elem_id="save-boxes-btn")
                rerun_btn = gr.Button("Re-run stage 2 on these boxes", elem_id="rerun-btn")
            compare = gr.Dataframe(headers=COMPARE_COLUMNS, interactive=False, label="Before and after",
                                   elem_id="compare-view")
        with gr.Row():
            with gr.Column():
                provenance = _text("provenance-panel", "Provenance (Content Credentials, metadata, watermark)",
                                   lines=6)
                with gr.Accordion("Raw provenance details", open=False):
                    provenance_raw = gr.Code(language="json", interactive=False, elem_id="provenance-raw")
            with gr.Column():
                final_verdict = gr.Radio(VERDICTS, label="Final verdict (analyst)", elem_id="final-verdict")
                final_note = gr.Textbox(label="Final note", lines=3, elem_id="final-note")
                save_verdict_btn = gr.Button("Save verdict", elem_id="save-verdict-btn")
        with gr.Row():
            export_pdf_btn = gr.Button("Export PDF report", elem_id="export-pdf-btn")
            pdf_file = gr.File(label="PDF report", interactive=False, elem_id="pdf-file")
            bundle_export_btn = gr.Button("Export case bundle", elem_id="bundle-export-btn")
            bundle_file = gr.File(label="Case bundle", interactive=False, elem_id="bundle-file")
            bundle_import = gr.File(label="Import a case bundle (.zip)", elem_id="bundle-import")
        with gr.Column():
            with gr.Row():
                case_search = gr.Textbox(label="Find a case (title, file name, SHA-256 prefix, id)",
                                         elem_id="case-search", scale=3)
                open_case_btn = gr.Button("Open case", elem_id="open-case-btn", scale=1)
            case_list = gr.Dataframe(headers=CASE_COLUMNS, interactive=False, label="Cases (click one to open)",
                                     datatype=["number"] + ["str"] * (len(CASE_COLUMNS) - 1), elem_id="case-list")

        outputs = [state, status, file_info, evidence_choice, image, regions, verdict, provenance, provenance_raw,
                   editor, zoom_panel, zoom_crop, zoom_maps, region_text, answer, compare, final_verdict, final_note,
                   case_list, pdf_file, bundle_file]
        assert len(outputs) == len(Screen._fields)
        offered = backends.available()

        # Fill in the remembered name only: never overwrite one being typed.
        demo.load(lambda saved, typed: gr.skip() if typed or not saved else saved, [remembered, analyst], analyst,
                  queue=False)
        demo.load(handlers.search, case_search, outputs)
        analyst.change(lambda name: (name or "").strip(), analyst, remembered, queue=False)
        upload.upload(handlers.upload, [upload, analyst, state, add_to_case], outputs)
        evidence_choice.input(handlers.choose_evidence, [evidence_choice, state], outputs)
        wire_detector_work([analyse_btn.click], backend, offered, handlers.analyse,
                           [evidence_choice, backend, analyst, state], outputs)
        # A box click reads the store and a crop only: it skips the queue so
        # the zoom opens at once even while an analysis runs.
        # The signal maps follow once the panel is open.
        image.select(handlers.click_image, state, outputs, queue=False).then(
            handlers.show_maps, state, outputs, queue=False)
        regions.select(handlers.pick_region, state, outputs, queue=False).then(
            handlers.show_maps, state, outputs, queue=False)
        wire_detector_work([ask_btn.click, question.submit], backend, offered, handlers.ask,
                           [question, backend, analyst, state], outputs)
        override_btn.click(handlers.override, [decision, decision_note, analyst, state], outputs)
        save_boxes_btn.click(handlers.save_boxes, [editor, analyst, state], outputs)
        wire_detector_work([rerun_btn.click], backend, offered, handlers.rerun, [backend, analyst, state], outputs)
        save_verdict_btn.click(handlers.save_verdict, [final_verdict, final_note, analyst, state], outputs)
        export_pdf_btn.click(handlers.export_pdf, [analyst, state], outputs)
        bundle_export_btn.click(handlers.export_bundle, [analyst, state], outputs)
        bundle_import.upload(handlers.import_bundle, [bundle_import, analyst, state], outputs)
        case_search.submit(handlers.search, case_search, outputs)
        case_search.change(handlers.search, case_search, outputs, trigger_mode="always_last")
        case_list.select(handlers.pick_case, state, outputs)
        open_case_btn.click(handlers.open_case, [case_search, state], outputs)
    demo.queue(default_concurrency_limit=OTHER_CONCURRENCY)
    return demo
