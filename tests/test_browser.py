"""The report in a real browser: headless Chromium, driven by Playwright, loads index.html from file://,
every image decodes, every table is there, no console errors, the sortable tables sort; and the
report's `--screenshot` (Chromium's own command line) writes a real picture.

Playwright (the `test` extra: pip install -e '.[test]') drives the system Chromium through
`executable_path`, so no browser is downloaded. Skips when Chromium or Playwright is absent; fails
instead under CI (.ci/run installs Chromium)."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import fixture_runs
from benchmarks import report
from benchmarks.screenshot import CHROMIUM_ENV, find_chromium, screenshot

try:
    from playwright.sync_api import sync_playwright
except ImportError:
    sync_playwright = None

CHROMIUM = find_chromium()
MISSING = [what for what, present in (
    (f"Chromium (apt-get install chromium, or set ${CHROMIUM_ENV})", CHROMIUM is not None),
    ("Playwright (pip install -e '.[test]')", sync_playwright is not None)) if not present]
pytestmark = pytest.mark.skipif(bool(MISSING) and not os.environ.get("CI"),
                                reason=f"needs {' and '.join(MISSING)}; CI installs both")

# What a reader would look at: the title, each image (decoded?), each table, each section.
INSPECT_JS = """() => ({
  title: document.title,
  images: Array.from(document.images).map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0})),
  table_ids: Array.from(document.querySelectorAll('table')).map(t => t.id),
  sections: Array.from(document.querySelectorAll('section')).map(s => s.id),
})"""


@pytest.fixture(scope="module")
def browser():
    if MISSING:
        pytest.fail(f"CI is set but {' and '.join(MISSING)} is missing: .ci/run must install it")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


@contextlib.contextmanager
def open_page(browser, path: Path, width: int = 1280, height: int = 900):
    """The page at `path` after its load event, and the list of console errors it reports."""
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(f"console.{message.type}: {message.text}")
            if message.type in ("error", "assert") else None)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    try:
        page.goto(path.resolve().as_uri(), wait_until="load")
        yield page, errors
    finally:
        page.close()


def inspect(browser, path: Path, shot: Path | None = None) -> dict:
    """INSPECT_JS of the loaded page, plus `broken_images` and `console_errors` (and a viewport PNG)."""
    with open_page(browser, path) as (page, errors):
        page.wait_for_timeout(200)       # images load before the load event; late errors get a moment
        info = page.evaluate(INSPECT_JS)
        if shot is not None:
            page.screenshot(path=str(shot))
        info["broken_images"] = [image["src"] for image in info["images"] if not image["ok"]]
        info["console_errors"] = list(errors)
    return info


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    if MISSING:
        pytest.fail(f"CI is set but {' and '.join(MISSING)} is missing: .ci/run must install it")
    root = tmp_path_factory.mktemp("browser")
    runs = root / "runs"
    fixture_runs.make_run(runs, "table1")
    fixture_runs.make_run(runs, "demo", protocol="demo", passes=[("demo", "demo")], methods=("bicubic", "ttsr"),
                          drop_columns=("lpips",), extra_metrics=(), skipped=[])
    return report.render([runs], root / "report", visual_images=1)


def _not_blank(png: Path, size: tuple[int, int]) -> bool:
    with Image.open(png) as im:
        return im.size == size and len(np.unique(np.asarray(im.convert("L").resize((64, 48))))) > 10


def test_report_loads_every_image_and_table(browser, rendered, tmp_path):
    shot = tmp_path / "shot.png"
    check = inspect(browser, rendered.index, shot)
    assert check["title"] == "TTSR reproduction report"
    assert len(check["images"]) >= 10
    assert check["broken_images"] == []
    assert check["console_errors"] == []
    for table in ("tbl-table1", "tbl-table2", "tbl-table3", "tbl-table4", "tbl-fig8", "tbl-sisr", "tbl-skipped",
                  "tbl-sources", "img-g-table1-cufed5-stitched", "perc-g-table1-cufed5-stitched",
                  "other-g-demo-demo-demo", "manifest-1"):
        assert table in check["table_ids"], table
    page_tables = rendered.index.read_text(encoding="utf-8").count("<table")
    assert len(check["table_ids"]) == page_tables
    for section in ("section-table1", "perceptual", "visual", "per-image", "runs", "skipped"):
        assert section in check["sections"]
    assert _not_blank(shot, (1280, 900))


def test_sortable_tables_sort(browser, rendered):
    table = "img-g-table1-cufed5-stitched"
    column = "ttsr-rec"
    js = f"""() => {{
      var t = document.getElementById('{table}');
      var col = Array.prototype.findIndex.call(t.tHead.rows[0].cells, function (c) {{
        return c.textContent.trim().indexOf('{column}') === 0; }});
      function values() {{ return Array.prototype.map.call(t.tBodies[0].rows, function (r) {{
        return parseFloat(r.cells[col].getAttribute('data-sort')); }}); }}
      t.tHead.rows[0].cells[col].click();
      var first = values();
      t.tHead.rows[0].cells[col].click();
      return {{col: col, first: first, second: values()}};
    }}"""
    with open_page(browser, rendered.index) as (page, errors):
        result = page.evaluate(js)
        assert errors == []
    assert result["col"] > 0
    assert result["first"] == sorted(result["first"], reverse=True)
    assert result["second"] == sorted(result["second"])


def test_broken_image_and_console_error_are_detected(browser, tmp_path):
    """The check itself must see what it is there to catch."""
    Image.new("RGB", (8, 8), (200, 10, 10)).save(tmp_path / "ok.png")
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><head><link rel='icon' href='data:,'><title>t</title></head><body>"
                    "<img src='ok.png'><img src='missing.png'><table id='x'><tr><td>1</td></tr></table>"
                    "<script>console.error('boom');</script></body></html>", encoding="utf-8")
    check = inspect(browser, page)
    assert check["broken_images"] == ["missing.png"]
    assert any("boom" in e for e in check["console_errors"])
    assert check["table_ids"] == ["x"]


def test_report_screenshot_option(rendered, tmp_path, capsys):
    shot = tmp_path / "sub" / "report.png"
    assert report.main(["--runs", str(rendered.index.parent.parent / "runs"), "--out", str(tmp_path / "rep"),
                        "--screenshot", str(shot)]) == 0
    assert f"screenshot: {shot}" in capsys.readouterr().out
    assert _not_blank(shot, (1280, 1500))
    assert _not_blank(screenshot(rendered.index, tmp_path / "small.png", width=640, height=480), (640, 480))
