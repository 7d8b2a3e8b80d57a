"""Resume after kill -9: a killed run loses at most the image in flight; rerunning the same command
ends with exactly the rows of an uninterrupted run (apart from timings), in the same order."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import run
from benchmarks.results import TIMING_COLUMNS, read_rows

REPO = Path(__file__).resolve().parents[1]
ARGS = ["--protocol", "demo", "--methods", "bicubic", "--metrics", "psnr", "ssim"]


def _values(path):
    return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in read_rows(path)[1]]


def _data_rows(path: Path) -> int:
    try:
        return max(0, path.read_bytes().count(b"\n") - 1)
    except FileNotFoundError:
        return 0


def test_kill_mid_run_then_resume_equals_uninterrupted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("TTSR_BENCH_DATA", "TTSR_BENCH_WEIGHTS", run.SLOW_ENV):
        monkeypatch.delenv(name, raising=False)
    killed = tmp_path / "killed"
    env = {**os.environ, run.SLOW_ENV: "0.6", "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-m", "benchmarks.run", *ARGS, "--out", str(killed)],
                             cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _data_rows(killed / "rows.csv") < 2:  # wait until some rows are finished
            assert child.poll() is None, "the child run ended before it could be killed"
            assert time.monotonic() < deadline, "no rows appeared within 120 s"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    kept = read_rows(killed / "rows.csv")[1]
    assert 2 <= len(kept) < 8  # killed mid-way
    assert not (killed / "summary.csv").exists()  # it never got to the end
    # a kill in the middle of a write can leave a torn line: simulate the worst case
    with open(killed / "rows.csv", "ab") as handle:
        handle.write(b"bicubic,demo,demo,graded,coffee_zo")

    assert run.main([*ARGS, "--out", str(killed)]) == 0  # the same command again
    whole = tmp_path / "whole"
    assert run.main([*ARGS, "--out", str(whole)]) == 0  # an uninterrupted run
    assert _values(killed / "rows.csv") == _values(whole / "rows.csv")
    assert len(_values(whole / "rows.csv")) == 8
    # the rows finished before the kill were kept, not recomputed
    resumed = {tuple(r[c] for c in ("method", "ref_mode", "image")): r for r in read_rows(killed / "rows.csv")[1]}
    for row in kept:
        assert resumed[(row["method"], row["ref_mode"], row["image"])]["seconds"] == row["seconds"]
