"""PSNR/SSIM against the TTSR release's numbers and scikit-image; LPIPS loading; the registry API."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from benchmarks import metrics, metrics_lpips
from tests.conftest import shared_path
from ttsr.errors import UserError


def _golden():
    cases = json.loads(shared_path("golden", "metric_reference.json").read_text())["cases"]
    arrays = np.load(shared_path("golden", "metric_reference.npz"))
    return [(c, arrays[c["name"] + "_sr"], arrays[c["name"] + "_hr"]) for c in cases]


def _pair(height=40, width=52, seed=0, noise=12.0):
    rng = np.random.default_rng(seed)
    hr = rng.integers(0, 256, (height, width, 3)).astype(np.uint8)
    sr = np.clip(hr + rng.normal(0, noise, hr.shape), 0, 255).round().astype(np.uint8)
    return sr, hr


def _skimage_ssim_y(sr, hr, crop_border=0):
    a, b = metrics.common_region(sr, hr, crop_border)
    return structural_similarity(metrics.rgb_to_y(a), metrics.rgb_to_y(b), gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=255)


def _batch(*images):
    return torch.stack([torch.from_numpy(img).permute(2, 0, 1) for img in images])


def test_golden_release_values():
    for case, sr, hr in _golden():
        assert abs(metrics.psnr(sr, hr) - case["psnr_y"]) < 1e-5, case["name"]
        assert abs(metrics.ssim(sr, hr) - case["ssim_y"]) < 1e-6, case["name"]
        got = metrics.compute(["psnr", "ssim"], [sr], [hr], device="cpu")
        assert abs(got["psnr"][0] - case["psnr_y"]) < 1e-5
        assert abs(got["ssim"][0] - case["ssim_y"]) < 1e-6


def test_ssim_numpy_and_torch_equal_skimage():
    pairs = [_pair(seed=s, noise=n) for s, n in ((0, 4.0), (1, 30.0))]
    for crop in (0, 4):
        values = metrics.ssim_torch(_batch(*[p[0] for p in pairs]), _batch(*[p[1] for p in pairs]),
                                    crop_border=crop)
        for (sr, hr), value in zip(pairs, values.tolist()):
            expected = _skimage_ssim_y(sr, hr, crop)
            assert abs(metrics.ssim(sr, hr, crop_border=crop) - expected) < 1e-6
            assert abs(value - expected) < 1e-6


def test_batched_torch_path_equals_numpy_path():
    # The batched path is what CUDA runs; check it here on the CPU against the per-image NumPy path.
    pairs = [_pair(37, 61, seed=s) for s in range(3)]
    sr, hr = _batch(*[p[0] for p in pairs]).double(), _batch(*[p[1] for p in pairs]).double()
    for kw in ({}, {"y_channel": False}, {"round_y": True}, {"crop_border": 4}):
        settings = {"crop_border": 0, "y_channel": True, "round_y": False, **kw}
        assert torch.allclose(metrics._ssim_batched_images(sr, hr, **settings),
                              metrics.ssim_torch(sr, hr, data_range=255, **kw), rtol=0, atol=1e-12)
        assert torch.allclose(metrics._psnr_batched(sr, hr, **settings),
                              metrics.psnr_torch(sr, hr, data_range=255, **kw), rtol=0, atol=1e-10)
    # The batched path caps PSNR as the NumPy path does (mse = 0 → PSNR_MAX_DB, not +inf).
    assert metrics._psnr_batched(hr, hr, crop_border=0, y_channel=True, round_y=False)[0] == metrics.PSNR_MAX_DB


def test_rgb_mode_is_channel_mean_and_joint_mse():
    sr, hr = _pair()
    expected = structural_similarity(sr.astype(float), hr.astype(float), gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, data_range=255, channel_axis=2)
    assert abs(metrics.ssim(sr, hr, y_channel=False) - expected) < 1e-6
    assert abs(metrics.ssim_torch(_batch(sr), _batch(hr), y_channel=False).item() - expected) < 1e-6
    mse = np.mean((sr.astype(float) - hr) ** 2)
    assert abs(metrics.psnr(sr, hr, y_channel=False) - 10 * math.log10(255 ** 2 / mse)) < 1e-9


def test_psnr_options_and_torch_agreement():
    sr, hr = _pair()
    y_sr, y_hr = metrics.rgb_to_y(sr), metrics.rgb_to_y(hr)
    mse = np.mean((y_sr - y_hr) ** 2)
    assert abs(metrics.psnr(sr, hr) - 10 * math.log10(255 ** 2 / mse)) < 1e-9
    rounded = np.mean((np.round(y_sr) - np.round(y_hr)) ** 2)
    assert abs(metrics.psnr(sr, hr, round_y=True) - 10 * math.log10(255 ** 2 / rounded)) < 1e-9
    cropped = np.mean((y_sr[4:-4, 4:-4] - y_hr[4:-4, 4:-4]) ** 2)
    assert abs(metrics.psnr(sr, hr, crop_border=4) - 10 * math.log10(255 ** 2 / cropped)) < 1e-9
    for kw in ({}, {"round_y": True}, {"crop_border": 4}, {"y_channel": False}):
        torch_value = metrics.psnr_torch(_batch(sr), _batch(hr), **kw).item()
        assert abs(torch_value - metrics.psnr(sr, hr, **kw)) < 1e-9
        assert abs(metrics.ssim_torch(_batch(sr), _batch(hr), **kw).item() - metrics.ssim(sr, hr, **kw)) < 1e-9
    assert metrics.psnr(hr, hr) == 100.0 and metrics.ssim(hr, hr) == 1.0


def test_different_sizes_use_top_left_region():
    sr, hr = _pair(40, 52)
    big = np.zeros((45, 60, 3), np.uint8)
    big[:40, :52] = hr
    assert metrics.psnr(sr, big) == metrics.psnr(sr, hr)
    assert metrics.ssim(sr, big) == metrics.ssim(sr, hr)


def test_compute_groups_sizes_and_marks_small_images():
    a, b = _pair(40, 52, seed=2), _pair(33, 30, seed=3)
    tiny = _pair(8, 9, seed=4)
    got = metrics.compute(["psnr", "ssim"], [a[0], b[0], tiny[0]], [a[1], b[1], tiny[1]], device="cpu")
    assert got["psnr"][0] == pytest.approx(metrics.psnr(*a), abs=1e-9)
    assert got["ssim"][1] == pytest.approx(metrics.ssim(*b), abs=1e-9)
    assert math.isnan(got["ssim"][2]) and not math.isnan(got["psnr"][2])
    assert "ssim needs at least 11" in metrics.skip_reason("ssim", 8, 9)
    assert metrics.skip_reason("ssim", 40, 40) is None
    sisr = metrics.compute(["PSNR"], _batch(a[0]), _batch(a[1]), crop_border=4, round_y=True, device="cpu")
    assert sisr["psnr"][0] == pytest.approx(metrics.psnr(*a, crop_border=4, round_y=True), abs=1e-9)


def test_registry_entries_and_unknown_name():
    for name in metrics.DEFAULT_METRICS:
        spec = metrics.REGISTRY[name]
        assert spec.name == name and spec.convention and spec.source
    assert metrics.REGISTRY["lpips"].higher_is_better is False
    assert metrics.REGISTRY["lpips"].needs_weights
    assert metrics.available(["psnr"]) == {"psnr": (True, "")}
    with pytest.raises(UserError, match="unknown metric"):
        metrics.resolve(["nope"])


# --------------------------------------------------------------------------- LPIPS

@pytest.fixture
def no_download(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")
    import torchvision.models._api as tv_api
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(tv_api, "load_state_dict_from_url", refuse)


def test_lpips_unavailable_without_alexnet(tmp_path, monkeypatch, no_download):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    ok, reason = metrics.available(["lpips"])["lpips"]
    assert not ok and "alexnet-owt-7be5be79.pth" in reason and str(tmp_path / "hub" / "checkpoints") in reason
    assert "\n" not in reason
    sr, hr = _pair()
    with pytest.raises(UserError, match="alexnet-owt-7be5be79.pth"):
        metrics.compute(["psnr", "lpips"], [sr], [hr], device="cpu")
    got = metrics.compute(["psnr", "lpips"], [sr], [hr], device="cpu", on_unavailable="nan")
    assert math.isnan(got["lpips"][0]) and not math.isnan(got["psnr"][0])


def test_lpips_loads_cached_backbone(tmp_path, monkeypatch, no_download):
    import torchvision
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(0)
    trunk = torchvision.models.alexnet(weights=None).state_dict()
    torch.save(trunk, checkpoints / "alexnet-owt-7be5be79.pth")
    assert metrics.available(["lpips"])["lpips"] == (True, "")
    model = metrics_lpips.get_model("cpu")
    loaded = model.net.state_dict()
    assert torch.equal(loaded["slice1.0.weight"], trunk["features.0.weight"])
    assert torch.equal(loaded["slice5.10.bias"], trunk["features.10.bias"])
    sr, hr = _pair(48, 64)
    other = _pair(48, 64, seed=9)[1]
    got = metrics.compute(["lpips"], [sr, hr, hr], [hr, sr, hr], device="cpu")["lpips"]
    assert got[0] > 0 and got[0] == pytest.approx(got[1], rel=1e-5) and got[2] == pytest.approx(0.0, abs=1e-7)
    assert metrics.compute(["lpips"], [other], [hr], device="cpu")["lpips"][0] > 0
    (checkpoints / "alexnet-owt-7be5be79.pth").write_bytes(b"not a checkpoint")
    metrics_lpips._MODELS.clear()
    with pytest.raises(UserError, match="alexnet"):
        metrics_lpips.get_model("cpu")
