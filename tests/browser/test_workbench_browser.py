"""The analyst's whole path through the workbench in a real browser:
upload, analyse, click a box, ask, override, add a box and re-run, set the
verdict, export the PDF, restart the app and find the case again.  Asserts
on what the page says, never on pixels; a screenshot of every step is kept
under the test's tmp_path/screenshots."""

from __future__ import annotations

import hashlib
import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.harness import photo_with_planted_patch, save_photo
from tests.browser.pages import (
    box_value,
    choose_option,
    click_image_at,
    click_table_cell,
    element_text,
    fill_text,
    image_source,
    open_workbench,
    table_rows,
    upload,
    wait_for_analysis,
    wait_for_box_value,
    wait_for_element_text,
    wait_for_image,
    wait_for_table_rows,
    wait_for_zoom_panel,
    zoom_panel_open,
)

pytestmark = pytest.mark.browser

ANALYST = "Dana Browser"
COLUMNS = {"number": 0, "label": 1, "score": 2, "status": 3, "source": 4}


def _draw_box_in_editor(page, left: float, top: float, right: float, bottom: float) -> None:
    """Drag a new box in the box editor, at fractions of its canvas, and name
    it if the editor asks for a label."""
    editor = page.locator("#box-editor")
    editor.scroll_into_view_if_needed()
    create = editor.get_by_role("button", name="Create box")
    if create.count():
        create.first.click()
    canvas = editor.locator("canvas").first
    frame = canvas.bounding_box()
    assert frame, "the box editor shows no canvas"
    page.mouse.move(frame["x"] + frame["width"] * left, frame["y"] + frame["height"] * top)
    page.mouse.down()
    page.mouse.move(frame["x"] + frame["width"] * right, frame["y"] + frame["height"] * bottom, steps=8)
    page.mouse.up()
    ok = editor.get_by_role("button", name="OK")
    try:
        ok.first.wait_for(state="visible", timeout=2_000)
    except PlaywrightTimeout:  # this editor does not ask for labels
        return
    label = editor.locator("input[type=text], textarea").first
    if label.count():
        label.fill("analyst box")
    ok.first.click()


def test_full_analyst_flow(start_app, browser_page, screenshots, sample_photo):
    page = browser_page.page
    server = start_app()
    photo_sha = hashlib.sha256(sample_photo.path.read_bytes()).hexdigest()

    # 1. Intake: hash, size and format at once.
    open_workbench(page, server.url, ANALYST)
    assert not zoom_panel_open(page), "the zoom panel opens only when a region is chosen"
    upload(page, sample_photo.path)
    info = wait_for_element_text(page, "#file-info", photo_sha[:12])
    assert "JPEG" in info.upper() and f"{sample_photo.width}x{sample_photo.height}" in info
    screenshots.take(page, "uploaded")

    # 2. Analyse: numbered boxes and their table, then the verdict.
    before = image_source(page, "#image-view")
    page.locator("#analyse-btn").click()
    rows = wait_for_table_rows(page, "#regions-table")
    wait_for_image(page, "#image-view", before)
    verdict = wait_for_analysis(page)
    rows = table_rows(page, "#regions-table")
    assert rows and all(row[COLUMNS["label"]] for row in rows), rows
    assert rows[0][COLUMNS["number"]] == "1" and rows[0][COLUMNS["source"]] == "model"
    assert "Not analysed" not in verdict
    screenshots.take(page, "analysed")

    # 3. A click inside the planted patch (which the scan boxes) opens the zoom panel.
    assert not zoom_panel_open(page)
    centre_x = (sample_photo.planted.x1 + sample_photo.planted.x2) / 2
    centre_y = (sample_photo.planted.y1 + sample_photo.planted.y2) / 2
    click_image_at(page, "#image-view", centre_x, centre_y, sample_photo.width, sample_photo.height)
    wait_for_zoom_panel(page)
    page.wait_for_function("() => document.querySelectorAll('#zoom-maps img').length >= 3")
    wait_for_element_text(page, "#region-explanation", rows[0][COLUMNS["label"]])
    assert len(box_value(page, "#region-explanation")) > len(rows[0][COLUMNS["label"]]) + 20
    screenshots.take(page, "zoomed")

    # 4. Reprompt: the backend answers about this region; the answer is kept with it,
    # so choosing the region again (by its table row this time) shows question and answer.
    question = "Is the texture in this box smoother than the rest of the photo?"
    fill_text(page, "#question-box", question)
    page.locator("#ask-btn").click()
    answer = wait_for_box_value(page, "#answer-view")
    assert "Error" not in element_text(page, "#status-message")
    screenshots.take(page, "answered")
    click_table_cell(page, "#regions-table", 0, 1)
    kept = wait_for_element_text(page, "#answer-view", question)
    assert answer.strip() in kept, (answer, kept)

    # 5. Override the region: the decision shows as its status in the table.
    status_before = table_rows(page, "#regions-table")[0][COLUMNS["status"]]
    choose_option(page, "#override-choice", "AI artefact")
    fill_text(page, "#override-note", "seam visible at 2x zoom")
    page.locator("#override-btn").click()
    page.wait_for_function(
        """previous => { const cell = document.querySelector('#regions-table [data-testid="cell-0-3"]');
                         return !!cell && cell.innerText.trim() !== '' && cell.innerText.trim() !== previous; }""",
        arg=status_before)
    assert "Error" not in element_text(page, "#status-message")
    screenshots.take(page, "overridden")

    # 6. Add a box in the editor (top-left, away from the planted patch), save, re-run stage 2.
    model_rows = table_rows(page, "#regions-table")
    _draw_box_in_editor(page, 0.08, 0.1, 0.3, 0.35)
    page.locator("#save-boxes-btn").click()
    with_added = wait_for_table_rows(page, "#regions-table", minimum=len(model_rows) + 1)
    assert [row[:3] for row in with_added[:len(model_rows)]] == [row[:3] for row in model_rows]  # kept on record
    assert "analyst" in with_added[-1][COLUMNS["source"]], with_added
    screenshots.take(page, "box-added")
    page.locator("#rerun-btn").click()
    wait_for_element_text(page, "#compare-view", "boxes examined", timeout=60_000)
    compare = {row[0]: row[1:] for row in table_rows(page, "#compare-view")}
    before_id, after_id = compare["analysis"]
    assert before_id != after_id, compare  # a new analysis beside the old one
    assert compare["boxes examined"][1] == str(len(with_added)), compare  # exactly the corrected boxes
    screenshots.take(page, "rerun")

    # 7. The case's final verdict, then the PDF report as a real download.
    choose_option(page, "#final-verdict", "ai-generated")
    final_note = "composited: upscaled patch, confirmed by the analyst"
    fill_text(page, "#final-note", final_note)
    page.locator("#save-verdict-btn").click()
    wait_for_element_text(page, "#status-message", "ai-generated")
    page.locator("#export-pdf-btn").click()
    link = page.locator("#pdf-file a[href]").first
    link.wait_for(state="visible", timeout=60_000)
    with page.expect_download() as download_info:
        link.click()
    pdf = download_info.value
    assert pdf.suggested_filename.lower().endswith(".pdf")
    with open(pdf.path(), "rb") as handle:
        assert handle.read(5) == b"%PDF-"
    screenshots.take(page, "pdf-exported")

    # 8. Restart the app on the same data folder: the case is found and reopens as it was.
    server.restart()
    open_workbench(page, server.url, ANALYST)
    fill_text(page, "#case-search", sample_photo.path.name)
    page.keyboard.press("Enter")
    cases = wait_for_table_rows(page, "#case-list")
    matching = [index for index, row in enumerate(cases) if sample_photo.path.name in " ".join(row)]
    assert matching, cases
    assert "ai-generated" in " ".join(cases[matching[0]])
    click_table_cell(page, "#case-list", matching[0], 1)
    if page.locator("#open-case-btn").count():
        page.locator("#open-case-btn").click()
    wait_for_analysis(page)
    reopened = wait_for_table_rows(page, "#regions-table")
    assert len(reopened) == len(with_added), reopened  # the latest analysis: the re-run on the corrected boxes
    assert f"analysis {after_id}" in element_text(page, "#verdict-view")
    assert photo_sha[:12] in element_text(page, "#file-info")
    assert box_value(page, "#final-note") == final_note
    screenshots.take(page, "reopened-after-restart")
    assert browser_page.dialogs == []


def test_second_analysis_waits_with_its_queue_position(start_app, browser_page, chromium_browser, tmp_path):
    """Analyses share one detector slot: while one runs, a second analyst's
    waits and their page says where it stands in the queue."""
    server = start_app()
    rgb, planted = photo_with_planted_patch(4000, 3000, seed=5)  # 12 MP: an analysis lasts a second or more
    photos = [save_photo(rgb, planted, tmp_path / "first.jpg")]
    rgb[:8, :8] = 255 - rgb[:8, :8]  # another file for the second analyst
    photos.append(save_photo(rgb, planted, tmp_path / "second.jpg"))
    second_context = chromium_browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        pages = [browser_page.page, second_context.new_page()]
        for page, photo, analyst in zip(pages, photos, ("First Analyst", "Second Analyst")):
            open_workbench(page, server.url, analyst)
            upload(page, photo.path)
            wait_for_element_text(page, "#file-info", photo.path.name)
        # Both press Analyse at once: whichever the server takes second must wait
        # and say so (watched from here, since on an idle machine the wait is short).
        for page in pages:
            page.locator("#analyse-btn").dispatch_event("click")
        saw_queue = False
        deadline = time.monotonic() + 20
        while not saw_queue and time.monotonic() < deadline:
            saw_queue = any(page.evaluate("() => /queue: \\d+\\/\\d+/.test(document.body.innerText)")
                            for page in pages)
        assert saw_queue, "neither page showed its place in the queue"
        for page in pages:
            wait_for_analysis(page)
            assert wait_for_table_rows(page, "#regions-table")
    finally:
        second_context.close()
