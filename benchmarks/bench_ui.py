"""Benchmark: the workbench's responsiveness as an analyst feels it, in the browser.

Starts `python app.py` (evidence engine, a throw-away data folder) and
drives Debian's Chromium through Playwright with the browser tests' harness
(tests/browser).  On a synthesised 12-megapixel camera-style JPEG (4000x3000,
q92) with an upscaled patch the scan boxes, each run measures

* upload to boxes shown: from handing the file to the page's upload input,
  through intake (hash, size, format shown) and pressing Analyse, until the
  scan's numbered boxes are on the image and in the regions table;
* box click to zoom panel: from a click inside the box on the image until the
  zoom panel shows with its enlarged crop loaded;

and, for information, upload to verdict (stage 2 done) and click to panel
(the zoom panel visible, its crop possibly still loading).  Each run uploads a
different file (one corner pixel block changed), so no cache of the app
helps.  Targets: 3 s and 0.5 s, median over 5 runs.

    .venv/bin/python benchmarks/bench_ui.py [--runs 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
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
    click_image_at,
    image_source,
    open_workbench,
    upload,
    wait_for_analysis,
    wait_for_element_text,
    wait_for_image,
    wait_for_table_rows,
    wait_for_zoom_panel,
)

TARGETS = {"upload_to_boxes_s": 3.0, "click_to_zoom_s": 0.5}


def one_run(page, url: str, photo, sha_prefix: str) -> dict[str, float]:
    open_workbench(page, url, "Benchmark")
    before = image_source(page, "#image-view")
    start = time.perf_counter()
    upload(page, photo.path)
    wait_for_element_text(page, "#file-info", sha_prefix, timeout=60_000)
    wait_until_idle(page)
    page.locator("#analyse-btn").click()
    wait_for_table_rows(page, "#regions-table", timeout=60_000)
    wait_for_image(page, "#image-view", before, timeout=60_000)
    boxes_shown = time.perf_counter() - start
    wait_for_analysis(page)
    verdict_shown = time.perf_counter() - start
    wait_until_idle(page)
    centre = ((photo.planted.x1 + photo.planted.x2) / 2, (photo.planted.y1 + photo.planted.y2) / 2)
    page.locator("#image-view img").first.scroll_into_view_if_needed()
    start = time.perf_counter()
    click_image_at(page, "#image-view", *centre, photo.width, photo.height)
    page.locator("#zoom-panel #zoom-crop").wait_for(state="visible")
    panel_shown = time.perf_counter() - start
    wait_for_zoom_panel(page)
    zoomed = time.perf_counter() - start
    return {"upload_to_boxes_s": boxes_shown, "click_to_zoom_s": zoomed, "upload_to_verdict_s": verdict_shown,
            "click_to_panel_s": panel_shown}


def main() -> None:
    import hashlib

    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--json", type=Path, help="also write the runs and medians here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ui-") as folder:
        work = Path(folder)
        made = time.perf_counter()
        rgb, planted = photo_with_planted_patch(args.width, args.height, seed=3)
        photos = []
        for run in range(args.runs):
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
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                for photo in photos:
                    sha_prefix = hashlib.sha256(photo.path.read_bytes()).hexdigest()[:12]
                    runs.append(one_run(page, server.url, photo, sha_prefix))
                    print("run {}: upload->boxes {upload_to_boxes_s:.2f} s, click->zoom {click_to_zoom_s:.3f} s, "
                          "upload->verdict {upload_to_verdict_s:.2f} s, click->panel {click_to_panel_s:.3f} s"
                          .format(len(runs), **runs[-1]))
                browser.close()
        finally:
            server.stop()

    medians = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    print(f"\n| measure ({args.width}x{args.height} JPEG, evidence engine) | median of {len(runs)} | target | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for key, value in medians.items():
        target = TARGETS.get(key)
        ratio = f"{value / target:.2f}" if target else "—"
        print(f"| {key} | {value:.3f} s | {f'{target} s' if target else '—'} | {ratio} |")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "medians": medians, "targets": TARGETS}, indent=2))


if __name__ == "__main__":
    main()
