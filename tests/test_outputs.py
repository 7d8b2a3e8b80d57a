"""Output locations (foundation.fileio): writes replace only regular files, and every CLI checks its
output folder / file right after parsing its arguments, before any work: one line, exit 2."""
from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO_ROOT
from foundation.errors import UserError, cli_main
from foundation.fileio import (OutputPathError, atomic_write_bytes, atomic_write_text, check_output_dir,
                         check_output_file)


# --------------------------------------------------------------------------- targets that are not files

def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _socket(path: Path) -> Path:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()  # the socket file stays
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    (path / "kept.txt").write_text("kept")
    return path


def _device(path: Path) -> Path:
    try:  # a copy of /dev/null's node: creating one needs root
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root")
    return path


NOT_FILES = {"FIFO": (_fifo, r"a FIFO \(named pipe\)"), "socket": (_socket, "a socket"), "folder": (_folder, "a folder"),
             "device": (_device, "a character device")}


def _kind(path: Path) -> int:
    return stat.S_IFMT(os.lstat(path).st_mode)


@pytest.mark.parametrize("case", NOT_FILES)
@pytest.mark.parametrize("through_symlink", [False, True])
def test_atomic_write_never_replaces_what_is_not_a_regular_file(tmp_path, case, through_symlink):
    make, kind = NOT_FILES[case]
    thing = make(tmp_path / "thing")
    before = _kind(thing)
    path = thing
    if through_symlink:
        path = tmp_path / "link"
        path.symlink_to(thing)
    with pytest.raises(OutputPathError, match=f"^{path}.*: is {kind}, not a regular file; refusing to replace it") as caught:
        atomic_write_bytes(path, b"PNG")
    assert isinstance(caught.value, UserError) and "\n" not in str(caught.value)
    assert _kind(thing) == before  # still there, same kind
    assert not through_symlink or path.is_symlink()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temporary file left


def test_writing_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path):
    target = tmp_path / "store" / "report.md"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "report.md"
    link.symlink_to(target)
    atomic_write_text(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "new"
    assert not [p for p in target.parent.iterdir() if p.name != "report.md"]  # temp file went beside the target
    dangling = tmp_path / "new.md"
    dangling.symlink_to(tmp_path / "store" / "created.md")
    atomic_write_text(dangling, "created")
    assert dangling.is_symlink() and (tmp_path / "store" / "created.md").read_text() == "created"


def test_every_writer_inherits_the_rule(tmp_path):
    import torch

    from ttsr.checkpoint import save_ttsr
    from ttsr.config import TTSRConfig
    from foundation.imageio import write_image
    from ttsr.model import TTSR

    fifo = _fifo(tmp_path / "out.png")
    with pytest.raises(OutputPathError, match="out.png: is a FIFO"):
        write_image(fifo, np.zeros((4, 4, 3), np.uint8))
    folder = _folder(tmp_path / "model.pt")
    torch.manual_seed(0)
    with pytest.raises(OutputPathError, match="model.pt: is a folder"):
        save_ttsr(TTSR(TTSRConfig(n_feats=4, num_res_blocks=(1, 1, 1, 1))), folder)
    assert fifo.is_fifo() and folder.is_dir()


# --------------------------------------------------------------------------- unwritable locations

def _read_only_folder(tmp_path: Path) -> Path:
    """A folder no file can be created in: chmod 0555, or /sys where root ignores the mode."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):  # root: the mode is not enforced
        folder = Path("/sys")
        if not folder.is_dir() or os.access(folder, os.W_OK) and _creatable(folder):
            pytest.skip("no read-only folder available to this user")
    return folder


def _creatable(folder: Path) -> bool:
    try:
        (folder / ".ttsr-bench-probe").touch()
    except OSError:
        return False
    (folder / ".ttsr-bench-probe").unlink()
    return True


def bad_folder(tmp_path: Path, case: str) -> Path:
    (tmp_path / "file.txt").write_text("x")
    if case == "under /proc":
        return Path("/proc/ttsr-bench-no-such/out")
    if case == "a file":
        return tmp_path / "file.txt"
    if case == "below a file":
        return tmp_path / "file.txt" / "sub"
    if case == "device":
        return Path("/dev/null")
    return _read_only_folder(tmp_path) / "out"


def bad_file(tmp_path: Path, case: str, name: str) -> Path:
    if case == "a folder":
        return _folder(tmp_path / name)
    if case == "FIFO":
        return _fifo(tmp_path / name)
    return bad_folder(tmp_path, case) / name if case != "read-only" else _read_only_folder(tmp_path) / name


FOLDER_CASES = ["under /proc", "a file", "below a file", "device", "read-only"]
FILE_CASES = ["under /proc", "below a file", "a folder", "FIFO", "read-only"]


@pytest.mark.parametrize("case", FOLDER_CASES)
def test_check_output_dir(tmp_path, case):
    path = bad_folder(tmp_path, case)
    with pytest.raises(OutputPathError, match=f"^--out {path}: ") as caught:
        check_output_dir(path, "--out")
    assert "\n" not in str(caught.value)
    before = sorted(tmp_path.rglob("*"))
    assert check_output_dir(tmp_path / "new" / "run", "--out") == tmp_path / "new" / "run"
    assert check_output_dir(tmp_path, "--out") == tmp_path
    assert sorted(tmp_path.rglob("*")) == before  # nothing created, probe files gone


@pytest.mark.parametrize("case", FILE_CASES)
def test_check_output_file(tmp_path, case):
    path = bad_file(tmp_path, case, "sr.png")
    with pytest.raises(OutputPathError, match=f"^--out {path}: ") as caught:
        check_output_file(path, "--out")
    assert "\n" not in str(caught.value)
    before = sorted(tmp_path.rglob("*"))
    assert check_output_file(tmp_path / "a" / "sr.png", "--out") == (tmp_path / "a" / "sr.png").resolve()
    assert sorted(tmp_path.rglob("*")) == before  # nothing created, probe files gone


# --------------------------------------------------------------------------- every CLI, before any work

def _never(*args, **kwargs):
    raise AssertionError("work started before the output location was checked")


def _expect_exit_2(capsys, main, argv, path):
    """`main` (a CLI main wrapped with cli_main) exits 2 with one line naming `path`."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: --") and f"{path}" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("case", FILE_CASES)
def test_sr_checks_out_before_the_model_runs(tmp_path, monkeypatch, capsys, case):
    from ttsr import sr

    monkeypatch.setattr(sr, "prepare_inputs", _never)
    monkeypatch.setattr(sr, "load_ttsr", _never)
    out = bad_file(tmp_path, case, "sr.png")
    _expect_exit_2(capsys, sr.main, ["--lr", "lr.png", "--ref", "ref.png", "--weights", "w.pt",
                                                 "--out", out], out)


@pytest.mark.parametrize("case", FOLDER_CASES)
def test_run_checks_out_before_running(tmp_path, monkeypatch, capsys, case):
    from benchmarks import run

    monkeypatch.setattr(run, "Runner", _never)
    monkeypatch.setattr(run, "init_distributed", _never)
    out = bad_folder(tmp_path, case)
    _expect_exit_2(capsys, run.main, ["--protocol", "demo", "--methods", "bicubic", "--device", "cpu",
                                                  "--out", out], out)


@pytest.mark.parametrize("case", FOLDER_CASES)
def test_report_checks_out_before_rendering(tmp_path, monkeypatch, capsys, case):
    from benchmarks.report import cli as report

    monkeypatch.setattr(report, "render", _never)
    out = bad_folder(tmp_path, case)
    _expect_exit_2(capsys, report.main, ["--runs", tmp_path, "--out", out], out)


@pytest.mark.parametrize("case", FILE_CASES)
def test_report_checks_screenshot_before_rendering(tmp_path, monkeypatch, capsys, case):
    from benchmarks.report import cli as report

    monkeypatch.setattr(report, "render", _never)
    shot = bad_file(tmp_path, case, "shot.png")
    _expect_exit_2(capsys, report.main, ["--runs", tmp_path, "--out", tmp_path / "rep", "--screenshot", shot], shot)


@pytest.mark.parametrize("case", FOLDER_CASES)
def test_data_demo_checks_out_before_writing(tmp_path, monkeypatch, capsys, case):
    from benchmarks import data

    monkeypatch.setattr(data, "load", _never)
    out = bad_folder(tmp_path, case)
    _expect_exit_2(capsys, cli_main(data.main), ["demo", "--out", out], out)


@pytest.mark.parametrize("config", ["tiny.toml", "srntt-tiny.toml"])  # one training command, each recipe
@pytest.mark.parametrize("case", FOLDER_CASES)
def test_train_checks_out_before_building(tmp_path, monkeypatch, capsys, config, case):
    from benchmarks import train as cli

    monkeypatch.setattr(cli, "build", _never)
    out = bad_folder(tmp_path, case)
    extra = ["--init-from", tmp_path / "x.safetensors"] if config.startswith("srntt") else []
    _expect_exit_2(capsys, cli.main, ["--config", REPO_ROOT / "configs" / config, "--out", out] + extra,
                   out)


@pytest.mark.parametrize("case", FILE_CASES)
def test_srntt_convert_checks_out_before_converting(tmp_path, monkeypatch, capsys, case):
    from baselines.srntt import convert

    monkeypatch.setattr(convert, "convert", _never)
    out = bad_file(tmp_path, case, "srntt.safetensors")
    _expect_exit_2(capsys, convert.main, ["--upscale", "u.npz", "--texture", "t.npz", "--vgg", "v.mat",
                                                      "--out", out], out)


@pytest.mark.parametrize("case", FOLDER_CASES)
def test_reproduce_checks_its_folders_first(tmp_path, monkeypatch, capsys, case):
    from benchmarks import reproduce

    monkeypatch.setattr(reproduce, "resolve", _never)
    bad = bad_folder(tmp_path, case)
    _expect_exit_2(capsys, reproduce.main, ["demo", "--runs-dir", bad], bad)
    _expect_exit_2(capsys, reproduce.main, ["demo", "--runs-dir", tmp_path / "runs",
                                                        "--reports-dir", bad], bad)


@pytest.mark.parametrize("case", FILE_CASES)
def test_plot_log_checks_out_first(tmp_path, monkeypatch, capsys, case):
    from training import plot_log

    monkeypatch.setattr(plot_log, "plot", _never)
    out = bad_file(tmp_path, case, "curve.png")
    _expect_exit_2(capsys, plot_log.main, [tmp_path / "log.csv", "--out", out], out)


def _snapshot(path: Path) -> dict[str, bytes]:
    """Every file at or under `path`, by relative name, with its bytes."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p.relative_to(path)): p.read_bytes() for p in files}


def _out_is_an_input(tmp_path: Path, case: str):
    """(module, main, argv, the input `out` collides with, the expected tail of the line)."""
    import fixture_runs

    same = "; the output would replace an input, give another"
    if case in ("table", "report"):
        from benchmarks import table
        from benchmarks.report import cli as report

        run = fixture_runs.make_run(tmp_path / "runs", n_images=1, images=False, attention=False).resolve()
        if case == "table":
            out = run / "rows.csv"
            return (table, "export", table.main, ["--runs", tmp_path / "runs", "--out", out], run,
                    f"--out {out}: is in the run folder {run}, an input; the output would change it, give a "
                    "path outside it")
        return (report, "render", report.main, ["--runs", tmp_path / "runs", "--out", run], run,
                f"--out {run}: is the run folder{same} folder")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "0.png").write_bytes(b"not touched")
    if case == "score":
        from benchmarks import score

        return (score, "score", score.main, ["--sr", folder, "--dataset", "demo", "--out", folder], folder,
                f"--out {folder}: is the --sr folder{same} folder")
    if case == "run":
        from benchmarks import run

        root = fixture_runs.make_data_root(tmp_path / "data", size=(32, 24))
        alias = tmp_path / "data-link"
        alias.symlink_to(root)
        return (run, "init_distributed", run.main, ["--protocol", "demo", "--methods", "bicubic", "--device", "cpu",
                                                    "--data-root", root, "--out", alias], root,
                f"--out {alias}: is the data root folder ({root}){same} folder")
    if case == "train":
        from benchmarks import train

        return (train, "build", train.main, ["--config", REPO_ROOT / "configs" / "tiny.toml", "--data-root", folder,
                                             "--out", tmp_path / "x" / ".." / "in"], folder,
                f"--out {tmp_path / 'x' / '..' / 'in'}: is the data root folder ({folder}){same} folder")
    if case == "reproduce":
        from benchmarks import reproduce

        return (reproduce, "resolve", reproduce.main, ["demo", "--runs", folder, "--reports-dir", folder], folder,
                f"--reports-dir {folder}: is the --runs folder{same} folder")
    log = tmp_path / "log.csv"
    log.write_text("step,loss\n1,0.5\n")
    if case == "plot_log":
        from training import plot_log

        return plot_log, "plot", plot_log.main, [log, "--out", log], log, f"--out {log}: is the log file{same} file"
    from baselines.srntt import convert

    return (convert, "convert", convert.main, ["--upscale", tmp_path / "u.npz", "--texture", log, "--vgg",
                                               tmp_path / "v.mat", "--out", log], log,
            f"--out {log}: is the --texture file{same} file")


@pytest.mark.parametrize("case", ["table", "report", "score", "run", "train", "reproduce", "plot_log", "convert"])
def test_every_cli_refuses_an_output_that_is_one_of_its_inputs(tmp_path, monkeypatch, capsys, case):
    """`foundation.fileio.check_not_an_input` in every command with inputs: one line, exit 2, before any work;
    the input byte-for-byte as it was (``..`` and symlinks resolved)."""
    module, work, main, argv, the_input, line = _out_is_an_input(tmp_path, case)
    before = _snapshot(the_input)
    monkeypatch.setattr(module, work, _never)
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert (code, captured.err) == (2, f"error: {line}\n"), captured.out
    assert _snapshot(the_input) == before


@pytest.mark.parametrize("case", ["FIFO", "folder"])
def test_results_store_appends_only_to_a_regular_file(tmp_path, case):
    from benchmarks.results import RowStore

    make, kind = NOT_FILES[case]
    path = make(tmp_path / "rows.csv")
    with pytest.raises(OutputPathError, match=f"rows.csv: is {kind}"):
        RowStore(path)  # a FIFO would have blocked the read (and the append) for ever
    assert _kind(path) == (stat.S_IFIFO if case == "FIFO" else stat.S_IFDIR)


def test_a_full_disk_is_one_line_and_keeps_the_old_file(tmp_path, monkeypatch):
    """ENOSPC/EFBIG while writing: `OutputPathError` naming the file; the earlier version stays."""
    import errno
    import os

    from benchmarks.results import RowStore
    from foundation.fileio import OutputPathError, atomic_write_text

    target = tmp_path / "summary.csv"
    target.write_text("old\n")
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputPathError, match=r"summary.csv: cannot be written \(No space left on device\)"):
        atomic_write_text(target, "new\n")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["summary.csv"]

    store = RowStore(tmp_path / "rows.csv")
    row = {"method": "m", "dataset": "d", "protocol": "p", "ref_mode": "r", "image": "a", "config_id": "c",
           "data_sha256": "x", "psnr": 30.0}
    store.append(row)
    before = (tmp_path / "rows.csv").read_bytes()
    monkeypatch.setattr(os, "write", lambda fd, data: len(data) // 2)  # the disk took half the line
    with pytest.raises(OutputPathError, match="rows.csv: cannot be written"):
        store.append(dict(row, image="b"))
    monkeypatch.undo()
    assert (tmp_path / "rows.csv").read_bytes() == before  # no torn row left behind


def test_an_output_beside_the_inputs_is_still_allowed(tmp_path, capsys):
    """Only the inputs themselves (and, for a table file, the inside of a run folder) are refused: a table in
    the folder of run folders, and a report folder inside a run folder, are written."""
    import fixture_runs
    from benchmarks import table
    from benchmarks.report import cli as report

    run = fixture_runs.make_run(tmp_path / "runs", n_images=1, images=False, attention=False)
    rows = (run / "rows.csv").read_bytes()
    assert table.main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "runs" / "t.md")]) == 0
    assert (tmp_path / "runs" / "t.md").read_text().startswith("## ")
    assert report.main(["--runs", str(run), "--out", str(run / "report")]) == 0
    assert (run / "report" / "index.html").is_file() and (run / "rows.csv").read_bytes() == rows
    capsys.readouterr()
