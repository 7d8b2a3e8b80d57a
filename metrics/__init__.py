"""Full-reference image measures of the suite: PSNR/SSIM exactly as the TTSR release computes them,
LPIPS, the piq measures; each registered by name with its direction, range and convention.

The modules, each importing only `foundation` and the ones above it in this list:

    spec.py               MetricSpec (one record of data per measure) and REGISTRY (foundation's Registry)
    inputs.py             the input rules (uint8, or [0, data_range]) and their checks
    release_psnr_ssim.py  PSNR/SSIM on Y as the TTSR release, NumPy and batched torch; PSNR_MAX_DB → psnr, ssim
    lpips_alex.py         LPIPS v0.1 (AlexNet trunk), from cached weights only                  → lpips
    piq_measures.py       MS-SSIM, FSIM, GMSD, VIF, HaarPSI, DISTS through piq                  → ms-ssim … dists
    compute.py            compute / available / skip_reason over the registry

(`release_psnr_ssim`, not `psnr_ssim`: the package re-exports the function `psnr_ssim`, which would
hide a submodule of that name.)
Callers use this package's names (`metrics.psnr`, `metrics.compute`, `metrics.REGISTRY.get("lpips")`);
modules inside the package import each other directly, never `metrics` itself.
"""
from metrics.compute import available, compute, resolve, skip_reason
from metrics.inputs import check_batch, check_equal_pair, check_image, check_pair, check_tensor_values
from metrics.release_psnr_ssim import (PSNR_MAX_DB, common_region, common_region_torch, psnr, psnr_ssim,
                                       psnr_torch, rgb_to_y, rgb_to_y_torch, ssim, ssim_torch)
from metrics.spec import DEFAULT_METRICS, REGISTRY, MetricSpec

__all__ = [
    "DEFAULT_METRICS", "PSNR_MAX_DB", "REGISTRY", "MetricSpec", "available", "check_batch", "check_equal_pair",
    "check_image", "check_pair", "check_tensor_values", "common_region", "common_region_torch", "compute",
    "psnr", "psnr_ssim", "psnr_torch", "resolve", "rgb_to_y", "rgb_to_y_torch", "skip_reason",
    "ssim", "ssim_torch",
]
