"""report.md: text from data (image, method, run names, reasons) is escaped by one rule
(benchmarks.report.text.md_escape): no raw HTML, no broken table, no stray emphasis."""
from __future__ import annotations

import csv
import json
import re

import pytest

import fixture_runs
from benchmarks import report
from benchmarks.report.text import md_escape

BAD = "<script>alert(1)</script>|*x*"


def test_md_escape_rule():
    assert md_escape(BAD) == r"&lt;script&gt;alert(1)&lt;/script&gt;\|\*x\*"
    assert md_escape("a_b `c` [l](u) ~~s~~ \\ & <i>\nnext") == \
        r"a\_b \`c\` \[l\](u) \~\~s\~\~ \\ &amp; &lt;i&gt; next"
    assert md_escape("ttsr-rec") == "ttsr-rec" and md_escape("CUFED5 (L1 ref)") == "CUFED5 (L1 ref)"


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


@pytest.fixture(scope="module")
def markdown(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    run = fixture_runs.make_run(root, "run<b>|x", passes=[("urban100", "lr")], methods=("bicubic", "ttsr"),
                                n_images=2, images=False, attention=False, extra_metrics=("dists",),
                                skipped=[{"what": f"image {BAD}", "reason": f"{BAD} unreadable\nsecond line",
                                          "fix": "delete `it` | *now*"}])
    with open(run / "rows.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    extra = [dict(r, method=BAD) for r in rows if r["method"] == "ttsr"]  # a method named like the image too
    rows = [dict(r, image=BAD if r["image"] == "img_001" else r["image"]) for r in rows + extra]
    with open(run / "rows.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    manifest["device"]["device"] = "cpu <img src=x onerror=alert(1)>"
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    out = tmp_path_factory.mktemp("report")
    report.render([root], out, title="TTSR <i>report</i>")
    return (out / "report.md").read_text(encoding="utf-8")


def test_report_md_has_no_raw_markup_from_data(markdown):
    assert "<script" not in markdown and "<b>" not in markdown and "<img" not in markdown and "<i>" not in markdown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\\|\\*x\\*" in markdown  # shown, as text
    assert "run&lt;b&gt;\\|x" in markdown and "# TTSR &lt;i&gt;report&lt;/i&gt;" in markdown
    assert "second line" in markdown and "\nsecond line" not in markdown


def test_every_table_keeps_its_columns(markdown):
    tables, current = [], []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    assert len(tables) >= 3  # the measured group, skipped and runs tables at least
    assert any(BAD.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|").replace("*", "\\*") in line
               for table in tables for line in table)
    for table in tables:
        header = _unescaped_pipes(table[0])
        assert all(_unescaped_pipes(line) == header for line in table), table
