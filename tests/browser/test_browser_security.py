"""Hostile model output stays text in the page, and the app will not listen
beyond loopback without a login."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import pytest

from tests.browser.harness import REPO_ROOT, free_port
from tests.browser.pages import (
    choose_tab,
    click_table_cell,
    element_text,
    open_workbench,
    search_cases,
    table_rows,
    technical_detail,
    upload,
    wait_for_analysis,
    wait_for_element_text,
    wait_for_table_rows,
    wait_for_zoom_panel,
)

PAYLOAD = "<img src=x onerror=alert(1)>"


def _store_hostile_case(data_dir, photo) -> int:
    """A case whose analysis carries the payload as the title, a region's
    label, explanation and a question's answer and the overall explanation, as
    a compromised or prompt-injected backend could return them; written
    through the store."""
    from zoomin_ui.service import analyze_file, backend_info, open_detector, open_store

    detector = open_detector("evidence")
    analysis = analyze_file(detector, str(photo.path))
    assert analysis.regions, "the scan should box the planted patch"
    hostile = replace(analysis.regions[0], label=f"{PAYLOAD} label",
                      explanation=f"explained: {PAYLOAD} end")
    analysis = replace(analysis, regions=[hostile, *analysis.regions[1:]], explanation=f"overall {PAYLOAD}")
    store = open_store(str(data_dir))
    try:
        intake = store.open_case_with_evidence(f"case {PAYLOAD}", str(photo.path), "Setup Script",
                                               original_name=photo.path.name)
        run = store.start_analysis(intake.record.case_id, intake.record.id, backend_info(detector), "Setup Script")
        finished = store.finish_analysis(run.id, analysis)
        region = next(r for r in finished.current_regions() if r.label == hostile.label)
        store.add_question(region.id, "Setup Script", f"asked {PAYLOAD}?", f"answered {PAYLOAD}.", detector.name)
        return intake.record.case_id
    finally:
        store.close()


@pytest.mark.browser
def test_model_text_is_shown_as_text_not_html(tmp_path, start_app, browser_page, screenshots, sample_photo):
    data_dir = tmp_path / "data"
    case_id = _store_hostile_case(data_dir, sample_photo)
    server = start_app(data_dir)
    page = browser_page.page

    open_workbench(page, server.url, "XSS Checker")
    cases = search_cases(page, sample_photo.path.name)
    row = next(index for index, cells in enumerate(cases) if cells[0] == str(case_id))
    assert f"case {PAYLOAD}" in cases[row]
    click_table_cell(page, "#case-list", row, 1)
    page.locator("#open-case-btn").click()
    wait_for_analysis(page)
    assert f"overall {PAYLOAD}" in technical_detail(page)

    regions = wait_for_table_rows(page, "#regions-table")
    assert all("<img" not in cell or PAYLOAD in cell for row in regions for cell in row), regions
    click_table_cell(page, "#regions-table", 0, 1)  # a row opens the zoom panel like a box click
    wait_for_zoom_panel(page)
    explanation = wait_for_element_text(page, "#region-explanation", f"explained: {PAYLOAD} end")
    assert f"{PAYLOAD} label" in explanation
    answer = wait_for_element_text(page, "#answer-view", f"answered {PAYLOAD}.")
    assert f"asked {PAYLOAD}?" in answer
    screenshots.take(page, "hostile-text-as-text")

    page.wait_for_timeout(300)  # time for a planted onerror to fire, were there one
    assert page.locator('img[src="x"]').count() == 0
    assert page.evaluate("() => Array.from(document.images).filter(img => img.getAttribute('src') === 'x').length") == 0
    assert browser_page.dialogs == []
    assert "Error" not in element_text(page, "#status-message"), table_rows(page, "#regions-table")


def test_public_address_without_login_refuses_to_start(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "ZOOMIN_AUTH"}
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "app.py"), "--host", "0.0.0.0", "--port", str(free_port()),
         "--data-dir", str(tmp_path / "data")],
        check=False, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "auth" in output.lower(), output
    assert "Traceback" not in output, output
    assert "Running on" not in output, output


@pytest.mark.browser
def test_a_file_that_is_not_an_image_gets_a_readable_error(tmp_path, start_app, browser_page, screenshots):
    """Checked by content, not by name: text saved as .jpg is refused in one
    line in the page, no traceback, and no case is opened for it."""
    fake = tmp_path / "holiday.jpg"
    fake.write_text("this is not a picture, whatever its name says\n" * 20)
    server = start_app()
    page = browser_page.page
    open_workbench(page, server.url, "Careful Analyst")
    upload(page, fake)
    status = wait_for_element_text(page, "#status-message", "Error")
    screenshots.take(page, "not-an-image")
    assert "holiday.jpg" in status or "image" in status.lower(), status
    assert "Traceback" not in page.inner_text("body")
    choose_tab(page, "4 Cases")
    assert table_rows(page, "#case-list") == []
    assert browser_page.dialogs == []
