"""A user's own method, in THEIR package, picked up without editing the suite (README, "Your own method").

`--plugin MODULE`, the settings file's `plugins = [...]` and the entry-point group `ttsr_bench.methods`
(`foundation.registry`): the method runs next to the suite's under the same protocol, with the right
numbers, and its rows say where it came from (the manifest's configs: module, file sha256,
distribution, version). A module that cannot be imported is one line, exit 2.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from foundation import registry as registry_mod
from foundation.errors import UserError

REPO = Path(__file__).resolve().parents[1]

NEAREST = '''
import torch
from baselines.registry import Method, register


@register
class Nearest(Method):
    """Nearest-neighbour x4: each LR pixel becomes a 4x4 block."""

    name = "nearest"
    kind = "sisr"
    scale = 4
    convention = "RGB [0,255]"
    weights = None

    def load(self, weights_path=None, device="cpu"):
        self.device = torch.device(device)
        return self

    def __call__(self, batch):
        return batch["lr"].repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)
'''


def _package(root: Path, module: str = "nearest", source: str = NEAREST, package: str = "mypkg") -> Path:
    """`root/<package>/<module>.py` holding `source`; returns the module file."""
    folder = root / package
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").write_text("")
    path = folder / f"{module}.py"
    path.write_text(textwrap.dedent(source))
    return path


def _expected_psnr() -> dict[tuple[str, str], float]:
    """{(method, ref_mode): PSNR} of nearest and bicubic on the first demo image under protocol
    `demo`, computed here from the primitives (degradation, upscaling, metric settings)."""
    import metrics
    from benchmarks import datasets, degrade, protocols
    from foundation.resize import upscale

    expected = {}
    for evaluation in protocols.get("demo").evaluations:
        sample = datasets.load("demo", None, **dict(evaluation.load_options, scale=4, limit=1))[0]
        if evaluation.degradation == "refsr":
            inputs = degrade.refsr_inputs(sample.hr, None, 4)
        else:
            inputs = degrade.sisr_inputs(sample.hr, sample.lr, 4)
        nearest = np.repeat(np.repeat(inputs.lr, 4, axis=0), 4, axis=1)
        for method, sr in (("nearest", nearest), ("bicubic", upscale(inputs.lr, 4))):
            expected[(method, evaluation.ref_mode)] = metrics.psnr(sr, inputs.hr, **evaluation.metric_settings())
    return expected


def _run(args: list[str], pythonpath: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(pythonpath)]))
    env.pop("TTSR_BENCH_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "benchmarks.run", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _rows(out: Path) -> dict[tuple[str, str], dict]:
    with open(out / "rows.csv", newline="") as handle:
        return {(row["method"], row["ref_mode"]): row for row in csv.DictReader(handle)}


def _check_rows(out: Path, module_file: Path) -> None:
    """Rows of nearest and bicubic with the expected PSNR; nearest's configurations name its origin."""
    rows = _rows(out)
    expected = _expected_psnr()
    assert set(rows) == set(expected) == {(m, r) for m in ("nearest", "bicubic") for r in ("graded", "none")}
    for key, value in expected.items():
        assert float(rows[key]["psnr"]) == pytest.approx(value, abs=1e-9), key
    assert float(rows[("nearest", "graded")]["psnr"]) < float(rows[("bicubic", "graded")]["psnr"]) - 0.1
    configs = json.loads((out / "manifest.json").read_text())["configs"]
    sha = hashlib.sha256(module_file.read_bytes()).hexdigest()
    for (method, _), row in rows.items():
        entry = configs[row["config_id"]]
        if method == "nearest":
            assert entry["origin"] == {"module": "mypkg.nearest", "file": str(module_file), "sha256": sha}
            assert entry["config"]["origin"] == {"module": "mypkg.nearest", "sha256": sha}  # part of config_id
        else:
            assert "origin" not in entry and "origin" not in entry["config"]  # the suite's own: ids unchanged


def test_plugin_option_runs_the_users_method_beside_bicubic(tmp_path):
    module_file = _package(tmp_path / "site")
    out = tmp_path / "run"
    done = _run(["--protocol", "demo", "--plugin", "mypkg.nearest", "--methods", "nearest", "bicubic",
                 "--limit", "1", "--metrics", "psnr", "--out", str(out)], tmp_path / "site", tmp_path)
    assert done.returncode == 0, done.stderr
    _check_rows(out, module_file)


@pytest.fixture
def plugin_site(tmp_path, monkeypatch):
    """A package folder on sys.path; what it registers and imports is removed afterwards."""
    from baselines import registry

    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    registry.METHODS.discover()  # the shipped methods are not the test's to remove
    before_entries, before_loaded = dict(registry.METHODS._entries), dict(registry_mod._LOADED)
    before_modules = set(sys.modules)
    yield site
    for name in set(registry.METHODS._entries) - set(before_entries):
        del registry.METHODS[name]
    for name in set(registry_mod._LOADED) - set(before_loaded):
        del registry_mod._LOADED[name]
    for name in set(sys.modules) - before_modules:
        if name.split(".")[0] in ("mypkg", "brokenpkg", "eppkg"):
            del sys.modules[name]


def test_settings_file_plugins_do_the_same(plugin_site, tmp_path, monkeypatch):
    from benchmarks import run

    module_file = _package(plugin_site)
    settings = tmp_path / "conf" / "ttsr-bench.toml"
    settings.parent.mkdir()
    settings.write_text('plugins = ["mypkg.nearest"]\nmethods = ["Nearest", "bicubic"]\n'
                        '[weights]\n')  # [weights] names are checked after the plug-ins are imported
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    status = run.main(["--protocol", "demo", "--settings", str(settings), "--limit", "1", "--metrics", "psnr",
                       "--out", str(out)])
    assert status == 0
    _check_rows(out, module_file)
    assert registry_mod.loaded_plugins()["mypkg.nearest"]["sha256"] == hashlib.sha256(
        module_file.read_bytes()).hexdigest()


def test_weights_entry_for_a_plugin_method_in_the_settings_file(plugin_site, tmp_path):
    """`[weights] mine = ...` in the same file as `plugins`: the name is known by the time it is checked."""
    from baselines import registry
    from foundation import settings

    _package(plugin_site, "withweights", NEAREST.replace('"nearest"', '"mine"').replace(
        "weights = None", 'from baselines.registry import WeightsSpec\n    weights = WeightsSpec(("mine.pt",), "here")'))
    (tmp_path / "mine.pt").write_bytes(b"x")
    file = tmp_path / "s.toml"
    file.write_text('plugins = ["mypkg.withweights"]\n[weights]\nMINE = "mine.pt"\n')
    found = settings.resolve(str(file), data=False, methods=registry.METHODS)
    assert found.weights == {"mine": tmp_path / "mine.pt"} and found.plugins == ["mypkg.withweights"]


@pytest.mark.parametrize("source, needle", [
    ("import not_a_package_anywhere\n", "ModuleNotFoundError: No module named 'not_a_package_anywhere'"),
    ("raise RuntimeError('boom\\nsecond line')\n", "RuntimeError: boom second line"),
    (NEAREST.replace('"nearest"', '"bicubic"'), "ValueError: method 'bicubic' is registered twice"),
])
def test_a_module_that_fails_to_import_is_one_line_exit_2(plugin_site, capsys, source, needle):
    from benchmarks import run

    _package(plugin_site, "broken", source, package="brokenpkg")
    status = run.main(["--protocol", "demo", "--plugin", "brokenpkg.broken", "--methods", "bicubic", "--limit", "1",
                       "--out", str(plugin_site.parent / "run")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("error: --plugin brokenpkg.broken: importing it failed (")
    assert needle in err
    assert not (plugin_site.parent / "run").exists()  # nothing started


def test_missing_or_malformed_module_names(plugin_site, tmp_path):
    from foundation import settings

    with pytest.raises(UserError, match=r"^--plugin nopkg_xyz\.mod: module not found .*PYTHONPATH"):
        registry_mod.load_plugins(["nopkg_xyz.mod"])
    with pytest.raises(UserError, match=r"^--plugin 'my-pkg/mod\.py': not a module name"):
        registry_mod.load_plugins(["my-pkg/mod.py"])
    file = tmp_path / "s.toml"
    file.write_text('plugins = ["nopkg_xyz"]\n')
    with pytest.raises(UserError, match=rf"^{file}: plugins nopkg_xyz: module not found"):
        settings.resolve(str(file), data=False)
    file.write_text('plugins = "mypkg.nearest"\n')
    with pytest.raises(UserError, match=rf"^{file}: plugins"):
        settings.resolve(str(file), data=False)


def _dist_info(site: Path, value: str, name: str = "eppkg-methods", version: str = "1.2.3") -> None:
    """A fake installed distribution: importlib.metadata finds `*.dist-info` folders on sys.path."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[ttsr_bench.methods]\n{value}\n")


def test_entry_point_group_is_discovered(plugin_site):
    """A fresh registry of the group finds the module entry point (its own `register` runs) and an
    object entry point (registered under its `name`); origins name the distribution and version;
    a broken entry point is remembered and named, not fatal."""
    _package(plugin_site, "methods", NEAREST.replace("@register\n", ""), package="eppkg")  # not registered
    _dist_info(plugin_site, "near = eppkg.methods:Nearest\nbroken = eppkg.missing_module")
    reg = registry_mod.Registry("method", entry_points="ttsr_bench.methods", case_sensitive=False)
    with pytest.warns(RuntimeWarning, match="could not import entry point broken = eppkg.missing_module"):
        assert reg.names() == ["nearest"]
    origin = reg.origin("Nearest")
    assert origin["module"] == "eppkg.methods" and (origin["distribution"], origin["version"]) == (
        "eppkg-methods", "1.2.3")
    assert "entry point broken = eppkg.missing_module of eppkg-methods 1.2.3" in reg.import_failures()
    with pytest.raises(UserError, match="modules that failed to import: entry point broken"):
        reg.get("nope")


def test_entry_point_method_runs_from_the_command_line(tmp_path):
    """The suite's methods registry reads the group: an installed package's method runs by name."""
    site = tmp_path / "site"
    _package(site, "nearest", NEAREST, package="eppkg")
    _dist_info(site, "mine = eppkg.nearest")
    out = tmp_path / "run"
    done = _run(["--protocol", "demo", "--methods", "nearest", "--limit", "1", "--metrics", "psnr", "--out",
                 str(out)], site, tmp_path)
    assert done.returncode == 0, done.stderr
    rows = _rows(out)
    expected = _expected_psnr()
    assert {k: float(r["psnr"]) for k, r in rows.items()} == pytest.approx(
        {k: v for k, v in expected.items() if k[0] == "nearest"}, abs=1e-9)
    origin = json.loads((out / "manifest.json").read_text())["configs"][rows[("nearest", "graded")]["config_id"]]
    assert (origin["origin"]["distribution"], origin["origin"]["version"]) == ("eppkg-methods", "1.2.3")


MAE = '''
from metrics.spec import REGISTRY, MetricSpec


def _mae(sr, hr):
    return (sr - hr).abs().mean(dim=(1, 2, 3))


REGISTRY.register(MetricSpec("mae", False, (0.0, 255.0), "RGB [0,255], mean absolute error", "test",
                             None, measure=_mae))
'''


def test_plugin_metric_is_a_column(plugin_site, tmp_path):
    """A measure registered by a plug-in module is asked for by name and gets its own column."""
    import metrics
    from benchmarks import datasets, degrade, protocols, run
    from benchmarks.report.cli import main as report_main
    from foundation.resize import upscale

    _package(plugin_site, "mae", MAE)
    out = tmp_path / "run"
    try:
        assert run.main(["--protocol", "demo", "--plugin", "mypkg.mae", "--methods", "bicubic", "--limit", "1",
                         "--metrics", "psnr", "MAE", "--out", str(out)]) == 0
        # the report reads the run's mae column once the plug-in names the measure
        assert report_main(["--runs", str(out), "--out", str(tmp_path / "report"), "--plugin", "mypkg.mae",
                            "--visual-images", "0"]) == 0
        assert re.search(r"\|\s+mae ↓\s+\|", (tmp_path / "report" / "report.md").read_text())  # a column (any alignment)
    finally:
        metrics.REGISTRY._entries.pop("mae", None)
    rows = _rows(out)
    for evaluation in protocols.get("demo").evaluations:
        sample = datasets.load("demo", None, **dict(evaluation.load_options, scale=4, limit=1))[0]
        inputs = (degrade.refsr_inputs(sample.hr, None, 4) if evaluation.degradation == "refsr"
                  else degrade.sisr_inputs(sample.hr, sample.lr, 4))
        border = evaluation.crop_border
        sr, hr = (np.asarray(a, np.float64) for a in (upscale(inputs.lr, 4), inputs.hr))
        if border:
            sr, hr = sr[border:-border, border:-border], hr[border:-border, border:-border]
        assert float(rows[("bicubic", evaluation.ref_mode)]["mae"]) == pytest.approx(np.abs(sr - hr).mean(), rel=1e-9)


def test_score_takes_a_plugin_metric(plugin_site, tmp_path, monkeypatch):
    """`score --plugin` measures ready-made SR images with the plug-in's measure."""
    import metrics
    from benchmarks import datasets, degrade, protocols, score
    from foundation.imageio import write_image
    from foundation.resize import upscale

    _package(plugin_site, "mae", MAE)
    evaluation = next(e for e in protocols.get("demo").evaluations if e.ref_mode == "none")
    sample = datasets.load("demo", None, **dict(evaluation.load_options, scale=4, limit=1))[0]
    inputs = degrade.sisr_inputs(sample.hr, sample.lr, 4)
    sr = upscale(inputs.lr, 4)
    write_image(tmp_path / "sr" / f"{sample.name}.png", sr)
    monkeypatch.chdir(tmp_path)
    try:
        assert score.main(["--sr", str(tmp_path / "sr"), "--dataset", "demo", "--protocol", "demo", "--ref-mode",
                           "none", "--plugin", "mypkg.mae", "--metrics", "mae", "--out", str(tmp_path / "run")]) == 0
    finally:
        metrics.REGISTRY._entries.pop("mae", None)
    row = _rows(tmp_path / "run")[(f"{score.PREFIX}sr", "none")]
    b = evaluation.crop_border
    expected = np.abs(sr.astype(np.float64) - inputs.hr)[b:-b, b:-b].mean()
    assert float(row["mae"]) == pytest.approx(expected, rel=1e-9)


def test_reproduce_takes_plugins(plugin_site, tmp_path, capsys, monkeypatch):
    """`reproduce --plugin` imports the module before the names are read, and hands it to the runner."""
    import argparse

    from benchmarks import reproduce

    _package(plugin_site)
    monkeypatch.chdir(tmp_path)
    ns = argparse.Namespace(settings=None, data_root=None, weights=None, device=None, metrics=None,
                            methods=["NEAREST", "bicubic"], plugins=["mypkg.nearest"])
    settings = reproduce.resolve(ns)
    assert settings["methods"] == ["nearest", "bicubic"] and settings["plugins"] == ["mypkg.nearest"]
    given = reproduce.run_settings("demo", tmp_path / "runs" / "demo", settings, force=False)
    assert given.plugins == ["mypkg.nearest"] and given.methods == ["nearest", "bicubic"]
    assert reproduce.main(["demo", "--plugin", "nopkg_xyz.mod", "--runs-dir", str(tmp_path / "runs"),
                           "--reports-dir", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --plugin nopkg_xyz.mod: module not found")


def test_suite_methods_have_no_origin():
    from baselines import registry

    assert registry.METHODS.origin("bicubic") is None and registry.METHODS.origin("TTSR") is None


# --------------------------------------------------------------------------------------------------
# A user's method that is wrong: bad input (one line, or a skipped image), not a traceback; the
# suite's own methods still raise on a bug (`baselines.registry.user_source`, the one rule).

def _demo_lr_size() -> str:
    """"LR w×h" of the first demo image (both demo passes degrade it to the same LR size)."""
    from benchmarks import datasets, degrade, protocols

    evaluation = protocols.get("demo").evaluations[0]
    sample = datasets.load("demo", None, **dict(evaluation.load_options, scale=4, limit=1))[0]
    lr = degrade.refsr_inputs(sample.hr, None, 4).lr
    return f"LR {lr.shape[1]}×{lr.shape[0]}"


def _error(err: str) -> str:
    """The one `error:` line of stderr (progress bars may precede it): it must be the last line."""
    errors = [line for line in err.split("\n") if line.startswith("error:")]
    assert len(errors) == 1 and err.endswith(errors[0] + "\n"), err
    return errors[0]


def _run_in_process(args: list[str], out: Path) -> int:
    from benchmarks import run

    return run.main(["--protocol", "demo", "--limit", "1", "--metrics", "psnr", "--out", str(out), *args])


def test_a_plugin_with_a_bad_kind_is_one_line_before_any_work(plugin_site, capsys):
    _package(plugin_site, "video", NEAREST.replace('kind = "sisr"', 'kind = "video"'))
    out = plugin_site.parent / "run"
    assert _run_in_process(["--plugin", "mypkg.video", "--methods", "bicubic", "nearest"], out) == 2
    assert capsys.readouterr().err == ("error: method nearest (plug-in module mypkg.video): kind 'video' is not one "
                                       "of sisr, refsr; set its `kind` attribute to one of them\n")
    assert not out.exists()  # nothing started


def test_a_plugin_whose_load_fails_is_one_line_and_keeps_finished_rows(plugin_site, capsys):
    _package(plugin_site, "noload", NEAREST.replace("self.device = torch.device(device)",
                                                    "raise OSError('weights disk gone')"))
    out = plugin_site.parent / "run"
    assert _run_in_process(["--plugin", "mypkg.noload", "--methods", "bicubic", "nearest"], out) == 2
    assert _error(capsys.readouterr().err) == ("error: method nearest (plug-in module mypkg.noload): load failed: "
                                               "OSError: weights disk gone; fix its load()")
    assert sorted(_rows(out)) == [("bicubic", "graded"), ("bicubic", "none")]  # bicubic ran first: kept
    expected = _expected_psnr()
    assert float(_rows(out)[("bicubic", "graded")]["psnr"]) == pytest.approx(expected[("bicubic", "graded")], abs=1e-9)


def test_a_plugin_whose_call_fails_skips_the_image_with_the_reason(plugin_site, capsys):
    _package(plugin_site, "keyerr", NEAREST.replace('return batch["lr"]', 'return batch["refs"]'))
    out = plugin_site.parent / "run"
    assert _run_in_process(["--plugin", "mypkg.keyerr", "--methods", "nearest", "bicubic"], out) == 0
    assert sorted(_rows(out)) == [("bicubic", "graded"), ("bicubic", "none")]
    skipped = {r["what"]: r for r in json.loads((out / "skipped.json").read_text())}
    image = "demo/motorcycle_stereo (nearest)"
    assert skipped[image]["reason"] == (f"nearest (plug-in module mypkg.keyerr) failed on this image "
                                        f"({_demo_lr_size()}): KeyError: 'refs' (the batch holds lr, lr_up, ref, "
                                        "ref_down_up)")
    assert skipped[image]["fix"] == "fix the method (baselines.registry: what a method gets and returns)"
    assert f"skipped {image}: nearest (plug-in module mypkg.keyerr) failed" in capsys.readouterr().out
    # every image failing: nothing measured, status 3 (as for a callable)
    assert _run_in_process(["--plugin", "mypkg.keyerr", "--methods", "nearest"], plugin_site.parent / "alone") == 3


def test_a_plugin_returning_a_wrong_shape_skips_the_image(plugin_site):
    _package(plugin_site, "shape", NEAREST.replace('.repeat_interleave(4, dim=3)', '.repeat_interleave(2, dim=3)'))
    out = plugin_site.parent / "run"
    assert _run_in_process(["--plugin", "mypkg.shape", "--methods", "nearest"], out) == 3
    reason = json.loads((out / "skipped.json").read_text())[-1]["reason"]
    assert reason.startswith("nearest (plug-in module mypkg.shape) failed on this image")
    assert ": ValueError: nearest returned a tensor of shape 1×3×" in reason


def test_a_plugin_name_must_fit_the_name_rule(plugin_site, capsys):
    _package(plugin_site, "badname", NEAREST.replace('"nearest"', '"My_SR+v2 & 50%"'))
    assert _run_in_process(["--plugin", "mypkg.badname", "--methods", "bicubic"], plugin_site.parent / "run") == 2
    assert capsys.readouterr().err == (
        "error: --plugin mypkg.badname: importing it failed (UserError: method Nearest (module mypkg.badname): name "
        "'My_SR+v2 & 50%': use 1-64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit (it "
        "names rows and folders)); fix the module\n")


def test_an_unknown_method_without_plugins_hints_at_plugin(plugin_site, capsys):
    from baselines import registry

    valid = ", ".join(registry.names())
    assert _run_in_process(["--methods", "mine"], plugin_site.parent / "run") == 2
    assert capsys.readouterr().err == (f"error: --methods: unknown method 'mine'; valid names: {valid} (your own "
                                       "method? load its module with --plugin MODULE)\n")
    _package(plugin_site)  # with a plug-in loaded, the hint is not given
    assert _run_in_process(["--plugin", "mypkg.nearest", "--methods", "mine"], plugin_site.parent / "run") == 2
    assert "nearest" in registry.names() and capsys.readouterr().err == (
        f"error: --methods: unknown method 'mine'; valid names: {', '.join(registry.names())}\n")


def test_the_suites_own_methods_still_raise_on_a_bug(clean_env, monkeypatch):
    from baselines.bicubic import Bicubic
    from benchmarks import run

    def broken(self, batch):
        return batch["refs"]

    monkeypatch.setattr(Bicubic, "__call__", broken)
    with pytest.raises(KeyError, match="refs"):
        run.main(["--protocol", "demo", "--methods", "bicubic", "--limit", "1", "--metrics", "psnr"])

    def no_load(self, weights_path=None, device="cpu"):
        raise OSError("bug")

    monkeypatch.setattr(Bicubic, "load", no_load)
    with pytest.raises(OSError, match="bug"):
        run.main(["--protocol", "demo", "--methods", "bicubic", "--limit", "1", "--metrics", "psnr"])
