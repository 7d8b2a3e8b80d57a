"""The piq measures: each runs, small images give NaN with a reason, DISTS only from cached files,
and piq's SSIM against ours on the real images of ../shared/data."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import metrics
from metrics import piq_measures as metrics_piq
from benchmarks.degrade import pil_bicubic
from tests.conftest import shared_path
from foundation.errors import UserError
from foundation.imageio import read_image

PIQ_NAMES = ["ms-ssim", "fsim", "gmsd", "vif", "haarpsi"]


def _pair(height, width, seed=0, noise=15.0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3)).astype(np.uint8)
    hr = pil_bicubic(base, (width, height))                     # smooth, photo-like content
    sr = np.clip(hr + rng.normal(0, noise, hr.shape), 0, 255).round().astype(np.uint8)
    return sr, hr


@pytest.fixture
def no_download(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")
    import torchvision.models._api as tv_api
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(tv_api, "load_state_dict_from_url", refuse)


def test_registry_entries_describe_each_measure():
    for spec in metrics_piq.SPECS:
        assert spec.name in metrics.REGISTRY
        assert spec.convention and spec.source and isinstance(spec.higher_is_better, bool)
    assert not metrics.REGISTRY.get("gmsd").higher_is_better and not metrics.REGISTRY.get("dists").higher_is_better
    assert metrics.REGISTRY.get("dists").needs_weights and metrics.REGISTRY.get("fsim").needs_weights is None


def test_each_measure_runs_and_ranks_identity_best():
    big, small = _pair(168, 176, seed=1), _pair(48, 60, seed=2)
    identical = (big[1], big[1])
    got = metrics.compute(PIQ_NAMES, [big[0], small[0], identical[0]], [big[1], small[1], identical[1]],
                          device="cpu")
    for name in PIQ_NAMES:
        distorted, _, same = got[name]
        spec = metrics.REGISTRY.get(name)
        higher, (low, high) = spec.higher_is_better, spec.value_range
        assert math.isfinite(distorted), name
        assert low <= distorted <= high and low <= same <= high, name
        assert (same > distorted) if higher else (same < distorted), name
    assert got["ms-ssim"][2] == pytest.approx(1.0, abs=1e-9) and got["gmsd"][2] == pytest.approx(0.0, abs=1e-6)
    # 48×60 is below MS-SSIM's 161 px: NaN with a reason; the rest are finite.
    assert math.isnan(got["ms-ssim"][1])
    assert "161" in metrics.skip_reason("ms-ssim", 48, 60)
    assert all(math.isfinite(got[name][1]) for name in PIQ_NAMES if name != "ms-ssim")
    # MS-SSIM's first scale uses our Y: a tensor batch gives the same numbers as arrays.
    batch = metrics.compute(["ms-ssim"], torch.from_numpy(big[0]).permute(2, 0, 1)[None],
                            torch.from_numpy(big[1]).permute(2, 0, 1)[None], device="cpu")
    assert batch["ms-ssim"][0] == pytest.approx(got["ms-ssim"][0], abs=1e-12)


def test_vif_and_haarpsi_minimum_sizes():
    sr, hr = _pair(30, 30, seed=3)
    got = metrics.compute(["vif", "haarpsi"], [sr], [hr], device="cpu")
    assert math.isnan(got["vif"][0]) and math.isfinite(got["haarpsi"][0])
    assert "41" in metrics.skip_reason("vif", 30, 30)


def test_dists_unavailable_names_missing_files(tmp_path, monkeypatch, no_download):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    ok, reason = metrics.available(["dists"])["dists"]
    assert not ok and "vgg16-397923af.pth" in reason and "dists_weights.pt" in reason and "\n" not in reason
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / "vgg16-397923af.pth").write_bytes(b"x")
    ok, reason = metrics.available(["dists"])["dists"]
    assert not ok and "vgg16" not in reason and metrics_piq.DISTS_WEIGHTS_URL in reason
    sr, hr = _pair(40, 40)
    with pytest.raises(UserError, match="dists_weights.pt"):
        metrics.compute(["dists"], [sr], [hr], device="cpu")


def test_dists_from_cached_files(tmp_path, monkeypatch, no_download):
    import torchvision
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(0)
    with torch.device("meta"):
        shapes = {key: value.shape for key, value in torchvision.models.vgg16(weights=None).features.state_dict().items()}
    features = {key: torch.randn(shape) * (0.01 if key.endswith("weight") else 0.0) for key, shape in shapes.items()}
    torch.save({"features." + key: value for key, value in features.items()}, checkpoints / "vgg16-397923af.pth")
    weights = torch.rand(1, 2 * 1475, 1, 1)
    weights /= weights.sum()
    torch.save({"alpha": weights[:, :1475].clone(), "beta": weights[:, 1475:].clone()},
               checkpoints / "dists_weights.pt")
    assert metrics.available(["dists"])["dists"] == (True, "")
    model = metrics_piq.get_dists("cpu")
    assert torch.equal(model.model.state_dict()["0.weight"], features["0.weight"])
    sr, hr = _pair(64, 72, seed=4)
    got = metrics.compute(["dists"], [sr, hr, hr], [hr, sr, hr], device="cpu")["dists"]
    assert got[0] > 0 and got[0] == pytest.approx(got[1], rel=1e-4) and abs(got[2]) < 1e-5
    torch.save({"alpha": weights[:, :10]}, checkpoints / "dists_weights.pt")
    metrics_piq._DISTS_MODELS.clear()
    with pytest.raises(UserError, match="dists_weights.pt"):
        metrics_piq.get_dists("cpu")


def _real_pairs():
    folder = shared_path("data", "Set5", "image_SRF_4")
    pairs = []
    for path in sorted(folder.glob("*_HR.png")):
        hr = read_image(path)
        hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
        lr = pil_bicubic(hr, (hr.shape[1] // 4, hr.shape[0] // 4))
        pairs.append((path.name, pil_bicubic(lr, (hr.shape[1], hr.shape[0])), hr))
    return pairs


def test_piq_ssim_cross_check_on_real_images():
    # piq filters with a full 2-D float64 convolution (about 0.4 s per 512×512 image on CPU): the
    # test compares 160×200 windows of each Set5 pair; `metrics.piq_measures.cross_check_ssim`
    # on the whole images of ../shared/data gives the figures in its docstring.
    pairs = _real_pairs()
    assert pairs
    for name, sr, hr in pairs:
        sr, hr = sr[40:200, 20:220], hr[40:200, 20:220]
        for crop in (0,):
            check = metrics_piq.cross_check_ssim(sr, hr, crop_border=crop)
            # Same quantity (our Y, Gaussian 11/1.5, valid region, no pre-downscale): float rounding only.
            assert check["matched_diff"] < 1e-9, (name, check)
            # piq's defaults are another convention (RGB channel mean; average-pool pre-downscale by
            # round(min(H, W)/256)): without the pre-downscale it equals our RGB mode.
            if check["downsample_factor"] == 1:
                assert abs(check["piq_default"] - check["ours_rgb"]) < 1e-9, (name, check)
            assert check["default_diff"] != pytest.approx(0.0, abs=1e-3)


def test_public_piq_functions_check_inputs_and_scale_data_range():
    sr, hr = _pair(48, 60, seed=5)
    sr_t, hr_t = (torch.from_numpy(x).permute(2, 0, 1)[None] for x in (sr, hr))
    via_compute = metrics.compute(["fsim", "gmsd", "haarpsi", "vif"], [sr], [hr], device="cpu")
    for name, function in (("fsim", metrics_piq.fsim_torch), ("gmsd", metrics_piq.gmsd_torch),
                           ("haarpsi", metrics_piq.haarpsi_torch), ("vif", metrics_piq.vif_torch)):
        assert function(sr_t, hr_t).item() == pytest.approx(via_compute[name][0], abs=1e-6), name
        # [0, 1] floats with data_range=1.0 give the uint8 value (float32 inside piq)
        assert function(sr_t / 255.0, hr_t / 255.0, data_range=1.0).item() == pytest.approx(via_compute[name][0],
                                                                                         abs=1e-5), name
        with pytest.raises(ValueError, match="sr: got float32 values without data_range"):
            function(sr_t / 255.0, hr_t / 255.0)
        with pytest.raises(ValueError, match=r"hr: values span \[-1, 1\], outside \[0, 1\]"):
            function(sr_t / 255.0, hr_t / 127.5 - 1, data_range=1.0)
        with pytest.raises(ValueError, match=f"{name} compares whole images, got sizes 60×48 and 50×48"):
            function(sr_t, hr_t[..., :50])
    with pytest.raises(ValueError, match="ms-ssim needs at least 161 px on the short side, got 60×48"):
        metrics_piq.ms_ssim_torch(sr_t, hr_t)
    with pytest.raises(ValueError, match="hr: holds NaN or infinite values"):
        metrics_piq.gmsd_torch(sr_t / 255.0, torch.full(hr_t.shape, math.inf), data_range=1.0)
    assert metrics_piq.fsim_torch.__name__ == "fsim_torch" and "data_range" in metrics_piq.fsim_torch.__doc__


def test_cross_check_ssim_takes_data_range():
    sr, hr = _pair(40, 48, seed=6)
    check = metrics_piq.cross_check_ssim(sr, hr)
    assert check["ours"] == metrics.ssim(sr, hr)
    unit = metrics_piq.cross_check_ssim(sr / 255.0, hr / 255.0, data_range=1.0)
    assert all(unit[key] == pytest.approx(check[key], abs=1e-12) for key in ("ours", "ours_rgb", "piq_matched"))
    with pytest.raises(ValueError, match="sr: got float64 values without data_range"):
        metrics_piq.cross_check_ssim(sr / 255.0, hr / 255.0)
