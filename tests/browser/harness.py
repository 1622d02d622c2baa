"""The browser harness the workbench's browser tests and the UI benchmark share:
start `python app.py` on a free loopback port with its own data folder, drive
Debian's Chromium through Playwright and save a screenshot per step (the page
actions themselves are in pages.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.types import Box

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# Debian's browser, never one Playwright downloads; no sandbox (containers run
# as root) and no GPU (there is none).
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--headless")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AppDidNotStart(RuntimeError):
    pass


@dataclass
class AppServer:
    """`python app.py --port P --data-dir D` as a child process; output goes
    to a log file (a pipe nobody reads would block the app once full)."""

    data_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    extra_args: tuple[str, ...] = ()
    script: Path = REPO_ROOT / "app.py"
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def command(self) -> list[str]:
        return [sys.executable, str(self.script), "--port", str(self.port), "--data-dir", str(self.data_dir),
                *self.extra_args]

    def start(self, timeout: float = 90.0) -> AppServer:
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("the app is already running")
        env = {**os.environ, "ZOOMIN_HOME": str(self.data_dir), "GRADIO_ANALYTICS_ENABLED": "False",
               "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command(), cwd=REPO_ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._wait_until_serving(timeout)
        return self

    def _wait_until_serving(self, timeout: float) -> None:
        # Ready means the page answers over HTTP: more reliable than matching
        # Gradio's "Running on local URL:  http://..." line, whose wording varies.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AppDidNotStart(f"app.py exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.25)
        self.stop()
        raise AppDidNotStart(f"app.py did not serve {self.url} within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not ended after `grace` seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(grace)

    def restart(self) -> AppServer:
        """Stop and start again on the same port and data folder."""
        self.stop()
        return self.start()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


# Gradio marks every output of a running event with a status tracker whose
# class says `pending` (waiting or running) or `generating` (between yields).
_BUSY_JS = """() => !Array.from(document.querySelectorAll('[data-testid=status-tracker]')).some(
                  tracker => /\\b(pending|generating)\\b/.test(tracker.className))"""


def wait_until_idle(page, timeout: float = 60_000) -> None:
    """Until no event of the page is running."""
    page.wait_for_function(_BUSY_JS, timeout=timeout)


def launch_chromium(playwright):
    """Debian's Chromium through Playwright (sync API)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS))


@dataclass
class Screenshots:
    """Numbered full-page screenshots of each step, kept for a person to look at."""

    folder: Path
    taken: list[Path] = field(default_factory=list)

    def take(self, page, step: str) -> Path:
        """After the page's running events end (else outputs show greyed out)."""
        wait_until_idle(page)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{len(self.taken) + 1:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


@dataclass(frozen=True)
class SamplePhoto:
    path: Path
    width: int
    height: int
    planted: Box  # where the half-resolution, upscaled patch was pasted


def photo_with_planted_patch(width: int, height: int, seed: int = 7) -> tuple[np.ndarray, Box]:
    """A camera-like RGB photo with a patch re-rendered at half resolution and
    upscaled (the trace the evidence engine's scan boxes): made here, nothing
    downloaded."""
    from models.sample_images import camera_like_photo, paste_resampled_patch

    planted = Box(round(width * 0.55), round(height * 0.23), round(width * 0.8), round(height * 0.57))
    return paste_resampled_patch(camera_like_photo(height, width, seed=seed), planted), planted


def save_photo(rgb: np.ndarray, planted: Box, path: Path) -> SamplePhoto:
    from models.sample_images import encode

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(rgb, "JPEG", quality=92))
    return SamplePhoto(path, rgb.shape[1], rgb.shape[0], planted)


def write_sample_photo(folder: Path, width: int = 1024, height: int = 768, seed: int = 7,
                       name: str = "camera-photo.jpg") -> SamplePhoto:
    rgb, planted = photo_with_planted_patch(width, height, seed)
    return save_photo(rgb, planted, folder / name)
