"""`torchrun --nproc_per_node 2 -m benchmarks.run` on CPU (gloo): the ranks split the images and
rank 0 merges their rows; the result equals a single-process run (apart from timings)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import run
from benchmarks.distributed import PARTS_DIR, shard
from foundation.distributed import Dist
from benchmarks.results import KEY_COLUMNS, TIMING_COLUMNS, read_rows

REPO = Path(__file__).resolve().parents[1]
ARGS = ["--protocol", "demo", "--methods", "bicubic", "--metrics", "psnr", "ssim"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rows(path):
    return read_rows(path)[1]


def test_shard_is_a_partition():
    shards = [shard(Dist(rank=r, world_size=3), range(10)) for r in range(3)]
    assert sorted(i for s in shards for i in s) == list(range(10))
    assert shard(Dist(), [3, 5]) == [3, 5]


def test_torchrun_two_cpu_processes_equal_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("TTSR_BENCH_DATA", "TTSR_BENCH_WEIGHTS", run.SLOW_ENV):
        monkeypatch.delenv(name, raising=False)
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not installed beside this Python")
    dist_dir, single_dir = tmp_path / "dist", tmp_path / "single"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [torchrun, "--nnodes", "1", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(_free_port()), "-m", "benchmarks.run", *ARGS, "--device", "cpu",
         "--out", str(dist_dir)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 ranks (gloo)" in done.stdout
    assert not (dist_dir / PARTS_DIR).exists()  # rank 0 merged and removed the part files
    assert run.main([*ARGS, "--device", "cpu", "--out", str(single_dir)]) == 0
    dist_rows, single_rows = _rows(dist_dir / "rows.csv"), _rows(single_dir / "rows.csv")
    assert [[r[c] for c in KEY_COLUMNS] for r in dist_rows] == [[r[c] for c in KEY_COLUMNS] for r in single_rows]
    for a, b in zip(dist_rows, single_rows):
        for column in a:
            if column in KEY_COLUMNS or column in TIMING_COLUMNS or a[column] == b[column]:
                continue
            # float64 sums may differ in the last bit with another thread count (torchrun sets 1)
            assert float(a[column]) == pytest.approx(float(b[column]), rel=1e-12, abs=1e-12), column


def test_part_files_left_by_a_killed_distributed_run_are_merged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TTSR_BENCH_DATA", raising=False)
    out = tmp_path / "run"
    assert run.main([*ARGS, "--out", str(out)]) == 0
    rows = _rows(out / "rows.csv")
    # pretend a torchrun run was killed after rank 1 wrote two rows but before rank 0 merged them
    (out / PARTS_DIR).mkdir()
    header = (out / "rows.csv").read_text().splitlines()[0]
    lines = (out / "rows.csv").read_text().splitlines()[1:3]
    (out / "rows.csv").write_text("\n".join([header] + (out / "rows.csv").read_text().splitlines()[3:]) + "\n")
    (out / PARTS_DIR / "rows-rank1.csv").write_text("\n".join([header] + lines) + "\n")
    assert run.main([*ARGS, "--out", str(out)]) == 0
    assert _rows(out / "rows.csv") == rows  # merged, in plan order, nothing recomputed
    assert not (out / PARTS_DIR).exists()
