"""A number belongs to its command: result identity, resume by identity, one run per folder,
per-image method failures, exit statuses (issue: results you can trust)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks import run
from benchmarks.results import read_rows
from tests.fixture_runs import random_ttsr
from foundation.errors import EXIT_NOTHING_MEASURED

REPO = Path(__file__).resolve().parents[1]
QUICK = ["--metrics", "psnr", "ssim"]






def _summary_psnr(out: Path, method: str) -> list[float]:
    lines = (out / "summary.csv").read_text().splitlines()
    header = lines[0].split(",")
    return [float(dict(zip(header, line.split(",")))["psnr"]) for line in lines[1:]
            if line.startswith(method + ",")]


def _printed_cell(text: str, method: str) -> str:
    line = next(line for line in text.splitlines() if line.startswith(f"│ {method}"))
    return line.split("│")[2].strip()


def test_other_weights_give_their_own_numbers_and_going_back_reuses_rows(clean_env, capsys, monkeypatch):
    """A then B gives B's numbers (printed, summary, manifest); A again reuses A's rows, computing nothing."""
    a = random_ttsr(clean_env / "A.pt", seed=1)
    b = random_ttsr(clean_env / "B.pt", seed=2)
    out = clean_env / "runs" / "demo"
    base = ["--protocol", "demo", "--methods", "ttsr", "--out", str(out), "--limit", "1", *QUICK]
    computed = []
    from benchmarks.runner.execute import Executor

    evaluate = Executor.evaluate
    monkeypatch.setattr(Executor, "evaluate",
                        lambda self, *a_, **k: (computed.append(a_[2]), evaluate(self, *a_, **k))[1])

    assert run.main(base + ["--weights", f"ttsr={a}"]) == 0
    printed_a = _printed_cell(capsys.readouterr().out, "ttsr")
    psnr_a = _summary_psnr(out, "ttsr")
    assert len(computed) == 1

    assert run.main(base + ["--weights", f"ttsr={b}"]) == 0
    printed_b = _printed_cell(capsys.readouterr().out, "ttsr")
    psnr_b = _summary_psnr(out, "ttsr")
    assert len(computed) == 2  # B's weights: recomputed, not A's row reused
    assert psnr_b != psnr_a and printed_b != printed_a
    summary = (out / "summary.csv").read_text().splitlines()
    assert summary[0].split(",")[6] == "weights" and summary[1].split(",")[6] == "RANDOM"  # said in the data file too
    manifest = json.loads((out / "manifest.json").read_text())
    sha_b = manifest["weights"]["ttsr"]["sha256"]
    rows = read_rows(out / "rows.csv")[1]
    assert len(rows) == 2 and {r["weights_sha256"] for r in rows} == {manifest["configs"][c]["config"]["weights_sha256"]
                                                                     for c in manifest["configs"]} - {"none"}
    current = manifest["plan"]["passes"][0]["config_id"]
    assert manifest["configs"][current]["config"]["weights_sha256"] == sha_b
    assert [r["weights_sha256"] for r in rows if r["config_id"] == current] == [sha_b]

    assert run.main(base + ["--weights", f"ttsr={a}"]) == 0
    printed_again = _printed_cell(capsys.readouterr().out, "ttsr")
    assert len(computed) == 2  # A's row reused: nothing computed
    assert printed_again == printed_a and _summary_psnr(out, "ttsr") == psnr_a
    assert len(read_rows(out / "rows.csv")[1]) == 2  # both results kept, distinguishable by config_id


def test_changed_data_is_recomputed(clean_env, monkeypatch):
    """The same configuration on changed image bytes is another result (data_sha256)."""
    root = clean_env / "data"
    (root / "Set5").mkdir(parents=True)
    rng = np.random.default_rng(0)
    image = root / "Set5" / "baby.png"
    Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(image)
    out = clean_env / "runs" / "set5"
    args = ["--protocol", "sisr", "--datasets", "set5", "--methods", "bicubic", "--data-root", str(root),
            "--out", str(out), *QUICK]
    assert run.main(args) == 0
    first = read_rows(out / "rows.csv")[1]
    Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(image)
    assert run.main(args) == 0
    rows = read_rows(out / "rows.csv")[1]
    new = [r for r in rows if r["data_sha256"] != first[0]["data_sha256"]]
    assert len(rows) == 2 and len(new) == 1 and new[0]["config_id"] == first[0]["config_id"]
    assert new[0]["psnr"] != first[0]["psnr"]
    summary = (out / "summary.csv").read_text().splitlines()
    assert len(summary) == 2 and f"{float(new[0]['psnr']):.6f}" in summary[1]  # the current data's row


def test_two_processes_on_one_run_folder(tmp_path):
    """The second of two concurrent runs on one --out stops at once (exit 2, one line); the first
    finishes with all its rows; afterwards a run with another method set keeps both methods' rows."""
    env = {k: v for k, v in os.environ.items() if k not in ("TTSR_BENCH_DATA", "TTSR_BENCH_WEIGHTS")}
    env.update({run.SLOW_ENV: "4", "PYTHONPATH": str(REPO)})  # the first run lasts ~16 s
    out = tmp_path / "shared-out"
    command = [sys.executable, "-m", "benchmarks.run", "--protocol", "demo", "--out", str(out), "--limit", "2",
               *QUICK]
    first = subprocess.Popen(command + ["--methods", "bicubic"], cwd=tmp_path, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (out / "rows.csv").is_file() or (out / "rows.csv").read_bytes().count(b"\n") < 1:
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        second = subprocess.run(command + ["--methods", "bicubic", "imdn"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        assert first.poll() is None  # the second did not wait for the first
        assert second.returncode == 2
        last = second.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and "another benchmarks.run is using this run folder" in last
        assert "Traceback" not in second.stderr
        assert first.wait(timeout=180) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    rows = read_rows(out / "rows.csv")[1]
    assert len(rows) == 4 and {r["method"] for r in rows} == {"bicubic"}
    env.pop(run.SLOW_ENV)
    again = subprocess.run(command + ["--methods", "bicubic"], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0, again.stderr  # the lock was released


def test_a_method_that_cannot_take_an_image_skips_it(clean_env, shared_dir):
    """RFDN refuses an LR under 15×15: that image is a skip with the reason, the others are measured."""
    weights = shared_dir / "weights" / "RFDN_AIM.pth"
    if not weights.is_file():
        pytest.skip(f"{weights} is absent")
    root = clean_env / "data"
    (root / "Set5").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / "Set5" / "tiny.png")
    Image.fromarray(rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)).save(root / "Set5" / "ok.png")
    out = clean_env / "runs" / "rfdn"
    code = run.main(["--protocol", "sisr", "--datasets", "set5", "--methods", "rfdn", "--weights",
                     f"rfdn={weights}", "--data-root", str(root), "--out", str(out), *QUICK])
    assert code == 0
    assert [r["image"] for r in read_rows(out / "rows.csv")[1]] == ["ok"]
    skipped = {s["what"]: s for s in json.loads((out / "skipped.json").read_text())}
    assert "LR 3×3" in skipped["set5/tiny (rfdn)"]["reason"] and "15×15" in skipped["set5/tiny (rfdn)"]["reason"]
    # one record per skipped thing (no second wording of the same image)
    assert len([w for w in skipped if w.startswith("set5/tiny")]) == 1


def test_measuring_nothing_is_not_success(clean_env, capsys):
    """No usable method (exit 3), and every image skipped (exit 3); the demo fallback is exit 0."""
    assert run.main(["--protocol", "demo", "--methods", "imdn", *QUICK]) == EXIT_NOTHING_MEASURED
    assert "nothing measured" in capsys.readouterr().out
    root = clean_env / "broken-data"
    (root / "Set5").mkdir(parents=True)
    (root / "Set5" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    code = run.main(["--protocol", "sisr", "--datasets", "set5", "--methods", "bicubic", "--data-root",
                     str(root), "--out", str(clean_env / "o"), *QUICK])
    assert code == EXIT_NOTHING_MEASURED  # its only image unreadable: skipped, nothing measured
    assert "broken.png" in (clean_env / "o" / "skipped.json").read_text()
    assert run.main(QUICK) == 0  # the documented demo fallback


def test_weights_list_refuses_unknown_names(capsys):
    from benchmarks import weights
    from foundation.errors import cli_main

    assert cli_main(weights.main)(["list", "--weights", "nope=x.pt"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'nope'" in err and "bicubic" in err


def _set5(root: Path, names: dict[str, tuple[int, int]]) -> Path:
    (root / "Set5").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, (h, w) in names.items():
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / "Set5" / name)
    return root


SISR = ["--protocol", "sisr", "--datasets", "set5", *QUICK]


def test_a_file_name_with_a_newline_is_a_skip_and_the_folder_stays_readable(clean_env):
    root = _set5(clean_env / "data", {"a.png": (32, 32), "new\nline.png": (32, 32)})
    out = clean_env / "o"
    assert run.main([*SISR, "--methods", "bicubic", "--data-root", str(root), "--out", str(out)]) == 0
    assert [r["image"] for r in read_rows(out / "rows.csv")[1]] == ["a"]
    skipped = json.loads((out / "skipped.json").read_text())
    assert any(s["what"] == "set5/new\\nline" and "control character" in s["reason"] for s in skipped)
    assert run.main([*SISR, "--methods", "bicubic", "--data-root", str(root), "--out", str(out)]) == 0  # resumes


def test_non_finite_output_is_a_skip_not_a_number(clean_env, monkeypatch):
    """A method returning NaN (damaged weights) gives no PSNR: the image is skipped with the reason."""
    from baselines.bicubic import Bicubic

    root = _set5(clean_env / "data", {"a.png": (32, 32)})
    monkeypatch.setattr(Bicubic, "__call__", lambda self, batch: torch.full_like(batch["lr"], float("nan")))
    out = clean_env / "o"
    assert run.main([*SISR, "--methods", "bicubic", "--data-root", str(root), "--out", str(out)]) == 3
    assert read_rows(out / "rows.csv")[1] == []
    reason = json.loads((out / "skipped.json").read_text())[-1]["reason"]
    assert "returned NaN or infinite values" in reason


def test_a_damaged_manifest_is_not_overwritten_and_edited_rows_are_not_reused(clean_env, capsys):
    root = _set5(clean_env / "data", {"a.png": (32, 32)})
    out = clean_env / "o"
    args = [*SISR, "--methods", "bicubic", "--data-root", str(root), "--out", str(out)]
    assert run.main(args) == 0
    manifest = (out / "manifest.json").read_bytes()
    (out / "manifest.json").write_text("{damaged")
    assert run.main(args) == 2
    assert "manifest.json: damaged" in capsys.readouterr().err
    assert (out / "manifest.json").read_text() == "{damaged"
    (out / "manifest.json").write_bytes(manifest)
    header, *lines = (out / "rows.csv").read_text().splitlines()
    column = header.split(",").index("weights_sha256")
    fields = lines[0].split(",")
    fields[column] = "0123abcd"  # weights_sha256 edited by hand, config_id left alone
    (out / "rows.csv").write_text("\n".join([header, ",".join(fields)]) + "\n")
    rows_before = read_rows(out / "rows.csv")[1]
    assert run.main(args) == 0
    rows = read_rows(out / "rows.csv")[1]
    assert len(rows) == 1 and rows[0]["weights_sha256"] == "none" and rows_before[0]["weights_sha256"] == "0123abcd"


@pytest.mark.parametrize("variable, value, words", [
    ("TTSR_BENCH_MAX_PIXELS", "lots", "$TTSR_BENCH_MAX_PIXELS 'lots': expected a pixel count"),
    ("TTSR_BENCH_WEIGHTS", "/nowhere/weights", "$TTSR_BENCH_WEIGHTS: folder /nowhere/weights not found"),
])
def test_bad_environment_settings_are_one_line(clean_env, capsys, monkeypatch, variable, value, words):
    monkeypatch.setenv(variable, value)
    assert run.main(["--protocol", "demo", "--methods", "bicubic", *QUICK]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and words in err, err


def test_config_weights_errors_name_the_config(clean_env, capsys):
    from benchmarks import reproduce

    config = clean_env / "conf.toml"
    for entry, words in [('imdn = "nope.pth"', "[weights] imdn = 'nope.pth': file not found"),
                         ('foo = "x.pth"', "[weights] foo = 'x.pth': no such method"),
                         ('imdn = "."', "[weights] imdn = '.': is a folder")]:
        config.write_text(f"[weights]\n{entry}\n")
        assert reproduce.main(["demo", "--no-run", "--config", str(config)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {config}: ") and words in err, err
    assert run.main(["--protocol", "demo", "--weights", f"imdn={clean_env}", *QUICK]) == 2
    assert "is a folder; give the weights file itself" in capsys.readouterr().err


def test_a_file_that_is_not_the_published_one_says_so(clean_env, capsys, shared_dir):
    """IMDN's published sha256 is known: the real file is recognised, a modified copy is labelled."""
    from benchmarks import manifest

    real = shared_dir / "weights" / "IMDN_x4.pth"
    if not real.is_file():
        pytest.skip(f"{real} is absent")
    from baselines import registry

    expected = registry.get("imdn").weights.sha256
    record = manifest.weights_record(real, "--weights", expected)
    assert record["published"] is True and record["origin"] == "the published file (sha256 matches)"
    copy = clean_env / "IMDN_x4.pth"
    copy.write_bytes(real.read_bytes() + b"\0")
    record = manifest.weights_record(copy, "--weights", expected)
    assert record["published"] is False and "sha256 differs from the published file" in record["origin"]
    assert manifest.weights_record(copy, "--weights", None)["published"] is None


def test_views_show_only_the_measures_asked_for(clean_env, capsys):
    """A reused row carries SSIM from an earlier command; `--metrics psnr` shows PSNR only."""
    out = clean_env / "o"
    base = ["--protocol", "demo", "--methods", "bicubic", "--out", str(out), "--limit", "1"]
    assert run.main(base + ["--metrics", "psnr", "ssim"]) == 0
    capsys.readouterr()
    assert run.main(base + ["--metrics", "psnr"]) == 0
    printed = capsys.readouterr().out
    cell = next(line for line in printed.splitlines() if line.startswith("│ bicubic")).split("│")[2].strip()
    assert " / " not in cell and cell.split()[0].replace(".", "").isdigit()  # PSNR alone
    header, *lines = (out / "summary.csv").read_text().splitlines()
    ssim = header.split(",").index("ssim")
    assert all(line.split(",")[ssim] == "" for line in lines)
    from benchmarks import report

    result = report.render([out], clean_env / "rep")
    assert result.groups and all(g.metrics == ["psnr"] for g in result.groups)
