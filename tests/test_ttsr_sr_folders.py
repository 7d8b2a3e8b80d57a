"""`python -m ttsr.sr --lr DIR --ref DIR|FILE --out DIR`: pairing by stem, resume, one model load,
the same SR bytes as the single-pair form, and one clear line per bad folder input."""
from __future__ import annotations

import os
import numpy as np
import pytest
import torch

import ttsr.sr
from foundation.imageio import read_image, write_image
from ttsr.checkpoint import save_ttsr
from ttsr.config import TTSRConfig
from ttsr.model import TTSR
from ttsr.sr import main, pair_folder

SMALL = TTSRConfig(n_feats=8, num_res_blocks=(1, 1, 1, 1))
LR_SIZES = {"a": (6, 7), "b": (8, 5), "c": (7, 9)}  # stem -> (h, w): three different sizes


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    return save_ttsr(TTSR(SMALL), tmp_path_factory.mktemp("w") / "random.pt", metadata={"origin": "random"})


def image(path, h, w, seed):
    write_image(path, np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))
    return path


@pytest.fixture()
def folders(tmp_path):
    """lr/{a,b,c}.png and ref/{a.png, b.bmp, c.png}: the stems pair them whatever the suffix."""
    lr, ref = tmp_path / "lr", tmp_path / "ref"
    lr.mkdir(), ref.mkdir()
    for seed, (stem, (h, w)) in enumerate(LR_SIZES.items()):
        image(lr / f"{stem}.png", h, w, seed)
        image(ref / f"{stem}{'.bmp' if stem == 'b' else '.png'}", 16 + 4 * seed, 18, 10 + seed)
    return lr, ref


@pytest.fixture()
def loads(monkeypatch):
    """Counts the model loads of `ttsr.sr`."""
    calls = []

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    real = ttsr.sr.load_ttsr
    monkeypatch.setattr(ttsr.sr, "load_ttsr", counting)
    return calls


def run(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args] + ["--device", "cpu"])
    out, err = capsys.readouterr()
    return rc, out, err


def single(capsys, tmp_path, weights, lr, ref) -> bytes:
    """The SR of one pair by the single-pair form, as file bytes."""
    out = tmp_path / "single" / f"{lr.stem}.png"
    rc, _, err = run(capsys, "--lr", lr, "--ref", ref, "--weights", weights, "--out", out)
    assert rc == 0, err
    return out.read_bytes()


def test_folder_equals_single_pairs_and_resumes(tmp_path, folders, weights, capsys, loads):
    lr, ref = folders
    out = tmp_path / "sr"
    rc, stdout, err = run(capsys, "--lr", lr, "--ref", ref, "--weights", weights, "--out", out)
    assert rc == 0, err
    assert len(loads) == 1  # the model is loaded once for the three images
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]  # no temporary file left
    for stem, (h, w) in LR_SIZES.items():
        assert read_image(out / f"{stem}.png").shape == (4 * h, 4 * w, 3)
        ref_file = next(ref.glob(f"{stem}.*"))
        assert (out / f"{stem}.png").read_bytes() == single(capsys, tmp_path, weights, lr / f"{stem}.png", ref_file)
    summary = stdout.strip().splitlines()[-1]
    assert summary.startswith(f"{out}: 3 SR written (")
    assert "0 already there, 0 without a reference, 0 failed [RANDOM WEIGHTS" in summary
    assert stdout.count(" from ") == 3  # one line per SR written

    loads.clear()
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    rc, stdout, err = run(capsys, "--lr", lr, "--ref", ref, "--weights", weights, "--out", out)
    assert rc == 0 and err == ""
    assert stdout.strip() == (f"{out}: 0 SR written (0.00 s on cpu), 3 already there, 0 without a reference, "
                              "0 failed")
    assert loads == []  # nothing to do: the model is not even loaded
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before

    (out / "a.png").unlink()
    image(out / "b.png", 5, 5, 99)  # not 4× its LR: made by something else, replaced
    rc, stdout, err = run(capsys, "--lr", lr, "--ref", ref, "--weights", weights, "--out", out)
    assert rc == 0 and "2 SR written" in stdout and "1 already there" in stdout
    assert (out / "b.png").stat().st_mtime_ns != before["b.png"]
    assert (out / "c.png").stat().st_mtime_ns == before["c.png"]
    assert read_image(out / "b.png").shape == (32, 20, 3)

    later = (out / "c.png").stat().st_mtime_ns + 10**9
    os.utime(ref / "c.png", ns=(later, later))  # a reference changed after its SR was made
    rc, stdout, err = run(capsys, "--lr", lr, "--ref", ref, "--weights", weights, "--out", out)
    assert rc == 0 and "1 SR written" in stdout and "2 already there" in stdout
    assert (out / "c.png").stat().st_mtime_ns != before["c.png"]

    rc, stdout, err = run(capsys, "--lr", lr, "--ref", ref, "--weights", weights, "--out", out, "--force")
    assert rc == 0 and "3 SR written" in stdout and "0 already there" in stdout


def test_missing_reference_is_listed_and_skipped(tmp_path, folders, weights, capsys):
    lr, ref = folders
    image(lr / "d.png", 6, 6, 7)  # no ref/d.*
    out = tmp_path / "sr"
    rc, stdout, err = run(capsys, "--lr", lr, "--ref", ref, "--weights", weights, "--out", out)
    assert rc == 0
    assert err == f"skipped {lr / 'd.png'}: no reference named d.* in {ref}\n"
    assert "3 SR written" in stdout and "1 without a reference" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]


def test_one_reference_file_for_every_lr(tmp_path, folders, weights, capsys):
    lr, ref = folders
    out = tmp_path / "sr"
    rc, stdout, err = run(capsys, "--lr", lr, "--ref", ref / "c.png", "--weights", weights, "--out", out)
    assert rc == 0, err
    for stem in LR_SIZES:
        assert (out / f"{stem}.png").read_bytes() == single(capsys, tmp_path, weights, lr / f"{stem}.png",
                                                            ref / "c.png")


def test_unusable_image_is_skipped_with_its_reason(tmp_path, folders, weights, capsys):
    lr, ref = folders
    (lr / "b.png").write_text("not an image")
    out = tmp_path / "sr"
    rc, stdout, err = run(capsys, "--lr", lr, "--ref", ref, "--weights", weights, "--out", out)
    assert rc == 0
    assert err.startswith(f"skipped {lr / 'b.png'}: {lr / 'b.png'}: not a readable image") and err.count("\n") == 1
    assert "2 SR written" in stdout and "1 failed" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png"]
    for stem in ("a", "c"):
        (lr / f"{stem}.png").write_text("not an image")
    rc, stdout, _ = run(capsys, "--lr", lr, "--ref", ref, "--weights", weights, "--out", tmp_path / "sr2")
    assert rc == 3 and "0 SR written" in stdout and "3 failed" in stdout  # nothing could be made


def test_interrupted_run_keeps_finished_images_and_resumes(tmp_path, folders, weights, capsys, monkeypatch):
    lr, ref = folders
    out = tmp_path / "sr"
    real, calls = ttsr.sr.super_resolve, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(ttsr.sr, "super_resolve", interrupted)
    rc, _, err = run(capsys, "--lr", lr, "--ref", ref, "--weights", weights, "--out", out)
    assert rc == 130 and "finished work is kept" in err
    assert [p.name for p in out.iterdir()] == ["a.png"]  # the finished one, and no half file
    monkeypatch.setattr(ttsr.sr, "super_resolve", real)
    rc, stdout, _ = run(capsys, "--lr", lr, "--ref", ref, "--weights", weights, "--out", out)
    assert rc == 0 and "2 SR written" in stdout and "1 already there" in stdout


def test_pairing_rule(tmp_path, folders):
    lr, ref = folders
    image(lr / "z.jpg", 6, 6, 3)
    jobs, missing = pair_folder(lr, ref, tmp_path / "sr")
    assert [(j.lr.name, j.ref.name, j.out.name) for j in jobs] == [
        ("a.png", "a.png", "a.png"), ("b.png", "b.bmp", "b.png"), ("c.png", "c.png", "c.png")]
    assert missing == [lr / "z.jpg"]


@pytest.mark.parametrize("case,needle", [
    ("no pair", "no LR image in"), ("empty lr folder", "no image in the folder"),
    ("out is the lr folder", "is the --lr folder; the output would replace an input"),
    ("out is the ref folder", "is the --ref folder"), ("two lr with one stem", "a.jpg and a.png"),
    ("two refs with one stem", "have the same stem, which one is meant is unclear"),
    ("hr with a folder", "--hr: works with one --lr file"), ("missing ref", "not found"),
    ("ref folder with an lr file", "is a folder; with one --lr file"), ("force with an lr file", "--force: only for"),
    ("out is a file", "exists and is not a folder"),
])
def test_bad_folder_input_is_one_line_exit_2(tmp_path, folders, weights, capsys, case, needle):
    lr, ref = folders
    out = tmp_path / "sr"
    args = {"lr": lr, "ref": ref, "weights": weights, "out": out}
    flags = []
    if case == "no pair":
        args["ref"] = tmp_path / "other"
        args["ref"].mkdir()
        image(args["ref"] / "x.png", 8, 8, 1)
    elif case == "empty lr folder":
        args["lr"] = tmp_path / "empty"
        args["lr"].mkdir()
    elif case == "out is the lr folder":
        args["out"] = lr
    elif case == "out is the ref folder":
        args["out"] = ref
    elif case == "two lr with one stem":
        image(lr / "a.jpg", 6, 6, 1)
    elif case == "two refs with one stem":
        image(ref / "a.bmp", 8, 8, 1)
    elif case == "hr with a folder":
        args["hr"] = lr / "a.png"
    elif case == "missing ref":
        args["ref"] = tmp_path / "absent"
    elif case == "ref folder with an lr file":
        args["lr"] = lr / "a.png"
        args["out"] = out / "a.png"
    elif case == "force with an lr file":
        args["lr"], args["ref"], args["out"] = lr / "a.png", ref / "a.png", out / "a.png"
        flags = ["--force"]
    elif case == "out is a file":
        out.write_text("x")
    rc, stdout, err = run(capsys, *[x for k, v in args.items() for x in (f"--{k}", v)], *flags)
    assert rc == 2, (stdout, err)
    assert err.count("\n") == 1 and err.startswith("error: ") and needle in err
    assert stdout == "" and (case == "out is a file" or not out.exists())


@pytest.mark.parametrize("how", ["dotdot", "symlink"])
def test_out_that_is_the_lr_folder_by_another_name_is_refused(tmp_path, folders, weights, capsys, how):
    lr, ref = folders
    before = {p.name: p.read_bytes() for p in lr.iterdir()}
    if how == "dotdot":
        out = ref / ".." / "lr"
    else:
        out = tmp_path / "link"
        out.symlink_to(lr)
    rc, stdout, err = run(capsys, "--lr", lr, "--ref", ref, "--weights", weights, "--out", out)
    assert (rc, stdout) == (2, "")
    assert err == f"error: --out {out}: is the --lr folder ({lr}); the output would replace an input, give another folder\n"
    assert {p.name: p.read_bytes() for p in lr.iterdir()} == before


def test_out_with_an_image_suffix_for_an_lr_folder_is_refused(tmp_path, folders, weights, capsys):
    """It used to create a folder named sr.png."""
    lr, ref = folders
    out = tmp_path / "sr.PNG"
    rc, stdout, err = run(capsys, "--lr", lr, "--ref", ref, "--weights", weights, "--out", out)
    assert (rc, stdout) == (2, "")
    assert err == (f"error: --out {out}: names an image file, but --lr {lr} is a folder; give a folder for the SR "
                   "images (or one --lr file)\n")
    assert not out.exists()


def test_missing_weights_come_before_the_skipped_lines(tmp_path, folders, capsys, loads):
    lr, ref = folders
    (ref / "c.png").unlink()  # c has no reference: it would be listed as skipped
    weights = tmp_path / "none.pt"
    rc, stdout, err = run(capsys, "--lr", lr, "--ref", ref, "--weights", weights, "--out", tmp_path / "sr")
    assert (rc, stdout, loads) == (2, "", [])
    assert err == (f"error: {weights}: checkpoint not found; check the path (--weights); `python -m benchmarks.weights "
                   "list` shows where every method's file comes from\n")
    assert not (tmp_path / "sr").exists()
