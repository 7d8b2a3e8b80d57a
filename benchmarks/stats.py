"""Statistics over images: bootstrap confidence intervals of a mean and paired significance tests.

Used by the reference-gain analysis (`benchmarks.refgain`) and by every table's optional intervals
(`--ci` of `ttsr-bench report` / `table`: `views.summarize(..., ci=True)`).

- `bootstrap_ci(values)`: the percentile bootstrap interval of the mean over images
  (`scipy.stats.bootstrap`, method "percentile", `RESAMPLES` = 2000 resamples of the images with
  replacement, generator seeded with `SEED` = 0, so an interval is the same on every run), level
  `LEVEL` = 0.95. One value, or values that are all equal, give (value, value) exactly: resampling
  cannot move a constant.
- `paired_test(a, b)`: the paired t-test (`scipy.stats.ttest_rel`) and the Wilcoxon signed-rank test
  (`scipy.stats.wilcoxon`, two-sided, zero differences dropped, exact for small samples) of a − b per
  image. Identical samples (every difference 0) give p = 1 for both: no evidence of a difference.
  Fewer than two pairs give p = NaN (untestable).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

RESAMPLES = 2000
SEED = 0
LEVEL = 0.95


def _finite(values: Sequence[float]) -> np.ndarray:
    array = np.asarray([float(v) for v in values if v is not None], dtype=np.float64)
    return array[np.isfinite(array)]


def bootstrap_ci(values: Sequence[float], *, resamples: int = RESAMPLES, seed: int = SEED,
                 level: float = LEVEL) -> tuple[float, float]:
    """(low, high) of the `level` percentile bootstrap interval of the mean of `values` (floats; None,
    NaN and ±inf left out). (NaN, NaN) with no finite value; (v, v) for one value or a constant."""
    array = _finite(values)
    if array.size == 0:
        return math.nan, math.nan
    if array.size == 1 or np.all(array == array[0]):
        return float(array[0]), float(array[0])
    from scipy.stats import bootstrap

    result = bootstrap((array,), np.mean, n_resamples=resamples, confidence_level=level, method="percentile",
                       vectorized=True, random_state=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison of two per-image samples: n pairs, mean difference (a − b), the t-test's and
    Wilcoxon's two-sided p-values."""

    n: int
    mean_difference: float
    t_p: float
    wilcoxon_p: float


def paired_test(a: Sequence[float], b: Sequence[float]) -> PairedTest:
    """Paired t-test and Wilcoxon signed-rank test of `a` against `b` (same length, pair i = image i);
    pairs with a missing or non-finite value are left out (module docstring for the edge cases).
    `ValueError` for samples of different lengths."""
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")
    pairs = [(float(x), float(y)) for x, y in zip(a, b) if x is not None and y is not None
             and math.isfinite(float(x)) and math.isfinite(float(y))]
    n = len(pairs)
    if n == 0:
        return PairedTest(0, math.nan, math.nan, math.nan)
    x = np.array([p[0] for p in pairs])
    y = np.array([p[1] for p in pairs])
    diff = x - y
    mean = float(diff.mean())
    if np.all(diff == 0):
        return PairedTest(n, 0.0, 1.0, 1.0)
    if n < 2:
        return PairedTest(n, mean, math.nan, math.nan)
    from scipy.stats import ttest_rel, wilcoxon

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a constant non-zero difference: t infinite, p 0
        t_p = float(ttest_rel(x, y).pvalue)
        if math.isnan(t_p):  # every difference equal and non-zero: no variance, a certain difference
            t_p = 0.0
        w_p = float(wilcoxon(x, y, zero_method="wilcox", alternative="two-sided").pvalue)
    return PairedTest(n, mean, t_p, w_p)
