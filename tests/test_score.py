"""`python -m benchmarks.score` end to end on the demo set: bicubic's saved SR images, scored as a
folder, give the run's PSNR/SSIM exactly; a missing and a wrong-size image are skipped with reasons;
changed files give new rows; the report renders; the naming rule; bad input is one line, exit 2."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from baselines.registry import METHODS
from benchmarks import run, score
from benchmarks.results import read_rows
from foundation.imageio import read_image, write_image

QUICK = ["--metrics", "psnr", "ssim"]
DEMO = ["motorcycle_stereo", "astronaut_warped", "coffee_zoomed", "chelsea_unrelated"]


def _csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _by_image(path: Path, method: str, ref_mode: str) -> dict[str, dict]:
    return {r["image"]: r for r in read_rows(path)[1] if r["method"] == method and r["ref_mode"] == ref_mode}


@pytest.fixture(scope="module")
def bicubic_run(tmp_path_factory):
    """bicubic on the demo protocol with --save-images: (run folder, {ref_mode: its SR image folder})."""
    out = tmp_path_factory.mktemp("run") / "demo"
    assert run.main(["--protocol", "demo", "--methods", "bicubic", "--save-images", "--out", str(out), *QUICK]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    folders = {p["ref_mode"]: out / "images" / "demo" / "bicubic" / p["config_id"] for p in manifest["plan"]["passes"]}
    return out, folders


def test_saved_images_score_exactly_as_the_run(bicubic_run, clean_env, capsys):
    """The SISR pass's folder (files `<image>@none.png`, the run's own naming): every row equals the
    run's row in PSNR, SSIM and data_sha256, as strings (full precision)."""
    out, folders = bicubic_run
    scored = clean_env / "scored"
    assert score.main(["--sr", str(folders["none"]), "--dataset", "demo", "--protocol", "demo", "--ref-mode", "NONE",
                       "--name", "bicubic", "--out", str(scored), *QUICK]) == 0
    printed = capsys.readouterr().out
    assert "(not a method run): 4 of 4 demo images paired" in printed
    mine, theirs = _by_image(scored / "rows.csv", "sr:bicubic", "none"), _by_image(out / "rows.csv", "bicubic", "none")
    assert sorted(mine) == sorted(DEMO)
    for image in DEMO:
        for column in ("psnr", "ssim", "data_sha256", "protocol", "dataset"):
            assert mine[image][column] == theirs[image][column], (image, column)
        assert mine[image]["config_id"] != theirs[image]["config_id"]
    manifest = json.loads((scored / "manifest.json").read_text())
    record = manifest["weights"]["sr:bicubic"]
    assert record["origin"] == f"SR images from {folders['none'].resolve()} (not a method run)"
    assert record["files"] == 4 and record["sha256"] == mine[DEMO[0]]["weights_sha256"] != "none"
    config = manifest["configs"][mine[DEMO[0]]["config_id"]]["config"]
    assert set(config["options"]["sr_files"]) == {f"{name}@none.png" for name in DEMO}
    summary = {r["method"]: r for r in _csv(scored / "summary.csv")}
    assert float(summary["sr:bicubic"]["psnr"]) == pytest.approx(np.mean([float(theirs[i]["psnr"]) for i in DEMO]))
    assert "sr:bicubic" not in METHODS  # registered for the command only


def test_missing_and_wrong_size_are_skipped_changed_files_rescored(bicubic_run, clean_env, capsys):
    out, folders = bicubic_run
    folder = clean_env / "mine"
    folder.mkdir()
    src = folders["graded"]
    shutil.copy(src / "motorcycle_stereo.png", folder / "motorcycle_stereo.png")      # exact name
    shutil.copy(src / "astronaut_warped.png", folder / "astronaut_warpedx4.png")      # NAMEx4
    small = read_image(src / "chelsea_unrelated.png")[:, :-4]                         # 4 px too narrow
    write_image(folder / "chelsea_unrelated_SR.png", small)                           # NAME_suffix
    write_image(folder / "notes.png", small)                                           # pairs with nothing
    # coffee_zoomed: no file
    scored = clean_env / "scored"
    args = ["--sr", str(folder), "--dataset", "Demo", "--protocol", "demo", "--name", "mine", "--out", str(scored),
            *QUICK]
    assert score.main(args) == 0
    printed = capsys.readouterr().out
    assert "3 of 4 demo images paired" in printed
    assert "ignored 1 file(s) pairing with no image: notes.png" in printed
    mine, theirs = _by_image(scored / "rows.csv", "sr:mine", "graded"), _by_image(out / "rows.csv", "bicubic", "graded")
    assert sorted(mine) == ["astronaut_warped", "motorcycle_stereo"]
    for image in mine:
        assert (mine[image]["psnr"], mine[image]["ssim"]) == (theirs[image]["psnr"], theirs[image]["ssim"])
    skipped = {r["what"]: r["reason"] for r in json.loads((scored / "skipped.json").read_text())}
    assert "no SR file for it (e.g. coffee_zoomed.png" in skipped["demo/coffee_zoomed (sr:mine)"]
    h, w = small.shape[:2]
    assert f"SR file chelsea_unrelated_SR.png is {w}×{h}; expected {w + 4}×{h}" in skipped["demo/chelsea_unrelated (sr:mine)"]

    # a changed SR file: a new configuration, new rows; the earlier rows stay in rows.csv
    first = mine["motorcycle_stereo"]["config_id"]
    write_image(folder / "motorcycle_stereo.png", np.zeros_like(read_image(folder / "motorcycle_stereo.png")))
    assert score.main(args) == 0
    rows = read_rows(scored / "rows.csv")[1]
    ids = {r["config_id"] for r in rows if r["image"] == "motorcycle_stereo"}
    assert first in ids and len(ids) == 2
    summary = _csv(scored / "summary.csv")  # the views show the latest command's rows
    assert [r["config_id"] for r in summary] == list(ids - {first})

    # the report of the folder renders, naming the SR images' origin
    from benchmarks.report.cli import main as report_main

    assert report_main(["--runs", str(scored), "--out", str(clean_env / "report")]) == 0
    html = (clean_env / "report" / "index.html").read_text()
    assert "sr:mine" in html and "not a method run" in html


def test_pairing_rule():
    files = [Path(n) for n in ("000.png", "000_TTSR.png", "001@stitched.PNG", "002x4.jpg", "003_a.png", "003_b.png",
                               "0040.png", "a_b.png", "a_b_c.png", "zzz.png", "004.png")]
    pairing = score.pair_files(["000", "001", "002", "003", "004", "005", "a_b", "a_b_c"], files)
    assert {k: v.name for k, v in pairing.files.items()} == {
        "000": "000.png", "001": "001@stitched.PNG", "002": "002x4.jpg", "004": "004.png", "a_b": "a_b.png",
        "a_b_c": "a_b_c.png"}
    assert pairing.problems["003"].startswith("several SR files pair with it (003_a.png, 003_b.png)")
    assert pairing.problems["005"].startswith("no SR file for it")
    assert [p.name for p in pairing.unpaired] == ["0040.png", "zzz.png"]


@pytest.mark.parametrize("extra, wanted", [
    (["--ref-mode", "L1"], "--ref-mode L1: protocol 'demo' has no demo pass with that reference mode; its demo "
                           "passes: graded, none"),
    (["--protocol", "table1"], "--dataset demo: not part of protocol 'table1'"),
    (["--name", "a/b"], "--name 'a/b': use 1-64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit "
                         "(it names rows and folders)"),
])
def test_bad_input_is_one_line(clean_env, capsys, extra, wanted):
    (clean_env / "sr").mkdir()
    write_image(clean_env / "sr" / "motorcycle_stereo.png", np.zeros((8, 8, 3), np.uint8))
    assert score.main(["--sr", str(clean_env / "sr"), "--dataset", "demo", "--protocol", "demo", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert wanted in err and "\n" not in err


def test_nothing_pairs_is_one_line(clean_env, capsys):
    (clean_env / "sr").mkdir()
    write_image(clean_env / "sr" / "photo.png", np.zeros((8, 8, 3), np.uint8))
    assert score.main(["--sr", str(clean_env / "sr"), "--dataset", "demo", "--protocol", "demo"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no SR file pairs with an image of demo (4 images, e.g. motorcycle_stereo)" in err
    assert "the folder holds: photo.png" in err and "\n" not in err
    assert not (clean_env / "runs").exists()


def test_ttsr_bench_score_is_listed():
    from benchmarks.cli import COMMANDS

    assert COMMANDS["score"][0] == "benchmarks.score"


def test_only_ambiguous_pairs_is_one_line_naming_them(clean_env, capsys):
    folder = clean_env / "sr"
    for name in ("motorcycle_stereo_a.png", "motorcycle_stereo_b.png", "coffee_zoomed.png", "coffee_zoomed.jpg"):
        write_image(folder / name, np.zeros((8, 8, 3), np.uint8))
    assert score.main(["--sr", str(folder), "--dataset", "demo", "--protocol", "demo"]) == 2
    assert capsys.readouterr().err == (
        f"error: --sr {folder}: no demo image has a single SR file; 2 image(s) pair with several files: "
        "motorcycle_stereo (motorcycle_stereo_a.png, motorcycle_stereo_b.png), coffee_zoomed (coffee_zoomed.jpg, "
        f"coffee_zoomed.png); keep one file per image in the folder ({score.PAIRING_RULE})\n")
    assert not (clean_env / "runs").exists()
