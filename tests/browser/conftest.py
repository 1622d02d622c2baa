"""Fixtures for the browser tests: the workbench started as `python app.py`
on a free loopback port with a temporary data folder, Debian's Chromium
through Playwright, screenshots per step and a synthetic photo whose
upscaled patch the scan boxes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser.harness import (
    CHROMIUM,
    AppServer,
    SamplePhoto,
    Screenshots,
    launch_chromium,
    write_sample_photo,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives the Gradio workbench in Debian's Chromium (Playwright)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator:
    # Per module, not per session: Playwright's sync API runs its own event
    # loop, which is ended before the rest of the suite runs.
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium package to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@dataclass
class BrowserPage:
    page: object
    dialogs: list[str]  # messages of any alert/confirm the page raised (there must be none)


# The laptop size the page is built for (the verdict card, the image and the zoom above the fold).
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def viewport() -> dict[str, int]:
    """The browser window of `browser_page` (a test may override it)."""
    return LAPTOP


@pytest.fixture
def browser_page(chromium_browser, request: pytest.FixtureRequest, tmp_path: Path,
                 viewport: dict[str, int]) -> Iterator[BrowserPage]:
    context = chromium_browser.new_context(viewport=viewport, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    dialogs: list[str] = []

    def record(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    yield BrowserPage(page, dialogs)
    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed:  # what the page showed when the test failed
        shot = tmp_path / "screenshots" / "failure.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        print(f"\nfailure screenshot: {shot}")
    context.close()


@pytest.fixture
def screenshots(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Screenshots]:
    """Where the steps' screenshots go (also recorded as the test's `screenshots` property)."""
    shots = Screenshots(tmp_path / "screenshots")
    request.node.user_properties.append(("screenshots", str(shots.folder)))
    yield shots
    if shots.taken:
        print(f"\nscreenshots: {shots.folder}")


@pytest.fixture
def start_app(tmp_path: Path) -> Iterator[Callable[..., AppServer]]:
    """start_app(data_dir=None, *extra_args) -> a serving AppServer; all are stopped at the end
    (their log is printed when the test failed, via the captured output)."""
    servers: list[AppServer] = []

    def start(data_dir: Path | None = None, *extra_args: str) -> AppServer:
        server = AppServer(data_dir or tmp_path / "data", tmp_path / f"app-{len(servers) + 1}.log",
                           extra_args=extra_args)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
        print(f"\n--- {server.log_path.name} ---\n{server.log_tail(2000)}")


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """One workbench for every test of a module (each test opens its own cases
    and browser page): starting the app costs seconds a test."""
    folder = tmp_path_factory.mktemp("shared-app")
    server = AppServer(folder / "data", folder / "app.log").start()
    yield server
    server.stop()
    print(f"\n--- shared app log ---\n{server.log_tail(2000)}")


@pytest.fixture
def sample_photo(tmp_path: Path) -> SamplePhoto:
    return write_sample_photo(tmp_path / "images")
