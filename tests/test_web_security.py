"""The web app's exposure (issue 12): the database, the evidence store and
the keys cannot be fetched through any file route, before or after login;
with a login nothing but the login page is served before it (no API schema,
no heartbeat); a fresh data folder is private; refused uploads are deleted."""

from __future__ import annotations

import http.cookiejar
import os
import stat
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from storage import CaseStore
from tests.browser.harness import CHROMIUM, AppServer, launch_chromium
from tests.storage_backends import png_bytes
from zoomin_ui.service import WorkbenchError
from zoomin_ui.web.security import discard_refused_upload

LOGIN = ("editor", "s3cret:with-colon")


def start(tmp_path: Path, name: str, *extra: str) -> tuple[AppServer, Path]:
    home = tmp_path / name / "home"
    server = AppServer(data_dir=home, log_path=tmp_path / f"{name}.log", extra_args=extra).start()
    return server, home


@pytest.fixture(scope="module")
def open_app(tmp_path_factory):
    """Loopback without a login, with a case in its store and a file in its exports."""
    tmp_path = tmp_path_factory.mktemp("open")
    server, home = start(tmp_path, "open")
    try:
        yield server, seed(home)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def login_app(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("login")
    server, home = start(tmp_path, "login", "--auth", ":".join(LOGIN))
    try:
        yield server, seed(home)
    finally:
        server.stop()


def seed(home: Path) -> dict[str, Path]:
    """What a running workbench holds: the database, a stored evidence file, the signing key, an export."""
    with CaseStore.open(home) as store:
        intake = store.open_case_with_evidence("Secret source", png_bytes(5), "alice", original_name="leak.png")
        (home / "exports").mkdir(exist_ok=True)
        store.export_bundle(intake.record.case_id, home / "exports" / "case-1.zip", "alice")
        evidence = store.stored_path(intake.record.sha256)
    report = home / "exports" / "case-1.pdf"
    report.write_bytes(b"%PDF-1.4 exported report")
    return {"database": home / "cases.sqlite3", "wal": home / "cases.sqlite3-wal", "evidence": evidence,
            "key": home / "keys" / "installation-ed25519.pem", "report": report}


def file_routes(path: Path) -> list[str]:
    """Every way Gradio names a file, plain and disguised."""
    text = str(path)
    quoted = urllib.parse.quote(text)
    dotted = str(path.parent / "." / ".." / path.parent.name / path.name)
    return [f"gradio_api/file={text}", f"file={text}", f"gradio_api/file/{text.lstrip('/')}",
            f"gradio_api/file={quoted}", f"gradio_api/file={dotted}", f"gradio_api/file={text.upper()}",
            f"gradio_api/file={path.parent}/exports/../{path.name}"]


def fetch(server: AppServer, route: str, opener=None) -> tuple[int, bytes]:
    request = urllib.request.Request(server.url + route)
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=10) as response:
            return response.status, response.read(65536) if "heartbeat" not in route else b""
    except urllib.error.HTTPError as error:
        return error.code, error.read(65536)


def logged_in(server: AppServer):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = urllib.parse.urlencode({"username": LOGIN[0], "password": LOGIN[1]}).encode()
    with opener.open(urllib.request.Request(server.url + "login", data=form), timeout=10) as response:
        assert response.status == 200
    assert any(cookie.name.startswith("access-token") for cookie in jar)
    return opener


PRIVATE = ("database", "wal", "evidence", "key")


def assert_never_served(server: AppServer, files: dict[str, Path], opener=None) -> None:
    for what in PRIVATE:
        assert files[what].is_file(), what
        for route in file_routes(files[what]):
            status, body = fetch(server, route, opener)
            assert status in (401, 403, 404), (what, route, status)
            assert b"SQLite format" not in body and b"PRIVATE KEY" not in body and b"PNG" not in body


def test_without_a_login_only_the_exports_are_served(open_app):
    server, files = open_app
    assert_never_served(server, files)
    status, body = fetch(server, f"gradio_api/file={files['report']}")
    assert status == 200 and body.startswith(b"%PDF")  # the route works: it is the folders that are refused


def test_with_a_login_nothing_but_the_login_page_is_served_before_it(login_app):
    server, files = login_app
    status, page = fetch(server, "")
    assert status == 200 and b"auth_required" in page
    assert b"named_endpoints" not in page and b"gradio_api_info = {};" in page  # no API schema
    for route in ("config", "gradio_api/info", "gradio_api/openapi.json", "gradio_api/heartbeat/abc123",
                  "gradio_api/queue/data?session_hash=abc", "gradio_api/upload_progress",
                  f"gradio_api/file={files['report']}", "gradio_api/call/analyse/1", "monitoring"):
        assert fetch(server, route)[0] == 401, route
    assert_never_served(server, files)


def test_after_login_the_page_works_and_private_files_stay_private(login_app):
    server, files = login_app
    opener = logged_in(server)
    status, page = fetch(server, "", opener)
    assert status == 200 and b"auth_required" not in page
    assert fetch(server, "gradio_api/heartbeat/abc123", opener)[0] == 200
    status, body = fetch(server, f"gradio_api/file={files['report']}", opener)
    assert status == 200 and body.startswith(b"%PDF")
    assert_never_served(server, files, opener)


def test_a_fresh_data_folder_is_private(open_app):
    _, files = open_app
    home = files["database"].parent

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(home) == 0o700
    assert mode(files["database"]) == 0o600 and mode(files["wal"]) == 0o600
    assert mode(files["evidence"]) == 0o400 and mode(files["key"]) == 0o600 and mode(files["key"].parent) == 0o700


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_the_login_page_still_logs_in_in_a_browser(login_app, tmp_path):
    from playwright.sync_api import sync_playwright

    server, _ = login_app
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(server.url)
            page.get_by_label("username").fill(LOGIN[0])
            page.get_by_label("password").fill(LOGIN[1])
            page.screenshot(path=str(tmp_path / "login.png"))
            page.get_by_role("button", name="Login").click()
            page.wait_for_selector("#status-message, .gradio-container h1, textarea", timeout=30_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(tmp_path / "after-login.png"))
            assert "ZoomIn" in page.title()
            assert page.get_by_label("username").count() == 0
        finally:
            browser.close()
    if os.environ.get("ZOOMIN_KEEP_SCREENSHOTS"):
        for name in ("login.png", "after-login.png"):
            Path(os.environ["ZOOMIN_KEEP_SCREENSHOTS"]).joinpath(name).write_bytes((tmp_path / name).read_bytes())


def test_a_refused_upload_is_deleted_at_once(tmp_path, monkeypatch):
    from zoomin_ui.workbench import take_in

    uploads = tmp_path / "home" / "web-uploads"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    (uploads / "a1b2").mkdir(parents=True)
    refused = uploads / "a1b2" / "notes.png"
    refused.write_bytes(b"<html>not an image</html>")
    too_big = uploads / "big.png"
    too_big.write_bytes(png_bytes(3))
    elsewhere = tmp_path / "analyst-own.txt"  # a file of the analyst's own, outside the upload folder
    elsewhere.write_bytes(b"keep me")
    with CaseStore.open(tmp_path / "home") as store:
        with pytest.raises(WorkbenchError):
            take_in(store, [refused], "alice")
        with pytest.raises(WorkbenchError, match="upload limit"):
            take_in(store, [too_big], "alice", max_bytes=10)
        with pytest.raises(WorkbenchError):
            take_in(store, [elsewhere], "alice")
        assert store.list_cases().total == 0
    assert not refused.exists() and not refused.parent.exists() and not too_big.exists()
    assert elsewhere.read_bytes() == b"keep me"
    assert not discard_refused_upload(uploads)  # never the folder itself


def test_a_refused_bundle_upload_is_deleted_at_once(tmp_path, monkeypatch):
    from zoomin_ui.web.exports import import_case_bundle

    uploads = tmp_path / "home" / "web-uploads"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    (uploads / "f00d").mkdir(parents=True)
    hostile = uploads / "f00d" / "case.zip"
    hostile.write_bytes(b"PK\x03\x04 not really a zip")
    with CaseStore.open(tmp_path / "home") as store:
        with pytest.raises(WorkbenchError, match="not a readable zip"):
            import_case_bundle(store, hostile, "alice")
    assert not hostile.exists()
