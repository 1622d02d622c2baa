"""Page actions on the workbench for the browser tests and the UI benchmark,
by the element ids agreed with the app (`#upload`, `#image-view`,
`#regions-table`, ...).  They wait for what the page shows rather than for set times."""

from __future__ import annotations

import time
from pathlib import Path

from tests.browser.harness import wait_until_idle


def open_workbench(page, url: str, analyst: str | None = "Browser Test") -> None:
    """Load the app and give the analyst's name (asked once per session; None: give none).

    The page fills the name box from the browser's memory by a request it
    sends on load; the name is typed once that request has been answered
    (typed earlier, it would be overwritten)."""
    pending: list[object] = []
    seen: list[object] = []

    def sent(request) -> None:
        if request.method == "POST" and "/gradio_api/" in request.url:
            pending.append(request)
            seen.append(request)

    def ended(request) -> None:
        if request in pending:
            pending.remove(request)

    page.on("request", sent)
    page.on("requestfinished", ended)
    page.on("requestfailed", ended)
    try:
        page.goto(url, wait_until="load")  # (never "networkidle": Gradio keeps a stream open)
        name_box = page.locator("#analyst-name textarea, #analyst-name input").first
        name_box.wait_for(state="visible", timeout=30_000)
        deadline = time.monotonic() + 15
        while (pending or not seen) and time.monotonic() < deadline:
            page.wait_for_timeout(50)
    finally:
        page.remove_listener("request", sent)
        page.remove_listener("requestfinished", ended)
        page.remove_listener("requestfailed", ended)
    if analyst is None:
        return
    for _ in range(5):
        name_box.fill(analyst)
        name_box.press("Tab")  # commit the value (Gradio sends `change`/`blur`)
        page.wait_for_timeout(200)
        if name_box.input_value() == analyst:
            return
    raise AssertionError(f"the analyst name box does not keep {analyst!r}")


def upload(page, *files: Path) -> None:
    page.locator("#upload input[type=file]").set_input_files([str(f) for f in files])


# gr.Dataframe (Gradio 6) draws its body as a virtual list of
# <div role="row" data-index=N> holding <div role="gridcell">; a hidden
# <tbody class="sizing-body"> copy exists only to measure columns.
_ROWS_JS = """root => Array.from(root.querySelectorAll('[role=row][data-index]')).map(
                 row => Array.from(row.querySelectorAll('[role=gridcell]')).map(cell => cell.innerText.trim()))
               .filter(cells => cells.some(text => text !== ''))"""


def table_rows(page, selector: str) -> list[list[str]]:
    """The body rows of a gr.Dataframe as cell texts."""
    return page.eval_on_selector(selector, _ROWS_JS)


def wait_for_table_rows(page, selector: str, minimum: int = 1, timeout: float = 30_000) -> list[list[str]]:
    page.wait_for_function(
        f"""([selector, minimum]) => {{
              const root = document.querySelector(selector);
              return !!root && ({_ROWS_JS})(root).length >= minimum;
            }}""",
        arg=[selector, minimum], timeout=timeout)
    return table_rows(page, selector)


def wait_for_region_rows(page, timeout: float = 30_000) -> list[list[str]]:
    """Until the regions table lists regions (numbered rows, not the row saying why it is empty)."""
    page.wait_for_function(
        f"""() => {{ const root = document.querySelector('#regions-table');
                    return !!root && ({_ROWS_JS})(root).some(cells => /^\\d+$/.test(cells[0])); }}""",
        timeout=timeout)
    return table_rows(page, "#regions-table")


def click_table_cell(page, selector: str, row: int, column: int = 0) -> None:
    page.locator(f"{selector} [data-testid=cell-{row}-{column}]").first.click()


def image_point(page, selector: str, x: float, y: float, image_width: int, image_height: int) -> tuple[float, float]:
    """Where on the page the point (x, y) of a `image_width` x `image_height`
    image lies, in the <img> under `selector`.  The displayed picture may be
    a resized copy; it is drawn with object-fit: contain, never enlarged, and
    centred, which is the geometry Gradio's own select handler inverts."""
    geometry = page.eval_on_selector(
        f"{selector} img",
        """img => { const r = img.getBoundingClientRect();
                    return [r.left, r.top, r.width, r.height, img.naturalWidth, img.naturalHeight]; }""")
    left, top, width, height, natural_w, natural_h = geometry
    if not natural_w or not natural_h:
        raise AssertionError(f"the image in {selector} has not loaded")
    scale = min(width / natural_w, height / natural_h, 1.0)
    pad_x, pad_y = (width - natural_w * scale) / 2, (height - natural_h * scale) / 2
    # The shown copy may be smaller than the analysed image: same proportions.
    px, py = x * natural_w / image_width, y * natural_h / image_height
    return left + pad_x + px * scale, top + pad_y + py * scale


def click_image_at(page, selector: str, x: float, y: float, image_width: int, image_height: int) -> None:
    page.locator(f"{selector} img").first.scroll_into_view_if_needed()
    page_x, page_y = image_point(page, selector, x, y, image_width, image_height)
    page.mouse.click(page_x, page_y)


def image_source(page, selector: str) -> str:
    """The src of the <img> under `selector` ('' if none): changes when the shown picture does."""
    return page.evaluate("s => { const img = document.querySelector(s + ' img'); return img ? img.src : ''; }",
                         selector)


# What a person reads in an element: its text plus the values of the text
# boxes in it (a Textbox's value is not part of innerText).
TEXT_JS = """root => [root.innerText, ...Array.from(root.querySelectorAll(
                   'textarea, input[type=text], input:not([type])')).map(box => box.value)].join('\\n')"""


def element_text(page, selector: str) -> str:
    return page.eval_on_selector(selector, TEXT_JS)


def box_value(page, selector: str) -> str:
    """The value of the text box in a gr.Textbox (without its label)."""
    return page.locator(f"{selector} textarea, {selector} input").first.input_value()


def wait_for_box_value(page, selector: str, timeout: float = 30_000) -> str:
    """Until the gr.Textbox under `selector` holds some text; returns it."""
    page.wait_for_function(
        """selector => { const box = document.querySelector(selector + ' textarea, ' + selector + ' input');
                         return !!box && box.value.trim().length > 0; }""",
        arg=selector, timeout=timeout)
    return box_value(page, selector)


def wait_for_element_text(page, selector: str, text: str, timeout: float = 30_000) -> str:
    """Until `element_text` contains `text`; returns that text."""
    page.wait_for_function(
        f"""([selector, text]) => {{ const root = document.querySelector(selector);
                                     return !!root && ({TEXT_JS})(root).includes(text); }}""",
        arg=[selector, text], timeout=timeout)
    return element_text(page, selector)


def choose_option(page, selector: str, option: str) -> None:
    """Pick `option` in a gr.Radio (click its label) or a gr.Dropdown (open, click the item)."""
    root = page.locator(selector)
    if root.locator("input[type=radio]").count():
        root.locator("label").filter(has_text=option).first.click()
        return
    root.locator("input").first.click()
    page.locator("[role=option], ul.options li").filter(has_text=option).first.click()


def fill_text(page, selector: str, text: str) -> None:
    """Type into a gr.Textbox and commit it."""
    box = page.locator(f"{selector} textarea, {selector} input").first
    box.fill(text)
    box.press("Tab")


VERDICT_WORDS = ("AI-generated", "Likely real", "Can't tell")


def wait_for_analysis(page, timeout: float = 60_000) -> str:
    """Until the verdict card shows a verdict word (stage 2 has ended); returns the card's text."""
    page.wait_for_function(
        """words => { const box = document.querySelector('#verdict-word textarea, #verdict-word input');
                     return !!box && words.includes(box.value.trim()); }""",
        arg=list(VERDICT_WORDS), timeout=timeout)
    return element_text(page, "#verdict-card")


def technical_detail(page) -> str:
    """The verdict's technical detail (folded under the card), unfolded and read."""
    if not page.locator("#verdict-view").is_visible():
        page.locator("#technical-detail").get_by_text("Technical detail").first.click()
        page.locator("#verdict-view").wait_for(state="visible")
    return element_text(page, "#verdict-view")


def choose_tab(page, name: str) -> None:
    """Show a step: 'Analyse', 'Review regions', 'Conclude & export' or 'Cases'."""
    page.locator("#steps").get_by_role("tab", name=name).first.click()


def wait_for_image(page, selector: str, previous_src: str = "", timeout: float = 30_000) -> str:
    """Until the <img> under `selector` shows a new, loaded picture; returns its src."""
    page.wait_for_function(
        """([selector, previous]) => { const img = document.querySelector(selector + ' img');
                                       return !!img && img.src !== previous && img.complete
                                              && img.naturalWidth > 0; }""",
        arg=[selector, previous_src], timeout=timeout)
    return image_source(page, selector)


def zoom_panel_open(page) -> bool:
    """Whether the zoom panel shows its contents (the column itself stays
    in the layout when hidden; its components are what hide)."""
    return page.locator("#zoom-panel #zoom-crop").is_visible()


def wait_for_zoom_panel(page, timeout: float = 30_000) -> None:
    """Until the zoom panel is open with its enlarged crop loaded."""
    page.locator("#zoom-panel #zoom-crop").wait_for(state="visible", timeout=timeout)
    wait_for_image(page, "#zoom-crop", timeout=timeout)


def analyse(page, timeout: float = 60_000) -> str:
    """Press Analyse on the evidence shown and wait for its verdict card; returns the card's text."""
    previous = element_text(page, "#status-message")
    page.locator("#analyse-btn").click()
    page.wait_for_function(
        """previous => { const box = document.querySelector('#status-message textarea, #status-message input');
                         return !!box && box.value !== previous && /^(Analysis \\d+ done|Error)/.test(box.value); }""",
        arg=previous.strip(), timeout=timeout)
    return wait_for_analysis(page, timeout)


def upload_and_analyse(page, photo_path: Path, timeout: float = 60_000) -> str:
    """A new case of `photo_path`, analysed; returns the verdict card's text."""
    upload(page, photo_path)
    wait_for_element_text(page, "#status-message", "press Analyse", timeout=timeout)
    choose_tab(page, "1 Analyse")
    return analyse(page, timeout)


def checked_option(page, selector: str) -> str | None:
    """The value of the checked radio button of a gr.Radio (None when none is)."""
    return page.evaluate("s => { const r = document.querySelector(s + ' input[type=radio]:checked');"
                         " return r ? r.value : null; }", selector)


def open_box_editor(page) -> None:
    """Unfold the box editor (drawn only once it is asked for)."""
    if not page.locator("#box-editor canvas").first.is_visible():
        page.locator("#box-editor-fold").get_by_text("Edit boxes").first.click()
    page.locator("#box-editor canvas").first.wait_for(state="visible")
    wait_until_idle(page)


def draw_box_in_editor(page, left: float, top: float, right: float, bottom: float) -> None:
    """Drag a new box in the box editor, at fractions of its canvas, and name
    it if the editor asks for a label."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    open_box_editor(page)
    editor = page.locator("#box-editor")
    create = editor.get_by_role("button", name="Create box")
    if create.count():
        create.first.click()
    canvas = editor.locator("canvas").first
    canvas.evaluate("c => c.scrollIntoView({block: 'start'})")  # its top edge in the window too
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


def search_cases(page, query: str) -> list[list[str]]:
    """Type a search in the top bar and press Enter in it: the Cases step opens with its list."""
    box = page.locator("#case-search textarea, #case-search input").first
    box.fill(query)
    box.press("Enter")
    page.locator("#case-list").wait_for(state="visible")
    return wait_for_table_rows(page, "#case-list")
