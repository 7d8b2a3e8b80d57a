"""The method registry: names, discovery of a new one-file method, weights lookup, checkpoint
unwrapping, wrong-method errors, bicubic, and a TTSR method on a random-weights checkpoint."""
from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
import torch

import baselines
from baselines import registry
from tests.conftest import shared_path
from foundation import settings
from foundation.errors import UserError

REQUIRED = ["bicubic", "ttsr", "ttsr-rec", "imdn", "rfdn", "carn-m", "edsr", "mdsr", "rcan", "esrgan",
            "rrdb-psnr", "msrresnet", "msrgan"]



def test_every_required_method_is_registered():
    names = registry.names()
    assert set(REQUIRED) <= set(names)
    assert names[0] == "bicubic"
    for name in names:
        method = registry.get(name)
        assert method.name == name and method.kind in registry.KINDS and method.scale == 4
        assert method.convention and method.description
        if method.weights is not None:
            spec = method.weights
            assert spec.files and spec.source and spec.formats
            if spec.sha256:
                assert all(c in "0123456789abcdef" for c in spec.sha256) and len(spec.sha256) in (8, 64)
    assert registry.get("bicubic").weights is None
    assert registry.get("ttsr").kind == "refsr" and registry.get("imdn").kind == "sisr"
    assert set(registry.names("refsr")) >= {"ttsr", "ttsr-rec"}


def test_unknown_method_lists_the_valid_names():
    with pytest.raises(UserError, match=r"unknown method 'nope'; valid names: bicubic, .*imdn"):
        registry.get("nope")


# every axis a user names: (registry module, attribute, a spelling, its registered name)
AXES = [("baselines.registry", "METHODS", "Bicubic", "bicubic"),
        ("baselines.registry", "METHODS", " TTSR-Rec ", "ttsr-rec"),
        ("metrics.spec", "REGISTRY", "PSNR", "psnr"),
        ("benchmarks.protocols", "PROTOCOLS", "Demo", "demo"),
        ("benchmarks.protocols", "PROTOCOLS", "TABLE1", "table1"),
        ("benchmarks.datasets", "DATASETS", "CUFED5", "cufed5"),
        ("benchmarks.datasets.refmodes", "MODES", "Graded", "graded"),
        ("benchmarks.datasets.refmodes", "MODES", "Level1", "L1"),
        ("training.recipes", "RECIPES", "SRNTT-rec", "srntt-rec")]


@pytest.mark.parametrize("module, attribute, spelled, name", AXES, ids=[a[2].strip() for a in AXES])
def test_every_axis_takes_any_case_and_refuses_unknown_names(module, attribute, spelled, name):
    import importlib

    import metrics.compute  # noqa: F401 - registers every measure
    import training.recipes  # noqa: F401 - its registry discovers the recipes

    axis = getattr(importlib.import_module(module), attribute)
    assert axis.canonical(spelled) == name and spelled in axis and axis.get(spelled) is axis.get(name)
    assert axis.canonical_names([spelled, name], "--x") == [name]  # the registered name, once
    with pytest.raises(UserError, match=rf"^--x: unknown {axis.what} 'nope', 'Nix'; valid names: .*{name}"):
        axis.canonical_names([spelled, "nope", "Nix"], "--x")


def test_a_new_method_is_one_small_file(tmp_path, monkeypatch):
    (tmp_path / "zz_example_method.py").write_text(textwrap.dedent('''
        from baselines.registry import Method, register

        @register
        class Example(Method):
            name = "zz-example"
            convention = "RGB [0,255]"
            description = "test"

            def load(self, weights_path=None, device="cpu"):
                return self

            def __call__(self, batch):
                return batch["lr"].repeat_interleave(4, 2).repeat_interleave(4, 3)
    '''))
    monkeypatch.setattr(baselines, "__path__", [*baselines.__path__, str(tmp_path)])
    monkeypatch.setattr(registry.METHODS, "_discovered", False)
    try:
        assert "zz-example" in registry.names()
        sr = registry.get("zz-example").load()({"lr": torch.zeros(1, 3, 2, 2)})
        assert sr.shape == (1, 3, 8, 8)
    finally:
        registry.METHODS._entries.pop("zz-example", None)
        sys.modules.pop("baselines.zz_example_method", None)


def test_weights_lookup_order(tmp_path, monkeypatch):
    method = registry.get("imdn")
    env_dir, cwd = tmp_path / "env", tmp_path / "cwd"
    (cwd / "weights" / "imdn").mkdir(parents=True)
    env_dir.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv(registry.WEIGHTS_ENV, raising=False)
    assert registry.find_weights(method) is None
    assert "python -m benchmarks.weights fetch imdn" in registry.missing_weights_message(method)
    local = cwd / "weights" / "imdn" / "IMDN_x4.pth"
    local.write_bytes(b"x")
    assert registry.find_weights(method).resolve() == local
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv(registry.WEIGHTS_ENV, f"{tmp_path / 'empty'}:{env_dir}")
    (env_dir / "IMDN_x4.pth").write_bytes(b"x")
    assert registry.find_weights(method) == env_dir / "IMDN_x4.pth"
    monkeypatch.setenv(registry.WEIGHTS_ENV, f"{tmp_path / 'nowhere'}:{env_dir}")  # a folder that does not exist
    with pytest.raises(UserError, match=r"\$TTSR_BENCH_WEIGHTS: folder .*nowhere not found"):
        registry.find_weights(method)
    monkeypatch.setenv(registry.WEIGHTS_ENV, str(env_dir))
    explicit = tmp_path / "mine.pth"
    explicit.write_bytes(b"x")
    overrides = settings.parse_weight_overrides([f"imdn={explicit}"])
    assert registry.find_weights(method, overrides) == explicit
    with pytest.raises(UserError, match="file not found"):
        registry.find_weights(method, {"imdn": tmp_path / "absent.pth"})
    with pytest.raises(UserError, match="NAME=PATH"):
        settings.parse_weight_overrides(["imdn"])
    assert registry.find_weights(registry.get("bicubic")) is None
    with pytest.raises(UserError, match=r"^--weights bicubic=.*mine.pth: bicubic takes no weights file; drop"):
        registry.find_weights(registry.get("bicubic"), {"bicubic": explicit})
    assert "by hand" in registry.missing_weights_message(registry.get("rcan"))
    assert "`python -m benchmarks.weights fetch ttsr`" in registry.missing_weights_message(registry.get("ttsr"))


def test_unwrap_published_layouts(tmp_path):
    from foundation.checkpoints import read_checkpoint

    def unwrap(obj):
        torch.save(obj, tmp_path / "c.pth")
        return read_checkpoint(tmp_path / "c.pth").state_dict

    t = torch.zeros(1)
    assert list(unwrap({"module.a": t, "module.b": t})) == ["a", "b"]
    assert list(unwrap({"params": {"a": t}})) == ["a"]
    assert list(unwrap({"params_ema": {"ema": t}, "params": {"a": t}})) == ["ema"]
    assert list(unwrap({"state_dict": {"module.a": t}, "epoch": 3})) == ["a"]
    assert list(unwrap({"model": {"a": t}})) == ["a"]
    with pytest.raises(UserError, match="no tensors"):
        unwrap({"epoch": 3, "note": "x"})


# --------------------------------------------------------------------------- real checkpoints

def test_real_checkpoints_in_wrappers_load(tmp_path):
    state_dict = torch.load(shared_path("weights", "IMDN_x4.pth"), map_location="cpu", weights_only=True)
    plain = {k.removeprefix("module."): v for k, v in state_dict.items()}
    path = tmp_path / "imdn_basicsr.pth"
    torch.save({"params": plain}, path)
    registry.get("imdn").load(path)
    path = tmp_path / "imdn.safetensors"
    from safetensors.torch import save_file
    save_file(plain, str(path))
    registry.get("imdn").load(path)


@pytest.mark.parametrize("method,filename,guess", [
    ("rfdn", "IMDN_x4.pth", "imdn"), ("edsr", "IMDN_x4.pth", "imdn"), ("carn-m", "IMDN_x4.pth", "imdn"),
    ("imdn", "carn_m.pth", "carn-m"), ("esrgan", "RFDN_AIM.pth", "rfdn"), ("rcan", "carn_m.pth", "carn-m"),
])
def test_another_methods_checkpoint_is_named(method, filename, guess):
    path = shared_path("weights", filename)
    with pytest.raises(UserError, match=rf"looks like a checkpoint of {guess}, expected {method}"):
        registry.get(method).load(path)


def test_ttsr_given_a_sisr_checkpoint_says_so():
    with pytest.raises(UserError, match="looks like a checkpoint of imdn, expected ttsr; pass it as --weights imdn="):
        registry.get("ttsr").load(shared_path("weights", "IMDN_x4.pth"))


def test_missing_unexpected_and_shape_problems_are_user_errors(tmp_path):
    state_dict = torch.load(shared_path("weights", "IMDN_x4.pth"), map_location="cpu", weights_only=True)
    broken = dict(state_dict)
    broken.pop("module.LR_conv.bias")
    torch.save(broken, tmp_path / "missing.pth")
    with pytest.raises(UserError, match=r"missing.pth: .*1 missing key\(s\) \(LR_conv.bias\)"):
        registry.get("imdn").load(tmp_path / "missing.pth")
    broken = dict(state_dict, **{"module.extra.weight": torch.zeros(1)})
    torch.save(broken, tmp_path / "extra.pth")
    with pytest.raises(UserError, match=r"unexpected key\(s\) \(extra.weight\)"):
        registry.get("imdn").load(tmp_path / "extra.pth")
    broken = dict(state_dict, **{"module.fea_conv.bias": torch.zeros(65)})
    torch.save(broken, tmp_path / "shape.pth")
    with pytest.raises(UserError, match=r"shape mismatch.*fea_conv.bias: file \(65,\) vs model \(64,\)"):
        registry.get("imdn").load(tmp_path / "shape.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="junk.pth: not a PyTorch checkpoint"):
        registry.get("imdn").load(tmp_path / "junk.pth")
    with pytest.raises(UserError, match="not found"):
        registry.get("imdn").load(tmp_path / "absent.pth")


def test_mean_shift_of_another_normalisation_is_refused(tmp_path):
    state_dict = torch.load(shared_path("weights", "carn_m.pth"), map_location="cpu", weights_only=True)
    state_dict["sub_mean.shifter.bias"] = torch.zeros(3)
    torch.save(state_dict, tmp_path / "carn.pth")
    with pytest.raises(UserError, match="mean shift"):
        registry.get("carn-m").load(tmp_path / "carn.pth")


# --------------------------------------------------------------------------- bicubic and TTSR

def test_bicubic_is_pil_bicubic_of_the_lr():
    from foundation.resize import upscale

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 10, 14, 3), dtype=np.uint8)
    lr = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    sr = registry.get("bicubic").load(None)({"lr": lr})
    assert sr.shape == (2, 3, 40, 56) and sr.dtype == torch.float32
    for i in range(2):
        np.testing.assert_array_equal(sr[i].permute(1, 2, 0).numpy().astype(np.uint8), upscale(images[i], 4))


def tiny_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"lr": torch.rand(1, 3, 12, 16, generator=g) * 255, "lr_up": torch.rand(1, 3, 48, 64, generator=g) * 255,
            "ref": torch.rand(1, 3, 40, 44, generator=g) * 255,
            "ref_down_up": torch.rand(1, 3, 40, 44, generator=g) * 255}


def test_ttsr_method_on_a_random_weights_checkpoint(tmp_path):
    from ttsr.checkpoint import save_ttsr
    from ttsr.config import TTSRConfig
    from ttsr.model import TTSR

    torch.manual_seed(0)
    net = TTSR(TTSRConfig(n_feats=8, num_res_blocks=(1, 1, 1, 1))).eval()
    path = save_ttsr(net, tmp_path / "random.pt", metadata={"origin": "random weights (test)"})
    method = registry.get("ttsr").load(path, "cpu")
    batch = tiny_batch()
    sr = method(batch)
    assert sr.shape == (1, 3, 48, 64) and 0 <= sr.min() and sr.max() <= 255
    with torch.no_grad():
        ref = net(*(batch[k] / 127.5 - 1 for k in ("lr", "lr_up", "ref", "ref_down_up")))
    torch.testing.assert_close(sr, ((ref.sr + 1) * 127.5).clamp(0, 255))
    assert set(method.extras) == {"hard_index", "S"}
    assert method.extras["S"].device.type == "cpu" and method.extras["S"].shape == (1, 1, 12, 16)
    assert method.extras["hard_index"].shape == (1, 12 * 16)
    registry.get("ttsr-rec").load(path)  # same architecture, other published file
    with pytest.raises(UserError, match="another configuration.*load it as .*ttsr or ttsr-rec"):
        registry.get("ttsr-base-tt").load(path)


def test_ttsr_ablation_variant_takes_its_own_checkpoint(tmp_path):
    from ttsr.checkpoint import save_ttsr
    from ttsr.config import VARIANTS
    from ttsr.model import TTSR

    base = VARIANTS["base"].replace(n_feats=8, num_res_blocks=(1, 1, 1, 1))
    path = save_ttsr(TTSR(base), tmp_path / "base.pt")
    method = registry.get("ttsr-base").load(path)
    assert method(tiny_batch()).shape == (1, 3, 48, 64) and method.extras == {}
    with pytest.raises(UserError, match="not ttsr;.*ttsr-base"):
        registry.get("ttsr").load(path)


def test_weights_facts_say_where_a_file_comes_from(tmp_path):
    """The manifest's weights record: official (with the training set) by file name, a file no
    record lists is unknown, a checkpoint of this suite's trainer is trained here whatever its name."""
    from baselines.registry import METHODS

    rcan, variant = METHODS.get("rcan")(), METHODS.get("ttsr-base")()
    assert rcan.weights_facts(tmp_path / "RCAN_BIX4.pt", {}) == {"weights_origin": "official", "trained_on": "DIV2K"}
    assert rcan.weights_facts(tmp_path / "mine.pt", {}) == {"weights_origin": "unknown", "trained_on": ""}
    trained = {"recipe": "ttsr", "origin": "trained by ttsr-bench (ttsr recipe, config x, step 9)"}
    assert rcan.weights_facts(tmp_path / "RCAN_BIX4.pt", trained)["weights_origin"] == "trained here"
    assert variant.weights_facts(tmp_path / "TTSR-base.pt", {})["weights_origin"] == "trained here"
    assert METHODS.get("ttsr")().weights_facts(tmp_path / "TTSR.pt", {}) == {"weights_origin": "official",
                                                                             "trained_on": "CUFED"}
    assert rcan.weights_facts(None, {}) == {}
