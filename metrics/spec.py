"""What a measure is (`MetricSpec`) and the metric registry (`REGISTRY`): the bottom of `metrics/`.

One spec per measure, written as data next to its measure (as pyiqa's `DEFAULT_CONFIGS` keeps
name, `lower_better` and `score_range` per metric): name, direction, value range, convention,
source, weights needed, smallest image side. The measure modules register their specs at import
(`metrics.release_psnr_ssim`: psnr, ssim; `metrics.lpips_alex`: lpips; `metrics.piq_measures`: ms-ssim,
fsim, gmsd, vif, haarpsi, dists); `metrics.compute` imports them all, so once `metrics` is
imported the registry is complete. This module imports only `foundation`.

Adding a measure: one module that defines `measure(sr, hr)` and calls
`REGISTRY.register(MetricSpec(...))`, plus its import in `metrics/compute.py`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from foundation.registry import Registry

DEFAULT_METRICS = ("psnr", "ssim", "lpips")   # what the runner measures unless told otherwise


def always_available() -> tuple[bool, str]:
    """The `check` of a measure that needs nothing beyond the installed packages."""
    return True, ""


@dataclass(frozen=True)
class MetricSpec:
    """One full-reference measure the runner can ask for by name.

    Data: `name` (lower case, the column name), `higher_is_better` (direction), `value_range`
    (low, high) — the bounds of the value (math.inf where there is none),
    `convention` (colour space, scaling, settings), `source` (paper; release or package),
    `needs_weights` (files that must be present, or None), `min_size` (smallest short side, after
    border crop, that gives a value; smaller images give NaN), `takes_settings` (whether
    `measure` takes the `y_channel`/`round_y` settings: psnr and ssim).

    Code: `measure(sr, hr, **settings)` takes N×3×H×W float64 batches in [0, 255] on the compute
    device — already checked by `metrics.compute`, cut to the common region and border-cropped;
    it does not check them again — and returns a tensor of N values. `check()` → (True, "") when
    the measure can run here, else (False, one-line reason: what is missing, what to do).
    """
    name: str
    higher_is_better: bool
    value_range: tuple[float, float]
    convention: str
    source: str
    needs_weights: str | None
    measure: Callable = field(repr=False, compare=False)
    check: Callable[[], tuple[bool, str]] = field(default=always_available, repr=False, compare=False)
    min_size: int = 1
    takes_settings: bool = False

    @property
    def direction(self) -> str:
        """"higher" or "lower" (is better)."""
        return "higher" if self.higher_is_better else "lower"

    def available(self) -> tuple[bool, str]:
        """(True, "") when the measure can be computed here, else (False, one-line reason)."""
        return self.check()

    def too_small(self, height: int, width: int) -> str | None:
        """Why an image of this size (after border crop) gives NaN, or None when it is fine."""
        if min(height, width) < self.min_size:
            return (f"{self.name} needs at least {self.min_size} px on the short side "
                    f"(got {width}×{height}); value is NaN")
        return None


REGISTRY = Registry("metric", entry_points="ttsr_bench.metrics", case_sensitive=False)   # name → MetricSpec, in registration order (psnr, ssim, lpips, piq's)
