"""`python -m benchmarks.data check|sources|demo`: the table, the advice for missing sets, exit codes."""
from __future__ import annotations

import subprocess
import sys

from benchmarks.data import main, render
from benchmarks.datasets import DATASETS
from tests.conftest import REPO_ROOT, shared_path
from tests.test_datasets import make_cufed5, make_srf, make_sun80, save, img


def table_rows(out: str) -> dict[str, list[str]]:
    """{set: [status, found/expected, …]} from the printed table."""
    return {line.split()[0]: line.split()[1:] for line in out.splitlines()
            if line.split() and line.split()[0] in DATASETS.names()}


def test_check_on_fixture_tree(tmp_path, capsys):
    root = tmp_path / "data"
    make_cufed5(root / "CUFED5", groups=2)
    make_sun80(root / "sun80")
    make_srf(root / "Set5", numbers=(1, 2, 3, 4, 5))
    save(root / "notes" / "x.png", img(0, 20, 20))
    assert main(["check", "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    table = table_rows(out)
    assert table["set5"][:2] == ["found", "5/5"]
    assert table["cufed5"][:2] == ["incomplete", "2/126"]
    assert table["sun80"][:2] == ["incomplete", "3/80"]
    assert table["bsd100"][:2] == ["missing", "0/100"]
    assert table["demo"][0] == "built-in"
    assert "CUFED5 is incomplete" in out and "groups absent: 002, 003" in out
    assert "BSD100 is missing" in out and "https://github.com/jbhuang0604/SelfExSR" in out
    assert "Manga109 is missing" in out and "manga109.org" in out
    assert "BSD100/HR/<name>.png + BSD100/LR_bicubic/X4/<name>x4.png" in out
    assert "not a known set (ignored): notes" in out


def test_check_complete_cufed5_is_found(tmp_path):
    make_cufed5(tmp_path / "CUFED5", groups=126)
    assert table_rows(render(tmp_path))["cufed5"][:2] == ["found", "126/126"]


def test_check_on_shared_data():
    out = render(shared_path("data"))
    rows = {name: cells[:2] for name, cells in table_rows(out).items()}
    assert rows == {"cufed5": ["missing", "0/126"], "sun80": ["incomplete", "0/80"],
                    "urban100": ["incomplete", "10/100"], "manga109": ["incomplete", "5/109"],
                    "set5": ["found", "5/5"], "set14": ["found", "14/14"],
                    "bsd100": ["missing", "0/100"], "demo": ["built-in", "4/4"]}
    assert "no Sun_Hays_SR_scenematches/ folder" in out
    assert "1Fa1mopExA9YGG1RxrCZZn7QFTYXLx6ph" in out
    assert "not a known set (ignored): Set5_matlab, ttsr_demo" in out


def test_missing_or_empty_root_one_line_exit_2(tmp_path):
    for root in (tmp_path / "absent", tmp_path):
        proc = subprocess.run([sys.executable, "-m", "benchmarks.data", "check", "--root", str(root)],
                              cwd=REPO_ROOT, capture_output=True, text=True)
        assert proc.returncode == 2 and proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and str(root) in lines[0]


def test_sources_and_demo_commands(tmp_path, capsys):
    assert main(["sources"]) == 0
    out = capsys.readouterr().out
    assert "cs.brown.edu/~lbsun" in out and "Sun_Hays_SR_scenematches" in out and "demo" not in out
    assert main(["demo", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in (tmp_path / "hr").iterdir())[0] == "astronaut_warped.png"
    assert len(list((tmp_path / "ref").iterdir())) == 4


def test_check_on_a_fresh_machine_lists_what_to_get(tmp_path, monkeypatch, capsys):
    """No ./data and nothing named: the table of missing sets and where to get them, exit 0 (a folder
    the user names must exist: that stays one line, exit 2)."""
    for name in ("TTSR_BENCH_DATA", "TTSR_BENCH_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("data root: data (absent: create it") and "1Fa1mopExA9YGG1RxrCZZn7QFTYXLx6ph" in out
    assert table_rows(out)["cufed5"][:2] == ["missing", "0/126"] and table_rows(out)["demo"][0] == "built-in"
