"""The two bicubic degradations of the benchmarks: PIL bicubic (RefSR) and MATLAB `imresize` (SISR).

- **PIL bicubic** — the RefSR protocol of TTSR, SRNTT, MASA-SR, C2-Matching (TTSR release
  `dataset/cufed.py`, researchmm/TTSR at 550e4c9e525b5860083a00c5f936e4bfe2428da2): HR cropped top-left to a multiple of the scale,
  LR = PIL BICUBIC resize of the uint8 HR, LR↑ = PIL BICUBIC back up; the reference cropped to a
  multiple of the scale and Ref↓↑ = PIL bicubic down then up. The resizing itself lives in
  `foundation.resize` (the single-pair CLI uses the same code); this module only assembles the inputs.
- **MATLAB `imresize(img, scale, 'bicubic')`** with antialiasing — how the SISR test sets' LR
  images were made (Set5/Set14/B100/Urban100/Manga109 in the EDSR/RCAN/IMDN line of work).
  Semantics (MATLAB's documented algorithm, `imresize.m`):
  * cubic convolution kernel with a = −0.5 (Keys 1981);
  * when shrinking (scale < 1) the kernel is stretched by 1/scale and scaled by `scale`
    (antialiasing), so its support is 4/scale input pixels;
  * output pixel i (1-based) maps to input coordinate u = i/scale + ½(1 − 1/scale);
    the taps are `floor(u − width/2) + 0 … ceil(width)+1`, weights normalised to sum 1, indices
    outside the image mirrored (symmetric padding, edge pixel repeated);
  * one dimension at a time, the one with the smaller scale first; with equal scales the first
    dimension (rows, i.e. the vertical direction) first, then the columns;
  * for uint8 images each pass rounds (half away from zero) and saturates to uint8, so the
    second pass reads the rounded first pass.
  Verified in `tests/test_degrade.py` against LR images made by MATLAB's imresize (the reference data beside the checkout).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from foundation.errors import UserError
from foundation.resize import check_lr_hr, crop_to_multiple, pil_bicubic, reference_pair, upscale

__all__ = ["pil_bicubic", "matlab_imresize", "RefSRInputs", "refsr_inputs", "SISRInputs",
           "sisr_inputs", "crop_to_multiple"]


# --------------------------------------------------------------------------- MATLAB imresize

def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel, a = −0.5 (MATLAB `imresize`'s 'bicubic')."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


def _contributions(in_length: int, out_length: int, scale: float,
                   antialias: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(indices, weights), each out_length × taps: input samples and weights of each output sample.

    Zero-based indices, already mirrored into [0, in_length).
    """
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel_width /= scale
    out = np.arange(1, out_length + 1, dtype=np.float64)
    u = out / scale + 0.5 * (1.0 - 1.0 / scale)               # 1-based input coordinate
    left = np.floor(u - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]   # 1-based
    distance = u[:, None] - indices
    if scale < 1 and antialias:
        weights = scale * _cubic(scale * distance)
    else:
        weights = _cubic(distance)
    weights /= weights.sum(axis=1, keepdims=True)
    # Symmetric padding: 1..n, n..1 repeated (MATLAB's `aux = [1:n, n:-1:1]` with mod indexing).
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    zero_based = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    # Drop tap columns whose weight is zero for every output sample (as MATLAB does).
    keep = np.any(weights != 0, axis=0)
    return zero_based[:, keep], weights[:, keep]


def _round_uint8(x: np.ndarray) -> np.ndarray:
    """MATLAB's conversion to uint8: round half away from zero, saturate to [0, 255]."""
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


def _resize_along(img: np.ndarray, axis: int, out_length: int, scale: float,
                  antialias: bool) -> np.ndarray:
    indices, weights = _contributions(img.shape[axis], out_length, scale, antialias)
    moved = np.moveaxis(img.astype(np.float64), axis, 0)          # in_length × …
    gathered = moved[indices]                                     # out × taps × …
    w = weights.reshape(weights.shape + (1,) * (moved.ndim - 1))
    out = (gathered * w).sum(axis=1)
    return np.moveaxis(out, 0, axis)


def matlab_imresize(img: np.ndarray, scale: float, *, antialias: bool = True) -> np.ndarray:
    """MATLAB `imresize(img, scale, 'bicubic')`: `scale=0.25` shrinks by 4 (output ceil(size·scale)).

    `img`: H×W or H×W×C. uint8 in → uint8 out (rounded and saturated after each pass, as MATLAB
    does for uint8); float in → float64 out, unrounded. See the module docstring for the semantics.
    """
    img = np.asarray(img)
    if img.ndim not in (2, 3):
        raise ValueError(f"matlab_imresize expects H×W or H×W×C, got shape {img.shape}")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    is_uint8 = img.dtype == np.uint8
    out_shape = [int(math.ceil(img.shape[0] * scale)), int(math.ceil(img.shape[1] * scale))]
    if min(out_shape) < 1:
        raise UserError(f"an image of {img.shape[1]}×{img.shape[0]} is too small to shrink by {1 / scale:g}")
    result = img if is_uint8 else img.astype(np.float64)
    # Equal scales on both axes: MATLAB resizes dimension 1 (rows → vertical) first.
    for axis in (0, 1):
        result = _resize_along(result, axis, out_shape[axis], scale, antialias)
        if is_uint8:
            result = _round_uint8(result)
    return result


# --------------------------------------------------------------------------- protocol inputs

class RefSRInputs(NamedTuple):
    """Inputs of a RefSR method (all uint8 H×W×3): HR and Ref cropped to a multiple of the scale."""
    hr: np.ndarray
    lr: np.ndarray
    lr_up: np.ndarray
    ref: np.ndarray
    ref_down_up: np.ndarray


def _check_size(img: np.ndarray, scale: int, what: str) -> None:
    if img.shape[0] < scale or img.shape[1] < scale:
        raise UserError(f"the {what} ({img.shape[1]}×{img.shape[0]}) is smaller than the scale ×{scale}; "
                        "it cannot be downscaled — skip this image")


def refsr_inputs(hr: np.ndarray, ref: np.ndarray | None, scale: int = 4) -> RefSRInputs:
    """The TTSR release's RefSR inputs with PIL bicubic (`dataset/cufed.py`; §9.1, §9.3).

    HR is cropped top-left to a multiple of `scale`; LR = PIL bicubic ↓scale; LR↑ = PIL bicubic
    ↑scale. `ref=None` means "the LR image itself is the reference" (Urban100/Manga109 in TTSR):
    Ref = LR (cropped to a multiple of the scale) and Ref↓↑ = its PIL bicubic down-up copy.
    """
    _check_size(hr, scale, "HR image")
    hr = crop_to_multiple(hr, scale)
    height, width = hr.shape[:2]
    lr = pil_bicubic(hr, (width // scale, height // scale))
    lr_up = upscale(lr, scale)
    if ref is None:
        ref = lr
    _check_size(ref, scale, "reference image")
    ref, ref_down_up = reference_pair(ref, scale)
    return RefSRInputs(hr=np.ascontiguousarray(hr), lr=lr, lr_up=lr_up,
                       ref=np.ascontiguousarray(ref), ref_down_up=ref_down_up)


class SISRInputs(NamedTuple):
    """Inputs of a SISR evaluation (uint8): HR cropped to scale × LR size, and the LR."""
    hr: np.ndarray
    lr: np.ndarray


def sisr_inputs(hr: np.ndarray, lr: np.ndarray | None = None, scale: int = 4) -> SISRInputs:
    """SISR protocol: the distributed LR when given (HR cropped top-left to scale × its size),
    else LR = `matlab_imresize(HR cropped to a multiple of scale, 1/scale)`.

    A given LR must match the HR: each HR side in [scale·lr, scale·lr + scale − 1]
    (`foundation.resize.check_lr_hr`), else `UserError` (a skipped image in a run)."""
    if lr is None:
        _check_size(hr, scale, "HR image")
        hr = crop_to_multiple(hr, scale)
        return SISRInputs(hr=np.ascontiguousarray(hr), lr=matlab_imresize(hr, 1.0 / scale))
    check_lr_hr(lr.shape, hr.shape, scale, lr_name="the given LR", hr_name="the HR image")
    height, width = lr.shape[0] * scale, lr.shape[1] * scale
    return SISRInputs(hr=np.ascontiguousarray(hr[:height, :width]), lr=np.ascontiguousarray(lr))
