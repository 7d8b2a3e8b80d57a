"""`python -m ttsr.sr`: end to end on the release's demo pair, and one clear line per bad input."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, shared_path
from ttsr.checkpoint import save_ttsr
from ttsr.config import TTSRConfig
from foundation.imageio import read_image, write_image
from ttsr.model import TTSR
from ttsr.sr import main
from tests.test_limits import bomb_png

SMALL = TTSRConfig(n_feats=8, num_res_blocks=(1, 1, 1, 1))



@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    return save_ttsr(TTSR(SMALL), tmp_path_factory.mktemp("w") / "random.pt", metadata={"origin": "random"})


def random_image(path, h, w, seed=0):
    write_image(path, np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))
    return path


def run(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_demo_pair_end_to_end(tmp_path, weights, capsys):
    demo = shared_path("data", "ttsr_demo")
    lr = demo / "lr" / "0.png"
    rc, out, err = run(capsys, "--lr", lr, "--ref", demo / "ref" / "0.png", "--weights", weights,
                       "--out", tmp_path / "sr.png", "--device", "cpu", "--max-memory", "256MB")
    assert rc == 0, err
    sr, lr_img = read_image(tmp_path / "sr.png"), read_image(lr)
    assert sr.shape == (lr_img.shape[0] * 4, lr_img.shape[1] * 4, 3)
    assert "sr.png" in out


def test_small_pair_with_hr_and_safetensors(tmp_path, capsys):
    torch.manual_seed(1)
    weights = save_ttsr(TTSR(SMALL), tmp_path / "w.safetensors")
    lr, ref, hr = (random_image(tmp_path / "lr.png", 8, 10), random_image(tmp_path / "ref.png", 27, 30, 1),
                   random_image(tmp_path / "hr.png", 35, 43, 2))  # 4·LR + 3: cropped by the protocol
    rc, out, err = run(capsys, "--lr", lr, "--ref", ref, "--weights", weights, "--out", tmp_path / "out" / "sr.png",
                       "--hr", hr, "--max-memory", "16M", "--max-pixels", "1505")
    assert rc == 0, err
    sr = read_image(tmp_path / "out" / "sr.png")
    assert sr.shape == (32, 40, 3)
    from metrics import psnr
    assert f"PSNR {psnr(sr, read_image(hr)[:32, :40]):.3f} dB" in out
    assert "RANDOM WEIGHTS" not in out  # no metadata says so (the test cannot know these are random)
    random = save_ttsr(TTSR(SMALL), tmp_path / "r.safetensors", metadata={"origin": "random weights (tests)"})
    rc, out, err = run(capsys, "--lr", lr, "--ref", ref, "--weights", random, "--out", tmp_path / "r.png",
                       "--hr", hr)
    assert rc == 0 and out.count("[RANDOM WEIGHTS: not a measurement of TTSR]") == 2  # the SR line and the PSNR


def test_runs_as_a_module():
    proc = subprocess.run([sys.executable, "-m", "ttsr.sr", "--help"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "--max-memory" in proc.stdout


@pytest.fixture()
def good(tmp_path):
    return {"lr": random_image(tmp_path / "lr.png", 6, 7), "ref": random_image(tmp_path / "ref.png", 16, 16, 1)}


def _bad_case(tmp_path, good, weights, case):
    args = {"lr": good["lr"], "ref": good["ref"], "weights": weights, "out": tmp_path / "sr.png"}
    if case == "missing lr":
        args["lr"] = tmp_path / "absent.png"
    elif case == "lr not an image":
        args["lr"] = tmp_path / "text.png"
        args["lr"].write_text("not an image")
    elif case == "lr too small":
        args["lr"] = random_image(tmp_path / "tiny.png", 2, 5)
    elif case == "ref too small":
        args["ref"] = random_image(tmp_path / "ref3.png", 3, 40)
    elif case == "missing ref":
        args["ref"] = tmp_path / "absent_ref.png"
    elif case == "unreadable checkpoint":
        args["weights"] = tmp_path / "w.pt"
        args["weights"].write_bytes(b"garbage" * 10)
    elif case == "missing checkpoint":
        args["weights"] = tmp_path / "none.pt"
    elif case == "bad memory size":
        args["max-memory"] = "lots"
    elif case == "memory below the floor":
        args["max-memory"] = "4"
    elif case == "hr of a x2 pair":
        args["hr"] = random_image(tmp_path / "hr2.png", 12, 14, 2)  # LR 6×7 at ×2
    elif case == "hr too small":
        args["hr"] = random_image(tmp_path / "hr10.png", 10, 10, 2)
    elif case == "hr one pixel too large":
        args["hr"] = random_image(tmp_path / "hr28.png", 28, 28, 2)  # 4·6 + 4
    elif case == "lr bomb":
        args["lr"] = tmp_path / "bomb.png"
        args["lr"].write_bytes(bomb_png(100_000, 100_000))
    elif case == "ref over max-pixels":
        args["max-pixels"] = "255"  # the 16×16 reference has 256
    elif case == "bad max-pixels":
        args["max-pixels"] = "0"
    return [x for k, v in args.items() for x in (f"--{k}", v)]


@pytest.mark.parametrize("case,needle", [
    ("missing lr", "not found"), ("lr not an image", "not a readable image"), ("lr too small", "smaller than 3×3"),
    ("ref too small", "under 4×4"), ("missing ref", "not found"), ("unreadable checkpoint", "not a PyTorch checkpoint"),
    ("missing checkpoint", "checkpoint not found"), ("bad memory size", "--max-memory"),
    ("memory below the floor", "below the 16 MiB"), ("hr of a x2 pair", "hr2.png (14×12) are not a ×4 LR/HR pair"),
    ("hr too small", "hr10.png (10×10) are not a ×4"), ("hr one pixel too large", "the HR must be 28–31 × 24–27"),
    ("lr bomb", "bomb.png: 100000×100000 is 10,000,000,000 pixels, over the limit"), ("ref over max-pixels", "ref.png: 16×16 is 256 pixels, over the limit of 255"),
    ("bad max-pixels", "--max-pixels '0'"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, good, weights, capsys, case, needle):
    rc, out, err = run(capsys, *_bad_case(tmp_path, good, weights, case))
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and needle in err
    assert not (tmp_path / "sr.png").exists()


def test_cuda_requested_without_cuda(tmp_path, good, weights, capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    rc, _, err = run(capsys, "--lr", good["lr"], "--ref", good["ref"], "--weights", weights,
                     "--out", tmp_path / "sr.png", "--device", "cuda")
    assert rc == 2 and "no CUDA" in err


def _alias(path, how, tmp_path):
    """Another name of `path`: itself, through ``..``, a symlink, or a hard link."""
    if how == "same":
        return path
    if how == "dotdot":
        (tmp_path / "sub").mkdir(exist_ok=True)
        return tmp_path / "sub" / ".." / path.name
    alias = tmp_path / f"alias-{how}{path.suffix}"
    (alias.symlink_to if how == "symlink" else alias.hardlink_to)(path)
    return alias


@pytest.mark.parametrize("how", ["same", "dotdot", "symlink", "hardlink"])
@pytest.mark.parametrize("option", ["lr", "ref", "hr", "weights"])
def test_out_that_is_an_input_is_refused_and_the_input_kept(tmp_path, good, capsys, monkeypatch, option, how):
    """A user's --out equal to --lr replaced the LR with the SR (exit 0); now one line, exit 2, before any work."""
    import ttsr.sr

    torch.manual_seed(0)
    files = {**good, "hr": random_image(tmp_path / "hr.png", 24, 28, 2),
             "weights": save_ttsr(TTSR(SMALL), tmp_path / "w.pt")}
    before = {name: path.read_bytes() for name, path in files.items()}
    monkeypatch.setattr(ttsr.sr, "prepare_inputs", lambda *a, **k: pytest.fail("work started"))
    out = _alias(files[option], how, tmp_path)
    rc, stdout, err = run(capsys, *[x for k, v in files.items() for x in (f"--{k}", v)], "--out", out)
    shown = "" if how == "same" else f" ({files[option]})"
    assert (rc, stdout) == (2, "")
    assert err == (f"error: --out {out}: is the --{option} file{shown}; the output would replace an input, "
                   "give another file\n")
    assert {name: path.read_bytes() for name, path in files.items()} == before
