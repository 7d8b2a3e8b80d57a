"""The report renders every section from fixture runs (docs/interfaces.md "Runs" layout)."""
from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import fixture_runs
from benchmarks import report, views
from benchmarks.report import visuals


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    runs = root / "runs"
    fixture_runs.make_run(runs, "table1")
    fixture_runs.make_run(runs, "table4", protocol="table4", methods=("bicubic", "srntt-rec", "ttsr-rec"),
                          passes=[("cufed5", "l1"), ("cufed5", "l5"), ("cufed5", "lr")], n_images=2,
                          attention=False, extra_metrics=())
    fixture_runs.make_run(runs, "demo", protocol="demo", passes=[("demo", "demo")], methods=("bicubic", "ttsr"),
                          extra_metrics=(), drop_columns=("lpips", "peak_mem_mb", "seconds"), images=False,
                          skipped=[])
    # the fixture's sets count as complete, except Sun80 (3 of 80 images: a partial set)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(views, "expected_count", lambda dataset: 80 if dataset == "sun80" else None)
        result = report.render([runs], root / "out", visual_images=1)
    return result, (root / "out" / "index.html").read_text(encoding="utf-8")


def test_every_section_renders(rendered):
    result, page = rendered
    for section in ("section-table1", "section-table2", "section-table3", "section-table4", "section-fig8",
                    "section-sisr", "other", "perceptual", "visual", "per-image", "runs", "skipped", "sources"):
        assert f'id="{section}"' in page, section
    for table in ("tbl-table1", "tbl-table2", "tbl-table3", "tbl-table4", "tbl-sisr", "tbl-skipped", "tbl-sources",
                  "img-g-table1-cufed5-stitched", "perc-g-table1-cufed5-stitched", "other-g-demo-demo-demo"):
        assert f'id="{table}"' in page, table
    assert "<script src" not in page and "http://" not in page.split("<body>")[1].replace("http://127", "")
    assert "RANDOM WEIGHTS" in page and "weights RRDB_ESRGAN_x4.pth not found" in page


def test_cells_measured_paper_delta(rendered):
    result, page = rendered
    t1 = result.tables["table1"]
    ttsr_rec = t1.rows[[r.method for r in t1.rows].index("ttsr-rec")]
    cell = ttsr_rec.cells["cufed5"]
    assert cell.paper.psnr == 27.09 and cell.status == "ok"
    assert abs(cell.judgement.delta_psnr - 0.01) < 0.05
    assert ttsr_rec.cells["cufed5_l1"].paper.psnr == 26.991
    rcan = t1.rows[[r.method for r in t1.rows].index("rcan")].cells
    assert rcan["sun80"].status == "partial" and rcan["sun80"].judgement.status == "far"  # 3 of 80 images
    assert not rcan["sun80"].loud and rcan["cufed5"].status == "far" and rcan["cufed5"].loud
    assert ("table1", "RCAN") in {(n, r.label) for n, r, _ in result.loud()}
    ttsr = t1.rows[[r.method for r in t1.rows].index("ttsr")]
    assert ttsr.random and ttsr.cells["cufed5"].status == "random"
    srcnn = t1.rows[0]
    assert srcnn.method == "srcnn" and srcnn.reason.startswith("method not run")  # registered (issue 14), no weights
    assert srcnn.cells["cufed5"].measured is None and srcnn.cells["cufed5"].paper.psnr == 25.33
    # esrgan's reason comes from skipped.json
    esrgan = t1.rows[[r.method for r in t1.rows].index("esrgan")]
    assert "RRDB_ESRGAN_x4.pth" in esrgan.cells["cufed5"].reason
    # measured methods absent from the paper are extra rows
    assert not t1.rows[[r.method for r in t1.rows].index("bicubic")].in_paper
    # ⚠ marks of unconfirmed values reach the page
    assert "25.95⚠ / 0.769⚠" in page
    t4 = result.tables["table4"]
    l1 = t4.rows[[r.method for r in t4.rows].index("ttsr-rec")].cells["l1"]
    assert l1.paper_text() == "26.99 / 0.800⚠" and l1.status == "ok"
    assert t4.rows[[r.method for r in t4.rows].index("ttsr-rec")].cells["l5"].paper is None


def test_table3_params_and_aliases(rendered):
    result, _ = rendered
    t3 = result.tables["table3"]
    csfi = t3.rows[[r.method for r in t3.rows].index("ttsr-base-tt-csfi")]
    # TTSR-rec's stitched CUFED5 rows (protocol table1) fill the CSFI row
    assert csfi.cells["cufed5"].measured_as == "ttsr-rec"
    assert csfi.cells["cufed5"].measured.protocol == "table1"
    try:
        import ttsr.model  # noqa: F401
    except ImportError:
        pytest.skip("ttsr.model not importable here: parameter counts are left out")
    assert csfi.params and csfi.params > t3.rows[0].params  # CSFI adds parameters
    # with M = 2^20 (LTE included) the configurations' counts print as the paper's Table 3
    assert all(row.params_match for row in t3.rows if row.in_paper)


def test_groups_perceptual_and_directions(rendered):
    result, page = rendered
    group = next(g for g in result.groups if g.protocol == "table1" and g.dataset == "cufed5" and g.ref_mode == "stitched")
    assert group.metrics[:3] == ["psnr", "ssim", "lpips"] and "dists" in group.metrics
    assert group.best["psnr"] == {"rcan"} and group.best["lpips"] <= set(group.methods)
    assert not any("ttsr" in winners for winners in group.best.values())  # random weights never "best"
    assert "lpips ↓" in page and "psnr ↑" in page and "dists ↓" in page
    demo = next(g for g in result.groups if g.protocol == "demo")
    assert demo.metrics == ["psnr", "ssim"]  # lpips column absent from that run
    assert any(p["kind"] == "perception" for p in group.plots)


def test_bold_is_the_views_best_in_html_and_markdown(rendered):
    """The report's bold (HTML groups and paper tables, Markdown) is `TableView.best` / `GroupView.best`: Sun80
    (3 of 80 images) competes nowhere; CUFED5 (whole set here) bolds RCAN's PSNR and nothing of TTSR's."""
    result, page = rendered
    sun80 = next(g for g in result.groups if g.protocol == "table1" and g.dataset == "sun80")
    assert sun80.counts["rcan"] == 3 and sun80.best == {}
    view = result.tables["table1"]
    assert view.best("psnr", 2) == {"cufed5": {"rcan"}, "urban100": {"rcan"}, "manga109": {"rcan"},
                                    "cufed5_l1": {"ttsr-rec"}}
    rcan = view.rows[[r.method for r in view.rows].index("rcan")].cells
    tbl = page.split('id="tbl-table1"', 1)[1].split("</table>", 1)[0]
    bold = re.findall(r'<span class="best">([^<]*)</span>', tbl)
    assert f"{rcan['cufed5'].measured.psnr:.3f}" in bold and f"{rcan['sun80'].measured.psnr:.3f}" not in bold
    assert len(bold) == sum(len(w) for m in ("psnr", "ssim") for w in view.best(m, views.PAPER_DIGITS[m]).values())
    assert all(re.fullmatch(r"[0-9.]+", b) for b in bold)
    assert not any("ttsr" in w for m in ("psnr", "ssim") for w in view.best(m, views.PAPER_DIGITS[m]).values())
    perc = page.split('id="perc-' + sun80.anchor + '"', 1)[1].split("</table>", 1)[0]
    assert ' best"' not in perc and "num best" not in perc  # no bold in a partial pass's group table
    readme = (result.out / "report.md").read_text(encoding="utf-8")
    table1 = readme.split("## Table 1:", 1)[1].split("\n## ", 1)[0]
    assert len(re.findall(r"\*\*[0-9.]+\*\*", table1)) == len(bold)


def test_visual_comparisons_and_thumbnails(rendered):
    result, page = rendered
    out = result.out
    crops = sorted((out / "assets" / "img").glob("*-crop-*.png"))
    refs = sorted((out / "assets" / "img").glob("*-ref-ttsr*.jpg"))
    assert crops and refs
    assert 'class="comparison"' in page and "distinct reference patches" in page
    for src in re.findall(r'src="([^"]+)"', page):
        assert not src.startswith(("/", "http")) and (out / src).is_file(), src


def test_markdown(rendered):
    result, _ = rendered
    readme = (result.out / "README.md").read_text(encoding="utf-8")
    assert readme == (result.out / "report.md").read_text(encoding="utf-8")
    assert "## Table 1:" in readme and "### SISR calibration" in readme and "## Perceptual measures" in readme
    assert "## Paper tables not measured in these runs" in readme
    assert "| Method" in readme and "|---" in readme.replace(" ", "").replace(":", "-") or "|--" in readme
    assert "paper 27.09 / 0.804" in readme and "⚠" in readme and "LPIPS 0." in readme
    assert "![" in readme and "](assets/plots/" in readme
    assert "## Skipped" in readme


def test_attention_region_maps_lr_positions_to_reference():
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "a.npz"
        lr_hw, ref_hw = (4, 6), (16, 32)           # HR 16×24; reference lv3 grid 4×8
        index = np.zeros(lr_hw[0] * lr_hw[1], dtype=np.int64)
        index[1 * 6 + 2] = 3 * 8 + 5               # LR (1, 2) -> ref lv3 (3, 5)
        np.savez(npz, hard_index=index[None], S=np.ones((1, 1) + lr_hw), lr_size=np.array(lr_hw),
                 ref_size=np.array(ref_hw))
        region = visuals.attention_region(npz, (8, 4, 12, 8), (16, 24), ref_hw)  # HR crop covering LR (1, 2)
        assert region.boxes == [(20, 12, 23, 15)] and region.positions == 1 and region.mean_confidence == 1.0
        whole = visuals.attention_region(npz, (0, 0, 24, 16), (16, 24), ref_hw)
        assert whole.positions == 24 and whole.distinct == 2


def test_thumbnails_are_reencoded_small(tmp_path):
    runs = tmp_path / "runs"
    fixture_runs.make_run(runs, "big", passes=[("cufed5", "stitched")], n_images=1, size=(1000, 640),
                          methods=("bicubic", "ttsr-rec"))
    result = report.render([runs], tmp_path / "out", visual_images=1)
    full = next((result.out / "assets" / "img").glob("*-full.jpg"))
    with Image.open(full) as im:
        assert im.format == "JPEG" and max(im.size) <= 480
    for crop in (result.out / "assets" / "img").glob("*-crop-*.png"):
        with Image.open(crop) as im:
            assert max(im.size) <= 256


def test_missing_columns_and_empty_sections(tmp_path):
    runs = tmp_path / "runs"
    fixture_runs.make_run(runs, "bare", protocol="table2", passes=[("cufed5", "stitched")], n_images=2,
                          methods=("bicubic", "ttsr-base"), images=False, attention=False, extra_metrics=(),
                          drop_columns=("ssim", "lpips", "seconds", "peak_mem_mb"), random_methods=(), skipped=[])
    (runs / "bare" / "manifest.json").unlink()
    (runs / "bare" / "skipped.json").unlink()
    result = report.render([runs], tmp_path / "out")
    page = result.index.read_text(encoding="utf-8")
    assert "Nothing was skipped" in page and "No saved images" in page and "No perceptual measure" in page
    cell = result.tables["table2"].rows[0].cells["cufed5"]
    assert cell.measured.psnr is not None and cell.measured.ssim is None and cell.judgement is not None


def test_cli_and_bad_input(tmp_path, capsys):
    runs = tmp_path / "runs"
    fixture_runs.make_run(runs, "r", passes=[("urban100", "lr")], n_images=1, images=False, attention=False)
    assert report.main(["--runs", str(runs), "--out", str(tmp_path / "out")]) == 0
    assert "report:" in capsys.readouterr().out
    # re-rendering into its own folder is fine; a folder with someone else's index.html is not
    assert report.main(["--runs", str(runs / "r"), "--out", str(tmp_path / "out")]) == 0
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "index.html").write_text("mine", encoding="utf-8")
    assert report.main(["--runs", str(runs), "--out", str(foreign)]) == 2
    # a README.md that is not a report (like the committed reports/README.md) stays; report.md has the tables
    placeholder = tmp_path / "reports"
    placeholder.mkdir()
    (placeholder / "README.md").write_text("# reports/\nGenerated output lands here.\n", encoding="utf-8")
    assert report.main(["--runs", str(runs), "--out", str(placeholder)]) == 0
    assert (placeholder / "README.md").read_text(encoding="utf-8").startswith("# reports/")
    assert (placeholder / "report.md").read_text(encoding="utf-8").startswith("# TTSR reproduction report")
    assert report.main(["--runs", str(runs), "--out", str(tmp_path / "out")]) == 0  # its own README is renewed
    assert (tmp_path / "out" / "README.md").read_text(encoding="utf-8").startswith("# TTSR reproduction report")
    assert report.main(["--runs", str(tmp_path / "nope"), "--out", str(tmp_path / "o2")]) == 2
    assert "no such run folder" in capsys.readouterr().err


def test_large_run_renders_in_seconds(tmp_path):
    """4 datasets × 15 methods × 100 images of rows (no images): a few seconds."""
    methods = ("bicubic", "ttsr", "ttsr-rec", "srntt", "srntt-rec", "imdn", "rfdn", "carn-m", "edsr", "mdsr",
               "rcan", "esrgan", "rrdb-psnr", "msrresnet", "msrgan")
    runs = tmp_path / "runs"
    fixture_runs.make_run(runs, "big", methods=methods, passes=fixture_runs.DEFAULT_PASSES[:4], n_images=100,
                          images=False, attention=False)
    started = time.perf_counter()
    result = report.render([runs], tmp_path / "out")
    elapsed = time.perf_counter() - started
    assert len(result.groups) == 4 and sum(len(g.images) for g in result.groups) == 400
    assert elapsed < 30, f"rendering took {elapsed:.1f} s"


def test_tables_csv_holds_every_cell_of_the_measured_tables(tmp_path):
    """assets/tables.csv renders the same views as report.md: one line per measured or paper cell."""
    import csv

    folder = fixture_runs.make_run(tmp_path / "runs", "table1", random_methods=("ttsr",))
    result = report.render([folder], tmp_path / "rep")
    with open(tmp_path / "rep" / "assets" / "tables.csv", newline="", encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    view = result.tables["table1"]
    cells = [(r, c) for r, c in view.cells() if c.measured is not None or c.paper is not None]
    mine = [line for line in lines if line["table"] == "table1"]
    assert len(mine) == len(cells) and {line["table"] for line in lines} <= set(result.tables)
    assert {line["status"] for line in mine if line["method"] == "ttsr" and line["psnr"]} == {"random"}
    assert "assets/tables.csv" in (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
