"""Which results the views show, and that every view says the same: the latest command per run
folder, a pass whole from the newest folder, stale skips dropped, one coverage count, random
weights labelled in every cell, damaged run folders refused in one line."""
from __future__ import annotations

import io
import re

import pytest

from benchmarks import report, reproduce, run
from tests.fixture_runs import make_run, random_ttsr

QUICK = ["--metrics", "psnr", "ssim"]






def _group_mean(result: report.Report, method: str, ref_mode: str) -> float:
    group = next(g for g in result.groups if g.ref_mode == ref_mode)
    return group.means[method]["psnr"]


def test_report_shows_the_latest_command_of_a_folder(clean_env):
    out = clean_env / "runs" / "demo"
    base = ["--protocol", "demo", "--methods", "ttsr", "--out", str(out), "--limit", "1", *QUICK]
    assert run.main(base + ["--weights", f"ttsr={random_ttsr(clean_env / 'A.pt', 1)}"]) == 0
    psnr_a = report.render([out], clean_env / "rep-a").groups[0].means["ttsr"]["psnr"]
    assert run.main(base + ["--weights", f"ttsr={random_ttsr(clean_env / 'B.pt', 2)}"]) == 0
    result = report.render([out], clean_env / "rep-b")
    psnr_b = _group_mean(result, "ttsr", "graded")
    assert psnr_b != psnr_a and result.groups[0].counts["ttsr"] == 1  # B's row only, not a mean of A and B
    markdown = (clean_env / "rep-b" / "report.md").read_text()
    assert f"{psnr_b:.2f}" in markdown and f"{psnr_a:.2f}" not in markdown
    assert result.runs[0].stored_rows == 2 and len(result.runs[0].rows) == 1


def test_newest_folder_gives_a_whole_pass_and_stale_skips_go(clean_env, shared_dir):
    imdn = shared_dir / "weights" / "IMDN_x4.pth"
    if not imdn.is_file():
        pytest.skip(f"{imdn} is absent")
    runs = clean_env / "runs"
    assert run.main(["--protocol", "demo", "--methods", "bicubic", "imdn", "--out", str(runs / "old"),
                     "--limit", "2", *QUICK]) == 0  # imdn skipped: weights not found
    assert "method imdn" in (runs / "old" / "skipped.json").read_text()
    assert run.main(["--protocol", "demo", "--methods", "bicubic", "imdn", "--weights", f"imdn={imdn}",
                     "--out", str(runs / "new"), "--limit", "1", *QUICK]) == 0
    result = report.render([runs], clean_env / "rep")
    for group in result.groups:  # bicubic: the newer folder's single image, not 1 new + 1 old
        assert group.counts["bicubic"] == 1
    frame = report.combined_rows(result.runs)
    assert set(frame["run"]) == {"new"}
    text = (clean_env / "rep" / "report.md").read_text()
    assert "weights IMDN_x4.pth not found" not in text  # the old folder's skip no longer holds
    html = (clean_env / "rep" / "index.html").read_text()
    assert "weights IMDN_x4.pth not found" not in html


def _counts(text: str) -> set[str]:
    return set(re.findall(r"measured \d+ of \d+ paper cells", text, flags=re.IGNORECASE))


def test_one_coverage_count_in_every_view(tmp_path, capsys):
    folder = make_run(tmp_path / "runs", "table1")
    result = report.render([folder], tmp_path / "rep")
    console = io.StringIO()
    reproduce.summarize("table1", result, strict=False, out=console, err=io.StringIO())
    view = result.tables["table1"]
    expected = f"measured {view.paper_measured_count} of {view.paper_count} paper cells"
    assert view.paper_measured_count <= view.paper_count
    assert {c.lower() for c in _counts(console.getvalue())} == {expected}
    md = (tmp_path / "rep" / "report.md").read_text()
    html = (tmp_path / "rep" / "index.html").read_text()
    assert expected in {c.lower() for c in _counts(md)} and expected in {c.lower() for c in _counts(html)}
    assert report.main(["--runs", str(folder), "--out", str(tmp_path / "rep2")]) == 0
    printed = capsys.readouterr().out
    for line in printed.splitlines():  # every table the command prints: the same count as the views
        if "paper cells" in line:
            name = line.split(":")[0].strip()
            table = result.tables[name]
            assert f"measured {table.paper_measured_count} of {table.paper_count} paper cells" in line


def test_random_weights_are_labelled_in_every_cell(tmp_path):
    folder = make_run(tmp_path / "runs", "table1", random_methods=("ttsr",))
    result = report.render([folder], tmp_path / "rep")
    cells = [c for v in result.tables.values() for r in v.rows if r.method == "ttsr"
             for c in r.cells.values() if c.measured is not None]
    assert cells and all(c.random for c in cells)
    md = (tmp_path / "rep" / "report.md").read_text()
    html = (tmp_path / "rep" / "index.html").read_text()
    assert md.count("**RANDOM WEIGHTS**: not a measurement") == len(cells)
    assert html.count("<b>RANDOM WEIGHTS</b>: not a measurement") == len(cells)
    console = reproduce.report_text.console_table(result.tables["table1"])
    ttsr_rows = [line for line in console.splitlines() if "RANDOM WEIGHTS" in line]
    assert ttsr_rows  # the console cells carry it too
    for group in result.groups:
        if "ttsr" in group.methods:
            assert "ttsr" in group.random


def test_official_weights_of_another_training_set_are_labelled_not_judged(tmp_path):
    """Table 1's rows were all retrained on CUFED: RCAN's official DIV2K weights show Δ with the label,
    never a verdict; SRNTT's official weights (trained on CUFED) and a checkpoint trained here are judged."""
    folder = make_run(tmp_path / "runs", "table1", random_methods=(),
                      weight_origins={"rcan": ("official", "DIV2K"), "srntt": ("official", "CUFED"),
                                      "ttsr-rec": ("trained here", "")})
    result = report.render([folder], tmp_path / "rep")
    rows = {r.method: r.cells for r in result.tables["table1"].rows}
    rcan, srntt, ttsr_rec = rows["rcan"]["cufed5"], rows["srntt"]["cufed5"], rows["ttsr-rec"]["cufed5"]
    assert rcan.judgement.status == "far"  # 1.5 dB above the paper: would be loud if judged
    assert rcan.status == "other-training" and not rcan.loud and rcan not in dict(result.tables["table1"].loud_cells()).values()
    assert rcan.other_training == "official weights (not the paper's training set: DIV2K)"
    for judged in (srntt, ttsr_rec):  # 3 of 126 images: "partial", but not for their weights
        assert judged.status == "partial" and not judged.other_training and judged.judgement.status == "ok"
    md = (tmp_path / "rep" / "report.md").read_text()
    html = (tmp_path / "rep" / "index.html").read_text()
    measured = [c for c in rows["rcan"].values() if c.measured is not None]
    assert md.count("official weights (not the paper's training set: DIV2K)") == len(measured)
    assert html.count("official weights (not the paper&#39;s training set: DIV2K)") + \
        html.count("official weights (not the paper's training set: DIV2K)") >= len(measured)
    assert "(trained on DIV2K)" in html  # the run's weights table says where the file comes from
    console = reproduce.report_text.console_table(result.tables["table1"])
    assert "official weights (not the paper's training set: DIV2K)" in console


@pytest.mark.parametrize("name, content, words", [
    ("manifest.json", "[1, 2]", "holds a JSON list, expected an object"),
    ("manifest.json", "{not json", "not readable JSON"),
    ("skipped.json", '{"what": "x"}', "holds a JSON dict, expected a list"),
    ("skipped.json", '[1, 2]', "item 0 is not a {what, reason, fix} record"),
    ("rows.csv", None, "not a rows file"),
    ("rows.csv", "method,dataset,protocol,ref_mode,image,psnr,ssim\nx,d,p,r,i,1e308,0.5\n", "psnr = '1e308'"),
    ("manifest.json", '{"plan": {"passes": "all"}}', "its plan is not the runner's"),
    ("manifest.json", "[" * 100000 + "]" * 100000, "not readable JSON"),
    ("manifest.json", '{"weights": [1, 2]}', "weights is [1, 2], expected object of objects"),
    ("manifest.json", '{"random_weights": 5}', "random_weights is 5, expected list of method names"),
    ("manifest.json", '{"argv": 3}', "argv is 3, expected list"),
])
def test_damaged_run_folders_give_one_line(tmp_path, capsys, name, content, words):
    folder = make_run(tmp_path / "runs", "table1", images=False)
    target = folder / name
    if content is None:
        target.write_bytes(bytes(range(256)) * 3)
    else:
        target.write_text(content)
    assert report.main(["--runs", str(folder), "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: ") and words in err and str(target) in err
    assert reproduce.main(["table1", "--no-run", "--runs", str(folder), "--reports-dir", str(tmp_path / "r2")]) == 2
    assert words in capsys.readouterr().err


def test_strict_fails_on_requested_cells_left_unmeasured(tmp_path):
    folder = make_run(tmp_path / "runs", "table1", methods=("bicubic", "ttsr-rec"), random_methods=())
    result = report.render([folder], tmp_path / "rep")
    quiet = dict(out=io.StringIO(), err=io.StringIO())
    # ttsr (in the suite, in the paper) has no measurement: a requested cell is missing
    assert reproduce.summarize("table1", result, strict=True, **quiet) == 1
    assert reproduce.summarize("table1", result, strict=False, **quiet) == 0
    # asking only for what was measured (fixture values sit within tolerance): strict passes
    assert reproduce.summarize("table1", result, strict=True, methods=["ttsr-rec"], **quiet) == 0
    empty = report.render([make_run(tmp_path / "runs2", "table4", methods=("bicubic",), passes=(("set5", "none"),),
                                    random_methods=())], tmp_path / "rep3")
    assert reproduce.summarize("table1", empty, strict=False, **quiet) == 3  # nothing measured


def test_an_attention_map_holding_pickled_objects_is_not_loaded(tmp_path):
    """The report never unpickles a run folder's .npz; such a map is left out with a note."""
    import numpy as np

    folder = make_run(tmp_path / "runs", "table1", methods=("bicubic", "ttsr"), random_methods=())
    maps = sorted((folder / "attention").rglob("*.npz"))
    marker = tmp_path / "executed"
    np.savez(maps[0], hard_index=np.array([_Payload(str(marker))], dtype=object))
    result = report.render([folder], tmp_path / "rep")
    assert not marker.exists()
    assert f"{maps[0].name}: not shown, not a plain attention map" in result.index.read_text()


class _Payload:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))

