"""Extra full-reference measures through piq (Kastryulin et al., `piq` 0.8): MS-SSIM, FSIM, GMSD, VIF,
HaarPSI, DISTS — one registry entry each (issue 8).

Every registry measure takes the SR/HR batches `metrics.compute.compute` passes (N×3×H×W,
float64 in [0, 255], checked, cut to the top-left common region and border-cropped by the
protocol's `crop_border`) and runs on their device (CUDA when present). The public functions
(`ms_ssim_torch`, `fsim_torch`, `gmsd_torch`, `vif_torch`, `haarpsi_torch`, `dists_torch`,
`cross_check_ssim`) check their inputs as every measure of `metrics` does (`metrics.inputs`):
uint8 in [0, 255], or values in [0, data_range] with `data_range=` given; SR and HR of one size,
short side at least the measure's minimum; `ValueError` naming the argument otherwise. None
computes PSNR (the PSNR cap has nothing to apply to here). Colour conventions:

| name    | input given to piq                         | direction | piq settings (defaults of the papers)              |
|---------|--------------------------------------------|-----------|----------------------------------------------------|
| ms-ssim | Y of the TTSR release (as `ssim`), /255    | higher    | 5 scales, weights of Wang et al. 2003, 11/1.5 window, 'valid' per scale; short side ≥ 161 px |
| fsim    | RGB in [0, 1]                              | higher    | FSIMc (chromatic), piq's average-pool pre-downscale by round(min(H,W)/256) as in Zhang's code |
| gmsd    | RGB in [0, 1] (piq takes Y = .299R+.587G+.114B) | lower | 2× average-pool, Prewitt, t = 170/255²           |
| vif     | RGB in [0, 1] (piq takes the same BT.601 Y)| higher    | pixel-domain VIF, σn² = 2; short side ≥ 41 px      |
| haarpsi | RGB in [0, 1] (piq's YIQ)                  | higher    | 3 scales, subsample, C = 30, α = 4.2; short side ≥ 16 px |
| dists   | RGB in [0, 1], ImageNet mean/std           | lower     | VGG16 trunk (L2 pooling), piq's alpha/beta; images with short side > 256 shrunk to 256 (bilinear), as piq does |

Float precision: MS-SSIM in float64 (like `ssim`), the others in float32 (piq's native type).

Weights: DISTS needs torchvision's ImageNet VGG16 (`vgg16-397923af.pth`) and piq's DISTS
alpha/beta (`dists_weights.pt`, published with piq v0.4.1), both in the torch hub cache
(`$TORCH_HOME/hub/checkpoints`). piq's own `DISTS()` would download both when absent; here the
network is assembled from those two files only (never downloaded, never random) and DISTS is
unavailable with one line naming what is missing otherwise.

Our SSIM and piq's: piq's `ssim(downsample=False, data_range=255)` on our Y planes computes the same
quantity (Gaussian 11/1.5 window built the same way, 'valid' convolution, C1/C2 from k1 = 0.01,
k2 = 0.03) — `tests/test_metrics_piq.py` checks agreement on real test images (Set5, Set14, samples).
piq's *defaults* differ in convention: RGB channels averaged instead of Y, and a pre-downscale by
average pooling of factor round(min(H, W)/256) (`downsample=True`); see `cross_check_ssim`.

Registers one spec per measure (`SPECS`, in `metrics.spec.REGISTRY`).
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from foundation.errors import UserError
from foundation.safeload import load_torch_file
from foundation.pretrained import find_backbone, hub_checkpoint_dir, load_backbone_state_dict, missing_backbone_message
from metrics.inputs import check_equal_pair, check_image
from metrics.release_psnr_ssim import _rgb_to_y_torch, common_region, rgb_to_y, ssim
from metrics.spec import REGISTRY, MetricSpec

DISTS_WEIGHTS_FILE = "dists_weights.pt"
DISTS_WEIGHTS_URL = "https://github.com/photosynthesis-team/piq/releases/download/v0.4.1/dists_weights.pt"
DISTS_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
DISTS_CHANNELS = (3, 64, 128, 256, 512, 512)     # the image itself, then each VGG16 stage
_DISTS_MODELS: dict[tuple[str, str, str], torch.nn.Module] = {}


def _piq():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import piq  # noqa: PLC0415 - heavy import, only when a piq measure is used
    return piq


def _rgb01(x: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """[0, 255] RGB → [0, 1] in `dtype`, clamped (piq rejects values outside its data range)."""
    return (x.to(dtype) / 255.0).clamp_(0.0, 1.0)


def _y01(x: torch.Tensor) -> torch.Tensor:
    """The release's Y (as our `ssim`), float64, divided by 255 → N×1×H×W in [16/255, 235/255]."""
    return _rgb_to_y_torch(x) / 255.0


# --------------------------------------------------------------------------- the measures
# `_name(sr, hr)` take checked float64 [0, 255] batches (the registry's measures, called by
# `metrics.compute.compute`); the public `name_torch` below check their inputs first.

def _ms_ssim(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    return _piq().multi_scale_ssim(_y01(sr), _y01(hr), data_range=1.0, reduction="none",
                                   kernel_size=11, kernel_sigma=1.5, k1=0.01, k2=0.03)


def _fsim(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    return _piq().fsim(_rgb01(sr), _rgb01(hr), data_range=1.0, reduction="none", chromatic=True)


def _gmsd(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    return _piq().gmsd(_rgb01(sr), _rgb01(hr), data_range=1.0, reduction="none")


def _vif(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    # vif_p(x, y): x is the distorted image, y the reference (the measure is not symmetric).
    return _piq().vif_p(_rgb01(sr), _rgb01(hr), sigma_n_sq=2.0, data_range=1.0, reduction="none")


def _haarpsi(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    return _piq().haarpsi(_rgb01(sr), _rgb01(hr), data_range=1.0, reduction="none", scales=3,
                          subsample=True, c=30.0, alpha=4.2)


# --------------------------------------------------------------------------- DISTS, from cached files only

def dists_weights_path() -> Path:
    return hub_checkpoint_dir() / DISTS_WEIGHTS_FILE


def dists_availability() -> tuple[bool, str]:
    """(True, "") when VGG16 and piq's DISTS weights are both in the hub cache, else one line."""
    missing = []
    if find_backbone("vgg16") is None:
        missing.append(missing_backbone_message("vgg16", "DISTS"))
    if not dists_weights_path().is_file():
        missing.append(f"{DISTS_WEIGHTS_FILE} (piq's DISTS alpha/beta) is not in {hub_checkpoint_dir()}; "
                       f"download {DISTS_WEIGHTS_URL} into that folder")
    if missing:
        return False, "DISTS unavailable: " + " — and ".join(missing)
    return True, ""


def _dists_class():
    piq = _piq()
    from piq.perceptual import IMAGENET_MEAN, IMAGENET_STD, VGG16_LAYERS  # noqa: PLC0415

    class CachedDISTS(piq.DISTS):
        """piq's DISTS (forward, distances, L2 pooling) on a VGG16 and alpha/beta given as tensors.

        `piq.DISTS.__init__` fetches both from the internet; this constructor takes them instead.
        """

        def __init__(self, vgg16_features: torch.nn.Module, alpha: torch.Tensor, beta: torch.Tensor) -> None:
            weights = list(torch.split(alpha, list(DISTS_CHANNELS), dim=1))
            weights += list(torch.split(beta, list(DISTS_CHANNELS), dim=1))
            piq.ContentLoss.__init__(
                self, feature_extractor=vgg16_features, layers=[VGG16_LAYERS[name] for name in DISTS_LAYERS],
                weights=weights, replace_pooling=True, reduction="none", mean=IMAGENET_MEAN,
                std=IMAGENET_STD, normalize_features=False, allow_layers_weights_mismatch=True)

    return CachedDISTS


def build_dists(device: str | torch.device = "cpu") -> torch.nn.Module:
    """DISTS from `vgg16-397923af.pth` and `dists_weights.pt` in the hub cache (`UserError` otherwise)."""
    import torchvision  # noqa: PLC0415

    ok, reason = dists_availability()
    if not ok:
        raise UserError(reason)
    state = load_backbone_state_dict("vgg16", "DISTS")
    with torch.device("meta"):      # shapes only: no random initialisation of 138M parameters
        features = torchvision.models.vgg16(weights=None).features
    wanted = features.state_dict().keys()
    try:
        features.load_state_dict({key: state["features." + key] for key in wanted}, strict=True, assign=True)
    except (KeyError, RuntimeError) as err:
        raise UserError(f"{find_backbone('vgg16')}: not a torchvision VGG16 state dict ({err}); "
                        "delete it and fetch it again") from err
    path = dists_weights_path()
    alpha_beta = load_torch_file(path, "piq's DISTS weights", f"delete it and download {DISTS_WEIGHTS_URL} again")
    try:
        alpha, beta = alpha_beta["alpha"], alpha_beta["beta"]
    except Exception as err:  # noqa: BLE001 - any failure is a bad file on the user's disk
        raise UserError(f"{path}: not piq's DISTS weights ({err}); delete it and download "
                        f"{DISTS_WEIGHTS_URL} again") from err
    expected = (1, sum(DISTS_CHANNELS), 1, 1)
    if tuple(alpha.shape) != expected or tuple(beta.shape) != expected:
        raise UserError(f"{path}: alpha/beta of shape {tuple(alpha.shape)}/{tuple(beta.shape)}, expected "
                        f"{expected}; delete it and download {DISTS_WEIGHTS_URL} again")
    model = _dists_class()(features, alpha.float(), beta.float())
    return model.eval().to(device)


def get_dists(device: str | torch.device = "cpu") -> torch.nn.Module:
    """`build_dists(device)`, cached per weight files and device."""
    key = (str(find_backbone("vgg16")), str(dists_weights_path()), str(torch.device(device)))
    if key not in _DISTS_MODELS:
        _DISTS_MODELS[key] = build_dists(device)
    return _DISTS_MODELS[key]


def _dists(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    model = get_dists(sr.device)
    with torch.no_grad():
        return model(_rgb01(sr), _rgb01(hr)).flatten()


# --------------------------------------------------------------------------- registry entries

def _piq_available() -> tuple[bool, str]:
    try:
        _piq()
    except ImportError:
        return False, "the piq package is not installed: pip install piq"
    return True, ""


def _dists_available() -> tuple[bool, str]:
    ok, reason = _piq_available()
    return dists_availability() if ok else (ok, reason)


SPECS = tuple(REGISTRY.register(spec) for spec in (
    MetricSpec(name="ms-ssim", higher_is_better=True, value_range=(0.0, 1.0),
               convention="Y of the TTSR release /255 (as ssim); 5 scales (Wang et al. 2003 weights), Gaussian "
                          "11/1.5, valid region per scale; protocol border crop; short side >= 161 px else NaN",
               source="Wang, Simoncelli, Bovik 2003; piq.multi_scale_ssim", needs_weights=None,
               measure=_ms_ssim, check=_piq_available, min_size=161),
    MetricSpec(name="fsim", higher_is_better=True, value_range=(0.0, 1.0),
               convention="RGB in [0,1], FSIMc (chromatic), piq's pre-downscale by round(min(H,W)/256); "
                          "protocol border crop",
               source="Zhang et al. TIP 2011; piq.fsim", needs_weights=None,
               measure=_fsim, check=_piq_available, min_size=2),
    MetricSpec(name="gmsd", higher_is_better=False, value_range=(0.0, 0.5),
               convention="RGB in [0,1] -> Y (0.299/0.587/0.114) inside piq, 2x average-pool, Prewitt, "
                          "t=170/255^2; protocol border crop",
               source="Xue et al. TIP 2014; piq.gmsd", needs_weights=None,
               measure=_gmsd, check=_piq_available, min_size=2),
    MetricSpec(name="vif", higher_is_better=True, value_range=(0.0, math.inf),
               convention="RGB in [0,1] -> Y (0.299/0.587/0.114) inside piq, pixel-domain VIF, sigma_n^2=2, SR as "
                          "distorted and HR as reference; protocol border crop; short side >= 41 px else NaN",
               source="Sheikh & Bovik TIP 2006; piq.vif_p", needs_weights=None,
               measure=_vif, check=_piq_available, min_size=41),
    MetricSpec(name="haarpsi", higher_is_better=True, value_range=(0.0, 1.0),
               convention="RGB in [0,1] -> YIQ inside piq, 3 scales, subsample, C=30, alpha=4.2; protocol border "
                          "crop; short side >= 16 px else NaN",
               source="Reisenhofer et al. 2018; piq.haarpsi", needs_weights=None,
               measure=_haarpsi, check=_piq_available, min_size=16),
    MetricSpec(name="dists", higher_is_better=False, value_range=(0.0, 1.0),
               convention="RGB in [0,1], ImageNet mean/std, VGG16 with L2 pooling; short side > 256 shrunk to 256 "
                          "(bilinear) as piq does; protocol border crop",
               source="Ding et al. TPAMI 2020; piq.DISTS (weights of piq v0.4.1)",
               needs_weights=f"torchvision vgg16-397923af.pth and piq's {DISTS_WEIGHTS_FILE} in "
                             "$TORCH_HOME/hub/checkpoints",
               measure=_dists, check=_dists_available, min_size=16),
))


def _checked(spec: MetricSpec) -> Callable[..., torch.Tensor]:
    """The public form of a measure: inputs checked (`metrics.inputs.check_equal_pair`) first."""
    def measure(sr: torch.Tensor, hr: torch.Tensor, *, data_range: float | None = None) -> torch.Tensor:
        sr, hr = check_equal_pair(spec.name, sr, hr, data_range, spec.min_size)
        with torch.no_grad():
            return spec.measure(sr, hr)

    measure.__name__ = spec.measure.__name__.lstrip("_") + "_torch"
    measure.__doc__ = (
        f"{spec.name} per image (tensor of N, {spec.direction} is better) of two "
        f"N×3×H×W RGB batches of the same size, short side ≥ {spec.min_size} px. Inputs: torch.uint8 in "
        f"[0, 255], or values in [0, data_range] with `data_range` given; `ValueError` otherwise. "
        f"Convention: {spec.convention}. Source: {spec.source}.")
    return measure


_PUBLIC = {spec.name: _checked(spec) for spec in SPECS}
ms_ssim_torch = _PUBLIC["ms-ssim"]
fsim_torch = _PUBLIC["fsim"]
gmsd_torch = _PUBLIC["gmsd"]
vif_torch = _PUBLIC["vif"]
haarpsi_torch = _PUBLIC["haarpsi"]
dists_torch = _PUBLIC["dists"]


# --------------------------------------------------------------------------- cross-check

def cross_check_ssim(sr, hr, *, crop_border: int = 0, data_range: float | None = None) -> dict[str, float]:
    """Our SSIM against piq's on one H×W×3 RGB pair: matched settings and piq's defaults.

    `sr`, `hr`: uint8, or values in [0, data_range] with `data_range` given (`ValueError` otherwise,
    as every measure of `metrics`).

    `ours`: `metrics.release_psnr_ssim.ssim` (release convention). `piq_matched`: `piq.ssim` on the
    same float64 Y planes, `data_range=255`, `downsample=False` — the same quantity, so the
    difference is float rounding (≤ 2e-14 on 39 real test images: Set5, Set14 and Urban100/Manga109/Sun80 samples). `piq_default`:
    `piq.ssim` as piq's users call it, RGB in [0, 1] (channel mean) with its average-pool
    pre-downscale by round(min(H, W)/256) — a different convention, so the difference is real,
    not an error: on PIL-bicubic ×4 SR of those 39 images it ranged −0.08 … +0.36 (RGB instead
    of Y: −0.09 … −0.02; the pre-downscale, for images of short side ≥ 384: up to +0.36).
    `ours_rgb` (`ssim(..., y_channel=False)`) equals `piq_default` where no pre-downscale happens.
    """
    piq = _piq()
    sr = check_image("sr", sr, data_range).astype(np.float64)     # [0, 255]
    hr = check_image("hr", hr, data_range).astype(np.float64)
    a, b = common_region(sr, hr, crop_border)
    ours = ssim(a, b, data_range=255)
    y_sr = torch.from_numpy(rgb_to_y(a, data_range=255))[None, None]
    y_hr = torch.from_numpy(rgb_to_y(b, data_range=255))[None, None]
    matched = piq.ssim(y_sr, y_hr, data_range=255.0, downsample=False, reduction="none").item()
    rgb_sr = torch.from_numpy(a).permute(2, 0, 1)[None] / 255.0
    rgb_hr = torch.from_numpy(b).permute(2, 0, 1)[None] / 255.0
    default = piq.ssim(rgb_sr, rgb_hr, data_range=1.0, reduction="none").item()
    return {"ours": ours, "ours_rgb": ssim(a, b, data_range=255, y_channel=False), "piq_matched": matched,
            "piq_default": default, "matched_diff": abs(ours - matched), "default_diff": default - ours,
            "downsample_factor": max(1, round(min(a.shape[:2]) / 256))}

