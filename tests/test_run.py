"""`python -m benchmarks.run` end to end on the built-in demo set, in-process (quick, CPU).

The fresh-machine run (no data, no weights), the demo protocol with bicubic and a TTSR checkpoint
made from random weights (labelled so), identical reruns and --force, --save-images, and every
bad-input case (one line, exit 2, finished rows kept).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import run
from benchmarks.results import TIMING_COLUMNS, read_rows
from tests.fixture_runs import random_ttsr

QUICK = ["--metrics", "psnr", "ssim"]




def _values(path):
    """rows.csv without the timing columns (what must be identical between runs)."""
    columns, rows = read_rows(path)
    return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in rows]




def test_fresh_machine_runs_the_demo_set_and_says_what_is_missing(clean_env, capsys):
    assert run.main(QUICK) == 0
    out = capsys.readouterr().out
    assert "running the built-in demo set" in out
    run_dir = clean_env / "runs" / "default"
    rows = _values(run_dir / "rows.csv")
    assert [(r["method"], r["ref_mode"]) for r in rows] == [("bicubic", "graded")] * 4 + [("bicubic", "none")] * 4
    assert all(float(r["psnr"]) > 15 and 0 < float(r["ssim"]) < 1 for r in rows)
    skipped = json.loads((run_dir / "skipped.json").read_text())
    what = {s["what"]: s for s in skipped}
    assert "CUFED5" in what["dataset cufed5"]["fix"] and "http" in what["dataset cufed5"]["fix"]
    assert "IMDN_x4.pth" in what["method imdn"]["reason"] and "./weights" in what["method imdn"]["fix"]
    printed = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "data/CUFED5" in printed["cufed5"] and "http" in printed["cufed5"]  # printed too
    assert "IMDN_x4.pth" in printed["imdn"] and "fetch imdn" in printed["imdn"]
    summary = (run_dir / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("method,dataset,protocol,ref_mode,config_id,weights_sha256,weights,images,psnr,ssim") \
        and len(summary) == 3
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["versions"]["torch"] and manifest["device"]["device"] == "cpu"
    assert manifest["weights"]["bicubic"]["origin"] == "none needed"


def test_demo_with_random_ttsr_rerun_force_and_images(clean_env, capsys):
    from baselines import registry

    if "ttsr" not in registry.names():
        pytest.skip("the ttsr method is not registered (baselines/ttsr adapter missing)")
    ckpt = random_ttsr(clean_env / "ttsr-random.pt")
    out_dir = clean_env / "runs" / "demo"
    args = ["--protocol", "demo", "--methods", "bicubic", "ttsr", "--weights", f"ttsr={ckpt}",
            "--out", str(out_dir), "--save-images", "--limit", "1", *QUICK]
    assert run.main(args) == 0
    printed = capsys.readouterr().out
    assert "RANDOM WEIGHTS" in printed
    rows = _values(out_dir / "rows.csv")
    # bicubic (a SISR method) runs both demo passes; TTSR only the RefSR pass
    assert [(r["method"], r["ref_mode"]) for r in rows] == (
        [("bicubic", "graded"), ("bicubic", "none"), ("ttsr", "graded")])
    assert "(n=1/4)" in printed  # a partial set is shown as such
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["weights"]["ttsr"]["random"] and manifest["random_weights"] == ["ttsr"]
    assert manifest["weights"]["ttsr"]["found_in"] == "--weights"
    assert len(manifest["weights"]["ttsr"]["sha256"]) == 64
    config = {(p["method"], p["ref_mode"]): p["config_id"] for p in manifest["plan"]["passes"]}
    images = out_dir / "images" / "demo"
    assert (images / "ttsr" / config["ttsr", "graded"] / "motorcycle_stereo.png").is_file()
    assert (images / "bicubic" / config["bicubic", "none"] / "motorcycle_stereo@none.png").is_file()
    assert (images / "_hr" / "motorcycle_stereo.png").is_file() and (images / "_ref" / "motorcycle_stereo.png").is_file()
    attention = np.load(out_dir / "attention" / "demo" / "ttsr" / config["ttsr", "graded"] / "motorcycle_stereo.npz")
    assert {"hard_index", "S", "lr_size", "ref_size"} <= set(attention.files)

    before = (out_dir / "rows.csv").read_bytes()
    assert run.main(args) == 0  # everything finished: nothing recomputed, file unchanged
    assert (out_dir / "rows.csv").read_bytes() == before
    assert run.main(args + ["--force"]) == 0  # recomputed: same values, new timings
    assert _values(out_dir / "rows.csv") == rows
    assert len(read_rows(out_dir / "rows.csv")[1]) == len(rows)


def test_two_runs_give_identical_rows(clean_env):
    first, second = clean_env / "a", clean_env / "b"
    for out in (first, second):
        assert run.main(["--protocol", "demo", "--methods", "bicubic", "--out", str(out), *QUICK]) == 0
    assert _values(first / "rows.csv") == _values(second / "rows.csv")


def test_names_in_any_case_are_the_registered_names_and_reuse_their_rows(clean_env, capsys):
    """`--methods Bicubic --protocol Demo …` is the command `--methods bicubic --protocol demo …`:
    same rows (reused, not recomputed), identities, run folder and manifest."""
    lower = ["--protocol", "demo", "--methods", "bicubic", "--datasets", "demo", "--metrics", "psnr", "ssim"]
    mixed = ["--protocol", "Demo", "--methods", "Bicubic", "BICUBIC", "--datasets", "DEMO", "--metrics", "PSNR", "Ssim"]
    out = clean_env / "runs" / "demo"
    assert run.main(lower + ["--limit", "1"]) == 0
    rows, manifest = (out / "rows.csv").read_bytes(), json.loads((out / "manifest.json").read_text())
    assert run.main(mixed + ["--limit", "1"]) == 0  # the default run folder: runs/demo, not runs/Demo
    assert (out / "rows.csv").read_bytes() == rows  # every row reused: nothing recomputed
    again = json.loads((out / "manifest.json").read_text())
    assert again["plan"]["passes"] == manifest["plan"]["passes"]
    assert {p["method"] for p in again["plan"]["passes"]} == {"bicubic"} and list(again["weights"]) == ["bicubic"]
    assert sorted(p.name for p in (clean_env / "runs").iterdir()) == ["demo"]
    # the settings file's methods and metrics too; an unknown name there is one line naming the key
    (clean_env / "ttsr-bench.toml").write_text('methods = ["BiCubic"]\nmetrics = ["PSNR", "SSIM"]\n')
    assert run.main(["--protocol", "DEMO", "--datasets", "Demo", "--limit", "1"]) == 0
    assert (out / "rows.csv").read_bytes() == rows
    (clean_env / "ttsr-bench.toml").write_text('methods = ["Bicubic", "Nosuch"]\n')
    capsys.readouterr()
    assert run.main(["--protocol", "demo"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ttsr-bench.toml: methods: unknown method 'Nosuch'; valid names: bicubic" in err


def test_unknown_names_list_the_valid_ones(clean_env, capsys):
    assert run.main(["--methods", "nosuch", *QUICK]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nosuch" in err and "bicubic" in err and "imdn" in err
    assert run.main(["--datasets", "cufed6", *QUICK]) == 2
    err = capsys.readouterr().err
    assert "cufed6" in err and "cufed5" in err and "urban100" in err
    assert run.main(["--protocol", "table9", *QUICK]) == 2
    assert "table1" in capsys.readouterr().err
    assert run.main(["--protocol", "sisr", "--datasets", "cufed5", *QUICK]) == 2
    assert "set5" in capsys.readouterr().err
    assert run.main(["--metrics", "psnr", "nosuch"]) == 2
    assert "ssim" in capsys.readouterr().err
    assert run.main(["--weights", "imdn", *QUICK]) == 2
    assert "NAME=PATH" in capsys.readouterr().err


def test_bad_data_root(clean_env, capsys, monkeypatch):
    assert run.main(["--data-root", str(clean_env / "missing"), *QUICK]) == 2
    assert "missing" in capsys.readouterr().err
    (clean_env / "empty").mkdir()
    assert run.main(["--data-root", str(clean_env / "empty"), *QUICK]) == 2
    assert "empty" in capsys.readouterr().err
    monkeypatch.setenv("TTSR_BENCH_DATA", str(clean_env / "nowhere"))
    assert run.main(QUICK) == 2
    assert "TTSR_BENCH_DATA" in capsys.readouterr().err


def test_wrong_weights_exit_2_and_keep_finished_rows(clean_env, capsys):
    ckpt = random_ttsr(clean_env / "not-imdn.pt")  # a TTSR checkpoint passed as IMDN's
    out_dir = clean_env / "runs" / "wrong"
    code = run.main(["--protocol", "demo", "--methods", "bicubic", "imdn", "--weights", f"imdn={ckpt}",
                     "--out", str(out_dir), *QUICK])
    assert code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # (tqdm bars above it)
    assert last.startswith("error: ") and "not-imdn.pt" in last
    rows = _values(out_dir / "rows.csv")
    assert len(rows) == 8 and {r["method"] for r in rows} == {"bicubic"}  # finished work kept
    assert (out_dir / "summary.csv").is_file() and (out_dir / "manifest.json").is_file()


def test_max_memory_option_is_parsed():
    def parse(*argv):
        return run.build_parser().parse_args(list(argv)).max_memory

    assert parse("--max-memory", "4G") == 4 * 2**30 and parse("--max-memory", "512m") == 512 * 2**20
    assert parse() is None and parse("--max-memory", "1000") == 1000 * 2**20  # bare number: MiB


def test_summary_table_shows_the_paper_and_marks_unconfirmed_cells():
    from benchmarks.protocols import get

    def row(protocol, ref_mode, image, psnr, ssim):
        return {"method": "ttsr-rec", "dataset": "cufed5", "protocol": protocol, "ref_mode": ref_mode,
                "image": image, "psnr": repr(psnr), "ssim": repr(ssim), "lpips": "", "seconds": "1.0",
                "peak_mem_mb": "1.0"}

    rows = [row("table1", "stitched", "000", 27.0, 0.80), row("table1", "stitched", "001", 27.2, 0.81),
            row("table4", "l2", "000", 26.74, 0.791)]
    evaluations = list(get("table1").evaluations) + list(get("table4").evaluations)
    text = run.summary_table(rows, evaluations, random_methods=[])
    assert "27.10 / 0.8050" in text and "paper 27.09 / 0.804" in text and "Δ +0.01" in text
    assert "26.74⚠" in text  # Table 4's L2 cell is unconfirmed
    marked = run.summary_table(rows, evaluations, random_methods=["ttsr-rec"])
    # every cell of a random-weights method says so, and it is not judged against the paper
    assert marked.count("RANDOM WEIGHTS: not a measurement") == 2 and "[random weights: not judged]" in marked
