"""Published numbers: the data file parses, lookups find the paper's cells, ⚠ marks survive."""
from __future__ import annotations

import pytest

from benchmarks import published


def test_every_table_parses_with_sources():
    tables = published.tables()
    assert {"table1", "table2", "table3", "table4", "sisr", "fig8"} <= set(tables)
    srcs = published.sources()
    for name, t in tables.items():
        assert t.columns and t.rows, name
        for cell in published.cells(name):
            assert cell.source in srcs, (name, cell)
            assert cell.psnr is not None and 15 < cell.psnr < 40
            assert cell.ssim is not None and 0.5 < cell.ssim < 1


def test_table1_lookup_confirmed_cells():
    cell = published.lookup("table1", "ttsr-rec", "cufed5", "stitched")
    assert (cell.psnr, cell.ssim, cell.source, cell.confirmed) == (27.09, 0.804, "S1", True)
    assert cell.mark == ""
    # ref_mode None takes the paper's column (stitched), aliases are accepted
    assert published.lookup("table1", "ttsr-rec", "cufed5") == cell
    assert published.lookup("table1", "ttsr-rec", "CUFED5", "stitch") == cell
    release = published.lookup("table1", "ttsr-rec", "cufed5", "level1")
    assert (release.psnr, release.ssim, release.source) == (26.991, 0.8003, "S3")
    assert published.lookup("table1", "ttsr", "cufed5", "l1").psnr == 25.402
    assert published.lookup("table1", "ttsr", "urban100", "lr").psnr == 24.62
    assert published.lookup("table1", "rcan", "sun80", "random").ssim == 0.810
    assert published.lookup("table1", "bicubic", "cufed5", "stitched") is None
    assert published.lookup("table1", "ttsr", "set5", None) is None
    assert published.lookup("nope", "ttsr", "cufed5") is None


def test_unconfirmed_marks_carried():
    rdn = published.lookup("table1", "rdn", "sun80")
    assert not rdn.confirmed and rdn.mark == "⚠" and "⚠" in rdn.format()
    mdsr = published.lookup("table1", "mdsr", "cufed5")
    assert not mdsr.confirmed and "EDSR" in mdsr.note
    for cell in published.cells("table2"):
        assert not cell.confirmed
    # Table 4 L1: PSNR confirmed (S4), SSIM not
    l1 = published.lookup("table4", "ttsr-rec", "cufed5", "l1")
    assert l1.psnr == 26.99 and l1.psnr_confirmed and not l1.ssim_confirmed
    assert l1.format() == "26.99 / 0.800⚠"
    assert published.lookup("table4", "ttsr-rec", "cufed5", "l2").format() == "26.74⚠ / 0.791⚠"
    assert published.lookup("table4", "ttsr-rec", "cufed5", "l5") is None  # not a paper column
    csfi = published.table("table3").row("ttsr-rec")  # by alias
    assert csfi.method == "ttsr-base-tt-csfi" and csfi.config == {"n_feats": 64, "csfi": True}
    assert published.lookup("table3", "ttsr-base-tt-c96", "cufed5").psnr == 26.98
    assert published.lookup("table2", "ttsr-base-ha-sa", "cufed5", "stitched").psnr == 26.81
    assert csfi.params_paper["confirmed"] is False


def test_sisr_calibration_numbers():
    assert published.lookup("sisr", "imdn", "set5", None).psnr == 32.21
    assert published.lookup("sisr", "imdn", "set14", "none").ssim == 0.7811
    assert published.lookup("sisr", "carn-m", "set5", "").psnr == 31.92
    assert published.lookup("sisr", "carn-m", "set14").ssim == 0.7762
    assert published.lookup("sisr", "carn-m", "manga109") is None


@pytest.mark.parametrize("psnr,ssim,status", [
    (27.09, 0.804, "ok"), (27.094, 0.8044, "ok"), (27.2, 0.804, "off"), (26.83, 0.80, "off"),
    (25.0, 0.804, "far"), (27.09, 0.70, "far"), (None, 0.804, "ok"),
])
def test_judge(psnr, ssim, status):
    cell = published.lookup("table1", "ttsr-rec", "cufed5")
    j = published.judge("table1", cell, psnr, ssim)
    assert j.status == status
    if psnr is not None:
        assert j.delta_psnr == pytest.approx(psnr - 27.09)


def test_judge_nothing_to_compare():
    cell = published.lookup("table1", "ttsr-rec", "cufed5")
    assert published.judge("table1", None, 27.0, 0.8) is None
    assert published.judge("table1", cell, None, float("nan")) is None


def test_bad_file_is_rejected(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text('[sources]\nA = "a"\n[tables.t]\ncolumns = [{key = "x", dataset = "d"}]\n'
                   '[[tables.t.rows]]\nmethod = "m"\nsource = "B"\nx = [1.0, 0.5]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="unknown source"):
        published.tables(bad)
