"""Benchmark: the workbench's responsiveness as an analyst feels it, in the browser.

Starts `python app.py` (evidence engine, a throw-away data folder) and
drives Debian's Chromium through Playwright at 1366x768 with the browser
tests' harness (tests/browser).  On a synthesised 12-megapixel camera-style
JPEG (4000x3000, q92) with an upscaled patch the scan boxes, each run measures

* upload to verdict card: from handing the file to the page's upload input,
  through intake (hash, size, format shown) and pressing Analyse, until the
  verdict card shows its word;
* box click to zoom: from a click inside the box on the image (the page at
  its top, nothing scrolled) until the enlarged crop is loaded in the zoom
  panel beside the image, above the fold;
* switching cases: from a click on the previous run's case in the case list
  until that case's image, verdict card and status are on screen;

and, for information, upload to intake (hash, size and format shown), upload
to boxes (stage 1 shown) and click to panel (the panel shown, its crop
possibly still loading).  Each run uploads a
different file (one corner pixel block changed), so no cache of the app
helps.  Targets: 1.5 s, 0.35 s and 0.4 s, median over 5 runs.

A run the page does not finish (a wait runs out) does not end the benchmark:
it is reported with the step it stopped at, the page's status line, a
screenshot and the app's log tail, the next run starts on a fresh page, and
the benchmark exits 2 (its medians are of the runs that finished).

    .venv/bin/python benchmarks/bench_ui.py [--runs 5] [--json out.json] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the harness lives in tests/browser

from tests.browser.harness import (
    AppServer,
    launch_chromium,
    photo_with_planted_patch,
    save_photo,
    wait_until_idle,
)
from tests.browser.pages import (
    VERDICT_WORDS,
    choose_tab,
    click_table_cell,
    element_text,
    image_point,
    image_source,
    open_workbench,
    upload,
    wait_for_element_text,
    wait_for_image,
    wait_for_region_rows,
    wait_for_table_rows,
    wait_for_zoom_panel,
)

TARGETS = {"upload_to_verdict_card_s": 1.5, "click_to_zoom_s": 0.35, "switch_case_s": 0.4}
VIEWPORT = {"width": 1366, "height": 768}
_CARD_JS = """words => { const box = document.querySelector('#verdict-word textarea, #verdict-word input');
                        return !!box && words.includes(box.value.trim()); }"""


def _in_view(page, selector: str) -> bool:
    return page.eval_on_selector(selector, """e => { const r = e.getBoundingClientRect();
        return r.top >= 0 && r.bottom <= window.innerHeight + 1 && r.right <= window.innerWidth + 1; }""")


class Steps:
    """The step a run is at, so a run that stops says where."""

    def __init__(self) -> None:
        self.now = "start"

    def __call__(self, name: str) -> None:
        self.now = name


def one_run(page, url: str, photo, sha_prefix: str, previous_case: int | None, step: Steps | None = None
            ) -> tuple[dict[str, float], int]:
    step = step or Steps()
    step("open the page")
    open_workbench(page, url, "Benchmark")
    before = image_source(page, "#image-view")
    start = time.perf_counter()
    step("upload: intake shown")
    upload(page, photo.path)
    wait_for_element_text(page, "#file-info", sha_prefix, timeout=60_000)
    intake_shown = time.perf_counter() - start
    step("upload: page idle")
    wait_until_idle(page)
    step("analyse: boxes shown")
    page.locator("#analyse-btn").click()
    wait_for_region_rows(page, timeout=60_000)
    wait_for_image(page, "#image-view", before, timeout=60_000)
    boxes_shown = time.perf_counter() - start
    step("analyse: verdict card")
    page.wait_for_function(_CARD_JS, arg=list(VERDICT_WORDS), timeout=60_000)
    card_shown = time.perf_counter() - start
    step("analyse: page idle")
    wait_until_idle(page)
    page.evaluate("window.scrollTo(0, 0)")
    centre = ((photo.planted.x1 + photo.planted.x2) / 2, (photo.planted.y1 + photo.planted.y2) / 2)
    # Where to click is worked out before the clock starts: the figure is the
    # page's answer to the click, not the harness's look-up of the box on screen.
    point = image_point(page, "#image-view", *centre, photo.width, photo.height)
    step("box click: zoom")
    start = time.perf_counter()
    page.mouse.click(*point)
    page.locator("#zoom-panel #zoom-crop").wait_for(state="visible")
    panel_shown = time.perf_counter() - start
    wait_for_zoom_panel(page)
    zoomed = time.perf_counter() - start
    assert page.evaluate("() => window.scrollY") == 0 and _in_view(page, "#zoom-crop img"), "zoom needs a scroll"
    step("box click: page idle")
    wait_until_idle(page)
    figures = {"upload_to_verdict_card_s": card_shown, "click_to_zoom_s": zoomed,
               "upload_to_intake_s": intake_shown, "upload_to_boxes_s": boxes_shown, "click_to_panel_s": panel_shown}
    if previous_case is not None:
        step("switch: case list")
        choose_tab(page, "4 Cases")
        rows = wait_for_table_rows(page, "#case-list", minimum=2)
        index = next(i for i, row in enumerate(rows) if row[0] == str(previous_case))
        before = image_source(page, "#image-view")
        step("switch: the case on screen")
        start = time.perf_counter()
        click_table_cell(page, "#case-list", index, 1)
        wait_for_element_text(page, "#status-message", f"Opened case {previous_case}")
        wait_for_image(page, "#image-view", before)
        page.wait_for_function(_CARD_JS, arg=list(VERDICT_WORDS))
        figures["switch_case_s"] = time.perf_counter() - start
        step("switch: page idle")
        wait_until_idle(page)
    step("the newest case")
    choose_tab(page, "4 Cases")
    # The list is redrawn as the tab opens: wait for its rows rather than read a table being replaced.
    newest = int(wait_for_table_rows(page, "#case-list", minimum=1)[0][0])
    return figures, newest


def main() -> None:
    import hashlib

    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--json", type=Path, help="also write the runs and medians here")
    parser.add_argument("--keep", type=Path, help="keep the app's log and a stopped run's screenshot here")
    args = parser.parse_args()
    keep = args.keep
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    failures: list[dict] = []

    with tempfile.TemporaryDirectory(prefix="bench-ui-") as folder:
        work = Path(folder)
        made = time.perf_counter()
        rgb, planted = photo_with_planted_patch(args.width, args.height, seed=3)
        photos = []
        for run in range(args.runs + 1):  # the first is a warm-up: the case the first run switches back to
            variant = rgb.copy()
            variant[:8, :8] = (run * 37) % 256  # a different file (hash) each run, same picture
            photos.append(save_photo(variant, planted, work / "images" / f"photo-{run + 1}.jpg"))
        print(f"{args.runs} JPEGs of {args.width}x{args.height} made in {time.perf_counter() - made:.1f} s "
              f"({photos[0].path.stat().st_size / 1e6:.1f} MB each)")
        server = AppServer(work / "data", work / "app.log").start()
        runs = []
        try:
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                context = browser.new_context(viewport=VIEWPORT)
                page = context.new_page()
                previous = None
                for index, photo in enumerate(photos):
                    sha_prefix = hashlib.sha256(photo.path.read_bytes()).hexdigest()[:12]
                    step = Steps()
                    try:
                        figures, previous = one_run(page, server.url, photo, sha_prefix, previous, step)
                    except (PlaywrightError, AssertionError, StopIteration) as exc:
                        failures.append(_stopped(page, server, index, step.now, exc, keep))
                        previous = None  # the next run measures no switch: this run's case may not exist
                        continue
                    if index == 0:
                        continue  # the warm-up
                    runs.append(figures)
                    print(f"run {len(runs)}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()))
                browser.close()
        finally:
            server.stop()
            if keep is not None:
                shutil.copyfile(work / "app.log", keep / "app.log")

    keys = dict.fromkeys(key for run in runs for key in run)
    medians = {key: statistics.median(run[key] for run in runs if key in run) for key in keys}
    print(f"\n| measure ({args.width}x{args.height} JPEG, evidence engine) | median of {len(runs)} | target | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for key, value in medians.items():
        target = TARGETS.get(key)
        ratio = f"{value / target:.2f}" if target else "—"
        print(f"| {key} | {value:.3f} s | {f'{target} s' if target else '—'} | {ratio} |")
    for failure in failures:
        print(f"\nrun {failure['run']} STOPPED at '{failure['step']}': {failure['error']}\n"
              f"  status line: {failure['status']!r}\n  busy outputs: {failure['busy']}\n"
              f"  app log tail:\n{failure['log_tail']}")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "medians": medians, "targets": TARGETS,
                                         "failures": failures}, indent=2))
    if failures:
        print(f"\n{len(failures)} run(s) stopped; the medians are of the {len(runs)} that finished")
        sys.exit(2)


# The outputs whose Gradio status tracker still says the event runs, by element id.
_BUSY_OUTPUTS_JS = """() => Array.from(document.querySelectorAll('[data-testid=status-tracker]'))
    .filter(t => /\\b(pending|generating)\\b/.test(t.className))
    .map(t => (t.closest('[id]') || {}).id + ': ' + t.className + ' ' + t.textContent.replace(/\\s+/g, ' ').trim())"""


def _stopped(page, server, index: int, step: str, exc: BaseException, keep: Path | None) -> dict:
    """What the page and the app showed when a run stopped (a run that does not end the benchmark)."""
    def read(what):
        try:
            return what()
        except Exception as problem:  # noqa: BLE001 (the page itself may be gone)
            return f"(unreadable: {type(problem).__name__})"
    failure = {"run": index, "step": step, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
               "status": read(lambda: element_text(page, "#status-message")),
               "busy": read(lambda: page.evaluate(_BUSY_OUTPUTS_JS)),
               "log_tail": server.log_tail(3000)}
    if keep is not None:
        read(lambda: page.screenshot(path=str(keep / f"stopped-run-{index}.png"), full_page=True))
    print(f"run {index} stopped at '{step}': {failure['error']}")
    return failure


if __name__ == "__main__":
    main()
