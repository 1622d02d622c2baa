"""The analyst's whole path through the workbench in a real browser at
1366x768: upload, analyse (the verdict card above the fold), click a box
(the zoom beside the image, no scrolling), ask, decide, add a box and re-run,
set the verdict, export the PDF, restart the app and find the case again;
then the verdict card, the zoom and the table at a 390 px phone width.
Asserts on what the page says; a screenshot of every step is kept under the
test's tmp_path/screenshots."""

from __future__ import annotations

import hashlib
import time

import pytest
from tests.browser.conftest import PHONE
from tests.browser.harness import photo_with_planted_patch, save_photo
from tests.browser.pages import (
    box_value,
    choose_option,
    choose_tab,
    click_image_at,
    click_table_cell,
    draw_box_in_editor,
    element_text,
    fill_text,
    image_source,
    open_workbench,
    search_cases,
    table_rows,
    technical_detail,
    upload,
    wait_for_analysis,
    wait_for_box_value,
    wait_for_element_text,
    wait_for_image,
    wait_for_region_rows,
    wait_for_table_rows,
    wait_for_zoom_panel,
    zoom_panel_open,
)

pytestmark = pytest.mark.browser

ANALYST = "Dana Browser"
COLUMNS = {"number": 0, "label": 1, "score": 2, "status": 3, "source": 4}


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
    rows = wait_for_region_rows(page)
    wait_for_image(page, "#image-view", before)
    wait_for_analysis(page)
    rows = table_rows(page, "#regions-table")
    assert rows and all(row[COLUMNS["label"]] for row in rows), rows
    assert rows[0][COLUMNS["number"]] == "1" and rows[0][COLUMNS["source"]] == "model"
    scores = [float(row[COLUMNS["score"]]) for row in rows]
    assert scores == sorted(scores, reverse=True), "the table is sorted by score"
    word = box_value(page, "#verdict-word")
    assert word in ("AI-generated", "Likely real", "Can't tell") and box_value(page, "#verdict-headline")
    assert _above_the_fold(page, "#verdict-card"), "the verdict card is above the fold at 1366x768"
    assert "Verdict: " in technical_detail(page), "the technical detail is folded beneath the card"
    screenshots.take(page, "analysed")

    # 3. A click inside the planted patch (which the scan boxes) opens the zoom beside the image, no scrolling.
    assert not zoom_panel_open(page)
    page.evaluate("window.scrollTo(0, 0)")
    centre_x = (sample_photo.planted.x1 + sample_photo.planted.x2) / 2
    centre_y = (sample_photo.planted.y1 + sample_photo.planted.y2) / 2
    click_image_at(page, "#image-view", centre_x, centre_y, sample_photo.width, sample_photo.height)
    wait_for_zoom_panel(page)
    assert _above_the_fold(page, "#zoom-crop img") and _beside(page, "#image-view", "#zoom-crop")
    page.wait_for_function("() => document.querySelectorAll('#zoom-maps img').length >= 3")
    wait_for_element_text(page, "#region-explanation", "Region 1")
    assert len(box_value(page, "#region-explanation")) > 40
    chosen = page.eval_on_selector('#regions-table [data-testid="cell-0-1"]',
                                   "c => getComputedStyle(c.closest('td') || c).backgroundColor")
    other = page.eval_on_selector('#regions-table [data-testid="header-1"]', "c => getComputedStyle(c).backgroundColor")
    assert chosen != other, "the chosen region's row is highlighted"
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
    assert box_value(page, "#question-box") == "", "a question box starts empty for the region chosen"
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
    draw_box_in_editor(page, 0.2, 0.1, 0.4, 0.35)
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
    choose_tab(page, "3 Conclude & export")
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
    cases = search_cases(page, sample_photo.path.name)
    matching = [index for index, row in enumerate(cases) if sample_photo.path.name in " ".join(row)]
    assert matching, cases
    assert "ai-generated" in " ".join(cases[matching[0]])
    click_table_cell(page, "#case-list", matching[0], 1)
    if page.locator("#open-case-btn").count():
        page.locator("#open-case-btn").click()
    wait_for_analysis(page)
    reopened = wait_for_table_rows(page, "#regions-table")
    assert len(reopened) == len(with_added), reopened  # the latest analysis: the re-run on the corrected boxes
    assert f"analysis {after_id}" in technical_detail(page)
    assert photo_sha[:12] in element_text(page, "#file-info")
    choose_tab(page, "3 Conclude & export")
    assert box_value(page, "#final-note") == final_note
    screenshots.take(page, "reopened-after-restart")
    assert browser_page.dialogs == []


def _box(page, selector: str) -> dict[str, float]:
    box = page.locator(selector).first.bounding_box()
    assert box, f"{selector} is not on the page"
    return box


def _above_the_fold(page, selector: str) -> bool:
    """Wholly inside the window as it is, without scrolling."""
    box, window = _box(page, selector), page.viewport_size
    return box["y"] >= 0 and box["y"] + box["height"] <= window["height"] + 1 and box["x"] + box["width"] <= \
        window["width"] + 1


def _beside(page, left: str, right: str) -> bool:
    """`right` to the right of `left`, their heights overlapping."""
    a, b = _box(page, left), _box(page, right)
    return b["x"] >= a["x"] + a["width"] - 1 and b["y"] < a["y"] + a["height"] and a["y"] < b["y"] + b["height"]


@pytest.mark.parametrize("viewport", [PHONE])
def test_verdict_card_zoom_and_table_fit_a_phone(start_app, browser_page, screenshots, sample_photo, viewport):
    page = browser_page.page
    server = start_app()
    open_workbench(page, server.url, ANALYST)
    upload(page, sample_photo.path)
    wait_for_element_text(page, "#status-message", "press Analyse")
    page.locator("#analyse-btn").click()
    wait_for_analysis(page)
    screenshots.take(page, "phone-analysed")
    click_table_cell(page, "#regions-table", 0, 1)
    wait_for_zoom_panel(page)
    screenshots.take(page, "phone-zoomed")
    width = viewport["width"]
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width + 1, "nothing wider than the phone"
    for selector in ("#verdict-card", "#verdict-word", "#verdict-headline", "#zoom-crop", "#regions-table",
                     "#backend-choice"):
        box = _box(page, selector)
        assert box["x"] >= -1 and box["x"] + box["width"] <= width + 1, (selector, box)
    # The table scrolls sideways inside its own box rather than squeezing its words.
    header = _box(page, '#regions-table [data-testid="header-1"]')
    assert header["width"] >= 120, header
    # ... and each body column is as wide as its header (Gradio's own narrow widths broke
    # "undecided" into three lines under a header that no longer lined up).
    widths = page.evaluate("""() => { const t = document.querySelector('#regions-table');
        const w = e => Math.round(e.getBoundingClientRect().width);
        return [[...t.querySelectorAll('th')].map(w), [...t.querySelectorAll('.virtual-row .body-cell')].map(w)]; }""")
    heads, cells = widths
    assert len(cells) >= len(heads) and all(abs(h - c) <= 2 for h, c in zip(heads, cells)), widths
    assert min(cells[:len(heads)]) >= 28 and cells[3] >= 90, widths
    assert box_value(page, "#verdict-word") in ("AI-generated", "Likely real", "Can't tell")
    choose_tab(page, "1 Analyse")  # the evidence dropdown opens within the screen, its item whole
    page.locator("#evidence-choice input").first.click()
    option = page.locator("ul.options li, [role=option]").first
    option.wait_for(state="visible")
    box = option.bounding_box()
    assert box["x"] >= -1 and box["x"] + box["width"] <= width + 1, box
    assert sample_photo.path.stem in option.inner_text()
    screenshots.take(page, "phone-dropdown")


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
