"""The workbench page's handlers called directly (no browser), against a real
SQLite case store in a temporary folder, plus the app's launch checks."""

from __future__ import annotations

import inspect
from pathlib import Path
from dataclasses import replace

import gradio as gr
import pytest
from click.testing import CliRunner
from PIL import Image

from models.evidence.engine import EvidenceEngine
from models.glossary import ranking_score_words
from models.overlay import ANALYST_COLOUR, score_colour
from models.sample_images import camera_like_photo, encode, paste_resampled_patch
from models.types import Analysis, Box, Region
from storage import BackendInfo
from zoomin_ui.service import open_store
from zoomin_ui.web import launch, security
from zoomin_ui.web.detectors import BackendConfig, Detectors
from zoomin_ui.web.handlers import Handlers
from zoomin_ui.web.layout import build_app
from zoomin_ui.web.regions import numbered_regions
from zoomin_ui.web.screen import CASES, FILES, PAGE, REGION, REGION_HIGHLIGHT, REGION_ZOOM, ViewState, page_event
from zoomin_ui.web.zoom import zoom_region

XSS = "<img src=x onerror=alert(1)>"
CONTRACT_IDS = {
    "analyst-name", "upload", "file-info", "backend-choice", "analyse-btn", "image-view", "regions-table",
    "zoom-panel", "zoom-crop", "zoom-maps", "region-explanation", "question-box", "ask-btn", "answer-view",
    "override-choice", "override-note", "override-btn", "box-editor", "save-boxes-btn", "rerun-btn",
    "compare-view", "final-verdict", "final-note", "save-verdict-btn", "export-pdf-btn", "pdf-file",
    "bundle-export-btn", "bundle-file", "bundle-import", "case-search", "case-list", "open-case-btn",
    "provenance-panel", "status-message", "verdict-view"}


@pytest.fixture(scope="module")
def detectors():
    shared = Detectors(BackendConfig.from_env(env={}))
    shared._made["evidence"] = EvidenceEngine()  # one engine for the module: its per-image cache is shared
    return shared


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def handlers(home, detectors):
    with open_store(str(home)) as store:
        yield Handlers(store, detectors)


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "composite.png"
    path.write_bytes(encode(paste_resampled_patch(camera_like_photo(768, 1024, seed=7), Box(560, 180, 816, 436)),
                            "PNG"))
    return path


class Drawn(dict):
    """The outputs an event drew, by name (screen.PAGE), as the browser receives them."""

    __getattr__ = dict.__getitem__


def event(handlers, handler, *args, parts=PAGE, maps=True, **kwargs):
    """Call `handler` as the page does (page_event): the drawn outputs, or a list of them for a generator."""
    result = page_event(handlers.store, handler, parts, maps=maps)(*args, **kwargs)

    def named(values):
        return Drawn(zip(parts, values if len(parts) > 1 else [values]))

    return [named(values) for values in result] if inspect.isgenerator(result) else named(result)


def rows(value):
    """A regions table value (a pandas Styler or plain rows) as lists of cells."""
    data = getattr(value, "data", value)
    return data.values.tolist() if hasattr(data, "values") else list(data)


def analysed(handlers, photo):
    uploaded = event(handlers, handlers.upload, [str(photo)], "alice", ViewState())
    *_, done = event(handlers, handlers.analyse, None, "evidence", "alice", uploaded.state,
                     progress=lambda value, desc=None: None)
    return done


def scale_of(handlers, state):
    return handlers._scale(state)


def click(handlers, state, x, y):
    """A click at image pixel (x, y), as gr.Image.select reports it (display pixels)."""
    scale = scale_of(handlers, state)
    return gr.SelectData(None, {"index": [x * scale, y * scale], "value": None})


def row(values):
    return gr.SelectData(None, {"index": [0, 0], "value": values[0], "row_value": values})


def boxes(handlers, state):
    return [(n.record.id, n.record.box) for n in numbered_regions(handlers.store.get_analysis(state.analysis_id))]


def test_upload_shows_hash_size_and_format_at_once(handlers, photo, tmp_path):
    second = tmp_path / "small.jpg"
    second.write_bytes(encode(camera_like_photo(300, 400, seed=1), "JPEG"))
    shown = event(handlers, handlers.upload, [str(photo), str(second)], "alice", ViewState())
    assert shown.status.startswith("2 evidence item(s) taken in as case 1")
    assert "composite.png: PNG, 1024x768" in shown.file_info and "small.jpg: JPEG, 400x300" in shown.file_info
    assert shown.file_info.count("SHA-256 ") == 2
    assert [value for _, value in shown.evidence_choice["choices"]] == [1, 2]
    assert shown.state.case_id == 1 and shown.image is not None and shown.upload is None
    assert [caption for _, caption in shown.evidence_strip] == ["composite.png: not analysed",
                                                                "small.jpg: not analysed"]
    switched = event(handlers, handlers.choose_evidence, 2, shown.state)
    assert switched.state.evidence_file_id == 2 and Image.open(switched.image).size == (400, 300)


def test_an_upload_before_the_name_waits_for_it(handlers, photo):
    waiting = event(handlers, handlers.upload, [str(photo)], "  ", ViewState())
    assert "Enter your name" in waiting.status and waiting.upload == [str(photo)]
    assert "Waiting for your name: composite.png" in waiting.file_info
    assert handlers.store.list_cases().total == 0
    taken = event(handlers, handlers.name_given, "alice", waiting.state)
    assert taken.state.case_id == 1 and taken.upload is None and taken.state.waiting_upload == ()
    assert all(value == gr.skip() for value in event(handlers, handlers.name_given, "alice", taken.state).values())


def test_uploads_can_join_the_open_case_and_a_known_file_is_named(handlers, photo, tmp_path):
    later = tmp_path / "later.jpg"
    later.write_bytes(encode(camera_like_photo(300, 400, seed=2), "JPEG"))
    refused = event(handlers, handlers.upload, [str(later)], "alice", ViewState(), True)
    assert refused.status.startswith("Error: no case is open") and handlers.store.list_cases().total == 0
    opened = event(handlers, handlers.upload, [str(photo)], "alice", ViewState())
    joined = event(handlers, handlers.upload, [str(later)], "bob", opened.state, True)
    assert joined.status.startswith("1 evidence item(s) added to case 1")
    assert joined.state.case_id == 1 and joined.state.evidence_file_id == 2, "the new file is the one shown"
    assert [f.original_name for f in handlers.store.get_case(1).evidence_files] == ["composite.png", "later.jpg"]
    separate = event(handlers, handlers.upload, [str(photo)], "bob", joined.state, False)
    assert separate.state.case_id == 2 and handlers.store.list_cases().total == 2
    assert separate.notice["value"].startswith("composite.png: also in case 1 (composite.png)"), separate.notice
    assert separate.notice["visible"] is True and opened.notice["visible"] is False


def test_errors_are_one_readable_line_and_the_page_is_drawn_from_the_old_state(handlers, photo, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("just words")
    opened = event(handlers, handlers.upload, [str(photo)], "alice", ViewState())
    failed = event(handlers, handlers.upload, [str(text)], "alice", opened.state)
    assert failed.status.startswith("Error: ") and "Traceback" not in failed.status
    assert failed.state == replace(opened.state, status=failed.status)
    assert {k: v for k, v in failed.items() if k not in ("state", "status", "image", "evidence_strip")} == {
        k: v for k, v in opened.items() if k not in ("state", "status", "image", "evidence_strip")}
    assert handlers.store.list_cases().total == 1
    assert event(handlers, handlers.rerun, "evidence", "alice", None, ViewState()).status == \
        "Error: analyse the image first"


def test_analysis_shows_the_scan_boxes_before_the_verdict_with_one_progress(handlers, photo):
    uploaded = event(handlers, handlers.upload, [str(photo)], "alice", ViewState())
    steps = []
    drawn = event(handlers, handlers.analyse, None, "evidence", "alice", uploaded.state,
                  progress=lambda value, desc=None: steps.append((value, desc)))
    started, scanned, final = drawn[0], drawn[-2], drawn[-1]
    assert [d.split(":")[0] for _, d in steps[:3]] == ["decoding the image", "stage 1", "stage 2"]
    assert [v for v, _ in steps] == sorted(v for v, _ in steps), "the one bar only moves forward"
    assert sum("examined" in d for _, d in steps) == len(rows(final.regions)), "one progress step per region"
    assert started.analyse_btn["interactive"] is False and started.image is not None, "the image stays visible"
    assert started.verdict_word["value"] == "Analysing…"
    assert all(r[3] == "examining…" for r in rows(scanned.regions)) and scanned.image is not None
    assert final.analyse_btn["interactive"] is True and final.verdict.startswith("Verdict: ")
    assert final.verdict_word["value"] in ("AI-generated", "Likely real", "Can't tell")
    # The folded detail's number is named, as the CLI names it: a bare "score" beside the card's one
    # figure (pixel-pattern AI likeness) read as a second, contradicting figure.
    recorded = handlers.store.get_analysis(final.state.analysis_id)
    assert ranking_score_words(recorded.score) in final.verdict and "(score " not in final.verdict
    assert final.verdict_headline and rows(final.regions)[0][3] == "undecided"
    assert final.state.analysis_id and final.editor is None, "the folded editor is not drawn"
    opened = event(handlers, handlers.open_editor, final.state)
    assert opened.editor["boxes"][0]["label"] == "1" and opened.editor_fold["open"] is True
    first = handlers.store.get_analysis(final.state.analysis_id).current_regions()[0]
    assert opened.editor["boxes"][0]["color"] == score_colour(first.score), "the editor's colours are the viewer's"


def test_analyse_all_runs_every_item_not_yet_analysed(handlers, photo, tmp_path):
    second = tmp_path / "second.jpg"
    second.write_bytes(encode(camera_like_photo(300, 400, seed=5), "JPEG"))
    uploaded = event(handlers, handlers.upload, [str(photo), str(second)], "alice", ViewState())
    steps = []
    drawn = event(handlers, handlers.analyse_all, "evidence", "alice", uploaded.state,
                  progress=lambda value, desc=None: steps.append((value, desc)))
    assert drawn[-1].status == "Analysed 2 of 2 evidence item(s) of case 1"
    assert [d for _, d in steps] == ["item 1 of 2: both stages", "item 2 of 2: both stages", "done"]
    assert drawn[0].analyse_btn["interactive"] is False and drawn[-1].analyse_btn["interactive"] is True
    assert all(not caption.endswith("not analysed") for _, caption in drawn[-1].evidence_strip)
    shown = event(handlers, handlers.pick_evidence, drawn[-1].state, gr.SelectData(None, {"index": 0, "value": None}))
    assert shown.state.evidence_file_id == 1 and shown.state.analysis_id is not None, "a thumbnail shows its item"
    again = event(handlers, handlers.analyse_all, "evidence", "alice", drawn[-1].state,
                  progress=lambda value, desc=None: None)
    assert again[-1].status == "Every evidence item of this case is analysed already"
    assert len(handlers.store.get_case(1).analyses) == 2


def test_the_region_table_is_sorted_by_score_and_marks_the_chosen_row(handlers, photo):
    done = analysed(handlers, photo)
    handlers.store.add_region(done.state.analysis_id, "alice", Box(10, 10, 60, 60), label="analyst box")
    state = event(handlers, handlers.open_case, "", done.state).state
    table = event(handlers, handlers.open_case, "", done.state).regions
    scores = [r[2] for r in rows(table)]
    assert scores == sorted(scores, reverse=True) and rows(table)[-1][4] == "analyst"
    chosen = event(handlers, handlers.pick_region, state, row(rows(table)[0]), parts=REGION, maps=False)
    styling = gr.Dataframe(headers=list(table.data.columns)).postprocess(chosen.regions).metadata["styling"]
    assert all(styling[0]) and not any(styling[-1]), "the chosen row, and only it, is highlighted"


def test_a_click_inside_a_box_opens_the_zoom_panel_smallest_box_winning(handlers, photo):
    done = analysed(handlers, photo)
    region_id, box = boxes(handlers, done.state)[0]
    handlers.store.add_region(done.state.analysis_id, "alice", Box(box.x1 + 10, box.y1 + 10, box.x1 + 60, box.y1 + 60))
    state = event(handlers, handlers.open_case, "", done.state).state
    nested_id = boxes(handlers, state)[-1][0]
    zoomed = event(handlers, handlers.click_image, state, click(handlers, state, box.x1 + 30, box.y1 + 30),
                   parts=REGION_ZOOM, maps=False)
    assert zoomed.zoom_panel["visible"] is True and zoomed.state.region_id == nested_id
    assert zoomed.zoom_maps == [] and zoomed.tabs["selected"] == "review"  # the panel opens first
    shown = Image.open(zoomed.zoom_crop)
    expected = zoom_region(handlers.store, state.analysis_id, nested_id, with_maps=False).crop
    assert shown.format == "PNG" and max(shown.size) == 512
    assert shown.convert("RGB").tobytes() == expected.tobytes(), "the crop is shown losslessly"
    followed = event(handlers, handlers.show_maps, zoomed.state, parts=REGION_HIGHLIGHT)  # then the rest follows
    assert [caption.split(" ")[0] for _, caption in followed.zoom_maps][:3] == ["error", "noise", "residual"]
    whole = event(handlers, handlers.show_maps, zoomed.state, parts=REGION)  # the two steps draw what one would
    assert followed.regions.set_uuid("t").to_html() == whole.regions.set_uuid("t").to_html()
    assert Image.open(followed.image).tobytes() == Image.open(whole.image).tobytes()
    outer = event(handlers, handlers.click_image, state, click(handlers, state, box.x2 - 5, box.y2 - 5), parts=REGION)
    assert outer.state.region_id == region_id and "Region 1 " in outer.region_text
    missed = event(handlers, handlers.click_image, outer.state, click(handlers, state, 2, 2), parts=REGION)
    assert missed.status.startswith("No box at") and missed.zoom_panel["visible"] == "hidden"


def test_the_decision_form_shows_the_chosen_regions_own_decision(handlers, photo, tmp_path):
    """Failure 1: a decision never carries over to another region or case."""
    done = analysed(handlers, photo)
    first = rows(done.regions)[0]
    zoomed = event(handlers, handlers.pick_region, done.state, row(first), parts=REGION)
    assert zoomed.decision is None and zoomed.decision_note == ""
    marked = event(handlers, handlers.override, "not relevant", "pasted patch", "bob", zoomed.state)
    assert marked.decision == "not relevant" and marked.decision_note == "pasted patch"
    again = event(handlers, handlers.pick_region, marked.state, row(first), parts=REGION)
    assert again.decision == "not relevant" and again.decision_note == "pasted patch"
    other = tmp_path / "other.png"
    other.write_bytes(encode(paste_resampled_patch(camera_like_photo(600, 800, seed=3), Box(100, 100, 300, 300)),
                             "PNG"))
    second = analysed(handlers, other)
    assert second.decision is None and second.decision_note == "" and second.zoom_panel["visible"] == "hidden"
    chosen = event(handlers, handlers.pick_region, second.state, row(rows(second.regions)[0]), parts=REGION)
    assert chosen.decision is None and chosen.decision_note == ""


def test_a_question_is_answered_in_the_panel_and_saved(handlers, photo):
    done = analysed(handlers, photo)
    zoomed = event(handlers, handlers.pick_region, done.state, row(rows(done.regions)[0]), parts=REGION)
    answered = event(handlers, handlers.ask, "what stands out here?", "evidence", "alice", zoomed.state, parts=REGION)
    assert answered.answer.startswith("Q: what stands out here?") and answered.question == ""
    assert "Q (alice): what stands out here?" in answered.region_text
    questions = [q for r in handlers.store.get_analysis(done.state.analysis_id).regions for q in r.questions]
    assert [(q.question, q.asked_by) for q in questions] == [("what stands out here?", "alice")]


def test_an_override_updates_the_table_and_the_audit_log(handlers, photo):
    done = analysed(handlers, photo)
    zoomed = event(handlers, handlers.pick_region, done.state, row(rows(done.regions)[0]), parts=REGION)
    marked = event(handlers, handlers.override, "authentic", "a real reflection", "bob", zoomed.state)
    assert rows(marked.regions)[0][3] == "authentic" and marked.zoom_panel["visible"] is True
    assert rows(marked.regions)[0][4] == "model", "deciding on a tool box keeps who drew it"
    assert "Analyst decision: authentic: a real reflection" in marked.region_text
    history = handlers.store.get_case(done.state.case_id).history
    assert ("bob", "region-edited") in [(e.actor, e.action) for e in history]
    assert event(handlers, handlers.override, None, "", "bob", marked.state).status.startswith("Error: choose")


def test_rerun_examines_the_boxes_the_editor_shows(handlers, photo):
    """Failure 5: a box drawn in the editor is saved and examined by the re-run, unsaved."""
    done = analysed(handlers, photo)
    opened = event(handlers, handlers.open_editor, done.state)
    value = dict(opened.editor)
    value["boxes"] = [*opened.editor["boxes"], {"xmin": 20, "ymin": 60, "xmax": 220, "ymax": 220, "label": ""}]
    rerun = event(handlers, handlers.rerun, "evidence", "carol", value, opened.state,
                  progress=lambda value, desc=None: None)
    before, after = rerun.compare[0][1:]
    assert rerun.state.analysis_id == after != before == done.state.analysis_id
    assert rerun.compare[3] == ["boxes examined", len(rows(done.regions)) + 1, len(rows(done.regions)) + 1]
    assert "analyst" in [r[4] for r in rows(rerun.regions)], "the analyst's box stays the analyst's"
    rotated = event(handlers, handlers.save_boxes, {**value, "orientation": 1}, "carol", rerun.state)
    assert rotated.status.startswith("Error: the box editor's picture is rotated")


def test_the_card_unfolds_why_what_would_settle_it_and_the_recovered_recipe(handlers, tmp_path):
    """Issue 11 items 1 and 4 on the page: basis, limits, key evidence and the recipe, long prompt folded."""
    from PIL import PngImagePlugin

    prompt = "a lighthouse at dusk, " * 30
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", f"{prompt}\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, "
                                "Size: 512x512, Model: v1-5-pruned-emaonly")
    path = tmp_path / "generated.png"
    path.write_bytes(encode(camera_like_photo(512, 512, seed=2), "PNG", pnginfo=info))
    before = event(handlers, handlers.upload, [str(path)], "alice", ViewState())
    assert before.verdict_why.startswith("Nothing to explain yet")
    *_, done = event(handlers, handlers.analyse, None, "evidence", "alice", before.state,
                     progress=lambda value, desc=None: None)
    reading = handlers.store.get_analysis(done.state.analysis_id).reading
    text = done.verdict_why
    assert done.verdict_word["value"] == "AI-generated"
    assert f"Why: {reading.basis}" in text and f"What it cannot tell: {reading.limits}" in text
    assert "Generation recipe recovered from the file:" in text and "Seed: 1234" in text
    shown = next(line for line in text.splitlines() if line.startswith("Prompt: "))
    assert shown.endswith("…") and len(shown) < 220, "a long prompt is folded on the page"


def test_the_editor_keeps_a_band_above_the_picture_for_the_numbers_of_top_edge_boxes(handlers, photo):
    """Failure 10 in the editor: it draws a box's number above the box, so the picture
    gets a blank band on top; saving the editor untouched changes nothing."""
    from zoomin_ui.web.regions import editor_margin

    done = analysed(handlers, photo)
    opened = event(handlers, handlers.open_editor, done.state)
    value = opened.editor
    shown = Image.open(done.image)
    band = editor_margin(shown.width)
    assert value["image"].size == (shown.width, shown.height + band) and band >= 32
    assert all(box["ymin"] >= band for box in value["boxes"]), "every number has room above its box"
    saved = event(handlers, handlers.save_boxes, dict(value), "carol", opened.state)
    assert "no box changed" in saved.status


def test_the_page_image_is_drawn_once_per_picture_and_boxes(handlers, photo):
    """The image with its boxes is handed to Gradio as a JPEG file, made once for each
    picture and set of boxes: a redraw of the same state hands the same file (Gradio
    would encode a picture again on every draw), another choice of box a new one,
    which shows that box highlighted."""
    import numpy as np

    from models.overlay import draw_boxes
    from zoomin_ui import workbench
    from zoomin_ui.web import pictures, rendering

    done = analysed(handlers, photo)
    again = event(handlers, handlers.show_maps, done.state)
    assert done.image == again.image and Image.open(done.image).format == "JPEG"
    thumb = Image.open(done.evidence_strip[0][0])
    assert thumb.format == "JPEG" and max(thumb.size) == pictures.THUMB_SIDE
    region_id, box = boxes(handlers, done.state)[0]
    chosen = event(handlers, handlers.click_image, done.state,
                   click(handlers, done.state, (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2), parts=REGION)
    assert chosen.state.region_id == region_id and chosen.image != done.image
    base, scale = pictures.display_base(workbench.evidence_image(handlers.store, done.state.evidence_file_id))
    regions = numbered_regions(handlers.store.get_analysis(done.state.analysis_id))
    for path, chosen_id in ((done.image, None), (chosen.image, region_id)):
        expected = np.asarray(draw_boxes(base, rendering.region_boxes(scale, regions, chosen_id)), dtype=float)
        shown = np.asarray(Image.open(path).convert("RGB"), dtype=float)
        assert shown.shape == expected.shape and np.abs(shown - expected).mean() < 3, "only JPEG's own loss"
    assert np.abs(np.asarray(Image.open(done.image), dtype=float)
                  - np.asarray(Image.open(chosen.image), dtype=float)).max() > 100, "the highlight is drawn"


def test_the_page_pictures_keep_the_last_few_and_remake_a_removed_file(tmp_path):
    """One keep-the-last-N cache serves the screen copies, the boxed images and the
    thumbnails: a kept value is handed out again without making it, the oldest goes once
    more are made, and a file removed meanwhile (the served folder keeps only the newest)
    is made again rather than handed out dead."""
    from zoomin_ui.web.pictures import _file_exists, _Recent

    made = []

    def maker(name):
        def make():
            path = tmp_path / f"{name}-{len(made)}.jpg"
            path.write_bytes(b"x")
            made.append(name)
            return str(path)
        return make

    recent = _Recent(2, _file_exists)
    first = recent.get("a", maker("a"))
    assert recent.get("a", maker("a")) == first and made == ["a"]
    recent.get("b", maker("b"))
    recent.get("a", maker("a"))  # "a" is now the newest, so "c" pushes out "b"
    recent.get("c", maker("c"))
    recent.get("a", maker("a"))
    recent.get("b", maker("b"))
    assert made == ["a", "b", "c", "b"]
    Path(recent.get("b", maker("b"))).unlink()
    again = recent.get("b", maker("b"))
    assert made[-1] == "b" and len(made) == 5 and Path(again).exists()


def test_a_tool_box_the_analyst_moved_is_drawn_in_the_analyst_style(handlers, photo):
    """Failure 10: a moved box keeps the analyst's style (as the legend and the report say),
    while the table still says the tool drew it."""
    done = analysed(handlers, photo)
    opened = event(handlers, handlers.open_editor, done.state)
    value = dict(opened.editor)
    first = dict(value["boxes"][0])
    assert first["color"] != ANALYST_COLOUR
    first.update(xmin=first["xmin"] + 12, xmax=first["xmax"] + 12)
    value["boxes"] = [first, *value["boxes"][1:]]
    saved = event(handlers, handlers.save_boxes, value, "carol", opened.state)
    assert "moved" in saved.status
    reopened = event(handlers, handlers.open_editor, saved.state)
    moved = next(b for b in reopened.editor["boxes"] if b["label"] == first["label"])
    assert moved["color"] == ANALYST_COLOUR
    assert [r[4] for r in rows(reopened.regions) if r[0] == int(first["label"])] == ["model, moved by carol"]


def test_final_verdict_pdf_and_bundle_and_switching_cases_clears_them(handlers, photo, home, tmp_path):
    done = analysed(handlers, photo)
    saved = event(handlers, handlers.save_verdict, "ai-generated", "upscaled patch", "dana", done.state)
    assert "final verdict ai-generated" in saved.status and saved.case_list[0][2] == "ai-generated"
    pdf = event(handlers, handlers.export_pdf, "dana", saved.state, parts=FILES)
    assert pdf.pdf_file.endswith(".pdf") and pdf.pdf_file.startswith(str(home))
    bundle = event(handlers, handlers.export_bundle, "dana", pdf.state, parts=FILES)
    assert bundle.bundle_file.endswith(".zip") and bundle.bundle_file.startswith(str(home))
    assert "already here" in event(handlers, handlers.import_bundle, bundle.bundle_file, "dana",
                                   bundle.state).status
    other = tmp_path / "other.jpg"
    other.write_bytes(encode(camera_like_photo(300, 400, seed=4), "JPEG"))
    second = event(handlers, handlers.upload, [str(other)], "dana", bundle.state)
    assert second.pdf_file is None and second.bundle_file is None and second.final_verdict is None
    back = event(handlers, handlers.pick_case, second.state, row([done.state.case_id]))
    assert back.pdf_file is None and back.final_verdict == "ai-generated" and back.final_note == "upscaled patch"


def test_a_case_is_found_again_after_a_restart_and_renamed(home, detectors, photo):
    with open_store(str(home)) as store:
        done = analysed(Handlers(store, detectors), photo)
    with open_store(str(home)) as reopened:
        again = Handlers(reopened, detectors)
        listed = event(again, again.search, "composite", ViewState(), parts=CASES).case_list
        assert [r[0] for r in listed] == [done.state.case_id]
        sha = reopened.get_case(done.state.case_id).evidence_files[0].sha256
        assert listed[0][-1] == sha[:12], "the hash prefix is shown, not only searchable"
        found = event(again, again.search, sha[:10], ViewState(), parts=CASES).case_list
        assert [r[0] for r in found] == [done.state.case_id]
        opened = event(again, again.pick_case, ViewState(), row(listed[0]))
        assert opened.state.analysis_id == done.state.analysis_id and rows(opened.regions) == rows(done.regions)
        assert "composite.png: PNG, 1024x768" in opened.file_info
        renamed = event(again, again.rename_case, "Harbour fire", "erin", opened.state)
        assert renamed.case_title["value"] == "Harbour fire" and "renamed" in renamed.status
        assert [r[1] for r in renamed.case_list] == ["Harbour fire"]


def test_model_and_analyst_text_is_shown_as_text_not_html(handlers, photo, home, detectors):
    intake = event(handlers, handlers.upload, [str(photo)], "alice", ViewState())
    store = handlers.store
    run = store.start_analysis(1, 1, BackendInfo("remote"), "alice")
    sha = store.get_evidence_file(1).sha256
    result = Analysis(file="composite.png", sha256=sha, size_bytes=1, format="PNG", width=1024, height=768,
                      verdict="ai-generated", score=0.9, evidence=[], backend="remote", backend_version="1",
                      explanation=XSS, regions=[Region(Box(100, 100, 300, 300), 0.9, XSS, explanation=XSS, id="r1")])
    store.finish_analysis(run.id, result)
    opened = event(handlers, handlers.open_case, "", intake.state)
    assert XSS in rows(opened.regions)[0][1] and XSS in opened.verdict
    zoomed = event(handlers, handlers.pick_region, opened.state, row(rows(opened.regions)[0]), parts=REGION)
    assert zoomed.region_text.count(XSS) == 2  # label and explanation, verbatim
    demo = build_app(home, backends=BackendConfig.from_env(env={}), store=store)
    by_id = {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    for text_id in ("region-explanation", "verdict-view", "verdict-headline", "verdict-word", "seen-before"):
        assert isinstance(by_id[text_id], gr.Textbox), text_id
    assert not {"html", "markdown"} & set(by_id["regions-table"].datatype)
    assert not any(isinstance(b, gr.HTML) for b in demo.blocks.values())
    cells = by_id["regions-table"].postprocess(opened.regions).data
    assert XSS in cells[0][1]


def test_the_page_keeps_the_element_id_contract_and_queues_detector_work(home):
    backends = BackendConfig.from_env(env={"ZOOMIN_REMOTE_BASE_URL": "http://127.0.0.1:9/v1"})
    demo = build_app(home, backends=backends)
    ids = {b.elem_id for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    assert CONTRACT_IDS <= ids
    by_name = {fn.name: fn for fn in demo.fns.values()}
    # Each backend does one request at a time in a queue of its own: a busy model never holds up the engine.
    for backend in ("evidence", "remote"):
        work = [by_name[f"{action}_{backend}"] for action in ("analyse", "ask", "rerun")]
        assert {fn.concurrency_id for fn in work} == {f"detector-{backend}"}
        assert all(fn.concurrency_limit == 1 for fn in work)
    assert by_name["analyse_evidence"].concurrency_id != by_name["analyse_remote"].concurrency_id
    demo.zoomin_store.close()


def test_detector_work_runs_for_the_backend_it_was_queued_for():
    from zoomin_ui.web.queues import _for_backend

    seen = []

    def analyse(evidence, backend, analyst, progress=None):
        seen.append((evidence, backend, analyst, progress))
        yield "stage 1"
        yield "done"

    def ask(question, backend):
        return f"{question} via {backend}"

    streamed = _for_backend(analyse, "remote", 1)
    assert list(streamed(7, "evidence", "ann", progress="bar")) == ["stage 1", "done"]
    assert seen == [(7, "remote", "ann", "bar")]
    assert _for_backend(ask, "vlm", 1)("why?", "evidence") == "why? via vlm"


def test_public_host_without_auth_refuses_to_start(monkeypatch, tmp_path):
    monkeypatch.delenv(security.AUTH_ENV, raising=False)
    result = CliRunner().invoke(launch.serve, ["--host", "0.0.0.0", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0 and "refusing to serve on 0.0.0.0 without a login" in result.output
    assert list(tmp_path.iterdir()) == [] and "Traceback" not in result.output  # nothing was opened
    assert security.is_loopback("127.0.0.1") and security.is_loopback("::1") and security.is_loopback("localhost")
    assert not security.is_loopback("0.0.0.0") and not security.is_loopback("example.org")
    with pytest.raises(security.LaunchRefused):
        security.parse_auth("nopassword")
    assert security.resolve_auth(None, {security.AUTH_ENV: "ann:se:cret"}) == ("ann", "se:cret")


def test_an_unconfigured_default_backend_refuses_to_start(monkeypatch, tmp_path):
    monkeypatch.delenv("ZOOMIN_VLM_MODEL", raising=False)
    result = CliRunner().invoke(launch.serve, ["--backend", "vlm", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0 and "the vlm backend is not configured" in result.output
    assert launch.backend_options("m", "4bit", None, None) == {"vlm": {"model": "m", "quant": "4bit"}}
    assert launch.backend_options("m", None, None, "http://h/v1") == {"remote": {"base_url": "http://h/v1",
                                                                                 "model": "m"}}


def test_launch_is_loopback_with_history_off_and_files_from_the_data_folder(monkeypatch, tmp_path):
    seen = {}

    def fake_launch(self, **kwargs):
        seen.update(kwargs)
        return None, "http://127.0.0.1:7999/", None

    monkeypatch.setattr(gr.Blocks, "launch", fake_launch)
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: None)
    monkeypatch.setenv(security.AUTH_ENV, "ann:secret")
    result = CliRunner().invoke(launch.serve, ["--host", "0.0.0.0", "--port", "7999", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Running on http://127.0.0.1:7999" in result.output
    assert seen["auth"] == ("ann", "secret") and seen["server_name"] == "0.0.0.0"
    # Only the exports are served; the database, the evidence store and the keys are blocked outright.
    assert seen["run_history"] is False and seen["allowed_paths"] == [str(tmp_path / "exports")]
    assert {str(tmp_path / name) for name in ("cases.sqlite3", "objects", "keys")} <= set(seen["blocked_paths"])
    assert seen["max_file_size"] == security.MAX_UPLOAD
