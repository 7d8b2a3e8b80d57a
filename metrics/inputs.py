"""The input rules every public measure of `metrics` applies, and the checks that enforce them.

- uint8 (NumPy or torch) is taken as [0, 255] — the TTSR release's images (the release maps
  [-1, 1] to [0, 255] and rounds; the runner rounds before measuring); `data_range` may be left
  out or be 255;
- any other real dtype (float, or integers such as uint16) needs `data_range=` — the value of
  full white: 255 for float images in [0, 255] (what the runner had before rounding), 1.0 for
  [0, 1] — and must be finite and lie in [0, data_range]; it is scaled by 255/data_range, so a
  [0, 1] image with `data_range=1.0` gives the value of its [0, 255] version (exact for
  `data_range=255`: no scaling). Fractional values all within [0, 1] with `data_range` > 1 are
  refused as a [0, 1] image passed with the wrong `data_range`;
- NumPy images are H×W×3 RGB, torch batches N×3×H×W (`metrics.compute` also takes 3×H×W
  images); SR and HR sizes may differ for PSNR/SSIM (top-left common region), batch sizes may not;
  measures on whole images (LPIPS, piq's) want one size and a minimum short side
  (`check_equal_pair`).

Anything else — a float image without `data_range`, values outside [0, data_range] (such as
[-1, 1] network outputs), NaN/inf, bool or complex dtypes, another number of channels — raises
`ValueError` naming the argument, what it holds and what is expected; never a number. The checks
cost nothing for uint8; other dtypes take one min/max pass.
"""
from __future__ import annotations

import math

import numpy as np
import torch

PEAK = 255.0   # full white of the [0, 255] scale every measure works on


def checked_data_range(data_range) -> float | None:
    """`data_range` as a float (None stays None); `ValueError` unless a positive finite number."""
    if data_range is None:
        return None
    if isinstance(data_range, (bool, np.bool_)) or not isinstance(data_range, (int, float, np.integer, np.floating)) \
            or not math.isfinite(data_range) or data_range <= 0:
        raise ValueError(f"data_range must be a positive finite number (255 for images in [0, 255], 1.0 for "
                         f"[0, 1]), got {data_range!r}")
    return float(data_range)


def _scale(data_range: float | None) -> float | None:
    """Factor that brings values declared in [0, data_range] to [0, 255]; None when they are already."""
    return None if data_range is None or data_range == PEAK else PEAK / data_range


def _check_values(name: str, dtype_name: str, kind: str, data_range: float | None, extrema, fractional) -> None:
    """The dtype/range rules of the module docstring, on one image or batch (`kind`: 'uint8', 'int',
    'float' or 'other'; `extrema` and `fractional` are called only when needed; `extrema` is
    (min, max), NaN when any value is — so one pass finds NaN, ±inf and the range)."""
    if kind == "uint8":
        if data_range not in (None, PEAK):
            raise ValueError(f"{name}: uint8 values are taken as [0, 255], but data_range={data_range:g} was "
                             "given; pass data_range=None (or 255), or convert the image to float")
        return
    if kind == "other":
        raise ValueError(f"{name}: unsupported dtype {dtype_name}; expected uint8 in [0, 255], or float/integer "
                         "values in [0, data_range] with data_range given")
    if data_range is None:
        raise ValueError(f"{name}: got {dtype_name} values without data_range; only uint8 is taken as [0, 255] "
                         "by default — pass data_range=255 for [0, 255] values, data_range=1.0 for [0, 1]")
    low, high = extrema()
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{name}: holds NaN or infinite values; expected finite values in [0, {data_range:g}]")
    if low < 0 or high > data_range:
        raise ValueError(f"{name}: values span [{low:g}, {high:g}], outside [0, {data_range:g}] "
                         f"(data_range={data_range:g}); map the image to [0, data_range] first "
                         "(e.g. (x + 1) / 2 for [-1, 1] outputs) or pass its true data_range")
    if kind == "float" and data_range > 1.0 and high <= 1.0 and fractional():
        raise ValueError(f"{name}: fractional values all within [0, 1] but data_range={data_range:g}; "
                         "an image in [0, 1] needs data_range=1.0")


def _numpy_kind(dtype: np.dtype) -> str:
    if dtype == np.uint8:
        return "uint8"
    if dtype.kind in "iu":
        return "int"
    if dtype.kind == "f":
        return "float"
    return "other"


def check_image(name: str, img, data_range: float | None = None) -> np.ndarray:
    """Check one H×W×3 RGB array against the input rules (module docstring) → it on the [0, 255] scale.

    uint8 comes back as is; other dtypes come back as float64 multiplied by 255/`data_range`
    (unchanged when `data_range` is 255). Raises `ValueError` naming `name` otherwise.
    """
    if isinstance(img, torch.Tensor):
        raise ValueError(f"{name}: got a torch tensor; the NumPy measures take H×W×3 arrays "
                         "(use psnr_torch/ssim_torch/compute for tensors)")
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"{name}: must be an H×W×3 RGB array, got shape {arr.shape}")
    data_range = checked_data_range(data_range)
    _check_values(name, str(arr.dtype), _numpy_kind(arr.dtype), data_range,
                  extrema=lambda: (float(arr.min()), float(arr.max())),
                  fractional=lambda: bool((arr != np.round(arr)).any()))
    scale = _scale(data_range)
    return arr if scale is None else arr.astype(np.float64) * scale



def _torch_kind(dtype: torch.dtype) -> str:
    if dtype == torch.uint8:
        return "uint8"
    if dtype.is_floating_point:
        return "float"
    if dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint16, torch.uint32, torch.uint64):
        return "int"
    return "other"


def check_tensor_values(name: str, x: torch.Tensor, data_range: float | None = None) -> float | None:
    """Check the dtype and values of a tensor against the input rules (module docstring).

    Returns the factor that brings its values to [0, 255] (None: they already are); raises
    `ValueError` naming `name` otherwise. Shapes are the caller's business.
    """
    data_range = checked_data_range(data_range)
    detached = x.detach()
    kind = _torch_kind(x.dtype)
    if detached.device.type == "cpu" and kind in ("int", "float") and x.dtype != torch.bfloat16:
        values = detached.numpy()   # no copy; NumPy's reductions are many times faster than torch's on the CPU
        extrema = lambda: (float(values.min()), float(values.max()))           # noqa: E731
        fractional = lambda: bool((values != np.round(values)).any())          # noqa: E731
    else:
        extrema = lambda: tuple(float(v) for v in torch.aminmax(detached))     # noqa: E731
        fractional = lambda: bool((detached != torch.round(detached)).any())   # noqa: E731
    _check_values(name, str(x.dtype).removeprefix("torch."), kind, data_range, extrema, fractional)
    return _scale(data_range)


def check_batch(name: str, x: torch.Tensor, data_range: float | None = None) -> torch.Tensor:
    """Check one N×3×H×W RGB batch → float64 on the [0, 255] scale, same device (`ValueError` otherwise).

    Accepted: torch.uint8 in [0, 255], or float/integer values in [0, data_range] with `data_range`
    given (255, 1.0, ...). Used by every public torch measure of this package.
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected an N×3×H×W torch tensor, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"{name}: must be an N×3×H×W RGB batch, got shape {tuple(x.shape)}")
    scale = check_tensor_values(name, x, data_range)
    x = x.detach().to(torch.float64)
    return x if scale is None else x * scale


def check_pair(sr: torch.Tensor, hr: torch.Tensor,
               data_range: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """`check_batch` of both batches, and equal batch sizes (spatial sizes may differ)."""
    sr, hr = check_batch("sr", sr, data_range), check_batch("hr", hr, data_range)
    if sr.shape[0] != hr.shape[0]:
        raise ValueError(f"sr and hr: batch sizes differ ({sr.shape[0]} and {hr.shape[0]}); expected one HR per SR")
    return sr, hr


def check_equal_pair(measure: str, sr: torch.Tensor, hr: torch.Tensor, data_range: float | None = None,
                     min_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """`check_pair`, plus what a measure on whole images needs: SR and HR of the same H×W, short
    side ≥ `min_size` (`ValueError` naming `measure` otherwise; `compute` cuts the common region
    and gives NaN below the minimum instead)."""
    sr, hr = check_pair(sr, hr, data_range)
    if sr.shape[-2:] != hr.shape[-2:]:
        raise ValueError(f"sr and hr: {measure} compares whole images, got sizes {sr.shape[-1]}×{sr.shape[-2]} "
                         f"and {hr.shape[-1]}×{hr.shape[-2]}; cut them to one size (compute() takes the "
                         "top-left common region)")
    if min(sr.shape[-2:]) < min_size:
        raise ValueError(f"sr and hr: {measure} needs at least {min_size} px on the short side, got "
                         f"{sr.shape[-1]}×{sr.shape[-2]}")
    return sr, hr
