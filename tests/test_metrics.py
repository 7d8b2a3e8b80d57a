"""PSNR/SSIM against the TTSR release's numbers and scikit-image; LPIPS loading; the registry API."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

import metrics
from metrics import lpips_alex as metrics_lpips, release_psnr_ssim
from tests.conftest import shared_path
from foundation.errors import UserError


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
        assert torch.allclose(release_psnr_ssim._ssim_batched_images(sr, hr, **settings),
                              metrics.ssim_torch(sr, hr, data_range=255, **kw), rtol=0, atol=1e-12)
        assert torch.allclose(release_psnr_ssim._psnr_batched(sr, hr, **settings),
                              metrics.psnr_torch(sr, hr, data_range=255, **kw), rtol=0, atol=1e-10)
    # The batched path caps PSNR as the NumPy path does (mse = 0 → PSNR_MAX_DB, not +inf).
    assert release_psnr_ssim._psnr_batched(hr, hr, crop_border=0, y_channel=True, round_y=False)[0] == metrics.PSNR_MAX_DB


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
        spec = metrics.REGISTRY.get(name)
        assert spec.name == name and spec.convention and spec.source
    assert metrics.REGISTRY.get("lpips").higher_is_better is False
    assert metrics.REGISTRY.get("lpips").needs_weights
    assert metrics.available(["psnr"]) == {"psnr": (True, "")}
    with pytest.raises(UserError, match="unknown metric"):
        metrics.resolve(["nope"])
    assert metrics.REGISTRY.names()[:3] == list(metrics.DEFAULT_METRICS)
    for name, spec in metrics.REGISTRY.items():
        low, high = spec.value_range
        assert spec.name == name and low < high and spec.direction in ("higher", "lower"), name
    sr, hr = _pair(seed=1)
    got = metrics.compute(["psnr", "ssim"], [sr, hr], [hr, hr], device="cpu")
    for name in ("psnr", "ssim"):
        low, high = metrics.REGISTRY.get(name).value_range
        assert all(low <= value <= high for value in got[name]), name


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


# --------------------------------------------------------------------------- input checks, PSNR cap

def test_float_input_needs_data_range_then_equals_uint8_value():
    sr, hr = _pair(seed=5)
    expected_psnr, expected_ssim = metrics.psnr(sr, hr), metrics.ssim(sr, hr)
    assert 30 < expected_psnr < 40
    for call in (metrics.psnr, metrics.ssim, metrics.psnr_ssim):
        with pytest.raises(ValueError, match=r"sr: got float64 values without data_range.*data_range=1\.0"):
            call(sr / 255.0, hr / 255.0)
    # [0, 1] with data_range=1.0 gives the uint8 value; [0, 255] floats with data_range=255 give it exactly.
    assert abs(metrics.psnr(sr / 255.0, hr / 255.0, data_range=1.0) - expected_psnr) < 1e-9
    assert abs(metrics.ssim(sr / 255.0, hr / 255.0, data_range=1.0) - expected_ssim) < 1e-9
    both = metrics.psnr_ssim(sr / 255.0, hr / 255.0, data_range=1.0)
    assert abs(both[0] - expected_psnr) < 1e-9 and abs(both[1] - expected_ssim) < 1e-9
    assert metrics.psnr(sr.astype(np.float64), hr.astype(np.float32), data_range=255) == expected_psnr
    assert metrics.ssim(sr.astype(np.float64), hr.astype(np.float64), data_range=255.0) == expected_ssim
    assert metrics.psnr(sr, hr, data_range=255) == expected_psnr
    # integer dtypes other than uint8 need data_range too (16-bit: 0 … 65535)
    with pytest.raises(ValueError, match="hr: got uint16 values without data_range"):
        metrics.psnr(sr, hr.astype(np.uint16) * 257)
    assert abs(metrics.psnr(sr.astype(np.uint16) * 257, hr.astype(np.uint16) * 257, data_range=65535)
               - expected_psnr) < 1e-9
    assert np.abs(metrics.rgb_to_y(hr / 255.0, data_range=1.0) - metrics.rgb_to_y(hr)).max() < 1e-12


def test_torch_and_compute_inputs_follow_the_same_rules():
    sr, hr = _pair(seed=6)
    expected = metrics.psnr(sr, hr), metrics.ssim(sr, hr)
    sr_t, hr_t = _batch(sr), _batch(hr)
    for call in (metrics.psnr_torch, metrics.ssim_torch):
        with pytest.raises(ValueError, match="sr: got float32 values without data_range"):
            call(sr_t.float(), hr_t.float())
    assert abs(metrics.psnr_torch(sr_t / 255.0, hr_t / 255.0, data_range=1.0).item() - expected[0]) < 1e-5  # float32 in
    assert abs(metrics.psnr_torch(sr_t.double() / 255, hr_t.double() / 255, data_range=1).item() - expected[0]) < 1e-9
    assert abs(metrics.ssim_torch(sr_t.double() / 255, hr_t.double() / 255, data_range=1).item() - expected[1]) < 1e-9
    assert metrics.psnr_torch(sr_t, hr_t).item() == expected[0]
    with pytest.raises(ValueError, match=r"sr_batch\[1\]: got float64 values without data_range"):
        metrics.compute(["psnr"], [sr, sr / 255.0], [hr, hr], device="cpu")
    got = metrics.compute(["psnr", "ssim"], [sr / 255.0], [hr / 255.0], data_range=1.0, device="cpu")
    assert abs(got["psnr"][0] - expected[0]) < 1e-9 and abs(got["ssim"][0] - expected[1]) < 1e-9
    got = metrics.compute(["psnr"], sr_t.double() / 255, hr_t.double() / 255, data_range=1.0, device="cpu")
    assert abs(got["psnr"][0] - expected[0]) < 1e-9
    with pytest.raises(ValueError, match=r"hr_batch\[0\]: values span \[-1, 1\], outside \[0, 1\]"):
        metrics.compute(["psnr"], [sr / 255.0], [hr / 127.5 - 1.0], data_range=1.0, device="cpu")


@pytest.mark.parametrize("case, message", [
    ("minus_one_to_one", r"sr: values span \[-1, 1\], outside \[0, 1\] \(data_range=1\)"),
    ("minus_one_to_one_no_range", "sr: got float64 values without data_range"),
    ("above_range", r"sr: values span \[0, 255\], outside \[0, 1\]"),
    ("unit_as_255", r"sr: fractional values all within \[0, 1\] but data_range=255.*data_range=1\.0"),
    ("nan", r"sr: holds NaN or infinite values"),
    ("inf", r"hr: holds NaN or infinite values"),
    ("uint8_with_unit_range", r"sr: uint8 values are taken as \[0, 255\], but data_range=1 was given"),
    ("bool", "sr: unsupported dtype bool"),
    ("complex", "sr: unsupported dtype complex128"),
    ("four_channels", r"sr: must be an H×W×3 RGB array, got shape \(40, 52, 4\)"),
    ("grey", r"hr: must be an H×W×3 RGB array, got shape \(40, 52\)"),
    ("tensor", "sr: got a torch tensor"),
    ("zero_range", "data_range must be a positive finite number.*got 0"),
    ("nan_range", "data_range must be a positive finite number.*got nan"),
    ("text_range", "data_range must be a positive finite number.*got '255'"),
])
def test_wrong_numpy_input_raises_naming_argument(case, message):
    sr, hr = _pair()
    unit_sr, unit_hr = sr / 255.0, hr / 255.0
    cases = {
        "minus_one_to_one": (sr / 127.5 - 1, hr / 127.5 - 1, 1.0),
        "minus_one_to_one_no_range": (sr / 127.5 - 1, hr / 127.5 - 1, None),
        "above_range": (sr.astype(float), hr.astype(float), 1.0),
        "unit_as_255": (unit_sr, unit_hr, 255),
        "nan": (np.where(sr == sr.max(), np.nan, unit_sr), unit_hr, 1.0),
        "inf": (unit_sr, np.where(hr == hr.max(), np.inf, unit_hr), 1.0),
        "uint8_with_unit_range": (sr, hr, 1),
        "bool": (sr > 128, hr > 128, 1.0),
        "complex": (sr.astype(complex), hr.astype(complex), 255),
        "four_channels": (np.concatenate([sr, sr[..., :1]], axis=2), hr, None),
        "grey": (sr, hr[..., 0], None),
        "tensor": (torch.from_numpy(sr), hr, None),
        "zero_range": (unit_sr, unit_hr, 0),
        "nan_range": (unit_sr, unit_hr, math.nan),
        "text_range": (unit_sr, unit_hr, "255"),
    }
    a, b, data_range = cases[case]
    for call in (metrics.psnr, metrics.ssim, metrics.psnr_ssim):
        with pytest.raises(ValueError, match=message):
            call(a, b, data_range=data_range)
    if case != "tensor":
        in_compute = message.replace("sr:", r"sr_batch\[0\]:").replace("hr:", r"hr_batch\[0\]:")
        with pytest.raises(ValueError, match=in_compute):
            metrics.compute(["psnr"], [a], [b], data_range=data_range, device="cpu")


def test_wrong_torch_input_raises_naming_argument():
    sr, hr = _pair()
    sr_t, hr_t = _batch(sr), _batch(hr)
    for call in (metrics.psnr_torch, metrics.ssim_torch):
        with pytest.raises(ValueError, match=r"sr: values span \[-1, 1\], outside \[0, 1\]"):
            call(sr_t / 127.5 - 1, hr_t / 255.0, data_range=1.0)
        with pytest.raises(ValueError, match="hr: holds NaN or infinite values"):
            call(sr_t / 255.0, torch.full_like(hr_t / 255.0, math.nan), data_range=1.0)
        with pytest.raises(ValueError, match=r"sr: must be an N×3×H×W RGB batch, got shape \(1, 4, 40, 52\)"):
            call(torch.cat([sr_t, sr_t[:, :1]], dim=1), hr_t)
        with pytest.raises(ValueError, match=r"sr and hr: batch sizes differ \(2 and 1\)"):
            call(_batch(sr, sr), hr_t)
        with pytest.raises(ValueError, match="hr: expected an N×3×H×W torch tensor, got ndarray"):
            call(sr_t, hr)
    with pytest.raises(ValueError, match="sr_batch and hr_batch: 2 SR images but 1 HR images"):
        metrics.compute(["psnr"], [sr, sr], [hr], device="cpu")
    with pytest.raises(ValueError, match=r"sr_batch: must be a 3×H×W RGB tensor, got shape \(40, 52, 3\)"):
        metrics.compute(["psnr"], torch.from_numpy(sr), _batch(hr)[0], device="cpu")


def test_psnr_capped_at_psnr_max_db():
    assert metrics.PSNR_MAX_DB == 100.0
    sr, hr = _pair(seed=7)
    assert metrics.psnr(hr, hr) == 100.0 and metrics.ssim(hr, hr) == 1.0
    assert metrics.psnr_ssim(hr, hr) == (100.0, 1.0)
    assert metrics.psnr(hr, hr, y_channel=False, crop_border=4, round_y=True) == 100.0
    assert metrics.psnr_torch(_batch(hr, sr), _batch(hr, hr)).tolist()[0] == 100.0
    assert metrics.ssim_torch(_batch(hr), _batch(hr)).item() == 1.0
    got = metrics.compute(["psnr", "ssim"], [hr, sr], [hr, hr], device="cpu")
    assert got["psnr"][0] == 100.0 and got["ssim"][0] == 1.0
    assert got["psnr"][1] == pytest.approx(metrics.psnr(sr, hr), abs=1e-9)
    # One blue step of 1 in 40×52 pixels: 10·log10(255²·2080/(25.064/256)²) = 101.5 dB, so capped.
    near = hr.copy()
    near[0, 0, 2] = near[0, 0, 2] + 1 if near[0, 0, 2] < 255 else 254
    mse = (25.064 / 256) ** 2 / (40 * 52)
    assert 10 * math.log10(255 ** 2 / mse) > 101 and metrics.psnr(near, hr) == 100.0
    # Below the cap nothing changes: 16 steps give 10·log10(255²·2080/(16·0.0979)²) = 77.4 dB.
    far = hr.astype(np.int64)
    far[0, 0, 2] += 16 if far[0, 0, 2] < 128 else -16
    assert metrics.psnr(far.astype(np.uint8), hr) == pytest.approx(10 * math.log10(255 ** 2 / (mse * 256)), abs=1e-9)


def test_lpips_checks_inputs_before_loading(tmp_path, monkeypatch, no_download):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))     # no AlexNet here: the checks come first
    pair = _pair(48, 64)
    sr, hr = _batch(pair[0]), _batch(pair[1])
    with pytest.raises(ValueError, match="sr: got float32 values without data_range"):
        metrics_lpips.lpips_torch(sr / 127.5 - 1, hr / 127.5 - 1)
    with pytest.raises(ValueError, match=r"hr: values span \[-1, 1\], outside \[0, 1\]"):
        metrics_lpips.lpips_torch(sr / 255.0, hr / 127.5 - 1, data_range=1.0)
    with pytest.raises(ValueError, match="lpips compares whole images, got sizes 64×48 and 60×48"):
        metrics_lpips.lpips_torch(sr, hr[..., :60])
    with pytest.raises(ValueError, match="lpips needs at least 31 px on the short side, got 64×20"):
        metrics_lpips.lpips_torch(sr[..., :20, :], hr[..., :20, :])
    with pytest.raises(UserError, match="alexnet"):
        metrics_lpips.lpips_torch(sr, hr)


def test_torch_reduction_branch_of_the_checks():
    # CUDA tensors (and bfloat16, which NumPy lacks) are checked with torch.aminmax instead of NumPy.
    sr, hr = _pair(seed=8)
    sr_t, hr_t = _batch(sr).to(torch.bfloat16), _batch(hr).to(torch.bfloat16)    # integers ≤ 255: exact
    assert metrics.psnr_torch(sr_t, hr_t, data_range=255).item() == pytest.approx(metrics.psnr(sr, hr), abs=1e-9)
    with pytest.raises(ValueError, match="sr: got bfloat16 values without data_range"):
        metrics.psnr_torch(sr_t, hr_t)
    with pytest.raises(ValueError, match=r"hr: values span \[-1, 1\], outside \[0, 255\]"):
        metrics.ssim_torch(sr_t, hr_t / 127.5 - 1, data_range=255)
    with pytest.raises(ValueError, match="sr: holds NaN or infinite values"):
        metrics.psnr_torch(sr_t * math.inf, hr_t, data_range=255)
    with pytest.raises(ValueError, match=r"sr: fractional values all within \[0, 1\] but data_range=255"):
        metrics.psnr_torch(sr_t / 255, hr_t / 255, data_range=255)
