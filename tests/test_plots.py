"""Plots leave NaN/±inf out, take axis limits from finite values only, and never raise; a report of
a run holding an exact reproduction (PSNR at the cap, or +inf from an older run) renders."""
from __future__ import annotations

import csv
import math
import re

import numpy as np
import pytest
from PIL import Image

from benchmarks import report
from benchmarks.report import plots
from tests.fixture_runs import make_run

INF, NAN = math.inf, math.nan


@pytest.fixture
def drawn(monkeypatch):
    """Each saved figure's axes: [(xlim, ylim, texts, path)], recorded just before it is written."""
    seen = []
    save = plots._save

    def record(fig, path):
        ax = fig.axes[0]
        seen.append((ax.get_xlim(), ax.get_ylim(), [t.get_text() for t in ax.texts], path))
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", record)
    return seen


def _is_png(path):
    with Image.open(path) as image:
        return image.format == "PNG" and image.size[0] > 0


def _within(limits, low, high):
    return all(math.isfinite(v) for v in limits) and limits[0] <= low and limits[1] >= high


def test_finite_filters_none_nan_inf_and_non_numbers():
    assert [plots._finite(v) for v in (1, 2.5, np.float32(3), np.float64(30.1))] == [True] * 4
    assert [plots._finite(v) for v in (None, NAN, INF, -INF, np.inf, np.float64("nan"), "30", True)] == [False] * 8


def test_psnr_vs_level_leaves_out_non_finite(tmp_path, drawn):
    measured = {"ttsr": {"L1": 26.0, "L2": INF, "L3": NAN, "L4": 25.0}, "srntt": {"L1": INF}}
    paper = {"ttsr": {"L1": 26.5, "L2": -INF}}
    path = plots.psnr_vs_level(["L1", "L2", "L3", "L4"], measured, paper, tmp_path / "level.png")
    assert _is_png(path)
    _, ylim, texts, _ = drawn[-1]
    assert _within(ylim, 25.0, 26.5) and ylim[1] - ylim[0] < 5 and texts == []


def test_bars_vs_paper_limits_from_finite_values(tmp_path, drawn):
    path = plots.bars_vs_paper(["a", "b", "c", "d"], [27.0, INF, NAN, None], [27.5, INF, 26.0, NAN],
                               tmp_path / "bars.png", random_methods=["b"])
    assert _is_png(path)
    _, ylim, texts, _ = drawn[-1]
    assert ylim == pytest.approx((24.0, 28.5)) and texts == []      # min 26 − 2, max 27.5 + 1


def test_per_image_vs_bicubic_leaves_out_non_finite(tmp_path, drawn):
    path = plots.per_image_vs_bicubic([24.0, INF, 25.0, NAN], {"ttsr": [26.0, 30.0, INF, 27.0], "x": [INF] * 4},
                                      tmp_path / "scatter.png")
    assert _is_png(path)
    xlim, ylim, texts, _ = drawn[-1]
    assert _within(xlim, 23.5, 24.5) and _within(ylim, 23.5, 26.5) and texts == []
    assert xlim[1] < 30 and ylim[1] < 30       # the inf and NaN pairs are out, so is (inf, 30)


def test_perception_distortion_leaves_out_non_finite(tmp_path, drawn):
    points = {"ttsr": ([0.1, 0.2, NAN, 0.3], [26.0, INF, 27.0, 25.0]), "empty": ([INF], [NAN])}
    path = plots.perception_distortion(points, "LPIPS", tmp_path / "pd.png")
    assert _is_png(path)
    xlim, ylim, texts, _ = drawn[-1]
    assert _within(xlim, 0.1, 0.3) and _within(ylim, 25.0, 26.0) and ylim[1] < 40 and texts == ["ttsr"]


def test_plots_without_any_finite_value_are_empty_with_a_note(tmp_path, drawn):
    plots.psnr_vs_level(["L1", "L2"], {"ttsr": {"L1": INF, "L2": NAN}}, {}, tmp_path / "a.png")
    plots.bars_vs_paper(["a", "b"], [INF, NAN], [None, -INF], tmp_path / "b.png")
    plots.per_image_vs_bicubic([INF, NAN], {"ttsr": [30.0, 31.0]}, tmp_path / "c.png")
    plots.perception_distortion({"ttsr": ([NAN], [INF])}, "DISTS", tmp_path / "d.png")
    assert len(drawn) == 4
    for xlim, ylim, texts, path in drawn:
        assert _is_png(path), path
        assert texts == ["no finite values to plot"], path
        assert all(math.isfinite(v) for v in xlim + ylim), path


def _set_psnr(run, changes):
    """Rewrite rows.csv of a fixture run with `changes`: {(method, dataset, row index in pass): psnr}."""
    with open(run / "rows.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    seen = {}
    for row in rows:
        key = (row["method"], row["dataset"], row["ref_mode"])
        index = seen[key] = seen.get(key, -1) + 1
        value = changes.get((row["method"], row["dataset"], index))
        if value is not None:
            row["psnr"], row["ssim"] = value, "1.0"
    with open(run / "rows.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_report_of_an_exact_reproduction_renders(tmp_path):
    # One image reproduced exactly: 100.0 (the cap, runs made now) and "inf" (runs made before it).
    run = make_run(tmp_path / "runs", images=False, attention=False)
    _set_psnr(run, {("ttsr", "cufed5", 0): "100.0", ("rcan", "urban100", 1): "inf", ("bicubic", "sun80", 2): "inf"})
    result = report.render([run], tmp_path / "out")
    page = result.index.read_text(encoding="utf-8")
    sources = re.findall(r'src="(assets/plots/[^"]+\.png)"', page)
    assert len(sources) >= 8
    for src in sources:
        assert _is_png(tmp_path / "out" / src), src
