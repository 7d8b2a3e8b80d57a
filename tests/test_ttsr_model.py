"""The TTSR network: exactness against the release (golden file), keys, ablation variants, LTE."""
from __future__ import annotations

import pytest
import torch

from conftest import shared_path
from ttsr.checkpoint import load_ttsr
from benchmarks.parameters import main as parameters_main, paper_counts
from ttsr.config import VARIANTS, TTSRConfig
from foundation.errors import UserError
from ttsr.lte import LTE, imagenet_init_status
from ttsr.model import TTSR, parameter_count

GOLDEN = ("golden", "ttsr_reference_small.pt")
SMALL = TTSRConfig(n_feats=8, num_res_blocks=(1, 1, 1, 1))



def small_inputs(seed: int = 0, lr_hw=(6, 7), ref_hw=(20, 24)) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    (h, w), (rh, rw) = lr_hw, ref_hw
    rand = lambda *s: torch.rand(*s, generator=g) * 2 - 1  # noqa: E731
    return {"lr": rand(1, 3, h, w), "lrsr": rand(1, 3, 4 * h, 4 * w), "ref": rand(1, 3, rh, rw),
            "refsr": rand(1, 3, rh, rw)}


@pytest.fixture(scope="module")
def golden():
    return torch.load(shared_path(*GOLDEN), map_location="cpu", weights_only=True)


@pytest.mark.parametrize("mode", ["dense", "chunked"])
def test_golden_outputs_match_release(golden, mode):
    """Golden weights through the checkpoint loader reproduce the release's outputs."""
    model = load_ttsr(shared_path(*GOLDEN))
    assert model.config.n_feats == 16 and model.config.num_res_blocks == (2, 1, 1, 1)
    model.SearchTransfer.mode = mode
    if mode == "chunked":
        model.set_max_memory(1 << 20)  # below the 2.9 MB of unfolded reference patches: several chunks
    with torch.no_grad():
        out = model(**golden["inputs"])
    for name in ("sr", "S", "T_lv3", "T_lv2", "T_lv1"):
        got, want = getattr(out, name), golden["outputs"][name]
        assert got.shape == want.shape, name
        assert (got - want).abs().max().item() <= 1e-5, name
    assert torch.equal(out.hard_index, golden["outputs"]["hard_index"])


def test_state_dict_keys_are_the_release_full_size_keys(golden):
    with torch.device("meta"):
        model = TTSR()
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    release = [(k, tuple(v)) for k, v in golden["full_size_checkpoint_keys"].items()]
    assert ours == release
    assert sum(torch.Size(shape).numel() for _, shape in release) == parameter_count(TTSRConfig())


def test_table3_parameter_counts_match_paper_in_units_of_2_pow_20():
    """Table 3's counts are total parameters (MainNet + LTE) / 2^20 — this also pins our reading
    of the model without CSFI (a single branch, no merge conv)."""
    paper = paper_counts()  # benchmarks/published.toml, Table 3 rows by variant
    assert set(paper) == {"base+tt", "base+tt+csfi", "base+tt-c80", "base+tt-c96"}
    for name, published in paper.items():
        assert round(parameter_count(VARIANTS[name]) / 2**20, 2) == pytest.approx(published / 1e6), name
    assert parameter_count(VARIANTS["ttsr"]) == 6_729_615  # the released TTSR.pt's tensors, summed


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_runs(name):
    config = VARIANTS[name].replace(n_feats=8, num_res_blocks=(1, 1, 1, 1))
    torch.manual_seed(0)
    model = TTSR(config).eval()
    with torch.no_grad():
        out = model(**small_inputs())
    assert out.sr.shape == (1, 3, 24, 28)
    assert out.sr.abs().max() <= 1.0
    if config.hard_attention:
        assert out.S.shape == (1, 1, 6, 7) and out.hard_index.shape == (1, 42)
        assert out.T_lv1.shape == (1, 64, 24, 28)
    else:
        assert out.S is None and model.LTE is None
        assert not any(k.startswith("LTE.") for k in model.state_dict())


def test_ablation_switches_change_structure_and_output():
    torch.manual_seed(0)
    full = TTSR(SMALL).eval()
    keys = set(full.state_dict())
    assert "MainNet.ex123.conv31_2.weight" in keys
    no_csfi = set(TTSR(SMALL.replace(csfi=False)).state_dict())
    assert not any(".ex1" in k or "RB21" in k or "RB31" in k for k in no_csfi)
    assert "MainNet.merge_tail.conv_tail1.weight" in no_csfi
    assert "MainNet.merge_tail.conv_merge.weight" not in no_csfi
    no_sa = TTSR(SMALL.replace(soft_attention=False)).eval()
    no_sa.load_state_dict(full.state_dict())  # same weights: S is the only difference
    inputs = small_inputs()
    with torch.no_grad():
        assert not torch.allclose(full(**inputs).sr, no_sa(**inputs).sr)
    with pytest.raises(ValueError):
        TTSRConfig(hard_attention=False, soft_attention=True)


def test_lte_learnable_or_frozen():
    learnable, frozen = TTSR(SMALL).LTE, TTSR(SMALL.replace(learnable_lte=False)).LTE
    assert all(p.requires_grad for n, p in learnable.named_parameters() if not n.startswith("sub_mean"))
    assert not any(p.requires_grad for p in frozen.parameters())
    assert not any(p.requires_grad for p in learnable.sub_mean.parameters())
    # The mean shift is (x - mean) / std.
    x = torch.rand(1, 3, 2, 2)
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(learnable.sub_mean(x), (x - mean) / std, atol=1e-6)


def test_texture_features_are_frozen_lte_of_sr_without_state_dict_copy():
    torch.manual_seed(0)
    model = TTSR(SMALL)
    sr = (torch.rand(1, 3, 16, 16) * 2 - 1).requires_grad_(True)
    feats = model.texture_features(sr)
    with torch.no_grad():
        direct = model.LTE((sr + 1) / 2)
    for got, want in zip(feats, direct):
        assert torch.allclose(got, want)
    sum(f.sum() for f in feats).backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.LTE.parameters())
    assert not any("copy" in k for k in model.state_dict())


def test_set_memory_budget_reaches_search():
    model = TTSR(SMALL)
    model.set_max_memory(123456)
    assert model.SearchTransfer.max_memory == 123456
    model.set_max_memory(None)
    assert model.SearchTransfer.max_memory is None


def test_pretrained_lte_absent_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    available, message = imagenet_init_status()
    assert not available and "vgg19-dcbb9e9c.pth" in message and "inference" in message
    with pytest.raises(UserError, match="vgg19"):
        TTSR(SMALL, pretrained_lte=True)


def test_pretrained_lte_loads_cached_vgg19(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.manual_seed(1)
    fake = {}
    source = LTE()
    for name in ("slice1", "slice2", "slice3"):
        for idx, layer in getattr(source, name).named_children():
            if isinstance(layer, torch.nn.Conv2d):
                fake[f"features.{idx}.weight"] = layer.weight.detach().clone()
                fake[f"features.{idx}.bias"] = layer.bias.detach().clone()
    torch.save(fake, folder / "vgg19-dcbb9e9c.pth")
    model = TTSR(SMALL, pretrained_lte=True)
    assert torch.equal(getattr(model.LTE.slice3, "10").weight, fake["features.10.weight"])
    assert torch.equal(getattr(model.LTE.slice1, "0").bias, fake["features.0.bias"])


def test_config_round_trip_and_cli(capsys):
    config = TTSRConfig(n_feats=80, num_res_blocks="8+4+2+1", csfi=False, soft_attention=False)
    assert config.num_res_blocks == (8, 4, 2, 1)
    assert TTSRConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown"):
        TTSRConfig.from_dict({"n_feat": 64})
    # a [model] table: a variant and what differs from it
    assert TTSRConfig.from_dict({"variant": "base+tt", "n_feats": 80}) == VARIANTS["base+tt-c80"]
    with pytest.raises(ValueError, match="unknown TTSR variant 'c80'"):
        TTSRConfig.from_dict({"variant": "c80"})
    assert parameters_main(["--n-feats", "80", "--no-csfi"]) == 0
    out = capsys.readouterr().out
    assert "6.850" in out and "6.53M" in out  # 6,850,143 parameters = 6.53 × 2^20; the paper's figure
    assert parameters_main(["--variants"]) == 0
    assert "base+tt+csfi" in capsys.readouterr().out
    assert parameter_count(VARIANTS["base"], "LTE") == 0  # "Base" has no texture extractor


def test_conv_concat_equals_conv_of_the_concatenation_with_gradients():
    from ttsr.main_net import conv_concat

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(7, 5, 3, padding=1)
    parts = [torch.randn(2, c, 6, 5, dtype=torch.float64, requires_grad=True) for c in (3, 4)]
    conv = conv.double()
    expected = conv(torch.cat(parts, dim=1))
    got = conv_concat(conv, iter(parts))
    assert torch.allclose(got, expected, atol=1e-12)
    grads = torch.autograd.grad(got.square().sum(), [*parts, conv.weight, conv.bias])
    want = torch.autograd.grad(expected.square().sum(), [*parts, conv.weight, conv.bias])
    for g, w in zip(grads, want):
        assert torch.allclose(g, w, atol=1e-10)
    with pytest.raises(ValueError, match="channels"):
        conv_concat(conv, [parts[0]])


def test_banded_lte_equals_the_whole_image_pass():
    from ttsr.lte import LTE

    torch.manual_seed(0)
    lte = LTE().eval()
    x = torch.rand(1, 3, 200, 36)
    whole = lte._levels(x)
    lte.band_rows, lte.band_min_pixels = 40, 0
    with torch.no_grad():
        banded = lte(x)
    for got, want in zip(banded, whole):
        assert got.shape == want.shape
        assert torch.allclose(got, want, atol=1e-5)
