"""Exact resume and DDP equivalence of the trainer (issue 5, engineering)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from train_helpers import (Crash, assert_same_state, crash_in_step, generator_state, log_rows, small_config,
                           small_trainer, synthetic_images)
from foundation.errors import UserError
from training.trainer import STATE_FILE

REPO = Path(__file__).resolve().parents[1]


def _full_and_state(folder):
    return torch.load(folder / STATE_FILE, weights_only=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The uninterrupted runs the resume tests compare with, each trained once: name → run folder."""
    runs = {}

    def run(name, cfg, prepare=lambda trainer: trainer):
        if name not in runs:
            runs[name] = tmp_path_factory.mktemp(name)
            assert prepare(small_trainer(cfg, runs[name])).fit()["step"] == 8
        return runs[name]

    return run


@pytest.mark.parametrize("interrupt", ["stop after step 5", "killed in step 4", "killed in step 7"])
def test_resume_is_bitwise_exact(tmp_path, uninterrupted, interrupt):
    """Interrupted (a stop mid full-loss epoch with critic and GP in play, or a kill that loses the steps
    since the last checkpoint) and resumed → the whole train_state (weights, optimisers, RNG states of
    torch/NumPy/Python, position, log window) bitwise equal to the uninterrupted run's, and the same log.csv."""
    cfg = small_config(log={"every": 3})  # log rows at 3, 6, 8: a resume inside a log window
    full = uninterrupted("log-every-3", cfg)
    part = small_trainer(cfg, tmp_path / "part")
    if interrupt.startswith("stop"):
        assert part.fit(stop_after=5)["status"] == "stopped"
    else:
        crash_in_step(part, int(interrupt.split()[-1]))
        with pytest.raises(Crash):
            part.fit()
    resumed = small_trainer(cfg, tmp_path / "part")
    assert resumed.fit(resume=True)["step"] == 8
    a, b = _full_and_state(full), _full_and_state(tmp_path / "part")
    for key in ("generator", "critic"):  # the weights first, for a clear message
        assert_same_state(a[key], b[key], key)
    assert_same_state(a["rng"], b["rng"], "rng")
    assert_same_state(a, b)
    rows = log_rows(tmp_path / "part")
    assert [(r["kind"], r["step"]) for r in rows] == [("train", "3"), ("train", "6"), ("train", "8")]
    assert rows == log_rows(full)


def _tiny_validator(trainer):
    from types import SimpleNamespace

    from benchmarks.train import make_validator

    images = synthetic_images(count=2, size=48, seed=5)
    samples = [SimpleNamespace(hr=image[:32, :32], ref=image[8:40, 8:40]) for image in images]
    trainer.validator = make_validator(samples, trainer.device, 4)
    return trainer


@pytest.mark.parametrize("interrupt", ["stop after step 4", "killed in step 5", "killed in validation"])
def test_resume_at_an_epoch_boundary_with_validation(tmp_path, uninterrupted, interrupt):
    """Stopped or killed at the end of epoch 0 (step 4, validation every epoch) → no validation row written
    twice or lost, best model and train_state as in the uninterrupted run."""
    cfg = small_config(checkpoint={"every": 4})
    full = uninterrupted("validated", cfg, _tiny_validator)
    part = _tiny_validator(small_trainer(cfg, tmp_path / "part"))
    if interrupt.startswith("stop"):
        assert part.fit(stop_after=4)["status"] == "stopped"
    elif interrupt == "killed in step 5":
        crash_in_step(part, 5)
        with pytest.raises(Crash):
            part.fit()
    else:
        def dies(predict):
            raise Crash("killed during the epoch-end validation")
        part.validator = dies
        with pytest.raises(Crash):
            part.fit()
    resumed = _tiny_validator(small_trainer(cfg, tmp_path / "part"))
    assert resumed.fit(resume=True)["step"] == 8
    rows = log_rows(tmp_path / "part")
    assert [(r["kind"], r["step"]) for r in rows if r["kind"] == "val"] == [("val", "4"), ("val", "8")]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [str(i) for i in range(1, 9)]
    assert rows == log_rows(full)
    assert_same_state(_full_and_state(full), _full_and_state(tmp_path / "part"))


def test_resuming_a_finished_run_adds_no_row(tmp_path):
    """A finished run (final validation at step 8, off the every-3 grid) resumed again: nothing is redone."""
    cfg = small_config(val={"every": 3})
    trainer = small_trainer(cfg, tmp_path)
    trainer.validator = lambda predict: {"val_psnr": 1.0}
    trainer.fit()
    before = log_rows(tmp_path)
    assert [r["step"] for r in before if r["kind"] == "val"] == ["3", "6", "8"]
    again = small_trainer(cfg, tmp_path)
    again.validator = lambda predict: pytest.fail("validated again")
    assert again.fit(resume=True)["step"] == 8
    assert log_rows(tmp_path) == before


# ----------------------------------------------------------------------------- crafted train_state.pt

@pytest.fixture(scope="module")
def saved_state(tmp_path_factory):
    folder = tmp_path_factory.mktemp("state")
    small_trainer(small_config(), folder).fit(stop_after=2)
    return torch.load(folder / STATE_FILE, weights_only=True)


def _drop(key):
    def change(state):
        del state[key]
        return state
    return change


def _set(path, value):
    def change(state):
        target = state
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        return state
    return change


def _misshapen_generator(state):
    key = next(k for k, v in state["generator"].items() if v.dim() == 4)
    state["generator"][key] = torch.zeros(1, 1, 1, 1)
    return state


CRAFTED = [
    ("missing recipe", _drop("recipe"), "a damaged training checkpoint (key 'recipe' is missing)"),
    ("missing rng", _drop("rng"), "key 'rng' is missing"),
    ("position of the wrong type", _set(("position", "step"), "5"), "'position.step' = '5' (input should be a valid integer)"),
    ("rng of the wrong type", _set(("rng", "torch"), [1, 2, 3]), "'rng.torch' is a list"),
    ("a list", lambda state: [state], "not a ttsr-bench training checkpoint (format 'a list'"),
    ("another format", _set(("format",), "other/1"), "not a ttsr-bench training checkpoint (format 'other/1'"),
    ("another recipe", _set(("recipe",), "srntt"), "trained with recipe 'srntt', not 'ttsr'"),
    ("another config", _set(("config", "model", "n_feats"), 16), "started with a different config (model.n_feats: 16 → 8)"),
    ("another loss", _set(("config", "loss", "adv"), 0.0), "loss.adv: 0.0 → 0.001"),
    ("no critic", _drop("critic"), "no critic in the checkpoint, but in this run"),
    ("misshapen weights", _misshapen_generator, "its weights or optimiser states do not fit this model"),
    ("negative position", _set(("position", "epoch"), -1), "'position.epoch' = -1 (input should be greater than or equal to 0)"),
]


@pytest.mark.parametrize("name, change, expected", CRAFTED, ids=[c[0] for c in CRAFTED])
def test_a_crafted_train_state_is_refused_with_one_line(tmp_path, saved_state, name, change, expected):
    import copy

    state = change(copy.deepcopy(saved_state))
    path = tmp_path / STATE_FILE
    torch.save(state, path)
    trainer = small_trainer(small_config(), tmp_path)
    with pytest.raises(UserError) as caught:
        trainer.fit(resume=True)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message, message
    assert "\n" not in message and ("to start over" in message or "resume" in message), message


@pytest.mark.parametrize("content", [b"not a checkpoint", b""])
def test_an_unreadable_train_state_is_refused(tmp_path, content):
    (tmp_path / STATE_FILE).write_bytes(content)
    with pytest.raises(UserError, match=f"{STATE_FILE}: not a readable training checkpoint .*to start over"):
        small_trainer(small_config(), tmp_path).fit(resume=True)


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
    common = ["-m", "benchmarks.train", "--config", str(config), "--allow-random-vgg", "--device", "cpu",
              "--no-progress", "--threads", "1"]
    _run([sys.executable, *common, "--out", str(tmp_path / "single")])
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
          *common, "--out", str(tmp_path / "ddp")])
    a = generator_state(tmp_path / "single" / STATE_FILE)
    b = generator_state(tmp_path / "ddp" / STATE_FILE)
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    print(f"DDP vs single process: max |Δweight| = {worst:.3g}")
    assert worst <= 1e-5, worst
