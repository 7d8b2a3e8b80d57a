"""A screenshot of a page (the report's index.html) through headless Chromium's own command line.

`python -m benchmarks.report --screenshot PNG` calls `screenshot`: Chromium loads the page from
file:// with a throw-away profile and writes the viewport (`--screenshot`, `--window-size`) — no
driver, no DevTools session. That the page itself is sound (every image decodes, no console
errors, the tables sort) is what `tests/test_browser.py` checks, in a real browser driven by
Playwright.

Chromium: Debian/Ubuntu `apt-get install chromium`; another binary through `$TTSR_CHROMIUM`.
Errors: no Chromium, or Chromium failing or timing out, is a `UserError` (one line).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from foundation.errors import UserError
from foundation.fileio import atomic_write_bytes

CHROMIUM_ENV = "TTSR_CHROMIUM"
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
         "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
         "--disable-background-networking", "--disable-component-update", "--mute-audio")


def find_chromium() -> str | None:
    """The Chromium binary: `$TTSR_CHROMIUM`, else the first of the usual names on PATH; None if absent."""
    explicit = os.environ.get(CHROMIUM_ENV)
    if explicit:
        return explicit if Path(explicit).is_file() or shutil.which(explicit) else None
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(page: str | Path, png: str | Path, *, width: int = 1280, height: int = 1500,
               timeout: float = 120.0) -> Path:
    """Write a width×height (CSS px) PNG of the top of `page` (an HTML file) to `png`, atomically.

    Raises `UserError` when Chromium is absent, fails, or takes longer than `timeout` seconds.
    """
    binary = find_chromium()
    if binary is None:
        raise UserError("--screenshot: Chromium not found; install it (Debian/Ubuntu: apt-get install chromium) "
                        f"or point ${CHROMIUM_ENV} at the binary")
    png = Path(png)
    with tempfile.TemporaryDirectory(prefix="ttsr-chromium-") as tmp:
        shot = Path(tmp) / "shot.png"
        command = [binary, *FLAGS, f"--user-data-dir={Path(tmp) / 'profile'}", f"--window-size={width},{height}",
                   f"--screenshot={shot}", Path(page).resolve().as_uri()]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                    stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as err:
            raise UserError(f"{page}: Chromium ({binary}) took more than {timeout:.0f} s for the screenshot") from err
        if result.returncode != 0 or not shot.is_file():
            last = (result.stderr.strip().splitlines() or ["no message"])[-1]
            raise UserError(f"{page}: Chromium ({binary}) made no screenshot (exit code {result.returncode}): {last}")
        atomic_write_bytes(png, shot.read_bytes())
    return png
