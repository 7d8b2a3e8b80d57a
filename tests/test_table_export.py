"""`ttsr-bench table`: results tables exported as LaTeX (booktabs), CSV and Markdown, end to end.

The demo protocol is run for real (`benchmarks.run`: bicubic, and TTSR from random weights made by the
tests) into a run folder whose name needs LaTeX escaping; its table is exported and checked against
means computed here from rows.csv. A fixture table-1 run (`fixture_runs`) checks the paper / Δ columns,
unconfirmed (⚠) cells, the best value per column (ties included) and the report's `assets/tables.tex`.
"""
from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from statistics import mean

import pytest

import fixture_runs
from benchmarks import run, table, views
from benchmarks.cli import main as cli_main
from benchmarks.report import build, latex
from benchmarks.results import read_rows
from foundation.errors import EXIT_NOTHING_MEASURED

RUN_NAME = "demo_1#&%"  # every character here needs escaping in LaTeX


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("table")
    ckpt = fixture_runs.random_ttsr(root / "ttsr-random.pt")
    folder = root / "runs" / RUN_NAME
    with pytest.MonkeyPatch.context() as patch:
        for name in ("TTSR_BENCH_DATA", "TTSR_BENCH_WEIGHTS", "TTSR_BENCH_CONFIG", "TTSR_BENCH_SETTINGS"):
            patch.delenv(name, raising=False)
        patch.chdir(root)
        assert run.main(["--protocol", "demo", "--methods", "bicubic", "ttsr", "--weights", f"ttsr={ckpt}",
                         "--out", str(folder), "--limit", "2", "--metrics", "psnr", "ssim"]) == 0
    return folder


def _means(folder: Path) -> dict[tuple[str, str], dict[str, object]]:
    """(method, ref_mode) -> mean psnr / ssim, image count and config_id, computed from rows.csv."""
    groups = defaultdict(list)
    for row in read_rows(folder / "rows.csv")[1]:
        groups[row["method"], row["ref_mode"]].append(row)
    return {key: {"psnr": mean(float(r["psnr"]) for r in rows), "ssim": mean(float(r["ssim"]) for r in rows),
                  "images": len(rows), "config_id": rows[0]["config_id"]} for key, rows in groups.items()}


def _balanced(text: str) -> bool:
    depth = 0
    for char in re.sub(r"\\[{}]", "", text):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _body(text: str) -> list[list[str]]:
    """The cells of the tabular's body rows (between \\midrule and \\bottomrule)."""
    body = text.split("\\midrule\n", 1)[1].split("\\bottomrule", 1)[0]
    return [line.removesuffix(" \\\\").split(" & ") for line in body.strip().splitlines()]


def _bold_measured(text: str, columns: int, lead: int = 1) -> dict[tuple[int, int], list[tuple[str, str]]]:
    """(column index, 0 PSNR | 1 SSIM) -> [(row label, bold figure)] of the Measured sub-columns."""
    bold = defaultdict(list)
    for cells in _body(text):
        for i in range(columns):
            for k, figure in enumerate(cells[lead + 3 * i + 1].split(" / ")):
                found = re.fullmatch(r"\\textbf\{([^}]*)\}(\\textsuperscript\{\\[A-Za-z]+\})?", figure)
                if found:
                    bold[i, k].append((cells[0], found.group(1)))
    return bold


def test_demo_run_exported_as_csv_holds_the_rows_means(demo_run, tmp_path, capsys):
    out = tmp_path / "demo.csv"
    assert cli_main(["table", "--runs", str(demo_run), "--table", "runs", "--out", str(out)]) == 0
    assert f"table: {out} (csv)" in capsys.readouterr().out
    with open(out, newline="", encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    means = _means(demo_run)
    assert sorted((line["method"], line["ref_mode"]) for line in lines) == sorted(means) == [
        ("bicubic", "graded"), ("bicubic", "none"), ("ttsr", "graded")]
    for line in lines:
        want = means[line["method"], line["ref_mode"]]
        assert float(line["psnr"]) == pytest.approx(want["psnr"], abs=1e-9)
        assert float(line["ssim"]) == pytest.approx(want["ssim"], abs=1e-12)
        assert int(line["images"]) == want["images"] == 2 and line["config_id"] == want["config_id"]
        assert line["run"] == RUN_NAME and line["table"] == "runs"
        assert line["random"] == str(line["method"] == "ttsr")
        # --limit 2: every cell holds two of the demo set's four images, so no cell competes for best
        assert line["best"] == ""
        assert line["paper_psnr"] == line["delta_psnr"] == ""  # no paper table holds the demo set


def test_demo_run_exported_as_latex(demo_run, tmp_path):
    out = tmp_path / "demo.tex"
    assert table.main(["--runs", str(demo_run), "--table", "runs", "--format", "latex", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert _balanced(text)
    assert [text.count(rule) for rule in ("\\toprule", "\\midrule", "\\bottomrule")] == [1, 1, 1]
    assert text.count("\\begin{tabular}{l rrr rrr}") == 1  # two passes, paper / measured / delta each
    assert "\\multicolumn{3}{c}{demo/graded, demo} & \\multicolumn{3}{c}{demo/none, demo}" in text
    # the run folder's name is escaped, in the caption; every config id is named in the notes
    assert "\\texttt{demo\\_1\\#\\&\\%}" in text and RUN_NAME not in text
    means = _means(demo_run)
    for (method, ref_mode), want in means.items():
        assert want["config_id"] in text
    rows = {cells[0]: cells for cells in _body(text)}
    assert set(rows) == {"bicubic", "ttsr\\textsuperscript{\\dag}"}  # random weights: the † mark
    assert "\\textsuperscript{\\dag} random or test-made weights" in text
    graded = means["bicubic", "graded"]
    partial = "\\textsuperscript{\\S}"  # --limit 2: two of the demo set's four images
    assert rows["bicubic"][2] == f"{graded['psnr']:.2f} / {graded['ssim']:.3f}" + partial  # § cells are never bold
    ttsr = means["ttsr", "graded"]
    assert rows["ttsr\\textsuperscript{\\dag}"][2] == f"{ttsr['psnr']:.2f} / {ttsr['ssim']:.3f}" + partial
    assert partial + " measured on part of the test set (never bold: not compared)" in text
    assert rows["ttsr\\textsuperscript{\\dag}"][4:] == ["--", "--", "--"]  # no SISR pass for a RefSR method
    assert _bold_measured(text, columns=2) == {} and "\\textbf" not in text
    _compile(text, tmp_path)


@pytest.fixture
def full_sets(monkeypatch):
    """The fixture runs' three images per test set count as the whole set (not §), so their cells compete."""
    monkeypatch.setattr(views, "expected_count", lambda dataset: 3)


@pytest.fixture(scope="module")
def table1_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("table1")
    return fixture_runs.make_run(root / "runs", "table1", random_methods=("ttsr",), images=False, attention=False,
                                 methods=("bicubic", "rcan", "srntt", "ttsr", "ttsr-rec", "my_method%&"))


def test_paper_table_latex_marks_best_unconfirmed_and_random(table1_run, tmp_path, full_sets):
    shown = build.build_views([table1_run])
    view = shown.tables["table1"]
    text = latex.table_latex(view)
    assert _balanced(text) and "\\label{tab:ttsr-bench-table1}" in text
    columns = len(view.columns)
    rows = {cells[0]: cells for cells in _body(text)}
    assert "my\\_method\\%\\&" in rows  # a method name from rows.csv, escaped
    assert not any("⚠" in line or "Δ" in line or "−" in line for line in text.splitlines()[2:])
    # MDSR's paper cells are unconfirmed (⚠ in published.toml): the ‡ mark, explained in the notes
    assert rows["MDSR"][1] == "25.93\\textsuperscript{\\ddag} / 0.777\\textsuperscript{\\ddag}"
    assert "\\textsuperscript{\\ddag} paper figure not confirmed" in text
    # TTSR-rec on CUFED5: paper, measured, Δ = measured − paper, all at the paper's precision
    cell = view.rows[[r.method for r in view.rows].index("ttsr-rec")].cells["cufed5"]
    paper, measured, delta = rows["TTSR-rec"][1:4]
    assert paper == "27.09 / 0.804"
    assert measured.startswith(f"{cell.measured.psnr:.2f} / ")
    assert delta.startswith(f"${cell.measured.psnr - 27.09:+.2f}$ / ")
    # one bold figure per column and measure, at the best value among non-random methods
    bold = _bold_measured(text, columns)
    for i, column in enumerate(view.columns):
        for k, metric in enumerate(("psnr", "ssim")):
            values = {r.label: getattr(r.cells[column.key].measured, metric) for r in view.rows
                      if r.cells[column.key].measured is not None and not r.random}
            best = max(values.values())
            digits = 2 if metric == "psnr" else 3
            winners = {label for label, v in values.items() if round(v, digits) == round(best, digits)}
            assert sorted(label for label, _ in bold[i, k]) == sorted(latex.latex_escape(w) for w in winners)
            assert {figure for _, figure in bold[i, k]} == {f"{best:.{digits}f}"}
    assert bold[0, 0] == [("RCAN", f"{view.rows[[r.method for r in view.rows].index('rcan')].cells['cufed5'].measured.psnr:.2f}")]
    # TTSR (random weights) is measured highest nowhere it could be bold, and never is
    assert not any(label.startswith("TTSR\\textsuperscript") for found in bold.values() for label, _ in found)
    _compile(text, tmp_path)


def test_ties_at_the_printed_precision_are_all_bold(table1_run, full_sets):
    view = build.build_views([table1_run]).tables["table1"]
    by_method = {r.method: r for r in view.rows}
    rcan, srntt = (by_method[m].cells["cufed5"].measured for m in ("rcan", "srntt"))
    srntt.psnr, rcan.psnr = round(rcan.psnr, 2), round(rcan.psnr, 2) + 0.002  # both print as the same figure
    assert view.best("psnr", 2)["cufed5"] == {"rcan", "srntt"} and view.best("psnr")["cufed5"] == {"rcan"}
    assert view.best("lpips")["cufed5"] <= {"bicubic", "rcan", "srntt", "ttsr-rec", "my_method%&"}  # lower wins
    text = latex.table_latex(view)
    bold = _bold_measured(text, len(view.columns))
    assert sorted(label for label, _ in bold[0, 0]) == ["RCAN", "SRNTT"]


def test_captions_flags_and_parameter_counts(table1_run):
    shown = build.build_views([table1_run])
    text = latex.table_latex(shown.tables["table1"])
    assert "\\caption{PSNR/SSIM (x4, Y channel, no border crop) on four test sets (the paper's Table 1). " in text
    assert "measured in run folder(s) \\texttt{table1}" in text
    # Table 3 (its CSFI row measured as ttsr-rec): the paper's flag column and parameter counts (M = 2^20)
    text = latex.table_latex(shown.tables["table3"])
    assert "Method & CSFI & Params (paper) & Params (suite) & Paper & Measured & $\\Delta$ \\\\" in text
    rows = {cells[0]: cells for cells in _body(text)}
    assert rows["Base+TT+CSFI"][1:4] == ["\\checkmark", "6.42M\\textsuperscript{\\ddag}", "6.42M"]
    assert rows["Base+TT+CSFI"][6] != "--" and rows["Base+TT"][5:] == ["--", "--"]
    assert text.count("\\begin{tabular}{lcrr rrr}") == 1


def test_report_writes_tables_tex_beside_tables_csv(table1_run, tmp_path, full_sets):
    result = build.render([table1_run], tmp_path / "rep", visual_images=0)
    tex = (tmp_path / "rep" / "assets" / "tables.tex").read_text(encoding="utf-8")
    measured = [view for view in result.tables.values() if view.measured_count]  # table1, and table3's CSFI row
    assert [v.name for v in measured][0] == "table1" and tex == latex.tables_latex(measured)
    with open(tmp_path / "rep" / "assets" / "tables.csv", newline="", encoding="utf-8") as handle:
        best = {(line["method"], line["column"]): line["best"] for line in csv.DictReader(handle)}
    assert best["rcan", "CUFED5"].split()[0] == "psnr" and best["ttsr", "CUFED5"] == ""


def test_markdown_and_default_table(table1_run, capsys):
    assert table.main(["--runs", str(table1_run), "--format", "md"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("## Table 1") and "| TTSR-rec" in text and "table1" in text
    assert table.main(["--runs", str(table1_run)]) == 0  # default: the measured paper tables, as LaTeX
    measured = [n for n, v in build.build_views([table1_run]).tables.items() if v.measured_count]
    text = capsys.readouterr().out
    assert len(measured) > 1 and text.count("\\begin{table*}") == len(measured)
    assert [f"\\label{{tab:ttsr-bench-{n}}}" in text for n in measured] == [True] * len(measured)


def test_unknown_table_is_one_line(table1_run, capsys):
    assert cli_main(["table", "--runs", str(table1_run), "--table", "table9"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--table table9" in err and "table1" in err and "runs" in err


@pytest.fixture(scope="module")
def mixed_runs(tmp_path_factory):
    """`table --runs A B`: A measures five methods on all three images of CUFED5 and Sun80; B, newer, measures
    RCAN again on one CUFED5 image only (its highest PSNR, +1.5 dB over the paper: the pass shown, partial)."""
    root = tmp_path_factory.mktemp("mixed")
    fixture_runs.make_run(root, "a_full", methods=("bicubic", "rcan", "srntt", "ttsr", "ttsr-rec"),
                          passes=[("cufed5", "stitched"), ("sun80", "random")], images=False, attention=False)
    newer = fixture_runs.make_run(root, "b_newer", methods=("rcan",), passes=[("cufed5", "stitched")], n_images=1,
                                  seed=5, images=False, attention=False)
    manifest = json.loads((newer / "manifest.json").read_text(encoding="utf-8"))
    manifest["created"] = "2026-02-01T00:00:00+00:00"
    (newer / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return root


def test_a_partial_cell_never_beats_full_cells(mixed_runs, tmp_path, full_sets):
    view = build.build_views([mixed_runs]).tables["table1"]
    measured = {r.method: r.cells["cufed5"].measured for r in view.rows if r.cells["cufed5"].measured}
    rcan, ttsr_rec = measured["rcan"], measured["ttsr-rec"]
    assert (rcan.run, rcan.images, rcan.partial) == ("b_newer", 1, True)
    assert (ttsr_rec.run, ttsr_rec.images, ttsr_rec.partial) == ("a_full", 3, False)
    assert rcan.psnr > ttsr_rec.psnr + 0.4  # the highest PSNR of the column, on one image of three
    assert view.best("psnr", 2) == {"cufed5": {"ttsr-rec"}, "sun80": {"rcan"}}  # RCAN full on Sun80: best there
    assert view.best("ssim", 3) == {"cufed5": {"ttsr-rec"}, "sun80": {"ttsr-rec"}}
    text = table.export([mixed_runs], ["table1"], "latex")
    rows = {cells[0]: cells for cells in _body(text)}
    assert rows["RCAN"][2] == f"{rcan.psnr:.2f} / {rcan.ssim:.3f}\\textsuperscript{{\\S}}"  # §, not bold
    assert rows["TTSR-rec"][2] == f"\\textbf{{{ttsr_rec.psnr:.2f}}} / \\textbf{{{ttsr_rec.ssim:.3f}}}"
    bold = _bold_measured(text, len(view.columns))
    assert {key: [label for label, _ in found] for key, found in bold.items()} == {
        (0, 0): ["TTSR-rec"], (0, 1): ["TTSR-rec"], (1, 0): ["RCAN"], (1, 1): ["TTSR-rec"]}
    # the CSV's best and the Markdown's bold are the same cells
    with open(tmp_path / "t.csv", "w", encoding="utf-8") as handle:
        handle.write(table.export([mixed_runs], ["table1"], "csv"))
    with open(tmp_path / "t.csv", newline="", encoding="utf-8") as handle:
        best = {(line["method"], line["column"]): line["best"] for line in csv.DictReader(handle) if line["best"]}
    assert best == {("ttsr-rec", "CUFED5"): "psnr ssim", ("rcan", "Sun80"): "psnr", ("ttsr-rec", "Sun80"): "ssim",
                    ("bicubic", "CUFED5"): "lpips", ("bicubic", "Sun80"): "lpips"}  # the fixture's LPIPS: random


def test_cells_over_other_images_do_not_compete(mixed_runs, monkeypatch):
    """With no known test-set size the images are compared by name: RCAN's one CUFED5 image is not the
    column's three, so RCAN does not compete there."""
    monkeypatch.setattr(views, "expected_count", lambda dataset: None)
    view = build.build_views([mixed_runs]).tables["table1"]
    assert not view.rows[[r.method for r in view.rows].index("rcan")].cells["cufed5"].measured.partial
    assert view.best("psnr", 2)["cufed5"] == {"ttsr-rec"}
    # same count, other images: neither covers the column's set; random weights never compete
    cell = dict(psnr=None, ssim=None, lpips=None, expected=None, protocol="p", run="r")
    ab = views.Measured(images=2, image_names=("a", "b"), **cell)
    ac = views.Measured(images=2, image_names=("a", "c"), **cell)
    abc = views.Measured(images=3, image_names=("a", "b", "c"), **cell)
    assert views.best_of({"x": (30.0, ab, False), "y": (29.0, ac, False)}, "psnr") == set()
    assert views.best_of({"x": (30.0, ab, False), "y": (29.0, ac, False), "z": (20.0, abc, False)}, "psnr") == {"z"}
    assert views.best_of({"x": (30.0, abc, True), "z": (20.0, abc, False)}, "psnr") == {"z"}
    assert views.best_of({"x": (0.1, abc, False), "z": (0.2, abc, False)}, "lpips") == {"x"}  # lower wins


def test_markdown_bolds_only_the_best(mixed_runs, tmp_path, capsys, full_sets):
    out = tmp_path / "t.md"
    assert table.main(["--runs", str(mixed_runs), "--table", "table1", "--out", str(out)]) == 0  # md from .md
    assert f"table: {out} (md)" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    view = build.build_views([mixed_runs]).tables["table1"]
    cells = {r.method: r.cells for r in view.rows}
    figures = re.findall(r"\*\*([0-9.]+)\*\*", text)
    assert figures == [f"{cells['rcan']['sun80'].measured.psnr:.3f}",           # the RCAN row comes first
                       f"{cells['ttsr-rec']['cufed5'].measured.psnr:.3f}", f"{cells['ttsr-rec']['cufed5'].measured.ssim:.4f}",
                       f"{cells['ttsr-rec']['sun80'].measured.ssim:.4f}"]
    assert len(figures) == sum(len(w) for m in ("psnr", "ssim") for w in view.best(m, views.PAPER_DIGITS[m]).values())
    assert f"{cells['rcan']['cufed5'].measured.psnr:.3f} / {cells['rcan']['cufed5'].measured.ssim:.4f} (1/3 img)" in text


def test_nothing_measured_is_one_line_exit_3_and_no_file(demo_run, tmp_path, capsys):
    empty = fixture_runs.make_run(tmp_path / "runs", "empty", methods=(), images=False, attention=False)
    for argv, what in ((["--runs", str(empty)], "any table"), (["--runs", str(empty), "--table", "runs"], "--table runs"),
                       (["--runs", str(demo_run), "--table", "table1"], "--table table1"),
                       (["--runs", str(demo_run), "--table", "runs", "table1"], "--table table1")):
        out = tmp_path / "t.tex"
        assert cli_main(["table", *argv, "--out", str(out)]) == EXIT_NOTHING_MEASURED == 3
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1 and not out.exists()
        assert captured.err.startswith(f"table: nothing was measured in {argv[1]} for {what}; nothing written")
    assert cli_main(["table", "--runs", str(empty), "--format", "md"]) == 3 and capsys.readouterr().out == ""


def test_out_suffix_decides_the_format(demo_run, tmp_path, capsys):
    for name, extra, why in (("t.pdf", [], "this writes LaTeX source, not a PDF"), ("t.txt", [], "unknown suffix .txt"),
                             ("t.pdf", ["--format", "latex"], "not a PDF"), ("t", [], "unknown suffix (none)"),
                             ("t.csv", ["--format", "latex"], "a .csv file but --format latex")):
        out = tmp_path / name
        assert cli_main(["table", "--runs", str(demo_run), "--table", "runs", "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"error: --out {out}: ") and why in err and not out.exists()
    for name, extra, fmt, start in (("t.TEX", [], "latex", "% ttsr-bench table runs"), ("t.csv", [], "csv", "table,method"),
                                    ("t.md", [], "md", "## Measured passes"), ("t.txt", ["--format", "md"], "md", "## ")):
        out = tmp_path / name
        assert cli_main(["table", "--runs", str(demo_run), "--table", "runs", "--out", str(out), *extra]) == 0
        assert capsys.readouterr().out == f"table: {out} ({fmt})\n" and out.read_text(encoding="utf-8").startswith(start)


def _compile(text: str, tmp_path: Path) -> None:
    """Compile `text` in a minimal document with pdflatex, when the machine has it."""
    if shutil.which("pdflatex") is None:
        return
    doc = tmp_path / "doc.tex"
    doc.write_text("\\documentclass{article}\n" + latex.PREAMBLE + "\n\\begin{document}\n" + text
                   + "\\end{document}\n", encoding="utf-8")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_pdflatex_compiles_the_export(demo_run, table1_run, tmp_path):
    text = table.export([demo_run, table1_run], ["runs", "table1", "table4"], "latex")
    _compile(text, tmp_path)


def test_latex_escape_every_reserved_character():
    assert latex.latex_escape("a\\b{c}~d^e $5 & 10% #1 under_score") == (
        "a\\textbackslash{}b\\{c\\}\\textasciitilde{}d\\textasciicircum{}e \\$5 \\& 10\\% \\#1 under\\_score")
    assert latex.latex_escape("27.09⚠ / Δ −0.2\nnext  line") == "27.09\\textsuperscript{\\ddag} / $\\Delta$ -0.2 next line"
