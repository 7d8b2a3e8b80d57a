"""`compute`, `available` and `skip_reason`: the measures of the registry, by name, over image pairs.

Imports every measure module, so the registry (`metrics.spec.REGISTRY`) is complete once this module
is: psnr and ssim (`metrics.release_psnr_ssim`), lpips (`metrics.lpips_alex`), the piq measures
(`metrics.piq_measures`). Input rules: `metrics.inputs`.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import torch

from foundation.devices import resolve_device
from foundation.errors import UserError
from metrics.inputs import check_image, check_tensor_values, checked_data_range
from metrics.release_psnr_ssim import common_region_torch   # first, so psnr and ssim lead the registry
from metrics import lpips_alex, piq_measures  # noqa: F401 - importing them registers their specs
from metrics.spec import REGISTRY, MetricSpec


def resolve(names: Iterable[str]) -> list[MetricSpec]:
    """The specs of `names` (case-insensitive, spaces stripped), or a `UserError` listing the valid names."""
    return [REGISTRY.get(name) for name in names]


def available(names: Iterable[str] | None = None) -> dict[str, tuple[bool, str]]:
    """name → (available, reason) for `names` (default: every registered measure)."""
    specs = resolve(REGISTRY if names is None else names)
    return {spec.name: spec.available() for spec in specs}


def _to_tensor(name: str, img, data_range: float | None) -> torch.Tensor:
    """One checked image (H×W×3 array, or 3×H×W tensor) → 3×H×W tensor on the [0, 255] scale, on
    its own device: uint8 as is, anything else float64 (multiplied by 255/data_range)."""
    if isinstance(img, torch.Tensor):
        if img.dim() != 3 or img.shape[0] != 3:
            raise ValueError(f"{name}: must be a 3×H×W RGB tensor, got shape {tuple(img.shape)}")
        scale = check_tensor_values(name, img, data_range)
        img = img.detach()
        if img.dtype == torch.uint8:
            return img
        img = img.to(torch.float64)
        return img if scale is None else img * scale
    arr = check_image(name, img, data_range)
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)


def _as_list(name: str, batch, data_range: float | None) -> list[torch.Tensor]:
    """The checked images of a batch argument of `compute` (see there), each 3×H×W."""
    if isinstance(batch, torch.Tensor):
        if batch.dim() == 3:
            return [_to_tensor(name, batch, data_range)]
        if batch.dim() == 4:
            return [_to_tensor(f"{name}[{i}]", img, data_range) for i, img in enumerate(batch.unbind(0))]
        raise ValueError(f"{name}: must be an N×3×H×W or 3×H×W RGB tensor, got shape {tuple(batch.shape)}")
    if isinstance(batch, np.ndarray) and batch.ndim == 3:
        return [_to_tensor(name, batch, data_range)]
    return [_to_tensor(f"{name}[{i}]", img, data_range) for i, img in enumerate(batch)]


def compute(names: Sequence[str], sr_batch, hr_batch, *, data_range: float | None = None, crop_border: int = 0,
            y_channel: bool = True, round_y: bool = False, device: str | torch.device | None = None,
            on_unavailable: str = "raise") -> dict[str, list[float]]:
    """Values of the measures `names` for each (SR, HR) pair: {name: [value per pair]}.

    `sr_batch`, `hr_batch`: sequences of H×W×3 RGB arrays (sizes may differ per pair and between
    SR and HR: the top-left common region is used), or N×3×H×W / 3×H×W tensors. Values: uint8 in
    [0, 255], or float/integer in [0, data_range] with `data_range` given — one `data_range` for
    every image (`ValueError` naming the image otherwise; `metrics.inputs`). `crop_border` applies
    to every measure; `y_channel` and `round_y` to psnr and ssim. PSNR is capped at `PSNR_MAX_DB`
    (100 dB, `metrics.release_psnr_ssim`).
    Pairs of the same size are batched; everything runs on `device` (default: CUDA when present).
    A pair too small for a measure gets NaN (`MetricSpec.too_small` says why). A measure that is
    unavailable raises `UserError` with its reason, or gives NaN with `on_unavailable="nan"` — ask
    `available(names)` first to mark the column instead.
    """
    specs = resolve(names)
    device = resolve_device(device, "compute(device=...)")  # None: CUDA when present (its rank's GPU), else CPU
    data_range = checked_data_range(data_range)
    srs, hrs = _as_list("sr_batch", sr_batch, data_range), _as_list("hr_batch", hr_batch, data_range)
    if len(srs) != len(hrs):
        raise ValueError(f"sr_batch and hr_batch: {len(srs)} SR images but {len(hrs)} HR images; "
                         "expected one HR per SR")
    results = {spec.name: [math.nan] * len(srs) for spec in specs}
    runnable = []
    for spec in specs:
        ok, reason = spec.available()
        if ok:
            runnable.append(spec)
        elif on_unavailable == "raise":
            raise UserError(reason)
    # Group pairs by the size of their compared region, so each group is one batch.
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (s, h) in enumerate(zip(srs, hrs)):
        size = (min(s.shape[-2], h.shape[-2]), min(s.shape[-1], h.shape[-1]))
        groups.setdefault(size, []).append(i)
    settings = {"y_channel": y_channel, "round_y": round_y}
    for (height, width), members in groups.items():
        sr = torch.stack([srs[i][:, :height, :width] for i in members]).to(device, torch.float64)
        hr = torch.stack([hrs[i][:, :height, :width] for i in members]).to(device, torch.float64)
        sr, hr = common_region_torch(sr, hr, crop_border)
        for spec in runnable:
            if spec.too_small(sr.shape[-2], sr.shape[-1]) is not None:
                continue
            with torch.no_grad():
                values = spec.measure(sr, hr, **settings) if spec.takes_settings else spec.measure(sr, hr)
            for i, value in zip(members, values.detach().double().cpu().tolist()):
                results[spec.name][i] = float(value)
    return results


def skip_reason(name: str, height: int, width: int, crop_border: int = 0) -> str | None:
    """Why measure `name` gives NaN on an image of height×width (before border crop), or None."""
    (spec,) = resolve([name])
    return spec.too_small(height - 2 * crop_border, width - 2 * crop_border)


