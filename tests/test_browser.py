"""The report in a real browser: headless Chromium loads index.html from file://, every image decodes,
every table is there, no console errors, the sortable tables sort. Skips when Chromium is absent
(CI installs it: .ci/run)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

import fixture_runs
from benchmarks import report
import browser_client as browser

CHROMIUM = browser.find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Chromium is not installed (apt-get install chromium, or set $TTSR_CHROMIUM); CI installs it")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    if CHROMIUM is None:
        pytest.fail("CI is set but Chromium is missing: .ci/run must install it")
    root = tmp_path_factory.mktemp("browser")
    runs = root / "runs"
    fixture_runs.make_run(runs, "table1")
    fixture_runs.make_run(runs, "demo", protocol="demo", passes=[("demo", "demo")], methods=("bicubic", "ttsr"),
                          drop_columns=("lpips",), extra_metrics=(), skipped=[])
    return report.render([runs], root / "report", visual_images=1)


def test_report_loads_every_image_and_table(rendered, tmp_path):
    shot = tmp_path / "shot.png"
    check = browser.check_report(rendered.index, shot, full_page=False)
    assert check.title == "TTSR reproduction report"
    assert len(check.images) >= 10
    assert check.broken_images == []
    assert check.console_errors == []
    for table in ("tbl-table1", "tbl-table2", "tbl-table3", "tbl-table4", "tbl-fig8", "tbl-sisr", "tbl-skipped",
                  "tbl-sources", "img-g-table1-cufed5-stitched", "perc-g-table1-cufed5-stitched",
                  "other-g-demo-demo-demo", "manifest-1"):
        assert table in check.table_ids, table
    page_tables = rendered.index.read_text(encoding="utf-8").count("<table")
    assert len(check.tables) == page_tables
    for section in ("section-table1", "perceptual", "visual", "per-image", "runs", "skipped"):
        assert section in check.sections
    with Image.open(shot) as im:
        assert im.size == (1280, 900)
        assert len(np.unique(np.asarray(im.convert("L").resize((64, 48))))) > 10  # not a blank page


def test_sortable_tables_sort(rendered):
    table = "img-g-table1-cufed5-stitched"
    column = "ttsr-rec"
    js = f"""(function () {{
      var t = document.getElementById('{table}');
      var col = Array.prototype.findIndex.call(t.tHead.rows[0].cells, function (c) {{
        return c.textContent.trim().indexOf('{column}') === 0; }});
      function values() {{ return Array.prototype.map.call(t.tBodies[0].rows, function (r) {{
        return parseFloat(r.cells[col].getAttribute('data-sort')); }}); }}
      t.tHead.rows[0].cells[col].click();
      var first = values();
      t.tHead.rows[0].cells[col].click();
      return JSON.stringify({{col: col, first: first, second: values()}});
    }})()"""
    with browser.open_page(rendered.index) as page:
        result = json.loads(page.evaluate(js))
        assert page.console_errors == []
    assert result["col"] > 0
    assert result["first"] == sorted(result["first"], reverse=True)
    assert result["second"] == sorted(result["second"])


def test_broken_image_and_console_error_are_detected(tmp_path):
    """The check itself must see what it is there to catch."""
    Image.new("RGB", (8, 8), (200, 10, 10)).save(tmp_path / "ok.png")
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><head><link rel='icon' href='data:,'><title>t</title></head><body>"
                    "<img src='ok.png'><img src='missing.png'><table id='x'><tr><td>1</td></tr></table>"
                    "<script>console.error('boom');</script></body></html>", encoding="utf-8")
    check = browser.check_report(page)
    assert check.broken_images == ["missing.png"]
    assert any("boom" in e for e in check.console_errors)
    assert check.table_ids == ["x"]
