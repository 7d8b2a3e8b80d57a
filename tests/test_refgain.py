"""Reference gain and robustness: perturbations (neutral = unperturbed, seeded, in the identity), the
statistics (bootstrap interval, paired tests), the half-gain severity, and `ttsr-bench refgain` end to
end on the demo set with bicubic and a random-weights TTSR (gains recomputed by hand from rows.csv,
attention statistics recomputed from the saved hard-attention maps, resume, the report section, --ci)."""
from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
import pytest

from benchmarks import datasets, gains, identity, protocols, stats
from benchmarks.datasets import perturb, refmodes
from foundation.errors import UserError
from tests.fixture_runs import random_ttsr


def _demo(ref_mode: str, seed: int = 0):
    return datasets.load("demo", None, ref_mode=ref_mode, seed=seed)


# ------------------------------------------------------------------------------- perturbations
def test_neutral_level_is_the_unperturbed_reference_and_every_level_changes_it():
    base = [s.refs[0] for s in _demo("graded")]
    image = base[1]
    for spec in perturb.PERTURBATIONS.values():
        rng = refmodes.seeded_generator(0, "x")
        assert perturb.apply(image, spec, spec.neutral, rng, other=base[0]) is image  # the array itself
        neutral = _demo(f"graded+{spec.name}={perturb.level_text(spec.neutral)}")
        assert all(np.array_equal(s.refs[0], b) for s, b in zip(neutral, base)), spec.name
        for level in spec.levels:  # every level of the axis changes the reference
            changed = _demo(f"graded+{spec.name}={perturb.level_text(level)}")[1].refs[0]
            assert changed.shape != image.shape or not np.array_equal(changed, image), (spec.name, level)


def test_perturbations_are_seeded_reproducible_and_do_what_they_say():
    a, b = _demo("graded+translate=0.25"), _demo("graded+translate=0.25")
    assert all(np.array_equal(x.refs[0], y.refs[0]) for x, y in zip(a, b))
    other_seed = _demo("graded+translate=0.25", seed=7)
    assert not all(np.array_equal(x.refs[0], y.refs[0]) for x, y in zip(a, other_seed))
    assert a.seed == 0 and other_seed.seed == 7 and a[0].meta["seed"] == 0
    assert _demo("graded+scale-down=0.5")[0].refs[0].shape == (72, 96, 3)
    assert _demo("graded+scale-up=2")[0].refs[0].shape == (288, 384, 3)
    # occlusion: a 102×136 box (round(√0.5·144) × round(√0.5·192)) of the mean colour, the rest untouched
    ref = _demo("graded")[2].refs[0]
    occluded = _demo("graded+occlude=0.5")[2].refs[0]
    changed = np.any(occluded != ref, axis=2)
    rows, cols = np.nonzero(changed)
    assert rows.max() - rows.min() + 1 <= 102 and cols.max() - cols.min() + 1 <= 136
    box = occluded[rows.min():rows.min() + 102, cols.min():cols.min() + 136] if rows.size else None
    mean = np.round(ref.reshape(-1, 3).mean(axis=0)).astype(np.uint8)
    assert box is not None and np.all(box == mean)
    # "other" at 1: the whole reference is another image's (resized), never its own
    own = [s.refs[0] for s in _demo("graded")]
    swapped = [s.refs[0] for s in _demo("graded+other=1")]
    assert all(not np.array_equal(x, y) for x, y in zip(own, swapped))


def test_perturbed_modes_are_bad_input_when_wrong_and_in_the_identity():
    for mode, words in (("lr+blur=2", "gives no reference"), ("graded+blur=200", "outside [0, 64]"),
                        ("graded+wobble=1", "unknown perturbation")):
        with pytest.raises(UserError, match=words.replace("[", r"\[")):
            _demo(mode)
    with pytest.raises(UserError, match="not offered"):
        datasets.load("demo", None, ref_mode="random-hr+blur=2")
    evaluations = {e.ref_mode: e for e in protocols.get("refgain").evaluations if e.dataset == "demo"}
    assert {"graded", "lr", "graded+blur=0.5", "graded+other=1", "graded+jpeg=10"} <= set(evaluations)

    def cid(evaluation):
        return identity.config_id(identity.pass_config(method="ttsr", weights_sha256="w", options={},
                                                       evaluation=evaluation, device_type="cpu"))

    blur2, blur4 = evaluations["graded+blur=2"], evaluations["graded+blur=4"]
    assert blur2.seed == 0 and blur2.kinds == ("refsr",) and evaluations["graded"].kinds == ("refsr", "sisr")
    reseeded = replace(blur2, seed=1, load_options={**blur2.load_options, "seed": 1})
    assert len({cid(blur2), cid(blur4), cid(reseeded), cid(evaluations["graded"])}) == 4


# ---------------------------------------------------------------------------------- statistics
def test_bootstrap_and_paired_tests():
    assert stats.bootstrap_ci([0.1] * 7) == (0.1, 0.1)  # a constant: that constant, exactly
    assert stats.bootstrap_ci([3.5]) == (3.5, 3.5)
    values = [1.0, 2.0, 4.0, 8.0, 16.0]
    low, high = stats.bootstrap_ci(values)
    assert (low, high) == stats.bootstrap_ci(values)  # seeded: the same every time
    assert low < np.mean(values) < high and min(values) <= low and high <= max(values)
    same = stats.paired_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert (same.t_p, same.wilcoxon_p, same.mean_difference, same.n) == (1.0, 1.0, 0.0, 3)
    from scipy.stats import ttest_rel, wilcoxon

    a, b = [1.2, 2.0, 3.5, 4.0, 5.0, 6.1], [1.0, 2.2, 2.0, 3.0, 4.5, 5.0]
    test = stats.paired_test(a, b)
    assert test.t_p == pytest.approx(ttest_rel(a, b).pvalue) and test.wilcoxon_p == pytest.approx(wilcoxon(a, b).pvalue)
    assert test.mean_difference == pytest.approx(np.mean(np.subtract(a, b)))


def test_half_gain_level_interpolates():
    assert gains.half_gain_level((0, 1, 2, 4), (2.0, 1.5, 0.5, 0.0)) == pytest.approx(1.5)
    assert gains.half_gain_level((100, 90, 70), (1.0, 0.8, 0.2)) == pytest.approx(90 - 20 * (0.3 / 0.6))
    assert gains.half_gain_level((0, 1, 2), (2.0, 1.9, 1.5)) == gains.NOT_LOST
    assert gains.half_gain_level((0, 1), (-0.1, -0.5)) == gains.NO_GAIN


# ---------------------------------------------------------------------------------- end to end
def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_refgain_demo_end_to_end(clean_env, capsys):
    from benchmarks import refgain, table
    from benchmarks.report.build import render

    ckpt = random_ttsr(clean_env / "ttsr-random.pt")
    out = clean_env / "runs" / "refgain"
    args = ["--methods", "bicubic", "ttsr", "--weights", f"ttsr={ckpt}", "--datasets", "demo", "--limit", "2",
            "--perturbations", "occlude", "--metrics", "psnr", "ssim", "--out", str(out), "--save-images"]
    assert refgain.main(args) == 0
    printed = capsys.readouterr().out
    assert "RANDOM WEIGHTS" in printed and "reference gain, psnr" in printed and "occlude" in printed
    rows = _rows(out / "rows.csv")
    value = {(r["method"], r["ref_mode"], r["image"]): r for r in rows}
    images = ["motorcycle_stereo", "astronaut_warped"]
    levels = perturb.get("occlude").levels
    assert {(r["method"], r["ref_mode"]) for r in rows} == (
        {("bicubic", "graded"), ("bicubic", "lr"), ("ttsr", "graded"), ("ttsr", "lr")}
        | {("ttsr", f"graded+occlude={perturb.level_text(lv)}") for lv in levels})
    # attention statistics per image: recomputed from the saved hard-attention index and S
    config = {(p["method"], p["ref_mode"]): p["config_id"]
              for p in json.loads((out / "manifest.json").read_text())["plan"]["passes"]}
    for (method, ref_mode, image), row in value.items():
        if method == "bicubic":
            assert row["attn_distinct"] == row["attn_confidence"] == ""
            continue
        stem = image if ref_mode == "graded" else f"{image}@{ref_mode}"
        maps = np.load(out / "attention" / "demo" / "ttsr" / config[method, ref_mode] / f"{stem}.npz")
        index = maps["hard_index"].reshape(-1)
        assert float(row["attn_distinct"]) == pytest.approx(len(np.unique(index)) / index.size, abs=1e-12)
        assert float(row["attn_confidence"]) == pytest.approx(float(maps["S"].mean()), abs=1e-6)
    # the gains, by hand from the rows
    psnr = {k: float(r["psnr"]) for k, r in value.items()}
    by_lr = [psnr["ttsr", "graded", i] - psnr["ttsr", "lr", i] for i in images]
    by_sisr = [psnr["ttsr", "graded", i] - psnr["bicubic", "graded", i] for i in images]
    table_rows = {(g["metric"], g["vs"]): g for g in _rows(out / "refgain-gains.csv") if g["dataset"] == "demo"}
    assert float(table_rows["psnr", "lr"]["mean"]) == pytest.approx(np.mean(by_lr), abs=1e-12)
    assert float(table_rows["psnr", "sisr:bicubic"]["mean"]) == pytest.approx(np.mean(by_sisr), abs=1e-12)
    assert (float(table_rows["psnr", "lr"]["low"]), float(table_rows["psnr", "lr"]["high"])) == \
        pytest.approx(stats.bootstrap_ci(by_lr))
    assert table_rows["psnr", "lr"]["n"] == "2" and table_rows["psnr", "lr"]["random"] == "True"
    curve = [c for c in _rows(out / "refgain-curves.csv") if c["metric"] == "psnr" and c["perturbation"] == "occlude"]
    assert [float(c["level"]) for c in curve] == [0.0, *levels]
    assert float(curve[0]["gain"]) == pytest.approx(np.mean(by_lr), abs=1e-12)  # severity 0 = unperturbed
    for c in curve[1:]:
        mode = f"graded+occlude={perturb.level_text(float(c['level']))}"
        assert float(c["gain"]) == pytest.approx(np.mean([psnr["ttsr", mode, i] - psnr["ttsr", "lr", i]
                                                          for i in images]), abs=1e-12)
    expected_half = gains.half_gain_level([float(c["level"]) for c in curve], [float(c["gain"]) for c in curve])
    assert curve[0]["half_gain_level"] == (expected_half if isinstance(expected_half, str) else repr(expected_half))

    before = (out / "rows.csv").read_bytes()
    assert refgain.main(args) == 0  # resumed: every row reused, nothing recomputed
    assert (out / "rows.csv").read_bytes() == before

    report = render([out], clean_env / "report")
    markdown = (clean_env / "report" / "report.md").read_text()
    assert "## Reference gain" in markdown and "ttsr (RANDOM WEIGHTS)" in markdown
    assert "demo · refgain" not in markdown  # its passes are not repeated as other results
    assert (clean_env / "report" / "assets" / "plots" / "refgain-demo-graded-ttsr-occlude.png").is_file()
    assert report.index.read_text().count('id="refgain"') == 1
    assert (clean_env / "report" / "assets" / "refgain-gains.csv").read_text() == (out / "refgain-gains.csv").read_text()

    # --ci: every measured cell with its bootstrap interval over the same images
    text = table.export([out], ["runs"], "csv", ci=True)
    cells = {(r["method"], r["ref_mode"]): r for r in csv.DictReader(text.splitlines())}
    cell = cells["ttsr", "graded"]
    assert (float(cell["psnr_low"]), float(cell["psnr_high"])) == pytest.approx(
        stats.bootstrap_ci([psnr["ttsr", "graded", i] for i in images]))
    assert "[" in table.export([out], ["runs"], "md", ci=True) and "psnr_low" not in table.export([out], ["runs"], "csv")


def test_refgain_without_a_refsr_method_says_so_and_exits_3(clean_env, capsys):
    from benchmarks import refgain

    status = refgain.main(["--datasets", "demo", "--limit", "1", "--perturbations", "blur", "--methods", "bicubic",
                           "--metrics", "psnr", "--out", str(clean_env / "runs" / "nobody")])
    out = capsys.readouterr().out
    assert status == 3
    assert "nothing measured: no reference gain — no RefSR method ran" in out and "gain [95% CI]" not in out
