"""benchmarks.perf.vs_release without the release: the skip line, the table, the agreement checks.

The measurements themselves need the TTSR release (fetched by `vs_release fetch`) and minutes of CPU;
they are not unit tests. What is checked here is what a user sees when the release is absent and how
measured numbers become the printed table and verdicts.
"""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.perf import vs_release as vr


def test_absent_release_is_one_line_and_exit_0(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(vr.RELEASE_ENV, raising=False)
    folder = tmp_path / "TTSR"
    for command in ("forward", "train-step", "metrics"):
        assert vr.main([command, "--release", str(folder)]) == 0
        out = capsys.readouterr().out.strip().splitlines()
        assert len(out) == 1 and "nothing measured" in out[0]
        assert f"git clone {vr.RELEASE_URL} {folder}" in out[0] and vr.RELEASE_COMMIT in out[0]


def test_release_folder_option_env_default(tmp_path, monkeypatch):
    monkeypatch.setenv(vr.RELEASE_ENV, str(tmp_path / "env"))
    assert vr.release_dir(tmp_path / "opt") == tmp_path / "opt"
    assert vr.release_dir() == tmp_path / "env"
    monkeypatch.delenv(vr.RELEASE_ENV)
    assert vr.release_dir().parts[-4:] == (".cache", "ttsr-bench", "release", "TTSR")
    for f in vr.RELEASE_FILES:  # a folder holding the release's files is accepted
        (tmp_path / "rel" / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "rel" / f).write_text("")
    assert vr.release_missing(tmp_path / "rel") is None


def test_table_min_median_peak_and_ratios():
    rel = vr.summarise([{"time": 30.0, "peak": 8e9}, {"time": 20.0, "peak": 9e9}, {"time": 40.0, "peak": 7e9}])
    ours = vr.summarise([{"time": 10.0, "peak": 0.9e9}, {"error": "child exited with 1"}, {"time": 12.0, "peak": 1e9}])
    assert rel == {"min": 20.0, "median": 30.0, "peak": 9e9, "n": 3}
    assert ours == {"min": 10.0, "median": 11.0, "peak": 1e9, "n": 2}
    text = vr.table([("CUFED5", rel, ours, "ok"), ("Manga109", {"error": "not run"}, ours, "–")], "peak RSS")
    lines = text.splitlines()
    assert lines[2] == ("| CUFED5 | 20.0 s / 30.0 s | 9,000 MB | 10.0 s / 11.0 s | 1,000 MB | 2.00× | 0.11 | ok |")
    assert lines[3].startswith("| Manga109 | not run | – | 10.0 s / 11.0 s | 1,000 MB | – | – |")
    assert vr.summarise([{"error": "child exited with 1"}]) == {"error": "child exited with 1"}
    assert "| 35.00 ms / 40.00 ms | 100 MB |" in vr.table([("m", {"min": 0.035, "median": 0.04, "peak": 1e8}, ours, "")], "p")


def test_loss_tolerance_holds_for_thread_count_rounding_not_for_wrong_losses():
    release = {"rec": 0.509272, "per": 1.0570373e-10, "tpl": 0.0347724, "adv": -0.031932}
    two_threads = {**release, "adv": -0.031927}  # the old train_step script's 2-thread failure (1.6e-4)
    ok, worst = vr.losses_agree(release, two_threads)
    assert ok and worst == pytest.approx(5e-6 / 0.031932)
    assert not vr.losses_agree(release, two_threads, rtol=1e-4)[0]
    assert not vr.losses_agree(release, {**release, "tpl": 0.0347724 * 1.01})[0]  # a 1% error is caught
    assert not vr.losses_agree(release, {**release, "adv": -0.0031932})[0]  # a wrong weight is caught


def test_image_agreement():
    a = np.zeros((4, 5, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0], b[1, 1, 1] = 1, 255
    same, worst = vr.image_agreement(a, b)
    assert same == pytest.approx(58 / 60) and worst == 255
    with pytest.raises(ValueError, match="shapes differ"):
        vr.image_agreement(a, b[:3])


def test_fetch_keeps_a_present_release_and_refuses_a_foreign_folder(tmp_path, capsys):
    for f in vr.RELEASE_FILES:
        (tmp_path / "rel" / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "rel" / f).write_text("")
    assert vr.main(["fetch", "--release", str(tmp_path / "rel")]) == 0  # no git, no network
    assert "already in" in capsys.readouterr().out
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert vr.cli_main(vr.main)(["fetch", "--release", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not the TTSR release" in err[0]


def test_profile_step_needs_no_release_and_names_the_operators(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(vr.RELEASE_ENV, str(tmp_path / "absent"))
    assert vr.main(["train-step", "--profile", "--batch", "1", "--patch", "40", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("our training step under torch.profiler: batch 1, HR/Ref 40²")
    assert "convolution" in out and "Self CPU" in out


def test_a_case_without_its_images_is_one_line(tmp_path):
    assert vr.case_missing(None, "urban100").startswith("case urban100: not measured: no Urban100/**/*_LR.png")
    (tmp_path / "ttsr_demo" / "lr").mkdir(parents=True)
    (tmp_path / "ttsr_demo" / "lr" / "0.png").write_bytes(b"x")
    assert vr.case_missing(str(tmp_path), "cufed5") is None and vr.case_missing(str(tmp_path), "manga109")
