"""The reference-gain view: how much each RefSR method gains from its reference, and how that gain
falls as the reference is perturbed; built from the rows of the `refgain` protocols
(`benchmarks.protocols.refgain_evaluations`, the command `benchmarks.refgain`), rendered by the
report (`benchmarks.report`) and printed by the command. Nothing here computes a super-resolution.

Definitions (per measure; "better" is the measure's direction, `views.higher_is_better`):

- **gain** of a RefSR method on an image = its value with the pass's reference minus its value
  with an uninformative reference, signed so that a positive gain is better (PSNR, SSIM: with − without;
  LPIPS: without − with). Two baselines: the same method with the LR as its reference (pass `lr`, as
  TTSR's Urban100 protocol) — `vs = "lr"`; and the best SISR method present on the same pass (the
  SISR method whose mean over the pass's images is best; SISR methods ignore the reference) —
  `vs = "sisr:<name>"`.
- per set: the mean gain over the images both passes measured, its bootstrap interval
  (`benchmarks.stats.bootstrap_ci`: 2000 percentile resamples, seed 0, 95 %), the paired t-test and
  Wilcoxon signed-rank p-values of the two per-image samples (`benchmarks.stats.paired_test`).
- **curve** of a perturbation: the gain vs LR at the neutral level (the unperturbed pass) and at
  every level of the severity axis (passes `<base>+<perturbation>=<level>`), means with intervals.
- **half-gain severity**: the level at which the mean gain first falls to half of the unperturbed
  gain, linearly interpolated between the two levels around it (in the perturbation's unit);
  "not lost" when it never does within the axis, "no gain" when the unperturbed gain is ≤ 0.
- **attention statistics** (methods that report matches: TTSR, SRNTT; `results.ATTENTION_COLUMNS`):
  the mean over images of the fraction of LR positions matched to distinct reference patches and of
  the soft-attention confidence S, per pass.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pandas as pd

from benchmarks import stats
from benchmarks.views import as_number, higher_is_better

PROTOCOL_PREFIX = "refgain"
LR = "lr"
GAIN_METRICS = ("psnr", "ssim", "lpips")
NOT_LOST, NO_GAIN = "not lost", "no gain"


@dataclass(frozen=True)
class Gain:
    """One (dataset, reference pass, method, measure, baseline) gain over images."""

    dataset: str
    ref_mode: str
    method: str
    metric: str
    vs: str                      # "lr" or "sisr:<method>"
    mean: float
    low: float
    high: float
    n: int
    t_p: float
    wilcoxon_p: float
    per_image: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Curve:
    """Gain vs LR of one method along one perturbation's severity axis (neutral level first)."""

    dataset: str
    base: str                    # the base pass's row label (l1, graded, random, random-hr)
    method: str
    perturbation: str
    unit: str
    metric: str
    levels: tuple[float, ...]
    gains: tuple[float | None, ...]
    lows: tuple[float | None, ...]
    highs: tuple[float | None, ...]
    counts: tuple[int, ...]
    distinct: tuple[float | None, ...] = ()    # mean attn_distinct per level (None: not reported)
    confidence: tuple[float | None, ...] = ()  # mean attn_confidence per level

    @property
    def half(self) -> float | str:
        """The half-gain severity (a level in `unit`), or `NOT_LOST` / `NO_GAIN` (module docstring)."""
        return half_gain_level(self.levels, self.gains)


def half_gain_level(levels: Sequence[float], gains: Sequence[float | None]) -> float | str:
    """The level where `gains` (neutral first) first falls to half of `gains[0]`, interpolated linearly
    between the neighbouring levels; `NOT_LOST` when it never does, `NO_GAIN` when `gains[0]` ≤ 0 or
    unknown. Levels with no gain (None) are passed over."""
    g0 = as_number(gains[0]) if gains else None
    if g0 is None or g0 <= 0:
        return NO_GAIN
    half = g0 / 2
    x_prev, g_prev = levels[0], g0
    for x, g in zip(levels[1:], gains[1:]):
        g = as_number(g)
        if g is None:
            continue
        if g <= half:
            return x_prev + (half - g_prev) * (x - x_prev) / (g - g_prev) if g != g_prev else x
        x_prev, g_prev = x, g
    return NOT_LOST


def parse_label(ref_mode: str) -> tuple[str, str, float] | None:
    """(base label, perturbation, level) of a perturbed pass's row label `l1+blur=2`; None otherwise."""
    base, plus, rest = ref_mode.partition("+")
    name, equals, level = rest.partition("=")
    if not plus or not equals:
        return None
    try:
        return base, name, float(level)
    except ValueError:
        return None


def _kinds(methods: Sequence[str], frame: pd.DataFrame) -> dict[str, str]:
    """method → "refsr" | "sisr": the registry's kind, else refsr when it ran a perturbed pass."""
    perturbed = set(frame.loc[frame["ref_mode"].map(lambda r: parse_label(r) is not None), "method"])
    out = {}
    for name in methods:
        kind = None
        try:
            from baselines import registry
            kind = registry.get(name).kind
        except Exception:  # noqa: BLE001 - a report must render without the method stack
            kind = None
        out[name] = kind or ("refsr" if name in perturbed else "sisr")
    return out


def _values(part: pd.DataFrame, method: str, ref_mode: str, metric: str) -> dict[str, float]:
    rows = part[(part["method"] == method) & (part["ref_mode"] == ref_mode)]
    return {str(i): float(v) for i, v in zip(rows["image"], rows[metric]) if as_number(v) is not None}


def _gain(dataset, ref_mode, method, metric, vs, with_ref: dict, without: dict, sign: float) -> Gain | None:
    images = [i for i in with_ref if i in without]
    if not images:
        return None
    per_image = {i: sign * (with_ref[i] - without[i]) for i in images}
    low, high = stats.bootstrap_ci(list(per_image.values()))
    test = stats.paired_test([with_ref[i] for i in images], [without[i] for i in images])
    mean = sum(per_image.values()) / len(per_image)
    return Gain(dataset, ref_mode, method, metric, vs, mean, low, high, len(images), test.t_p, test.wilcoxon_p,
                per_image)


@dataclass
class RefGainView:
    """Everything the report's reference-gain section shows (module docstring)."""

    gains: list[Gain]
    curves: list[Curve]
    attention: dict[tuple[str, str, str], tuple[float | None, float | None]]  # (dataset, method, ref_mode) → (distinct, S)
    random: set[str]
    metrics: list[str]
    methods: list[str]

    @property
    def empty(self) -> bool:
        return not self.gains and not self.curves


def build(frame: pd.DataFrame, random: set[str] | None = None) -> RefGainView:
    """The view of the `refgain*` protocols' rows in `frame` (rows.csv columns; a `run` column may be
    present). An empty view when there are none."""
    from benchmarks.datasets import perturb

    random = set(random or ())
    if frame.empty or "protocol" not in frame:
        return RefGainView([], [], {}, random, [], [])
    frame = frame[frame["protocol"].astype(str).str.startswith(PROTOCOL_PREFIX)]
    metrics = [m for m in GAIN_METRICS if m in frame and frame[m].notna().any()]
    methods = list(dict.fromkeys(frame["method"]))
    kinds = _kinds(methods, frame)
    refsr = [m for m in methods if kinds[m] == "refsr"]
    sisr = [m for m in methods if kinds[m] == "sisr"]
    gains: list[Gain] = []
    curves: list[Curve] = []
    attention: dict = {}
    for dataset, part in frame.groupby("dataset", sort=False):
        passes = list(dict.fromkeys(part["ref_mode"]))
        bases = [r for r in passes if r != LR and parse_label(r) is None]
        for metric in metrics:
            sign = -1.0 if higher_is_better(metric) is False else 1.0
            for base in bases:
                best_sisr = _best(part, sisr, base, metric, sign)
                for method in refsr:
                    with_ref = _values(part, method, base, metric)
                    for vs, without in ((LR, _values(part, method, LR, metric)),
                                        (f"sisr:{best_sisr}", _values(part, best_sisr, base, metric) if best_sisr else {})):
                        gain = _gain(dataset, base, method, metric, vs, with_ref, without, sign)
                        if gain is not None:
                            gains.append(gain)
            for method in refsr:
                lr = _values(part, method, LR, metric)
                if not lr:
                    continue
                perturbed: dict[tuple[str, str], dict[float, str]] = {}
                for ref_mode in passes:
                    parsed = parse_label(ref_mode)
                    if parsed is not None:
                        perturbed.setdefault(parsed[:2], {})[parsed[2]] = ref_mode
                for (base, name), by_level in perturbed.items():
                    spec = perturb.PERTURBATIONS.get(name, None)
                    if spec is None or base not in passes:
                        continue
                    levels = [spec.neutral] + sorted((lv for lv in by_level if lv != spec.neutral),
                                                     key=lambda lv: abs(lv - spec.neutral))
                    modes = [base] + [by_level[lv] for lv in levels[1:]]
                    points = [_gain(dataset, mode, method, metric, LR, _values(part, method, mode, metric), lr, sign)
                              for mode in modes]
                    att = [_attention(part, method, mode) for mode in modes]
                    curves.append(Curve(dataset, base, method, spec.name, spec.unit, metric, tuple(levels),
                                        tuple(p.mean if p else None for p in points),
                                        tuple(p.low if p else None for p in points),
                                        tuple(p.high if p else None for p in points),
                                        tuple(p.n if p else 0 for p in points),
                                        tuple(a[0] for a in att), tuple(a[1] for a in att)))
        for method in refsr:
            for ref_mode in passes:
                distinct, confidence = _attention(part, method, ref_mode)
                if distinct is not None or confidence is not None:
                    attention[(dataset, method, ref_mode)] = (distinct, confidence)
    return RefGainView(gains, curves, attention, random, metrics, refsr)


def _best(part: pd.DataFrame, sisr: Sequence[str], ref_mode: str, metric: str, sign: float) -> str | None:
    """The SISR method with the best mean `metric` on pass `ref_mode` (None when none ran it)."""
    means = {}
    for method in sisr:
        values = _values(part, method, ref_mode, metric)
        if values:
            means[method] = sign * sum(values.values()) / len(values)
    return max(means, key=means.get) if means else None


def _attention(part: pd.DataFrame, method: str, ref_mode: str) -> tuple[float | None, float | None]:
    rows = part[(part["method"] == method) & (part["ref_mode"] == ref_mode)]
    out = []
    for column in ("attn_distinct", "attn_confidence"):
        value = as_number(rows[column].mean()) if column in rows and len(rows) else None
        out.append(value)
    return out[0], out[1]


def format_p(p: float) -> str:
    """A p-value as printed: 3 significant digits, '<0.001' below, '–' when untestable."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3g}"


def format_half(value: float | str) -> str:
    """A half-gain severity as the tables print it: its word ("not lost", "no gain") or 3 significant digits."""
    return value if isinstance(value, str) else f"{value:.3g}"


def gains_csv(view: RefGainView) -> str:
    """Every per-set gain as CSV: dataset, ref_mode, method, metric, vs, mean, low, high, n, t_p,
    wilcoxon_p, random (full precision)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["dataset", "ref_mode", "method", "metric", "vs", "mean", "low", "high", "n", "t_p",
                     "wilcoxon_p", "random"])
    for g in view.gains:
        writer.writerow([g.dataset, g.ref_mode, g.method, g.metric, g.vs, repr(g.mean), repr(g.low), repr(g.high),
                         g.n, repr(g.t_p), repr(g.wilcoxon_p), g.method in view.random])
    return buffer.getvalue()


def curves_csv(view: RefGainView) -> str:
    """Every curve point as CSV: dataset, base, method, perturbation, unit, metric, level, gain, low,
    high, n, attn_distinct, attn_confidence, half_gain_level (the curve's), random."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["dataset", "base", "method", "perturbation", "unit", "metric", "level", "gain", "low", "high",
                     "n", "attn_distinct", "attn_confidence", "half_gain_level", "random"])
    for c in view.curves:
        half = c.half
        for i, level in enumerate(c.levels):
            cells = [c.gains[i], c.lows[i], c.highs[i], c.counts[i],
                     c.distinct[i] if c.distinct else None, c.confidence[i] if c.confidence else None]
            writer.writerow([c.dataset, c.base, c.method, c.perturbation, c.unit, c.metric, repr(level)]
                            + ["" if v is None else repr(v) if isinstance(v, float) else v for v in cells]
                            + [half if isinstance(half, str) else repr(half), c.method in view.random])
    return buffer.getvalue()
