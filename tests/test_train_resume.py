"""Exact resume and DDP equivalence of the trainer (issue 5, engineering)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from train_helpers import generator_state, small_config, small_trainer
from ttsr.trainer import STATE_FILE

REPO = Path(__file__).resolve().parents[1]


def test_resume_is_bitwise_exact(tmp_path):
    """Killed after step 5 (mid full-loss epoch, critic and GP in play) and resumed → same weights at 8."""
    cfg = small_config()
    full = small_trainer(cfg, tmp_path / "full")
    assert full.fit()["step"] == 8
    part = small_trainer(cfg, tmp_path / "part")
    assert part.fit(stop_after=5)["status"] == "stopped"
    resumed = small_trainer(cfg, tmp_path / "part")
    assert resumed.fit(resume=True)["step"] == 8
    a, b = generator_state(tmp_path / "full" / STATE_FILE), generator_state(tmp_path / "part" / STATE_FILE)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key  # bitwise
    ca = torch.load(tmp_path / "full" / STATE_FILE, weights_only=True)
    cb = torch.load(tmp_path / "part" / STATE_FILE, weights_only=True)
    for key in ca["critic"]:
        assert torch.equal(ca["critic"][key], cb["critic"][key]), key
    # the log of the resumed run has each step once
    steps = [line.split(",")[1] for line in (tmp_path / "part" / "log.csv").read_text().splitlines()[1:]
             if line.startswith("train")]
    assert steps == [str(i) for i in range(1, 9)]


TINY_DDP = """
name = "ddp-test"
[model]
n_feats = 8
num_res_blocks = [1, 1, 1, 1]
[data]
kind = "demo"
repeats = 2
patch = 32
batch_size = 4
num_workers = 0
seed = 1
[schedule]
init_epochs = 1
epochs = 1
[val]
dataset = "none"
[checkpoint]
every = 100
[log]
every = 1
"""


def _run(args, env_extra=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun's workers too
        out, err = proc.communicate()
        pytest.fail(f"timed out: {' '.join(args)}\n{err[-3000:]}")
    assert proc.returncode == 0, out[-2000:] + err[-4000:]


def test_ddp_two_gloo_processes_equal_single_process(tmp_path):
    """torchrun, 2 CPU processes (gloo), global batch 4 → the same weights as 1 process, batch 4."""
    config = tmp_path / "ddp.toml"
    config.write_text(TINY_DDP)
    common = ["-m", "ttsr.train", "--config", str(config), "--allow-random-vgg", "--device", "cpu",
              "--no-progress", "--threads", "1"]
    _run([sys.executable, *common, "--out", str(tmp_path / "single")])
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
          *common, "--out", str(tmp_path / "ddp")])
    a = generator_state(tmp_path / "single" / STATE_FILE)
    b = generator_state(tmp_path / "ddp" / STATE_FILE)
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    print(f"DDP vs single process: max |Δweight| = {worst:.3g}")
    assert worst <= 1e-5, worst
