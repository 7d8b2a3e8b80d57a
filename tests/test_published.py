"""Published numbers: the data file parses, its sources can be opened, lookups find the paper's cells,
⚠ marks survive, and a user's published-numbers file overrides or extends the shipped one."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks import published
from tests import fixture_runs
from foundation.errors import UserError


@pytest.fixture(autouse=True)
def no_user_files(monkeypatch):
    """Each test starts without user files (no $TTSR_BENCH_PUBLISHED, no use_files) and leaves none."""
    monkeypatch.setenv(published.ENV_VAR, "")  # recorded, so a value a test (or reproduce) sets is undone
    monkeypatch.delenv(published.ENV_VAR)
    monkeypatch.setattr(published, "_chosen", None)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _all_cells(tables) -> dict[tuple[str, str, str], published.PublishedCell]:
    return {(t.name, r.method, key): cell for t in tables.values() for r in t.rows for key, cell in r.cells.items()}


def test_every_table_parses_with_sources():
    tables = published.tables()
    assert {"table1", "table2", "table3", "table4", "sisr", "fig8"} <= set(tables)
    srcs = published.sources()
    for name, t in tables.items():
        assert t.columns and t.rows, name
        for cell in published.cells(name):
            assert cell.source in srcs, (name, cell)
            assert cell.origin_file == published.SHIPPED_NAME and not cell.from_user_file
            assert cell.psnr is not None and 15 < cell.psnr < 40
            assert cell.ssim is not None and 0.5 < cell.ssim < 1


def test_shipped_file_cites_only_openable_sources():
    """No 'brief', 'recollection', ../shared or absolute path anywhere in the shipped file; every source
    has an http(s) URL; a repository file is cited at a commit that its URL holds."""
    text = published.DATA_FILE.read_text(encoding="utf-8")
    for word in ("brief", "recollection", "../shared", "shared/reference", "published-tables.md"):
        assert word not in text.lower(), word
    without_urls = re.sub(r"https?://\S+", "", text)
    assert not re.search(r"(^|[\s\"'(=\[])(/|~/|[A-Za-z]:\\)[A-Za-z_.]", without_urls, re.M), "absolute path"
    srcs = published.sources()
    assert srcs
    for sid, s in srcs.items():
        for field in (sid, s.title, s.where, s.note):
            assert "brief" not in field.lower() and "recollection" not in field.lower()
        assert re.fullmatch(r"https?://\S+", s.url), sid
        if re.search(r"github\.com/[^/]+/[^/]+/(blob|tree)/", s.url):
            assert re.fullmatch(r"[0-9a-f]{40}", s.commit) and s.commit in s.url, sid
    # what the cells cite as a source: a source id, never a word
    for name in published.tables():
        for cell in published.cells(name):
            assert cell.source in srcs


def test_every_unconfirmed_figure_says_why():
    for name, t in published.tables().items():
        for row in t.rows:
            for cell in row.cells.values():
                if not cell.confirmed:
                    assert cell.reason and "check" in cell.reason, (name, row.method, cell.column)
            if row.params_paper and not row.params_paper["confirmed"]:
                assert row.params_paper["reason"], (name, row.method)
    # the paper's own tables could not be opened: nothing citing only them is confirmed
    paper_only = {sid for sid, s in published.sources().items() if s.url == "https://arxiv.org/abs/2006.04139"}
    assert {"TTSR-T1", "TTSR-T2", "TTSR-T3", "TTSR-T4", "TTSR-F8"} <= paper_only
    assert all(not c.confirmed for n in published.tables() for c in published.cells(n) if c.source in paper_only)


def test_every_table1_method_is_a_registered_method():
    """Issue 14: no Table 1 row is "paper number only" for want of a method; each names its weights'
    training set (or none: trained here), so the report can say whose weights filled a cell."""
    from baselines.registry import METHODS

    table1 = published.tables()["table1"]
    assert table1.trained_on == "CUFED"
    for row in table1.rows:
        assert row.method in METHODS, row.method
        spec = METHODS.get(row.method)().weights
        assert spec is not None and spec.source, row.method


def test_table1_lookup_confirmed_cells():
    cell = published.lookup("table1", "ttsr-rec", "cufed5", "stitched")
    assert (cell.psnr, cell.ssim, cell.source, cell.confirmed) == (27.09, 0.804, "AMSA-quan", True)
    assert cell.mark == ""
    # ref_mode None takes the paper's column (stitched), aliases are accepted
    assert published.lookup("table1", "ttsr-rec", "cufed5") == cell
    assert published.lookup("table1", "ttsr-rec", "CUFED5", "stitch") == cell
    release = published.lookup("table1", "ttsr-rec", "cufed5", "level1")
    assert (release.psnr, release.ssim, release.source) == (26.991, 0.8003, "TTSR-issue3")
    assert published.lookup("table1", "ttsr", "cufed5", "l1").psnr == 25.402
    assert published.lookup("table1", "ttsr", "urban100", "lr").psnr == 24.62
    assert published.lookup("table1", "rcan", "sun80", "random").ssim == 0.810
    assert published.lookup("table1", "bicubic", "cufed5", "stitched") is None
    assert published.lookup("table1", "ttsr", "set5", None) is None
    assert published.lookup("nope", "ttsr", "cufed5") is None
    tip = cell.provenance(published.sources())
    assert "AMSA-quan" in tip and "538e888c23072f14937e9a7f49e4bfbf66ba8218" in tip and published.SHIPPED_NAME in tip


def test_unconfirmed_marks_carried():
    rdn = published.lookup("table1", "rdn", "sun80")
    assert not rdn.confirmed and rdn.mark == "⚠" and "⚠" in rdn.format()
    assert rdn.source == "TTSR-T1" and "Table 1" in rdn.reason
    mdsr = published.lookup("table1", "mdsr", "cufed5")
    assert not mdsr.confirmed and "EDSR" in mdsr.note
    for cell in published.cells("table2"):
        assert not cell.confirmed
    # Table 4 L1: PSNR confirmed (TTSR-issue43 quotes it), SSIM not
    l1 = published.lookup("table4", "ttsr-rec", "cufed5", "l1")
    assert l1.psnr == 26.99 and l1.psnr_confirmed and not l1.ssim_confirmed and l1.source == "TTSR-issue43"
    assert l1.format() == "26.99 / 0.800⚠"
    assert published.lookup("table4", "ttsr-rec", "cufed5", "l2").format() == "26.74⚠ / 0.791⚠"
    assert published.lookup("table4", "ttsr-rec", "cufed5", "l5") is None  # not a paper column
    csfi = published.table("table3").row("ttsr-rec")  # by alias
    assert csfi.method == "ttsr-base-tt-csfi" and csfi.variant == "base+tt+csfi" and csfi.flags == {"CSFI": True}
    assert [r.flags for r in published.table("table2").rows][1] == {"HA": True, "SA": False, "LTE": False}
    assert published.lookup("table3", "ttsr-base-tt-c96", "cufed5").psnr == 26.98
    assert published.lookup("table2", "ttsr-base-ha-sa", "cufed5", "stitched").psnr == 26.81
    assert csfi.params_paper["confirmed"] is False and csfi.params_paper["source"] == "TTSR-T3"


def test_sisr_calibration_numbers():
    assert published.lookup("sisr", "imdn", "set5", None).psnr == 32.21
    assert published.lookup("sisr", "imdn", "set14", "none").ssim == 0.7811
    assert published.lookup("sisr", "imdn", "manga109").source == "SwinIR-T3"
    assert published.lookup("sisr", "carn-m", "set5", "").psnr == 31.92
    assert published.lookup("sisr", "carn-m", "set14").ssim == 0.7762
    assert published.lookup("sisr", "carn-m", "bsd100").source == "CARN-table"
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


# ----------------------------------------------------------------------------- user files
MY_CHECK = '''
[sources.MY-CHECK]
title = "TTSR paper PDF, read by me"
url = "https://arxiv.org/abs/2006.04139"
where = "Table 4"
'''


def test_user_file_overrides_exactly_one_cell(tmp_path):
    mine = _write(tmp_path / "my-published.toml", MY_CHECK + '''
[[tables.table4.rows]]
method = "ttsr-rec"
source = "MY-CHECK"
confirmed = true
l2 = [26.75, 0.792]
''')
    shipped = _all_cells(published.tables())
    merged_tables = published.tables(files=[mine])
    merged = _all_cells(merged_tables)
    assert merged.keys() == shipped.keys()
    changed = {k for k in shipped if merged[k] != shipped[k]}
    assert changed == {("table4", "ttsr-rec", "l2")}
    cell = published.lookup("table4", "ttsr-rec", "cufed5", "l2", files=[mine])
    assert (cell.psnr, cell.ssim, cell.source, cell.confirmed) == (26.75, 0.792, "MY-CHECK", True)
    assert cell.origin_file == str(mine) and cell.from_user_file and cell.mark == ""
    assert str(mine) in cell.provenance(published.sources(files=[mine]))
    # the row's other cells keep the shipped values, sources and file
    l3 = published.lookup("table4", "ttsr-rec", "cufed5", "l3", files=[mine])
    assert (l3.psnr, l3.source, l3.origin_file) == (26.64, "TTSR-T4", published.SHIPPED_NAME)
    assert [r.method for r in merged_tables["table4"].rows] == [r.method for r in published.table("table4").rows]
    # the source list gains the user's source, with its file
    srcs = published.sources(files=[mine])
    assert srcs["MY-CHECK"].origin_file == str(mine) and srcs["AMSA-quan"].origin_file == published.SHIPPED_NAME
    # without the user file, nothing changed
    assert published.lookup("table4", "ttsr-rec", "cufed5", "l2").psnr == 26.74


def test_user_file_extends_rows_columns_and_tables(tmp_path):
    mine = _write(tmp_path / "more.toml", MY_CHECK + '''
[tables.table1]
columns = [{ key = "set5", dataset = "set5", ref_mode = "*", label = "Set5" }]

[[tables.table1.rows]]
method = "mynet"
label = "MyNet"
source = "MY-CHECK"
cufed5 = [26.5, 0.79]
set5 = [31.0, 0.88]

[tables.mine]
title = "My table"
columns = [{ key = "cufed5", dataset = "cufed5", ref_mode = "l1" }]

[[tables.mine.rows]]
method = "ttsr-rec"
source = "TTSR-issue3"
confirmed = true
cufed5 = [26.991, 0.8003]
''')
    shipped = published.table("table1")
    t = published.table("table1", files=[mine])
    assert [r.method for r in t.rows] == [r.method for r in shipped.rows] + ["mynet"]
    assert [c.key for c in t.columns] == [c.key for c in shipped.columns] + ["set5"]
    row = t.row("mynet")
    assert row.label == "MyNet" and row.origin_file == str(mine)
    cell = published.lookup("table1", "mynet", "cufed5", "stitched", files=[mine])
    assert (cell.psnr, cell.ssim, cell.confirmed, cell.mark, cell.origin_file) == (26.5, 0.79, False, "⚠", str(mine))
    assert published.lookup("table1", "mynet", "set5", files=[mine]).psnr == 31.0
    assert published.lookup("table1", "ttsr-rec", "cufed5", files=[mine]) == published.lookup("table1", "ttsr-rec", "cufed5")
    new = published.table("mine", files=[mine])
    assert new.title == "My table" and new.tolerance == published.Tolerance(0.05, 0.002)
    assert published.lookup("mine", "ttsr-rec", "cufed5", "l1", files=[mine]).psnr == 26.991
    assert "mine" not in published.tables()


def test_later_user_file_wins_and_env_and_use_files(tmp_path, monkeypatch):
    a = _write(tmp_path / "a.toml", '[[tables.table1.rows]]\nmethod = "rdn"\nsource = "TTSR-T1"\ncufed5 = [25.90, 0.768]\n')
    b = _write(tmp_path / "b.toml", '[[tables.table1.rows]]\nmethod = "rdn"\nsource = "TTSR-T1"\ncufed5 = [25.96, 0.770]\n')
    assert published.lookup("table1", "rdn", "cufed5", files=[a, b]).origin_file == str(b)
    assert published.lookup("table1", "rdn", "cufed5", files=[b, a]).psnr == 25.90
    monkeypatch.setenv(published.ENV_VAR, f"{a}{__import__('os').pathsep}{b}")
    assert published.active_files() == (a, b)
    assert published.lookup("table1", "rdn", "cufed5").psnr == 25.96  # the default lookups use them
    assert published.use_files([a]) == (a,)
    assert published.lookup("table1", "rdn", "cufed5").psnr == 25.90  # use_files beats the environment
    published.use_files(None)
    assert published.lookup("table1", "rdn", "cufed5").psnr == 25.96  # back to the environment
    monkeypatch.delenv(published.ENV_VAR)
    assert published.lookup("table1", "rdn", "cufed5").psnr == 25.95  # the shipped value


@pytest.mark.parametrize("text,key", [
    ("[[tables.table1.rows]\nmethod = 1", "not valid TOML"),
    ('[[tables.table1.rows]]\nmethod = "rdn"\nsource = "TTSR-T1"\ncufed5 = [25.9]\n', "tables.table1.rows[0].cufed5"),
    ('[[tables.table1.rows]]\nmethod = "rdn"\nsource = "NOPE"\ncufed5 = [25.9, 0.7]\n', "unknown source 'NOPE'"),
    ('[[tables.table1.rows]]\nmethod = "rdn"\ncufed5 = [25.9, 0.7]\n', "tables.table1.rows[0].cufed5: no source"),
    ('[[tables.table1.rows]]\nmethod = "rdn"\nsource = "TTSR-T1"\ncufd5 = [25.9, 0.7]\n', "unknown key 'cufd5'"),
    ('[[tables.table1.rows]]\nsource = "TTSR-T1"\n', "tables.table1.rows[0].method"),
    ('[sources.X]\ntitle = "x"\nurl = "file:///home/me/paper.pdf"\n', "sources.X.url"),
    ('[sources.X]\nurl = "https://example.org"\n', "sources.X.title"),
    ('[tables.new]\ntitle = "t"\n', "tables.new.columns"),
    ('[tables.table1]\ncolumns = [{ key = "cufed5", dataset = "sun80" }]\n', "tables.table1.columns[0]"),
    ('[tables.table1]\ntolerance = { psnr = "a", ssim = 0.1 }\n', "tables.table1.tolerance.psnr"),
    ('[tabels.table1]\n', "tabels: unknown key"),
    ('[[tables.table1.rows]]\nmethod = "rdn"\nsource = "TTSR-T1"\ncufed5 = { psnr = 1, sorce = "x" }\n',
     "tables.table1.rows[0].cufed5.sorce: unknown key"),
    ('[sources.X]\ntitle = "x"\nurl = "https://example.org"\ncommit = "main"\n', "sources.X.commit: must be a commit hash"),
    ('[[tables.table3.rows]]\nmethod = "m"\nvariant = "c80"\n', "tables.table3.rows[0].variant"),
    ('[tables.table2]\nflags = { HA = "hard" }\n', "tables.table2.flags.HA"),
])
def test_bad_user_file_names_file_and_key(tmp_path, text, key):
    bad = _write(tmp_path / "bad-published.toml", text)
    with pytest.raises(UserError) as err:
        published.tables(files=[bad])
    message = str(err.value)
    assert str(bad) in message and key in message, message
    with pytest.raises(UserError, match="bad-published.toml"):
        published.use_files([bad])
    assert published.active_files() == ()  # a bad file is not taken into use


def test_missing_user_file(tmp_path, monkeypatch):
    monkeypatch.setenv(published.ENV_VAR, str(tmp_path / "gone.toml"))
    with pytest.raises(UserError, match="gone.toml: published-numbers file not found"):
        published.lookup("table1", "ttsr", "cufed5")


def test_bad_shipped_style_file_is_rejected(tmp_path):
    bad = _write(tmp_path / "p.toml", '[sources.A]\ntitle = "a"\nurl = "https://a.org"\n[tables.t]\n'
                 'columns = [{key = "x", dataset = "d"}]\n[[tables.t.rows]]\nmethod = "m"\nsource = "B"\nx = [1.0, 0.5]\n')
    with pytest.raises(ValueError, match="unknown source"):
        published.tables(bad)


def test_cli_bad_user_file_exits_2(tmp_path, capsys):
    from benchmarks import report, reproduce

    bad = _write(tmp_path / "bad-published.toml", '[[tables.table1.rows]]\nmethod = "rdn"\nsource = "NOPE"\ncufed5 = [1, 0.5]\n')
    assert report.main(["--runs", str(tmp_path / "none"), "--published", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "bad-published.toml" in err and "\n" not in err
    assert reproduce.main(["table1", "--no-run", "--runs-dir", str(tmp_path), "--published", str(bad)]) == 2
    assert "bad-published.toml" in capsys.readouterr().err


def test_report_names_the_file_of_each_paper_number(tmp_path, monkeypatch):
    """A report rendered with a user file shows that file on the paper cell it gave (HTML tooltip and
    text, Markdown cell) and in the Sources sections; the shipped cells name the shipped file."""
    from benchmarks import reproduce

    runs = tmp_path / "runs"
    fixture_runs.make_run(runs, "table1", methods=("ttsr-rec", "rcan"), passes=[("cufed5", "stitched")],
                          n_images=1, images=False, attention=False, extra_metrics=())
    _write(tmp_path / "my-published.toml", MY_CHECK + '''
[[tables.table1.rows]]
method = "ttsr-rec"
source = "MY-CHECK"
confirmed = true
cufed5 = [27.10, 0.805]
''')
    config = _write(tmp_path / "ttsr-bench.toml", 'published = "my-published.toml"\n')
    monkeypatch.chdir(tmp_path)
    assert reproduce.main(["table1", "--no-run", "--config", str(config), "--runs-dir", "runs",
                           "--reports-dir", "out"]) == 0
    html = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    mine = str(tmp_path / "my-published.toml")
    assert f"source MY-CHECK: TTSR paper PDF, read by me, Table 4 &lt;https://arxiv.org/abs/2006.04139&gt;; from {mine}" in html
    assert f"[MY-CHECK · {mine}]" in html
    assert re.search(r'<tr><th>MY-CHECK</th>.*?<code>' + re.escape(mine) + "</code>", html, re.S)
    assert "Paper numbers from your files" in html
    assert f"from {published.SHIPPED_NAME}" in html  # RCAN's paper cell
    from benchmarks.report.text import md_escape

    shown = md_escape(mine)  # Markdown-escaped (underscores of pytest's folder names), renders as the path
    assert f"paper 27.10 / 0.805 ({shown})" in md
    assert f"- **MY-CHECK**: TTSR paper PDF, read by me (Table 4), <https://arxiv.org/abs/2006.04139> [{shown}]" in md
    assert f"- table1 · TTSR-rec · CUFED5: 27.10 / 0.805 (source MY-CHECK, {shown})" in md
    assert "- **AMSA-quan**:" in md and "../shared" not in md and "../shared" not in html
    # the runner runs in reproduce's process: the choice is simply in use (nothing exported)
    assert [str(p) for p in published.active_files()] == [mine] and published.ENV_VAR not in __import__("os").environ
