"""`ttsr_bench` (the Python API) end to end on the built-in demo set, in-process (CPU, seconds).

`evaluate("bicubic")` gives the command line's rows (same config_id, same values); a user's
nearest-neighbour callable gets rows with the right PSNR/SSIM, a user label in the manifest and
the report; editing its code changes its config_id (and unchanged code reuses its rows); bad
input is one `UserError`.
"""
from __future__ import annotations

import importlib
import json
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ttsr_bench
from baselines.registry import Method
from benchmarks import protocols, run
from benchmarks.degrade import refsr_inputs
from benchmarks.results import read_rows
from foundation.errors import UserError

QUICK = {"protocol": "demo", "metrics": ["psnr", "ssim"], "quiet": True}

NEAREST_V1 = '''import torch.nn.functional as F


def nearest(lr, lr_up, ref, ref_down_up):
    """Nearest-neighbour x4 of the LR (ignores the reference)."""
    return F.interpolate(lr, scale_factor=4, mode="nearest")
'''
# the same function, edited (same values; only the code differs, and the file's size)
NEAREST_V2 = NEAREST_V1.replace('mode="nearest")', 'mode="nearest")  # edited: the identity must change')


@pytest.fixture
def user_module(clean_env, monkeypatch):
    """Write `mine.py` (a user's code) into the working folder and import it; returns a writer."""
    monkeypatch.syspath_prepend(str(clean_env))

    def write(text: str):
        (clean_env / "mine.py").write_text(text)
        importlib.invalidate_caches()
        if "mine" in sys.modules:
            return importlib.reload(sys.modules["mine"])
        return importlib.import_module("mine")

    yield write
    sys.modules.pop("mine", None)


def _expected_nearest() -> dict[str, tuple[float, float]]:
    """PSNR/SSIM of nearest-neighbour x4 on the demo RefSR pass, computed here without the runner."""
    import metrics
    from benchmarks import datasets

    evaluation = next(e for e in protocols.get("demo").evaluations if e.degradation == "refsr")
    expected = {}
    for sample in datasets.load("demo", None, **evaluation.load_options):
        inputs = refsr_inputs(sample.hr, sample.refs[0] if sample.refs else None, evaluation.scale)
        sr = np.repeat(np.repeat(inputs.lr, 4, axis=0), 4, axis=1)
        expected[sample.name] = (metrics.psnr(sr, inputs.hr, **evaluation.metric_settings()),
                                 metrics.ssim(sr, inputs.hr, **evaluation.metric_settings()))
    return expected


def test_evaluate_gives_the_command_lines_rows(clean_env):
    assert run.main(["--protocol", "demo", "--methods", "bicubic", "--metrics", "psnr", "ssim",
                     "--out", str(clean_env / "cli")]) == 0
    _, cli_rows = read_rows(clean_env / "cli" / "rows.csv")
    res = ttsr_bench.evaluate("Bicubic", out=clean_env / "api", **QUICK)
    assert res.status == 0 and res.run_dir == clean_env / "api"
    assert len(res.rows) == len(cli_rows) == 8  # 4 demo images × (RefSR pass, SISR pass)
    api = {(r.ref_mode, r.image): r for r in res.rows.itertuples()}
    for row in cli_rows:
        mine = api[row["ref_mode"], row["image"]]
        assert mine.method == "bicubic"
        assert (mine.config_id, mine.data_sha256, mine.weights_sha256) == (row["config_id"], row["data_sha256"], "none")
        assert mine.psnr == float(row["psnr"]) and mine.ssim == float(row["ssim"])
    # the summary is summary.csv's: two passes, their means
    written = json.loads((clean_env / "api" / "manifest.json").read_text())
    assert written["argv"][0].startswith("ttsr_bench.evaluate(method=['Bicubic'], protocol='demo'")
    assert sorted(res.summary["ref_mode"]) == ["graded", "none"]
    graded = res.summary.set_index("ref_mode").loc["graded"]
    assert graded["images"] == 4
    assert graded["psnr"] == pytest.approx(res.rows[res.rows.ref_mode == "graded"]["psnr"].mean())
    assert graded["psnr"] == pytest.approx(25.3623, abs=1e-3)  # the demo table's bicubic cell (README)


def test_a_callable_gets_rows_a_label_and_a_report(user_module, clean_env):
    mine = user_module(NEAREST_V1)
    res = ttsr_bench.evaluate([mine.nearest, "bicubic"], out=clean_env / "runs" / "mine", **QUICK)
    assert res.status == 0
    rows = res.rows[res.rows.method == "nearest"]
    assert list(rows.ref_mode.unique()) == ["graded"]  # a refsr callable: the RefSR pass only
    expected = _expected_nearest()
    assert sorted(rows.image) == sorted(expected) and len(expected) == 4
    for row in rows.itertuples():
        assert row.psnr == pytest.approx(expected[row.image][0], abs=1e-9)
        assert row.ssim == pytest.approx(expected[row.image][1], abs=1e-9)
        assert row.weights_sha256 == "none"
    assert rows.psnr.mean() < res.rows[(res.rows.method == "bicubic") & (res.rows.ref_mode == "graded")].psnr.mean()
    # labelled as a user callable in the manifest, with its code's identity in the configuration
    manifest = json.loads((res.run_dir / "manifest.json").read_text())
    record = manifest["weights"]["nearest"]
    assert record["user_method"] is True and record["random"] is False
    assert record["origin"].startswith("user callable mine.nearest (source sha256 ")
    assert record["origin"].endswith("not published weights")
    config = manifest["configs"][rows.config_id.iloc[0]]["config"]
    assert config["options"]["callable"]["module"] == "mine"
    assert config["options"]["callable"]["qualname"] == "nearest"
    assert "nearest" not in ttsr_bench.list_methods()  # registered for the call only

    # the report renders the API's run folder, the callable's row and its label included
    from benchmarks.report import cli as report_cli

    assert report_cli.main(["--runs", str(res.run_dir), "--out", str(clean_env / "report"),
                            "--visual-images", "0"]) == 0
    html = (clean_env / "report" / "index.html").read_text()
    assert "user callable mine.nearest" in html
    markdown = (clean_env / "report" / "report.md").read_text()
    line = next(line for line in markdown.splitlines() if line.startswith("| nearest"))
    assert f"{rows.psnr.mean():.2f}" in line


def test_editing_the_callable_changes_its_config_id(user_module, clean_env):
    out = clean_env / "runs" / "mine"
    first = ttsr_bench.evaluate(user_module(NEAREST_V1).nearest, datasets="demo", limit=1, out=out, **QUICK)
    again = ttsr_bench.evaluate(user_module(NEAREST_V1).nearest, datasets="demo", limit=1, out=out, **QUICK)
    assert list(again.rows.config_id) == list(first.rows.config_id)
    assert list(again.rows.finished) == list(first.rows.finished)  # unchanged code: the row is reused
    edited = ttsr_bench.evaluate(user_module(NEAREST_V2).nearest, datasets="demo", limit=1, out=out, **QUICK)
    assert edited.rows.config_id.iloc[0] != first.rows.config_id.iloc[0]
    assert edited.rows.psnr.iloc[0] == first.rows.psnr.iloc[0]  # same values, yet another configuration
    _, stored = read_rows(out / "rows.csv")
    assert len(stored) == 2 and len(edited.rows) == 1  # both kept; the view shows the latest command's

    # code without readable source needs version=, and a new version is a new configuration
    namespace: dict = {}
    exec("def fn(lr, lr_up, ref, ref_down_up):\n    return lr.repeat_interleave(4, 2).repeat_interleave(4, 3)\n",
         {"torch": torch}, namespace)
    with pytest.raises(UserError, match="pass version="):
        ttsr_bench.CallableMethod(namespace["fn"], name="exec-nn")
    ids = {v: ttsr_bench.CallableMethod(namespace["fn"], name="exec-nn", version=v).options() for v in ("1", "2")}
    assert ids["1"] != ids["2"]
    # a network's parameters are part of the identity
    net = torch.nn.Conv2d(3, 3, 1)
    before = ttsr_bench.CallableMethod(net, name="net", version="a").options()
    with torch.no_grad():
        net.weight.add_(1.0)
    assert ttsr_bench.CallableMethod(net, name="net", version="a").options() != before


def test_a_sisr_callable_sees_the_lr_only(clean_env):
    seen = []

    def up(lr, lr_up, ref, ref_down_up):
        seen.append((lr.shape, lr_up, ref, ref_down_up, lr.dtype, float(lr.min()), float(lr.max())))
        return F.interpolate(lr, scale_factor=4, mode="nearest")

    res = ttsr_bench.evaluate(ttsr_bench.CallableMethod(up, name="nn-sisr", kind="sisr"), limit=1,
                              out=clean_env / "sisr", **QUICK)
    assert sorted(res.rows.ref_mode) == ["graded", "none"]  # a SISR method runs both demo passes
    assert all(s[1:5] == (None, None, None, torch.float32) for s in seen) and len(seen) == 2
    assert all(0 <= s[5] <= s[6] <= 255 for s in seen)
    graded = res.rows[res.rows.ref_mode == "graded"].iloc[0]
    assert graded.psnr == pytest.approx(_expected_nearest()[graded.image][0], abs=1e-9)


def test_load_method_and_lists(clean_env):
    method = ttsr_bench.load_method("BICUBIC")
    assert method.name == "bicubic" and method.device == torch.device("cpu")
    lr = torch.full((1, 3, 8, 6), 100.0)
    assert method({"lr": lr}).shape == (1, 3, 32, 24)
    # a shipped method's object runs by its name
    res = ttsr_bench.evaluate(method, limit=1, datasets="demo", out=clean_env / "obj", **QUICK)
    assert set(res.rows.method) == {"bicubic"}
    assert "bicubic" in ttsr_bench.list_methods("sisr") and "ttsr" in ttsr_bench.list_methods("refsr")
    assert "ttsr" not in ttsr_bench.list_methods("sisr")
    assert "demo" in ttsr_bench.list_datasets() and "cufed5" in ttsr_bench.list_datasets()
    assert {"demo", "table1", "default"} <= set(ttsr_bench.list_protocols())
    assert {"psnr", "ssim", "lpips"} <= set(ttsr_bench.list_metrics())


class Doubler(Method):
    """A user's own Method subclass (not a callable): x4 by pixel repetition, SISR."""

    name, kind, scale = "doubler", "sisr", 4

    def load(self, weights_path=None, device="cpu"):
        return self

    def __call__(self, batch):
        return batch["lr"].repeat_interleave(4, 2).repeat_interleave(4, 3)


def test_a_method_object_and_nothing_to_measure(clean_env):
    res = ttsr_bench.evaluate(Doubler(), limit=1, out=clean_env / "obj", **QUICK)
    graded = res.rows[res.rows.ref_mode == "graded"].iloc[0]
    assert graded.method == "doubler" and graded.psnr == pytest.approx(_expected_nearest()[graded.image][0], abs=1e-9)
    assert res.weights["doubler"]["origin"] == f"user method {Doubler.__module__}.Doubler; not a shipped method"
    # no test set of the protocol under ./data: nothing measured (status 3), empty rows, what is missing
    none = ttsr_bench.evaluate("bicubic", protocol="table1", quiet=True)
    assert none.status == 3 and none.rows.empty and none.summary.empty
    assert {s["name"] for s in none.skipped if s.get("kind") == "dataset"} == {"cufed5", "sun80", "urban100", "manga109"}


@pytest.mark.parametrize("call, message", [
    (lambda: ttsr_bench.evaluate(ttsr_bench.CallableMethod(lambda *a: a[0], name="bicubic", version="1")),
     "is the name of a shipped method"),
    (lambda: ttsr_bench.evaluate(lambda *a: a[0]), "has no usable name"),
    (lambda: ttsr_bench.evaluate(42), "expected a registered name"),
    (lambda: ttsr_bench.evaluate("no-such-method", protocol="demo"), "unknown method 'no-such-method'"),
    (lambda: ttsr_bench.evaluate("bicubic", protocol="table9"), "unknown protocol 'table9'"),
    (lambda: ttsr_bench.evaluate("bicubic", protocol="demo", seed=-1), r"seed=-1: expected a whole number in 0"),
    (lambda: ttsr_bench.evaluate("bicubic", protocol="demo", limit=0), "limit=0"),
    (lambda: ttsr_bench.evaluate(["bicubic", "Bicubic"], protocol="demo"), "given twice"),
    (lambda: ttsr_bench.load_method("imdn"), "imdn: weights .* not found"),
    (lambda: ttsr_bench.load_method("bicubic", weights="x.pt"), "takes no weights file"),
    (lambda: ttsr_bench.list_methods("gan"), "kind='gan'"),
])
def test_bad_input_is_one_user_error(clean_env, call, message):
    with pytest.raises(UserError, match=message):
        call()
    assert "bicubic" in ttsr_bench.list_methods()  # nothing left registered, nothing broken
    assert not (clean_env / "runs").exists()  # nothing computed


def one_arg(lr):
    return lr


def needs_refs(lr, lr_up, ref, ref_down_up):
    return {"lr": lr}["refs"]  # a KeyError, as a call reading a batch key the pass does not give


class Unloadable(Doubler):
    name = "unloadable"

    def load(self, weights_path=None, device="cpu"):
        raise OSError("no such file: mine.pt")


class Video(Doubler):
    name, kind = "video-sr", "video"


def test_a_callable_with_the_wrong_arguments_is_one_user_error(clean_env):
    with pytest.raises(UserError) as caught:
        ttsr_bench.evaluate(one_arg, **QUICK)
    assert str(caught.value) == ("method one_arg: one_arg(lr) cannot be called with 4 positional arguments (too many "
                                 "positional arguments); the runner calls fn(lr, lr_up, ref, ref_down_up) -> sr (a "
                                 "kind='sisr' callable gets (lr, None, None, None))")
    assert not (clean_env / "runs").exists()
    ttsr_bench.CallableMethod(lambda *a: a[0], name="star", version="1")  # *args takes the four


def test_a_raising_callable_skips_each_image_and_keeps_the_others_rows(clean_env):
    res = ttsr_bench.evaluate([needs_refs, "bicubic"], limit=1, datasets="demo", out=clean_env / "r", **QUICK)
    assert res.status == 0 and set(res.rows.method) == {"bicubic"} and len(res.rows) == 2
    reasons = [s["reason"] for s in res.skipped if s["what"].endswith("(needs_refs)")]
    lr = refsr_inputs(*_first_demo()).lr
    assert reasons == [f"needs_refs (user callable {__name__}.needs_refs) failed on this image (LR {lr.shape[1]}×"
                       f"{lr.shape[0]}): KeyError: 'refs' (the batch holds lr, lr_up, ref, ref_down_up)"]
    alone = ttsr_bench.evaluate(needs_refs, limit=1, datasets="demo", out=clean_env / "alone", **QUICK)
    assert alone.status == 3 and alone.rows.empty


def _first_demo():
    from benchmarks import datasets

    evaluation = next(e for e in protocols.get("demo").evaluations if e.degradation == "refsr")
    sample = datasets.load("demo", None, **dict(evaluation.load_options, limit=1))[0]
    return sample.hr, (sample.refs[0] if sample.refs else None), evaluation.scale


def test_a_method_object_that_fails_to_load_or_has_a_bad_kind(clean_env):
    out = clean_env / "obj"
    with pytest.raises(UserError) as caught:
        ttsr_bench.evaluate(["bicubic", Unloadable()], limit=1, out=out, **QUICK)
    assert str(caught.value) == (f"method unloadable (user method {__name__}.Unloadable): load failed: OSError: no "
                                 "such file: mine.pt; fix its load()")
    _, kept = read_rows(out / "rows.csv")
    assert sorted(r["ref_mode"] for r in kept if r["method"] == "bicubic") == ["graded", "none"]  # finished rows kept
    assert "unloadable" not in ttsr_bench.list_methods()
    with pytest.raises(UserError) as caught:
        ttsr_bench.evaluate(Video(), limit=1, out=clean_env / "video", **QUICK)
    assert str(caught.value) == (f"method video-sr (user method {__name__}.Video): kind 'video' is not one of sisr, "
                                 "refsr; set its `kind` attribute to one of them")
    assert not (clean_env / "video").exists()
    with pytest.raises(UserError) as caught:
        ttsr_bench.evaluate(type("Odd", (Doubler,), {"name": "My_SR+v2 & 50%"})(), **QUICK)
    assert str(caught.value) == (f"method {__name__}.Odd: name 'My_SR+v2 & 50%': use 1-64 letters, digits, '.', '_', "
                                 "'+' or '-', starting with a letter or digit (it names rows and folders)")
