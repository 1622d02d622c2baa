"""The newsroom server in the browser: `app.py --users` shows only the login
page, refuses a wrong password, lets an analyst in, and what she does is
signed with her login: the page's name box shows it and takes no typing.
Log out ends her session, and the server log has it."""

from __future__ import annotations

import pytest

from tests.browser.pages import upload, wait_for_element_text
from zoomin_ui.users import add_user

PASSWORD = "correct horse battery"


@pytest.mark.browser
def test_one_login_per_analyst(tmp_path, start_app, browser_page, screenshots, sample_photo):
    users = tmp_path / "users.toml"
    add_user(users, "amira", PASSWORD, "analyst")
    server = start_app(None, "--users", str(users))
    page = browser_page.page
    page.goto(server.url, wait_until="load")
    password_box = page.locator("input[type=password]").first
    password_box.wait_for(state="visible")
    assert page.locator("#analyst-name").count() == 0  # nothing of the workbench before login
    name_box = page.locator("input[type=text], input:not([type])").first
    name_box.fill("amira")
    password_box.fill("wrong password")
    password_box.press("Enter")
    page.get_by_text("Incorrect credentials").first.wait_for(state="visible")
    screenshots.take(page, "login-refused")

    name_box.fill("amira")
    password_box.fill(PASSWORD)
    password_box.press("Enter")
    name = page.locator("#analyst-name textarea, #analyst-name input").first
    name.wait_for(state="visible", timeout=60_000)  # the login page reloads into the workbench
    page.wait_for_function("() => document.querySelector('#analyst-name textarea, #analyst-name input')"
                           ".value === 'amira'")
    assert name.is_disabled()  # the login's name, not one to type
    upload(page, sample_photo.path)
    wait_for_element_text(page, "#status-message", "press Analyse", timeout=60_000)
    screenshots.take(page, "signed-in")
    assert browser_page.dialogs == []

    page.locator("#log-out").click()  # back to the login page; the session's cookie no longer opens the workbench
    page.locator("input[type=password]").first.wait_for(state="visible", timeout=60_000)
    assert page.locator("#analyst-name").count() == 0
    page.goto(server.url, wait_until="load")
    page.locator("input[type=password]").first.wait_for(state="visible")
    assert page.locator("#analyst-name").count() == 0

    from storage import CaseStore
    from storage.server_events import server_events

    store = CaseStore.open(str(server.data_dir))
    try:
        assert [e.action for e in reversed(server_events(store, actor="amira"))] == \
            ["login-failed", "login", "logout"]
        case = store.get_case(store.list_cases().cases[0].id)
        assert {event.actor for event in case.history} == {"amira"}  # the login signs, not the typed name
        assert case.evidence_files[0].intake_by == "amira"
    finally:
        store.close()
