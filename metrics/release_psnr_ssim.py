"""PSNR and SSIM on the Y channel as the TTSR release computes them (NumPy and batched torch).

**TTSR release convention** (the defaults; release `utils.py` `calc_psnr`/`calc_ssim`,
researchmm/TTSR at 550e4c9e525b5860083a00c5f936e4bfe2428da2, https://github.com/researchmm/TTSR):
- inputs: SR and HR as uint8 RGB (the release maps [-1, 1] to [0, 255] and rounds; the runner
  rounds before calling these);
- Y = R·65.738/256 + G·129.057/256 + B·25.064/256 + 16, in float64, not rounded;
- PSNR = 10·log10(255² / mean((Y_sr − Y_hr)²)) (the release writes it as −10·log10 of the mean
  squared Y-difference in [0, 1] units; the +16 cancels), capped at `PSNR_MAX_DB` (below);
- SSIM (Wang et al. 2004): 11×11 Gaussian window, σ = 1.5, C1 = (0.01·255)², C2 = (0.03·255)²,
  mean of the SSIM map over the 'valid' region (the release filters with OpenCV `filter2D` and
  keeps `[5:-5, 5:-5]`; only pixels whose whole window lies inside the image count);
- no border crop; when SR and HR sizes differ, their top-left common region is compared.

**SISR convention** (SISR literature, C2-Matching, DATSR, AMSA): the same Y with
`crop_border=scale` (pixels shaved from each edge before the measure).

Options: `round_y=True` rounds Y to integers before the measure (the IMDN release's Python
script); `y_channel=False` measures RGB instead: PSNR from the MSE over all three channels
together, SSIM as the mean of the three per-channel SSIMs (BasicSR's RGB mode).

Implementation: the Gaussian window is separable, so SSIM filters four moment maps (x, y,
x² + y², xy — the formula only needs E[x²] + E[y²]) with two 11-tap 1-D passes over the valid
region only, each pass a set of matrix products of 16-output blocks with a banded matrix of taps
(BLAS), in strips of 48 output rows so that every temporary stays small; the release filters
with the full 2-D 11×11 window instead. Values agree with the release to ~1e-15 (tests, and the
plain transcription in `benchmarks/perf/metrics_speed.py`, which also times both). The torch
variants take N×3×H×W batches and compute in float64: on CUDA one batched
computation (the same banded products via `unfold`), on the CPU per image through the NumPy path,
which is faster there.

**Inputs**: the rules of `metrics.inputs` (uint8 as [0, 255]; other dtypes in [0, data_range] with
`data_range=` given; `ValueError` naming the argument otherwise).

**PSNR cap**: every PSNR here (`psnr`, `psnr_ssim`, `psnr_torch`, `compute`, hence the runner,
the SISR calibration and `ttsr.sr`) is at most `PSNR_MAX_DB` = 100 dB. An exact reproduction
(MSE = 0) would give +inf, which turns a set mean into inf and breaks plots and tables; 100 dB is
the bound many SR evaluation scripts use (`if mse == 0: return 100`), where BasicSR and
scikit-image return inf. Only values above 100 dB change (an MSE below 255²·10⁻¹⁰ in Y, i.e.
nearly identical images), so every published and release figure is untouched.

Registers the `psnr` and `ssim` specs (`metrics.spec.REGISTRY`).
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch

from metrics.inputs import PEAK, check_batch, check_image, check_pair
from metrics.spec import REGISTRY, MetricSpec

# --------------------------------------------------------------------------- conventions

Y_COEFFS = (65.738 / 256.0, 129.057 / 256.0, 25.064 / 256.0)   # per [0, 255] RGB unit
Y_OFFSET = 16.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = (0.01 * PEAK) ** 2
SSIM_C2 = (0.03 * PEAK) ** 2
PSNR_MAX_DB = 100.0   # cap of every PSNR (identical images); see the module docstring


def gaussian_window_1d(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """Normalised 1-D Gaussian taps (OpenCV `getGaussianKernel(11, 1.5)`); the 2-D window is its outer product."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    taps = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return taps / taps.sum()


_TAPS = gaussian_window_1d()


# --------------------------------------------------------------------------- NumPy

def _rgb_to_y(img: np.ndarray) -> np.ndarray:
    return np.asarray(img).astype(np.float64) @ np.asarray(Y_COEFFS) + Y_OFFSET


def rgb_to_y(img: np.ndarray, *, data_range: float | None = None) -> np.ndarray:
    """The release's Y of an H×W×3 RGB image → float64 H×W on the [0, 255] scale (16 … 235), not rounded.

    `img`: uint8 in [0, 255], or float/integer in [0, data_range] with `data_range` given
    (`ValueError` otherwise, see the module docstring).
    """
    return _rgb_to_y(check_image("img", img, data_range))


def _common_region(sr, hr, crop_border: int, channels_last: bool):
    """Top-left common region of two images — H×W×C arrays (`channels_last`) or …×H×W tensors —
    then `crop_border` pixels shaved from each edge; `ValueError` when nothing is left."""
    (sr_h, sr_w), (hr_h, hr_w) = (x.shape[:2] if channels_last else x.shape[-2:] for x in (sr, hr))
    height, width = min(sr_h, hr_h), min(sr_w, hr_w)
    if crop_border and (height <= 2 * crop_border or width <= 2 * crop_border):
        raise ValueError(f"crop_border={crop_border} leaves nothing of a {width}×{height} image")
    window = (slice(crop_border, height - crop_border), slice(crop_border, width - crop_border))
    index = window if channels_last else (Ellipsis, *window)
    return sr[index], hr[index]


def common_region(sr: np.ndarray, hr: np.ndarray, crop_border: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Top-left common region of two H×W×3 images, then `crop_border` pixels shaved from each edge."""
    return _common_region(sr, hr, crop_border, channels_last=True)


def _prepare(sr, hr, crop_border: int, y_channel: bool, round_y: bool):
    """The float64 planes to compare of two checked images on the [0, 255] scale: H×W (Y) or H×W×3 (RGB)
    for H×W×3 arrays, N×1×H×W (Y) or N×3×H×W (RGB) for N×3×H×W tensors."""
    is_tensor = isinstance(sr, torch.Tensor)
    sr, hr = _common_region(sr, hr, crop_border, channels_last=not is_tensor)
    if is_tensor:
        to_y, to_float64, round_ = _rgb_to_y_torch, (lambda x: x.to(torch.float64)), torch.round
    else:
        to_y, to_float64, round_ = _rgb_to_y, (lambda x: x.astype(np.float64)), np.round
    if not y_channel:
        return to_float64(sr), to_float64(hr)
    a, b = to_y(sr), to_y(hr)
    if round_y:
        a, b = round_(a), round_(b)
    return a, b


def _psnr_from_mse(mse: float) -> float:
    """PSNR (peak 255) of a mean squared error, capped at `PSNR_MAX_DB` (mse = 0 gives the cap)."""
    if mse == 0:
        return PSNR_MAX_DB
    return min(PSNR_MAX_DB, 10.0 * math.log10(PEAK * PEAK / mse))


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    diff = a - b
    diff *= diff
    return float(diff.mean())


def _psnr_pair(sr: np.ndarray, hr: np.ndarray, *, crop_border: int, y_channel: bool, round_y: bool) -> float:
    return _psnr_from_mse(_mse(*_prepare(sr, hr, crop_border, y_channel, round_y)))


def psnr(sr: np.ndarray, hr: np.ndarray, *, data_range: float | None = None, crop_border: int = 0,
         y_channel: bool = True, round_y: bool = False) -> float:
    """PSNR in dB (peak 255, at most `PSNR_MAX_DB`) of two H×W×3 RGB images; defaults = TTSR release.

    `sr`, `hr`: uint8 in [0, 255], or float/integer in [0, data_range] with `data_range` given;
    anything else raises `ValueError` (module docstring). Sizes may differ: the top-left common
    region is compared.
    """
    sr, hr = check_image("sr", sr, data_range), check_image("hr", hr, data_range)
    return _psnr_pair(sr, hr, crop_border=crop_border, y_channel=y_channel, round_y=round_y)


def _ssim_map_mean(mu1, mu2, e11_plus_e22, e12):
    """SSIM map from the filtered moments E[x], E[y], E[x²]+E[y²], E[xy] (NumPy or torch)."""
    mu12 = mu1 * mu2
    mu_sq = mu1 * mu1 + mu2 * mu2
    numerator = (2.0 * mu12 + SSIM_C1) * (2.0 * (e12 - mu12) + SSIM_C2)
    denominator = (mu_sq + SSIM_C1) * (e11_plus_e22 - mu_sq + SSIM_C2)
    return numerator / denominator


_BLOCK = 16   # output samples per block of the banded products below


@functools.lru_cache(maxsize=None)
def _band(n_out: int) -> np.ndarray:
    """(n_out + 10) × n_out matrix whose column j holds the 11 Gaussian taps at rows j … j + 10."""
    band = np.zeros((n_out + SSIM_WINDOW - 1, n_out))
    for j in range(n_out):
        band[j:j + SSIM_WINDOW, j] = _TAPS
    return band


def _valid_filter_stack(stack: np.ndarray) -> np.ndarray:
    """Gaussian 11×11 filtering, 'valid' region, of the planes of an m×H×W stack → m×(H−10)×(W−10).

    Separable: a horizontal then a vertical 11-tap pass, each done as matrix products of blocks of
    16 outputs with a banded matrix of taps — BLAS does the arithmetic, far faster than a tap loop.
    """
    planes, height, width = stack.shape
    out_h, out_w = height - SSIM_WINDOW + 1, width - SSIM_WINDOW + 1
    rows = stack.reshape(planes * height, width)
    horizontal = np.empty((planes * height, out_w))
    for j in range(0, out_w, _BLOCK):
        n = min(_BLOCK, out_w - j)
        np.matmul(rows[:, j:j + n + SSIM_WINDOW - 1], _band(n), out=horizontal[:, j:j + n])
    horizontal = horizontal.reshape(planes, height, out_w)
    result = np.empty((planes, out_h, out_w))
    for i in range(0, out_h, _BLOCK):
        n = min(_BLOCK, out_h - i)
        result[:, i:i + n] = np.matmul(_band(n).T, horizontal[:, i:i + n + SSIM_WINDOW - 1])
    return result


_STRIP = 48  # output rows per strip: keeps every temporary small and cache-resident


def _ssim_sum(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of the SSIM map over the valid region of two float64 planes (≥ 11 rows)."""
    stack = np.empty((4,) + a.shape)
    stack[0], stack[1] = a, b
    np.multiply(a, a, out=stack[2])
    stack[2] += b * b                        # x² + y²
    np.multiply(a, b, out=stack[3])          # xy
    mu1, mu2, second, cross = _valid_filter_stack(stack)   # E[x], E[y], E[x²] + E[y²], E[xy]
    mu12 = mu1 * mu2
    mu_sq = mu1 * mu1
    mu_sq += mu2 * mu2
    cross -= mu12                            # σxy
    cross *= 2.0
    cross += SSIM_C2
    mu12 *= 2.0
    mu12 += SSIM_C1
    cross *= mu12                            # numerator
    second -= mu_sq                          # σx² + σy²
    second += SSIM_C2
    mu_sq += SSIM_C1
    second *= mu_sq                          # denominator
    cross /= second
    return float(cross.sum())


def _ssim_plane(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two float64 planes over the valid region, in strips of output rows."""
    if a.shape[0] < SSIM_WINDOW or a.shape[1] < SSIM_WINDOW:
        raise ValueError(f"SSIM needs at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels, got {a.shape[1]}×{a.shape[0]}")
    out_h, out_w = a.shape[0] - SSIM_WINDOW + 1, a.shape[1] - SSIM_WINDOW + 1
    total = 0.0
    for i in range(0, out_h, _STRIP):
        rows = slice(i, min(i + _STRIP, out_h) + SSIM_WINDOW - 1)
        total += _ssim_sum(a[rows], b[rows])
    return total / (out_h * out_w)


def _ssim_planes(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two prepared planes: H×W, or H×W×3 (mean of the per-channel SSIMs)."""
    if a.ndim == 2:
        return _ssim_plane(a, b)
    return float(np.mean([_ssim_plane(a[..., c], b[..., c]) for c in range(a.shape[2])]))


def _ssim_pair(sr: np.ndarray, hr: np.ndarray, *, crop_border: int, y_channel: bool, round_y: bool) -> float:
    return _ssim_planes(*_prepare(sr, hr, crop_border, y_channel, round_y))


def ssim(sr: np.ndarray, hr: np.ndarray, *, data_range: float | None = None, crop_border: int = 0,
         y_channel: bool = True, round_y: bool = False) -> float:
    """SSIM of two H×W×3 RGB images; defaults = TTSR release convention (Y, Gaussian 11/1.5, valid).

    Inputs as `psnr` (uint8, or [0, data_range] with `data_range` given; `ValueError` otherwise);
    the compared region needs at least 11×11 pixels (`ValueError`).
    """
    sr, hr = check_image("sr", sr, data_range), check_image("hr", hr, data_range)
    return _ssim_pair(sr, hr, crop_border=crop_border, y_channel=y_channel, round_y=round_y)


def psnr_ssim(sr: np.ndarray, hr: np.ndarray, *, data_range: float | None = None, crop_border: int = 0,
              y_channel: bool = True, round_y: bool = False) -> tuple[float, float]:
    """`(psnr(...), ssim(...))` with one check and one colour conversion (what the runner wants per image)."""
    sr, hr = check_image("sr", sr, data_range), check_image("hr", hr, data_range)
    a, b = _prepare(sr, hr, crop_border, y_channel, round_y)
    return _psnr_from_mse(_mse(a, b)), _ssim_planes(a, b)


# --------------------------------------------------------------------------- batched torch

def _rgb_to_y_torch(x: torch.Tensor) -> torch.Tensor:
    x = x.to(torch.float64)
    return (x[:, 0:1] * Y_COEFFS[0] + x[:, 1:2] * Y_COEFFS[1] + x[:, 2:3] * Y_COEFFS[2]) + Y_OFFSET


def rgb_to_y_torch(x: torch.Tensor, *, data_range: float | None = None) -> torch.Tensor:
    """Y of an N×3×H×W RGB batch → N×1×H×W float64 on the [0, 255] scale (the release's coefficients).

    `x`: torch.uint8 in [0, 255], or values in [0, data_range] with `data_range` given (`ValueError`
    otherwise).
    """
    return _rgb_to_y_torch(check_batch("x", x, data_range))


def common_region_torch(sr: torch.Tensor, hr: torch.Tensor,
                        crop_border: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-left common region of two N×C×H×W batches, then `crop_border` shaved from each edge."""
    return _common_region(sr, hr, crop_border, channels_last=False)


def _per_device(pair_measure, batched_measure):
    """A measure on checked N×3×H×W float64 [0, 255] batches → N values (the registry's form, and
    `psnr_torch`/`ssim_torch` after their checks): on the CPU the NumPy pair measure (`_psnr_pair`,
    `_ssim_pair`) per image, elsewhere (CUDA) the batched torch one."""
    def measure(sr: torch.Tensor, hr: torch.Tensor, *, crop_border: int = 0, y_channel: bool = True,
                round_y: bool = False) -> torch.Tensor:
        settings = {"crop_border": crop_border, "y_channel": y_channel, "round_y": round_y}
        if sr.device.type != "cpu":
            return batched_measure(sr, hr, **settings)
        srs = sr.detach().permute(0, 2, 3, 1).numpy()
        hrs = hr.detach().permute(0, 2, 3, 1).numpy()
        return torch.tensor([pair_measure(s, h, **settings) for s, h in zip(srs, hrs)], dtype=torch.float64)
    return measure


def psnr_torch(sr: torch.Tensor, hr: torch.Tensor, *, data_range: float | None = None, crop_border: int = 0,
               y_channel: bool = True, round_y: bool = False) -> torch.Tensor:
    """PSNR per image (float64 tensor of N, dB, at most `PSNR_MAX_DB`) of N×3×H×W RGB batches.

    Inputs: torch.uint8 in [0, 255], or values in [0, data_range] with `data_range` given
    (`ValueError` otherwise, see `check_batch`); same conventions as `psnr`. On CUDA one batched
    computation; on the CPU per image through the NumPy path (faster there: no batch-sized
    temporaries). Same values either way (tested).
    """
    sr, hr = check_pair(sr, hr, data_range)
    return _psnr_measure(sr, hr, crop_border=crop_border, y_channel=y_channel, round_y=round_y)


def _psnr_batched(sr: torch.Tensor, hr: torch.Tensor, *, crop_border: int, y_channel: bool,
                  round_y: bool) -> torch.Tensor:
    a, b = _prepare(sr, hr, crop_border, y_channel, round_y)
    mse = (a - b).pow(2).flatten(1).mean(dim=1)
    return torch.clamp(10.0 * torch.log10(PEAK * PEAK / mse), max=PSNR_MAX_DB)   # mse == 0: +inf → the cap


def _filter_last_dim(x: torch.Tensor) -> torch.Tensor:
    """11-tap Gaussian along the last dimension, 'valid' outputs only, as blocked banded products."""
    length = x.shape[-1]
    out_len = length - SSIM_WINDOW + 1
    blocks = -(-out_len // _BLOCK)
    padded = torch.nn.functional.pad(x, (0, blocks * _BLOCK + SSIM_WINDOW - 1 - length))  # zeros feed only dropped outputs
    windows = padded.unfold(-1, _BLOCK + SSIM_WINDOW - 1, _BLOCK)      # …×blocks×(16+10)
    band = torch.from_numpy(_band(_BLOCK)).to(device=x.device, dtype=x.dtype)
    return (windows @ band).flatten(-2)[..., :out_len]


def _valid_filter_torch(x: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter of …×H×W, 'valid' region only ((H−10)×(W−10))."""
    return _filter_last_dim(_filter_last_dim(x).transpose(-1, -2)).transpose(-1, -2)


def _ssim_batched(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM per N×C plane pair, all in one batched torch computation (the GPU path) → N×C."""
    stacked = torch.stack([a, b, a * a + b * b, a * b])       # 4×N×C×H×W
    moments = _valid_filter_torch(stacked)
    return _ssim_map_mean(*moments.unbind(0)).flatten(2).mean(dim=2)


def ssim_torch(sr: torch.Tensor, hr: torch.Tensor, *, data_range: float | None = None, crop_border: int = 0,
               y_channel: bool = True, round_y: bool = False) -> torch.Tensor:
    """SSIM per image (float64 tensor of N) of N×3×H×W RGB batches; same conventions as `ssim`.

    Inputs as `psnr_torch` (`ValueError` otherwise). RGB mode (`y_channel=False`) averages the
    per-channel SSIMs. On CUDA the whole batch is one batched computation; on the CPU each image
    goes through the NumPy path, which is faster there (cache-sized strips, BLAS). Same values
    either way (tested).
    """
    sr, hr = check_pair(sr, hr, data_range)
    return _ssim_measure(sr, hr, crop_border=crop_border, y_channel=y_channel, round_y=round_y)


def _ssim_batched_images(sr: torch.Tensor, hr: torch.Tensor, *, crop_border: int, y_channel: bool,
                         round_y: bool) -> torch.Tensor:
    a, b = _prepare(sr, hr, crop_border, y_channel, round_y)
    if a.shape[-2] < SSIM_WINDOW or a.shape[-1] < SSIM_WINDOW:
        raise ValueError(f"SSIM needs at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels, got "
                         f"{a.shape[-1]}×{a.shape[-2]}")
    return _ssim_batched(a, b).mean(dim=1)



_psnr_measure = _per_device(_psnr_pair, _psnr_batched)
_ssim_measure = _per_device(_ssim_pair, _ssim_batched_images)


# --------------------------------------------------------------------------- registry entries

REGISTRY.register(MetricSpec(
    name="psnr", higher_is_better=True, value_range=(0.0, PSNR_MAX_DB),
    convention="Y = RGB·(65.738, 129.057, 25.064)/256 + 16 in float64 (not rounded), peak 255; "
               "border crop per protocol (TTSR: 0, SISR: scale); top-left common region",
    source="TTSR release utils.py calc_psnr (Yang et al. 2020)", needs_weights=None,
    measure=_psnr_measure, takes_settings=True))

REGISTRY.register(MetricSpec(
    name="ssim", higher_is_better=True, value_range=(-1.0, 1.0),
    convention="Y as psnr; Gaussian 11×11 σ=1.5, C1=(0.01·255)², C2=(0.03·255)², mean over the valid "
               "region; border crop per protocol",
    source="TTSR release utils.py calc_ssim; Wang et al. 2004", needs_weights=None,
    measure=_ssim_measure, min_size=SSIM_WINDOW, takes_settings=True))
