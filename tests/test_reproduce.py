"""`python -m benchmarks.reproduce` (what the tox reproduce-table1..4 and demo envs run): runner, report,
the gap, --strict; run in-process on a tiny data root of the published layouts and on the demo set."""
from __future__ import annotations

import argparse
import configparser
from pathlib import Path

import pandas as pd
import pytest

import fixture_runs
from benchmarks import reproduce, views

REPO = Path(__file__).resolve().parents[1]


def _recording_runner(monkeypatch):
    """Record the settings reproduce hands the runner, which runs in this process: a subprocess
    starting Python (a runner of its own) fails the test."""
    import subprocess

    calls = []
    real_protocol, real_popen = reproduce.run_protocol, subprocess.Popen

    def spy(settings):
        calls.append(settings)
        return real_protocol(settings)

    class NoPython(real_popen):
        def __init__(self, args, *rest, **kwargs):
            assert "python" not in str(args) and "benchmarks" not in str(args), f"a subprocess: {args}"
            super().__init__(args, *rest, **kwargs)

    monkeypatch.setattr(reproduce, "run_protocol", spy)
    monkeypatch.setattr(subprocess, "Popen", NoPython)
    return calls


def test_table1_on_a_fixture_tree_prints_the_gap(tmp_path, monkeypatch, capsys):
    data = fixture_runs.make_data_root(tmp_path / "data")
    calls = _recording_runner(monkeypatch)
    monkeypatch.delenv("TTSR_BENCH_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    status = reproduce.main(["table1", "--data-root", str(data), "--methods", "bicubic",
                             "--runs-dir", "runs", "--reports-dir", "reports", "--strict"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert calls and calls[0].save_images and calls[0].protocol == "table1" and str(calls[0].data_root) == str(data)
    assert (tmp_path / "runs" / "table1" / "rows.csv").is_file()
    assert (tmp_path / "reports" / "index.html").is_file() and (tmp_path / "reports" / "README.md").is_file()
    assert "Table 1" in out and "paper 27.09 / 0.804" in out
    assert "gap:" in out and "method not run" in out
    assert "measured on part of a test set" in out  # 2 of 126 CUFED5 groups
    page = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    assert "bicubic" in page and 'class="comparison"' in page


def test_demo_end_to_end(tmp_path, monkeypatch, capsys):
    _recording_runner(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TTSR_BENCH_DATA", raising=False)
    assert reproduce.main(["demo", "--methods", "bicubic"]) == 0
    out = capsys.readouterr().out
    assert "demo ·" in out and "bicubic" in out and "report: reports/index.html" in out
    assert (tmp_path / "reports" / "index.html").is_file()


def _far_run(monkeypatch):
    """A runner stand-in writing a Table 1 run where TTSR-rec is 1.5 dB off on a complete set."""
    def fake(settings):
        out = Path(settings.out)
        fixture_runs.make_run(out.parent, out.name, methods=("bicubic", "ttsr-rec"), passes=[("cufed5", "stitched")],
                              n_images=2, images=False, attention=False, random_methods=())
        frame = pd.read_csv(out / "rows.csv")
        frame.loc[frame["method"] == "ttsr-rec", "psnr"] -= 1.5
        frame.to_csv(out / "rows.csv", index=False)
        return 0

    monkeypatch.setattr(reproduce, "run_protocol", fake)
    monkeypatch.setattr(views, "expected_count", lambda dataset: None)  # treat the set as complete


def test_strict_fails_far_outside_tolerance(tmp_path, monkeypatch, capsys):
    _far_run(monkeypatch)
    args = ["table1", "--runs-dir", str(tmp_path / "runs"), "--reports-dir", str(tmp_path / "reports")]
    assert reproduce.main(args) == 0
    captured = capsys.readouterr()
    assert "FAR OUTSIDE" in captured.err and "TTSR-rec" in captured.err
    assert reproduce.main(args + ["--strict"]) == 1
    assert "--strict: exit status 1" in capsys.readouterr().err


def test_settings_from_config_and_environment(tmp_path, monkeypatch):
    config = tmp_path / "ttsr-bench.toml"
    config.write_text('data_root = "sets"\ndevice = "cpu"\n[weights]\nttsr-rec = "ckpt/TTSR-rec.pt"\n', encoding="utf-8")
    (tmp_path / "sets").mkdir()
    (tmp_path / "env-data").mkdir()
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "TTSR-rec.pt").write_bytes(b"checked to exist: the config file is named if not")
    ns = argparse.Namespace(settings=str(config), data_root=None, weights=["ttsr=/abs/TTSR.pt"], device=None,
                            metrics=None, methods=None)
    settings = reproduce.resolve(ns)
    assert settings["data_root"] == str(tmp_path / "sets")
    assert settings["weights"] == {"ttsr-rec": str(tmp_path / "ckpt" / "TTSR-rec.pt"), "ttsr": "/abs/TTSR.pt"}
    given = reproduce.run_settings("table4", Path("runs/table4"), settings, force=False)
    assert (given.protocol, given.out, given.save_images, given.force) == ("table4", Path("runs/table4"), True, False)
    assert given.device == "cpu" and f"ttsr-rec={tmp_path / 'ckpt' / 'TTSR-rec.pt'}" in given.weights
    # the environment when neither the command line nor a config names a data root
    monkeypatch.setenv("TTSR_BENCH_DATA", str(tmp_path / "env-data"))
    monkeypatch.delenv("TTSR_BENCH_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path / "..")
    ns = argparse.Namespace(settings=None, data_root=None, weights=None, device=None, metrics=None, methods=None)
    assert reproduce.resolve(ns)["data_root"] == str(tmp_path / "env-data")


def test_bad_config_is_a_user_error(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('data_rot = "x"\n', encoding="utf-8")
    assert reproduce.main(["table1", "--config", str(bad), "--no-run"]) == 2
    assert "unknown key or table [data_rot]" in capsys.readouterr().err
    assert reproduce.main(["table1", "--config", str(tmp_path / "none.toml")]) == 2


@pytest.mark.parametrize("text, expected", [
    ('metrics = "psnr"\n', 'metrics = "psnr": expected a list of strings'),
    ('methods = ["ttsr", 3]\n', "methods[1] = 3: expected a list of strings"),
    ('device = "gpu"\n', 'device = "gpu": expected one of "auto", "cpu", "cuda"'),
    ('data_root = 7\n', "data_root = 7: expected a folder path (a string)"),
    ('data_root = "missing-folder"\n', "missing-folder': folder not found; fix data_root"),
    ('weights = "w.pt"\n', '[weights] must be a table, not "w.pt"'),
    ('[weights]\nttsr = 1\n', "[weights] ttsr = 1: expected a string"),
    ('max_memory = 1.5\n', 'max_memory = 1.5: expected a size such as "8GiB" (a string) or MiB (an integer ≥ 16; foundation.budget)'),
    ('max_memory = true\n', "max_memory = true: expected"),
    (b'device = "cpu\xff"\n', "not UTF-8 text (byte 0xff on line 1)"),
])
def test_config_keys_are_checked_naming_the_file_and_key(tmp_path, capsys, text, expected):
    """A wrong type or value in the config is blamed on the file and key (not on --data-root), one line, exit 2;
    a string where a list is expected is not split into letters."""
    config = tmp_path / "conf.toml"
    config.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    assert reproduce.main(["table1", "--config", str(config), "--no-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {config}: "), err
    assert expected in err and "--data-root" not in err, err


def test_config_values_reach_the_runner_unchanged(tmp_path):
    (tmp_path / "sets").mkdir()
    config = tmp_path / "conf.toml"
    config.write_text('data_root = "sets"\nmetrics = ["psnr", "ssim"]\nmethods = ["bicubic"]\n'
                      'max_memory = "2GiB"\ndevice = "auto"\n', encoding="utf-8")
    ns = argparse.Namespace(settings=str(config), data_root=None, weights=None, device=None, metrics=None, methods=None)
    settings = reproduce.resolve(ns)
    assert settings["data_from"] == f"{config} data_root"
    given = reproduce.run_settings("table1", Path("runs/table1"), settings, force=False)
    assert given.metrics == ["psnr", "ssim"] and given.methods == ["bicubic"] and given.device == "auto"
    assert given.max_memory == 2 << 30  # bytes, through the runner's own parser
    assert given.data_root == tmp_path / "sets"
    config.write_text('max_memory = 512\n', encoding="utf-8")  # a bare number is MiB, as on the command line
    assert reproduce.resolve(ns)["max_memory"] == 512 << 20  # bytes
    config.write_text('max_memory = 4\n', encoding="utf-8")  # below the floor: one line naming file and key
    with pytest.raises(reproduce.UserError, match=r"conf.toml: max_memory 4: 4 MiB is below the 16 MiB"):
        reproduce.resolve(ns)


def test_names_in_any_case_reach_the_runner_as_registered_names(tmp_path, monkeypatch, capsys):
    config = tmp_path / "conf.toml"
    config.write_text('methods = ["Bicubic", "TTSR-Rec"]\n[weights]\nTTSR-Rec = "w.pt"\n', encoding="utf-8")
    (tmp_path / "w.pt").write_bytes(b"checked to exist")
    ns = argparse.Namespace(settings=str(config), data_root=None, weights=["IMDN=/abs/IMDN.pth"], device=None,
                            metrics=["PSNR", "psnr"], methods=None)
    settings = reproduce.resolve(ns)
    assert (settings["methods"], settings["metrics"]) == (["bicubic", "ttsr-rec"], ["psnr"])
    assert settings["weights"] == {"ttsr-rec": str(tmp_path / "w.pt"), "imdn": "/abs/IMDN.pth"}
    ns.metrics = ["PSNR", "Nosuch"]
    with pytest.raises(reproduce.UserError, match=r"^--metrics: unknown metric 'Nosuch'; valid names: psnr"):
        reproduce.resolve(ns)
    monkeypatch.chdir(tmp_path)  # the table in any case; an unknown one is one line listing the tables
    assert reproduce.main(["Table1", "--settings", str(config), "--no-run"]) == 2
    assert "runs/table1: no run folder" in capsys.readouterr().err
    assert reproduce.main(["table9", "--no-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice: 'table9'" in err and "table4" in err


def test_missing_environment_data_root_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("TTSR_BENCH_DATA", str(tmp_path / "nowhere"))
    monkeypatch.delenv("TTSR_BENCH_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    ns = argparse.Namespace(settings=None, data_root=None, weights=None, device=None, metrics=None, methods=None)
    with pytest.raises(reproduce.UserError, match=r"^\$TTSR_BENCH_DATA = .*nowhere'?: folder not found"):
        reproduce.resolve(ns)


@pytest.mark.parametrize("env", ["reproduce-table1", "reproduce-table2", "reproduce-table3", "reproduce-table4", "demo"])
def test_tox_envs_run_reproduce(env):
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(REPO / "tox.ini")
    section = f"testenv:{env}"
    assert tox.has_section(section), env
    commands = tox.get(section, "commands")
    table = env.replace("reproduce-", "")
    assert f"python -m benchmarks.reproduce {table}" in commands
    assert tox.get("testenv", "package") == "editable" and "test" in tox.get("testenv", "extras")


def test_a_failing_runner_is_status_1_and_the_kept_rows_still_report(tmp_path, monkeypatch, capsys):
    """The runner runs in this process: a bug in it prints its traceback, reproduce says the runner's
    status (1) and still renders the rows the run folder kept; a UserError stays one line, exit 2."""
    from benchmarks import run

    def broken(settings):
        fixture_runs.make_run(Path(settings.out).parent, Path(settings.out).name, methods=("bicubic",),
                              passes=[("cufed5", "stitched")], n_images=2, images=False, attention=False)
        raise RuntimeError("a bug in the runner")

    monkeypatch.setattr(run, "run", broken)
    args = ["table1", "--runs-dir", str(tmp_path / "runs"), "--reports-dir", str(tmp_path / "reports")]
    assert reproduce.main(args) == 1
    captured = capsys.readouterr()
    assert "RuntimeError: a bug in the runner" in captured.err and "exited with status 1" in captured.err
    assert (tmp_path / "reports" / "index.html").is_file()

    def refused(settings):
        raise reproduce.UserError("--data-root /nowhere: folder not found")

    monkeypatch.setattr(run, "run", refused)
    assert reproduce.main(args) == 2
    assert capsys.readouterr().err == "error: --data-root /nowhere: folder not found\n"
